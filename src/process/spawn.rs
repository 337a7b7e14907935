//! Starting a process for a container, the one way `create` (the init) and `exec` (a
//! process entering the container) both do it: fds moved above the range passed to the
//! container, the clone (into a pid namespace given by path, into the cgroup2 directory),
//! and the undo: a `Child` that is killed and reaped unless the caller keeps it.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use super::clone;
use crate::namespaces::{self, Join};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Namespace(#[from] namespaces::Error),
    #[error("{0}: {1}")]
    Io(&'static str, io::Error),
}

/// Moves `fd` to a number >= `min` (close-on-exec), so it cannot land in the range of
/// fds the container is given (LISTEN_FDS, --preserve-fds).
pub fn above(fd: OwnedFd, min: RawFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() >= min {
        return Ok(fd);
    }
    // SAFETY: F_DUPFD_CLOEXEC on an fd we own; the new fd is owned by the result.
    let n = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: n is a new fd.
    Ok(unsafe { OwnedFd::from_raw_fd(n) })
}

/// A process we started for a container. Dropped, it is killed and reaped: a failed
/// create or exec leaves no process behind. `keep` hands it over for good.
#[derive(Debug)]
pub struct Child {
    pid: i32,
}

impl Child {
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The process the init forked to be pid 1 of its new pid namespace replaces the
    /// first one (which exits at once; it is reaped here). The new one reaches us as
    /// its subreaper (see `Spawn::subreaper`), so it is killed and reaped the same way.
    pub fn replace(&mut self, pid: i32) {
        // SAFETY: waiting for our own child, which exits right after reporting `pid`.
        unsafe { libc::waitpid(self.pid, std::ptr::null_mut(), 0) };
        self.pid = pid;
    }

    pub fn keep(self) -> i32 {
        let pid = self.pid;
        std::mem::forget(self);
        pid
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // SAFETY: our own child (or orphan of our child, as its subreaper), by pid, then
        // reaped so it leaves no zombie.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            libc::waitpid(self.pid, std::ptr::null_mut(), 0);
        }
    }
}

/// How to clone.
pub struct Spawn<'a> {
    /// Namespace flags for the clone.
    pub flags: u64,
    /// A pid namespace to be born in: the parent enters it just around the clone
    /// (setns(CLONE_NEWPID) only affects children), so no second fork is needed.
    pub pid_join: Option<&'a Join>,
    /// The cgroup2 directory to be born in (CLONE_INTO_CGROUP).
    pub cgroup: Option<RawFd>,
    /// The runtime's end of the sync channel, which the child closes at once: EOF on its
    /// own end then means "the runtime is gone".
    pub runtime_end: RawFd,
    /// The child may fork the real init (a pid namespace made after a user namespace
    /// joined by path or made after other joins): the runtime becomes a subreaper so
    /// that process, orphaned when its parent exits, is ours to reap.
    pub subreaper: bool,
}

/// Clones a child that runs `child` (init::run or enter::run, which never return).
/// Returns it and whether it was born in its cgroup2 directory (else the caller moves it
/// there; v1 hierarchies the child joins itself).
pub fn spawn(s: &Spawn, child: impl FnOnce()) -> Result<(Child, bool), Error> {
    if s.subreaper {
        // SAFETY: prctl on ourselves.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) };
    }
    let own_pidns = match s.pid_join {
        Some(j) => {
            let own = crate::util::fs::open_cloexec(Path::new("/proc/self/ns/pid")).map_err(|e| Error::Io("open own pid namespace", e))?;
            namespaces::setns(j.file.as_raw_fd(), j.typ, &j.path)?;
            Some(own)
        }
        None => None,
    };
    let mut inside = s.cgroup.is_some();
    let mut r = clone::clone_process(s.flags, s.cgroup);
    if r.is_err() && inside {
        // An older kernel or a cgroup that refuses it: clone, then move the child.
        inside = false;
        r = clone::clone_process(s.flags, None);
    }
    if let Ok(0) = r {
        // SAFETY: closing an fd of the child's own copy of the table.
        unsafe { libc::close(s.runtime_end) };
        child();
        // Should the child's code ever return, it must not go on running the parent's.
        // SAFETY: leaving the child process.
        unsafe { libc::_exit(127) };
    }
    let child = r.map(|pid| Child { pid }).map_err(|e| Error::Io("clone", e));
    if let (Some(own), Some(j)) = (own_pidns, s.pid_join) {
        namespaces::setns(own.as_raw_fd(), j.typ, Path::new("/proc/self/ns/pid"))?;
    }
    Ok((child?, inside))
}

/// In the child, after entering a pid namespace that only affects children (unshare or
/// setns of CLONE_NEWPID): forks the process that is in it, which returns Ok and goes
/// on; this one reports its pid to the runtime (`Pid`) and exits. The one going on has
/// no parent-death signal (its parent exits at once): the runtime's death reaches it as
/// EOF on the sync channel, at its next wait.
pub fn fork_into_pid_ns(sync: &super::sync::InitEnd) -> Result<(), super::Error> {
    // SAFETY: single-threaded; the child continues on a copy of our memory, as after the
    // first clone.
    match unsafe { libc::fork() } {
        -1 => Err(super::Error::Sys("fork into the pid namespace".into(), nix::errno::Errno::last())),
        0 => Ok(()),
        pid => {
            let code = if sync.send(&super::sync::FromInit::Pid(pid)).is_ok() { 0 } else { 1 };
            // SAFETY: this process's part is done; leave without destructors.
            unsafe { libc::_exit(code) }
        }
    }
}
