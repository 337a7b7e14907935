//! The config.json written by `berth spec`: runc's default, field for field, so that
//! scripts that run `runc spec` and patch the result work unchanged.

use serde_json::{json, Value};

pub fn default_spec(rootless: bool, uid: u32, gid: u32) -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let mut spec = json!({
        "ociVersion": crate::SPEC_VERSION,
        "process": {
            "terminal": true,
            "user": { "uid": 0, "gid": 0 },
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps, "ambient": caps
            },
            "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }],
            "noNewPrivileges": true
        },
        "root": { "path": "rootfs", "readonly": true },
        "hostname": "berth",
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
              "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
            { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
              "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
            { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
              "options": ["nosuid", "noexec", "nodev"] },
            { "destination": "/sys", "type": "sysfs", "source": "sysfs",
              "options": ["nosuid", "noexec", "nodev", "ro"] },
            { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
              "options": ["nosuid", "noexec", "nodev", "relatime", "ro"] }
        ],
        "linux": {
            "resources": { "devices": [{ "allow": false, "access": "rwm" }] },
            "namespaces": [
                { "type": "pid" }, { "type": "network" }, { "type": "ipc" },
                { "type": "uts" }, { "type": "mount" }
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    });
    if rootless {
        make_rootless(&mut spec, uid, gid);
    }
    spec
}

/// runc's `spec --rootless`: a user namespace mapping the caller to root, no network
/// namespace, no device cgroup rules, sysfs bind-mounted, no gid= on devpts.
fn make_rootless(spec: &mut Value, uid: u32, gid: u32) {
    let linux = &mut spec["linux"];
    if let Some(obj) = linux.as_object_mut() {
        obj.remove("resources");
        obj.insert("uidMappings".into(), json!([{ "containerID": 0, "hostID": uid, "size": 1 }]));
        obj.insert("gidMappings".into(), json!([{ "containerID": 0, "hostID": gid, "size": 1 }]));
    }
    if let Some(ns) = linux["namespaces"].as_array_mut() {
        ns.retain(|n| n["type"] != "network");
        ns.push(json!({ "type": "user" }));
    }
    if let Some(mounts) = spec["mounts"].as_array_mut() {
        for m in mounts.iter_mut() {
            match m["destination"].as_str() {
                Some("/dev/pts") => {
                    if let Some(opts) = m["options"].as_array_mut() {
                        opts.retain(|o| o != "gid=5");
                    }
                }
                Some("/sys") => {
                    *m = json!({ "destination": "/sys", "type": "none", "source": "/sys",
                                 "options": ["rbind", "nosuid", "noexec", "nodev", "ro"] });
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_parses_as_a_spec() {
        let v = default_spec(false, 0, 0);
        let s: crate::config::Spec = serde_json::from_value(v).unwrap();
        assert_eq!(s.mounts().as_ref().map(|m| m.len()), Some(7));
    }

    #[test]
    fn rootless_drops_network_and_adds_user_namespace() {
        let v = default_spec(true, 1000, 1000);
        let ns: Vec<&str> = v["linux"]["namespaces"]
            .as_array().unwrap().iter().map(|n| n["type"].as_str().unwrap()).collect();
        assert!(!ns.contains(&"network") && ns.contains(&"user"));
        assert_eq!(v["linux"]["uidMappings"][0]["hostID"], 1000);
    }
}
