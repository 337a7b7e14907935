//! config.md "Process": identity, privileges and limits, observed from inside.

use std::fs;
use std::os::fd::AsRawFd;
use std::process::Stdio;

use berth_integration_tests::T;
use serde_json::json;

fn status_field(status: &str, key: &str) -> String {
    status.lines().find_map(|l| l.strip_prefix(&format!("{key}:"))).unwrap_or_default().trim().to_string()
}

#[test]
fn user_groups_umask_env_cwd() {
    let mut t = T::new("user");
    let mut b = t.bundle(&["sh", "-c", "id -u; id -g; id -G; umask; pwd; echo $HOME; echo $FOO"]);
    b.config["process"]["user"] = json!({"uid": 65534, "gid": 65534, "additionalGids": [5, 6], "umask": 0o27});
    b.config["process"]["cwd"] = json!("/tmp");
    b.config["process"]["env"].as_array_mut().unwrap().push(json!("FOO=bar baz"));
    let out = t.run(&b, "u").ok().stdout.clone();
    assert_eq!(out, "65534\n65534\n65534 5 6\n0027\n/tmp\n/nonexistent\nbar baz\n");
}

#[test]
fn capabilities_all_five_sets() {
    let mut t = T::new("caps");
    let mut b = t.bundle(&["cat", "/proc/self/status"]);
    b.config["process"]["capabilities"] = json!({
        "bounding": ["CAP_KILL", "CAP_CHOWN", "CAP_NET_RAW"],
        "permitted": ["CAP_KILL", "CAP_CHOWN"],
        "effective": ["CAP_KILL"],
        "inheritable": ["CAP_KILL", "CAP_CHOWN"],
        "ambient": ["CAP_CHOWN"]
    });
    let st = t.run(&b, "c").ok().stdout.clone();
    let kill = 1u64 << 5;
    let chown = 1u64 << 0;
    let raw = 1u64 << 13;
    let hex = |v: u64| format!("{v:016x}");
    // After exec, with ambient CHOWN: permitted/effective = ambient plus what file caps
    // give (none for busybox): the kernel's rules for a non-setuid exec by root.
    assert_eq!(status_field(&st, "CapBnd"), hex(kill | chown | raw));
    assert_eq!(status_field(&st, "CapInh"), hex(kill | chown));
    assert_eq!(status_field(&st, "CapAmb"), hex(chown));
    // uid 0 exec: permitted = inheritable & bounding (legacy root semantics) ∪ ...; check
    // nothing outside the bounding set is held.
    let prm = u64::from_str_radix(&status_field(&st, "CapPrm"), 16).unwrap();
    assert_eq!(prm & !(kill | chown | raw), 0, "permitted beyond bounding: {prm:x}");
}

#[test]
fn capabilities_for_non_root_follow_the_config() {
    let mut t = T::new("capsuser");
    let mut b = t.bundle(&["cat", "/proc/self/status"]);
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    b.config["process"]["capabilities"] = json!({
        "bounding": ["CAP_NET_BIND_SERVICE", "CAP_KILL"],
        "permitted": ["CAP_NET_BIND_SERVICE"],
        "effective": ["CAP_NET_BIND_SERVICE"],
        "inheritable": ["CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_NET_BIND_SERVICE"]
    });
    let st = t.run(&b, "c").ok().stdout.clone();
    let nbs = format!("{:016x}", 1u64 << 10);
    for k in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        assert_eq!(status_field(&st, k), nbs, "{k}");
    }
    assert_eq!(status_field(&st, "CapBnd"), format!("{:016x}", (1u64 << 10) | (1 << 5)));
    assert_eq!(status_field(&st, "Uid").split_whitespace().next(), Some("1000"));
}

#[test]
fn no_new_privileges_and_oom_score_adj() {
    let mut t = T::new("nnp");
    let mut b = t.bundle(&["sh", "-c", "grep NoNewPrivs /proc/self/status; cat /proc/self/oom_score_adj"]);
    b.config["process"]["noNewPrivileges"] = json!(true);
    b.config["process"]["oomScoreAdj"] = json!(500);
    assert_eq!(t.run(&b, "n").ok().stdout, "NoNewPrivs:\t1\n500\n");
    b.config["process"]["noNewPrivileges"] = json!(false);
    b.config["process"]["oomScoreAdj"] = serde_json::Value::Null;
    assert!(t.run(&b, "n2").ok().stdout.starts_with("NoNewPrivs:\t0\n"));
}

#[test]
fn rlimits_are_set() {
    let mut t = T::new("rlimits");
    let mut b = t.bundle(&["sh", "-c", "ulimit -n; ulimit -Hn; ulimit -c; ulimit -s"]);
    b.config["process"]["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
        {"type": "RLIMIT_STACK", "soft": 4194304, "hard": 8388608}
    ]);
    assert_eq!(t.run(&b, "r").ok().stdout, "123\n456\n0\n4096\n");
}

