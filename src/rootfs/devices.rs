//! /dev inside the container: the default devices every container gets, `linux.devices`,
//! and the standard symlinks. In a user namespace mknod is not allowed, so devices are
//! bind mounts of the host's nodes onto empty files, as runc does.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use super::paths::{self, Kind};
use super::Error;
use crate::util::mount as m;

/// A device node to create: (path, type, major, minor, mode, uid, gid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub path: String,
    pub kind: u32,
    pub major: i64,
    pub minor: i64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// config-linux.md "Default Devices": the runtime MUST supply these.
pub fn defaults() -> Vec<Node> {
    [("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7), ("/dev/random", 1, 8), ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0)]
        .iter()
        .map(|(p, ma, mi)| Node { path: p.to_string(), kind: libc::S_IFCHR, major: *ma, minor: *mi, mode: 0o666, uid: 0, gid: 0 })
        .collect()
}

pub fn from_spec(index: usize, d: &LinuxDevice) -> Result<Node, Error> {
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
        LinuxDeviceType::B => libc::S_IFBLK,
        LinuxDeviceType::P => libc::S_IFIFO,
        LinuxDeviceType::A => return Err(Error::Config(format!("linux.devices[{index}].type"), "\"a\" is not a device type".into())),
    };
    if !d.path().is_absolute() {
        return Err(Error::Config(format!("linux.devices[{index}].path"), "must be absolute".into()));
    }
    Ok(Node {
        path: d.path().to_string_lossy().into_owned(),
        kind,
        major: d.major(),
        minor: d.minor(),
        mode: d.file_mode().unwrap_or(0o666) & 0o7777,
        uid: d.uid().unwrap_or(0),
        gid: d.gid().unwrap_or(0),
    })
}

fn makedev(major: i64, minor: i64) -> libc::dev_t {
    libc::makedev(major as u32, minor as u32)
}

/// Creates one node under `root`. An existing file is accepted only if it is the same
/// device; anything else is an error (never silently replaced).
///
/// Race stopped: the owner is set on an fd of the node just made (checked to be that
/// node), never by a name looked up again, and the mode is exact from mknod itself (the
/// umask is cleared around it), so no chmod by name follows a swapped-in link.
pub fn create(root: RawFd, n: &Node, in_userns: bool) -> Result<(), Error> {
    let rel = paths::relative(Path::new(&n.path));
    let err = |reason: String| Error::Device { path: n.path.clone(), reason };
    let same = |st: &libc::stat| (st.st_mode & libc::S_IFMT) == n.kind && (n.kind == libc::S_IFIFO || st.st_rdev == makedev(n.major, n.minor));
    if let Ok(fd) = paths::open_in_root(root, &rel, libc::O_PATH | libc::O_NOFOLLOW, 0) {
        let st = nix::sys::stat::fstat(&fd).map_err(|e| err(e.to_string()))?;
        if same(&st) {
            return Ok(());
        }
        return Err(err("exists and is not the requested device".into()));
    }
    if in_userns {
        // mknod is not allowed in a user namespace: a bind of the host's node.
        let tree = m::clone_tree(libc::AT_FDCWD, Path::new(&n.path), false).map_err(|e| err(format!("bind from host: {e}")))?;
        let target = paths::ensure_in_root(root, &rel, Kind::File).map_err(|e| err(e.to_string()))?;
        return m::attach(&tree, &target).map_err(|e| err(format!("bind from host: {e}")));
    }
    let parent_rel = rel.parent().unwrap_or(Path::new(""));
    let parent = paths::ensure_in_root(root, parent_rel, Kind::Dir).map_err(|e| err(e.to_string()))?;
    let name = rel.file_name().ok_or_else(|| err("no file name".into()))?;
    let cname = CString::new(name.as_encoded_bytes()).map_err(|_| err("bad name".into()))?;
    // SAFETY: umask/mknodat relative to a directory fd inside the root (O_PATH directory
    // fds are valid for *at calls); the umask is restored at once (single-threaded init).
    let r = unsafe {
        let old = libc::umask(0);
        let r = libc::mknodat(parent.as_raw_fd(), cname.as_ptr(), n.kind | n.mode, makedev(n.major, n.minor));
        libc::umask(old);
        r
    };
    if r != 0 {
        return Err(err(format!("mknod: {}", std::io::Error::last_os_error())));
    }
    if cfg!(debug_assertions) {
        crate::util::testpoint::hit(&format!("devices:made:{}", n.path));
    }
    // SAFETY: openat of the name just made, not following a link.
    let fd = unsafe { libc::openat(parent.as_raw_fd(), cname.as_ptr(), libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(err(format!("open after mknod: {}", std::io::Error::last_os_error())));
    }
    // SAFETY: fd is new and ours.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let st = nix::sys::stat::fstat(&fd).map_err(|e| err(e.to_string()))?;
    if !same(&st) {
        return Err(err("replaced while being made".into()));
    }
    if (n.uid, n.gid) != (st.st_uid, st.st_gid) {
        // SAFETY: fchownat on the node's own fd (AT_EMPTY_PATH).
        if unsafe { libc::fchownat(fd.as_raw_fd(), c"".as_ptr(), n.uid, n.gid, libc::AT_EMPTY_PATH) } != 0 {
            return Err(err(format!("chown: {}", std::io::Error::last_os_error())));
        }
    }
    Ok(())
}

/// /dev/fd, /dev/std{in,out,err} and /dev/ptmx, as runc makes them.
pub fn symlinks(root: RawFd) -> Result<(), Error> {
    let dev = paths::ensure_in_root(root, Path::new("dev"), Kind::Dir).map_err(|e| Error::Device { path: "/dev".into(), reason: e.to_string() })?;
    for (target, name) in [(c"/proc/self/fd", c"fd"), (c"/proc/self/fd/0", c"stdin"), (c"/proc/self/fd/1", c"stdout"), (c"/proc/self/fd/2", c"stderr"), (c"pts/ptmx", c"ptmx")] {
        // SAFETY: symlinkat relative to the /dev directory fd inside the root.
        if unsafe { libc::symlinkat(target.as_ptr(), dev.as_raw_fd(), name.as_ptr()) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EEXIST) {
                return Err(Error::Device { path: format!("/dev/{}", name.to_string_lossy()), reason: e.to_string() });
            }
        }
    }
    Ok(())
}
