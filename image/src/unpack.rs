//! Unpacking a layer's tar stream, safe by construction: an image is untrusted input.
//!
//! Every entry's parent is resolved beneath the root with openat2(RESOLVE_IN_ROOT)
//! (berth::rootfs::paths), the entry itself is made with an *at call on that parent fd
//! and O_NOFOLLOW / AT_SYMLINK_NOFOLLOW, and names are cleaned lexically first (`./`,
//! `/`, `..` never above the root). Whatever a layer holds (symlinks or hardlinks
//! pointing out, `..`, absolute names), nothing outside the root is created, changed or
//! removed: a symlink is always the last component of what is made, never followed.
//!
//! Two modes:
//! - `Layer`: into an empty directory of its own, in overlayfs's format (a whiteout
//!   `.wh.NAME` becomes a 0:0 character device NAME, an opaque marker `.wh..wh..opq` the
//!   `trusted.overlay.opaque` attribute of its directory), to be stacked as a lower layer;
//! - `Apply`: onto a flattened rootfs, with OCI's semantics: `.wh.NAME` removes NAME of the
//!   lower layers (a symlink itself, never its target), `.wh..wh..opq` hides every lower
//!   child of its directory wherever it stands in the layer, entries of the same layer
//!   staying.
//!
//! Per entry: a file replaced by a directory or a directory by a symlink; hardlinks to a
//! target inside the root; fifos; devices (made where allowed, skipped in a user
//! namespace); owner, then mode (a chown clears setuid bits), then xattrs
//! (`security.capability` and `user.*` kept; `trusted.*`, `security.selinux` and others
//! dropped); file times, and directory times after their children. `.wh.`, `.wh..` and
//! `.wh...` are refused; no `.wh.` file is ever written. A stream that ends without its
//! end-of-archive blocks or its last padding (umoci writes those) is read to its end.

use std::collections::{HashMap, HashSet};
use std::ffi::{CString, OsStr};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use berth::rootfs::paths::{self, Kind};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("tar stream: {0}")]
    Tar(io::Error),
    #[error("{path}: {what}: {source}")]
    Io { path: String, what: &'static str, source: io::Error },
    #[error("{path}: invalid whiteout {name:?}")]
    BadWhiteout { path: String, name: String },
    #[error("{path}: hardlink to {target}, which is not in the image")]
    LinkTarget { path: String, target: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Layer,
    Apply,
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub mode: Mode,
    /// In a user namespace: devices are skipped, overlay attributes go to `user.overlay.*`.
    pub in_userns: bool,
}

/// What unpacking found that the caller finishes.
#[derive(Debug, Default)]
pub struct Report {
    pub entries: u64,
    pub bytes: u64,
    /// `Layer` mode: hardlinks whose target is in a lower layer: (link, target), both
    /// relative to the root; the caller links them once the lower layers are there.
    pub pending_links: Vec<(PathBuf, PathBuf)>,
    /// Devices skipped in a user namespace.
    pub skipped_devices: u64,
    /// `Layer` mode: directories the layer holds without an entry of their own (made as
    /// parents of its entries). In the overlay they would hide the attributes a lower
    /// layer gave them; the caller copies those over (pull.rs).
    pub implicit_dirs: Vec<PathBuf>,
}

fn io_err<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io { path: path.display().to_string(), what, source }
}

fn errno() -> io::Error {
    io::Error::last_os_error()
}

fn cstr(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in a name"))
}

/// `./a//b/../c` → `a/c`; `..` never climbs above the root. None for the root itself.
pub fn clean(name: &Path) -> Option<PathBuf> {
    let mut out: Vec<&OsStr> = Vec::new();
    for c in name.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    (!out.is_empty()).then(|| out.iter().collect())
}

/// After the real stream ends, 1024 zero bytes: the end-of-archive blocks a stream may
/// lack, and any padding of its last file, so that a truncated-but-complete stream reads
/// to its end. (Digests are computed below this, on the real bytes only.)
struct ZeroTail<R> {
    inner: R,
    tail: usize,
}

