//! Where engines, scripts and suites look at runc's behaviour: the same command under berth
//! and runc (Debian's 1.1.5, the oracle) on the same bundle, compared; and the runtime-spec
//! sentence where the behaviour is the spec's. runc is only run on the busybox rootfs the
//! tests make, never on a hostile one (it is open to CVE-2025-31133).

use std::process::{Command, Stdio};

use berth_integration_tests::{Bundle, Out, T};
use serde_json::{json, Value};

/// runc with its own state root beside the test's, stdin closed; output through files, as
/// `T::detached` (a created container's init holds inherited pipes open).
fn runc(t: &T, args: &[&str]) -> Out {
    let o = t.tmp.join("runc.out");
    let e = t.tmp.join("runc.err");
    let st = Command::new("runc")
        .arg("--root")
        .arg(t.tmp.join("runc-root"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&o).unwrap())
        .stderr(std::fs::File::create(&e).unwrap())
        .status()
        .expect("runc is not installed: `make deps` installs the differential oracle");
    Out { code: st.code().unwrap_or(-1), stdout: std::fs::read_to_string(&o).unwrap_or_default(), stderr: std::fs::read_to_string(&e).unwrap_or_default() }
}

/// `run` or `create` of `b` as `id` under `rt` ("berth" or "runc").
fn under(t: &T, rt: &str, op: &str, b: &Bundle, id: &str) -> Out {
    match (rt, op) {
        ("berth", "run") => t.run(b, id),
        ("berth", _) => t.create(b, id),
        _ => {
            b.write();
            runc(t, &[op, "--bundle", b.dir.to_str().unwrap(), id])
        }
    }
}

/// `run -d` of `b` as `id` under `rt`, output through files (the init outlives it).
fn run_detached(t: &T, rt: &str, b: &Bundle, id: &str) -> Out {
    b.write();
    match rt {
        "berth" => t.detached(t.cmd().args(["run", "-d", "--bundle"]).arg(&b.dir).arg(id)),
        _ => runc(t, &["run", "-d", "--bundle", b.dir.to_str().unwrap(), id]),
    }
}

/// A command (after --root) under `rt`.
fn cli(t: &T, rt: &str, args: &[&str]) -> Out {
    if rt == "berth" {
        t.berth(args)
    } else {
        runc(t, args)
    }
}

/// A bundle both runtimes can run: an absolute cgroupsPath of one level (runc removes the
/// leaf it made, never a parent; never below the caller's own cgroup).
fn bundle(t: &mut T, args: &[&str], cgroup: &str) -> Bundle {
    let mut b = t.bundle(args);
    b.config["linux"]["cgroupsPath"] = json!(format!("/berth-compat-{cgroup}"));
    b.write();
    b
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
}

