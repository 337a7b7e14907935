//! File helpers: atomic replacement (state files, pid files) and small writes.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Writes `data` to `path` through a temporary file in the same directory and a rename,
/// so that a reader sees the old content or the new one, never a torn write.
///
/// Attack stopped: the directory may be writable by others (a pid file in /tmp), so the
/// temporary file is made with O_CREAT|O_EXCL (which never follows a link planted at
/// its name) under a random name; a name that exists is simply another try.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let (tmp, mut f) = create_unique(dir, &name, mode)?;
    let result = f.write_all(data).and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Writes a file that must not exist yet (O_EXCL|O_NOFOLLOW).
pub fn write_new(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let mut f = OpenOptions::new().write(true).create_new(true).mode(mode).custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW).open(path)?;
    f.write_all(data)
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    // SAFETY: getrandom into a buffer of the given size; a short read leaves zeros, and
    // the name still differs by the time stamp mixed in below.
    unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), libc::GRND_NONBLOCK) };
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    u64::from_le_bytes(b) ^ t.rotate_left(17) ^ u64::from(std::process::id())
}

/// A new file `.<name>.<random>.tmp` in `dir`, made with O_EXCL|O_NOFOLLOW.
fn create_unique(dir: &Path, name: &str, mode: u32) -> io::Result<(std::path::PathBuf, File)> {
    let mut last = io::Error::from(io::ErrorKind::AlreadyExists);
    for _ in 0..16 {
        let tmp = dir.join(format!(".{name}.{:016x}.tmp", random_u64()));
        match OpenOptions::new().write(true).create_new(true).mode(mode).custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// `f` given `parts` joined into one C string, built on the stack (hot paths make one per
/// container: `list`). None when they do not fit 1100 bytes (a container id is at most
/// 1024) or hold a NUL (refused, not cut short).
pub fn with_c_path<R>(parts: &[&[u8]], f: impl FnOnce(&std::ffi::CStr) -> R) -> Option<R> {
    let mut buf = [0u8; 1100];
    let mut len = 0;
    for p in parts {
        buf.get_mut(len..len + p.len())?.copy_from_slice(p);
        len += p.len();
    }
    let c = std::ffi::CStr::from_bytes_until_nul(buf.get(..=len)?).ok().filter(|c| c.to_bytes().len() == len)?;
    Some(f(c))
}

/// Reads a small kernel-made file (procfs, cgroupfs) with one read(2) into a stack
/// buffer: such files hand over their whole content on the first read when it fits, and
/// report size 0, so a growing read would probe 32, 64, 128... bytes (six reads for a
/// /proc/<pid>/stat line). Falls back to a full read when the buffer filled up.
pub fn read_small(path: &Path) -> io::Result<String> {
    let mut f = open_cloexec(path)?;
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
    fs::read_to_string(path)
}

/// One read(2) of `f` into `buf` (cleared; grown first to hold at least 16 KiB): what a
/// small file holds, or its first part. True when the read filled `buf`: there may be
/// more. Less than asked is all there is: Linux's read of a regular file stops short
/// only at its end (or on an error or fatal signal), so the read that would return 0
/// is saved.
pub fn read_once(f: &File, buf: &mut Vec<u8>) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    buf.clear();
    buf.reserve(16 * 1024);
    let spare = buf.spare_capacity_mut();
    let n = loop {
        // SAFETY: read into the vector's spare capacity, at most its length.
        let n = unsafe { libc::read(f.as_raw_fd(), spare.as_mut_ptr().cast(), spare.len()) };
        if n >= 0 {
            break n as usize;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    let filled = n == spare.len();
    // SAFETY: the kernel initialised the first n bytes of the spare capacity.
    unsafe { buf.set_len(n) };
    Ok(filled)
}

/// Writes a short string to an existing file (cgroup and /proc knobs): one write call.
pub fn write_file(path: &Path, data: &str) -> io::Result<()> {
    let mut f = OpenOptions::new().write(true).custom_flags(libc::O_CLOEXEC).open(path)?;
    f.write_all(data.as_bytes())
}

pub fn open_cloexec(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).custom_flags(libc::O_CLOEXEC).open(path)
}

/// The names in a directory (not `.` and `..`), read through a close-on-exec duplicate of
/// `dir` (an O_RDONLY directory fd).
pub fn dir_names(dir: std::os::fd::BorrowedFd) -> std::io::Result<Vec<std::ffi::CString>> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // SAFETY: F_DUPFD_CLOEXEC of a valid fd; the copy is owned by the Dir below.
    let dup = unsafe { libc::fcntl(dir.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
    if dup < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: dup is new and ours.
    let mut d = nix::dir::Dir::from_fd(unsafe { OwnedFd::from_raw_fd(dup) }).map_err(std::io::Error::from)?;
    let mut out = Vec::new();
    for e in d.iter() {
        let e = e.map_err(std::io::Error::from)?;
        let n = e.file_name();
        if n.to_bytes() != b"." && n.to_bytes() != b".." {
            out.push(n.to_owned());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atomic_write_never_follows_a_link_planted_at_its_temporary_name() {
        let d = std::env::temp_dir().join(format!("berth-atomic-{}", std::process::id()));
        fs::create_dir_all(&d).unwrap();
        let canary = d.join("canary");
        fs::write(&canary, "canary").unwrap();
        // Links at the names the old scheme used (.NAME.PID.tmp) and a few others.
        for n in [format!(".pid.{}.tmp", std::process::id()), ".pid.tmp".into()] {
            std::os::unix::fs::symlink(&canary, d.join(n)).unwrap();
        }
        write_atomic(&d.join("pid"), b"42", 0o644).unwrap();
        assert_eq!(fs::read_to_string(d.join("pid")).unwrap(), "42");
        assert_eq!(fs::read_to_string(&canary).unwrap(), "canary");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_c_path_is_the_parts_joined_and_refuses_a_nul_or_an_overlong_name() {
        assert_eq!(with_c_path(&[b"abc", b"/", b"state.json"], |c| c.to_bytes().to_vec()), Some(b"abc/state.json".to_vec()));
        assert_eq!(with_c_path(&[b"a\0b"], |_| ()), None, "a NUL inside is refused, not cut short");
        let long = [b'x'; 1099];
        assert_eq!(with_c_path(&[&long], |c| c.to_bytes().len()), Some(1099));
        assert_eq!(with_c_path(&[&long, b"y"], |_| ()), None);
    }
}
