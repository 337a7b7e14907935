//! A process's stdio as containerd gives it: FIFO paths (empty: none).
//!
//! Without a terminal, stdout and stderr are the FIFOs themselves, handed to the process:
//! no copy through the shim, and the reader sees EOF when the process (and whatever it
//! left holding them) has closed them. stdin goes through a pipe the shim feeds from its
//! FIFO, so that CloseIO can end it: the shim holds the FIFO open for reading and
//! writing, so it never sees EOF from it, and closes the pipe on CloseIO.
//!
//! With a terminal, the process's pty master comes back over a socket pair (the library's
//! connected console socket) and two threads copy: stdin FIFO -> master, master ->
//! stdout FIFO. The exit of such a process is reported once the output is copied.

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::Error;

/// The FIFO paths of one process.
#[derive(Clone, Default)]
pub struct Paths {
    pub stdin: String,
    pub stdout: String,
    pub stderr: String,
    pub terminal: bool,
}

fn open(path: &str, flags: i32) -> Result<OwnedFd, Error> {
    let c = CString::new(path).map_err(|_| Error::invalid(format!("stdio path {path:?}")))?;
    // SAFETY: open with a valid C string.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Error::io(format!("open {path}"), std::io::Error::last_os_error()));
    }
    // SAFETY: a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn dev_null() -> Result<OwnedFd, Error> {
    open("/dev/null", libc::O_RDWR)
}

/// An output FIFO for the process to write: a reader is normally there already
/// (containerd's client opens its end first); if not, opened read-write so that the
/// create does not wait for one. Blocking afterwards, as a pipe would be.
fn output(path: &str) -> Result<OwnedFd, Error> {
    if path.is_empty() {
        return dev_null();
    }
    let fd = match open(path, libc::O_WRONLY | libc::O_NONBLOCK) {
        Err(Error::Io { source, .. }) if source.raw_os_error() == Some(libc::ENXIO) => open(path, libc::O_RDWR)?,
        r => r?,
    };
    // SAFETY: fcntl on an fd we own.
    unsafe {
        let fl = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, fl & !libc::O_NONBLOCK);
    }
    Ok(fd)
}

fn pipe() -> Result<(OwnedFd, OwnedFd), Error> {
    crate::helper::pipe().map_err(|e| Error::io("pipe", e))
}

/// Set when the copies of a process's output are done (terminal), or at once.
#[derive(Default)]
pub struct Done(Mutex<bool>, Condvar);

impl Done {
    pub fn set(&self) {
        if let Ok(mut g) = self.0.lock() {
            *g = true;
        }
        self.1.notify_all();
    }
    pub fn wait(&self, t: Duration) {
        if let Ok(g) = self.0.lock() {
            let _ = self.1.wait_timeout_while(g, t, |done| !*done);
        }
    }
}

/// What the shim keeps of a process's stdio once it runs.
pub struct Io {
    /// The write end of the process's stdin pipe (or the pty master's stdin copy's stop).
    stdin: Mutex<Option<StdinFeed>>,
    /// The pty master, for ResizePty.
    master: Option<OwnedFd>,
    pub done: Arc<Done>,
}

struct StdinFeed {
    /// Closing it stops the copy thread (it polls for it) and, without a terminal, is the
    /// process's EOF.
    _stop: OwnedFd,
}

/// The fds the process gets, and what the shim must do once it exists.
pub struct Prepared {
    pub stdio: [OwnedFd; 3],
    /// The shim's end of the console socket pair (terminal).
    pub console: Option<OwnedFd>,
    /// The library's end, passed as the connected console socket.
    pub console_theirs: Option<OwnedFd>,
    stdin_fifo: Option<OwnedFd>,
    stdin_pipe_w: Option<OwnedFd>,
    paths: Paths,
}

impl Prepared {
    pub fn raw(&self) -> [RawFd; 3] {
        [self.stdio[0].as_raw_fd(), self.stdio[1].as_raw_fd(), self.stdio[2].as_raw_fd()]
    }
}

