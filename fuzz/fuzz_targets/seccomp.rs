//! linux.seccomp profiles through the compiler.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = serde_json::from_slice::<oci_spec::runtime::LinuxSeccomp>(data) else { return };
    let _ = berth::seccomp::compile(&p);
});
