//! Harness for berth's integration tests: real containers, started through the real
//! binary, as root, from a busybox rootfs.
//!
//! Every test makes a `T`, which owns a private `--root` and temporary directory and
//! snapshots the host first. When the test ends, `T` force-deletes whatever containers
//! are left and then fails the test if anything leaked onto the host: mounts, cgroups
//! named berth, processes, state directories, or changed owners/modes of host /dev nodes.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use serde_json::{json, Value};

/// The berth binary under test: $BERTH, else target/debug/berth of this workspace.
pub fn berth_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/berth")
}

/// Where tests keep their files: target/berth-tests in the workspace.
pub fn work_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/berth-tests")
}

/// A busybox rootfs shared by all tests (built once, in the target dir).
pub fn rootfs() -> &'static Path {
    static ROOTFS: OnceLock<PathBuf> = OnceLock::new();
    ROOTFS.get_or_init(|| {
        let dir = work_dir().join("busybox-rootfs");
        if dir.join("bin/sh").exists() {
            return dir;
        }
        let _ = fs::create_dir_all(work_dir());
        let tmp = dir.with_extension(format!("tmp{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "root", "mnt"] {
            fs::create_dir_all(tmp.join(d)).unwrap();
        }
        fs::copy("/bin/busybox", tmp.join("bin/busybox")).expect("busybox-static must be installed (/bin/busybox)");
        let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            if applet != "busybox" {
                let _ = std::os::unix::fs::symlink("busybox", tmp.join("bin").join(applet));
            }
        }
        fs::write(tmp.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n").unwrap();
        fs::write(tmp.join("etc/group"), "root:x:0:\nnobody:x:65534:\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(tmp.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
        if fs::rename(&tmp, &dir).is_err() {
            let _ = fs::remove_dir_all(&tmp); // another test binary won the race
        }
        dir
    })
}

/// runc's default spec, adapted: no terminal, the shared rootfs, the given args.
pub fn base_config(args: &[&str]) -> Value {
    let mut v = spec_json().clone();
    v["process"]["terminal"] = json!(false);
    v["process"]["args"] = json!(args);
    v["root"]["path"] = json!(rootfs());
    v
}

/// `berth spec` output, made once per test binary in a directory removed right after.
fn spec_json() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let d = work_dir().join(format!("spec-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        let out = Command::new(berth_bin()).args(["spec", "--bundle"]).arg(&d).output().unwrap();
        assert!(out.status.success(), "berth spec failed: {}", String::from_utf8_lossy(&out.stderr));
        let v = serde_json::from_slice(&fs::read(d.join("config.json")).unwrap()).unwrap();
        let _ = fs::remove_dir_all(&d);
        v
    })
}

/// What the host looked like before a test.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    mounts: BTreeSet<String>,
    cgroups: BTreeSet<String>,
    pids: BTreeSet<i32>,
    dev_nodes: Vec<(String, u32, u32, u32)>,
    state_roots: BTreeSet<&'static str>,
}

/// The runtimes' default state roots that exist: tests pass --root, so none may appear
/// (found: `crun --version` alone makes /run/crun).
fn state_roots() -> BTreeSet<&'static str> {
    ["/run/berth", "/run/runc", "/run/crun"].into_iter().filter(|p| Path::new(p).exists()).collect()
}

fn mounts() -> BTreeSet<String> {
    // mount id, mount point and source: enough to see a leaked or missing mount.
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            format!("{} {}", f.get(4).unwrap_or(&""), f.get(3).unwrap_or(&""))
        })
        .collect()
}

fn cgroups() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Ok(rd) = fs::read_dir("/sys/fs/cgroup") else { return out };
    // Every berth* directory at a hierarchy's root: berth's own /berth subtree, and the
    // absolute cgroupsPaths tests use (also for runc, the differential oracle).
    for h in rd.flatten() {
        for e in fs::read_dir(h.path()).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().starts_with("berth") {
                collect_dirs(&e.path(), &mut out);
            }
        }
    }
    out
}

fn collect_dirs(d: &Path, out: &mut BTreeSet<String>) {
    if let Ok(rd) = fs::read_dir(d) {
        out.insert(d.display().to_string());
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                collect_dirs(&e.path(), out);
            }
        }
    }
}

/// User-space processes (kernel threads have an empty cmdline).
fn pids() -> BTreeSet<i32> {
    let me = std::process::id() as i32;
    fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
                .filter(|p| *p != me)
                .filter(|p| fs::read(format!("/proc/{p}/cmdline")).map(|c| !c.is_empty()).unwrap_or(false))
                .filter(|p| fs::read_to_string(format!("/proc/{p}/stat")).map(|s| !s.contains(") Z ")).unwrap_or(false))
                .collect()
        })
        .unwrap_or_default()
}

