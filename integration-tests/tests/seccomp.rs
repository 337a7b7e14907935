//! config-linux.md "Seccomp": profiles compiled with seccompiler and loaded in the
//! container; effects observed from inside.

use berth_integration_tests::T;
use serde_json::{json, Value};

fn data(name: &str) -> Value {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data").join(name);
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// `unshare -U` needs no capability, so without a filter it succeeds; Docker's profile
/// denies unshare to a container without CAP_SYS_ADMIN. Podman's allows unshare but
/// denies sethostname explicitly: with CAP_SYS_ADMIN granted, only seccomp can refuse it.
const PROBE: &str = "echo start; grep -E '^Seccomp:' /proc/self/status; unshare -U true 2>&1; echo unshare=$?; hostname x 2>&1; echo hostname=$?";

fn add_sys_admin(b: &mut berth_integration_tests::Bundle) {
    for set in ["bounding", "effective", "permitted"] {
        b.config["process"]["capabilities"][set].as_array_mut().unwrap().push(json!("CAP_SYS_ADMIN"));
    }
}

#[test]
fn docker_and_podman_default_profiles_load_and_deny() {
    let mut t = T::new("seccompdefault");
    let mut b = t.bundle(&["sh", "-c", PROBE]);
    add_sys_admin(&mut b);
    let out = t.run(&b, "none").ok().stdout.clone();
    assert!(out.contains("Seccomp:\t0") && out.contains("unshare=0") && out.contains("hostname=0"), "without a profile: {out}");

    let mut b = t.bundle(&["sh", "-c", PROBE]);
    b.config["linux"]["seccomp"] = data("docker-default-seccomp.json");
    // Without no_new_privs the filter is loaded while berth still holds CAP_SYS_ADMIN.
    b.config["process"]["noNewPrivileges"] = json!(false);
    let out = t.run(&b, "docker").ok().stdout.clone();
    assert!(out.starts_with("start\nSeccomp:\t2\n"), "runs normally, filtered: {out}");
    assert!(out.contains("Operation not permitted\nunshare=1"), "docker's profile denies unshare: {out}");

    let mut b = t.bundle(&["sh", "-c", PROBE]);
    add_sys_admin(&mut b);
    b.config["linux"]["seccomp"] = data("podman-default-seccomp.json");
    let out = t.run(&b, "podman").ok().stdout.clone();
    assert!(out.starts_with("start\nSeccomp:\t2\n"), "runs normally, filtered: {out}");
    assert!(out.contains("Operation not permitted\nhostname=1"), "podman's profile denies sethostname: {out}");
}

fn arg_rule(value: u64, op: &str, errno: u32) -> Value {
    json!({"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno, "args": [{"index": 1, "value": value, "op": op}]})
}

#[test]
fn every_argument_operator_and_errno() {
    let mut t = T::new("seccompops");
    let mut b = t.bundle(&["sh", "-c", "for s in 10 12 63 0 52 15; do kill -$s $$ 2>&1 | sed 's/.*: //'; done; echo end"]);
    b.config["linux"]["namespaces"].as_array_mut().unwrap().retain(|n| n["type"] != "pid");
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            arg_rule(10, "SCMP_CMP_EQ", 1),                                   // EPERM
            {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,  // EACCES: 12 & 0xff == 12
             "args": [{"index": 1, "value": 255, "valueTwo": 12, "op": "SCMP_CMP_MASKED_EQ"}]},
            arg_rule(62, "SCMP_CMP_GT", 2),                                   // ENOENT
            arg_rule(1, "SCMP_CMP_LT", 7),                                    // E2BIG (signal 0)
            arg_rule(52, "SCMP_CMP_EQ", 22),                                  // EINVAL
            {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 11,  // EAGAIN: s == 15 and pid != 0
             "args": [{"index": 1, "value": 15, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 0, "op": "SCMP_CMP_NE"}]}
        ]
    });
    let out = t.run(&b, "ops").ok().stdout.clone();
    // Each denied signal got its rule's errno; none was delivered (the shell lived on).
    let want = "Operation not permitted\nPermission denied\nNo such file or directory\nArgument list too long\nInvalid argument\nResource temporarily unavailable\nend\n";
    assert_eq!(out, want, "{out}");
    // Two conditions on one index are two rules, OR (as runc, which adds each as its own
    // libseccomp rule): s >= 50 catches 60, s <= 55 catches 10; nothing is delivered.
    let mut b = t.bundle(&["sh", "-c", "for s in 60 10; do kill -$s $$ 2>&1 | sed 's/.*: //'; done; echo end"]);
    b.config["linux"]["namespaces"].as_array_mut().unwrap().retain(|n| n["type"] != "pid");
    b.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
         "args": [{"index": 1, "value": 50, "op": "SCMP_CMP_GE"}, {"index": 1, "value": 55, "op": "SCMP_CMP_LE"}]}]});
    assert_eq!(t.run(&b, "ops-or").ok().stdout, "Invalid argument\nInvalid argument\nend\n");
    // And a signal no rule matches is delivered (the default ALLOW): the shell dies.
    let mut b = t.bundle(&["sh", "-c", "kill -10 $$; echo survived"]);
    b.config["linux"]["namespaces"].as_array_mut().unwrap().retain(|n| n["type"] != "pid");
    b.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [arg_rule(12, "SCMP_CMP_EQ", 1)]});
    let o = t.run(&b, "ops2");
    assert_eq!(o.code, 128 + 10, "{o:?}");
}

