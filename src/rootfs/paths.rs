//! Resolving paths *inside* the container's rootfs, safely.
//!
//! Attack stopped: a rootfs (an image layer) may contain symlinks such as
//! `etc -> /etc` or `a -> ../../..`. Joining strings and calling mount() on the result
//! would follow them on the host and mount or write outside the container. Every
//! destination is instead resolved with openat2(RESOLVE_IN_ROOT), which treats the
//! rootfs as `/` for absolute symlinks and `..`, and RESOLVE_NO_MAGICLINKS, which refuses
//! /proc/<pid>/fd style jumps. Mounts are then attached onto the resolved O_PATH fd
//! (util::mount), so no path is looked up twice (no check-then-use window).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_NO_SYMLINKS: u64 = 0x04;
const RESOLVE_IN_ROOT: u64 = 0x10;

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn openat2(root: RawFd, rel: &Path, flags: i32, mode: u32, resolve: u64) -> io::Result<OwnedFd> {
    let rel = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
    let c = cstr(rel)?;
    let how = OpenHow { flags: (flags | libc::O_CLOEXEC) as u64, mode: mode as u64, resolve };
    loop {
        // SAFETY: openat2 with a valid C string and open_how of the size passed.
        let r = unsafe { libc::syscall(libc::SYS_openat2, root, c.as_ptr(), &how as *const OpenHow, std::mem::size_of::<OpenHow>()) };
        if r >= 0 {
            // SAFETY: a new fd owned by nobody else.
            return Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) });
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EAGAIN) && e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// openat2 of `rel` with `root` as the root of resolution.
pub fn open_in_root(root: RawFd, rel: &Path, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    openat2(root, rel, flags, mode, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
}

/// openat2 of `rel` under `root` following no symlink at all (RESOLVE_NO_SYMLINKS), for
/// paths that must be what they are named, such as the terminal's /dev entries.
pub fn open_in_root_nofollow(root: RawFd, rel: &Path, flags: i32) -> io::Result<OwnedFd> {
    openat2(root, rel, flags, 0, RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS)
}

/// What `rel`'s last component is, not following it if it is a symlink (its parents are
/// resolved inside `root`): an O_PATH fd on it when it is a directory, `Ok(None)` when it
/// does not exist, and ENOTDIR when it is anything else, a symlink included.
pub fn open_dir_last_nofollow(root: RawFd, rel: &Path) -> io::Result<Option<OwnedFd>> {
    let rel = relative(rel);
    let (parent, name) = match (rel.parent(), rel.file_name()) {
        (Some(p), Some(n)) => (p, n),
        _ => return Err(io::Error::from_raw_os_error(libc::EINVAL)),
    };
    let dir = match open_in_root(root, parent, libc::O_PATH | libc::O_DIRECTORY, 0) {
        Ok(d) => d,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
        Err(e) => return Err(e),
    };
    let name = cstr(Path::new(name))?;
    // SAFETY: openat relative to a directory fd with a valid C string.
    let r = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC) };
    if r < 0 {
        let e = io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::ENOENT) { Ok(None) } else { Err(e) };
    }
    // SAFETY: a new fd owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(r) };
    let st = nix::sys::stat::fstat(&fd)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
    }
    Ok(Some(fd))
}

/// `/a/b/../c` → `a/b/../c` as a relative path for resolution under a root.
pub fn relative(p: &Path) -> PathBuf {
    p.components().filter(|c| !matches!(c, Component::RootDir | Component::Prefix(_))).collect()
}

/// What to create at a mount destination when it does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

/// Opens (O_PATH) the destination `rel` inside `root`, creating missing directories (and
/// the final file for `Kind::File`) on the way, each within the root.
pub fn ensure_in_root(root: RawFd, rel: &Path, kind: Kind) -> io::Result<OwnedFd> {
    let rel = relative(rel);
    match open_in_root(root, &rel, libc::O_PATH, 0) {
        Ok(fd) => return Ok(fd),
        Err(e) if e.raw_os_error() != Some(libc::ENOENT) => return Err(e),
        Err(_) => {}
    }
    let comps: Vec<_> = rel.components().collect();
    // The deepest ancestor that exists, searched upward: usually the parent, so a missing
    // leaf costs three resolutions, not one per component of its path.
    let mut have = comps.len().saturating_sub(1);
    let mut parent = loop {
        let prefix: PathBuf = comps[..have].iter().collect();
        match open_in_root(root, &prefix, libc::O_PATH, 0) {
            Ok(fd) => break fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) && have > 0 => have -= 1,
            Err(e) => return Err(e),
        }
    };
    let mut prefix: PathBuf = comps[..have].iter().collect();
    for (i, c) in comps.iter().enumerate().skip(have) {
        prefix.push(c);
        let last = i + 1 == comps.len();
        let name = cstr(Path::new(c.as_os_str()))?;
        if last && kind == Kind::File {
            // SAFETY: openat relative to a directory fd inside the root; O_EXCL|O_NOFOLLOW.
            let fd = unsafe {
                libc::openat(parent.as_raw_fd(), name.as_ptr(), libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_WRONLY | libc::O_CLOEXEC, 0o644)
            };
            if fd < 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EEXIST) {
                    return Err(e);
                }
            } else {
                // SAFETY: close the fd just opened.
                unsafe { libc::close(fd) };
            }
        } else {
            // SAFETY: mkdirat relative to a directory fd inside the root.
            let r = unsafe { libc::mkdirat(parent.as_raw_fd(), name.as_ptr(), 0o755) };
            if r != 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EEXIST) {
                    return Err(e);
                }
            }
        }
        parent = open_in_root(root, &prefix, libc::O_PATH, 0)?;
    }
    Ok(parent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn symlinks_cannot_leave_the_root() {
        let base = std::env::temp_dir().join(format!("berth-paths-{}", std::process::id()));
        let root = base.join("root");
        fs::create_dir_all(root.join("d")).unwrap();
        std::os::unix::fs::symlink("/", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../..", root.join("d/up")).unwrap();
        let rootfd = fs::File::open(&root).unwrap();
        let fd = ensure_in_root(rootfd.as_raw_fd(), Path::new("/abs/escape/x"), Kind::Dir).unwrap();
        drop(fd);
        // The directory was made inside the root, not at the host's /escape.
        assert!(root.join("escape/x").is_dir());
        assert!(!Path::new("/escape").exists());
        let f = ensure_in_root(rootfd.as_raw_fd(), Path::new("d/up/file"), Kind::File).unwrap();
        drop(f);
        assert!(root.join("file").is_file());
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn missing_directories_are_made_at_any_depth_and_dotdot_stays_inside() {
        let base = std::env::temp_dir().join(format!("berth-paths-deep-{}", std::process::id()));
        let root = base.join("root");
        fs::create_dir_all(root.join("a")).unwrap();
        let rootfd = fs::File::open(&root).unwrap();
        drop(ensure_in_root(rootfd.as_raw_fd(), Path::new("/a/b/c/d"), Kind::Dir).unwrap());
        assert!(root.join("a/b/c/d").is_dir());
        drop(ensure_in_root(rootfd.as_raw_fd(), Path::new("/x/../../../y/f"), Kind::File).unwrap());
        assert!(root.join("x").is_dir() && root.join("y/f").is_file(), "'..' above the root stays at the root");
        // An existing file in the way is an error, not something to go through.
        fs::write(root.join("a/plain"), "").unwrap();
        assert!(ensure_in_root(rootfd.as_raw_fd(), Path::new("/a/plain/sub"), Kind::Dir).is_err());
        fs::remove_dir_all(&base).unwrap();
    }
}
