//! linux.resources on this host's cgroup hierarchy (v1 controllers plus cgroup2 beside
//! them here), read back from the cgroup files and, where cheap, observed in action;
//! `update`, `events`, and nothing left in /sys/fs/cgroup after delete.

use std::fs;
use std::io::Write;
use std::process::Stdio;

use berth_integration_tests::T;
use serde_json::json;

fn knob(path: &str) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}")).trim().to_string()
}

/// The block device holding / (for I/O throttles, which need a real disk).
fn root_dev() -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let d = fs::metadata("/").unwrap().dev();
    (libc::major(d) as u64, libc::minor(d) as u64)
}
fn root_major() -> u64 {
    root_dev().0
}
fn root_minor() -> u64 {
    root_dev().1
}

fn v1(controller: &str) -> bool {
    std::path::Path::new(&format!("/sys/fs/cgroup/{controller}/cgroup.procs")).exists()
}

#[test]
fn resources_are_written_to_the_cgroup() {
    let mut t = T::new("resources");
    assert!(v1("memory") && v1("cpu") && v1("pids") && v1("cpuset"), "this test is for a host with v1 controllers");
    let mut b = t.bundle(&["sleep", "100"]);
    b.config["linux"]["cgroupsPath"] = json!("/berth/res");
    b.config["linux"]["resources"] = json!({
        "memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728, "swappiness": 20, "disableOOMKiller": true},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 42},
        "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}],
        "blockIO": {"throttleReadBpsDevice": [{"major": root_major(), "minor": root_minor(), "rate": 1048576}],
                    "throttleWriteIOPSDevice": [{"major": root_major(), "minor": root_minor(), "rate": 100}]}
    });
    t.create(&b, "r").ok();
    let cg = |c: &str, f: &str| knob(&format!("/sys/fs/cgroup/{c}/berth/res/{f}"));
    assert_eq!(cg("memory", "memory.limit_in_bytes"), "67108864");
    assert_eq!(cg("memory", "memory.soft_limit_in_bytes"), "33554432");
    assert_eq!(cg("memory", "memory.memsw.limit_in_bytes"), "134217728");
    assert_eq!(cg("memory", "memory.swappiness"), "20");
    assert!(cg("memory", "memory.oom_control").contains("oom_kill_disable 1"));
    assert_eq!(cg("cpu", "cpu.shares"), "512");
    assert_eq!(cg("cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(cg("cpu", "cpu.cfs_period_us"), "100000");
    assert_eq!(cg("cpuset", "cpuset.cpus"), "0");
    assert_eq!(cg("pids", "pids.max"), "42");
    let dev = format!("{}:{}", root_major(), root_minor());
    assert_eq!(cg("blkio", "blkio.throttle.read_bps_device"), format!("{dev} 1048576"));
    assert_eq!(cg("blkio", "blkio.throttle.write_iops_device"), format!("{dev} 100"));
    let devices = cg("devices", "devices.list");
    assert!(devices.contains("c 1:3 rwm") && !devices.contains("a *:* rwm"), "{devices}");
    t.berth(&["delete", "r"]).ok();
    assert!(!std::path::Path::new("/sys/fs/cgroup/memory/berth/res").exists());
}

#[test]
fn a_limit_the_kernel_refuses_fails_create_and_leaves_nothing() {
    // Written while the init already runs (it waits at its cgroup gate): the failure must
    // still remove the init, every cgroup directory and the state (the harness checks).
    let mut t = T::new("badlimit");
    let mut b = t.bundle(&["true"]);
    b.config["linux"]["resources"] = json!({"cpu": {"cpus": "4000"}});
    let out = t.create(&b, "bad");
    out.failed_with("cpuset.cpus");
    assert!(t.berth(&["list", "-q"]).ok().stdout.trim().is_empty());
    assert!(!std::path::Path::new("/sys/fs/cgroup/cpuset/berth/bad").exists());
    assert!(!std::path::Path::new("/sys/fs/cgroup/unified/berth/bad").exists());
}

#[test]
fn a_fork_bomb_stops_at_pids_max() {
    let mut t = T::new("pidsmax");
    let mut b = t.bundle(&["sh", "-c", "i=0; while [ $i -lt 50 ]; do sleep 100 & i=$((i+1)); done"]);
    b.config["linux"]["resources"] = json!({"pids": {"limit": 5}});
    // Without a pid namespace the sleeps outlive the shell, so the cgroup can be read
    // after it gave up; delete then kills them through the cgroup.
    b.config["linux"]["namespaces"].as_array_mut().unwrap().retain(|n| n["type"] != "pid");
    t.create(&b, "bomb").ok();
    t.berth(&["start", "bomb"]).ok();
    t.wait_status("bomb", "stopped");
    let current: u32 = knob("/sys/fs/cgroup/pids/berth/bomb/pids.current").parse().unwrap();
    assert!(current <= 5, "pids.max=5 but {current} tasks");
    assert!(current >= 4, "the sleeps that did start are still there: {current}");
    let refused = knob("/sys/fs/cgroup/pids/berth/bomb/pids.events");
    assert_ne!(refused, "max 0", "the kernel refused forks: {refused}");
    t.berth(&["delete", "bomb"]).ok();
}

/// A loop block device (b 7:0) is not among the default devices: without a device rule it
/// opens (or reports ENXIO when unbound); with deny-all only the cgroup can refuse it
/// (EPERM). (Not /dev/mem: reading it needs CAP_SYS_RAWIO, which would refuse it anyway.)
const DEVICE_PROBE: &str = "head -c1 /dev/zero > /dev/null && echo zero-ok; echo x > /dev/null && echo null-ok; \
    mknod /dev/l0 b 7 0 && { head -c1 /dev/l0 > /dev/null 2>/tmp/e; cat /tmp/e; true; }";

#[test]
fn device_rules_are_enforced_and_default_devices_stay_usable() {
    let mut t = T::new("devicerules");
    let probe = |t: &mut T, rules: serde_json::Value| {
        let mut b = t.bundle(&["sh", "-c", DEVICE_PROBE]);
        b.config["root"]["readonly"] = json!(false);
        b.config["mounts"].as_array_mut().unwrap().push(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}));
        b.config["linux"]["resources"] = json!({"devices": rules});
        for set in ["bounding", "effective", "permitted"] {
            b.config["process"]["capabilities"][set].as_array_mut().unwrap().push(json!("CAP_MKNOD"));
        }
        t.run(&b, "dev").ok().stdout.clone()
    };
    let open = probe(&mut t, json!([{"allow": true, "access": "rwm"}]));
    assert!(!open.contains("Operation not permitted"), "allow-all must not refuse the loop device: {open}");
    let denied = probe(&mut t, json!([{"allow": false, "access": "rwm"}]));
    // config-linux.md: the default devices stay usable whatever the device cgroup says.
    assert!(denied.contains("zero-ok") && denied.contains("null-ok"), "{denied}");
    assert!(denied.contains("Operation not permitted"), "a device outside the rules is denied: {denied}");
}