#[test]
fn kill_trap_log_and_default_errno_actions() {
    let mut t = T::new("seccompactions");
    let probe = |t: &mut T, action: &str, extra: Value| {
        let mut b = t.bundle(&["sh", "-c", "hostname x 2>&1; echo after=$?"]);
        b.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["sethostname"], "action": action}]});
        if !extra.is_null() {
            b.config["linux"]["seccomp"]["syscalls"][0]["errnoRet"] = extra;
        }
        t.run(&b, "act")
    };
    // KILL_PROCESS / KILL(_THREAD) / TRAP end the calling process with SIGSYS (31).
    for action in ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL", "SCMP_ACT_TRAP"] {
        let o = probe(&mut t, action, Value::Null);
        assert!(o.stdout.ends_with("after=159\n"), "{action}: {o:?}");
    }
    // LOG allows the call: it then fails only for want of CAP_SYS_ADMIN (EPERM, not SIGSYS).
    let o = probe(&mut t, "SCMP_ACT_LOG", Value::Null);
    assert!(o.stdout.contains("Operation not permitted") && o.stdout.ends_with("after=1\n"), "{o:?}");
    let o = probe(&mut t, "SCMP_ACT_ERRNO", json!(95));
    assert!(o.stdout.contains("Operation not supported") && o.stdout.contains("after=1"), "{o:?}");
    // defaultErrnoRet applies to everything not listed.
    let mut b = t.bundle(&["sh", "-c", "echo x; hostname y 2>&1; echo after=$?"]);
    let mut allow: Vec<&str> = docker_allowed_syscalls();
    allow.retain(|s| *s != "sethostname");
    b.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
        "syscalls": [{"names": allow, "action": "SCMP_ACT_ALLOW"}]});
    let o = t.run(&b, "deferr");
    assert!(o.stdout.contains("Function not implemented") && o.stdout.contains("after=1"), "{o:?}");
}

/// The syscalls Docker's profile allows: enough for a shell, to build a deny-by-default
/// profile around.
fn docker_allowed_syscalls() -> Vec<&'static str> {
    let d = data("docker-default-seccomp.json");
    let names: Vec<String> = d["syscalls"].as_array().unwrap().iter().flat_map(|r| r["names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_string())).collect();
    names.into_iter().map(|s| &*Box::leak(s.into_boxed_str())).collect()
}

#[test]
fn bad_profiles_are_refused_and_exec_gets_the_filter() {
    let mut t = T::new("seccompbad");
    for (profile, field) in [
        (json!({"defaultAction": "SCMP_ACT_BOGUS"}), "linux.seccomp.defaultAction"),
        (json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_KILL", "errnoRet": 1}]}), "linux.seccomp.syscalls[0].action"),
        (json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]}), "linux.seccomp.syscalls[0].names"),
        (json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "m"}), "linux.seccomp.listenerMetadata"),
        (json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/x"}), "linux.seccomp.defaultAction"),
        (json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]}), "linux.seccomp.listenerPath"),
    ] {
        let mut b = t.bundle(&["true"]);
        b.config["linux"]["seccomp"] = profile;
        t.create(&b, "bad").failed_with(field);
    }
    let mut b = t.bundle(&["sleep", "100"]);
    b.config["linux"]["seccomp"] = data("docker-default-seccomp.json");
    t.create(&b, "ex").ok();
    t.berth(&["start", "ex"]).ok();
    let o = t.berth(&["exec", "ex", "sh", "-c", "grep -E '^Seccomp:' /proc/self/status; unshare -U true 2>&1; echo rc=$?"]);
    let out = o.ok().stdout.clone();
    assert!(out.contains("Seccomp:\t2") && out.contains("Operation not permitted"), "{out}");
    t.berth(&["delete", "-f", "ex"]).ok();
}