impl<R: Read> Read for ZeroTail<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.tail == 0 {
            let n = self.inner.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            self.tail = 1;
        }
        let left = 1025 - self.tail;
        let n = left.min(buf.len());
        buf[..n].fill(0);
        self.tail += n;
        Ok(n)
    }
}

fn stat_at(dir: RawFd, name: &CString) -> Option<libc::stat> {
    // SAFETY: fstatat into a zeroed struct, not following a final symlink.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        (libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) == 0).then_some(st)
    }
}

fn is_dir(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

/// Removes `name` in `dir` and, for a directory, everything below it. Never follows a
/// symlink: a link is removed as a link.
pub fn remove_at(dir: RawFd, name: &CString) -> io::Result<()> {
    let Some(st) = stat_at(dir, name) else { return Ok(()) };
    if is_dir(&st) {
        // SAFETY: openat of a directory we just saw, without following a link.
        let fd = unsafe { libc::openat(dir, name.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(errno());
        }
        // SAFETY: fd is new.
        let d = unsafe { OwnedFd::from_raw_fd(fd) };
        for child in list(&d)? {
            remove_at(d.as_raw_fd(), &child)?;
        }
        // SAFETY: unlinkat relative to dir.
        if unsafe { libc::unlinkat(dir, name.as_ptr(), libc::AT_REMOVEDIR) } != 0 {
            return Err(errno());
        }
        return Ok(());
    }
    // SAFETY: unlinkat relative to dir.
    if unsafe { libc::unlinkat(dir, name.as_ptr(), 0) } != 0 {
        let e = errno();
        if e.raw_os_error() != Some(libc::ENOENT) {
            return Err(e);
        }
    }
    Ok(())
}

/// The names in a directory (not `.` and `..`).
pub fn list(d: &OwnedFd) -> io::Result<Vec<CString>> {
    berth::util::fs::dir_names(std::os::fd::AsFd::as_fd(d))
}

/// Whether an xattr of an image is kept.
fn keep_xattr(name: &str) -> bool {
    name == "security.capability" || name.starts_with("user.")
}

struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    xattrs: Vec<(CString, Vec<u8>)>,
}

pub struct Unpacker {
    root: OwnedFd,
    opts: Options,
    /// Parent directories resolved so far (by cleaned path), dropped whenever something
    /// at or above them is replaced.
    dirs: HashMap<PathBuf, OwnedFd>,
    /// Directory times to set after their children, in order of creation.
    dir_times: Vec<(PathBuf, i64)>,
    /// `Apply`: every path this layer wrote, and the opaque directories to clear.
    touched: HashSet<PathBuf>,
    opaque: Vec<PathBuf>,
    /// `Layer`: the directories that had an entry of their own.
    explicit: HashSet<PathBuf>,
    /// The copy buffer, one per unpacker (not one per file).
    buf: Vec<u8>,
    /// Who creates the files (euid, egid): owners that match need no chown.
    owner: (u32, u32),
    report: Report,
}

impl Unpacker {
    /// `root`: an fd of the directory to unpack into (O_PATH is enough).
    pub fn new(root: OwnedFd, opts: Options) -> Unpacker {
        Unpacker { root, opts, dirs: HashMap::new(), dir_times: Vec::new(), touched: HashSet::new(), opaque: Vec::new(), explicit: HashSet::new(), buf: vec![0; 256 << 10], owner: current_owner(), report: Report::default() }
    }

    fn forget_below(&mut self, p: &Path) {
        self.dirs.retain(|k, _| !k.starts_with(p));
    }

    /// The directory `rel` inside the root, made (0755) if missing.
    fn dir(&mut self, rel: &Path) -> Result<RawFd, Error> {
        if rel.as_os_str().is_empty() {
            return Ok(self.root.as_raw_fd());
        }
        if !self.dirs.contains_key(rel) {
            if self.dirs.len() > 512 {
                self.dirs.clear();
            }
            let fd = paths::ensure_in_root(self.root.as_raw_fd(), rel, Kind::Dir).map_err(io_err(rel, "open directory"))?;
            let st = nix::sys::stat::fstat(&fd).map_err(|e| Error::Io { path: rel.display().to_string(), what: "stat", source: e.into() })?;
            if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
                return Err(Error::Io { path: rel.display().to_string(), what: "open directory", source: io::Error::from_raw_os_error(libc::ENOTDIR) });
            }
            self.dirs.insert(rel.to_path_buf(), fd);
        }
        Ok(self.dirs.get(rel).map_or(self.root.as_raw_fd(), |f| f.as_raw_fd()))
    }

    fn touch(&mut self, p: &Path) {
        if self.opts.mode == Mode::Apply {
            for a in p.ancestors().filter(|a| !a.as_os_str().is_empty()) {
                if !self.touched.insert(a.to_path_buf()) {
                    break;
                }
            }
        }
    }

    /// Unpacks one tar stream.
    pub fn unpack<R: Read>(mut self, r: R) -> Result<Report, Error> {
        // Buffered: the tar parser reads each 512-byte header on its own, and each such
        // small read would otherwise be a call into the inflater and the hasher below.
        let mut ar = tar::Archive::new(io::BufReader::with_capacity(256 << 10, ZeroTail { inner: r, tail: 0 }));
        ar.set_ignore_zeros(false);
        for entry in ar.entries().map_err(Error::Tar)? {
            let mut e = entry.map_err(Error::Tar)?;
            self.entry(&mut e)?;
            self.report.entries += 1;
        }
        self.finish()
    }

    fn meta<R: Read>(e: &mut tar::Entry<R>) -> Result<Meta, Error> {
        let mut xattrs = Vec::new();
        if let Ok(Some(exts)) = e.pax_extensions() {
            for x in exts.flatten() {
                if let Some(name) = x.key().ok().and_then(|k| k.strip_prefix("SCHILY.xattr.")) {
                    if keep_xattr(name) {
                        if let Ok(n) = CString::new(name) {
                            xattrs.push((n, x.value_bytes().to_vec()));
                        }
                    }
                }
            }
        }
        let h = e.header();
        Ok(Meta {
            mode: h.mode().map_err(Error::Tar)? & 0o7777,
            uid: h.uid().map_err(Error::Tar)? as u32,
            gid: h.gid().map_err(Error::Tar)? as u32,
            mtime: h.mtime().unwrap_or(0) as i64,
            xattrs,
        })
    }

    fn entry<R: Read>(&mut self, e: &mut tar::Entry<R>) -> Result<(), Error> {
        let raw = e.path().map_err(Error::Tar)?.into_owned();
        let Some(path) = clean(&raw) else {
            return Ok(()); // the root itself ("./"): its attributes are the runtime's
        };
        let name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        let parent = path.parent().unwrap_or(Path::new("")).to_path_buf();
        let name_bytes = name.as_bytes();
        if let Some(target) = name_bytes.strip_prefix(b".wh.") {
            return self.whiteout(&parent, target, &path);
        }
        let kind = e.header().entry_type();
        let meta = Self::meta(e)?;
        let pfd = self.dir(&parent)?;
        let cname = cstr(&name).map_err(io_err(&path, "name"))?;
        // Regular files, the bulk of a layer, are created first and looked at only if
        // something is in the way (EEXIST): one syscall less per file.
        let existing = if matches!(kind, tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse) { None } else { stat_at(pfd, &cname) };
        let own = self.owner == (meta.uid, meta.gid);
        self.touch(&path);
        match kind {
            tar::EntryType::Directory => {
                if existing.as_ref().is_some_and(is_dir) {
                    // Kept (a lower layer's, or made as a parent): metadata is updated.
                } else {
                    if existing.is_some() {
                        self.replace(pfd, &cname, &path)?;
                    }
                    // SAFETY: mkdirat relative to the parent fd (the umask is 0: main.rs).
                    if unsafe { libc::mkdirat(pfd, cname.as_ptr(), if own { meta.mode } else { 0o700 }) } != 0 {
                        return Err(io_err(&path, "mkdir")(errno()));
                    }
                }
                // SAFETY: openat of the directory just made or seen, no link followed.
                let fd = unsafe { libc::openat(pfd, cname.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC) };
                if fd < 0 {
                    return Err(io_err(&path, "open directory")(errno()));
                }
                // SAFETY: fd is new.
                let fd = unsafe { OwnedFd::from_raw_fd(fd) };
                self.set_meta_fd(&fd, &meta, &path)?;
                if self.opts.mode == Mode::Layer {
                    self.explicit.insert(path.clone());
                }
                self.dir_times.push((path, meta.mtime));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                // Made with its final mode when berth-image already is its owner (the
                // umask is 0); else 0600, and the mode once the owner is set (a chown
                // clears setuid bits).
                let create_mode = if own { meta.mode } else { 0o600 };
                let create = || {
                    // SAFETY: openat creating a new file relative to the parent fd.
                    unsafe { libc::openat(pfd, cname.as_ptr(), libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC, create_mode) }
                };
                let mut fd = create();
                if fd < 0 && errno().raw_os_error() == Some(libc::EEXIST) {
                    self.replace(pfd, &cname, &path)?;
                    fd = create();
                }
                if fd < 0 {
                    return Err(io_err(&path, "create")(errno()));
                }
                // SAFETY: fd is new.
                let mut f = unsafe { std::fs::File::from_raw_fd(fd) };
                let n = copy(e, &mut f, &mut self.buf).map_err(io_err(&path, "write"))?;
                self.report.bytes += n;
                let fd = OwnedFd::from(f);
                if !own || !meta.xattrs.is_empty() {
                    self.set_meta_fd(&fd, &meta, &path)?;
                }
                set_times_fd(&fd, meta.mtime).map_err(io_err(&path, "set times"))?;
            }
            tar::EntryType::Symlink => {
                let target = e.link_name().map_err(Error::Tar)?.map(|t| t.into_owned()).unwrap_or_default();
                if existing.is_some() {
                    self.replace(pfd, &cname, &path)?;
                }
                let t = cstr(target.as_os_str()).map_err(io_err(&path, "symlink target"))?;
                // SAFETY: symlinkat relative to the parent fd.
                if unsafe { libc::symlinkat(t.as_ptr(), pfd, cname.as_ptr()) } != 0 {
                    return Err(io_err(&path, "symlink")(errno()));
                }
                // SAFETY: fchownat/utimensat on the link itself.
                unsafe {
                    if libc::fchownat(pfd, cname.as_ptr(), meta.uid, meta.gid, libc::AT_SYMLINK_NOFOLLOW) != 0 {
                        return Err(io_err(&path, "chown")(errno()));
                    }
                    let ts = [libc::timespec { tv_sec: meta.mtime, tv_nsec: 0 }, libc::timespec { tv_sec: meta.mtime, tv_nsec: 0 }];
                    libc::utimensat(pfd, cname.as_ptr(), ts.as_ptr(), libc::AT_SYMLINK_NOFOLLOW);
                }
            }
            tar::EntryType::Link => {
                let target = e.link_name().map_err(Error::Tar)?.map(|t| t.into_owned()).unwrap_or_default();
                let Some(tpath) = clean(&target) else {
                    return Err(Error::LinkTarget { path: path.display().to_string(), target: target.display().to_string() });
                };
                if existing.is_some() && tpath != path {
                    self.replace(pfd, &cname, &path)?;
                }
                self.hardlink(&path, &tpath)?;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let fmt = match kind {
                    tar::EntryType::Char => libc::S_IFCHR,
                    tar::EntryType::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                if fmt != libc::S_IFIFO && self.opts.in_userns {
                    self.report.skipped_devices += 1;
                    return Ok(());
                }
                if existing.is_some() {
                    self.replace(pfd, &cname, &path)?;
                }
                let dev = libc::makedev(e.header().device_major().ok().flatten().unwrap_or(0), e.header().device_minor().ok().flatten().unwrap_or(0));
                // SAFETY: mknodat relative to the parent fd (exact mode: the umask is 0).
                let r = unsafe { libc::mknodat(pfd, cname.as_ptr(), fmt | meta.mode, dev) };
                if r != 0 {
                    return Err(io_err(&path, "mknod")(errno()));
                }
                // SAFETY: chown of the node itself, not following a link.
                if unsafe { libc::fchownat(pfd, cname.as_ptr(), meta.uid, meta.gid, libc::AT_SYMLINK_NOFOLLOW) } != 0 {
                    return Err(io_err(&path, "chown")(errno()));
                }
            }
            // Headers the tar crate folds into entries (PAX, GNU long names) never reach
            // here; anything else (e.g. a GNU volume header) carries no file.
            _ => {}
        }
        Ok(())
    }

    /// Removes what is at `name` before another kind of file takes its place.
    fn replace(&mut self, pfd: RawFd, name: &CString, path: &Path) -> Result<(), Error> {
        self.forget_below(path);
        remove_at(pfd, name).map_err(io_err(path, "replace"))
    }

    fn whiteout(&mut self, parent: &Path, target: &[u8], path: &Path) -> Result<(), Error> {
        if target == b".wh..opq" {
            let pfd = self.dir(parent)?;
            match self.opts.mode {
                Mode::Layer => {
                    let attr = if self.opts.in_userns { c"user.overlay.opaque" } else { c"trusted.overlay.opaque" };
                    let d = open_dir_rdonly(pfd, c".").map_err(io_err(path, "open opaque directory"))?;
                    // SAFETY: fsetxattr on a directory fd we own.
                    if unsafe { libc::fsetxattr(d.as_raw_fd(), attr.as_ptr(), b"y".as_ptr().cast(), 1, 0) } != 0 {
                        return Err(io_err(path, "mark opaque")(errno()));
                    }
                }
                Mode::Apply => self.opaque.push(parent.to_path_buf()),
            }
            return Ok(());
        }
        if target.is_empty() || target == b"." || target == b".." {
            return Err(Error::BadWhiteout { path: parent.display().to_string(), name: String::from_utf8_lossy(&[b".wh.", target].concat()).into_owned() });
        }
        if target.starts_with(b".wh.") {
            return Ok(()); // aufs's own bookkeeping (.wh..wh.plnk and the like)
        }
        let pfd = self.dir(parent)?;
        let name = CString::new(target).map_err(|_| Error::BadWhiteout { path: parent.display().to_string(), name: String::from_utf8_lossy(target).into_owned() })?;
        let victim = parent.join(OsStr::from_bytes(target));
        self.forget_below(&victim);
        match self.opts.mode {
            Mode::Apply => remove_at(pfd, &name).map_err(io_err(&victim, "whiteout")),
            Mode::Layer => {
                remove_at(pfd, &name).map_err(io_err(&victim, "whiteout"))?;
                // SAFETY: mknodat of overlayfs's whiteout (a 0:0 character device).
                if unsafe { libc::mknodat(pfd, name.as_ptr(), libc::S_IFCHR, libc::makedev(0, 0)) } != 0 {
                    return Err(io_err(&victim, "whiteout")(errno()));
                }
                Ok(())
            }
        }
    }

    fn hardlink(&mut self, path: &Path, target: &Path) -> Result<(), Error> {
        let tparent = target.parent().unwrap_or(Path::new("")).to_path_buf();
        let tname = cstr(target.file_name().unwrap_or_default()).map_err(io_err(path, "link target"))?;
        let tfd = match paths::open_in_root(self.root.as_raw_fd(), &tparent, libc::O_PATH | libc::O_DIRECTORY, 0) {
            Ok(fd) => Some(fd),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => None,
            Err(e) => return Err(io_err(path, "link target")(e)),
        };
        let exists = tfd.as_ref().and_then(|fd| stat_at(fd.as_raw_fd(), &tname));
        let Some(tfd) = tfd.filter(|_| exists.is_some()) else {
            if self.opts.mode == Mode::Layer {
                self.report.pending_links.push((path.to_path_buf(), target.to_path_buf()));
                return Ok(());
            }
            return Err(Error::LinkTarget { path: path.display().to_string(), target: target.display().to_string() });
        };
        if exists.as_ref().is_some_and(is_dir) {
            return Err(Error::LinkTarget { path: path.display().to_string(), target: format!("{} (a directory)", target.display()) });
        }
        let parent = path.parent().unwrap_or(Path::new("")).to_path_buf();
        let pfd = self.dir(&parent)?;
        let name = cstr(path.file_name().unwrap_or_default()).map_err(io_err(path, "name"))?;
        // SAFETY: linkat between two fds inside the root; flags 0: a symlink target is
        // linked itself, never followed.
        if unsafe { libc::linkat(tfd.as_raw_fd(), tname.as_ptr(), pfd, name.as_ptr(), 0) } != 0 {
            return Err(io_err(path, "hardlink")(errno()));
        }
        Ok(())
    }

    /// Owner, then mode (a chown clears setuid/setgid), then xattrs. The owner is set only
    /// when it is not already the creator's.
    fn set_meta_fd(&self, fd: &OwnedFd, m: &Meta, path: &Path) -> Result<(), Error> {
        // SAFETY: fchown/fchmod/fsetxattr on an fd we own.
        unsafe {
            if (m.uid, m.gid) != self.owner && libc::fchown(fd.as_raw_fd(), m.uid, m.gid) != 0 {
                return Err(io_err(path, "chown")(errno()));
            }
            if libc::fchmod(fd.as_raw_fd(), m.mode) != 0 {
                return Err(io_err(path, "chmod")(errno()));
            }
            for (k, v) in &m.xattrs {
                if libc::fsetxattr(fd.as_raw_fd(), k.as_ptr(), v.as_ptr().cast(), v.len(), 0) != 0 {
                    let e = errno();
                    // user.* on a filesystem without them is not fatal; file capabilities are.
                    if !(k.to_bytes().starts_with(b"user.") && e.raw_os_error() == Some(libc::ENOTSUP)) {
                        return Err(io_err(path, "set xattr")(e));
                    }
                }
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Report, Error> {
        if self.opts.mode == Mode::Apply {
            let opaque = std::mem::take(&mut self.opaque);
            for d in opaque {
                let fd = self.dir(&d)?;
                let dup = open_dir_rdonly(fd, c".").map_err(io_err(&d, "open opaque directory"))?;
                self.clear_lower(&dup, &d)?;
            }
        }
        if self.opts.mode == Mode::Layer {
            let root = open_dir_rdonly(self.root.as_raw_fd(), c".").map_err(io_err(Path::new("/"), "open"))?;
            let mut implicit = Vec::new();
            self.find_implicit(&root, Path::new(""), &mut implicit)?;
            self.report.implicit_dirs = implicit;
        }
        // Directories after their children: deepest first.
        let mut times = std::mem::take(&mut self.dir_times);
        times.sort_by_key(|(p, _)| std::cmp::Reverse(p.components().count()));
        for (p, t) in times {
            if let Ok(fd) = paths::open_in_root_nofollow(self.root.as_raw_fd(), &p, libc::O_RDONLY | libc::O_DIRECTORY) {
                let _ = set_times_fd(&fd, t);
            }
        }
        Ok(self.report)
    }

    fn find_implicit(&self, d: &OwnedFd, rel: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
        for name in list(d).map_err(io_err(rel, "list"))? {
            if !stat_at(d.as_raw_fd(), &name).as_ref().is_some_and(is_dir) {
                continue;
            }
            let p = rel.join(OsStr::from_bytes(name.to_bytes()));
            if !self.explicit.contains(&p) {
                out.push(p.clone());
            }
            let sub = open_dir_rdonly(d.as_raw_fd(), &name).map_err(io_err(&p, "open"))?;
            self.find_implicit(&sub, &p, out)?;
        }
        Ok(())
    }

    /// Removes what lower layers left in `d` (an opaque directory): every child this
    /// layer did not write, recursively, keeping this layer's entries and their parents.
    fn clear_lower(&mut self, d: &OwnedFd, rel: &Path) -> Result<(), Error> {
        for name in list(d).map_err(io_err(rel, "list"))? {
            let p = rel.join(OsStr::from_bytes(name.to_bytes()));
            if !self.touched.contains(&p) {
                self.forget_below(&p);
                remove_at(d.as_raw_fd(), &name).map_err(io_err(&p, "opaque"))?;
            } else if stat_at(d.as_raw_fd(), &name).as_ref().is_some_and(is_dir) && self.touched.iter().any(|t| t.starts_with(&p) && t != &p) {
                let sub = open_dir_rdonly(d.as_raw_fd(), &name).map_err(io_err(&p, "open"))?;
                self.clear_lower(&sub, &p)?;
            }
        }
        Ok(())
    }
}

fn current_owner() -> (u32, u32) {
    // SAFETY: geteuid/getegid cannot fail.
    unsafe { (libc::geteuid(), libc::getegid()) }
}

fn open_dir_rdonly(dir: RawFd, name: &std::ffi::CStr) -> io::Result<OwnedFd> {
    // SAFETY: openat relative to a directory fd, no link followed.
    let fd = unsafe { libc::openat(dir, name.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: fd is new.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn set_times_fd(fd: &OwnedFd, mtime: i64) -> io::Result<()> {
    let ts = [libc::timespec { tv_sec: mtime, tv_nsec: 0 }, libc::timespec { tv_sec: mtime, tv_nsec: 0 }];
    // SAFETY: futimens on an fd we own.
    if unsafe { libc::futimens(fd.as_raw_fd(), ts.as_ptr()) } != 0 {
        return Err(errno());
    }
    Ok(())
}

/// Copies through the unpacker's large buffer (fewer syscalls than io::copy's 8 KiB).
fn copy(r: &mut impl Read, w: &mut std::fs::File, buf: &mut [u8]) -> io::Result<u64> {
    let mut n = 0u64;
    loop {
        let k = match r.read(buf) {
            Ok(0) => return Ok(n),
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.write_all(&buf[..k])?;
        n += k as u64;
    }
}

/// Opens a directory (by a trusted path) to unpack into.
pub fn open_root(p: &Path) -> io::Result<OwnedFd> {
    let c = cstr(p.as_os_str())?;
    // SAFETY: open with a valid C string.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: fd is new.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned_and_never_climb_out() {
        assert_eq!(clean(Path::new("./a//b/../c")), Some(PathBuf::from("a/c")));
        assert_eq!(clean(Path::new("/../../etc/passwd")), Some(PathBuf::from("etc/passwd")));
        assert_eq!(clean(Path::new("./")), None);
        assert_eq!(clean(Path::new("a/../..")), None);
    }

    #[test]
    fn a_stream_without_its_end_blocks_reads_to_its_end() {
        let mut z = ZeroTail { inner: &b"ab"[..], tail: 0 };
        let mut out = Vec::new();
        z.read_to_end(&mut out).unwrap();
        assert_eq!(out.len(), 2 + 1024);
        assert!(out[2..].iter().all(|b| *b == 0));
    }
}