#[test]
fn update_changes_a_running_containers_limits() {
    let mut t = T::new("update");
    let b = t.bundle(&["sleep", "100"]);
    t.create(&b, "u").ok();
    t.berth(&["start", "u"]).ok();
    let cg = |c: &str, f: &str| knob(&format!("/sys/fs/cgroup/{c}/berth/u/{f}"));
    t.berth(&["update", "u", "--memory", "50M", "--pids-limit", "10", "--cpu-quota=20000", "--cpu-period", "100000"]).ok();
    assert_eq!(cg("memory", "memory.limit_in_bytes"), (50 << 20).to_string());
    assert_eq!(cg("pids", "pids.max"), "10");
    assert_eq!(cg("cpu", "cpu.cfs_quota_us"), "20000");
    t.berth(&["update", "--pids-limit", "-1", "u"]).ok();
    assert_eq!(cg("pids", "pids.max"), "max");
    // --resources - (JSON on stdin), as containerd's shim sends it.
    let mut c = t.cmd();
    c.args(["update", "--resources", "-", "u"]);
    let mut child = c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(br#"{"memory": {"limit": 104857600, "swap": 209715200}, "cpu": {"shares": 256}}"#).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(cg("memory", "memory.limit_in_bytes"), "104857600");
    assert_eq!(cg("memory", "memory.memsw.limit_in_bytes"), "209715200");
    assert_eq!(cg("cpu", "cpu.shares"), "256");
    // Raising the limit above the current memory+swap limit needs memsw first.
    t.berth(&["update", "u", "--memory", "300M", "--memory-swap", "400M"]).ok();
    assert_eq!(cg("memory", "memory.limit_in_bytes"), (300 << 20).to_string());
    t.berth(&["update", "u", "--memory", "lots"]).failed_with("--memory");
    let rf = t.tmp.join("bad.json");
    fs::write(&rf, r#"{"pids": {"limit": "ten"}}"#).unwrap();
    t.berth(&["update", "--resources", rf.to_str().unwrap(), "u"]).failed_with("pids.limit");
    t.berth(&["delete", "-f", "u"]).ok();
}

#[test]
fn events_report_stats_and_ooms() {
    let mut t = T::new("events");
    let b = t.bundle(&["sleep", "100"]);
    t.create(&b, "ev").ok();
    t.berth(&["start", "ev"]).ok();
    let o = t.berth(&["events", "--stats", "ev"]);
    let v = o.ok().json();
    assert_eq!(v["type"], "stats");
    assert_eq!(v["id"], "ev");
    assert!(v["data"]["cpu"]["usage"]["total"].as_u64().unwrap() > 0, "{v}");
    assert!(v["data"]["memory"]["usage"]["usage"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["data"]["pids"]["current"], 1);
    t.berth(&["delete", "-f", "ev"]).ok();

    // A memory hog is OOM-killed, and the event stream says so.
    let mut b = t.bundle(&["sh", "-c", "sleep 0.5; tail /dev/zero"]);
    b.config["linux"]["resources"] = json!({"memory": {"limit": 16777216, "swap": 16777216}});
    t.create(&b, "hog").ok();
    let mut c = t.cmd();
    c.args(["events", "--interval", "100ms", "hog"]);
    let child = c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    t.berth(&["start", "hog"]).ok();
    t.wait_status("hog", "stopped");
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().any(|l| l.contains(r#""type":"oom""#)), "no OOM event in: {}", &text[..text.len().min(500)]);
    t.berth(&["delete", "hog"]).ok();
}

/// The systemd driver (tested against a real systemd, on cgroup2, hybrid and legacy
/// hierarchies, by integration-tests/systemd-vm): on this host no systemd runs, which
/// is a clear error that leaves nothing (the harness checks: no cgroup, no state, no
/// process), and a path not in its grammar is refused before anything is made.
#[test]
fn the_systemd_driver_refuses_clearly_what_it_cannot_do() {
    let mut t = T::new("systemdcg");
    let mut b = t.bundle(&["true"]);
    b.config["linux"]["cgroupsPath"] = json!("system.slice:berth:test");
    b.write();
    assert!(!std::path::Path::new("/run/systemd/private").exists(), "this test expects a host without systemd");
    let mut c = t.cmd();
    c.args(["--systemd-cgroup", "create", "--bundle"]).arg(&b.dir).arg("sd");
    t.detached(&mut c).failed_with("cannot reach systemd");
    b.config["linux"]["cgroupsPath"] = json!("/not/systemd");
    b.write();
    let mut c = t.cmd();
    c.args(["--systemd-cgroup", "create", "--bundle"]).arg(&b.dir).arg("sd2");
    t.detached(&mut c).failed_with("slice:prefix:name");
    assert!(t.berth(&["state", "sd"]).code != 0 && t.berth(&["state", "sd2"]).code != 0);
}