#[test]
fn state_list_and_events_print_runc_keys_in_runc_order() {
    let mut t = T::new("compat-json");
    let mut b = bundle(&mut t, &["sleep", "100"], "json");
    b.config["annotations"] = json!({"org.example.z": "1", "org.example.a": "2"});
    t.create(&b, "j").ok();
    let r = runc(&t, &["create", "--bundle", b.dir.to_str().unwrap(), "j"]);
    assert_eq!(r.code, 0, "runc create: {}", r.stderr);
    let ours = t.berth(&["state", "j"]).ok().json();
    let theirs: Value = serde_json::from_str(&runc(&t, &["state", "j"]).stdout).unwrap();
    assert_eq!(keys(&ours), keys(&theirs), "state");
    assert_eq!(keys(&ours["annotations"]), keys(&theirs["annotations"]), "annotations sorted as Go sorts a map");
    let ours: Value = t.berth(&["list", "--format", "json"]).ok().json();
    let theirs: Value = serde_json::from_str(&runc(&t, &["list", "--format", "json"]).stdout).unwrap();
    assert_eq!(keys(&ours[0]), keys(&theirs[0]), "list --format json");
    // events --stats: one line, starting as runc's does.
    let ev = t.berth(&["events", "--stats", "j"]).ok().stdout.clone();
    assert!(ev.starts_with(r#"{"type":"stats","id":"j","data":{"#), "{ev}");
    let theirs = runc(&t, &["events", "--stats", "j"]).stdout;
    assert!(theirs.starts_with(r#"{"type":"stats","id":"j","data":{"#), "runc: {theirs}");
    // Signal 0 is a valid signal for both: it checks, and sends nothing.
    for all in [false, true] {
        let args: Vec<&str> = if all { vec!["kill", "--all", "j", "0"] } else { vec!["kill", "j", "0"] };
        assert_eq!(runc(&t, &args).code, 0);
        t.berth(&args).ok();
    }
    assert_eq!(t.status("j"), "created");
    runc(&t, &["delete", "-f", "j"]);
    t.berth(&["delete", "-f", "j"]).ok();
    // Without annotations runc omits the key; so does berth.
    let b = bundle(&mut t, &["sleep", "100"], "json2");
    t.create(&b, "k").ok();
    assert!(t.state("k").get("annotations").is_none());
    t.berth(&["delete", "-f", "k"]).ok();
}

/// The propagation fields of the mountinfo line of "/" seen from inside.
fn root_propagation(t: &mut T, prop: &str) -> Out {
    let mut b = t.bundle(&["sh", "-c", r#"awk '$5 == "/" { for (i = 7; $i != "-"; i++) printf "%s ", $i; print "." }' /proc/self/mountinfo"#]);
    b.config["linux"]["rootfsPropagation"] = json!(prop);
    t.run(&b, &format!("prop-{prop}"))
}

#[test]
fn every_rootfs_propagation_is_applied_to_the_root() {
    // config-linux.md: "rootfsPropagation (string, OPTIONAL) sets the rootfs's mount
    // propagation. Its value is either shared, slave, private or unbindable."
    // Found: shared failed with pivot_root: EINVAL, unbindable with "bind rootfs: EINVAL".
    let mut t = T::new("compat-prop");
    let out = root_propagation(&mut t, "shared");
    assert!(out.ok().stdout.starts_with("shared:"), "{out:?}");
    let out = root_propagation(&mut t, "unbindable");
    assert_eq!(out.ok().stdout.trim(), "unbindable .", "{out:?}");
    for p in ["slave", "private"] {
        let out = root_propagation(&mut t, p);
        assert!(!out.ok().stdout.contains("shared:"), "{p}: {out:?}");
    }
}

#[test]
fn proc_or_sys_as_a_symlink_in_the_rootfs_is_refused_with_runcs_words() {
    // An attacker's image: /proc (or /sys) a symlink, to somewhere that exists on the
    // host or to nothing. runc refuses both with this message; berth resolved an
    // existing target inside the root and mounted there, or failed with ENOENT.
    let mut t = T::new("compat-procsym");
    let root = t.private_rootfs();
    std::fs::create_dir_all(t.tmp.join("target")).unwrap();
    for (dir, target, kind) in [("proc", t.tmp.join("target"), "proc"), ("proc", "/nowhere".into(), "proc"), ("sys", "proc".into(), "sysfs"), ("sys", "/".into(), "sysfs")] {
        let p = root.join(dir);
        let _ = std::fs::remove_dir(&p);
        let _ = std::fs::remove_file(&p);
        std::os::unix::fs::symlink(&target, &p).unwrap();
        let mut b = t.bundle(&["true"]);
        b.config["root"]["path"] = json!(root);
        // Every run: the reason, never a lost report (once 1 in 20 said ECONNRESET).
        for _ in 0..5 {
            // (logrus quotes the message: its quotes come escaped.)
            t.run(&b, "sym").failed_with(&format!("filesystem \\\"{kind}\\\" must be mounted on ordinary directory"));
        }
        std::fs::remove_file(&p).unwrap();
        std::fs::create_dir(&p).unwrap();
    }
}

/// A hook without `env` that appends "<kind> <cwd> <env>" to `log` (env sorted, one line,
/// without the runtimes' own private variables).
fn env_hook(kind: &str, log: &str) -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", format!(
        "echo \"{kind} $(pwd) $(env | grep -Ev '^(_LIBCONTAINER_|BERTH_|PWD=|SHLVL=|OLDPWD=|_=)' | sort | tr '\\n' ' ')\" >> {log}")]})
}

#[test]
fn hooks_run_where_and_with_the_environment_runc_gives_them() {
    // runc runs prestart/createRuntime in the bundle, createContainer in the rootfs, and
    // a hook without env with Go's default: the runtime's own environment, or for
    // startContainer the process's. berth cleared the environment and kept its cwd.
    let mut t = T::new("compat-hookenv");
    let logdir = t.tmp.join("hooklog");
    std::fs::create_dir_all(&logdir).unwrap();
    let mut results = Vec::new();
    for rt in ["berth", "runc"] {
        let log = logdir.join(format!("{rt}.log"));
        let _ = std::fs::remove_file(&log);
        let hl = log.to_str().unwrap();
        let mut b = bundle(&mut t, &["true"], &format!("hookenv-{rt}"));
        b.config["mounts"].as_array_mut().unwrap().push(json!({"destination": "/hooklog", "type": "bind", "source": logdir, "options": ["rbind"]}));
        b.config["process"]["env"] = json!(["PATH=/bin:/usr/bin", "FROM_PROCESS=1"]);
        b.config["hooks"] = json!({
            "prestart": [env_hook("prestart", hl)],
            "createRuntime": [env_hook("createRuntime", hl)],
            "createContainer": [env_hook("createContainer", hl)],
            "startContainer": [env_hook("startContainer", &format!("/hooklog/{rt}.log"))],
        });
        b.write();
        let cmd = |c: &mut Command| {
            // The same, known environment for both runtimes and the same cwd.
            c.env_clear().env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").env("HOOK_TEST", "inherited").current_dir(&t.tmp);
        };
        let out = if rt == "berth" {
            let mut c = t.cmd();
            cmd(&mut c);
            c.args(["run", "--bundle"]).arg(&b.dir).arg("he").stdin(Stdio::null()).output().unwrap()
        } else {
            let mut c = Command::new("runc");
            cmd(&mut c);
            c.arg("--root").arg(t.tmp.join("runc-root")).args(["run", "--bundle"]).arg(&b.dir).arg("he").stdin(Stdio::null()).output().unwrap()
        };
        assert!(out.status.success(), "{rt}: {}", String::from_utf8_lossy(&out.stderr));
        let text = std::fs::read_to_string(&log).unwrap();
        let name = b.dir.file_name().unwrap().to_str().unwrap();
        results.push(text.replace(&format!("/{name} "), "/BUNDLE "));
    }
    let (ours, theirs) = (&results[0], &results[1]);
    assert_eq!(ours, theirs, "berth's hooks (left) and runc's (right)");
    assert!(ours.contains("HOOK_TEST=inherited") && ours.contains("startContainer / FROM_PROCESS=1"), "{ours}");
}

#[test]
fn a_failing_poststart_or_poststop_hook_does_not_stop_the_others() {
    // runtime.md: "If any poststart hook fails, the runtime MUST log a warning, but the
    // remaining hooks and lifecycle continue as if the hook had succeeded." Same words
    // for poststop. berth stopped at the failing hook.
    let mut t = T::new("compat-hookfail");
    let log = t.tmp.join("hooks.log");
    let l = log.to_str().unwrap();
    let mut b = t.bundle(&["true"]);
    let echo = |w: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("echo {w} >> {l}")]});
    b.config["hooks"] = json!({
        "poststart": [echo("poststart-1"), {"path": "/bin/false"}, echo("poststart-3")],
        "poststop": [{"path": "/bin/false"}, echo("poststop-2")],
    });
    let out = t.run(&b, "hf");
    out.ok();
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "poststart-1\npoststart-3\npoststop-2\n");
    assert_eq!(out.stderr.matches("level=warning").count(), 2, "a warning per failed hook: {}", out.stderr);
}

