//! A terminal in the foreground without --console-socket (`run` or `exec -t` from a
//! shell): berth receives the pty master itself and relays between it and its own stdio,
//! puts a terminal stdin in raw mode (restored at the end), propagates window size
//! changes (SIGWINCH), forwards every other catchable signal to the container process,
//! and returns its exit status. One poll loop over stdin, the master and a signalfd.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::tty;

/// The socket pair that stands in for a console socket: (ours, the container's end).
pub fn console_pair() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: socketpair writes two new fds.
    if unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both fds are new and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

struct RawMode {
    saved: Option<libc::termios>,
}

impl RawMode {
    fn enter() -> RawMode {
        // SAFETY: termios calls on stdin; restored in Drop.
        unsafe {
            if libc::isatty(0) != 1 {
                return RawMode { saved: None };
            }
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return RawMode { saved: None };
            }
            let saved = t;
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(0, libc::TCSANOW, &t);
            RawMode { saved: Some(saved) }
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            // SAFETY: restoring the saved termios of stdin.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, t) };
        }
    }
}

/// The size (rows, columns) of the terminal on our stdin, if it is one.
pub fn terminal_size() -> Option<(u16, u16)> {
    // SAFETY: TIOCGWINSZ into a zeroed winsize.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    (unsafe { libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) } == 0 && ws.ws_row > 0).then_some((ws.ws_row, ws.ws_col))
}

fn copy_winsize(master: RawFd) {
    // SAFETY: ioctls with a winsize buffer.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(master, libc::TIOCSWINSZ, &ws);
        }
    }
}

fn write_all(fd: RawFd, mut b: &[u8]) -> bool {
    while !b.is_empty() {
        // SAFETY: writing from a valid buffer.
        let n = unsafe { libc::write(fd, b.as_ptr().cast(), b.len()) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return false;
        }
        b = &b[n as usize..];
    }
    true
}

/// Relays until `pid` exits; returns its exit status (128+N for signal N). `set` are the
/// signals the caller blocked before creating the container. `resize`: give the pty our
/// terminal's size now (not when the process chose its own); later changes always follow.
pub fn relay(ours: OwnedFd, pid: i32, set: &libc::sigset_t, resize: bool) -> Result<i32, tty::Error> {
    let master = tty::recv_fd(ours.as_raw_fd())?;
    drop(ours);
    let _raw = RawMode::enter();
    if resize {
        copy_winsize(master.as_raw_fd());
    }
    // SAFETY: signalfd over the already blocked set.
    let sfd = unsafe { libc::signalfd(-1, set, libc::SFD_CLOEXEC) };
    if sfd < 0 {
        return Err(tty::Error::Pty { what: "signalfd", source: std::io::Error::last_os_error() });
    }
    // SAFETY: sfd is new.
    let sfd = unsafe { OwnedFd::from_raw_fd(sfd) };
    let mut stdin_open = true;
    let mut buf = [0u8; 8192];
    loop {
        if let Some(code) = super::run::reap(pid) {
            drain(master.as_raw_fd(), &mut buf);
            return Ok(code);
        }
        let mut fds = [
            libc::pollfd { fd: sfd.as_raw_fd(), events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: master.as_raw_fd(), events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: if stdin_open { 0 } else { -1 }, events: libc::POLLIN, revents: 0 },
        ];
        // SAFETY: poll over three pollfds.
        if unsafe { libc::poll(fds.as_mut_ptr(), 3, -1) } < 0 {
            continue;
        }
        if fds[0].revents & libc::POLLIN != 0 {
            // SAFETY: reading one signalfd_siginfo.
            let mut si: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            let n = unsafe { libc::read(sfd.as_raw_fd(), (&mut si as *mut libc::signalfd_siginfo).cast(), std::mem::size_of::<libc::signalfd_siginfo>()) };
            if n > 0 {
                match si.ssi_signo as i32 {
                    libc::SIGCHLD => {}
                    libc::SIGWINCH => copy_winsize(master.as_raw_fd()),
                    // SAFETY: forwarding to our own, not yet reaped, child.
                    sig => unsafe {
                        libc::kill(pid, sig);
                    },
                }
            }
        }
        if fds[1].revents & (libc::POLLIN | libc::POLLHUP) != 0 {
            // SAFETY: reading into our buffer.
            let n = unsafe { libc::read(master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n > 0 {
                write_all(1, &buf[..n as usize]);
            }
        }
        if stdin_open && fds[2].revents & (libc::POLLIN | libc::POLLHUP) != 0 {
            // SAFETY: reading stdin into our buffer.
            let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 || !write_all(master.as_raw_fd(), &buf[..n.max(0) as usize]) {
                stdin_open = false;
            }
        }
    }
}

/// After the process exited: what it wrote last is still in the pty.
fn drain(master: RawFd, buf: &mut [u8]) {
    loop {
        let mut p = libc::pollfd { fd: master, events: libc::POLLIN, revents: 0 };
        // SAFETY: poll/read on the master.
        if unsafe { libc::poll(&mut p, 1, 0) } <= 0 || p.revents & libc::POLLIN == 0 {
            return;
        }
        let n = unsafe { libc::read(master, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 || !write_all(1, &buf[..n as usize]) {
            return;
        }
    }
}
