//! Attacks on the runtime, written as an attacker would (SECURITY.md lists the classes):
//! each test plants what a hostile image, bundle or container process would, then checks
//! that nothing outside the container changed. Every test here failed on berth before
//! the fix it guards (noted on each).

use std::fs;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_integration_tests::{berth_bin, T};
use serde_json::json;

/// A private copy of the berth binary under test: the file an attack tries to overwrite
/// (never the real one).
fn victim(t: &T) -> PathBuf {
    let v = t.tmp.join("berth-victim");
    fs::copy(berth_bin(), &v).unwrap();
    fs::set_permissions(&v, fs::Permissions::from_mode(0o755)).unwrap();
    v
}

/// Copies the shared libraries `bin` needs into the rootfs at the same paths, so that the
/// binary can run inside the container (a test build of berth is dynamically linked; the
/// release build is static and needs none, nor does an image with a libc of its own).
fn with_libs_of(bin: &Path, root: &Path) {
    let o = Command::new("ldd").arg(bin).output().unwrap();
    for lib in String::from_utf8_lossy(&o.stdout).split_whitespace().filter(|w| w.starts_with('/')) {
        let dest = root.join(lib.trim_start_matches('/'));
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        fs::copy(lib, &dest).unwrap();
    }
}

fn wait_for(path: &Path, secs: u64) -> Option<String> {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if let Ok(s) = fs::read_to_string(path) {
            if !s.is_empty() {
                return Some(s);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// A host directory shared with the container at /comm, for the attacker to report.
fn comm(t: &T, b: &mut berth_integration_tests::Bundle) -> PathBuf {
    let d = t.tmp.join("comm");
    fs::create_dir_all(&d).unwrap();
    b.config["mounts"].as_array_mut().unwrap().push(json!({"destination": "/comm", "type": "bind", "source": d, "options": ["rbind", "rw"]}));
    d
}

/// The attacker's second half: with the binary open as fd 3, try to write it for 5 s
/// (it is busy while any berth runs it), and report WROTE or REFUSED with the error.
const WRITE_FD3: &str = r#"i=0; while [ $i -lt 50 ]; do if (printf PWNED >> /proc/self/fd/3) 2>>/comm/err; then echo WROTE > /comm/r; exit 0; fi; i=$((i+1)); sleep 0.1; done; echo REFUSED > /comm/r"#;

fn assert_untouched(victim: &Path, comm: &Path) {
    let r = wait_for(&comm.join("r"), 15).expect("the attacker never reported");
    let err = fs::read_to_string(comm.join("err")).unwrap_or_default();
    assert_eq!(r.trim(), "REFUSED", "the runtime binary was written through /proc/<pid>/exe ({err})");
    assert!(err.contains("Read-only") || err.contains("Operation not permitted"), "refused for the wrong reason: {err}");
    assert_eq!(fs::read(victim).unwrap(), fs::read(berth_bin()).unwrap(), "the runtime binary changed");
}

/// A pipe whose buffer is full: a process writing to it blocks until `drain`.
struct FullPipe {
    read: OwnedFd,
    write: OwnedFd,
}

impl FullPipe {
    fn new() -> FullPipe {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills two fds; fcntl on them; writes until the buffer is full.
        unsafe {
            assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0);
            let w = fds[1];
            libc::fcntl(w, libc::F_SETFL, libc::O_NONBLOCK);
            let chunk = [b'x'; 4096];
            while libc::write(w, chunk.as_ptr().cast(), chunk.len()) > 0 {}
            // Blocking again: the flag belongs to the open file, which the child shares.
            libc::fcntl(w, libc::F_SETFL, 0);
            FullPipe { read: OwnedFd::from_raw_fd(fds[0]), write: OwnedFd::from_raw_fd(fds[1]) }
        }
    }

    fn stdio(&self) -> Stdio {
        Stdio::from(self.write.try_clone().unwrap())
    }

    fn drain(self) {
        drop(self.write);
        let mut f = fs::File::from(self.read);
        let mut sink = Vec::new();
        let _ = f.read_to_end(&mut sink);
    }
}

/// CVE-2019-5736 (c): a container given CAP_SYS_PTRACE opens /proc/1/exe of its created
/// init (berth, waiting for `start`), keeps it, and writes through it once no berth runs
/// it any more. Before the fix the victim binary got "PWNED" appended.
#[test]
fn the_init_exe_of_a_created_container_cannot_overwrite_the_runtime() {
    let mut t = T::new("sealed-ptrace");
    let v = victim(&t);
    let mut b = t.bundle(&["sleep", "100"]);
    for set in ["bounding", "effective", "permitted"] {
        b.config["process"]["capabilities"][set].as_array_mut().unwrap().push(json!("CAP_SYS_PTRACE"));
    }
    let comm = comm(&t, &mut b);
    b.write();
    let st = t.cmd_with(&v).args(["create", "--bundle"]).arg(&b.dir).arg("p").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap();
    assert!(st.success());
    let script = format!("exec 3</proc/1/exe; echo OPENED > /comm/opened; {WRITE_FD3}");
    let st = t.cmd_with(&v).args(["exec", "-d", "p", "sh", "-c", &script]).stdin(Stdio::null()).stdout(Stdio::null()).status().unwrap();
    assert!(st.success());
    wait_for(&comm.join("opened"), 10).expect("the attacker could not open /proc/1/exe");
    let st = t.cmd_with(&v).args(["start", "p"]).status().unwrap();
    assert!(st.success());
    assert_untouched(&v, &comm);
    t.berth(&["delete", "-f", "p"]).ok();
}

/// CVE-2019-5736 (a), the original exploit: the image's program is the script
/// `#!/proc/self/exe`, so `berth exec ID /evil` makes the kernel run berth's own binary
/// inside the container; the container's main process finds it, opens its exe, and
/// writes once it has exited. (Here berth-in-the-container blocks on a full stderr pipe
/// so that the attacker cannot miss it.)
#[test]
fn an_exec_of_a_proc_self_exe_script_cannot_overwrite_the_runtime() {
    let mut t = T::new("sealed-exec");
    let v = victim(&t);
    let root = t.private_rootfs();
    with_libs_of(&v, &root);
    fs::write(root.join("evil"), "#!/proc/self/exe\n").unwrap();
    fs::set_permissions(root.join("evil"), fs::Permissions::from_mode(0o755)).unwrap();
    let attacker = format!(
        r#"while :; do for d in /proc/[0-9]*; do case "$(head -c 14 $d/cmdline 2>/dev/null)" in /proc/self/exe) ;; *) continue;; esac; if (exec 3<$d/exe) 2>/dev/null; then exec 3<$d/exe; echo OPENED > /comm/opened; break 2; fi; done; sleep 0.02; done; {WRITE_FD3}; sleep 100"#
    );
    let mut b = t.bundle(&["sh", "-c", &attacker]);
    b.config["root"]["path"] = json!(root);
    let comm = comm(&t, &mut b);
    b.write();
    let st = t.cmd_with(&v).args(["run", "-d", "--bundle"]).arg(&b.dir).arg("x").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap();
    assert!(st.success());
    let pipe = FullPipe::new();
    let mut operator = t.cmd_with(&v).args(["exec", "x", "/evil"]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(pipe.stdio()).spawn().unwrap();
    let opened = wait_for(&comm.join("opened"), 10);
    pipe.drain();
    let _ = operator.wait();
    opened.expect("the attacker never saw berth run inside the container");
    assert_untouched(&v, &comm);
    t.berth(&["delete", "-f", "x"]).ok();
}

/// CVE-2019-5736 (b): the container's own entrypoint is `#!/proc/self/exe`, so `start`
/// runs berth's binary as the container's init; a process exec'd into the container
/// before (no pid namespace: it outlives the init) opens that exe and writes after.
#[test]
fn an_entrypoint_of_proc_self_exe_cannot_overwrite_the_runtime() {
    let mut t = T::new("sealed-entry");
    let v = victim(&t);
    let root = t.private_rootfs();
    with_libs_of(&v, &root);
    fs::write(root.join("evil"), "#!/proc/self/exe\n").unwrap();
    fs::set_permissions(root.join("evil"), fs::Permissions::from_mode(0o755)).unwrap();
    let mut b = t.bundle(&["/evil"]);
    b.config["root"]["path"] = json!(root);
    b.config["linux"]["namespaces"].as_array_mut().unwrap().retain(|n| n["type"] != "pid");
    let comm = comm(&t, &mut b);
    b.write();
    let pipe = FullPipe::new();
    let st = t.cmd_with(&v).args(["create", "--bundle"]).arg(&b.dir).arg("e").stdin(Stdio::null()).stdout(Stdio::null()).stderr(pipe.stdio()).status().unwrap();
    assert!(st.success());
    let pid = t.state("e")["pid"].as_i64().unwrap();
    let script = format!(r#"until (exec 3</proc/{pid}/exe) 2>/dev/null; do sleep 0.02; done; exec 3</proc/{pid}/exe; echo OPENED > /comm/opened; {WRITE_FD3}"#);
    let st = t.cmd_with(&v).args(["exec", "-d", "e", "sh", "-c", &script]).stdin(Stdio::null()).stdout(Stdio::null()).status().unwrap();
    assert!(st.success());
    let st = t.cmd_with(&v).args(["start", "e"]).status().unwrap();
    assert!(st.success());
    let opened = wait_for(&comm.join("opened"), 10);
    pipe.drain();
    opened.expect("the attacker never opened the init's exe");
    assert_untouched(&v, &comm);
    t.berth(&["delete", "-f", "e"]).ok();
}

/// linux.sysctl keys name files: `{"/etc/group": "x"}` overwrote the container's
/// /etc/group even with a read-only root (Path::join of an absolute key replaces the
/// base). Now refused by config validation, before anything is made.
#[test]
fn sysctl_keys_cannot_name_files_outside_proc_sys() {
    let mut t = T::new("sysctl-path");
    let root = t.private_rootfs();
    let before = fs::read(root.join("etc/group")).unwrap();
    for key in ["/etc/group", "../../../etc/group", "kernel/../../../etc/group"] {
        let mut b = t.bundle(&["true"]);
        b.config["root"]["path"] = json!(root);
        b.config["linux"]["sysctl"] = json!({ key: "pwned:x:0:" });
        t.create(&b, "s").failed_with(&format!("linux.sysctl.{key}"));
        assert_eq!(fs::read(root.join("etc/group")).unwrap(), before, "{key} wrote a file");
    }
    // Both of runc's forms still work.
    let mut b = t.bundle(&["cat", "/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv4/conf/lo/forwarding"]);
    b.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "net/ipv4/conf/lo/forwarding": "1"});
    assert_eq!(t.run(&b, "ok").ok().stdout, "1\n1\n");
}

/// --no-pivot (runc's msMoveRoot): the host's /proc stayed in the mount namespace under
/// the moved rootfs, so a process could `unshare -mrpf` and mount a full procfs (seen:
/// 56 entries of the host's /proc). Now no such mount is left to make it possible.
#[test]
fn no_pivot_leaves_no_procfs_a_user_namespace_could_mount() {
    let mut t = T::new("nopivot-proc");
    let mut b = t.bundle(&["sh", "-c", "mkdir -p /mnt/p; unshare -mrpf sh -c 'mount -t proc proc /mnt/p && echo MOUNTED' 2>&1; echo done"]);
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    b.config["mounts"].as_array_mut().unwrap().push(json!({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs", "options": ["mode=1777"]}));
    b.write();
    let o = t.cmd().args(["run", "--no-pivot", "--bundle"]).arg(&b.dir).arg("np").stdin(Stdio::null()).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.ends_with("done\n"), "{out}");
    assert!(!out.contains("MOUNTED"), "a full procfs could be mounted from inside: {out}");
    assert!(out.contains("denied") || out.contains("not permitted"), "{out}");
}

fn status_caps(out: &str) -> std::collections::HashMap<String, u64> {
    out.lines()
        .filter_map(|l| l.split_once(":\t"))
        .filter(|(k, _)| k.starts_with("Cap"))
        .map(|(k, v)| (k.to_string(), u64::from_str_radix(v.trim(), 16).unwrap()))
        .collect()
}

/// exec's capabilities: `--cap X` went into the inheritable and ambient sets, and a
/// process.json without capabilities ran with every capability of the host's root
/// (CapEff 000001fffeffffff). Now --cap adds to bounding, effective and permitted (as
/// runc since CVE-2022-29162), and a process without capabilities gets the container's.
#[test]
fn exec_never_gets_more_capabilities_than_the_container_allows() {
    let mut t = T::new("exec-caps");
    let b = t.bundle(&["sleep", "100"]);
    t.create(&b, "c").ok();
    t.berth(&["start", "c"]).ok();
    const SYS_TIME: u64 = 1 << 25;
    const SYS_ADMIN: u64 = 1 << 21;
    let caps = status_caps(&t.berth(&["exec", "--cap", "CAP_SYS_TIME", "c", "cat", "/proc/self/status"]).ok().stdout);
    assert_eq!((caps["CapInh"], caps["CapAmb"]), (0, 0), "--cap reached inheritable/ambient: {caps:?}");
    assert!(caps["CapPrm"] & SYS_TIME != 0 && caps["CapEff"] & SYS_TIME != 0 && caps["CapBnd"] & SYS_TIME != 0, "{caps:?}");
    let p = t.tmp.join("p.json");
    fs::write(&p, json!({"args": ["cat", "/proc/self/status"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}}).to_string()).unwrap();
    let caps = status_caps(&t.berth(&["exec", "-p", p.to_str().unwrap(), "c"]).ok().stdout);
    assert_eq!(caps["CapBnd"] & SYS_ADMIN, 0, "a process.json without capabilities got CAP_SYS_ADMIN: {caps:?}");
    assert_eq!(caps["CapEff"] & SYS_ADMIN, 0, "{caps:?}");
    t.berth(&["delete", "-f", "c"]).ok();
}

/// The files a container may plant at /dev/console (CVE-2025-52565 class): a symlink
/// there made berth mount the terminal over the link's target. Needs a bundle whose /dev
/// is the image's own (no /dev tmpfs), as some configs have.
#[test]
fn the_terminal_is_never_mounted_through_a_dev_console_symlink() {
    let mut t = T::new("console-link");
    let root = t.private_rootfs();
    fs::write(root.join("etc/motd"), "canary\n").unwrap();
    std::os::unix::fs::symlink("/etc/motd", root.join("dev/console")).unwrap();
    let mut b = t.bundle(&["cat", "/etc/motd"]);
    b.config["root"]["path"] = json!(root);
    b.config["process"]["terminal"] = json!(true);
    b.config["mounts"].as_array_mut().unwrap().retain(|m| m["destination"] != "/dev");
    b.write();
    let sock = t.tmp.join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let mut c = t.cmd();
    c.args(["create", "--console-socket"]).arg(&sock).arg("--bundle").arg(&b.dir).arg("cl");
    let o = t.detached(&mut c);
    drop(listener);
    o.failed_with("symlink");
    assert_eq!(fs::read_to_string(root.join("etc/motd")).unwrap(), "canary\n");
    assert!(fs::symlink_metadata(root.join("dev/console")).unwrap().file_type().is_symlink(), "left as it was");
}

/// config.json (or an exec --process file) that never ends: `/dev/zero` was read
/// forever. Now a stream stops at the first byte that is not JSON, as runc's decoder.
#[test]
fn a_config_that_never_ends_is_refused_at_once() {
    let mut t = T::new("endless");
    let b = t.bundle(&["true"]);
    fs::remove_file(b.dir.join("config.json")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", b.dir.join("config.json")).unwrap();
    let start = Instant::now();
    let mut c = t.cmd();
    c.args(["create", "--bundle"]).arg(&b.dir).arg("z");
    t.detached(&mut c).failed_with("config.json");
    let b2 = t.bundle(&["sleep", "100"]);
    t.create(&b2, "y").ok();
    t.berth(&["exec", "-p", "/dev/zero", "y"]).failed_with("--process /dev/zero");
    assert!(start.elapsed() < Duration::from_secs(10), "took {:?}", start.elapsed());
    t.berth(&["delete", "-f", "y"]).ok();
}

/// `berth list | head -0`: a reader that went away made println! panic. Now berth dies
/// of SIGPIPE, as runc (a Go program) does, and says nothing.
#[test]
fn a_closed_stdout_ends_berth_quietly() {
    let t = T::new("epipe");
    for args in [vec!["list"], vec!["features"], vec!["--version"]] {
        let mut fds = [0; 2];
        // SAFETY: a pipe whose read end is closed at once.
        unsafe {
            assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0);
            libc::close(fds[0]);
        }
        // SAFETY: the write end is ours.
        let w = unsafe { OwnedFd::from_raw_fd(fds[1]) };
        let o = t.cmd().args(&args).stdin(Stdio::null()).stdout(Stdio::from(w)).stderr(Stdio::piped()).output().unwrap();
        use std::os::unix::process::ExitStatusExt;
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(o.status.signal(), Some(libc::SIGPIPE), "{args:?}: {:?} {stderr}", o.status);
    }
}

/// Values that overflowed a Duration panicked, even for a container that does not exist.
#[test]
fn an_absurd_events_interval_is_an_error_not_a_panic() {
    let t = T::new("interval");
    for iv in ["1e400s", "infs", "NaNs", "-5s"] {
        let o = t.berth(&["events", &format!("--interval={iv}"), "nope"]);
        o.failed_with("invalid --interval");
        assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    }
}

/// A corrupt entry in the seccomp cache (a filter count of 0xffffffff) aborted every
/// later create of that profile trying to allocate 103 GB. Now it is rewritten.
#[test]
fn a_corrupt_seccomp_cache_entry_is_rebuilt() {
    let mut t = T::new("seccomp-cache");
    let mut b = t.bundle(&["sh", "-c", "mkdir /tmp/x 2>&1; true"]);
    b.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]});
    assert!(t.run(&b, "s1").ok().stdout.contains("not permitted"));
    let dir = t.root.join(".seccomp-cache");
    let entry = fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
    let mut bad = fs::read(&entry).unwrap();
    let at = 4 + u32::from_le_bytes(bad[..4].try_into().unwrap()) as usize + 8;
    bad[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    fs::write(&entry, &bad).unwrap();
    assert!(t.run(&b, "s2").ok().stdout.contains("not permitted"), "the filter still applies");
    assert_ne!(fs::read(&entry).unwrap(), bad, "the bad entry was rewritten");
}

/// No fd of the runtime reaches the container, under any option (CVE-2024-21626 class):
/// listed from /proc/self/fd inside, for run, create+start and exec, with --preserve-fds
/// (the caller passing only 3 and 4 of 20), LISTEN_FDS, --pid-file, --log and
/// --console-socket.
#[test]
fn no_runtime_fd_reaches_the_container_under_any_option() {
    let mut t = T::new("fd-matrix");
    let list = "for f in /proc/self/fd/*; do n=${f##*/}; echo \"$n $(readlink $f)\"; done";
    let passed = fs::File::open("/etc/hostname").unwrap();
    let log = t.tmp.join("berth.log");
    let pid_file = t.tmp.join("pid");
    // (flags, fds the caller passes at 3.., expected fd numbers besides 0-2)
    let cases: Vec<(Vec<String>, Vec<(&str, &str)>, &[i32], &[i32])> = vec![
        (vec![], vec![], &[], &[]),
        (vec!["--preserve-fds".into(), "20".into()], vec![], &[3, 4], &[3, 4]),
        (vec![], vec![("LISTEN_FDS", "2"), ("LISTEN_PID", "1")], &[3, 4], &[3, 4]),
        (vec!["--pid-file".into(), pid_file.display().to_string()], vec![], &[], &[]),
    ];
    let b = t.bundle(&["sh", "-c", list]);
    b.write();
    for (i, (flags, env, give, want)) in cases.iter().enumerate() {
        for how in ["run", "exec"] {
            let id = format!("f{i}{how}");
            let mut c = t.cmd();
            c.args(["--log", log.to_str().unwrap()]);
            if how == "run" {
                c.arg("run").args(flags).arg("--bundle").arg(&b.dir).arg(&id);
            } else {
                let mut bb = t.bundle(&["sleep", "100"]);
                bb.config["process"]["terminal"] = json!(false);
                t.create(&bb, &id).ok();
                c.arg("exec").args(flags).arg(&id).args(["sh", "-c", list]);
            }
            for (k, v) in env {
                c.env(k, v);
            }
            if !give.is_empty() {
                berth_integration_tests::pass_fd(&mut c, passed.as_raw_fd(), give);
            }
            let o = c.stdin(Stdio::null()).output().unwrap();
            let out = String::from_utf8_lossy(&o.stdout);
            assert!(o.status.success(), "{how} {flags:?}: {}", String::from_utf8_lossy(&o.stderr));
            // The glob's own directory fd shows in the list but is gone when readlink runs
            // (an empty target): it is the lister's, not one that was passed.
            let seen: Vec<i32> = out.lines().filter(|l| !l.ends_with(' ')).filter_map(|l| l.split(' ').next()?.parse().ok()).filter(|n| *n > 2).collect();
            // exec does not pass LISTEN_FDS (runc neither): only create and run do.
            let want: &[i32] = if how == "exec" && !env.is_empty() { &[] } else { want };
            assert_eq!(&seen, want, "{how} {flags:?} {env:?}: {out}");
            for l in out.lines().filter(|l| !l.ends_with(' ')).filter(|l| l.split(' ').next().and_then(|n| n.parse::<i32>().ok()).is_some_and(|n| n > 2)) {
                assert!(l.ends_with("/etc/hostname"), "{how} {flags:?}: an fd that was not passed: {l}");
            }
            if how == "exec" {
                t.berth(&["delete", "-f", &id]).ok();
            }
        }
    }
    // A terminal through --console-socket: the pty is 0-2 and nothing else.
    let mut tb = t.bundle(&["sh", "-c", &format!("{list} > /dev/console; true")]);
    tb.config["process"]["terminal"] = json!(true);
    tb.write();
    let sock = t.tmp.join("c.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let mut c = t.cmd();
    c.args(["run", "-d", "--console-socket"]).arg(&sock).arg("--bundle").arg(&tb.dir).arg("tty");
    let o = t.detached(&mut c);
    o.ok();
    let (conn, _) = listener.accept().unwrap();
    let (_, master) = berth_integration_tests::recv_fd(conn.as_raw_fd());
    let mut m = fs::File::from(master);
    let mut out = String::new();
    let mut buf = [0u8; 4096];
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        match m.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    let extra: Vec<&str> = out.lines().map(str::trim_end).filter(|l| l.contains(' ')).filter(|l| l.split(' ').next().and_then(|n| n.trim().parse::<i32>().ok()).is_some_and(|n| n > 2)).collect();
    assert!(extra.is_empty(), "fds beyond the terminal: {extra:?} in {out:?}");
    t.berth(&["delete", "-f", "tty"]).ok();
}

/// A pid file in a directory others can write (CVE-class: symlink planted at a
/// predictable name): the temporary file was `.NAME.<pid>.tmp`, opened with O_TRUNC and
/// following links, so a link there made berth truncate and write any file. Links are
/// planted at the names of the next 300 pids.
#[test]
fn a_pid_file_never_writes_through_a_planted_link() {
    let mut t = T::new("pidfile-link");
    let dir = t.tmp.join("shared");
    fs::create_dir_all(&dir).unwrap();
    let canary = t.tmp.join("canary");
    fs::write(&canary, "canary").unwrap();
    let next = Command::new("true").spawn().unwrap();
    let base = next.id();
    let _ = { let mut n = next; n.wait() };
    for p in base..base + 300 {
        let _ = std::os::unix::fs::symlink(&canary, dir.join(format!(".pid.{p}.tmp")));
    }
    let b = t.bundle(&["sleep", "100"]);
    b.write();
    let mut c = t.cmd();
    c.args(["create", "--pid-file"]).arg(dir.join("pid")).arg("--bundle").arg(&b.dir).arg("pf");
    t.detached(&mut c).ok();
    assert_eq!(fs::read_to_string(&canary).unwrap(), "canary", "the pid file was written through a link");
    let pid = t.state("pf")["pid"].as_i64().unwrap();
    assert_eq!(fs::read_to_string(dir.join("pid")).unwrap(), pid.to_string());
    t.berth(&["delete", "-f", "pf"]).ok();
}

fn state_of(pid: i64) -> char {
    fs::read_to_string(format!("/proc/{pid}/stat")).ok().and_then(|s| s.rsplit(") ").next()?.chars().next()).unwrap_or('?')
}

/// A device node swapped for a link between its mknod and its chown/chmod (a rootfs
/// whose /dev is the image's own directory, shared with whoever can write it): the mode
/// was set by name, following the link to the host file. Now the owner is set through
/// an fd of the node just made, checked to be it, and the mode comes from mknod.
#[test]
fn a_device_node_swapped_after_mknod_is_refused() {
    let mut t = T::new("device-swap");
    let root = t.private_rootfs();
    let canary = t.tmp.join("canary");
    fs::write(&canary, "canary").unwrap();
    fs::set_permissions(&canary, fs::Permissions::from_mode(0o600)).unwrap();
    let mut b = t.bundle(&["true"]);
    b.config["root"]["path"] = json!(root);
    b.config["mounts"].as_array_mut().unwrap().retain(|m| m["destination"] != "/dev");
    // No pid namespace: the init can stop itself at the test point.
    b.config["linux"]["namespaces"].as_array_mut().unwrap().retain(|n| n["type"] != "pid");
    b.config["linux"]["devices"] = json!([{"path": "/dev/racy", "type": "c", "major": 1, "minor": 3, "fileMode": 438, "uid": 1000, "gid": 1000}]);
    b.write();
    let mut create = t.cmd().env("BERTH_TESTPOINT", "devices:made:/dev/racy@stop").args(["create", "--bundle"]).arg(&b.dir).arg("dv")
        .stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    // The init's pid is in the create's record from right after the clone.
    let end = Instant::now() + Duration::from_secs(10);
    let pid = loop {
        let rec = fs::read_to_string(t.root.join("dv/state.json")).ok().and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok());
        if let Some(p) = rec.and_then(|v| v["pid"].as_i64()).filter(|p| *p > 0 && state_of(*p) == 'T') {
            break p;
        }
        assert!(Instant::now() < end, "the init never stopped after mknod");
        std::thread::sleep(Duration::from_millis(10));
    };
    // Resumed whatever happens below, so that no stopped init outlives a failed test.
    struct Resume(i32);
    impl Drop for Resume {
        fn drop(&mut self) {
            // SAFETY: resuming the init this test stopped.
            unsafe { libc::kill(self.0, libc::SIGCONT) };
        }
    }
    let resume = Resume(pid as i32);
    fs::remove_file(root.join("dev/racy")).unwrap();
    std::os::unix::fs::symlink(&canary, root.join("dev/racy")).unwrap();
    drop(resume);
    let mut err = String::new();
    create.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(!create.wait().unwrap().success(), "create went on with a swapped node");
    assert!(err.contains("/dev/racy"), "{err}");
    let m = fs::metadata(&canary).unwrap();
    assert_eq!(m.permissions().mode() & 0o777, 0o600, "the host file's mode was changed through the link");
    use std::os::unix::fs::MetadataExt;
    assert_eq!((m.uid(), m.gid()), (0, 0), "the host file's owner was changed through the link");
}

/// /dev/pts planted as a link by the image (CVE-2025-52565 class, with /dev/console):
/// the terminal's pty must come from a devpts reached without following anything.
#[test]
fn the_terminal_never_comes_from_a_dev_pts_link() {
    let mut t = T::new("pts-link");
    let root = t.private_rootfs();
    fs::create_dir_all(root.join("fakepts")).unwrap();
    let _ = fs::remove_dir_all(root.join("dev/pts"));
    std::os::unix::fs::symlink("/fakepts", root.join("dev/pts")).unwrap();
    let mut b = t.bundle(&["true"]);
    b.config["root"]["path"] = json!(root);
    b.config["process"]["terminal"] = json!(true);
    b.config["mounts"].as_array_mut().unwrap().retain(|m| m["destination"] != "/dev" && m["destination"] != "/dev/pts");
    b.write();
    let sock = t.tmp.join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let mut c = t.cmd();
    c.args(["create", "--console-socket"]).arg(&sock).arg("--bundle").arg(&b.dir).arg("pl");
    let o = t.detached(&mut c);
    drop(listener);
    o.failed_with("/dev/pts");
}
