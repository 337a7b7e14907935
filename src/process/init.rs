//! The container's init: the child of `create`'s clone. It sets the container up from the
//! inside, reports `Ready` (or the error) over the sync channel, then waits on exec.fifo
//! until `start` releases it, and execs the user's program. berth is never re-executed:
//! the init is a fork of `create`, with the spec already parsed in its memory.
//!
//! Order of steps (and why); the messages are those of process/sync.rs:
//!  1. close the state-dir lock (else `start` would wait for us forever), die with the
//!     parent until Ready (PDEATHSIG), become non-dumpable (no /proc/<pid>/mem, exe
//!     access from the container's processes while we still hold runtime fds);
//!  2. namespaces. crun's order (`Late`: a user namespace joined by path, or a new one
//!     with namespaces joined by path): join the v1 cgroups (made before the clone on
//!     this path) while host paths and rights are ours; join by path (other types, mount,
//!     user); unshare the user namespace (`UserNs`, the runtime writes the maps,
//!     `IdMaps`); unshare the rest, and with a new pid namespace fork the real init
//!     (`Pid`). Otherwise the clone made them: with a new user namespace, or a mount or
//!     cgroup namespace joined by path, pass the cgroup gate first (below; the id maps are
//!     written by then, host paths still reachable), then join by path. Then become the
//!     user namespace's root; unshare time (offsets written while the namespace is empty);
//!     new session; loopback up;
//!  3. rootfs, first part (`rootfs::prepare`): the mounts up to the first cgroup mount;
//!  4. the cgroup gate, if not passed yet: `Go` (the parent has written our id maps, made
//!     the cgroup and its limits meanwhile, and sends the state hooks get), join the v1
//!     hierarchies ourselves (we were born in the cgroup2 one; see Cgroup::join_v1_self
//!     for why not the parent), unshare cgroup (rooted at our cgroup now);
//!  5. rootfs, second part (`Partial::finish`): cgroup mounts, the rest, /dev;
//!     prestart/createRuntime hooks run by the parent (`Hooks`, `HooksDone`);
//!     createContainer hooks run here; pivot_root;
//!  6. hostname, domainname, sysctl, then masked/read-only paths and a read-only root
//!     (sysctl first: /proc/sys is usually read-only); rlimits, oom_score_adj,
//!     personality, I/O priority, scheduler; find the program;
//!  7. close every fd we do not need, drop the bounding set, change user, chdir (checked
//!     to be inside the root), set the capability sets, no_new_privs;
//!  8. `Ready`; wait for `Saved` (the runtime has written state.json: until then we exit
//!     if it dies); wait on exec.fifo (a failure so far goes to the runtime if it still
//!     watches, else to stderr); startContainer hooks; execve (a failure printed, as
//!     runc's init prints it).

use std::os::fd::RawFd;
use std::path::Path;

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::sync::{FromInit, InitEnd, ToInit};
use super::{attrs, identity, Error};
use crate::cgroups::Cgroup;
use crate::container::{HookState, Status};
use crate::hooks::{self, Kind};
use crate::namespaces::{self, Plan};
use crate::rootfs;
use crate::util::procfs::ProcFs;

fn sys(what: &str) -> impl FnOnce(nix::Error) -> Error + '_ {
    move |e| Error::Sys(what.to_string(), e)
}

/// Everything the init needs, prepared by `create` before the clone.
pub struct InitArgs<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub ns: &'a Plan,
    pub cgroup: &'a Cgroup,
    pub sync: &'a InitEnd,
    /// exec.fifo, opened read-write by the parent: a blocking read waits for `start`.
    pub fifo_fd: RawFd,
    pub lock_fd: RawFd,
    pub parent_pid: i32,
    pub no_pivot: bool,
    pub preserve_fds: u32,
    /// Socket-activation fds (LISTEN_FDS of berth's environment): 3 .. 3+N, before the
    /// preserved ones, as runc passes them.
    pub listen_fds: u32,
    /// Whether the parent must run prestart/createRuntime hooks before pivot_root.
    pub runtime_hooks: bool,
    /// Connected console socket, when process.terminal is set.
    pub console: Option<RawFd>,
    /// linux.seccomp, compiled by the parent.
    pub seccomp: Option<&'a crate::seccomp::Compiled>,
    /// Connected to linux.seccomp.listenerPath, when the profile has notify rules.
    pub seccomp_listener: Option<RawFd>,
    /// runc's rootless mode: the init stays dumpable until its id maps are written (the
    /// unprivileged runtime writes them through /proc/<pid>, which is root's otherwise).
    pub rootless: bool,
    /// Bind sources opened by the parent (rootfs::open_bind_sources).
    pub bind_trees: &'a [Option<std::os::fd::OwnedFd>],
    /// The runtime keeps reading the sync channel until we exec or exit (a foreground
    /// `run`): a failure after `Ready` is sent to it, not printed (see `late`).
    pub watched: bool,
}

