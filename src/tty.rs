//! Terminals: `process.terminal` with `--console-socket` (the protocol containerd's shim,
//! conmon and runc's recvtty speak): the pty is created *inside* the container (its
//! devpts instance), the slave becomes the process's stdio and controlling terminal (and
//! /dev/console for a container's init), and the master is sent over the AF_UNIX socket
//! with SCM_RIGHTS.
//!
//! The slave is opened from the master with TIOCGPTPEER, not by path: a container that
//! controls its /dev/pts cannot substitute another file (no path to race).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("console socket {path}: {source}")]
    Connect { path: String, source: io::Error },
    /// runc's words (with its name for ours): scripts match them.
    #[error("cannot allocate tty if berth will detach without setting console socket")]
    NoConsoleSocket,
    #[error("terminal: {what}: {source}")]
    Pty { what: &'static str, source: io::Error },
    #[error("terminal: /dev/console: {0}")]
    Console(String),
}

/// Connects to the console socket (a host path) before the container's namespaces are
/// entered; the connected fd travels into the init or exec child.
pub fn connect(path: &Path) -> Result<OwnedFd, Error> {
    let err = |source| Error::Connect { path: path.display().to_string(), source };
    let s = std::os::unix::net::UnixStream::connect(path).map_err(err)?;
    Ok(OwnedFd::from(s))
}

fn last(what: &'static str) -> Error {
    Error::Pty { what, source: io::Error::last_os_error() }
}

/// The console socket of a container process: a path to connect to (`--console-socket`),
/// or a socket berth already holds (foreground `run`/`exec` relaying the pty itself).
pub fn console_for(terminal: bool, path: Option<&Path>, connected: Option<RawFd>) -> Result<Option<OwnedFd>, Error> {
    match (terminal, connected, path) {
        (false, _, _) => Ok(None),
        (true, Some(fd), _) => {
            // SAFETY: F_DUPFD_CLOEXEC of a caller's fd; the copy is ours.
            let n = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
            if n < 0 {
                return Err(last("dup console socket"));
            }
            // SAFETY: n is new.
            Ok(Some(unsafe { OwnedFd::from_raw_fd(n) }))
        }
        (true, None, Some(p)) => connect(p).map(Some),
        (true, None, None) => Err(Error::NoConsoleSocket),
    }
}

const DEVPTS_SUPER_MAGIC: i64 = 0x1cd1;

/// The container's `/dev/<name>` directory or file, opened inside the current root with
/// no symlink followed on the way or at the end.
fn open_dev(rel: &str, flags: i32) -> Result<OwnedFd, Error> {
    let root = crate::util::fs::open_cloexec(Path::new("/")).map_err(|e| Error::Console(e.to_string()))?;
    crate::rootfs::paths::open_in_root_nofollow(root.as_raw_fd(), Path::new(rel), flags)
        .map_err(|e| Error::Pty { what: "open the container's /dev", source: io::Error::new(e.kind(), format!("/{rel}: {e}")) })
}

/// A pty made in the current mount namespace, from the container's devpts: `/dev/pts`
/// must be a devpts directory reached without a symlink, and its `ptmx` the ptmx node,
/// so that a container cannot hand berth another file as its terminal. Returns
/// (master, slave).
pub fn open_pty(width: u16, height: u16) -> Result<(OwnedFd, OwnedFd), Error> {
    let pts = open_dev("dev/pts", libc::O_PATH | libc::O_DIRECTORY)?;
    // SAFETY: fstatfs into a zeroed struct, then plain open/ioctl calls on fds we own.
    unsafe {
        let mut sfs: libc::statfs = std::mem::zeroed();
        if libc::fstatfs(pts.as_raw_fd(), &mut sfs) != 0 {
            return Err(last("fstatfs /dev/pts"));
        }
        if sfs.f_type as i64 != DEVPTS_SUPER_MAGIC {
            return Err(Error::Pty { what: "open /dev/pts/ptmx", source: io::Error::other("/dev/pts is not a devpts filesystem") });
        }
        let m = libc::openat(pts.as_raw_fd(), c"ptmx".as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_NOFOLLOW | libc::O_CLOEXEC);
        if m < 0 {
            return Err(last("open /dev/pts/ptmx"));
        }
        let master = OwnedFd::from_raw_fd(m);
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(m, &mut st) != 0 || st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != libc::makedev(5, 2) {
            return Err(Error::Pty { what: "open /dev/pts/ptmx", source: io::Error::other("is not the ptmx device (5:2)") });
        }
        let unlock: libc::c_int = 0;
        if libc::ioctl(m, libc::TIOCSPTLCK, &unlock) < 0 {
            return Err(last("unlock pty"));
        }
        let s = libc::ioctl(m, libc::TIOCGPTPEER, libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        if s < 0 {
            return Err(last("open pty peer"));
        }
        let slave = OwnedFd::from_raw_fd(s);
        if width > 0 || height > 0 {
            let ws = libc::winsize { ws_row: height, ws_col: width, ws_xpixel: 0, ws_ypixel: 0 };
            if libc::ioctl(m, libc::TIOCSWINSZ, &ws) < 0 {
                return Err(last("set window size"));
            }
        }
        Ok((master, slave))
    }
}

/// A msghdr over one iovec with room for one fd in its control buffer.
fn msghdr_for(iov: &mut libc::iovec, control: &mut Vec<u8>) -> libc::msghdr {
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    control.resize(space, 0);
    // SAFETY: msghdr is plain data; every pointer set below outlives its use by the caller.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    msg
}

/// Sends `fd` over a connected AF_UNIX socket with SCM_RIGHTS, `name` as the payload.
pub fn send_fd(sock: RawFd, name: &str, fd: RawFd) -> Result<(), Error> {
    let payload = name.as_bytes();
    let mut iov = libc::iovec { iov_base: payload.as_ptr() as *mut _, iov_len: payload.len() };
    let mut control = Vec::new();
    let msg = msghdr_for(&mut iov, &mut control);
    // SAFETY: filling the one cmsg the buffer was sized for, per cmsg(3), then sendmsg.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<RawFd>(), fd);
        if libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) < 0 {
            return Err(last("send the pty master over the console socket"));
        }
    }
    Ok(())
}