#[repr(C)]
#[derive(Default)]
struct Notif {
    id: u64,
    pid: u32,
    flags: u32,
    nr: i32,
    arch: u32,
    ip: u64,
    args: [u64; 6],
}

#[repr(C)]
struct NotifResp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

const NOTIF_RECV: u64 = 0xc050_2100; // _IOWR('!', 0, struct seccomp_notif)
const NOTIF_SEND: u64 = 0xc018_2101; // _IOWR('!', 1, struct seccomp_notif_resp)

#[test]
fn notify_sends_the_listener_and_the_container_sees_the_answer() {
    use std::os::fd::AsRawFd;
    let mut t = T::new("seccompnotify");
    let sock = t.tmp.join("listener.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let mut b = t.bundle(&["sh", "-c", "hostname from-container 2>&1; echo rc=$?"]);
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sock, "listenerMetadata": "hello-agent",
        "syscalls": [{"names": ["sethostname"], "action": "SCMP_ACT_NOTIFY"}]
    });
    // The agent: take the listener fd, answer one notification with EDOM.
    let agent = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let (payload, fd) = berth_integration_tests::recv_fd(conn.as_raw_fd());
        let payload = String::from_utf8_lossy(&payload).into_owned();
        let mut n = Notif::default();
        let r = unsafe { libc::ioctl(fd.as_raw_fd(), NOTIF_RECV as _, &mut n) };
        assert_eq!(r, 0, "NOTIF_RECV: {}", std::io::Error::last_os_error());
        let resp = NotifResp { id: n.id, val: 0, error: -libc::EDOM, flags: 0 };
        let r = unsafe { libc::ioctl(fd.as_raw_fd(), NOTIF_SEND as _, &resp) };
        assert_eq!(r, 0, "NOTIF_SEND: {}", std::io::Error::last_os_error());
        (payload, n.nr)
    });
    let o = t.run(&b, "notif");
    let (payload, nr) = agent.join().unwrap();
    o.ok();
    assert_eq!(nr, 170, "the notification is for sethostname");
    assert!(o.stdout.contains("Numerical argument out of domain") && o.stdout.contains("rc=1"), "{o:?}");
    // config-linux.md: the container process state accompanies the fd.
    let ps: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(ps["fds"], json!(["seccompFd"]));
    assert_eq!(ps["metadata"], "hello-agent");
    assert_eq!(ps["state"]["id"], "notif");
    assert!(ps["pid"].as_i64().unwrap() > 0);
    assert_eq!(ps["pid"], ps["state"]["pid"]);
}

#[test]
fn trace_action_and_filter_flags() {
    let mut t = T::new("seccomptrace");
    // SCMP_ACT_TRACE with no tracer attached fails the call with ENOSYS.
    let mut b = t.bundle(&["sh", "-c", "hostname x 2>&1; grep -E '^Seccomp_filters:' /proc/self/status"]);
    b.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
        "syscalls": [{"names": ["sethostname"], "action": "SCMP_ACT_TRACE", "errnoRet": 7}]});
    let out = t.run(&b, "trace").ok().stdout.clone();
    assert!(out.contains("Function not implemented"), "{out}");
    assert!(out.contains("Seccomp_filters:\t1"), "one filter (the default is ALLOW): {out}");
    // An unknown flag is a config error naming it.
    b.config["linux"]["seccomp"]["flags"] = json!(["SECCOMP_FILTER_FLAG_BOGUS"]);
    t.create(&b, "badflag").failed_with("linux.seccomp.flags");
}