/// What the runtimes' inits and the probe call once the filter is loaded (with
/// noNewPrivileges it is loaded last, just before the exec).
const INIT_SYSCALLS: &str = r#"["arch_prctl","brk","execve","exit_group","getrandom","mprotect","newfstatat","prlimit64","readlink","rseq","set_robust_list","set_tid_address","write","fstat","futex","uname","mmap","munmap","close","read","ioctl","openat","fcntl","capget","capset","prctl","setgroups","setuid","setgid","setresuid","setresgid","getpid","getppid","rt_sigaction","rt_sigprocmask","rt_sigreturn","sigaltstack","gettid","tgkill","nanosleep","sched_yield","epoll_pwait","epoll_ctl","epoll_create1","pipe2","clone","getcwd","chdir","fchdir","dup3","madvise","mlock","exit","wait4","waitid","pidfd_open","pidfd_send_signal","close_range","statx","lseek","pread64","sendto","sendmsg","recvfrom","recvmsg","fstatfs","statfs","poll","ppoll","openat2","readlinkat","getdents64","dup","dup2","kill","faccessat","faccessat2","access","clock_gettime","getuid","getgid","geteuid","getegid","mount_setattr","setsid","umask","getrlimit","setrlimit","sched_getaffinity","fsync","unlinkat","mknodat","fchown","fchmod","fchownat"]"#;

/// A rootfs copy holding /probe, the libc-free syscall prober (data/syscall-probe.c).
fn rootfs_with_probe(t: &T) -> std::path::PathBuf {
    let root = t.private_rootfs();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/syscall-probe.c");
    let st = Command::new("gcc")
        .args(["-static", "-nostdlib", "-O0", "-fno-builtin", "-fno-stack-protector", "-o"])
        .arg(root.join("probe"))
        .arg(&src)
        .status()
        .expect("gcc is not installed: `make deps` installs it (g++)");
    assert!(st.success(), "cannot build the syscall probe");
    root
}

#[test]
fn seccomp_verdicts_match_runcs_syscall_by_syscall() {
    // runc's stub: a syscall numbered above all the profile names gets ENOSYS (999, 600,
    // 450 and 463 here, above mount_setattr's 442); below that the default's EPERM (440,
    // 200); a named errno (reboot: 5); allowed calls run. 335 (uretprobe) and 15
    // (rt_sigreturn) are not probed: they signal the caller.
    let mut t = T::new("compat-scverdict");
    let root = rootfs_with_probe(&t);
    let probe = ["999", "600", "450", "463", "440", "200", "169", "39", "436"];
    let mut outs = Vec::new();
    for rt in ["berth", "runc"] {
        let args: Vec<&str> = std::iter::once("/probe").chain(probe.iter().copied()).collect();
        let mut b = bundle(&mut t, &args, &format!("scv-{rt}"));
        b.config["root"]["path"] = json!(root);
        b.config["process"]["noNewPrivileges"] = json!(true);
        b.config["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [
                {"names": serde_json::from_str::<Value>(INIT_SYSCALLS).unwrap(), "action": "SCMP_ACT_ALLOW"},
                {"names": ["reboot"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5}
            ]
        });
        b.write();
        let out = under(&t, rt, "run", &b, "scv");
        assert_eq!(out.code, 0, "{rt}: {out:?}");
        outs.push(out.stdout);
    }
    assert_eq!(outs[0], outs[1], "berth (left) and runc (right)");
    assert!(outs[0].contains("999=-38\n") && outs[0].contains("440=-1\n") && outs[0].contains("169=-5\n"), "{}", outs[0]);
}

#[test]
fn a_profile_may_deny_seccomp_getcwd_and_chdir_themselves() {
    // Found: berth loaded one filter per action; with a default that denies seccomp(2),
    // the first filter refused the loading of the second ("cannot load the filter:
    // EPERM"). And the init's cwd check (getcwd) ran after a filter without
    // noNewPrivileges was loaded. runc runs both.
    let mut t = T::new("compat-scself");
    let names: Value = serde_json::from_str(INIT_SYSCALLS).unwrap();
    let mut allow: Vec<Value> = names.as_array().unwrap().iter().filter(|n| *n != "getcwd" && *n != "chdir").cloned().collect();
    allow.push(json!("wait4"));
    for (nnp, profile) in [
        (true, json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": allow, "action": "SCMP_ACT_ALLOW"},
            {"names": ["reboot"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5}]})),
        (false, json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["getcwd", "seccomp"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["reboot"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5}]})),
    ] {
        // Without noNewPrivileges Debian's runc (with the CVE-2024-21626 fix) fails:
        // "failed to verify if current working directory is safe: operation not
        // permitted". berth checks the cwd before loading the filter.
        let runtimes: &[&str] = if nnp { &["berth", "runc"] } else { &["berth"] };
        for &rt in runtimes {
            let mut b = bundle(&mut t, &["/bin/echo", "ran"], &format!("scself-{rt}"));
            b.config["process"]["noNewPrivileges"] = json!(nnp);
            b.config["linux"]["seccomp"] = profile.clone();
            b.write();
            let out = under(&t, rt, "run", &b, "scs");
            assert_eq!((out.code, out.stdout.as_str()), (0, "ran\n"), "{rt} (noNewPrivileges {nnp}): {out:?}");
        }
    }
    // Denying chdir too without noNewPrivileges: runc fails ("chdir to cwd ... operation
    // not permitted", it loads the filter first); berth enters the cwd before the filter.
    let mut b = t.bundle(&["/bin/echo", "ran"]);
    b.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getcwd", "chdir", "fchdir"], "action": "SCMP_ACT_ERRNO"}]});
    assert_eq!(t.run(&b, "scc").ok().stdout, "ran\n");
}

#[test]
fn seccomp_notify_refusals_use_runcs_words() {
    // Scripts match these: runc's seccomp-notify tests do.
    let mut t = T::new("compat-scnotify");
    let mut b = t.bundle(&["true"]);
    b.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/nonexistent/agent.sock",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]});
    let out = t.run(&b, "n1");
    out.failed_with("failed to connect with seccomp agent");
    assert!(!out.stderr.contains("console"), "a seccomp listener is not a console socket: {}", out.stderr);
    b.config["linux"]["seccomp"]["syscalls"][0]["names"] = json!(["mkdir", "write"]);
    t.run(&b, "n2").failed_with("SCMP_ACT_NOTIFY cannot be used for the write syscall");
    b.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/x"});
    t.run(&b, "n3").failed_with("SCMP_ACT_NOTIFY cannot be used as default action");
    // A listenerPath without notify rules is ignored, as runc.
    b.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/nonexistent/agent.sock"});
    t.run(&b, "n4").ok();
}

