//! Mount options (NUL-separated) into flags, propagation, recursive attributes and data;
//! sysctl names into /proc/sys paths.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts: Vec<String> = data.split(|b| *b == 0).map(|s| String::from_utf8_lossy(s).into_owned()).collect();
    let o = berth::rootfs::mounts::parse_options(&opts);
    let _ = berth::rootfs::mounts::remount_attr(o.flags, false);
    for s in &opts {
        if let Ok(p) = berth::config::sysctl_path(s) {
            assert!(!p.starts_with('/') && !p.split('/').any(|c| c == ".." || c.is_empty()), "{s:?} -> {p:?}");
        }
    }
});
