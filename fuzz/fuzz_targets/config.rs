//! config.json: parsing (with the field path in errors), validation, the sysctl and
//! seccomp checks that run before anything is made.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(spec) = berth::config::parse_json::<berth::config::Spec>(data) else { return };
    // "/" as the bundle: validation only reads (root.path must be a directory).
    let _ = berth::config::validate(&spec, std::path::Path::new("/"));
    if let Some(s) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        let _ = berth::seccomp::compile(s);
    }
    if let Some(m) = spec.mounts() {
        for e in m {
            let _ = berth::rootfs::mounts::parse_options(e.options().as_deref().unwrap_or(&[]));
        }
    }
    let _ = serde_json::to_vec(&spec);
});
