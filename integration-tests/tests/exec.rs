//! `exec` into running containers, and terminals through --console-socket.

use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::process::Stdio;
use std::time::Duration;

use berth_integration_tests::T;
use serde_json::json;

fn running(t: &mut T, id: &str) -> i64 {
    let b = t.bundle(&["sleep", "100"]);
    t.create(&b, id).ok();
    t.berth(&["start", id]).ok();
    t.state(id)["pid"].as_i64().unwrap()
}

#[test]
fn exec_joins_every_namespace_and_the_cgroup() {
    let mut t = T::new("execns");
    let pid = running(&mut t, "e");
    let o = t.berth(&["exec", "e", "sh", "-c", "for n in pid net ipc uts mnt; do readlink /proc/self/ns/$n; done; cat /proc/self/cgroup | grep pids"]);
    o.ok();
    let lines: Vec<&str> = o.stdout.lines().collect();
    for (i, kind) in ["pid", "net", "ipc", "uts", "mnt"].iter().enumerate() {
        let want = fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap();
        assert_eq!(lines[i], want.display().to_string(), "{kind}");
    }
    assert!(lines[5].ends_with("/berth/e"), "{}", lines[5]);
    t.berth(&["delete", "-f", "e"]).ok();
}

#[test]
fn exec_exit_codes_env_user_cwd_caps() {
    let mut t = T::new("execflags");
    running(&mut t, "e");
    assert_eq!(t.berth(&["exec", "e", "sh", "-c", "exit 42"]).code, 42);
    // A failure of exec itself exits 255 (runc).
    let o = t.berth(&["exec", "e", "no-such-binary"]);
    assert_eq!(o.code, 255);
    assert!(o.stderr.contains("executable file not found"), "{}", o.stderr);
    let o = t.berth(&["exec", "-e", "FOO=bar", "--env=PATH=/bin", "-u", "65534:65534", "--additional-gids", "7", "--cwd", "/tmp", "e", "sh", "-c", "echo $FOO $PATH; id -u; id -G; pwd"]);
    assert_eq!(o.ok().stdout, "bar /bin\n65534\n65534 7\n/tmp\n");
    // --env adds: PATH from the container's env stays when not overridden.
    let o = t.berth(&["exec", "-e", "X=1", "e", "sh", "-c", "echo $PATH"]);
    assert_eq!(o.ok().stdout, "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");
    let o = t.berth(&["exec", "--cap", "CAP_SYS_ADMIN", "--no-new-privs", "e", "grep", "-E", "CapBnd|NoNewPrivs", "/proc/self/status"]);
    let out = o.ok().stdout.clone();
    let bnd = u64::from_str_radix(out.lines().find(|l| l.starts_with("CapBnd")).unwrap().split_whitespace().nth(1).unwrap(), 16).unwrap();
    assert_ne!(bnd & (1 << 21), 0, "CAP_SYS_ADMIN added: {out}");
    assert!(out.contains("NoNewPrivs:\t1"));
    t.berth(&["delete", "-f", "e"]).ok();
}