/// `cmd` run under a pseudo-terminal of `rows`x`cols` (util-linux script), its output.
fn under_a_terminal(cmd: &str, rows: u16, cols: u16) -> String {
    // script's stdin stays open until the command ends: at its EOF script may hang up the
    // terminal under a command still using it.
    let mut child = Command::new("script")
        .args(["-qec", &format!("stty rows {rows} cols {cols}; {cmd}"), "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("script (util-linux)");
    let _open = child.stdin.take();
    let o = child.wait_with_output().unwrap();
    // ^@: the terminal's echo of the NUL both runtimes' relays write at the end of stdin.
    String::from_utf8_lossy(&o.stdout).replace(['\r', '\0'], "").replace("^@", "")
}

#[test]
fn the_terminal_and_stdio_belong_to_the_processs_user() {
    // runc gives the pty (and the stdio pipes it made outside the container) to
    // process.user's uid, keeping the group (tty): a non-root user can use its terminal
    // and reopen /dev/stdout. berth left them root's.
    let mut t = T::new("compat-ttyowner");
    let mut outs = Vec::new();
    for rt in ["berth", "runc"] {
        let mut b = bundle(&mut t, &["sh", "-c", "stat -L -c '%u %g %a' /proc/self/fd/0; tty"], &format!("tty-{rt}"));
        b.config["process"]["terminal"] = json!(true);
        b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        b.write();
        let bin = if rt == "berth" { berth_integration_tests::berth_bin() } else { "runc".into() };
        let root = t.tmp.join(format!("{rt}-root"));
        outs.push(under_a_terminal(&format!("{} --root {} run --bundle {} tty", bin.display(), root.display(), b.dir.display()), 24, 80));
    }
    assert_eq!(outs[0], outs[1], "berth (left) and runc (right)");
    assert!(outs[0].starts_with("1000 5 620\n/dev/pts/0"), "{}", outs[0]);
    // A pipe given as stdout (by the test: Command::output) is the user's too.
    let mut b = t.bundle(&["stat", "-L", "-c", "%u %F", "/proc/self/fd/1"]);
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    assert_eq!(t.run(&b, "pipe").ok().stdout, "1000 fifo\n");
    // A regular file is never handed over: it may be a host file the caller redirected to.
    let log = t.tmp.join("stdout.log");
    let mut c = t.cmd();
    b.write();
    c.args(["run", "--bundle"]).arg(&b.dir).arg("file").stdin(Stdio::null()).stdout(std::fs::File::create(&log).unwrap());
    assert!(c.status().unwrap().success());
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "0 regular empty file\n");
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&log).unwrap()), 0);
}

#[test]
fn exec_t_takes_the_callers_terminal_size_or_the_process_json_one() {
    let mut t = T::new("compat-execsize");
    let b = bundle(&mut t, &["sleep", "100"], "execsize");
    t.create(&b, "es").ok();
    t.berth(&["start", "es"]).ok();
    let bin = berth_integration_tests::berth_bin();
    let root = t.root.display().to_string();
    let out = under_a_terminal(&format!("{} --root {root} exec -t es stty size", bin.display()), 41, 131);
    assert_eq!(out.trim(), "41 131");
    let p = t.tmp.join("process.json");
    std::fs::write(&p, r#"{"args":["stty","size"],"env":["PATH=/bin"],"cwd":"/","terminal":true,"consoleSize":{"height":22,"width":77}}"#).unwrap();
    let out = under_a_terminal(&format!("{} --root {root} exec -p {} es", bin.display(), p.display()), 41, 131);
    assert_eq!(out.trim(), "22 77", "process.json's consoleSize wins");
    t.berth(&["delete", "-f", "es"]).ok();
}

#[test]
fn cgroup_limits_this_host_cannot_hold_fail_as_runcs_do() {
    // A v1/hybrid host: unified is refused (runc's fs driver: "invalid configuration");
    // a limit whose controller the host lacks (net_cls here) fails create instead of
    // being dropped with a warning; I/O weights go to BFQ's files where CFQ's are absent
    // (and fail, as runc's, where the kernel has neither).
    let mut t = T::new("compat-cglimits");
    let has_net_cls = std::path::Path::new("/sys/fs/cgroup/net_cls").exists();
    let has_weight = ["blkio.bfq.weight", "blkio.weight"].iter().any(|f| std::path::Path::new("/sys/fs/cgroup/blkio").join(f).exists());
    for rt in ["berth", "runc"] {
        let mut b = bundle(&mut t, &["true"], &format!("cgl-{rt}"));
        let run = |t: &T, b: &Bundle| under(t, rt, "run", b, "cgl");
        b.config["linux"]["resources"] = json!({"unified": {"memory.high": "1000000"}});
        let out = run(&t, &b);
        assert!(out.code != 0 && out.stderr.contains("invalid configuration: cannot use unified on cgroup v1"), "{rt}: {out:?}");
        if !has_net_cls {
            b.config["linux"]["resources"] = json!({"network": {"classID": 1048577}});
            let out = run(&t, &b);
            assert!(out.code != 0 && out.stderr.contains("cannot set net_cls limit"), "{rt}: {out:?}");
        }
        b.config["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "cgroup"}));
        b.config["process"]["args"] = json!(["sh", "-c", "cat /sys/fs/cgroup/blkio/blkio.bfq.weight 2>/dev/null || cat /sys/fs/cgroup/blkio/blkio.weight"]);
        b.config["linux"]["resources"] = json!({"blockIO": {"weight": 500}});
        let out = run(&t, &b);
        if has_weight {
            assert_eq!((out.code, out.stdout.as_str()), (0, "500\n"), "{rt}: {out:?}");
        } else {
            // A kernel with neither CFQ nor BFQ (seen here on 2026-12-04): both fail; berth
            // says why.
            assert_ne!(out.code, 0, "{rt}: {out:?}");
            if rt == "berth" {
                assert!(out.stderr.contains("this kernel's I/O scheduler has no such weight"), "{out:?}");
            }
        }
    }
    assert!(t.berth(&["list", "-q"]).stdout.is_empty(), "a refused create leaves nothing");
}

#[test]
fn an_existing_cgroup_warns_when_busy_and_is_refused_when_frozen() {
    // runc 1.1's create: "container's cgroup is not empty" (a warning) and "container's
    // cgroup unexpectedly frozen" (an error). berth hung in state D on a frozen cgroup.
    let mut t = T::new("compat-cgexisting");
    let mut b = bundle(&mut t, &["sleep", "100"], "existing");
    t.create(&b, "first").ok();
    b.config["process"]["args"] = json!(["true"]);
    let out = t.create(&b, "second");
    out.ok();
    assert!(out.stderr.contains("level=warning") && out.stderr.contains("container's cgroup is not empty: 1 process(es) found"), "{out:?}");
    t.berth(&["delete", "-f", "second"]).ok();
    t.berth(&["delete", "-f", "first"]).ok();
    // A frozen cgroup made beforehand (the freezer's v1 hierarchy on this host, else cgroup2).
    let v1 = std::path::Path::new("/sys/fs/cgroup/freezer");
    let (dir, file, value) = if v1.join("freezer.state").exists() || v1.join("cgroup.procs").exists() {
        (v1.join("berth-compat-frozen"), "freezer.state", "FROZEN")
    } else {
        (std::path::PathBuf::from("/sys/fs/cgroup/berth-compat-frozen"), "cgroup.freeze", "1")
    };
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(file), value).unwrap();
    let mut b = t.bundle(&["true"]);
    b.config["linux"]["cgroupsPath"] = json!("/berth-compat-frozen");
    let started = std::time::Instant::now();
    let out = t.create(&b, "frozen");
    std::fs::write(dir.join(file), if value == "1" { "0" } else { "THAWED" }).unwrap();
    let _ = std::fs::remove_dir(&dir);
    out.failed_with("container's cgroup unexpectedly frozen");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "refused, not waited on: {:?}", started.elapsed());
    assert!(t.berth(&["list", "-q"]).stdout.is_empty());
}