#[test]
fn personality_scheduler_and_io_priority() {
    let mut t = T::new("attrs");
    let mut b = t.bundle(&["sh", "-c", "uname -m; grep -E '^(policy|prio)' /proc/self/sched | tr -s ' '; ionice"]);
    b.config["linux"]["personality"] = json!({"domain": "LINUX32"});
    b.config["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 5});
    b.config["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0});
    let out = t.run(&b, "a").ok().stdout.clone();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "i686", "LINUX32 personality");
    assert!(out.contains("policy : 3"), "SCHED_BATCH: {out}");
    assert!(out.contains("prio : 125"), "nice 5 is static priority 120+5: {out}");
    assert_eq!(lines.last(), Some(&"idle"), "I/O priority class idle: {out}");
    let mut b = t.bundle(&["cat", "/proc/self/io"]);
    b.config["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 9});
    t.create(&b, "badprio").failed_with("process.ioPriority.priority");
}

#[test]
fn lsm_profiles_without_the_lsm_are_refused() {
    let mut t = T::new("lsm");
    if std::path::Path::new("/sys/module/apparmor/parameters/enabled").exists() || std::path::Path::new("/sys/fs/selinux/enforce").exists() {
        eprintln!("skipped: this host has an LSM enabled");
        return;
    }
    let mut b = t.bundle(&["true"]);
    b.config["process"]["apparmorProfile"] = json!("docker-default");
    t.create(&b, "aa").failed_with("AppArmor is not enabled");
    let mut b = t.bundle(&["true"]);
    b.config["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0");
    t.create(&b, "se").failed_with("SELinux is not enabled");
}

/// No fd of the runtime reaches the container (CVE-2024-21626 class): only 0, 1, 2 and
/// the ones asked for with --preserve-fds, even when the caller leaks a stray fd 3.
#[test]
fn only_intended_fds_reach_the_container() {
    let mut t = T::new("fds");
    let b = t.bundle(&["sh", "-c", "ls /proc/self/fd | sort -n | tr '\\n' ' '"]);
    b.write();
    let stray = fs::File::open("/etc/hostname").unwrap();
    let stray_fd = stray.as_raw_fd();
    // Make the caller's fd inheritable at number 3 and 4 (engines leak such fds).
    let out = {
        let mut c = t.cmd();
        c.args(["run", "--bundle"]).arg(&b.dir).arg("f1");
        berth_integration_tests::pass_fd(&mut c, stray_fd, &[3, 4]);
        c.stdin(Stdio::null()).output().unwrap()
    };
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // ls itself opens /proc/self/fd as fd 3.
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0 1 2 3 ");
    // --preserve-fds 2 passes exactly 3 and 4 (5 stays behind; ls's own fd is then 5).
    let out = {
        let mut c = t.cmd();
        c.args(["run", "--preserve-fds", "2", "--bundle"]).arg(&b.dir).arg("f2");
        berth_integration_tests::pass_fd(&mut c, stray_fd, &[3, 4, 5]);
        c.stdin(Stdio::null()).output().unwrap()
    };
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0 1 2 3 4 5 ");
    drop(stray);
}

/// The init is non-dumpable until exec: a process of another container sharing its pid
/// namespace, without CAP_SYS_PTRACE, cannot even open /proc/<init>/exe (a sealed,
/// read-only copy of berth until the exec). Defence in depth: with CAP_SYS_PTRACE it can
/// open it, and the tests in security.rs show it still cannot write the runtime through
/// it (CVE-2019-5736).
#[test]
fn the_init_exe_cannot_be_opened_without_cap_sys_ptrace() {
    let mut t = T::new("exe");
    let a = t.bundle(&["sleep", "100"]);
    t.create(&a, "created").ok();
    let pid = t.state("created")["pid"].as_i64().unwrap();
    let mut b = t.bundle(&["sh", "-c", "readlink /proc/1/exe; cat /proc/1/exe > /dev/null && echo OPENED; echo end"]);
    b.config["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "pid", "path": format!("/proc/{pid}/ns/pid")}]);
    b.config["hostname"] = serde_json::Value::Null;
    let out = t.run(&b, "intruder");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stdout.contains("OPENED") && !out.stdout.contains("berth"), "{}", out.stdout);
    assert!(out.stdout.ends_with("end\n"));
    t.berth(&["delete", "created"]).ok();
}

/// process.cwd through an fd that points outside the rootfs (here a host directory handed
/// in with --preserve-fds) must not give the container a working directory on the host
/// (CVE-2024-21626 class): getcwd then reports "(unreachable)" and create fails.
#[test]
fn a_cwd_outside_the_container_is_refused() {
    let mut t = T::new("cwdescape");
    let mut b = t.bundle(&["pwd"]);
    b.config["process"]["cwd"] = json!("/proc/self/fd/3");
    b.write();
    let hostdir = fs::File::open("/").unwrap();
    let fd = hostdir.as_raw_fd();
    let mut c = t.cmd();
    c.args(["create", "--preserve-fds", "1", "--bundle"]).arg(&b.dir).arg("esc");
    berth_integration_tests::pass_fd(&mut c, fd, &[3]);
    let o = t.detached(&mut c);
    o.failed_with("outside the container");
}
