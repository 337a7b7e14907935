//! `tmpcopyup` (runc's extension): a new tmpfs starts with a copy of what the image has at
//! its destination, so mounting it does not hide the image's files. The copy runs from an
//! fd of the destination directory (resolved inside the rootfs) into the detached tmpfs
//! before it is attached: everything is reached through directory fds, nothing followed
//! (O_NOFOLLOW / AT_SYMLINK_NOFOLLOW), and a symlink is copied as a symlink.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

fn check(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn open_at(dir: RawFd, name: &CStr, flags: libc::c_int, mode: libc::mode_t) -> io::Result<OwnedFd> {
    // SAFETY: openat relative to a directory fd with a valid C string.
    let fd = unsafe { libc::openat(dir, name.as_ptr(), flags | libc::O_CLOEXEC | libc::O_NOFOLLOW, mode as libc::c_uint) };
    check(fd)?;
    // SAFETY: a new fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn stat_at(dir: RawFd, name: &CStr) -> io::Result<libc::stat> {
    // SAFETY: a zeroed stat is a valid output buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstatat relative to a directory fd, not following the last component.
    check(unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) })?;
    Ok(st)
}

fn own(dir: RawFd, name: &CStr, st: &libc::stat) -> io::Result<()> {
    // SAFETY: fchownat of an entry we just made, not following it.
    check(unsafe { libc::fchownat(dir, name.as_ptr(), st.st_uid, st.st_gid, libc::AT_SYMLINK_NOFOLLOW) })
}

/// Copies the contents of `src` (an fd of the destination directory, O_PATH is fine) into
/// `dst` (the detached tmpfs), keeping modes, owners, symlinks and device nodes.
pub fn copy_into(src: &OwnedFd, dst: &OwnedFd) -> io::Result<()> {
    let dirflags = libc::O_RDONLY | libc::O_DIRECTORY;
    let s = open_at(src.as_raw_fd(), c".", dirflags, 0)?;
    let d = open_at(dst.as_raw_fd(), c".", dirflags, 0)?;
    copy_dir(s.as_raw_fd(), d.as_raw_fd())
}

/// The mode of an entry we made, set last: after its owner (chown clears setuid/setgid)
/// and, for a directory, after its contents (a 0500 directory could not be filled).
fn chmod_at(dir: RawFd, name: &CStr, perm: libc::mode_t) -> io::Result<()> {
    // SAFETY: fchmodat relative to our directory fd (the entry is not a symlink).
    check(unsafe { libc::fchmodat(dir, name.as_ptr(), perm, 0) })
}

fn copy_dir(src: RawFd, dst: RawFd) -> io::Result<()> {
    // SAFETY: src is a directory fd open for the whole loop.
    for name in crate::util::fs::dir_names(unsafe { std::os::fd::BorrowedFd::borrow_raw(src) })? {
        let st = stat_at(src, &name)?;
        let perm = st.st_mode & 0o7777;
        match st.st_mode & libc::S_IFMT {
            libc::S_IFDIR => {
                // SAFETY: mkdirat relative to our directory fd.
                check(unsafe { libc::mkdirat(dst, name.as_ptr(), 0o700) })?;
                own(dst, &name, &st)?;
                let s = open_at(src, &name, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
                let d = open_at(dst, &name, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
                copy_dir(s.as_raw_fd(), d.as_raw_fd())?;
                chmod_at(dst, &name, perm)?;
            }
            libc::S_IFREG => {
                let s = open_at(src, &name, libc::O_RDONLY, 0)?;
                let d = open_at(dst, &name, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL, 0o600)?;
                let (mut r, mut w) = (std::fs::File::from(s), std::fs::File::from(d));
                io::copy(&mut r, &mut w)?;
                own(dst, &name, &st)?;
                chmod_at(dst, &name, perm)?;
            }
            libc::S_IFLNK => {
                let mut buf = vec![0u8; libc::PATH_MAX as usize];
                // SAFETY: readlinkat into a buffer of the given size.
                let n = unsafe { libc::readlinkat(src, name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
                if n < 0 {
                    return Err(io::Error::last_os_error());
                }
                buf.truncate(n as usize);
                let target = CString::new(buf).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
                // SAFETY: symlinkat with valid C strings relative to our directory fd.
                check(unsafe { libc::symlinkat(target.as_ptr(), dst, name.as_ptr()) })?;
                own(dst, &name, &st)?;
            }
            libc::S_IFIFO | libc::S_IFCHR | libc::S_IFBLK => {
                // SAFETY: mknodat relative to our directory fd.
                check(unsafe { libc::mknodat(dst, name.as_ptr(), st.st_mode, st.st_rdev) })?;
                own(dst, &name, &st)?;
                chmod_at(dst, &name, perm)?;
            }
            // A socket is a live endpoint, not content: not copied (as cp -a leaves it).
            _ => {}
        }
    }
    Ok(())
}