fn dev_nodes() -> Vec<(String, u32, u32, u32)> {
    ["null", "zero", "full", "random", "urandom", "tty", "ptmx"]
        .iter()
        .filter_map(|n| {
            let m = fs::metadata(format!("/dev/{n}")).ok()?;
            Some((n.to_string(), m.uid(), m.gid(), m.mode()))
        })
        .collect()
}

fn snapshot() -> Snapshot {
    Snapshot { mounts: mounts(), cgroups: cgroups(), pids: pids(), dev_nodes: dev_nodes(), state_roots: state_roots() }
}

/// A bundle: a directory with config.json (rootfs shared, by absolute path).
pub struct Bundle {
    pub dir: PathBuf,
    pub config: Value,
}

impl Bundle {
    pub fn write(&self) {
        fs::write(self.dir.join("config.json"), serde_json::to_vec_pretty(&self.config).unwrap()).unwrap();
    }
}

/// One test's environment.
pub struct T {
    pub root: PathBuf,
    pub tmp: PathBuf,
    before: Snapshot,
    bundles: u32,
}

/// A command's outcome, with helpers for assertions.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(&self) -> &Self {
        assert_eq!(self.code, 0, "command failed: stdout {:?} stderr {:?}", self.stdout, self.stderr);
        self
    }
    pub fn failed_with(&self, needle: &str) -> &Self {
        assert_ne!(self.code, 0, "command unexpectedly succeeded: {:?}", self.stdout);
        assert!(self.stderr.contains(needle), "stderr {:?} lacks {needle:?}", self.stderr);
        assert!(self.stderr.contains("error"), "stderr {:?} does not say error", self.stderr);
        self
    }
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.stdout))
    }
}

