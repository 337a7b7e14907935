//! A process entering a running container (`exec`): the child of `berth exec`'s clone.
//!
//! It is born in the container's pid namespace (the parent entered it around the clone,
//! as for `create`), so no second fork is needed. It joins the v1 cgroups first, while
//! the host's cgroup mounts are still in view, then the other namespaces of the
//! container's init (namespaces::join_all: user last; joining the mount namespace also
//! moves its root and cwd into the container), waits for `Go`,
//! then does what the init does before exec. Success is the sync socket closing on exec
//! (close-on-exec); a failure is sent as an `Error` message, except a failed execve,
//! which is printed and is exit status 1, as with runc.

use std::os::fd::RawFd;

use oci_spec::runtime::Process;

use super::sync::{FromInit, InitEnd, ToInit};
use super::{attrs, identity, Error};
use crate::namespaces::{self, Join};
use crate::util::procfs::ProcFs;

pub struct EnterArgs<'a> {
    pub process: &'a Process,
    pub joins: &'a [Join],
    /// The cgroup to join (cgroup2 by CLONE_INTO_CGROUP, v1 hierarchies by the child).
    pub cgroup: &'a crate::cgroups::Cgroup,
    pub sync: &'a InitEnd,
    pub console: Option<RawFd>,
    pub preserve_fds: u32,
    pub parent_pid: i32,
    /// The container's seccomp filter: exec'd processes get it too.
    pub seccomp: Option<&'a crate::seccomp::Compiled>,
    /// Connected to the profile's listenerPath, when it has notify rules.
    pub seccomp_listener: Option<RawFd>,
    /// The container's pid namespace, entered here (rootless: the runtime cannot) once
    /// in its user namespace; the process that goes on is then a fork (`Pid`).
    pub pid_join: Option<&'a Join>,
}

/// The child's entry point. Never returns.
pub fn run(a: &EnterArgs) -> ! {
    let code = match enter(a) {
        Ok(ready) => {
            // As runc: the failed execve is the process's own failure, printed on its
            // stderr, exit status 1 (the runtime sees the channel close, then the exit).
            let err = ready.exec();
            eprintln!("{err}");
            1
        }
        Err(e) => {
            let _ = a.sync.send(&FromInit::Error(e.to_string()));
            255
        }
    };
    // SAFETY: leave without the parent's atexit handlers.
    unsafe { libc::_exit(code) }
}

fn enter(a: &EnterArgs) -> Result<identity::Ready, Error> {
    // SAFETY: process-control syscalls on ourselves.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        // Non-dumpable until exec: the container's processes see us in their pid
        // namespace and must not reach our memory or /proc/<pid>/exe (the berth binary).
        libc::prctl(libc::PR_SET_DUMPABLE, 0);
    }
    let ppid = nix::unistd::getppid().as_raw();
    if ppid != a.parent_pid && ppid != 0 {
        return Err(Error::Other("berth exec exited during set-up".into()));
    }
    // config.md execCPUAffinity.initial: the CPUs to run on "before the transition to
    // container's cgroup".
    let affinity = a.process.exec_cpu_affinity().as_ref();
    if let Some(cpus) = affinity.and_then(|x| x.initial().as_deref()) {
        attrs::set_cpu_affinity(cpus, "process.execCPUAffinity.initial")?;
    }
    a.cgroup.join_v1_self().map_err(|e| Error::Other(e.to_string()))?;
    namespaces::join_all(a.joins)?;
    if let Some(j) = a.pid_join {
        namespaces::setns(std::os::fd::AsRawFd::as_raw_fd(&j.file), j.typ, &j.path)?;
        super::spawn::fork_into_pid_ns(a.sync)?;
    }
    // The container's state, sent with a seccomp listener fd.
    let state = match a.sync.recv() {
        Ok(ToInit::Go(s)) => s.to_json(),
        other => return Err(Error::Sync(format!("expected Go, got {other:?}"))),
    };
    nix::unistd::setsid().map_err(|e| Error::Sys("setsid".into(), e))?;
    // Our own procfs, in the container's pid namespace (util::procfs: never the
    // container's /proc, which the container controls).
    let proc = ProcFs::private().map_err(|e| Error::Other(format!("procfs: {e}")))?;
    if a.process.terminal().unwrap_or(false) {
        let sock = a.console.ok_or_else(|| Error::Other("process.terminal needs a console socket".into()))?;
        let size = a.process.console_size();
        crate::tty::setup(sock, size.map_or(0, |b| b.width() as u16), size.map_or(0, |b| b.height() as u16), false)?;
        // SAFETY: closing our copy of the console socket.
        unsafe { libc::close(sock) };
    }
    let seccomp = a.seccomp.map(|compiled| identity::Seccomp {
        compiled,
        listener: a.seccomp_listener.map(|socket| crate::seccomp::Listener { socket, state: &state }),
    });
    // .final: once in the container's cgroup, for the process itself.
    if let Some(cpus) = affinity.and_then(|x| x.cpu_affinity_final().as_deref()) {
        attrs::set_cpu_affinity(cpus, "process.execCPUAffinity.final")?;
    }
    let ready = identity::prepare(a.process, &proc, &[a.sync.raw()], a.preserve_fds, &[], seccomp.as_ref())?;
    // SAFETY: prctl on ourselves: from here the parent may exit (detached exec).
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, 0) };
    Ok(ready)
}
