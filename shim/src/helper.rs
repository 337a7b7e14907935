//! The library's create and exec clone the container's process from the calling process,
//! and the init runs ordinary Rust code (allocations included) until it execs. berth
//! relies on being single-threaded when it clones (process/clone.rs): no lock can then
//! be held by a thread that does not exist in the child. The shim has threads (ttrpc,
//! the reaper, relays), so every operation that clones or runs hooks happens in a
//! *helper*: a fork(2) of the shim (the libc's fork, glibc's or musl's, which holds the
//! libc's malloc lock across the fork: the shim must use that allocator), single-threaded,
//! that sets the process's stdio, calls the library and reports one result over a pipe.
//! No binary is executed. The helper exits at once; the container's process is
//! reparented to the shim (a subreaper), which reaps it.
//!
//! The helper is also the parent the init's parent-death signal watches until Ready:
//! it lives until the library returns, which is after Ready.

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use berth::container::{self, CreateOptions, ExecOptions, Runtime};

/// What a helper does.
pub enum Job<'a> {
    Create(CreateOptions<'a>),
    Exec(ExecOptions<'a>),
    /// `start` when the container has poststart hooks (their children are waited for).
    Start(&'a str),
    /// `delete --force` when the container has poststop hooks.
    Delete(&'a str),
}

/// The container's stdio for a create or exec: installed as 0, 1, 2 in the helper, from
/// which the process inherits them.
pub type Stdio = [RawFd; 3];

/// A pipe, both ends close-on-exec.
pub fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both fds are fresh and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The outcome of a job: a pid (create, exec) or 0, or the library's error; and the
/// warnings the library logged.
pub struct Outcome {
    pub result: Result<i32, String>,
    pub warnings: String,
}

/// Runs `job` in a helper. `on_fork` is told the helper's pid before its result is
/// awaited (the caller marks it as not a container process).
pub fn run(rt: &Runtime, job: Job, stdio: Option<Stdio>, on_fork: impl FnOnce(i32)) -> std::io::Result<Outcome> {
    let (result_r, result_w) = pipe()?;
    let (log_r, log_w) = pipe()?;
    // SAFETY: the libc's fork; the child below only runs the library's single-threaded code
    // and leaves through _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if pid == 0 {
        drop(result_r);
        drop(log_r);
        child(rt, job, stdio, result_w, log_w);
    }
    on_fork(pid);
    drop(result_w);
    drop(log_w);
    let mut buf = Vec::new();
    std::fs::File::from(result_r).read_to_end(&mut buf)?;
    let mut warnings = String::new();
    let _ = std::fs::File::from(log_r).read_to_string(&mut warnings);
    let text = String::from_utf8_lossy(&buf);
    let result = match text.split_once(' ') {
        Some(("ok", pid)) => pid.trim().parse().map_err(|_| format!("the helper's answer is unreadable: {text:?}")),
        Some(("err", msg)) => Err(msg.to_string()),
        _ => Err(format!("the helper ended without an answer ({})", if text.is_empty() { "killed?" } else { &text })),
    };
    Ok(Outcome { result, warnings })
}

fn child(rt: &Runtime, job: Job, stdio: Option<Stdio>, result_w: OwnedFd, log_w: OwnedFd) -> ! {
    if let Some(fds) = stdio {
        for (target, fd) in fds.iter().enumerate() {
            // SAFETY: dup2 onto 0..2 of fds the caller keeps open.
            if *fd != target as RawFd && unsafe { libc::dup2(*fd, target as RawFd) } < 0 {
                answer(&result_w, &format!("err dup2 stdio: {}", std::io::Error::last_os_error()));
            }
        }
    }
    let log_path = format!("/proc/self/fd/{}", log_w.as_raw_fd());
    berth::logging::init(Some(std::path::Path::new(&log_path)), berth::logging::Format::Text, false);
    let r = match job {
        Job::Create(o) => container::create(rt, &o).map(|c| c.pid),
        Job::Exec(o) => container::exec(rt, &o),
        Job::Start(id) => container::start(rt, id).map(|()| 0),
        Job::Delete(id) => container::delete(rt, id, true).map(|()| 0),
    };
    match r {
        Ok(pid) => answer(&result_w, &format!("ok {pid}")),
        Err(e) => answer(&result_w, &format!("err {e}")),
    }
}

fn answer(fd: &OwnedFd, text: &str) -> ! {
    // SAFETY: write of a buffer we own, then _exit: nothing of the shim's runs in the child.
    unsafe {
        libc::write(fd.as_raw_fd(), text.as_ptr().cast(), text.len());
        libc::_exit(0)
    }
}

#[cfg(test)]
mod tests {
    /// The helper allocates after fork(2) while the shim's other threads allocate: the
    /// allocator must be one the libc keeps consistent across fork. With dlmalloc as the
    /// global allocator (tried on musl) a child forked while another thread held its lock
    /// waits forever; so each child here must exit within 5 s.
    #[test]
    fn a_fork_while_another_thread_allocates_can_allocate() {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let churn = std::thread::spawn(move || {
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                let v: Vec<Vec<u8>> = (0..64).map(|i| vec![0u8; 16 + i * 37]).collect();
                std::hint::black_box(v);
            }
        });
        for _ in 0..300 {
            // SAFETY: the child only allocates, frees and leaves through _exit.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
            if pid == 0 {
                let v: Vec<String> = (0..32).map(|i| "x".repeat(i * 50)).collect();
                std::hint::black_box(v);
                // SAFETY: _exit, no unwinding in the child.
                unsafe { libc::_exit(0) };
            }
            let mut status = 0;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            loop {
                // SAFETY: waitpid of our own child.
                let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
                if r == pid {
                    break;
                }
                if std::time::Instant::now() > deadline {
                    // SAFETY: the child is ours; killed and reaped before failing.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                        libc::waitpid(pid, &mut status, 0);
                    }
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
                    panic!("a forked child hung allocating (the allocator's lock was held across fork)");
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "child status {status:#x}");
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        churn.join().unwrap();
    }
}
