//! `run`: create + start, then (in the foreground) forward signals to the container's
//! init, reap it, delete the container and exit with its status.
//!
//! No lost exit: every catchable signal is blocked *before* the init is cloned, so a
//! SIGCHLD from an init that exits at once stays pending until sigtimedwait picks it up,
//! and the init is our own child, so its zombie waits for our waitpid.

use super::args::CreateArgs;
use super::Failure;
use crate::container::{self, CreateOptions, Runtime};

/// Whether the bundle's process asks for a terminal (an unreadable config is left for
/// create to report).
fn wants_terminal(bundle: &std::path::Path) -> bool {
    std::fs::read(bundle.join("config.json"))
        .ok()
        .and_then(|d| serde_json::from_slice::<serde_json::Value>(&d).ok())
        .is_some_and(|v| v["process"]["terminal"] == serde_json::Value::Bool(true))
}

pub(super) fn block_all() -> libc::sigset_t {
    // SAFETY: signal-set manipulation on local data and our own mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::sigdelset(&mut set, libc::SIGSEGV);
        libc::sigdelset(&mut set, libc::SIGBUS);
        libc::sigdelset(&mut set, libc::SIGFPE);
        libc::sigdelset(&mut set, libc::SIGILL);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

pub fn run(rt: &Runtime, a: &CreateArgs, detach: bool, keep: bool) -> Result<i32, Failure> {
    let set = if detach { None } else { Some(block_all()) };
    if !detach {
        // Orphans of a container without its own pid namespace are reaped by us.
        // SAFETY: prctl on ourselves.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) };
    }
    // A terminal in the foreground without a console socket: berth relays it itself.
    let relay = if !detach && a.console_socket.is_none() && wants_terminal(&a.bundle) {
        Some(super::relay::console_pair().map_err(|e| super::fail(format!("console: {e}")))?)
    } else {
        None
    };
    let o = CreateOptions {
        id: &a.id,
        bundle: &a.bundle,
        pid_file: a.pid_file.as_deref(),
        console_socket: a.console_socket.as_deref(),
        console_fd: relay.as_ref().map(|(_, theirs)| std::os::fd::AsRawFd::as_raw_fd(theirs)),
        no_pivot: a.no_pivot,
        preserve_fds: a.preserve_fds,
        watch: !detach,
    };
    let created = container::create(rt, &o)?;
    if let Err(e) = container::start(rt, &a.id) {
        let _ = container::delete(rt, &a.id, true);
        // An init that failed after create says why; "has stopped" is only the result.
        return Err(created.init_error().map_or(e, container::Error::Init).into());
    }
    let Some(set) = set else { return Ok(0) };
    let code = match relay {
        Some((ours, theirs)) => {
            drop(theirs);
            super::relay::relay(ours, created.pid, &set, true).unwrap_or_else(|e| {
                crate::logging::warn(&e.to_string());
                wait_forwarding(created.pid, &set)
            })
        }
        None => wait_forwarding(created.pid, &set),
    };
    // It ended before its program ran: its reason is the error, logged once, here.
    if let Some(msg) = created.init_error() {
        if !keep {
            let _ = container::delete(rt, &a.id, true);
        }
        return Err(container::Error::Init(msg).into());
    }
    if !keep {
        if let Err(e) = container::delete(rt, &a.id, true) {
            crate::logging::warn(&format!("delete after run: {e}"));
        }
    }
    Ok(code)
}

/// Waits for `pid` to exit, forwarding every other signal to it. Returns its exit code,
/// 128+N when killed by signal N.
pub(super) fn wait_forwarding(pid: i32, set: &libc::sigset_t) -> i32 {
    loop {
        // Reap first: the init may already be a zombie.
        if let Some(code) = reap(pid) {
            return code;
        }
        // SAFETY: sigtimedwait on signals we blocked. Timed, so that a waitpid that
        // failed after its SIGCHLD was taken is tried again instead of waiting for a
        // signal that will not come (found by fault injection).
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let timeout = libc::timespec { tv_sec: 1, tv_nsec: 0 };
        let sig = unsafe { libc::sigtimedwait(set, &mut info, &timeout) };
        if sig > 0 && sig != libc::SIGCHLD {
            // SAFETY: forwarding to our own child by pid (it is not reaped yet, so the
            // pid cannot have been reused).
            unsafe { libc::kill(pid, sig) };
        }
    }
}

/// Reaps every exited child without blocking (orphans reach us as subreaper); returns
/// `pid`'s exit status once it has exited (128+N for signal N).
pub(super) fn reap(pid: i32) -> Option<i32> {
    loop {
        let mut status = 0;
        // SAFETY: waitpid on our children without blocking.
        let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if r <= 0 {
            return None;
        }
        if r == pid {
            if libc::WIFEXITED(status) {
                return Some(libc::WEXITSTATUS(status));
            }
            if libc::WIFSIGNALED(status) {
                return Some(128 + libc::WTERMSIG(status));
            }
        }
    }
}