/// Receives one fd sent with SCM_RIGHTS (foreground `run`/`exec -t` use this side).
pub fn recv_fd(sock: RawFd) -> Result<OwnedFd, Error> {
    let mut data = [0u8; 4096];
    let mut iov = libc::iovec { iov_base: data.as_mut_ptr().cast(), iov_len: data.len() };
    let mut control = Vec::new();
    let mut msg = msghdr_for(&mut iov, &mut control);
    // SAFETY: recvmsg into the buffers above, then reading the fd of its one cmsg.
    unsafe {
        if libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) < 0 {
            return Err(last("receive the pty master"));
        }
        let c = libc::CMSG_FIRSTHDR(&msg);
        if c.is_null() || (*c).cmsg_type != libc::SCM_RIGHTS {
            return Err(Error::Pty { what: "receive the pty master", source: io::Error::from(io::ErrorKind::InvalidData) });
        }
        Ok(OwnedFd::from_raw_fd(std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<RawFd>())))
    }
}

/// Makes `slave` the controlling terminal and stdio of the calling process (a session
/// leader).
pub fn become_stdio(slave: &OwnedFd) -> Result<(), Error> {
    // SAFETY: ioctl/dup2 on fds we own.
    unsafe {
        if libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) < 0 {
            return Err(last("set controlling terminal"));
        }
        for fd in 0..3 {
            if libc::dup2(slave.as_raw_fd(), fd) < 0 {
                return Err(last("dup pty onto stdio"));
            }
        }
    }
    Ok(())
}

/// Bind-mounts the slave over /dev/console inside the current root (after pivot_root).
///
/// Attack stopped (CVE-2025-52565 class): /dev/console may be planted by the image as a
/// symlink to, say, a /proc file, and mounting the terminal "on /dev/console" would then
/// mount it over that file. Nothing is followed here: /dev is reached without symlinks,
/// a missing /dev/console is made by berth as an empty regular file (O_EXCL), an existing
/// one must be a regular file or a character device (the host's, under a bound /dev), and
/// the terminal is attached onto that very fd.
pub fn bind_console(slave: &OwnedFd) -> Result<(), Error> {
    let dev = open_dev("dev", libc::O_PATH | libc::O_DIRECTORY)?;
    let console = |e: io::Error| Error::Console(e.to_string());
    // SAFETY: openat relative to the /dev fd; a new fd or -1.
    let made = unsafe { libc::openat(dev.as_raw_fd(), c"console".as_ptr(), libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_WRONLY | libc::O_CLOEXEC, 0o600) };
    let target = if made >= 0 {
        // SAFETY: made is a new fd.
        unsafe { OwnedFd::from_raw_fd(made) }
    } else {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EEXIST) {
            return Err(console(e));
        }
        // SAFETY: openat of the existing name, not following a link; a new fd or -1.
        let fd = unsafe { libc::openat(dev.as_raw_fd(), c"console".as_ptr(), libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(console(io::Error::last_os_error()));
        }
        // SAFETY: fd is new.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let st = nix::sys::stat::fstat(&fd).map_err(|e| console(e.into()))?;
        let t = st.st_mode & libc::S_IFMT;
        if t != libc::S_IFREG && t != libc::S_IFCHR {
            let what = if t == libc::S_IFLNK { "a symlink" } else { "neither a regular file nor a character device" };
            return Err(Error::Console(format!("is {what}: refusing to mount the terminal over it")));
        }
        fd
    };
    let tree = crate::util::mount::clone_tree(slave.as_raw_fd(), Path::new(""), false).map_err(console)?;
    crate::util::mount::attach(&tree, &target).map_err(console)
}

/// Everything a process with `terminal: true` does: make the pty, send the master,
/// take the slave as its terminal. `console` also binds it on /dev/console (the init).
pub fn setup(sock: RawFd, width: u16, height: u16, console: bool) -> Result<(), Error> {
    let (master, slave) = open_pty(width, height)?;
    if console {
        bind_console(&slave)?;
    }
    send_fd(sock, "/dev/ptmx", master.as_raw_fd())?;
    drop(master);
    become_stdio(&slave)?;
    Ok(())
}
