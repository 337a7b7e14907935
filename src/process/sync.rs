//! The sync channel between the runtime (`create`, `exec`) and the process it clones (the
//! container's init, or a process entering the container): a SOCK_SEQPACKET socket pair,
//! so every message arrives whole and a dead peer reads as EOF.
//!
//! The protocol, in order (optional steps in brackets; `Error` may come from the init at
//! any point instead of its next message, and ends the exchange):
//!
//! ```text
//!   runtime                                         init
//!      | clone ─────────────────────────────────────▶ |
//!      |                                              | [joins namespaces by path with the
//!      |                                              |  host's rights, unshares user]
//!      | ◀──────────────────────────────── [UserNs]   | "my user namespace wants its maps"
//!      | [write uid_map, gid_map]                     |
//!      | [IdMaps] ──────────────────────────────────▶ | unshares the rest; with a new pid
//!      |                                              | namespace forks the real init:
//!      | ◀──────────────────────────────── [Pid(n)]   | "the init is n" (the first exits)
//!      | id maps (clone made the user ns), cgroup,    |
//!      | limits                                       |
//!      | Go(HookState) ─────────────────────────────▶ | the cgroup gate: joins v1
//!      |                                              | hierarchies, unshares cgroup
//!      | ◀──────────────────────────────── [Hooks]    | before pivot_root
//!      | [prestart, createRuntime hooks]              |
//!      | [HooksDone] ───────────────────────────────▶ |
//!      | ◀──────────────────────────────── Ready      | everything up to execve done
//!      | save state.json                              |
//!      | Saved ─────────────────────────────────────▶ | now outlives the runtime
//! ```
//!
//! `exec` uses the same channel: `Go`, then the entering process either execs (the socket
//! closes on exec: EOF) or sends `Error`. Until `Saved` an init dies with the runtime
//! (every wait of its is a read here, and a dead runtime reads as EOF).
//!
//! Each end has its own type and sends only its side's messages; both check every message
//! against the order above (`follows`), so a message out of order is an error, never
//! silently taken for another step.

use std::cell::Cell;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::container::HookState;

/// Runtime → init.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToInit {
    IdMaps,
    Go(HookState),
    HooksDone,
    Saved,
}

/// Init → runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromInit {
    UserNs,
    Pid(i32),
    Hooks,
    Ready,
    Error(String),
}

/// A step of the protocol, for the order check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Start,
    UserNs,
    IdMaps,
    Pid,
    Go,
    Hooks,
    HooksDone,
    Ready,
    Saved,
}

/// Whether `next` may follow `prev` (the diagram above).
fn follows(prev: Step, next: Step) -> bool {
    use Step::*;
    matches!(
        (prev, next),
        (Start, UserNs) | (UserNs, IdMaps) | (Start | IdMaps, Pid) | (Start | IdMaps | Pid, Go) | (Go, Hooks) | (Hooks, HooksDone) | (Go | HooksDone, Ready) | (Ready, Saved)
    )
}

/// The largest message: Go carries the container's annotations, which Kubernetes lets
/// reach 256 KiB in all; a SOCK_SEQPACKET message must fit the socket's send buffer
/// (~208 KiB by default), so the runtime raises that first (`pair`). A message that
/// would not fit is an error at the sender, never cut short (it was at 16 KiB: a Go
/// with large annotations arrived truncated and failed to decode).
const MAX: usize = 1024 * 1024;

impl ToInit {
    fn step(&self) -> Step {
        match self {
            ToInit::IdMaps => Step::IdMaps,
            ToInit::Go(_) => Step::Go,
            ToInit::HooksDone => Step::HooksDone,
            ToInit::Saved => Step::Saved,
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            ToInit::IdMaps => vec![1],
            ToInit::Go(s) => frame(2, s.to_json().as_bytes()),
            ToInit::HooksDone => vec![3],
            ToInit::Saved => vec![4],
        }
    }

    fn decode(b: &[u8]) -> io::Result<ToInit> {
        Ok(match b.first() {
            Some(1) => ToInit::IdMaps,
            Some(2) => ToInit::Go(serde_json::from_slice(&b[1..]).map_err(|e| bad(&format!("Go: {e}")))?),
            Some(3) => ToInit::HooksDone,
            Some(4) => ToInit::Saved,
            _ => return Err(bad("unknown message to the init")),
        })
    }
}

impl FromInit {
    fn step(&self) -> Option<Step> {
        match self {
            FromInit::UserNs => Some(Step::UserNs),
            FromInit::Pid(_) => Some(Step::Pid),
            FromInit::Hooks => Some(Step::Hooks),
            FromInit::Ready => Some(Step::Ready),
            FromInit::Error(_) => None,
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            FromInit::UserNs => vec![11],
            FromInit::Pid(n) => frame(12, &n.to_le_bytes()),
            FromInit::Hooks => vec![13],
            FromInit::Ready => vec![14],
            FromInit::Error(s) => frame(15, s.as_bytes()),
        }
    }