/// What is left to do after `Ready`.
struct Prepared {
    ready: identity::Ready,
    state: HookState,
}

/// The init's entry point. Never returns.
pub fn run(a: &InitArgs) -> ! {
    let code = match setup(a) {
        Ok(p) => match released(a) {
            Ok(()) => exec(a, p),
            Err(e) => {
                late(a, &e.to_string());
                1
            }
        },
        Err(e) => {
            let _ = a.sync.send(&FromInit::Error(e.to_string()));
            1
        }
    };
    // SAFETY: leave without running the parent's atexit handlers or destructors.
    unsafe { libc::_exit(code) }
}

fn recv(sync: &InitEnd) -> Result<ToInit, Error> {
    sync.recv().map_err(|e| Error::Sync(e.to_string()))
}

fn send(sync: &InitEnd, m: &FromInit) -> Result<(), Error> {
    sync.send(m).map_err(|e| Error::Sync(e.to_string()))
}

fn setup(a: &InitArgs) -> Result<Prepared, Error> {
    // SAFETY: plain process-control syscalls on ourselves; the name is a C string of at
    // most 15 bytes.
    unsafe {
        // Until it executes the container's program (util::proc::INIT_NAME). Also what
        // `ps` shows of a created container.
        const _: () = assert!(crate::util::proc::INIT_NAME.count_bytes() <= 15);
        libc::prctl(libc::PR_SET_NAME, crate::util::proc::INIT_NAME.as_ptr());
        libc::close(a.lock_fd);
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if !a.rootless {
            libc::prctl(libc::PR_SET_DUMPABLE, 0);
        }
    }
    // In a new pid namespace the parent is outside it and getppid() is 0.
    let ppid = nix::unistd::getppid().as_raw();
    if ppid != a.parent_pid && ppid != 0 {
        return Err(Error::Other("the runtime exited during create".into()));
    }
    let spec = a.spec;
    let linux = spec.linux().as_ref();
    let mut gate = CgroupGate { a, state: None, v1_joined: false };
    match a.ns.late {
        Some(late) => enter_late(a, &mut gate, late)?,
        None => {
            let by_path = |t: LinuxNamespaceType| a.ns.joins.iter().any(|j| j.typ == t);
            if a.ns.new_user || by_path(LinuxNamespaceType::Mount) || by_path(LinuxNamespaceType::Cgroup) {
                gate.pass(false)?;
            }
            namespaces::join_all(&a.ns.joins)?;
        }
    }
    if a.rootless {
        // SAFETY: prctl on ourselves; the id maps are written by now.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0) };
    }
    if a.ns.enters_user {
        // Become the namespace's root (the mapping of our host uid may not be 0).
        nix::unistd::setresgid(0.into(), 0.into(), 0.into()).map_err(sys("setresgid(0) in the user namespace"))?;
        nix::unistd::setresuid(0.into(), 0.into(), 0.into()).map_err(sys("setresuid(0) in the user namespace"))?;
    }
    // Our own procfs, in our pid namespace: every /proc write of the set-up goes through
    // it, never through the container's /proc (util::procfs).
    let proc = ProcFs::private().map_err(|e| Error::Other(format!("procfs: {e}")))?;
    if gate.state.is_some() && a.ns.new_cgroup {
        // After the joins: owned by the container's user namespace.
        namespaces::unshare(libc::CLONE_NEWCGROUP, "cgroup")?;
    }
    if a.ns.new_time && !a.ns.time_by_runtime {
        namespaces::unshare(libc::CLONE_NEWTIME, "time")?;
        namespaces::write_time_offsets(&proc, &crate::config::time_offsets(spec))?;
    }
    nix::unistd::setsid().map_err(sys("setsid"))?;
    if a.ns.new_net {
        crate::namespaces::loopback_up().map_err(|e| Error::Other(format!("bring up lo: {e}")))?;
    }

    let setup = rootfs::Setup {
        spec,
        rootfs: a.rootfs,
        bundle: a.bundle,
        // Also root of a user namespace made before us (rootless podman runs us so):
        // no mknod, and flags locked on inherited mounts, all the same.
        in_userns: a.ns.enters_user || a.rootless,
        cgroup: a.cgroup,
        new_cgroupns: a.ns.new_cgroup,
        bind_trees: a.bind_trees,
    };
    let partial = if a.ns.inherit_mount { None } else { Some(rootfs::prepare(&setup)?) };
    gate.pass(true)?;
    if let Some(p) = partial {
        p.finish()?;
    }
    let state = gate.state.take().ok_or_else(|| Error::Sync("no Go".into()))?;
    let state_json = state.to_json();
    if a.runtime_hooks {
        send(a.sync, &FromInit::Hooks)?;
        match recv(a.sync)? {
            ToInit::HooksDone => {}
            other => return Err(Error::Sync(format!("unexpected {other:?}"))),
        }
    }
    // As runc: in the rootfs (before pivot_root, by its host path); a hook without env
    // gets the process's env as config.json gives it (runc's init has it by then).
    let env = spec.process().as_ref().and_then(|p| p.env().as_deref()).unwrap_or(&[]);
    hooks::run_all(spec.hooks().as_ref(), Kind::CreateContainer, &state_json, hooks::Context { cwd: Some(a.rootfs), env: Some(env) })?;
    if a.ns.inherit_mount {
        rootfs::chroot(a.rootfs)?;
    } else if a.no_pivot {
        rootfs::move_root(a.rootfs, &proc)?;
    } else {
        rootfs::pivot(a.rootfs)?;
    }
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).map_err(sys("hostname"))?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        // SAFETY: setdomainname with a valid buffer and length.
        let r = unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) };
        nix::errno::Errno::result(r).map_err(sys("domainname"))?;
    }
    for (k, v) in linux.and_then(|l| l.sysctl().as_ref()).into_iter().flatten() {
        write_sysctl(&proc, k, v)?;
    }
    // After sysctl: /proc/sys is usually among the read-only paths.
    if !a.ns.inherit_mount {
        rootfs::finalize(spec)?;
    }
    let process = spec.process().as_ref().ok_or_else(|| Error::Other("process is missing".into()))?;
    if let Some(p) = linux.and_then(|l| l.personality().as_ref()) {
        attrs::set_personality(p)?;
    }
    if let Some(p) = linux.and_then(|l| l.memory_policy().as_ref()) {
        attrs::set_memory_policy(p)?;
    }
    if process.terminal().unwrap_or(false) {
        let sock = a.console.ok_or_else(|| Error::Other("process.terminal needs a console socket".into()))?;
        let size = process.console_size();
        // No /dev/console of our own without a mount namespace.
        crate::tty::setup(sock, size.map_or(0, |b| b.width() as u16), size.map_or(0, |b| b.height() as u16), !a.ns.inherit_mount)?;
        // SAFETY: closing our copy of the console socket.
        unsafe { libc::close(sock) };
    }
    let mut extra_env = Vec::new();
    if a.listen_fds > 0 {
        extra_env.push(format!("LISTEN_FDS={}", a.listen_fds));
    }
    // Only the sync socket and the fifo survive from here on (plus passed fds).
    let seccomp = a.seccomp.map(|compiled| identity::Seccomp {
        compiled,
        listener: a.seccomp_listener.map(|socket| crate::seccomp::Listener { socket, state: &state_json }),
    });
    let ready = identity::prepare(process, &proc, &[a.sync.raw(), a.fifo_fd], a.listen_fds + a.preserve_fds, &extra_env, seccomp.as_ref())?;
    // We stay tied to the runtime until it has saved our state (`Saved`): a runtime that
    // dies before that leaves no init behind, since every wait of ours is a read of the
    // sync channel, which then gives EOF (recv's "the runtime went away"). The
    // parent-death signal (already cleared by a change of user) is dropped before Ready,
    // not after Saved: the runtime exits right after sending Saved, and the signal would
    // race with our prctl.
    // SAFETY: prctl on ourselves.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, 0) };
    send(a.sync, &FromInit::Ready)?;
    Ok(Prepared { ready, state })
}

