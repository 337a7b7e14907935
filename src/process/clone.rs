//! A fork-like clone with namespace flags: clone3 first, plain clone where the kernel
//! lacks clone3 (ENOSYS).
//!
//! The child gets a copy of the parent's memory and continues on its own copy of the
//! stack, like fork(2), so the init runs ordinary Rust code on data the parent prepared.
//! berth is single-threaded when it clones, so no lock can be held by a thread that does
//! not exist in the child. Two kernel rules matter here:
//! - clone3 accepts a NULL stack only without CLONE_VM, which is our case;
//! - CLONE_NEWTIME cannot be passed to plain clone (its bit is part of CSIGNAL), which is
//!   one reason the time namespace is unshared by the init instead.
//! glibc is bypassed, so it does not refresh its cached thread id in the child: the
//! child must not use pthread_kill/raise/abort (berth builds with panic=abort and never
//! panics on the init path; the init leaves only through _exit or execve).

use std::io;
use std::os::fd::RawFd;

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Clones the calling process. Returns 0 in the child and the child's pid in the parent.
/// With `cgroup_fd` (cgroup v2 only) the child starts inside that cgroup.
pub fn clone_process(flags: u64, cgroup_fd: Option<RawFd>) -> io::Result<i32> {
    let mut args = CloneArgs { flags, exit_signal: libc::SIGCHLD as u64, ..Default::default() };
    if let Some(fd) = cgroup_fd {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd as u64;
    }
    // SAFETY: clone3 with a valid args struct and no CLONE_VM: fork semantics.
    let r = unsafe { libc::syscall(libc::SYS_clone3, &mut args as *mut CloneArgs, std::mem::size_of::<CloneArgs>()) };
    if r >= 0 {
        return Ok(r as i32);
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() != Some(libc::ENOSYS) || cgroup_fd.is_some() {
        return Err(err);
    }
    // SAFETY: raw clone with a NULL stack: fork semantics. The trailing zero arguments
    // (parent_tid, child_tid, tls) are unused without the matching flags.
    let r = unsafe { libc::syscall(libc::SYS_clone, flags | libc::SIGCHLD as u64, 0usize, 0usize, 0usize, 0usize) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as i32)
    }
}