#[test]
fn update_memory_minus_one_lifts_memory_and_swap_as_runc_does() {
    // runc's setMemoryAndSwap: -1 with no swap given lifts memsw too, and writes are
    // ordered so that memsw >= limit at every step. berth's -1 failed with EINVAL.
    let mut t = T::new("compat-updmem");
    let memsw = |rt: &str| format!("/sys/fs/cgroup/memory/berth-compat-upd-{rt}/memory.memsw.limit_in_bytes");
    if !std::path::Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() {
        eprintln!("no v1 memory+swap accounting on this host: covered by the cgroup2 VM instead");
        return;
    }
    let mut seen = Vec::new();
    for rt in ["berth", "runc"] {
        let mut b = bundle(&mut t, &["sleep", "100"], &format!("upd-{rt}"));
        b.config["linux"]["resources"] = json!({"memory": {"limit": 104857600, "swap": 209715200}});
        b.write();
        let go = |args: &[&str]| cli(&t, rt, args);
        let created = under(&t, rt, "create", &b, "u");
        assert_eq!(created.code, 0, "{rt}: {created:?}");
        let dir = memsw(rt).replace("memory.memsw.limit_in_bytes", "");
        let read = || (std::fs::read_to_string(format!("{dir}memory.limit_in_bytes")).unwrap(), std::fs::read_to_string(memsw(rt)).unwrap());
        for args in [vec!["update", "--memory", "-1", "u"], vec!["update", "--memory", "50M", "--memory-swap", "60M", "u"], vec!["update", "--memory", "300M", "--memory-swap", "400M", "u"]] {
            let out = go(&args);
            assert_eq!(out.code, 0, "{rt} {args:?}: {out:?}");
            seen.push((rt, args.join(" "), read()));
        }
        go(&["delete", "-f", "u"]);
    }
    let (ours, theirs) = seen.split_at(3);
    for (a, b) in ours.iter().zip(theirs) {
        assert_eq!((&a.1, &a.2), (&b.1, &b.2), "berth (left) and runc (right)");
    }
}

#[test]
fn device_rules_keep_only_the_access_runc_keeps() {
    let mut t = T::new("compat-devaccess");
    let mut outs = Vec::new();
    for rt in ["berth", "runc"] {
        let mut b = bundle(&mut t, &["true"], &format!("dev-{rt}"));
        b.config["process"]["args"] = json!(["sleep", "100"]);
        b.config["linux"]["resources"] = json!({"devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "mwr"},
            {"allow": true, "type": "c", "major": 10, "minor": 237, "access": "rrw"}]});
        b.write();
        let created = under(&t, rt, "create", &b, "d");
        assert_eq!(created.code, 0, "{rt}: {created:?}");
        let list = std::fs::read_to_string(format!("/sys/fs/cgroup/devices/berth-compat-dev-{rt}/devices.list")).unwrap_or_default();
        let mut lines: Vec<String> = list.lines().map(String::from).collect();
        lines.sort();
        outs.push(lines);
        cli(&t, rt, &["delete", "-f", "d"]);
    }
    assert_eq!(outs[0], outs[1], "devices.list: berth (left) and runc (right)");
    assert!(outs[0].contains(&"c 10:229 rwm".to_string()) && outs[0].contains(&"c 10:237 rw".to_string()), "{:?}", outs[0]);
}

#[test]
fn oci_version_must_be_semver_and_a_refused_config_leaves_nothing() {
    // config.md: "ociVersion (string, REQUIRED) MUST be in SemVer v2.0.0 format".
    let mut t = T::new("compat-ociversion");
    let mut b = t.bundle(&["true"]);
    for bad in ["invalid", "1.0", ""] {
        b.config["ociVersion"] = json!(bad);
        t.run(&b, "v").failed_with("ociVersion");
        assert!(t.berth(&["list", "-q"]).stdout.is_empty());
    }
    b.config["ociVersion"] = json!("1.0.2-dev");
    t.run(&b, "v").ok();
}

