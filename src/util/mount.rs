//! The kernel's fd-based mount API (Linux 5.2; mount_setattr 5.12): mounts are made,
//! changed and placed through file descriptors, never through a path looked up again.
//!
//! Why berth mounts this way: with mount(2) the target is a string, so a mount into the
//! rootfs needed `/proc/self/fd/N`, which trusts whatever `/proc` is at that moment, and
//! a flag change after the mount (`ro`, propagation) looked the target up a second time.
//! Here a mount is built detached (`fsopen`+`fsmount`, or `open_tree(OPEN_TREE_CLONE)`),
//! its attributes set on that detached mount (`mount_setattr`), and it is attached with
//! `move_mount` onto an fd that was resolved once, inside the rootfs.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

// Mount attributes (uapi/linux/mount.h).
pub const ATTR_RDONLY: u64 = 0x0000_0001;
pub const ATTR_NOSUID: u64 = 0x0000_0002;
pub const ATTR_NODEV: u64 = 0x0000_0004;
pub const ATTR_NOEXEC: u64 = 0x0000_0008;
pub const ATTR_ATIME_MASK: u64 = 0x0000_0070;
pub const ATTR_RELATIME: u64 = 0x0000_0000;
pub const ATTR_NOATIME: u64 = 0x0000_0010;
pub const ATTR_STRICTATIME: u64 = 0x0000_0020;
pub const ATTR_NODIRATIME: u64 = 0x0000_0080;
pub const ATTR_IDMAP: u64 = 0x0010_0000;
pub const ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

const OPEN_TREE_CLONE: u32 = 1;
const OPEN_TREE_CLOEXEC: u32 = libc::O_CLOEXEC as u32;
const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x04;
const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;
const FSOPEN_CLOEXEC: u32 = 1;
const FSMOUNT_CLOEXEC: u32 = 1;
const FSCONFIG_SET_FLAG: u32 = 0;
const FSCONFIG_SET_STRING: u32 = 1;
const FSCONFIG_CMD_CREATE: u32 = 6;

/// struct mount_attr.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Attr {
    pub set: u64,
    pub clear: u64,
    /// MS_PRIVATE, MS_SHARED, MS_SLAVE or MS_UNBINDABLE, or 0 for no change.
    pub propagation: u64,
    pub userns_fd: u64,
}

impl Attr {
    pub fn is_empty(&self) -> bool {
        self.set == 0 && self.clear == 0 && self.propagation == 0
    }
}

fn cstr(s: &[u8]) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in a mount argument"))
}

fn fd_result(r: libc::c_long) -> io::Result<OwnedFd> {
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the syscall returned a new fd that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

fn unit_result(r: libc::c_long) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// A detached copy of the mount at `path` (relative to `dirfd`; "" for `dirfd` itself),
/// with its submounts when `recursive`. Nothing else can see or mount over it.
pub fn clone_tree(dirfd: RawFd, path: &Path, recursive: bool) -> io::Result<OwnedFd> {
    let p = cstr(path.as_os_str().as_bytes())?;
    let mut flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= libc::AT_RECURSIVE as u32;
    }
    if path.as_os_str().is_empty() {
        flags |= libc::AT_EMPTY_PATH as u32;
    }
    // SAFETY: open_tree with a valid C string.
    fd_result(unsafe { libc::syscall(libc::SYS_open_tree, dirfd, p.as_ptr(), flags) })
}

/// Changes the attributes of the mount `fd` refers to (and of every mount below it with
/// `recursive`). Only the bits in `attr.set`/`attr.clear` change.
pub fn set_attr(fd: &impl AsRawFd, recursive: bool, attr: &Attr) -> io::Result<()> {
    if attr.is_empty() {
        return Ok(());
    }
    let mut flags = libc::AT_EMPTY_PATH as u32;
    if recursive {
        flags |= libc::AT_RECURSIVE as u32;
    }
    // SAFETY: mount_setattr with a valid struct of the size passed.
    unit_result(unsafe {
        libc::syscall(libc::SYS_mount_setattr, fd.as_raw_fd(), c"".as_ptr(), flags, attr as *const Attr, std::mem::size_of::<Attr>())
    })
}

