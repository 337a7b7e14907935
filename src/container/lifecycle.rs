//! start, kill and delete (runtime.md "Operations"), each under the container's lock.

use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

use crate::hooks::{self, Kind};
use crate::logging;
use crate::util;

use super::{io_err, Container, Error, Runtime, Status};

/// Releases a created container's init so that it execs the user's program, then runs
/// the poststart hooks (a failure there is only a warning, per runtime.md).
pub fn start(rt: &Runtime, id: &str) -> Result<(), Error> {
    let c = Container::load(rt, id)?;
    let status = c.status();
    if !status.can_start() {
        let why = match status {
            Status::Stopped => "cannot start a container that has stopped".to_string(),
            Status::Running => "cannot start an already running container".to_string(),
            s => format!("cannot start a container in the {} state", s.as_str()),
        };
        return Err(Error::WrongState(why));
    }
    let fifo_path = c.dir.fifo_path();
    // The saved config stays unparsed unless it can hold poststart hooks: nothing to parse
    // on the way to releasing the init.
    let poststart = c.state.has_hooks(Kind::Poststart);
    // Poststart hooks run "after the user-specified process is executed": the init keeps its
    // (close-on-exec) end of the fifo through its startContainer hooks, so a read end opened
    // here sees the last writer go exactly when the init execs (or dies).
    let exec_watch = match poststart {
        true => Some(std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&fifo_path).map_err(io_err("open exec.fifo"))?),
        false => None,
    };
    // O_NONBLOCK: with no reader (the init died) this fails with ENXIO instead of hanging.
    let mut fifo = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&fifo_path)
        .map_err(|e| if e.raw_os_error() == Some(libc::ENXIO) { Error::WrongState("container init is not running".into()) } else { io_err("open exec.fifo")(e) })?;
    // Gone before the write: from this point the container is no longer `created`.
    std::fs::remove_file(&fifo_path).map_err(io_err("remove exec.fifo"))?;
    fifo.write_all(&[0]).map_err(io_err("release the container init"))?;
    drop(fifo);
    let Some(r) = exec_watch else { return Ok(()) };
    wait_for_last_writer(&r);
    let spec = c.spec();
    let state = c.hook_state(Status::Running);
    for e in hooks::run_all_warn(spec.as_ref().and_then(|s| s.hooks().as_ref()), Kind::Poststart, &state) {
        logging::warn(&e.to_string());
    }
    Ok(())
}

/// Blocks until no process holds the fifo open for writing. poll with no events asked:
/// only the hang-up wakes it, never the byte left for the init to read.
fn wait_for_last_writer(fd: &std::fs::File) {
    let mut p = libc::pollfd { fd: fd.as_raw_fd(), events: 0, revents: 0 };
    loop {
        // SAFETY: one pollfd we own.
        let r = unsafe { libc::poll(&mut p, 1, -1) };
        if r > 0 || (r < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted) {
            return;
        }
    }
}

fn pidfd_for(pid: i32, start_time: u64) -> Option<OwnedFd> {
    // SAFETY: pidfd_open returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: fd is new and ours.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    // Checked after opening: the pidfd now pins this very process, so a pid reused
    // between the check and the signal cannot be hit.
    util::proc::is_alive(pid, start_time).then_some(fd)
}

fn send(pidfd: &OwnedFd, sig: i32) -> std::io::Result<()> {
    // SAFETY: pidfd_send_signal on a pidfd we own, no siginfo.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_send_signal, pidfd.as_raw_fd(), sig, std::ptr::null::<u8>(), 0) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Sends `sig` to the container's init, or with `all` to every process in its cgroup.
pub fn kill(rt: &Runtime, id: &str, sig: i32, all: bool) -> Result<(), Error> {
    let c = Container::load(rt, id)?;
    if !c.status().can_kill() {
        return Err(Error::WrongState("container not running".into()));
    }
    if all {
        return signal_all(&c, sig);
    }
    let fd = pidfd_for(c.state.pid, c.state.start_time).ok_or_else(|| Error::WrongState("container not running".into()))?;
    send(&fd, sig).map_err(io_err(format!("kill container {id}")))
}

/// Signals every process of the container's cgroup. The cgroup is frozen meanwhile (when
/// it can be) so that no process forks a child that escapes the signal.
fn signal_all(c: &Container, sig: i32) -> Result<(), Error> {
    let cg = &c.state.cgroup;
    // An empty cgroup (the usual case once the init has exited) needs no freeze: nothing
    // in it can fork between the listing and the kill.
    if sig == libc::SIGKILL && cg.pids()?.is_empty() {
        return Ok(());
    }
    let was_frozen = cg.is_frozen();
    let froze = !was_frozen && sig == libc::SIGKILL && cg.set_frozen(true).is_ok();
    let pids = cg.pids()?;
    for pid in pids {
        // SAFETY: kill by pid of a process in the container's own cgroup.
        unsafe { libc::kill(pid, sig) };
    }
    if froze {
        cg.set_frozen(false)?;
    }
    Ok(())
}

/// What a create that died may have left running: its init (by the pid and start time of
/// its record) and anything else holding the container's exec.fifo open. Killed, and
/// waited for, so that its cgroup can then be removed.
fn reap_unfinished(c: &Container) {
    let mut pids = Vec::new();
    if let Some(fd) = pidfd_for(c.state.pid, c.state.start_time) {
        let _ = send(&fd, libc::SIGKILL);
        pids.push((c.state.pid, c.state.start_time));
    }
    if let Ok(st) = std::fs::metadata(c.dir.fifo_path()) {
        use std::os::unix::fs::MetadataExt;
        for pid in fifo_holders(st.dev(), st.ino()) {
            if let Some(s) = util::proc::stat(pid) {
                if let Some(fd) = pidfd_for(pid, s.start_time) {
                    let _ = send(&fd, libc::SIGKILL);
                    pids.push((pid, s.start_time));
                }
            }
        }
    }
    for (pid, start) in pids {
        wait_gone(pid, start, Duration::from_secs(5));
    }
}

/// Processes with an open fd on the file (dev, ino), from /proc/<pid>/fd.
fn fifo_holders(dev: u64, ino: u64) -> Vec<i32> {
    use std::os::unix::fs::MetadataExt;
    let Ok(rd) = std::fs::read_dir("/proc") else { return Vec::new() };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_dir(format!("/proc/{pid}/fd"))
                .into_iter()
                .flatten()
                .flatten()
                .any(|fd| std::fs::metadata(fd.path()).is_ok_and(|m| m.dev() == dev && m.ino() == ino))
        })
        .collect()
}