fn out(o: Output) -> Out {
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

impl T {
    pub fn new(name: &str) -> T {
        let before = snapshot();
        let tmp = work_dir().join(format!("t-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp).unwrap();
        let root = tmp.join("state");
        T { root, tmp, before, bundles: 0 }
    }

    /// A new bundle running `args`.
    pub fn bundle(&mut self, args: &[&str]) -> Bundle {
        self.bundles += 1;
        let dir = self.tmp.join(format!("bundle{}", self.bundles));
        fs::create_dir_all(&dir).unwrap();
        let b = Bundle { dir, config: base_config(args) };
        b.write();
        b
    }

    pub fn cmd(&self) -> Command {
        self.cmd_with(&berth_bin())
    }

    /// A berth command run from another copy of the binary (`bin`), same --root.
    pub fn cmd_with(&self, bin: &Path) -> Command {
        let mut c = Command::new(bin);
        c.arg("--root").arg(&self.root);
        c
    }

    /// A private copy of the busybox rootfs, for tests that plant hostile content in it.
    pub fn private_rootfs(&self) -> PathBuf {
        let root = self.tmp.join("rootfs");
        let st = Command::new("cp").arg("-a").arg(rootfs()).arg(&root).status().unwrap();
        assert!(st.success(), "cp -a of the rootfs failed");
        root
    }

    /// Runs berth with `args` (after --root), stdin closed.
    pub fn berth(&self, args: &[&str]) -> Out {
        out(self.cmd().args(args).stdin(Stdio::null()).output().unwrap())
    }

    pub fn create(&self, b: &Bundle, id: &str) -> Out {
        b.write();
        let mut c = self.cmd();
        c.args(["create", "--bundle"]).arg(&b.dir).arg(id);
        self.detached(&mut c)
    }

    /// Runs a command whose children (a container's init) inherit its stdio and outlive
    /// it: output goes through files, so that we wait for berth only, not for the init.
    pub fn detached(&self, c: &mut Command) -> Out {
        let n = self.bundles;
        let (o, e) = (self.tmp.join(format!("out{n}")), self.tmp.join(format!("err{n}")));
        let st = c
            .stdin(Stdio::null())
            .stdout(fs::File::create(&o).unwrap())
            .stderr(fs::File::create(&e).unwrap())
            .status()
            .unwrap();
        Out {
            code: st.code().unwrap_or(-1),
            stdout: fs::read_to_string(&o).unwrap_or_default(),
            stderr: fs::read_to_string(&e).unwrap_or_default(),
        }
    }

    /// Foreground `run`, output captured.
    pub fn run(&self, b: &Bundle, id: &str) -> Out {
        b.write();
        let mut c = self.cmd();
        c.args(["run", "--bundle"]).arg(&b.dir).arg(id);
        out(c.stdin(Stdio::null()).output().unwrap())
    }

    /// Runs `args` in a fresh container and returns its stdout (asserting success).
    pub fn output_of(&mut self, args: &[&str]) -> String {
        let b = self.bundle(args);
        let o = self.run(&b, "probe");
        o.ok();
        o.stdout
    }

    pub fn state(&self, id: &str) -> Value {
        self.berth(&["state", id]).ok().json()
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap_or_default().to_string()
    }

    /// Waits (up to 5 s) for a container to reach `status`.
    pub fn wait_status(&self, id: &str, status: &str) {
        for _ in 0..500 {
            if self.status(id) == status {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("container {id} never became {status}: {}", self.status(id));
    }

    fn leftovers(&self) -> Vec<String> {
        let mut ids = Vec::new();
        if let Ok(rd) = fs::read_dir(&self.root) {
            // berth's own files (.seccomp-cache) are not containers.
            for e in rd.flatten().filter(|e| !e.file_name().to_string_lossy().starts_with('.')) {
                ids.push(e.file_name().to_string_lossy().into_owned());
            }
        }
        ids
    }
}

impl Drop for T {
    fn drop(&mut self) {
        let left = self.leftovers();
        for id in &left {
            let _ = self.berth(&["delete", "--force", id]);
        }
        let mut problems = Vec::new();
        if !left.is_empty() {
            problems.push(format!("state left under --root: {left:?}"));
        }
        // Processes may take a moment to be reaped by init after a kill.
        let mut after = snapshot();
        for _ in 0..100 {
            if after.pids.is_subset(&self.before.pids) && after.mounts == self.before.mounts && after.cgroups.is_subset(&self.before.cgroups) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            after = snapshot();
        }
        let new_mounts: Vec<_> = after.mounts.difference(&self.before.mounts).collect();
        if !new_mounts.is_empty() {
            problems.push(format!("mounts leaked: {new_mounts:?}"));
        }
        let new_cg: Vec<_> = after.cgroups.difference(&self.before.cgroups).collect();
        if !new_cg.is_empty() {
            problems.push(format!("cgroups leaked: {new_cg:?}"));
        }
        let new_pids: Vec<String> = after
            .pids
            .difference(&self.before.pids)
            .map(|p| format!("{p} {}", fs::read_to_string(format!("/proc/{p}/cmdline")).unwrap_or_default().replace('\0', " ")))
            .collect();
        if !new_pids.is_empty() {
            problems.push(format!("processes leaked: {new_pids:?}"));
        }
        let new_roots: Vec<_> = after.state_roots.difference(&self.before.state_roots).collect();
        if !new_roots.is_empty() {
            problems.push(format!("runtime state roots made: {new_roots:?}"));
        }
        if after.dev_nodes != self.before.dev_nodes {
            problems.push(format!("host /dev nodes changed: {:?} -> {:?}", self.before.dev_nodes, after.dev_nodes));
        }
        let _ = fs::remove_dir_all(&self.tmp);
        if !problems.is_empty() && !std::thread::panicking() {
            panic!("leak check failed:\n{}", problems.join("\n"));
        }
    }
}

/// Receives (payload, fd) sent with SCM_RIGHTS on a connected unix socket: what a
/// console-socket or seccomp-listener peer gets from the runtime.
pub fn recv_fd(sock: std::os::fd::RawFd) -> (Vec<u8>, std::os::fd::OwnedFd) {
    use std::os::fd::FromRawFd;
    let mut data = vec![0u8; 16384];
    let mut iov = libc::iovec { iov_base: data.as_mut_ptr().cast(), iov_len: data.len() };
    // SAFETY: one recvmsg into buffers we own, then reading the fd of its cmsg.
    unsafe {
        let space = libc::CMSG_SPACE(4) as usize;
        let mut buf = vec![0u8; space];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = buf.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        let n = libc::recvmsg(sock, &mut msg, 0);
        assert!(n >= 0, "recvmsg: {}", std::io::Error::last_os_error());
        let c = libc::CMSG_FIRSTHDR(&msg);
        assert!(!c.is_null(), "no fd was sent");
        data.truncate(n as usize);
        (data, std::os::fd::OwnedFd::from_raw_fd(std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<i32>())))
    }
}

/// Makes the child of `cmd` start with `src` open at each fd number in `targets` (and
/// inheritable): how engines leak or pass fds to a runtime. Goes through fd 100 because
/// dup2 onto the same number would keep close-on-exec.
pub fn pass_fd(cmd: &mut Command, src: std::os::fd::RawFd, targets: &'static [i32]) {
    use std::os::unix::process::CommandExt;
    // SAFETY: only async-signal-safe dup2/close between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::dup2(src, 100);
            for t in targets {
                libc::dup2(100, *t);
            }
            // Nothing else from 3 up: only what the test means to pass reaches berth,
            // not what the test process itself inherited.
            let mut from = 3;
            let mut sorted = targets.to_vec();
            sorted.sort_unstable();
            for t in sorted {
                if t > from {
                    libc::syscall(libc::SYS_close_range, from, t - 1, 0);
                }
                from = from.max(t + 1);
            }
            libc::syscall(libc::SYS_close_range, from, u32::MAX, 0);
            Ok(())
        });
    }
}