/// The id of the mount `fd` is on (statx STATX_MNT_ID), as mountinfo's first field.
pub fn mount_id(fd: &impl AsRawFd) -> io::Result<u64> {
    // SAFETY: a zeroed statx is a valid output buffer.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: statx on an fd with an empty path and a valid buffer.
    let r = unsafe { libc::statx(fd.as_raw_fd(), c"".as_ptr(), libc::AT_EMPTY_PATH, libc::STATX_MNT_ID, &mut st) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    if st.stx_mask & libc::STATX_MNT_ID == 0 {
        return Err(io::Error::other("statx gave no mount id"));
    }
    Ok(st.stx_mnt_id)
}

/// Attaches the detached mount `tree` on top of `target` (an fd of the directory or file
/// to mount over, resolved once by the caller). `tree` then refers to the attached mount.
pub fn attach(tree: &OwnedFd, target: &impl AsRawFd) -> io::Result<()> {
    // SAFETY: move_mount between two fds with empty paths.
    unit_result(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    })
}

/// A new, detached filesystem of type `fstype`: `source` and the mount data (`key=value`
/// or bare flags) as filesystem parameters; `attrs` (ATTR_*) on the mount.
pub fn new_fs(fstype: &str, source: Option<&str>, data: &[String], attrs: u64) -> io::Result<OwnedFd> {
    let t = cstr(fstype.as_bytes())?;
    // SAFETY: fsopen with a valid C string.
    let fs = fd_result(unsafe { libc::syscall(libc::SYS_fsopen, t.as_ptr(), FSOPEN_CLOEXEC) })?;
    let config = |cmd: u32, key: Option<&str>, value: Option<&str>| -> io::Result<()> {
        let k = key.map(|k| cstr(k.as_bytes())).transpose()?;
        let v = value.map(|v| cstr(v.as_bytes())).transpose()?;
        let kp = k.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
        let vp = v.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
        // SAFETY: fsconfig on our fs context with valid (or null) C strings.
        unit_result(unsafe { libc::syscall(libc::SYS_fsconfig, fs.as_raw_fd(), cmd, kp, vp, 0) }).map_err(|e| match key {
            Some(k) => io::Error::new(e.kind(), format!("{fstype} option {k:?}: {e}")),
            None => e,
        })
    };
    if let Some(s) = source {
        config(FSCONFIG_SET_STRING, Some("source"), Some(s))?;
    }
    for d in data {
        match d.split_once('=') {
            Some((k, v)) => config(FSCONFIG_SET_STRING, Some(k), Some(v))?,
            None => config(FSCONFIG_SET_FLAG, Some(d), None)?,
        }
    }
    config(FSCONFIG_CMD_CREATE, None, None)?;
    // SAFETY: fsmount of a created fs context.
    fd_result(unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, attrs as libc::c_uint) })
}

/// mountinfo escapes space, tab, newline and backslash as octal.
pub fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_detached_tmpfs_is_made_read_only_through_its_fd() {
        let m = new_fs("tmpfs", Some("tmpfs"), &["mode=700".into(), "size=64k".into()], ATTR_NOSUID).unwrap();
        let st = nix::sys::statvfs::fstatvfs(&m).unwrap();
        assert!(st.flags().contains(nix::sys::statvfs::FsFlags::ST_NOSUID));
        assert!(!st.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY));
        set_attr(&m, false, &Attr { set: ATTR_RDONLY, ..Default::default() }).unwrap();
        let st = nix::sys::statvfs::fstatvfs(&m).unwrap();
        assert!(st.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY));
        assert!(st.flags().contains(nix::sys::statvfs::FsFlags::ST_NOSUID), "set_attr keeps what it was not told to change");
        // A bad option names itself.
        let e = new_fs("tmpfs", None, &["bogus_option_x=1".into()], 0).unwrap_err();
        assert!(e.to_string().contains("bogus_option_x"), "{e}");
    }
}