/// Waits until the process is gone (or a zombie), up to `t`. True if it is gone.
pub fn wait_gone(pid: i32, start_time: u64, t: Duration) -> bool {
    let Some(fd) = pidfd_for(pid, start_time) else { return true };
    let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: poll on one valid pollfd.
    let r = unsafe { libc::poll(&mut pfd, 1, t.as_millis().min(i32::MAX as u128) as i32) };
    r > 0 || !util::proc::is_alive(pid, start_time)
}

/// Deletes a container. A `created` one is killed first (its user program never ran);
/// a running or paused one only with `force`. With `force`, a missing container is fine.
pub fn delete(rt: &Runtime, id: &str, force: bool) -> Result<(), Error> {
    let c = match Container::load(rt, id) {
        Ok(c) => c,
        Err(Error::State(super::state::Error::NotFound(_))) if force => {
            // A directory without a state file is what a create killed before its first
            // record leaves (older berth); nothing else was made yet.
            if let Some(dir) = super::ContainerDir::open_any(&rt.root, id)? {
                dir.remove()?;
            }
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let status = c.status();
    if !status.can_delete() && !force {
        return Err(Error::WrongState(format!("cannot delete container {id} that is not stopped: {}", status.as_str())));
    }
    if status != Status::Stopped {
        signal_all(&c, libc::SIGKILL)?;
        if status == Status::Paused {
            c.state.cgroup.set_frozen(false)?;
        }
        if let Some(fd) = pidfd_for(c.state.pid, c.state.start_time) {
            let _ = send(&fd, libc::SIGKILL);
        }
        if !wait_gone(c.state.pid, c.state.start_time, Duration::from_secs(10)) {
            return Err(Error::WrongState(format!("container {id}: init did not exit after SIGKILL")));
        }
    }
    destroy(c)
}

/// Removes what the container left: remaining processes (no private pid namespace keeps
/// them), the cgroup, then poststop hooks and the state directory. A cgroup that cannot
/// be removed fails the delete and keeps the state: it is the only record of that cgroup,
/// and a later delete retries (found by fault injection: one failed rmdir lost it).
fn destroy(c: Container) -> Result<(), Error> {
    if c.state.creating {
        reap_unfinished(&c);
    }
    let _ = signal_all(&c, libc::SIGKILL);
    c.state.cgroup.destroy()?;
    // As in start: the saved config is parsed only when it can hold poststop hooks.
    if c.state.has_hooks(Kind::Poststop) {
        let spec = c.spec();
        let state = c.hook_state(Status::Stopped);
        for e in hooks::run_all_warn(spec.as_ref().and_then(|s| s.hooks().as_ref()), Kind::Poststop, &state) {
            logging::warn(&e.to_string());
        }
    }
    c.dir.remove()?;
    Ok(())
}

/// pause (freeze) or resume (thaw) every process of the container.
pub fn pause(rt: &Runtime, id: &str, freeze: bool) -> Result<(), Error> {
    let c = Container::load(rt, id)?;
    let status = c.status();
    if freeze && !status.can_pause() {
        return Err(Error::WrongState(format!("container {id} is not running: {}", status.as_str())));
    }
    if !freeze && !status.can_resume() {
        return Err(Error::WrongState(format!("container {id} is not paused: {}", status.as_str())));
    }
    c.state.cgroup.set_frozen(freeze)?;
    Ok(())
}