#[test]
fn time_offsets_apply_with_a_new_user_namespace() {
    // config-linux.md "Offset for Time Namespace": timeOffsets are the namespace's clock
    // offsets. With a user namespace too, berth's init (root only there, not dumpable)
    // could not write them: "cannot write /proc/self/timens_offsets: Permission denied".
    let mut t = T::new("compat-timens");
    let mut b = t.bundle(&["sh", "-c", "cut -d. -f1 /proc/uptime; cat /proc/self/timens_offsets"]);
    let ns = b.config["linux"]["namespaces"].as_array_mut().unwrap();
    ns.push(json!({"type": "user"}));
    ns.push(json!({"type": "time"}));
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.config["linux"]["timeOffsets"] = json!({"boottime": {"secs": 172800}, "monotonic": {"secs": 86400, "nanosecs": 5}});
    // A cgroup mount needs a cgroup namespace the user namespace owns; not the point here.
    b.config["mounts"].as_array_mut().unwrap().retain(|m| m["type"] != "cgroup");
    let host_uptime: u64 = std::fs::read_to_string("/proc/uptime").unwrap().split('.').next().unwrap().parse().unwrap();
    let out = t.run(&b, "tn");
    let text = out.ok().stdout.clone();
    let mut lines = text.lines();
    let uptime: u64 = lines.next().unwrap().parse().unwrap();
    assert!(uptime >= host_uptime + 172800 && uptime < host_uptime + 172800 + 60, "uptime {uptime}, host {host_uptime}");
    let offsets: Vec<String> = lines.map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    assert!(offsets.contains(&"monotonic 86400 5".to_string()) && offsets.contains(&"boottime 172800 0".to_string()), "{offsets:?}");
    // Hooks and later children of berth stay in berth's own time namespace: exec joins the
    // container's.
    let mut b = t.bundle(&["sleep", "100"]);
    b.config["linux"]["namespaces"].as_array_mut().unwrap().extend([json!({"type": "user"}), json!({"type": "time"})]);
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.config["linux"]["timeOffsets"] = json!({"boottime": {"secs": 172800}});
    b.config["mounts"].as_array_mut().unwrap().retain(|m| m["type"] != "cgroup");
    t.create(&b, "tx").ok();
    let uptime: u64 = t.berth(&["exec", "tx", "cut", "-d.", "-f1", "/proc/uptime"]).ok().stdout.trim().parse().unwrap();
    assert!(uptime >= host_uptime + 172800, "exec sees the container's clocks: {uptime}");
    let pid = t.state("tx")["pid"].as_i64().unwrap();
    assert_ne!(std::fs::read_link(format!("/proc/{pid}/ns/time_for_children")).unwrap(), std::fs::read_link("/proc/self/ns/time").unwrap());
    t.berth(&["delete", "-f", "tx"]).ok();
}

#[test]
fn without_a_mount_namespace_the_runtimes_is_inherited_and_the_host_untouched() {
    // config-linux.md: "If a namespace type is not specified in the namespaces array, the
    // container MUST inherit the runtime namespace of that type." berth refused such a
    // config. It now chroots only: mounts would be made on the host, so none is made
    // (with a warning). runc is not run here: it makes / rslave in the namespace it is in.
    let mut t = T::new("compat-nomntns");
    let mut b = t.bundle(&["sleep", "100"]);
    b.config["linux"]["namespaces"].as_array_mut().unwrap().retain(|n| n["type"] != "mount");
    let mounts_before = std::fs::read_to_string("/proc/self/mountinfo").unwrap().lines().count();
    let out = t.create(&b, "nm");
    out.ok();
    assert!(out.stderr.contains("no mount namespace"), "the skipped mounts are said: {out:?}");
    let pid = t.state("nm")["pid"].as_i64().unwrap();
    assert_eq!(std::fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap(), std::fs::read_link("/proc/self/ns/mnt").unwrap());
    assert_eq!(std::fs::read_link(format!("/proc/{pid}/root")).unwrap(), std::fs::canonicalize(berth_integration_tests::rootfs()).unwrap());
    assert_eq!(std::fs::read_to_string("/proc/self/mountinfo").unwrap().lines().count(), mounts_before, "no mount made on the host");
    t.berth(&["start", "nm"]).ok();
    t.berth(&["delete", "-f", "nm"]).ok();
}

#[test]
fn a_read_only_dev_keeps_its_submounts_and_nodes() {
    // runc mounts a read-only /dev read-write, makes /dev/pts, /dev/shm, /dev/mqueue and
    // the device nodes, then remounts /dev read-only. berth failed: "/dev/pts: Read-only
    // file system".
    let mut t = T::new("compat-rodev");
    let probe = r#"grep -E " /dev(/| )" /proc/self/mountinfo | cut -d" " -f5,6; touch /dev/x 2>&1 | sed 's/.*: //'; ls /dev | tr '\n' ' '"#;
    let mut outs = Vec::new();
    for rt in ["berth", "runc"] {
        let mut b = bundle(&mut t, &["sh", "-c", probe], &format!("rodev-{rt}"));
        for m in b.config["mounts"].as_array_mut().unwrap() {
            if m["destination"] == "/dev" {
                m["options"].as_array_mut().unwrap().push(json!("ro"));
            }
        }
        b.write();
        let out = under(&t, rt, "run", &b, "rd");
        assert_eq!(out.code, 0, "{rt}: {out:?}");
        outs.push(out.stdout);
    }
    assert_eq!(outs[0], outs[1], "berth (left) and runc (right)");
    assert!(outs[0].contains("/dev ro,") && outs[0].contains("Read-only file system") && outs[0].contains("pts"), "{}", outs[0]);
}

