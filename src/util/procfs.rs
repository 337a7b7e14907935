//! Every read and write of a /proc file goes through a `ProcFs`: an fd on the root of a
//! procfs verified to be one (fstatfs == PROC_SUPER_MAGIC, root inode), with paths below
//! it resolved by openat2 with no symlink followed, no mount crossed and nothing above it.
//!
//! Attack stopped (CVE-2025-52881 class): a container that controls its /proc, through a
//! bind mount in config.json, a shared volume raced with another container, or a rootfs
//! whose /proc is a symlink, could redirect a runtime write of "/proc/sys/…" or
//! "/proc/self/attr/…" to any file. The init and the exec child therefore use a procfs
//! instance of their own (`private`: fsopen+fsmount, a detached mount nothing can be
//! mounted over, in their own pid namespace), falling back to a detached clone of /proc
//! (open_tree) and last to /proc itself, each checked. The runtime side, which lives in
//! the host's mount namespace where no container can mount, uses the host's /proc,
//! checked the same way (`host`).
//!
//! `self` is a symlink in procfs; "self/…" is resolved here by reading it (the caller's
//! pid as that procfs numbers it), so lookups still follow no link.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;

const PROC_SUPER_MAGIC: i64 = 0x9fa0;
const PROC_ROOT_INO: u64 = 1;
const RESOLVE_NO_XDEV: u64 = 0x01;
const RESOLVE_NO_SYMLINKS: u64 = 0x04;
const RESOLVE_BENEATH: u64 = 0x08;

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// A verified procfs root.
#[derive(Debug)]
pub struct ProcFs {
    root: OwnedFd,
}

fn verify(fd: OwnedFd) -> io::Result<ProcFs> {
    // SAFETY: fstatfs/fstat into zeroed structs on an fd we own.
    let (sfs, st) = unsafe {
        let mut sfs: libc::statfs = std::mem::zeroed();
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstatfs(fd.as_raw_fd(), &mut sfs) != 0 || libc::fstat(fd.as_raw_fd(), &mut st) != 0 {
            return Err(io::Error::last_os_error());
        }
        (sfs, st)
    };
    if sfs.f_type as i64 != PROC_SUPER_MAGIC || st.st_ino != PROC_ROOT_INO {
        return Err(io::Error::other("not the root of a procfs"));
    }
    Ok(ProcFs { root: fd })
}

