//! The sync channel between `create` (parent) and the container's init (child): a
//! SOCK_SEQPACKET socket pair, so every message arrives whole and a dead peer reads as EOF.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// Messages, in protocol order:
/// parent → init `Go(state)` once the id maps are written and the init is in its cgroup;
/// init → parent `Hooks` before pivot_root when prestart/createRuntime hooks exist,
/// parent → init `HooksDone` after running them;
/// init → parent `Ready` when everything up to exec is done, or `Error` at any point;
/// parent → init `Saved` once state.json is complete. Until then the init dies with the
/// parent (PDEATHSIG, and EOF on this channel), so a killed `create` leaves no init.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    Go(String),
    Hooks,
    HooksDone,
    Ready,
    Error(String),
    Saved,
}

const MAX: usize = 16 * 1024;

impl Msg {
    fn encode(&self) -> Vec<u8> {
        let (tag, body): (u8, &str) = match self {
            Msg::Go(s) => (1, s),
            Msg::Hooks => (2, ""),
            Msg::HooksDone => (3, ""),
            Msg::Ready => (4, ""),
            Msg::Error(s) => (5, s),
            Msg::Saved => (6, ""),
        };
        let mut v = Vec::with_capacity(1 + body.len().min(MAX - 1));
        v.push(tag);
        v.extend_from_slice(&body.as_bytes()[..body.len().min(MAX - 1)]);
        v
    }

    fn decode(b: &[u8]) -> io::Result<Msg> {
        let body = || String::from_utf8_lossy(&b[1..]).into_owned();
        Ok(match b.first() {
            Some(1) => Msg::Go(body()),
            Some(2) => Msg::Hooks,
            Some(3) => Msg::HooksDone,
            Some(4) => Msg::Ready,
            Some(5) => Msg::Error(body()),
            Some(6) => Msg::Saved,
            _ => return Err(io::Error::new(io::ErrorKind::InvalidData, "bad sync message")),
        })
    }
}

pub struct Channel {
    fd: OwnedFd,
}

/// A connected pair; both ends are close-on-exec.
pub fn pair() -> io::Result<(Channel, Channel)> {
    let mut fds = [0; 2];
    // SAFETY: socketpair writes two fds into the array.
    let r = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds were just created and are owned by nobody else.
    unsafe {
        use std::os::fd::FromRawFd;
        Ok((Channel { fd: OwnedFd::from_raw_fd(fds[0]) }, Channel { fd: OwnedFd::from_raw_fd(fds[1]) }))
    }
}

impl Channel {
    pub fn send(&self, m: &Msg) -> io::Result<()> {
        let b = m.encode();
        loop {
            // SAFETY: sending from a valid buffer; MSG_NOSIGNAL: a dead peer is EPIPE, not a signal.
            let r = unsafe { libc::send(self.fd.as_raw_fd(), b.as_ptr().cast(), b.len(), libc::MSG_NOSIGNAL) };
            if r >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// The next message, or None when the peer closed its end (or died).
    pub fn recv(&self) -> io::Result<Option<Msg>> {
        self.recv_flags(0)
    }

    /// A message already waiting, if any: never blocks (EAGAIN when there is none).
    pub fn try_recv(&self) -> io::Result<Option<Msg>> {
        self.recv_flags(libc::MSG_DONTWAIT)
    }

    fn recv_flags(&self, flags: libc::c_int) -> io::Result<Option<Msg>> {
        let mut buf = vec![0u8; MAX];
        loop {
            // SAFETY: receiving into a buffer of the given size.
            let r = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), flags) };
            if r > 0 {
                return Msg::decode(&buf[..r as usize]).map(Some);
            }
            if r == 0 {
                return Ok(None);
            }
            let e = io::Error::last_os_error();
            // A peer that exits with a message of ours unread (an init failing before it
            // reads Go) leaves ECONNRESET, reported once and before what it sent last,
            // its Error: read on (found by a /sys symlink failing create 1 run in 20 with
            // "Connection reset by peer" instead of the init's reason).
            if e.kind() != io::ErrorKind::Interrupted && e.raw_os_error() != Some(libc::ECONNRESET) {
                return Err(e);
            }
        }
    }

    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Moves the socket to an fd number >= `min` (close-on-exec), out of the range of
    /// fds passed to the container.
    pub fn move_above(self, min: RawFd) -> io::Result<Channel> {
        if self.fd.as_raw_fd() >= min {
            return Ok(self);
        }
        // SAFETY: F_DUPFD_CLOEXEC of an fd we own; the new fd is owned by the result.
        let n = unsafe { libc::fcntl(self.fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: n is new.
        Ok(Channel { fd: unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(n) } })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_eof_is_none() {
        let (a, b) = pair().unwrap();
        for m in [Msg::Go("{}".into()), Msg::Hooks, Msg::HooksDone, Msg::Ready, Msg::Error("x: y".into()), Msg::Saved] {
            a.send(&m).unwrap();
            assert_eq!(b.recv().unwrap(), Some(m));
        }
        drop(a);
        assert_eq!(b.recv().unwrap(), None);
    }

    #[test]
    fn a_peer_dying_with_our_message_unread_still_delivers_its_last_words() {
        let (parent, init) = pair().unwrap();
        parent.send(&Msg::Go("{}".into())).unwrap();
        init.send(&Msg::Error("mounts[5]: why".into())).unwrap();
        drop(init);
        assert_eq!(parent.recv().unwrap(), Some(Msg::Error("mounts[5]: why".into())));
        assert_eq!(parent.recv().unwrap(), None);
    }
}