#[test]
fn exec_with_a_process_file_detached_and_wrong_states() {
    let mut t = T::new("execproc");
    running(&mut t, "e");
    let proc_file = t.tmp.join("process.json");
    let pid_file = t.tmp.join("exec.pid");
    let marker = t.tmp.join("marker");
    // containerd's shim writes such a file (spec-conformance/engine-specs/containerd-exec.process.json).
    fs::write(&proc_file, json!({
        "user": {"uid": 0, "gid": 0, "additionalGids": [0]},
        "args": ["sh", "-c", "sleep 0.2; echo ran > /proc/1/root/tmp/marker"],
        "env": ["PATH=/bin:/usr/bin"], "cwd": "/", "noNewPrivileges": true,
        "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]
    }).to_string()).unwrap();
    let mut c = t.cmd();
    c.args(["exec", "--process"]).arg(&proc_file).args(["--detach", "--pid-file"]).arg(&pid_file).arg("e");
    t.detached(&mut c).ok();
    let pid: i32 = fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    assert!(fs::metadata(format!("/proc/{pid}")).is_ok());
    let _ = marker;
    let ps = t.berth(&["ps", "--format", "json", "e"]).ok().json();
    assert!(ps.as_array().unwrap().iter().any(|p| p.as_i64() == Some(pid as i64)), "exec'd process is in the container's cgroup: {ps}");
    // A bad process file names the field.
    fs::write(&proc_file, r#"{"user": {"uid": "x"}, "cwd": "/", "args": ["true"]}"#).unwrap();
    let o = t.berth(&["exec", "--process", proc_file.to_str().unwrap(), "e"]);
    assert_eq!(o.code, 255);
    assert!(o.stderr.contains("user.uid"), "{}", o.stderr);
    t.berth(&["pause", "e"]).ok();
    t.berth(&["exec", "e", "true"]).failed_with("paused");
    t.berth(&["resume", "e"]).ok();
    // runc's words; "/" is the container's own cgroup.
    t.berth(&["exec", "--cgroup", "../escape", "e", "true"]).failed_with("is not a sub cgroup path");
    t.berth(&["exec", "--cgroup", "/", "e", "true"]).ok();
    t.berth(&["exec", "--cgroup", "pids:/", "e", "true"]).ok();
    t.berth(&["kill", "e", "KILL"]).ok();
    t.wait_status("e", "stopped");
    t.berth(&["exec", "e", "true"]).failed_with("stopped");
    t.berth(&["exec", "nope", "true"]).failed_with("does not exist");
    t.berth(&["delete", "e"]).ok();
}

#[test]
fn exec_passes_exactly_the_preserved_fds() {
    let mut t = T::new("execfds");
    running(&mut t, "e");
    let f = fs::File::open("/etc/hostname").unwrap();
    let fd = f.as_raw_fd();
    let mut c = t.cmd();
    c.args(["exec", "--preserve-fds", "1", "e", "sh", "-c", "ls /proc/self/fd | sort -n | tr '\\n' ' '"]);
    berth_integration_tests::pass_fd(&mut c, fd, &[3, 4]);
    let o = c.stdin(Stdio::null()).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // 3 is passed, 4 is not (ls's own directory fd takes 4).
    assert_eq!(String::from_utf8_lossy(&o.stdout), "0 1 2 3 4 ");
    t.berth(&["delete", "-f", "e"]).ok();
}

/// Receives the pty master the runtime sends over the console socket.
fn recv_master(listener: &UnixListener) -> OwnedFd {
    let (conn, _) = listener.accept().unwrap();
    berth_integration_tests::recv_fd(conn.as_raw_fd()).1
}

fn read_all(master: OwnedFd, until: &str) -> String {
    let mut f = fs::File::from(master);
    let mut out = String::new();
    let mut buf = [0u8; 1024];
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !out.contains(until) && std::time::Instant::now() < deadline {
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    out
}

#[test]
fn a_terminal_through_the_console_socket() {
    let mut t = T::new("tty");
    let sock = t.tmp.join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let mut b = t.bundle(&["sh", "-c", "stty size; [ -t 0 ] && echo STDIN-IS-TTY; ls -l /dev/console | cut -c1; read line; echo got:$line; sleep 100"]);
    b.config["process"]["terminal"] = json!(true);
    b.config["process"]["consoleSize"] = json!({"height": 33, "width": 111});
    b.write();
    let receiver = std::thread::spawn(move || recv_master(&listener));
    let mut c = t.cmd();
    c.args(["run", "-d", "--console-socket"]).arg(&sock).arg("--bundle").arg(&b.dir).arg("tt");
    t.detached(&mut c).ok();
    let master = receiver.join().unwrap();
    let mut w = fs::File::from(master.try_clone().unwrap());
    w.write_all(b"hello\n").unwrap();
    let out = read_all(master, "got:hello");
    assert!(out.contains("33 111"), "consoleSize applied: {out:?}");
    assert!(out.contains("STDIN-IS-TTY"), "{out:?}");
    assert!(out.contains("\nc") || out.contains("c\r"), "/dev/console is the pty (a char device): {out:?}");
    assert!(out.contains("got:hello"), "{out:?}");
    // exec -t into it, the way containerd's shim and conmon do it.
    let sock2 = t.tmp.join("console2.sock");
    let listener2 = UnixListener::bind(&sock2).unwrap();
    let receiver = std::thread::spawn(move || recv_master(&listener2));
    let mut c = t.cmd();
    c.args(["exec", "-t", "-d", "--console-socket"]).arg(&sock2).args(["tt", "sh", "-c", "[ -t 1 ] && echo EXEC-TTY; sleep 1"]);
    t.detached(&mut c).ok();
    let out = read_all(receiver.join().unwrap(), "EXEC-TTY");
    assert!(out.contains("EXEC-TTY"), "{out:?}");
    // Without a console socket, a terminal is refused rather than half-made.
    t.create(&b, "nosock").failed_with("will detach without setting console socket");
    t.berth(&["delete", "-f", "tt"]).ok();
}

#[test]
fn foreground_terminal_is_relayed_without_a_console_socket() {
    let mut t = T::new("relay");
    let mut b = t.bundle(&["sh"]);
    b.config["process"]["terminal"] = json!(true);
    b.config["process"]["consoleSize"] = json!({"height": 21, "width": 77});
    b.write();
    let run = |t: &T, args: &[&str], input: &str| {
        let mut c = t.cmd();
        c.args(args);
        let mut child = c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let o = run(&t, &["run", "--bundle", b.dir.to_str().unwrap(), "fg"], "tty; stty size; exit 3\n");
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(out.contains("/dev/pts/0") && out.contains("21 77"), "{out}");
    // exec -t into a running container, relayed the same way.
    running(&mut t, "e");
    let o = run(&t, &["exec", "-t", "e", "sh"], "[ -t 0 ] && echo IN-A-TTY; exit 4\n");
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(4), "{out}");
    assert!(out.contains("IN-A-TTY"), "{out}");
    t.berth(&["exec", "-t", "-d", "e", "true"]).failed_with("will detach without setting console socket");
    t.berth(&["delete", "-f", "e"]).ok();
}

/// Socket activation: with LISTEN_FDS=N in berth's environment, fds 3..3+N reach the
/// container's process and LISTEN_FDS is set for it (as runc does).
#[test]
fn listen_fds_pass_socket_activation() {
    let mut t = T::new("listenfds");
    let b = t.bundle(&["sh", "-c", "echo $LISTEN_FDS; ls /proc/self/fd | sort -n | tr '\\n' ' '"]);
    b.write();
    let f = fs::File::open("/etc/hostname").unwrap();
    let fd = f.as_raw_fd();
    let mut c = t.cmd();
    c.args(["run", "--bundle"]).arg(&b.dir).arg("la").env("LISTEN_FDS", "1");
    berth_integration_tests::pass_fd(&mut c, fd, &[3]);
    let o = c.stdin(Stdio::null()).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "1\n0 1 2 3 4 ");
}
