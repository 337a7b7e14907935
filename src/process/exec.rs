//! The last steps before execve: finding the program, closing every fd the container must
//! not inherit, resetting signals, and the exec itself.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("exec: {0:?}: executable file not found in $PATH")]
    NotFound(String),
    #[error("exec: {0:?}: {1}")]
    Bad(String, String),
    /// runc's words for an execve that failed after `start` (printed by the init).
    #[error("exec {0}: {text}", text = crate::util::errno::text(.1))]
    Exec(String, io::Error),
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Resolves argv[0] the way execvp would, with the *container's* PATH (from the process
/// env), inside the container's root. Called before `create` reports success, so that a
/// missing program is a create error, as with runc.
pub fn find_program(arg0: &str, env: &[String]) -> Result<PathBuf, Error> {
    if arg0.contains('/') {
        let p = PathBuf::from(arg0);
        return match std::fs::metadata(&p) {
            Ok(m) if m.is_dir() => Err(Error::Bad(arg0.into(), "is a directory".into())),
            Ok(_) if is_executable(&p) => Ok(p),
            Ok(_) => Err(Error::Bad(arg0.into(), "permission denied".into())),
            // Go's os.Stat error, as runc's LookPath reports it.
            Err(e) => Err(Error::Bad(arg0.into(), format!("stat {arg0}: {}", crate::util::errno::text(&e)))),
        };
    }
    let path = env.iter().find_map(|e| e.strip_prefix("PATH=")).unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    path.split(':')
        .map(|d| Path::new(if d.is_empty() { "." } else { d }).join(arg0))
        .find(|p| is_executable(p))
        .ok_or_else(|| Error::NotFound(arg0.into()))
}

/// Closes every fd from 3 up, except the listed ones and the preserved range
/// [3, 3 + preserve). Closing (not just close-on-exec) matters before chdir: a leaked
/// directory fd reachable as /proc/self/fd/N would let cwd escape (CVE-2024-21626).
pub fn close_fds_except(keep: &[i32], preserve: u32) {
    let mut keep: Vec<u32> = keep.iter().filter(|f| **f >= 0).map(|f| *f as u32).collect();
    keep.sort_unstable();
    let mut from = 3 + preserve;
    let start = from;
    for k in keep.into_iter().filter(|k| *k >= start) {
        if k > from {
            // SAFETY: close_range on a range of our own fds.
            unsafe { libc::syscall(libc::SYS_close_range, from, k - 1, 0) };
        }
        from = k + 1;
    }
    // SAFETY: as above, to the end of the table.
    unsafe { libc::syscall(libc::SYS_close_range, from, u32::MAX, 0) };
}

/// Resets every signal disposition to the default and unblocks all signals. execve keeps
/// ignored signals ignored and the mask as it is; Rust's runtime ignores SIGPIPE and
/// `run` blocks signals to forward them, neither of which the container must inherit.
pub fn reset_signals() {
    // SAFETY: plain signal syscalls on our own process.
    unsafe {
        for sig in 1..libc::SIGRTMAX() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

fn cstrings<'a>(v: impl Iterator<Item = &'a [u8]>) -> Vec<CString> {
    v.filter_map(|s| CString::new(s).ok()).collect()
}

/// execve; returns only on failure.
pub fn exec(program: &Path, args: &[String], env: &[String]) -> Error {
    let prog = match CString::new(program.as_os_str().as_bytes()) {
        Ok(p) => p,
        Err(_) => return Error::Bad(program.display().to_string(), "contains a NUL byte".into()),
    };
    let argv = cstrings(args.iter().map(|s| s.as_bytes()));
    let envp = cstrings(env.iter().map(|s| s.as_bytes()));
    let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|c| c.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut envp_p: Vec<*const libc::c_char> = envp.iter().map(|c| c.as_ptr()).collect();
    envp_p.push(std::ptr::null());
    // SAFETY: NUL-terminated arrays of valid C strings that outlive the call.
    unsafe { libc::execve(prog.as_ptr(), argv_p.as_ptr(), envp_p.as_ptr()) };
    Error::Exec(program.display().to_string(), io::Error::last_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_programs_like_execvp() {
        assert_eq!(find_program("sh", &["PATH=/nonexistent:/bin".into()]).unwrap(), PathBuf::from("/bin/sh"));
        assert!(matches!(find_program("no-such-prog-berth", &[]), Err(Error::NotFound(_))));
        assert!(matches!(find_program("/etc", &[]), Err(Error::Bad(..))));
        assert!(matches!(find_program("/etc/passwd", &[]), Err(Error::Bad(..))));
    }
}