    fn decode(b: &[u8]) -> io::Result<FromInit> {
        Ok(match b.first() {
            Some(11) => FromInit::UserNs,
            Some(12) => FromInit::Pid(b[1..].try_into().map(i32::from_le_bytes).map_err(|_| bad("Pid: not 4 bytes"))?),
            Some(13) => FromInit::Hooks,
            Some(14) => FromInit::Ready,
            Some(15) => FromInit::Error(String::from_utf8_lossy(&b[1..]).into_owned()),
            _ => return Err(bad("unknown message from the init")),
        })
    }
}

fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(1 + body.len());
    v.push(tag);
    v.extend_from_slice(body);
    v
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("sync: {what}"))
}

/// One end's socket and the last step it sent or received.
struct Channel {
    fd: OwnedFd,
    last: Cell<Step>,
}

/// The runtime's end.
pub struct RuntimeEnd(Channel);

/// The cloned process's end.
pub struct InitEnd(Channel);

/// A connected pair; both ends are close-on-exec.
pub fn pair() -> io::Result<(RuntimeEnd, InitEnd)> {
    let mut fds = [0; 2];
    // SAFETY: socketpair writes two fds into the array.
    let r = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    use std::os::fd::FromRawFd;
    // SAFETY: both fds were just created and are owned by nobody else.
    let (a, b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let size = MAX as libc::c_int * 2;
    for fd in [&a, &b] {
        // SAFETY: setsockopt with an int of the size passed. SO_SNDBUFFORCE (root) goes
        // past net.core.wmem_max; where refused the default stays, and only a message
        // larger than it fails (EMSGSIZE).
        unsafe {
            let p = (&size as *const libc::c_int).cast();
            let n = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            if libc::setsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, p, n) != 0 {
                libc::setsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_SNDBUF, p, n);
            }
        }
    }
    Ok((RuntimeEnd(Channel { fd: a, last: Cell::new(Step::Start) }), InitEnd(Channel { fd: b, last: Cell::new(Step::Start) })))
}

impl Channel {
    /// Checks `step` against the order and records it.
    fn advance(&self, step: Step) -> io::Result<()> {
        if !follows(self.last.get(), step) {
            return Err(bad(&format!("{step:?} after {:?}", self.last.get())));
        }
        self.last.set(step);
        Ok(())
    }

    fn send_bytes(&self, b: &[u8]) -> io::Result<()> {
        if b.len() > MAX {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("sync: a message of {} bytes (the container's state, with its annotations?) is over the {MAX}-byte limit", b.len())));
        }
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

    /// The next message's bytes, or None when the peer closed its end (or died).
    fn recv_bytes(&self, flags: libc::c_int) -> io::Result<Option<Vec<u8>>> {
        // Nearly every message is a few bytes, Go a few hundred: a small buffer, and the
        // rare large message is first measured (MSG_PEEK | MSG_TRUNC gives its length).
        let mut buf = vec![0u8; 4096];
        let peek = loop {
            // SAFETY: peeking into our buffer; MSG_TRUNC makes the result the whole length.
            let r = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), flags | libc::MSG_PEEK | libc::MSG_TRUNC) };
            if r >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                break r;
            }
        };
        // (An error here is the recv's below to report.)
        if peek > buf.len() as isize {
            buf.resize((peek as usize).min(MAX), 0);
        }
        loop {
            // SAFETY: receiving into a buffer of the given size.
            let r = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), flags) };
            if r > 0 {
                buf.truncate(r as usize);
                return Ok(Some(buf));
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

    /// Moves the socket to an fd number >= `min` (close-on-exec), out of the range of
    /// fds passed to the container.
    fn move_above(self, min: RawFd) -> io::Result<Channel> {
        let fd = crate::process::spawn::above(self.fd, min)?;
        Ok(Channel { fd, last: self.last })
    }
}

impl RuntimeEnd {
    pub fn send(&self, m: &ToInit) -> io::Result<()> {
        self.0.advance(m.step())?;
        self.0.send_bytes(&m.encode())
    }

    /// The init's next message, or None when it closed its end (exec'd, or died).
    pub fn recv(&self) -> io::Result<Option<FromInit>> {
        self.recv_flags(0)
    }

    /// A message already waiting, if any: never blocks (EAGAIN when there is none).
    pub fn try_recv(&self) -> io::Result<Option<FromInit>> {
        self.recv_flags(libc::MSG_DONTWAIT)
    }

    fn recv_flags(&self, flags: libc::c_int) -> io::Result<Option<FromInit>> {
        let Some(b) = self.0.recv_bytes(flags)? else { return Ok(None) };
        let m = FromInit::decode(&b)?;
        if let Some(step) = m.step() {
            self.0.advance(step)?;
        }
        Ok(Some(m))
    }

    pub fn raw(&self) -> RawFd {
        self.0.fd.as_raw_fd()
    }
}

impl InitEnd {
    pub fn send(&self, m: &FromInit) -> io::Result<()> {
        if let Some(step) = m.step() {
            self.0.advance(step)?;
        }
        self.0.send_bytes(&m.encode())
    }

