//! A small synchronous D-Bus client: just what the systemd driver calls (method calls to
//! org.freedesktop.systemd1 and the JobRemoved signal). The wire format of the D-Bus
//! specification ("Message Protocol"), little-endian, over a unix socket with SASL
//! EXTERNAL authentication.
//!
//! Why not a crate: zbus pulls an async executor (berth links none), dbus-rs links
//! libdbus (berth is static); youki wrote its own client for the same reasons. This one
//! is ~300 lines, adds no dependency, and costs nothing unless `--systemd-cgroup` is used.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// A D-Bus value, as far as the driver needs them.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Byte(u8),
    Bool(bool),
    U32(u32),
    U64(u64),
    Str(String),
    Path(String),
    /// A signature (`g`).
    Sig(String),
    /// `ay`.
    Bytes(Vec<u8>),
    /// An array of elements of the given signature.
    Array(String, Vec<Value>),
    Struct(Vec<Value>),
    Variant(Box<Value>),
}

impl Value {
    pub fn signature(&self) -> String {
        match self {
            Value::Byte(_) => "y".into(),
            Value::Sig(_) => "g".into(),
            Value::Bool(_) => "b".into(),
            Value::U32(_) => "u".into(),
            Value::U64(_) => "t".into(),
            Value::Str(_) => "s".into(),
            Value::Path(_) => "o".into(),
            Value::Bytes(_) => "ay".into(),
            Value::Array(sig, _) => format!("a{sig}"),
            Value::Struct(v) => format!("({})", v.iter().map(Value::signature).collect::<String>()),
            Value::Variant(_) => "v".into(),
        }
    }

    fn alignment(&self) -> usize {
        match self {
            Value::Bool(_) | Value::U32(_) | Value::Str(_) | Value::Path(_) | Value::Bytes(_) | Value::Array(..) => 4,
            Value::U64(_) | Value::Struct(_) => 8,
            Value::Byte(_) | Value::Sig(_) | Value::Variant(_) => 1,
        }
    }
}

/// The alignment of values of signature `sig`'s first type.
fn sig_alignment(sig: &str) -> usize {
    match sig.as_bytes().first() {
        Some(b't' | b'x' | b'd' | b'(' | b'{') => 8,
        Some(b'y' | b'g' | b'v') => 1,
        Some(b'n' | b'q') => 2,
        _ => 4,
    }
}

struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn pad(&mut self, a: usize) {
        while self.buf.len() % a != 0 {
            self.buf.push(0);
        }
    }

    fn u32(&mut self, n: u32) {
        self.pad(4);
        self.buf.extend_from_slice(&n.to_le_bytes());
    }

    fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    fn sig(&mut self, s: &str) {
        self.buf.push(s.len() as u8);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    fn value(&mut self, v: &Value) {
        self.pad(v.alignment());
        match v {
            Value::Byte(b) => self.buf.push(*b),
            Value::Sig(s) => self.sig(s),
            Value::Bool(b) => self.u32(*b as u32),
            Value::U32(n) => self.u32(*n),
            Value::U64(n) => self.buf.extend_from_slice(&n.to_le_bytes()),
            Value::Str(s) | Value::Path(s) => self.str(s),
            Value::Bytes(b) => {
                self.u32(b.len() as u32);
                self.buf.extend_from_slice(b);
            }
            Value::Array(sig, items) => {
                self.u32(0);
                let len_at = self.buf.len() - 4;
                self.pad(sig_alignment(sig));
                let start = self.buf.len();
                for i in items {
                    self.value(i);
                }
                let len = (self.buf.len() - start) as u32;
                self.buf[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
            }
            Value::Struct(fields) => {
                for f in fields {
                    self.value(f);
                }
            }
            Value::Variant(inner) => {
                self.sig(&inner.signature());
                self.value(inner);
            }
        }
    }
}

/// Reads the few shapes replies and signals have: header fields, strings, u32s.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn short() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "D-Bus: message too short")
}