/// crun's order (see namespaces.rs): the cgroup first (v1 hierarchies joined while their
/// host paths are ours; the runtime made them before the clone on this path), then the
/// joins with the host's rights, then the user namespace, then the rest. With a new pid
/// namespace the process that continues from here is a fork: pid 1 there.
fn enter_late(a: &InitArgs, gate: &mut CgroupGate, late: namespaces::Late) -> Result<(), Error> {
    a.cgroup.join_v1_self().map_err(|e| Error::Other(e.to_string()))?;
    gate.v1_joined = true;
    namespaces::join_all(&a.ns.joins)?;
    if late.new_user {
        namespaces::unshare(libc::CLONE_NEWUSER, "user")?;
        send(a.sync, &FromInit::UserNs)?;
        match recv(a.sync)? {
            ToInit::IdMaps => {}
            other => return Err(Error::Sync(format!("expected IdMaps, got {other:?}"))),
        }
    }
    namespaces::unshare((late.flags & !(libc::CLONE_NEWPID as u64)) as libc::c_int, "the container's")?;
    if !late.fork {
        return Ok(());
    }
    namespaces::unshare(libc::CLONE_NEWPID, "pid")?;
    super::spawn::fork_into_pid_ns(a.sync)
}

/// The point from which the init is in its cgroup: `Go` received (id maps written, the
/// cgroup and its limits made), the v1 hierarchies joined, and (`unshare_cgroupns`) the
/// cgroup namespace unshared. Passed once, as late as the set-up allows (see the order of
/// steps above).
struct CgroupGate<'a> {
    a: &'a InitArgs<'a>,
    /// The container's state as `Go` carried it (for the hooks); None until passed.
    state: Option<HookState>,
    /// crun's order joined them before anything else.
    v1_joined: bool,
}