#[test]
fn bind_sources_are_opened_before_the_user_namespace() {
    // A source below a directory only the host's root may enter: the init, root only of
    // its user namespace, got EACCES; runc opens sources before entering it, so does berth.
    let mut t = T::new("compat-usbind");
    let hidden = t.tmp.join("hidden");
    std::fs::create_dir_all(hidden.join("sub")).unwrap();
    std::fs::write(hidden.join("sub/file"), "seen").unwrap();
    std::fs::set_permissions(&hidden, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let mut b = t.bundle(&["cat", "/tmp/file"]);
    b.config["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.config["mounts"].as_array_mut().unwrap().retain(|m| m["type"] != "cgroup");
    b.config["mounts"].as_array_mut().unwrap().push(json!({"destination": "/tmp", "type": "bind", "source": hidden.join("sub"), "options": ["rbind", "ro"]}));
    // The file is the host root's; mode 0644 lets the namespace's nobody read it.
    assert_eq!(t.run(&b, "ub").ok().stdout, "seen");
    // Sources still resolve as before without a user namespace, and a missing one is named.
    b.config["mounts"].as_array_mut().unwrap().last_mut().unwrap()["source"] = json!(t.tmp.join("nowhere"));
    t.run(&b, "ub2").failed_with("source");
}

#[test]
fn runcs_flags_and_words_where_scripts_match_them() {
    let mut t = T::new("compat-words");
    // A failing hook: "error running hook", in runc's stderr and berth's.
    for rt in ["berth", "runc"] {
        let mut b = bundle(&mut t, &["true"], &format!("words-{rt}"));
        b.config["hooks"] = json!({"prestart": [{"path": "/bin/false"}]});
        b.write();
        let out = under(&t, rt, "run", &b, "w");
        assert!(out.code != 0 && out.stderr.contains("error running hook"), "{rt}: {out:?}");
    }
    // update --cpu-share (runc's spelling); exec --cgroup / (the container's own cgroup).
    let b = bundle(&mut t, &["sleep", "100"], "words-upd");
    t.create(&b, "u").ok();
    t.berth(&["update", "--cpu-share", "512", "u"]).ok();
    assert_eq!(std::fs::read_to_string("/sys/fs/cgroup/cpu/berth-compat-words-upd/cpu.shares").unwrap_or_else(|_| "512\n".into()), "512\n");
    t.berth(&["start", "u"]).ok();
    t.berth(&["exec", "--cgroup", "/", "u", "true"]).ok();
    t.berth(&["exec", "--cgroup", "../x", "u", "true"]).failed_with("../x is not a sub cgroup path");
    t.berth(&["delete", "-f", "u"]).ok();
}

#[test]
fn help_and_version_are_runcs_byte_for_byte() {
    // berth installed as "runc" (a symlink, as suites and engines substitute it) prints
    // runc's help for the program and every command, -h, --help, help X and h X alike.
    // The only differences: the version lines and the default --root (/run/berth).
    let t = T::new("compat-help");
    let link = t.tmp.join("runc");
    std::os::unix::fs::symlink(berth_integration_tests::berth_bin(), &link).unwrap();
    let out = |bin: &std::path::Path, args: &[&str]| {
        let o = Command::new(bin).args(args).stdin(Stdio::null()).output().unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let runc_bin = std::path::PathBuf::from("runc");
    let commands = ["checkpoint", "create", "delete", "events", "exec", "kill", "list", "pause", "ps", "restore", "resume", "run", "spec", "start", "state", "update", "features"];
    let normalize = |s: String| {
        let mut lines: Vec<String> = Vec::new();
        let mut skip = false;
        for l in s.lines() {
            if l == "VERSION:" {
                skip = true;
                continue;
            }
            if skip && l.is_empty() {
                skip = false;
            }
            if !skip {
                lines.push(l.replace("/run/berth", "/run/runc"));
            }
        }
        lines.join("\n")
    };
    for c in commands {
        for form in [vec![c, "--help"], vec![c, "-h"], vec!["help", c], vec!["h", c]] {
            let (a, b) = (out(&link, &form), out(&runc_bin, &form));
            assert_eq!((a.0, normalize(a.1)), (b.0, normalize(b.1)), "{form:?}");
        }
    }
    for form in [vec!["--help"], vec!["-h"], vec!["help"], vec![]] {
        let (a, b) = (out(&link, &form), out(&runc_bin, &form));
        assert_eq!((a.0, normalize(a.1)), (b.0, normalize(b.1)), "{form:?}");
    }
    // --version: "<name> version X.Y.Z", "commit: ...", "spec: X.Y.Z", as runc's first lines.
    let (code, v) = out(&link, &["--version"]);
    let lines: Vec<&str> = v.lines().collect();
    assert_eq!(code, Some(0));
    assert!(lines[0].starts_with("runc version ") && lines[1].starts_with("commit: ") && lines[2].starts_with("spec: 1."), "{v}");
    assert_eq!(out(&link, &["-v"]).1, v);
    // Unknown topics: runc's words and exit status 3.
    for form in [vec!["foo", "-h"], vec!["help", "foo"]] {
        let o = Command::new(&link).args(&form).output().unwrap();
        assert_eq!(o.status.code(), Some(3), "{form:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("No help topic for 'foo'"));
    }
}

#[test]
fn an_unknown_capability_is_a_warning_not_a_failure() {
    // config.md: a capability "which cannot be mapped to a relevant kernel interface, or
    // cannot be granted otherwise MUST be logged as a warning by the runtime. Runtimes
    // SHOULD NOT fail ...". berth refused the config at parse time.
    let mut t = T::new("compat-unknowncap");
    let mut b = t.bundle(&["sh", "-c", "grep CapBnd /proc/self/status | cut -f2"]);
    b.config["process"]["capabilities"] = json!({"bounding": ["CAP_KILL", "CAP_FROM_THE_FUTURE"], "permitted": ["CAP_KILL"], "effective": ["CAP_KILL"]});
    let out = t.run(&b, "uc");
    out.ok();
    assert_eq!(out.stdout, "0000000000000020\n");
    assert!(out.stderr.contains("level=warning") && out.stderr.contains("CAP_FROM_THE_FUTURE"), "{}", out.stderr);
}

#[test]
fn tmpcopyup_fills_a_tmpfs_as_runc_does_and_copies_links_as_links() {
    // runc's tmpcopyup (podman uses it for --tmpfs): the tmpfs starts with what the image
    // has there. berth accepted the option and copied nothing.
    let mut t = T::new("compat-tmpcopyup");
    let probe = r#"head -1 /etc/passwd; stat -c "%a %U" /etc /etc/passwd; ls -l /bin/sh | cut -c1-10; ls /bin | wc -l; touch /bin/x 2>&1 | sed "s/.*: //"; echo > /etc/new && echo etc-writable"#;
    let mut outs = Vec::new();
    for rt in ["berth", "runc"] {
        let mut b = bundle(&mut t, &["sh", "-c", probe], &format!("tcu-{rt}"));
        b.config["mounts"].as_array_mut().unwrap().extend([
            json!({"destination": "/etc", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "mode=755"]}),
            json!({"destination": "/bin", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "ro"]}),
        ]);
        let out = under(&t, rt, "run", &b, "tcu");
        assert_eq!(out.code, 0, "{rt}: {out:?}");
        outs.push(out.stdout);
    }
    assert_eq!(outs[0], outs[1], "berth (left) and runc (right)");
    assert!(outs[0].starts_with("root:x:0:0") && outs[0].contains("Read-only file system") && outs[0].contains("etc-writable"), "{}", outs[0]);
    // An image's symlink to a host path, a fifo and a setgid directory: copied as what they
    // are (berth only: runc is never run on a planted rootfs).
    let root = t.private_rootfs();
    let d = root.join("data");
    std::fs::create_dir_all(d.join("sub")).unwrap();
    std::os::unix::fs::symlink("/etc/shadow", d.join("link")).unwrap();
    assert!(Command::new("mkfifo").arg(d.join("fifo")).status().unwrap().success());
    std::fs::set_permissions(d.join("sub"), std::os::unix::fs::PermissionsExt::from_mode(0o2750)).unwrap();
    let mut b = t.bundle(&["sh", "-c", "readlink /data/link; stat -c %F /data/link; stat -c '%F %a' /data/fifo /data/sub"]);
    b.config["root"]["path"] = json!(root);
    b.config["mounts"].as_array_mut().unwrap().push(json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup"]}));
    assert_eq!(t.run(&b, "tcu2").ok().stdout, "/etc/shadow\nsymbolic link\nfifo 644\ndirectory 2750\n");
}

#[test]
fn a_program_that_cannot_be_executed_fails_in_runcs_words_and_status() {
    // Engines show these words to users ("exec /entrypoint: exec format error" is what an
    // image of the wrong architecture gives under docker): berth said `berth: exec
    // "/bin/bad": Exec format error (os error 8)`, exit 127 under run and 255 under exec,
    // and "No such file or directory (os error 2)" for a missing program.
    let mut t = T::new("compat-badexec");
    let root = t.private_rootfs();
    std::fs::write(root.join("bin/bad"), b"\x7fELF\x02garbage\n").unwrap();
    std::fs::set_permissions(root.join("bin/bad"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    for rt in ["berth", "runc"] {
        // run: the init's own failure after start, on its stderr, status 1.
        let mut b = bundle(&mut t, &["/bin/bad"], &format!("badexec-{rt}"));
        b.config["root"]["path"] = json!(root);
        let out = under(&t, rt, "run", &b, "bad");
        assert_eq!((out.code, out.stderr.as_str()), (1, "exec /bin/bad: exec format error\n"), "{rt}: {out:?}");
        // exec: the same words and status from the process entering the container.
        let mut b = bundle(&mut t, &["sleep", "100"], &format!("badexec2-{rt}"));
        b.config["root"]["path"] = json!(root);
        let up = run_detached(&t, rt, &b, "up");
        assert_eq!(up.code, 0, "{rt}: {up:?}");
        let out = cli(&t, rt, &["exec", "up", "/bin/bad"]);
        assert_eq!((out.code, out.stderr.as_str()), (1, "exec /bin/bad: exec format error\n"), "{rt}: {out:?}");
        cli(&t, rt, &["delete", "-f", "up"]).ok();
        // A missing program: Go's os.Stat words, inside create's error.
        let mut b = bundle(&mut t, &["/nope"], &format!("badexec3-{rt}"));
        b.config["root"]["path"] = json!(root);
        under(&t, rt, "run", &b, "nope").failed_with(r#"exec: \"/nope\": stat /nope: no such file or directory"#);
        let _ = cli(&t, rt, &["delete", "-f", "nope"]);
    }
}

#[test]
fn a_terminal_without_a_console_socket_when_detaching_is_refused_in_runcs_words() {
    // berth said "console socket : process.terminal is set but there is no
    // --console-socket" (create, run -d) and other words again under exec -t -d.
    let mut t = T::new("compat-notty");
    let words = "cannot allocate tty if {} will detach without setting console socket";
    for rt in ["berth", "runc"] {
        let mut b = bundle(&mut t, &["true"], &format!("notty-{rt}"));
        b.config["process"]["terminal"] = json!(true);
        let out = under(&t, rt, "create", &b, "tty");
        assert_eq!(out.code, 1, "{rt}: {out:?}");
        out.failed_with(&words.replace("{}", rt));
        b.write();
        let out = cli(&t, rt, &["run", "-d", "--bundle", b.dir.to_str().unwrap(), "tty"]);
        assert_eq!(out.code, 1, "{rt}: {out:?}");
        out.failed_with(&words.replace("{}", rt));
        let mut b = bundle(&mut t, &["sleep", "100"], &format!("notty2-{rt}"));
        b.config["process"]["terminal"] = json!(false);
        let up = run_detached(&t, rt, &b, "up");
        assert_eq!(up.code, 0, "{rt}: {up:?}");
        let out = cli(&t, rt, &["exec", "-t", "-d", "up", "true"]);
        assert_eq!(out.code, 255, "{rt}: {out:?}");
        out.failed_with(&format!("exec failed: {}", words.replace("{}", rt)));
        cli(&t, rt, &["delete", "-f", "up"]).ok();
        assert!(cli(&t, rt, &["list", "-q"]).stdout.is_empty(), "{rt}: a refused create left a container");
    }
}
