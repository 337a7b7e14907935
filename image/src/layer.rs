//! Writing a layer: the changes of a bundle's rootfs against its image, as one tar stream
//! in the OCI format (PAX for long names and xattrs, `.wh.NAME` for deletions,
//! `.wh..wh..opq` for a directory that replaced a lower one), gzip-compressed, with its
//! digest and diff_id computed as it is written.
//!
//! Where the changes come from:
//! - a snapshot bundle: its overlay's upper directory, which holds exactly them (a 0:0
//!   character device is a deletion, `trusted.overlay.opaque` a replaced directory);
//! - a `--copy` bundle: a walk of its rootfs against the image's own view (the store's
//!   layers as a read-only overlay): added, changed (type, mode, owner, size, times,
//!   link target, device, xattrs) and deleted paths.
//! Owners, modes, xattrs (`user.*`, `security.capability`) and hardlinks are kept.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::digest::{Digest, Hashing};

#[derive(Debug, thiserror::Error)]
#[error("{path}: {what}: {source}")]
pub struct Error {
    pub path: PathBuf,
    pub what: &'static str,
    pub source: io::Error,
}

fn err<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error { path: path.to_path_buf(), what, source }
}

/// The xattrs a layer carries (the unpacker's rule).
fn kept_xattr(name: &[u8]) -> bool {
    name == b"security.capability" || name.starts_with(b"user.")
}