pub fn prepare(p: &Paths) -> Result<Prepared, Error> {
    // Held read-write by the shim: opening does not wait for containerd's writer, and
    // its going away is not an EOF (CloseIO is).
    let stdin_fifo = if p.stdin.is_empty() { None } else { Some(open(&p.stdin, libc::O_RDWR)?) };
    if p.terminal {
        let (ours, theirs) = socketpair()?;
        return Ok(Prepared {
            stdio: [dev_null()?, dev_null()?, dev_null()?],
            console: Some(ours),
            console_theirs: Some(theirs),
            stdin_fifo,
            stdin_pipe_w: None,
            paths: p.clone(),
        });
    }
    let (stdin, stdin_pipe_w) = match &stdin_fifo {
        Some(_) => {
            let (r, w) = pipe()?;
            (r, Some(w))
        }
        None => (dev_null()?, None),
    };
    let stdout = output(&p.stdout)?;
    let stderr = if !p.stderr.is_empty() && p.stderr == p.stdout { stdout.try_clone().map_err(|e| Error::io("dup", e))? } else { output(&p.stderr)? };
    Ok(Prepared { stdio: [stdin, stdout, stderr], console: None, console_theirs: None, stdin_fifo, stdin_pipe_w, paths: p.clone() })
}

fn socketpair() -> Result<(OwnedFd, OwnedFd), Error> {
    let mut fds = [0; 2];
    // SAFETY: socketpair fills two fds we then own.
    if unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) } != 0 {
        return Err(Error::io("socketpair", std::io::Error::last_os_error()));
    }
    // SAFETY: both fresh.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Once the process exists: receives the pty master (terminal) and starts the copies.
pub fn attach(p: Prepared) -> Result<Io, Error> {
    let done = Arc::new(Done::default());
    let Prepared { console, stdin_fifo, stdin_pipe_w, paths, .. } = p;
    let Some(console) = console else {
        done.set();
        let stdin = match (stdin_fifo, stdin_pipe_w) {
            (Some(fifo), Some(w)) => Some(feed(fifo, w)?),
            _ => None,
        };
        return Ok(Io { stdin: Mutex::new(stdin), master: None, done });
    };
    let master = berth::tty::recv_fd(console.as_raw_fd()).map_err(|e| Error::Other(format!("receive the pty master: {e}")))?;
    let stdin = match stdin_fifo {
        Some(fifo) => Some(feed(fifo, master.try_clone().map_err(|e| Error::io("dup", e))?)?),
        None => None,
    };
    let out = if paths.stdout.is_empty() { None } else { Some(open(&paths.stdout, libc::O_RDWR)?) };
    let reader = master.try_clone().map_err(|e| Error::io("dup", e))?;
    let d = done.clone();
    std::thread::Builder::new()
        .name("pty-out".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            let mut r = File::from(reader);
            let mut w = out.map(File::from);
            let mut buf = [0u8; 8192];
            // EIO once the process's last hold of the slave is closed.
            while let Ok(n @ 1..) = r.read(&mut buf) {
                if let Some(w) = w.as_mut() {
                    if w.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
            d.set();
        })
        .map_err(|e| Error::io("thread", e))?;
    Ok(Io { stdin: Mutex::new(stdin), master: Some(master), done })
}

/// Copies the stdin FIFO to `to` until the feed is stopped (its `stop` end closed).
fn feed(fifo: OwnedFd, to: OwnedFd) -> Result<StdinFeed, Error> {
    let (stop_r, stop_w) = pipe()?;
    std::thread::Builder::new()
        .name("stdin".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            let mut from = File::from(fifo);
            let mut to = File::from(to);
            let mut buf = [0u8; 8192];
            loop {
                let mut fds = [
                    libc::pollfd { fd: from.as_raw_fd(), events: libc::POLLIN, revents: 0 },
                    libc::pollfd { fd: stop_r.as_raw_fd(), events: libc::POLLIN, revents: 0 },
                ];
                // SAFETY: poll on two fds we own.
                if unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
                    if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                        continue;
                    }
                    break;
                }
                if fds[1].revents != 0 {
                    break;
                }
                match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
        })
        .map_err(|e| Error::io("thread", e))?;
    Ok(StdinFeed { _stop: stop_w })
}

impl Io {
    /// CloseIO: the process's stdin ends (without a terminal; with one, the copy stops).
    pub fn close_stdin(&self) {
        if let Ok(mut g) = self.stdin.lock() {
            g.take();
        }
    }

    pub fn resize(&self, width: u32, height: u32) -> Result<(), Error> {
        let Some(m) = &self.master else { return Ok(()) };
        let ws = libc::winsize { ws_row: height as u16, ws_col: width as u16, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: TIOCSWINSZ with a winsize we own.
        if unsafe { libc::ioctl(m.as_raw_fd(), libc::TIOCSWINSZ, &ws) } != 0 {
            return Err(Error::io("resize the pty", std::io::Error::last_os_error()));
        }
        Ok(())
    }
}