impl Reader<'_> {
    fn align(&mut self, a: usize) {
        self.pos = self.pos.div_ceil(a) * a;
    }

    fn u32(&mut self) -> io::Result<u32> {
        self.align(4);
        let b = self.buf.get(self.pos..self.pos + 4).ok_or_else(short)?;
        self.pos += 4;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn str(&mut self) -> io::Result<String> {
        let n = self.u32()? as usize;
        let b = self.buf.get(self.pos..self.pos + n).ok_or_else(short)?;
        self.pos += n + 1;
        Ok(String::from_utf8_lossy(b).into_owned())
    }

    fn sig(&mut self) -> io::Result<String> {
        let n = *self.buf.get(self.pos).ok_or_else(short)? as usize;
        let b = self.buf.get(self.pos + 1..self.pos + 1 + n).ok_or_else(short)?;
        self.pos += n + 2;
        Ok(String::from_utf8_lossy(b).into_owned())
    }
}

/// A received message: its type, the header fields the client uses, and its body.
#[derive(Debug)]
pub struct Message {
    pub kind: u8,
    pub reply_serial: Option<u32>,
    pub error_name: Option<String>,
    pub member: Option<String>,
    pub signature: String,
    pub body: Vec<u8>,
}

const METHOD_CALL: u8 = 1;
const METHOD_RETURN: u8 = 2;
const ERROR: u8 = 3;
pub const SIGNAL: u8 = 4;

impl Message {
    /// The body's leading strings (s, o, g, a variant of s or o) and u32s, in signature
    /// order; other types end it.
    pub fn args(&self) -> Vec<String> {
        let mut r = Reader { buf: &self.body, pos: 0 };
        let mut out = Vec::new();
        for c in self.signature.chars() {
            let v = match c {
                's' | 'o' => r.str(),
                'g' => r.sig(),
                'u' => r.u32().map(|n| n.to_string()),
                // A variant holding a string (a property's value, Properties.Get).
                'v' => match r.sig() {
                    Ok(t) if t == "s" || t == "o" => r.str(),
                    _ => break,
                },
                _ => break,
            };
            match v {
                Ok(v) => out.push(v),
                Err(_) => break,
            }
        }
        out
    }
}

pub struct Connection {
    sock: UnixStream,
    serial: u32,
    /// Signals read while waiting for a reply.
    pending: Vec<Message>,
    /// The system bus (with a message bus to route by destination), or systemd's own
    /// socket (peer to peer).
    bus: bool,
}

impl Connection {
    /// The system bus, or systemd's private socket where no bus daemon runs (root only).
    pub fn system() -> io::Result<Connection> {
        let mut errors = Vec::new();
        for (path, bus) in [("/run/dbus/system_bus_socket", true), ("/run/systemd/private", false)] {
            match Connection::open(Path::new(path), bus) {
                Ok(c) => return Ok(c),
                Err(e) => errors.push(format!("{path}: {e}")),
            }
        }
        Err(io::Error::new(io::ErrorKind::NotFound, format!("cannot reach systemd ({})", errors.join("; "))))
    }

    /// The calling user's systemd (rootless): its private socket, else the user's bus
    /// (DBUS_SESSION_BUS_ADDRESS's unix:path, or $XDG_RUNTIME_DIR/bus), as sd-bus finds
    /// them.
    pub fn user() -> io::Result<Connection> {
        let dir = std::env::var_os("XDG_RUNTIME_DIR").map(std::path::PathBuf::from);
        let mut tries = Vec::new();
        if let Some(d) = &dir {
            tries.push((d.join("systemd/private"), false));
        }
        let session = std::env::var("DBUS_SESSION_BUS_ADDRESS").ok();
        match session.as_deref().and_then(|a| a.split(';').find_map(|x| x.strip_prefix("unix:path=")).map(|p| p.split(',').next().unwrap_or(p).to_string())) {
            Some(p) => tries.push((p.into(), true)),
            None => tries.extend(dir.map(|d| (d.join("bus"), true))),
        }
        if tries.is_empty() {
            return Err(io::Error::new(io::ErrorKind::NotFound, "cannot reach the user's systemd: XDG_RUNTIME_DIR is not set"));
        }
        let mut errors = Vec::new();
        for (path, bus) in &tries {
            match Connection::open(path, *bus) {
                Ok(c) => return Ok(c),
                Err(e) => errors.push(format!("{}: {e}", path.display())),
            }
        }
        Err(io::Error::new(io::ErrorKind::NotFound, format!("cannot reach the user's systemd ({})", errors.join("; "))))
    }

