//! The runtime binary a container can see is never the host's writable one
//! (CVE-2019-5736).
//!
//! The init and the exec child are forks of berth, so until they execve the container's
//! program their /proc/<pid>/exe is berth's binary, and a container can reach it: its
//! entrypoint or an exec'd `/bin/sh` may be a `#!/proc/self/exe` script, which makes the
//! kernel run berth's binary *inside* the container, or a process given CAP_SYS_PTRACE
//! opens /proc/1/exe of a created container's init. An fd so obtained, reopened for
//! writing once berth exits, would overwrite the host's runtime. Non-dumpable covers only
//! the time before execve.
//!
//! So `create`, `run` and `exec` first make sure they run from a copy that cannot be
//! written, re-executing themselves once if not; their forks inherit it. The choice, made
//! once per command, in this order:
//!  1. nothing to do when the binary already sits on a read-only mount (ST_RDONLY), or is
//!     a sealed memfd (F_SEAL_WRITE): also how the re-executed berth sees it;
//!  2. a read-only bind mount of the binary, made detached (open_tree(OPEN_TREE_CLONE) +
//!     mount_setattr(RDONLY)) and executed through its fd (execveat): no copy, no mount
//!     anyone can see, gone when the last process running it exits; needs CAP_SYS_ADMIN;
//!  3. a sealed memfd copy (F_SEAL_WRITE|SHRINK|GROW|SEAL; F_SEAL_EXEC where the kernel
//!     has it), executed the same way: works without privileges, costs a copy;
//!  4. otherwise the command fails: berth does not run a container it cannot protect.
//!
//! `BERTH_SEALED` in the environment marks the re-executed process, so that a kernel
//! that would not let step 1 recognise the copy makes an error, not a loop; it is removed
//! from the environment at once.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

const MARK: &str = "BERTH_SEALED";
const F_SEAL_EXEC: libc::c_int = 0x0020;

#[derive(Debug, thiserror::Error)]
#[error("cannot run from a sealed copy of the berth binary (CVE-2019-5736 protection): {0}")]
pub struct Error(String);

/// How the running binary is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sealed {
    ReadOnlyMount,
    Memfd,
}

/// Whether `exe` (an fd of the running binary) can be written through a reopened
/// /proc/<pid>/exe: not on a read-only mount, not a write-sealed memfd.
pub fn how_sealed(exe: &impl std::os::fd::AsFd) -> Option<Sealed> {
    if nix::sys::statvfs::fstatvfs(exe).is_ok_and(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY)) {
        return Some(Sealed::ReadOnlyMount);
    }
    // SAFETY: fcntl query on an fd we own.
    let seals = unsafe { libc::fcntl(exe.as_fd().as_raw_fd(), libc::F_GET_SEALS) };
    (seals >= 0 && seals & libc::F_SEAL_WRITE != 0).then_some(Sealed::Memfd)
}

/// Returns when the running binary is protected; otherwise re-executes it from a
/// protected copy (and does not return), or fails.
pub fn ensure() -> Result<Sealed, Error> {
    let marked = std::env::var_os(MARK).is_some();
    if marked {
        // Single-threaded here (the first thing a command does): changing the
        // environment is safe.
        std::env::remove_var(MARK);
    }
    let exe = crate::util::fs::open_cloexec(std::path::Path::new("/proc/self/exe")).map_err(|e| Error(format!("open /proc/self/exe: {e}")))?;
    if let Some(s) = how_sealed(&exe) {
        return Ok(s);
    }
    if marked {
        return Err(Error("the re-executed copy is still writable".into()));
    }
    let mut why = Vec::new();
    match read_only_bind(&exe) {
        Ok(fd) => why.push(format!("read-only bind: execveat: {}", reexec(fd.as_raw_fd()))),
        Err(e) => why.push(format!("read-only bind: {e}")),
    }
    match sealed_memfd(&exe) {
        Ok(fd) => why.push(format!("sealed memfd: execveat: {}", reexec(fd.as_raw_fd()))),
        Err(e) => why.push(format!("sealed memfd: {e}")),
    }
    Err(Error(why.join("; ")))
}

/// An fd of a copy of the running binary no one can write (a read-only bind mount of it,
/// else a sealed memfd), for a caller that starts a long-lived process of this binary
/// (the containerd shim) and can exec it sealed at once instead of it re-executing.
pub fn sealed_copy() -> Result<OwnedFd, Error> {
    let exe = crate::util::fs::open_cloexec(std::path::Path::new("/proc/self/exe")).map_err(|e| Error(format!("open /proc/self/exe: {e}")))?;
    if how_sealed(&exe).is_some() {
        return Ok(exe.into());
    }
    read_only_bind(&exe).or_else(|e| sealed_memfd(&exe).map_err(|m| Error(format!("read-only bind: {e}; sealed memfd: {m}"))))
}

fn read_only_bind(exe: &std::fs::File) -> io::Result<OwnedFd> {
    use crate::util::mount as m;
    let tree = m::clone_tree(exe.as_raw_fd(), std::path::Path::new(""), false)?;
    m::set_attr(&tree, false, &m::Attr { set: m::ATTR_RDONLY | m::ATTR_NOSUID | m::ATTR_NODEV, ..Default::default() })?;
    // Refuse a copy that does not come out read-only (it would loop on the marker).
    if how_sealed(&tree).is_none() {
        return Err(io::Error::other("the bind mount is not read-only"));
    }
    Ok(tree)
}

fn sealed_memfd(exe: &std::fs::File) -> io::Result<OwnedFd> {
    // SAFETY: memfd_create with a valid name; the result is a new fd.
    let fd = unsafe { libc::memfd_create(c"berth".as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is new.
    let memfd = unsafe { OwnedFd::from_raw_fd(fd) };
    let len = exe.metadata()?.len();
    let mut off: libc::off_t = 0;
    while (off as u64) < len {
        // SAFETY: sendfile between two fds we own, with our offset variable.
        let n = unsafe { libc::sendfile(memfd.as_raw_fd(), exe.as_raw_fd(), &mut off, (len - off as u64) as usize) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(io::Error::other("short copy of the binary"));
        }
    }
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on our memfd. F_SEAL_EXEC (Linux 6.3) first, ignored where unknown.
    unsafe {
        libc::fcntl(memfd.as_raw_fd(), libc::F_ADD_SEALS, F_SEAL_EXEC);
        if libc::fcntl(memfd.as_raw_fd(), libc::F_ADD_SEALS, seals) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(memfd)
}

/// execveat(fd) with our own argv and environment plus the marker. Returns only on
/// failure.
fn reexec(fd: RawFd) -> io::Error {
    let args: Vec<CString> = std::env::args_os().filter_map(|a| CString::new(a.as_bytes()).ok()).collect();
    let mut env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut b = k.as_bytes().to_vec();
            b.push(b'=');
            b.extend_from_slice(v.as_bytes());
            CString::new(b).ok()
        })
        .collect();
    env.push(CString::new(format!("{MARK}=1")).unwrap_or_default());
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|c| c.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|c| c.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: execveat with NUL-terminated arrays of C strings that outlive the call.
    unsafe { libc::syscall(libc::SYS_execveat, fd, c"".as_ptr(), argv.as_ptr(), envp.as_ptr(), libc::AT_EMPTY_PATH) };
    io::Error::last_os_error()
}