    /// The runtime's next message; EOF (the runtime went away) is an error here: every
    /// wait of the init is one of these reads, and it must then give up.
    pub fn recv(&self) -> io::Result<ToInit> {
        let b = self.0.recv_bytes(0)?.ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "the runtime went away"))?;
        let m = ToInit::decode(&b)?;
        self.0.advance(m.step())?;
        Ok(m)
    }

    pub fn raw(&self) -> RawFd {
        self.0.fd.as_raw_fd()
    }

    pub fn move_above(self, min: RawFd) -> io::Result<InitEnd> {
        self.0.move_above(min).map(InitEnd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::Status;

    fn state() -> HookState {
        HookState {
            oci_version: "1.3.0".into(),
            id: "c".into(),
            status: Status::Creating,
            pid: 42,
            bundle: "/b".into(),
            annotations: [("k".to_string(), "v".to_string())].into(),
        }
    }

    #[test]
    fn a_whole_create_round_trips_in_order_and_eof_is_none() {
        let (rt, init) = pair().unwrap();
        init.send(&FromInit::UserNs).unwrap();
        assert_eq!(rt.recv().unwrap(), Some(FromInit::UserNs));
        rt.send(&ToInit::IdMaps).unwrap();
        assert_eq!(init.recv().unwrap(), ToInit::IdMaps);
        init.send(&FromInit::Pid(-7)).unwrap();
        assert_eq!(rt.recv().unwrap(), Some(FromInit::Pid(-7)));
        rt.send(&ToInit::Go(state())).unwrap();
        assert_eq!(init.recv().unwrap(), ToInit::Go(state()));
        init.send(&FromInit::Hooks).unwrap();
        assert_eq!(rt.recv().unwrap(), Some(FromInit::Hooks));
        rt.send(&ToInit::HooksDone).unwrap();
        assert_eq!(init.recv().unwrap(), ToInit::HooksDone);
        init.send(&FromInit::Ready).unwrap();
        assert_eq!(rt.recv().unwrap(), Some(FromInit::Ready));
        rt.send(&ToInit::Saved).unwrap();
        assert_eq!(init.recv().unwrap(), ToInit::Saved);
        drop(init);
        assert_eq!(rt.recv().unwrap(), None);
    }

    #[test]
    fn go_carries_the_spec_state_in_runcs_order() {
        assert_eq!(
            state().to_json(),
            r#"{"ociVersion":"1.3.0","id":"c","status":"creating","pid":42,"bundle":"/b","annotations":{"k":"v"}}"#
        );
        let stopped = HookState { status: Status::Stopped, pid: 0, annotations: Default::default(), ..state() };
        assert_eq!(stopped.to_json(), r#"{"ociVersion":"1.3.0","id":"c","status":"stopped","bundle":"/b"}"#);
    }

    #[test]
    fn a_message_out_of_order_is_refused_on_both_sides() {
        let (rt, init) = pair().unwrap();
        // The runtime may not send Saved before Ready...
        assert!(rt.send(&ToInit::Saved).is_err());
        // ...nor may the init report Ready before Go; a receiver checks as well.
        assert!(init.send(&FromInit::Ready).is_err());
        init.0.send_bytes(&FromInit::Ready.encode()).unwrap();
        let e = rt.recv().unwrap_err();
        assert!(e.to_string().contains("Ready after Start"), "{e}");
        // Error is allowed at any point and does not move the order.
        init.send(&FromInit::Error("x".into())).unwrap();
        assert_eq!(rt.recv().unwrap(), Some(FromInit::Error("x".into())));
    }

    #[test]
    fn a_go_with_large_annotations_arrives_whole() {
        let (rt, init) = pair().unwrap();
        let big = HookState { annotations: (0..100).map(|i| (format!("k{i}"), "v".repeat(2500))).collect(), ..state() };
        rt.send(&ToInit::Go(big.clone())).unwrap();
        assert_eq!(init.recv().unwrap(), ToInit::Go(big));
        let (rt, _init) = pair().unwrap();
        let huge = HookState { annotations: [("k".to_string(), "v".repeat(MAX))].into(), ..state() };
        let e = rt.send(&ToInit::Go(huge)).unwrap_err();
        assert!(e.to_string().contains("over the"), "over the limit: an error at the sender, not a cut message: {e}");
    }

    #[test]
    fn exec_is_go_then_eof() {
        let (rt, init) = pair().unwrap();
        rt.send(&ToInit::Go(state())).unwrap();
        assert!(matches!(init.recv().unwrap(), ToInit::Go(_)));
        drop(init);
        assert_eq!(rt.recv().unwrap(), None);
    }

    #[test]
    fn a_peer_dying_with_our_message_unread_still_delivers_its_last_words() {
        let (rt, init) = pair().unwrap();
        rt.send(&ToInit::Go(state())).unwrap();
        init.send(&FromInit::Error("mounts[5]: why".into())).unwrap();
        drop(init);
        assert_eq!(rt.recv().unwrap(), Some(FromInit::Error("mounts[5]: why".into())));
        assert_eq!(rt.recv().unwrap(), None);
    }

    #[test]
    fn a_runtime_gone_is_an_error_for_the_init() {
        let (rt, init) = pair().unwrap();
        drop(rt);
        assert_eq!(init.recv().unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }
}