    fn open(path: &Path, bus: bool) -> io::Result<Connection> {
        let mut sock = UnixStream::connect(path)?;
        sock.set_read_timeout(Some(Duration::from_secs(30)))?;
        // EXTERNAL with no identity of ours: the server takes the socket's credentials,
        // which are right also from inside a user namespace (rootless podman runs us as
        // uid 0 of one, which would be the wrong id to claim).
        // As sd-bus sends it: the empty response pipelined (the server's "DATA" challenge
        // to the bare AUTH may come first).
        sock.write_all(b"\0AUTH EXTERNAL\r\nDATA\r\n")?;
        let mut line = read_line(&mut sock)?;
        if line.starts_with("DATA") {
            line = read_line(&mut sock)?;
        }
        if !line.starts_with("OK ") {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, format!("D-Bus authentication refused: {line}")));
        }
        sock.write_all(b"BEGIN\r\n")?;
        let mut c = Connection { sock, serial: 0, pending: Vec::new(), bus };
        if bus {
            c.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello", &[])?;
        } else {
            c.ping()?;
        }
        Ok(c)
    }

    /// Seen with systemd 252 on its private socket: a call sent right after BEGIN while
    /// systemd is busy (a delete right after the scope emptied) is read together with the
    /// authentication and then left unanswered until more input arrives. So a new
    /// connection first sends org.freedesktop.DBus.Peer.Ping (harmless, answered by any
    /// sd-bus peer); unanswered within 0.3 s, a second Ping is that input, and both are
    /// answered. Every later call of the connection then goes through normally.
    fn ping(&mut self) -> io::Result<()> {
        let ping = |c: &mut Connection| c.call("org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.DBus.Peer", "Ping", &[]);
        self.set_timeout(Duration::from_millis(300))?;
        let first = ping(self);
        self.set_timeout(Duration::from_secs(30))?;
        match first {
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                crate::logging::debug("systemd did not answer at once: asking again on the same connection");
                ping(self).map(drop)
            }
            r => r.map(drop),
        }
    }

    /// How long a call waits for its reply.
    pub fn set_timeout(&mut self, t: Duration) -> io::Result<()> {
        self.sock.set_read_timeout(Some(t))
    }

    /// Connected to a message bus (signals need AddMatch there), not to systemd itself.
    pub fn is_bus(&self) -> bool {
        self.bus
    }

    /// A method call and its reply; an error reply is an error with its name and text.
    pub fn call(&mut self, dest: &str, path: &str, iface: &str, member: &str, args: &[Value]) -> io::Result<Message> {
        self.serial += 1;
        let serial = self.serial;
        let mut body = Writer { buf: Vec::new() };
        for a in args {
            body.value(a);
        }
        let sig: String = args.iter().map(Value::signature).collect();
        let mut fields = vec![
            Value::Struct(vec![byte_code(1), Value::Variant(Box::new(Value::Path(path.into())))]),
            Value::Struct(vec![byte_code(2), Value::Variant(Box::new(Value::Str(iface.into())))]),
            Value::Struct(vec![byte_code(3), Value::Variant(Box::new(Value::Str(member.into())))]),
        ];
        if self.bus {
            fields.push(Value::Struct(vec![byte_code(6), Value::Variant(Box::new(Value::Str(dest.into())))]));
        }
        if !sig.is_empty() {
            fields.push(Value::Struct(vec![byte_code(8), Value::Variant(Box::new(Value::Sig(sig)))]));
        }
        let mut h = Writer { buf: vec![b'l', METHOD_CALL, 0, 1] };
        h.buf.extend_from_slice(&(body.buf.len() as u32).to_le_bytes());
        h.buf.extend_from_slice(&serial.to_le_bytes());
        h.value(&Value::Array("(yv)".into(), fields));
        h.pad(8);
        h.buf.extend_from_slice(&body.buf);
        self.sock.write_all(&h.buf)?;
        loop {
            let m = self.read()?;
            match m.kind {
                METHOD_RETURN if m.reply_serial == Some(serial) => return Ok(m),
                ERROR if m.reply_serial == Some(serial) => {
                    let text = m.args().into_iter().next().unwrap_or_default();
                    return Err(io::Error::other(format!("{}: {text}", m.error_name.unwrap_or_default())));
                }
                SIGNAL => self.pending.push(m),
                _ => {}
            }
        }
    }

    /// Waits until `until` accepts a signal (ones already read first), or `timeout`.
    pub fn wait_signal(&mut self, timeout: Duration, until: impl Fn(&Message) -> bool) -> io::Result<Message> {
        if let Some(i) = self.pending.iter().position(&until) {
            return Ok(self.pending.remove(i));
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out waiting for systemd"));
            }
            self.sock.set_read_timeout(Some(left))?;
            let m = self.read()?;
            if m.kind == SIGNAL && until(&m) {
                return Ok(m);
            }
        }
    }

    fn read(&mut self) -> io::Result<Message> {
        let mut fixed = [0u8; 16];
        self.sock.read_exact(&mut fixed)?;
        if fixed[0] != b'l' {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "D-Bus: big-endian message"));
        }
        let body_len = u32::from_le_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]) as usize;
        let fields_len = u32::from_le_bytes([fixed[12], fixed[13], fixed[14], fixed[15]]) as usize;
        if body_len > 1 << 26 || fields_len > 1 << 26 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "D-Bus: message too large"));
        }
        let header_len = (16 + fields_len).div_ceil(8) * 8;
        let mut rest = vec![0u8; header_len - 16 + body_len];
        self.sock.read_exact(&mut rest)?;
        let mut all = fixed.to_vec();
        all.extend_from_slice(&rest);
        let mut m = Message { kind: fixed[1], reply_serial: None, error_name: None, member: None, signature: String::new(), body: all[header_len..].to_vec() };
        let mut r = Reader { buf: &all[..16 + fields_len], pos: 16 };
        while r.pos < 16 + fields_len {
            r.align(8);
            let Some(&code) = all.get(r.pos) else { break };
            r.pos += 1;
            let sig = r.sig()?;
            match (code, sig.as_str()) {
                (5, "u") => m.reply_serial = Some(r.u32()?),
                (4, "s") => m.error_name = Some(r.str()?),
                (3, "s") => m.member = Some(r.str()?),
                (8, "g") => m.signature = r.sig()?,
                (_, "s" | "o") => drop(r.str()?),
                (_, "g") => drop(r.sig()?),
                (_, "u") => drop(r.u32()?),
                _ => return Err(io::Error::new(io::ErrorKind::InvalidData, format!("D-Bus: header field of type {sig}"))),
            }
        }
        Ok(m)
    }
}

/// A header field code (`y`).
fn byte_code(c: u8) -> Value {
    Value::Byte(c)
}

fn read_line(s: &mut UnixStream) -> io::Result<String> {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    while out.len() < 4096 {
        s.read_exact(&mut b)?;
        if b[0] == b'\n' {
            break;
        }
        out.push(b[0]);
    }
    Ok(String::from_utf8_lossy(&out).trim_end().to_string())
}
