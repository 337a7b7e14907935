//! The last steps before execve, shared by a container's init and by a process entering
//! a running container (`exec`): limits and scheduling, the program lookup, closing fds,
//! the capability bounding set, the user, the working directory (checked), the capability
//! sets, no_new_privs and the LSM labels.

use std::os::fd::RawFd;
use std::path::PathBuf;

use oci_spec::runtime::Process;

use super::{attrs, exec, rlimits, user, Error};
use crate::capabilities;
use crate::util::procfs::ProcFs;

/// A process ready to exec.
pub struct Ready {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<String>,
}

impl Ready {
    /// Resets signals and execs; returns only on failure.
    pub fn exec(&self) -> exec::Error {
        exec::reset_signals();
        exec::exec(&self.program, &self.args, &self.env)
    }
}

/// Applies `process` to the calling process. `keep` are fds that must survive (they are
/// close-on-exec), `pass` the number of fds from 3 up handed to the program.
/// A seccomp filter to load, and where its notification listener goes (if any).
pub struct Seccomp<'a> {
    pub compiled: &'a crate::seccomp::Compiled,
    pub listener: Option<crate::seccomp::Listener<'a>>,
}

/// `proc` is the caller's own procfs (util::procfs), kept open until the exec.
pub fn prepare(process: &Process, proc: &ProcFs, keep: &[RawFd], pass: u32, extra_env: &[String], seccomp: Option<&Seccomp>) -> Result<Ready, Error> {
    rlimits::apply(process.rlimits().as_deref().unwrap_or(&[]))?;
    if let Some(adj) = process.oom_score_adj() {
        proc.write("self/oom_score_adj", &adj.to_string()).map_err(|e| Error::Other(format!("process.oomScoreAdj {adj}: {e}")))?;
    }
    attrs::set_io_priority(process)?;
    if let Some(s) = process.scheduler() {
        attrs::set_scheduler(s)?;
    }
    let args = process.args().clone().unwrap_or_default();
    if args.first().is_none_or(|a| a.is_empty()) {
        return Err(Error::Other("process.args: must name the program to run".into()));
    }
    let mut env = process.env().clone().unwrap_or_default();
    env.extend_from_slice(extra_env);
    let program = exec::find_program(&args[0], &env)?;

    // The seccomp listener socket is used after the fds are closed.
    let mut keep = keep.to_vec();
    keep.push(proc.raw());
    if let Some(l) = seccomp.and_then(|s| s.listener.as_ref()) {
        keep.push(l.socket);
    }
    exec::close_fds_except(&keep, pass);
    let caps = process.capabilities().as_ref().map(capabilities::Plan::new);
    if let Some(c) = &caps {
        c.drop_bounding()?;
    }
    let nnp = process.no_new_privileges().unwrap_or(false);
    // The cwd first, while root, and checked before any filter is loaded (a profile may
    // deny getcwd or chdir); only a cwd that only the user can reach waits for the switch.
    let cwd = process.cwd();
    let early_cd = nix::unistd::chdir(cwd).is_ok();
    if early_cd {
        check_cwd()?;
    }
    if let Some(f) = seccomp.filter(|_| !nnp) {
        // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it now, while
        // still root with every capability (what follows must be allowed by it).
        crate::seccomp::load(f.compiled, f.listener.as_ref())?;
    }
    fix_stdio_owner(process.user().uid());
    // SAFETY: prctl on ourselves.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1) };
    user::switch(process.user())?;
    if !early_cd {
        nix::unistd::chdir(cwd).map_err(|e| Error::Other(format!("process.cwd {}: {e}", cwd.display())))?;
        check_cwd()?;
    }
    // SAFETY: prctl on ourselves.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0) };
    if let Some(c) = &caps {
        c.apply()?;
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user::home_of(process.user().uid())));
    }
    if nnp {
        // SAFETY: prctl on ourselves.
        let r = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
        nix::errno::Errno::result(r).map_err(|e| Error::Sys("no_new_privs".into(), e))?;
    }
    attrs::set_exec_labels(process, proc)?;
    if let Some(f) = seccomp.filter(|_| nnp) {
        // With no_new_privs: as late as possible, so the filter constrains only the
        // container's program and not berth's own set-up.
        crate::seccomp::load(f.compiled, f.listener.as_ref())?;
    }
    Ok(Ready { program, args, env })
}

/// The working directory must be inside the container's root: getcwd reports a
/// directory outside it as "(unreachable)/..." (CVE-2024-21626 defence in depth), which
/// glibc turns into ENOENT.
/// As runc's fixStdioPermissions: the process's stdio made outside the container (its
/// pty, pipes, an engine's fifos) is given to process.user's uid (the group kept: tty for
/// a pty), so that a user other than root can reopen /dev/stdout or use its terminal.
/// Never /dev/null, and, unlike runc, never a regular file or directory: that would hand
/// a host file (a log redirected by the caller) to the container's user. An fd whose
/// owner cannot change (unmapped in a user namespace) is left as it is.
fn fix_stdio_owner(uid: u32) {
    for fd in 0..3 {
        // SAFETY: a zeroed stat is a valid output buffer; fstat of fd 0-2.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(fd, &mut st) } != 0 {
            continue;
        }
        let kind = st.st_mode & libc::S_IFMT;
        let null = kind == libc::S_IFCHR && st.st_rdev == libc::makedev(1, 3);
        if st.st_uid == uid || null || kind == libc::S_IFREG || kind == libc::S_IFDIR {
            continue;
        }
        // SAFETY: fchown of one of our stdio fds; the gid is kept (-1).
        unsafe { libc::fchown(fd, uid, u32::MAX) };
    }
}

fn check_cwd() -> Result<(), Error> {
    let outside = |what: String| Error::Other(format!("process.cwd resolves outside the container ({what})"));
    match nix::unistd::getcwd() {
        Ok(cwd) if cwd.is_absolute() => Ok(()),
        Ok(cwd) => Err(outside(cwd.display().to_string())),
        Err(e) => Err(outside(e.to_string())),
    }
}
