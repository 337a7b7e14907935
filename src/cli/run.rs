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

/// Blocks every signal but the synchronous faults (SEGV, BUS, FPE, ILL), 1 to 64, the
/// ones the C library keeps for itself included (32-34 with musl, whose sigfillset leaves
/// them out): each is forwarded to the container rather than ending berth (34, glibc's
/// SIGRTMIN, is a program's own signal). berth uses none of them (no thread cancels, no
/// setuid while it has threads).
pub(super) fn block_all() -> libc::sigset_t {
    let faults = [libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, libc::SIGILL].iter().fold(0u64, |m, s| m | 1 << (s - 1));
    let mut bits = [0u64; 16];
    bits[0] = !faults;
    // SAFETY: sigset_t is the kernel's mask of 1024 bits on Linux with either C library
    // (asserted by the size check); the kernel reads its first 64 of them.
    unsafe {
        const _: () = assert!(std::mem::size_of::<libc::sigset_t>() == std::mem::size_of::<[u64; 16]>());
        let set: libc::sigset_t = std::mem::transmute(bits);
        libc::syscall(libc::SYS_rt_sigprocmask, libc::SIG_BLOCK, &set as *const libc::sigset_t, std::ptr::null_mut::<libc::sigset_t>(), 8usize);
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
        delete_after(rt, &a.id);
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
            delete_after(rt, &a.id);
        }
        return Err(container::Error::Init(msg).into());
    }
    if !keep {
        delete_after(rt, &a.id);
    }
    Ok(code)
}

/// The container's delete once the run is over, failed or not. If it cannot be removed
/// (what is left goes with `delete -f`), the user is told, whatever the run's outcome
/// (fault injection found a failed run whose clean-up had failed silently).
fn delete_after(rt: &Runtime, id: &str) {
    if let Err(e) = container::delete(rt, id, true) {
        crate::logging::warn(&format!("delete after run: {e}"));
    }
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