impl CgroupGate<'_> {
    fn pass(&mut self, unshare_cgroupns: bool) -> Result<(), Error> {
        if self.state.is_some() {
            return Ok(());
        }
        let state = match recv(self.a.sync)? {
            ToInit::Go(s) => s,
            other => return Err(Error::Sync(format!("expected Go, got {other:?}"))),
        };
        if !self.v1_joined {
            self.a.cgroup.join_v1_self().map_err(|e| Error::Other(e.to_string()))?;
        }
        if unshare_cgroupns && self.a.ns.new_cgroup {
            namespaces::unshare(libc::CLONE_NEWCGROUP, "cgroup")?;
        }
        self.state = Some(state);
        Ok(())
    }
}

/// Writes one sysctl through our own procfs; the key was checked by config::validate
/// (config::sysctl_path) before anything was made.
fn write_sysctl(proc: &ProcFs, key: &str, value: &str) -> Result<(), Error> {
    let rel = crate::config::sysctl_path(key).map_err(|e| Error::Other(e.to_string()))?;
    proc.write(&format!("sys/{rel}"), value).map_err(|e| Error::Other(format!("linux.sysctl {key}={value}: {e}")))
}

/// After `Ready`: waits for `Saved` (the runtime has written state.json; until then we
/// exit if it dies), then on exec.fifo for `start`.
fn released(a: &InitArgs) -> Result<(), Error> {
    match recv(a.sync)? {
        ToInit::Saved => {}
        other => return Err(Error::Sync(format!("expected Saved, got {other:?}"))),
    }
    let mut b = [0u8; 1];
    loop {
        // SAFETY: read into a one-byte buffer from our fifo fd.
        let r = unsafe { libc::read(a.fifo_fd, b.as_mut_ptr().cast(), 1) };
        match r {
            1 => return Ok(()),
            0 => return Err(Error::Other("exec.fifo: closed before start".into())),
            _ => {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(Error::Other(format!("waiting for start on exec.fifo: {}", crate::util::errno::text(&e))));
                }
            }
        }
    }
}

/// A failure between `Ready` and the release: the runtime no longer waits for our
/// messages then, unless it watches us to the end (a foreground `run`, `watched`), which
/// reports it as its own error (Created::init_error); otherwise nobody would hear of it
/// but the container's stderr, where runc's init prints such failures too.
fn late(a: &InitArgs, msg: &str) {
    if !a.watched || a.sync.send(&FromInit::Error(msg.to_string())).is_err() {
        eprintln!("{msg}");
    }
}

/// Released: startContainer hooks, then the program. A failure from here on is printed
/// on the container's stderr and is exit status 1, as with runc ("exec /x: exec format
/// error").
fn exec(a: &InitArgs, p: Prepared) -> i32 {
    // The fifo stays open (close-on-exec) until the execve: `start` waits for that to run
    // the poststart hooks after the program is executed.
    // SAFETY: closing our own fd.
    unsafe {
        libc::close(a.sync.raw());
    }
    let state = HookState { status: Status::Running, ..p.state }.to_json();
    // A hook without env gets the process's final env (HOME added), as runc's.
    if let Err(e) = hooks::run_all(a.spec.hooks().as_ref(), Kind::StartContainer, &state, hooks::Context { cwd: None, env: Some(&p.ready.env) }) {
        eprintln!("{e}");
        return 1;
    }
    let err = p.ready.exec();
    eprintln!("{err}");
    1
}