impl ProcFs {
    /// The host's /proc as the runtime sees it, verified; opened once per process.
    pub fn host() -> io::Result<&'static ProcFs> {
        static HOST: OnceLock<ProcFs> = OnceLock::new();
        if let Some(p) = HOST.get() {
            return Ok(p);
        }
        let fd = open_dir_path(c"/proc")?;
        let p = verify(fd)?;
        Ok(HOST.get_or_init(|| p))
    }

    /// A procfs instance of the caller's own, for a process that sets up or enters a
    /// container (see the module's text for the fallback chain).
    pub fn private() -> io::Result<ProcFs> {
        let made = super::mount::new_fs("proc", Some("proc"), &[], super::mount::ATTR_NOSUID | super::mount::ATTR_NODEV | super::mount::ATTR_NOEXEC);
        if let Ok(p) = made.and_then(verify) {
            return Ok(p);
        }
        if let Ok(p) = super::mount::clone_tree(libc::AT_FDCWD, std::path::Path::new("/proc"), false).and_then(verify) {
            return Ok(p);
        }
        verify(open_dir_path(c"/proc")?)
    }

    pub fn raw(&self) -> RawFd {
        self.root.as_raw_fd()
    }

    /// "self/x" → "<our pid in this procfs>/x"; other paths unchanged.
    fn resolve_self(&self, rel: &str) -> io::Result<String> {
        let rest = match rel.strip_prefix("self") {
            Some(r) if r.is_empty() || r.starts_with('/') => r,
            _ => return Ok(rel.to_string()),
        };
        let mut buf = [0u8; 32];
        // SAFETY: readlinkat into a buffer of the given size.
        let n = unsafe { libc::readlinkat(self.root.as_raw_fd(), c"self".as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            return Err(io::Error::last_os_error());
        }
        let pid = &buf[..n as usize];
        if !pid.iter().all(u8::is_ascii_digit) {
            return Err(io::Error::other("procfs self is not a pid"));
        }
        Ok(format!("{}{rest}", String::from_utf8_lossy(pid)))
    }

    /// Opens `rel` (e.g. "sys/kernel/hostname", "self/oom_score_adj", "1234/stat")
    /// beneath the root, following no symlink and crossing no mount.
    pub fn open(&self, rel: &str, flags: i32) -> io::Result<File> {
        let rel = self.resolve_self(rel)?;
        if rel.is_empty() || rel.starts_with('/') || rel.split('/').any(|c| c == ".." || c.is_empty()) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("bad /proc path {rel:?}")));
        }
        let c = CString::new(rel).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        self.open_checked(&c, flags)
    }

    /// `open` of a path already known to be relative, with no `..`, empty part or `self`.
    fn open_checked(&self, c: &std::ffi::CStr, flags: i32) -> io::Result<File> {
        let how = OpenHow { flags: (flags | libc::O_CLOEXEC | libc::O_NOCTTY) as u64, mode: 0, resolve: RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH };
        loop {
            // SAFETY: openat2 with a valid C string and open_how of the size passed.
            let r = unsafe { libc::syscall(libc::SYS_openat2, self.root.as_raw_fd(), c.as_ptr(), &how as *const OpenHow, std::mem::size_of::<OpenHow>()) };
            if r >= 0 {
                // SAFETY: a new fd owned by nobody else.
                return Ok(unsafe { File::from_raw_fd(r as RawFd) });
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted && e.raw_os_error() != Some(libc::EAGAIN) {
                return Err(e);
            }
        }
    }

    /// One read(2) of `<pid>/<name>` (`name` a file of the pid's directory, such as
    /// "stat") into `buf`: the bytes read. No allocation: `list` reads every container's
    /// init so.
    pub fn read_pid_into(&self, pid: u32, name: &str, buf: &mut [u8]) -> io::Result<usize> {
        let mut digits = [0u8; 10];
        let (mut n, mut i) = (pid, digits.len());
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        let invalid = || io::Error::from(io::ErrorKind::InvalidInput);
        let mut f = super::fs::with_c_path(&[&digits[i..], b"/", name.as_bytes()], |c| self.open_checked(c, libc::O_RDONLY)).ok_or_else(invalid)??;
        loop {
            match f.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r,
            }
        }
    }

    /// Writes `data` to an existing /proc file in one write(2), as the kernel wants.
    pub fn write(&self, rel: &str, data: &str) -> io::Result<()> {
        let mut f = self.open(rel, libc::O_WRONLY)?;
        f.write_all(data.as_bytes())
    }

    /// Reads a small /proc file with one read(2) (see util::fs::read_small).
    pub fn read_small(&self, rel: &str) -> io::Result<String> {
        let mut f = self.open(rel, libc::O_RDONLY)?;
        let mut buf = [0u8; 1024];
        let n = loop {
            match f.read(&mut buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r?,
            }
        };
        if n < buf.len() {
            return Ok(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        let mut rest = buf[..n].to_vec();
        f.read_to_end(&mut rest)?;
        Ok(String::from_utf8_lossy(&rest).into_owned())
    }
}

fn open_dir_path(p: &std::ffi::CStr) -> io::Result<OwnedFd> {
    // SAFETY: open with a valid C string; the result is a new fd.
    let fd = unsafe { libc::open(p.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is new.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_through_self_and_refuses_what_is_not_procfs() {
        let p = ProcFs::host().unwrap();
        let me = p.read_small("self/stat").unwrap();
        assert!(me.starts_with(&format!("{} (", std::process::id())), "{me}");
        assert!(p.open("self/../1/stat", libc::O_RDONLY).is_err(), "no ..");
        assert!(p.open("/etc/passwd", libc::O_RDONLY).is_err(), "no absolute path");
        // A symlink below the root is not followed (self/exe, self/cwd are links).
        assert!(p.open("self/cwd/x", libc::O_RDONLY).is_err());
        // /sys is not procfs, and a subdirectory of /proc is not its root.
        assert!(verify(open_dir_path(c"/sys").unwrap()).is_err());
        assert!(verify(open_dir_path(c"/proc/sys").unwrap()).is_err());
        let mut buf = [0u8; 1024];
        let n = p.read_pid_into(std::process::id(), "stat", &mut buf).unwrap();
        // The same process's line (its counters move between two reads).
        assert!(buf[..n].starts_with(format!("{} (", std::process::id()).as_bytes()) && buf[n - 1] == b'\n');
        assert!(p.read_pid_into(1, "../1", &mut buf).is_err(), "a name is one plain part");
        assert!(p.read_pid_into(1, "", &mut buf).is_err());
        let own = ProcFs::private().unwrap();
        assert!(own.read_small("self/status").unwrap().contains("Name:"));
    }
}