fn xattrs(p: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let c = match std::ffi::CString::new(p.as_os_str().as_bytes()) {
        Ok(c) => c,
        Err(_) => return Vec::new(),
    };
    let mut names = vec![0u8; 64 << 10];
    // SAFETY: llistxattr into a buffer of the given size.
    let n = unsafe { libc::llistxattr(c.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    if n <= 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    for name in names[..n as usize].split(|b| *b == 0).filter(|n| !n.is_empty() && kept_xattr(n)) {
        let Ok(cn) = std::ffi::CString::new(name) else { continue };
        let mut v = vec![0u8; 64 << 10];
        // SAFETY: lgetxattr into a buffer of the given size.
        let k = unsafe { libc::lgetxattr(c.as_ptr(), cn.as_ptr(), v.as_mut_ptr().cast(), v.len()) };
        if k >= 0 {
            v.truncate(k as usize);
            out.push((name.to_vec(), v));
        }
    }
    out.sort();
    out
}

fn is_opaque(p: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(p.as_os_str().as_bytes()) else { return false };
    let mut v = [0u8; 4];
    // SAFETY: lgetxattr into a small buffer.
    let n = unsafe { libc::lgetxattr(c.as_ptr(), c"trusted.overlay.opaque".as_ptr(), v.as_mut_ptr().cast(), v.len()) };
    n == 1 && v[0] == b'y'
}

/// One PAX record: "LEN key=value\n", LEN counting the whole record.
fn pax_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let body = key.len() + value.len() + 3;
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// A tar stream being written, with the digests of the layer it becomes.
pub struct Writer<W: Write> {
    tar: tar::Builder<Hashing<Gz<W>>>,
    /// (dev, ino) → the path of its first entry: later ones are hardlinks.
    links: HashMap<(u64, u64), String>,
    pub entries: u64,
}

/// gzip that also hashes what it writes out (the compressed digest).
pub struct Gz<W: Write> {
    enc: flate2::write::GzEncoder<HashingW<W>>,
}

pub struct HashingW<W: Write> {
    inner: W,
    hash: sha2::Sha256,
    pub bytes: u64,
}

impl<W: Write> Write for HashingW<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(b)?;
        sha2::Digest::update(&mut self.hash, &b[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Write> Write for Gz<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.enc.write(b)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.enc.flush()
    }
}

/// `Hashing` for a writer: what goes into the gzip is the uncompressed stream (diff_id).
impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let n = self.get_mut().write(b)?;
        self.update(&b[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.get_mut().flush()
    }
}

/// What writing a layer gives: its diff_id, compressed digest and size.
pub struct Written {
    pub diff_id: Digest,
    pub digest: Digest,
    pub size: u64,
}

impl<W: Write> Writer<W> {
    pub fn new(out: W) -> Writer<W> {
        let hw = HashingW { inner: out, hash: <sha2::Sha256 as sha2::Digest>::new(), bytes: 0 };
        let gz = Gz { enc: flate2::write::GzEncoder::new(hw, flate2::Compression::fast()) };
        let mut tar = tar::Builder::new(Hashing::new_writer(gz));
        tar.mode(tar::HeaderMode::Complete);
        Writer { tar, links: HashMap::new(), entries: 0 }
    }

    fn append(&mut self, name: &str, kind: tar::EntryType, m: &fs::Metadata, link: Option<&[u8]>, xattrs: &[(Vec<u8>, Vec<u8>)], data: Option<&mut dyn Read>) -> io::Result<()> {
        let mut pax = Vec::new();
        let mut h = tar::Header::new_ustar();
        if h.set_path(name).is_err() || name.len() > 99 {
            pax_record(&mut pax, b"path", name.as_bytes());
            h.set_path(format!("PaxPath-{}", self.entries)).ok();
        }
        if let Some(l) = link {
            if h.set_link_name_literal(l).is_err() || l.len() > 99 {
                pax_record(&mut pax, b"linkpath", l);
                h.set_link_name_literal(b"PaxLink").ok();
            }
        }
        for (k, v) in xattrs {
            let mut key = b"SCHILY.xattr.".to_vec();
            key.extend_from_slice(k);
            pax_record(&mut pax, &key, v);
        }
        if !pax.is_empty() {
            self.append_pax(&pax)?;
        }
        h.set_entry_type(kind);
        h.set_mode(m.mode() & 0o7777);
        h.set_uid(m.uid() as u64);
        h.set_gid(m.gid() as u64);
        h.set_mtime(m.mtime().max(0) as u64);
        if matches!(kind, tar::EntryType::Char | tar::EntryType::Block) {
            h.set_device_major(libc::major(m.rdev())).ok();
            h.set_device_minor(libc::minor(m.rdev())).ok();
        }
        h.set_size(if kind == tar::EntryType::Regular { m.len() } else { 0 });
        h.set_cksum();
        match data {
            Some(r) => self.tar.append(&h, r.take(m.len()))?,
            None => self.tar.append(&h, io::empty())?,
        }
        self.entries += 1;
        Ok(())
    }

    /// Adds the file at `src` (not followed if a link) as `name` in the layer.
    pub fn add(&mut self, name: &str, src: &Path) -> Result<(), Error> {
        let m = fs::symlink_metadata(src).map_err(err(src, "stat"))?;
        let t = m.file_type();
        let x = xattrs(src);
        let r = if t.is_dir() {
            self.append(&format!("{name}/"), tar::EntryType::Directory, &m, None, &x, None)
        } else if t.is_symlink() {
            let target = fs::read_link(src).map_err(err(src, "read link"))?;
            self.append(name, tar::EntryType::Symlink, &m, Some(target.as_os_str().as_bytes()), &[], None)
        } else if t.is_file() {
            if m.nlink() > 1 {
                if let Some(first) = self.links.get(&(m.dev(), m.ino())).cloned() {
                    return self.append(name, tar::EntryType::Link, &m, Some(first.as_bytes()), &[], None).map_err(err(src, "write"));
                }
                self.links.insert((m.dev(), m.ino()), name.to_string());
            }
            let mut f = File::open(src).map_err(err(src, "open"))?;
            self.append(name, tar::EntryType::Regular, &m, None, &x, Some(&mut f))
        } else if t.is_fifo() {
            self.append(name, tar::EntryType::Fifo, &m, None, &x, None)
        } else if t.is_char_device() {
            self.append(name, tar::EntryType::Char, &m, None, &x, None)
        } else if t.is_block_device() {
            self.append(name, tar::EntryType::Block, &m, None, &x, None)
        } else {
            return Ok(()); // a socket: not part of an image
        };
        r.map_err(err(src, "write"))
    }

    /// `.wh.NAME` in `dir` (a deletion), or with `opaque` `.wh..wh..opq` (a replaced
    /// directory's lower content hidden).
    pub fn whiteout(&mut self, dir: &str, name: Option<&OsStr>) -> Result<(), Error> {
        let n = match name {
            Some(n) => format!(".wh.{}", n.to_string_lossy()),
            None => ".wh..wh..opq".to_string(),
        };
        let path = if dir.is_empty() { n } else { format!("{dir}/{n}") };
        self.append_plain(&path).map_err(err(Path::new(&path), "write"))
    }

    /// A PAX extended header (path, xattrs) for the entry that follows.
    fn append_pax(&mut self, pax: &[u8]) -> io::Result<()> {
        let mut ph = tar::Header::new_ustar();
        ph.set_entry_type(tar::EntryType::XHeader);
        ph.set_path("././@PaxHeader").ok();
        ph.set_size(pax.len() as u64);
        ph.set_mode(0o644);
        ph.set_cksum();
        self.tar.append(&ph, pax)
    }

    fn append_plain(&mut self, path: &str) -> io::Result<()> {
        let mut h = tar::Header::new_ustar();
        if h.set_path(path).is_err() || path.len() > 99 {
            let mut pax = Vec::new();
            pax_record(&mut pax, b"path", path.as_bytes());
            self.append_pax(&pax)?;
            h.set_path(format!("PaxPath-{}", self.entries)).ok();
        }
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(0);
        h.set_mtime(0);
        h.set_cksum();
        self.tar.append(&h, io::empty())?;
        self.entries += 1;
        Ok(())
    }

    pub fn finish(self) -> io::Result<(W, Written)> {
        let mut hashed = self.tar.into_inner()?;
        hashed.flush()?;
        let diff_id = hashed.digest();
        let gz = hashed.into_inner();
        let hw = gz.enc.finish()?;
        let digest = Digest::from_hasher(hw.hash);
        Ok((hw.inner, Written { diff_id, digest, size: hw.bytes }))
    }
}

fn rel_name(rel: &Path) -> String {
    rel.to_string_lossy().into_owned()
}

/// The changes in an overlay's upper directory.
pub fn from_upper<W: Write>(w: &mut Writer<W>, upper: &Path) -> Result<(), Error> {
    walk_upper(w, upper, Path::new(""))
}

fn sorted_children(dir: &Path) -> Result<Vec<(std::ffi::OsString, PathBuf)>, Error> {
    let mut v: Vec<_> = fs::read_dir(dir).map_err(err(dir, "read"))?.flatten().map(|e| (e.file_name(), e.path())).collect();
    v.sort();
    Ok(v)
}

fn walk_upper<W: Write>(w: &mut Writer<W>, dir: &Path, rel: &Path) -> Result<(), Error> {
    for (name, p) in sorted_children(dir)? {
        let r = rel.join(&name);
        let m = fs::symlink_metadata(&p).map_err(err(&p, "stat"))?;
        if m.file_type().is_char_device() && m.rdev() == 0 {
            w.whiteout(&rel_name(rel), Some(&name))?;
            continue;
        }
        w.add(&rel_name(&r), &p)?;
        if m.is_dir() {
            if is_opaque(&p) {
                w.whiteout(&rel_name(&r), None)?;
            }
            walk_upper(w, &p, &r)?;
        }
    }
    Ok(())
}

#[derive(PartialEq)]
struct Stat {
    kind: u32,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    mtime: (i64, i64),
    rdev: u64,
    link: Option<PathBuf>,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

fn stat_of(p: &Path, m: &fs::Metadata) -> Stat {
    Stat {
        kind: m.mode() & libc::S_IFMT,
        mode: m.mode() & 0o7777,
        uid: m.uid(),
        gid: m.gid(),
        size: if m.is_dir() { 0 } else { m.len() },
        mtime: (m.mtime(), m.mtime_nsec()),
        rdev: m.rdev(),
        link: m.file_type().is_symlink().then(|| fs::read_link(p).ok()).flatten(),
        xattrs: xattrs(p),
    }
}

/// The changes of `new` (a plain rootfs) against `old` (the image's view).
pub fn from_diff<W: Write>(w: &mut Writer<W>, old: &Path, new: &Path) -> Result<(), Error> {
    diff_dir(w, old, new, Path::new(""))
}

fn diff_dir<W: Write>(w: &mut Writer<W>, old: &Path, new: &Path, rel: &Path) -> Result<(), Error> {
    let olds: BTreeMap<_, _> = sorted_children(old).unwrap_or_default().into_iter().collect();
    let news = sorted_children(new)?;
    let newnames: std::collections::BTreeSet<_> = news.iter().map(|(n, _)| n.clone()).collect();
    for name in olds.keys() {
        if !newnames.contains(name) {
            w.whiteout(&rel_name(rel), Some(name))?;
        }
    }
    for (name, np) in news {
        let r = rel.join(&name);
        let nm = fs::symlink_metadata(&np).map_err(err(&np, "stat"))?;
        match olds.get(&name).and_then(|op| fs::symlink_metadata(op).ok().map(|om| (op, om))) {
            None => add_all(w, &np, &r)?,
            Some((op, om)) => {
                let (a, b) = (stat_of(op, &om), stat_of(&np, &nm));
                if a.kind != b.kind {
                    // A replacement: the old one (and, for a directory, all below it) goes.
                    w.whiteout(&rel_name(rel), Some(&name))?;
                    add_all(w, &np, &r)?;
                } else if nm.is_dir() {
                    if a != b {
                        w.add(&rel_name(&r), &np)?;
                    }
                    diff_dir(w, op, &np, &r)?;
                } else if a != b {
                    w.add(&rel_name(&r), &np)?;
                }
            }
        }
    }
    Ok(())
}

fn add_all<W: Write>(w: &mut Writer<W>, p: &Path, rel: &Path) -> Result<(), Error> {
    w.add(&rel_name(rel), p)?;
    if fs::symlink_metadata(p).map_err(err(p, "stat"))?.is_dir() {
        for (name, c) in sorted_children(p)? {
            add_all(w, &c, &rel.join(name))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_records_count_their_own_length() {
        let mut v = Vec::new();
        pax_record(&mut v, b"path", b"a");
        assert_eq!(v, b"9 path=a\n");
        let mut v = Vec::new();
        pax_record(&mut v, b"path", &[b'x'; 95]);
        assert_eq!(v.len().to_string(), String::from_utf8_lossy(&v).split(' ').next().unwrap());
    }
}
