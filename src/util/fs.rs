//! File helpers: atomic replacement (state files, pid files) and small writes.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Writes `data` to `path` through a temporary file in the same directory and a rename,
/// so that a reader sees the old content or the new one, never a torn write.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .custom_flags(libc::O_CLOEXEC)
            .open(&tmp)?;
        f.write_all(data)?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
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

/// Writes a short string to an existing file (cgroup and /proc knobs): one write call.
pub fn write_file(path: &Path, data: &str) -> io::Result<()> {
    let mut f = OpenOptions::new().write(true).custom_flags(libc::O_CLOEXEC).open(path)?;
    f.write_all(data.as_bytes())
}

pub fn open_cloexec(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).custom_flags(libc::O_CLOEXEC).open(path)
}
