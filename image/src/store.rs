//! The content-addressed store (`--store`, default /var/lib/berth-image for root,
//! `$XDG_DATA_HOME/berth-image` otherwise):
//!
//! ```text
//! blobs/sha256/<hex>              manifests, configs, layers as the registry sent them
//! layers/sha256/<diff_id hex>/    a layer unpacked once (overlayfs format), shared
//! images/<hash of ref>.json       what a reference resolved to (manifest, layers)
//! bundles/<hash of dir>.json      snapshot bundles using layers (kept by prune)
//! tmp/                            downloads and unpacks in progress
//! lock                            shared by pull/bundle, exclusive by rm/prune
//! ```
//!
//! Nothing half-made is ever trusted: a blob is written to tmp/, checked against its
//! digest, then renamed into blobs/; a layer is unpacked into tmp/ and renamed into
//! layers/ when complete. Two processes pulling the same image are safe: each blob is
//! renamed into place whole (the second rename replaces identical content), and a layer
//! is unpacked under its own lock by one of them while the other waits and reuses it.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::{Digest, Hashing};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("store {path}: {what}: {source}")]
    Io { path: PathBuf, what: &'static str, source: io::Error },
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    Mismatch { what: String, expected: String, actual: String },
    #[error("no space left on the device of the store ({0})")]
    DiskFull(PathBuf),
    #[error("image {0} is not in the store (pull it first)")]
    NoImage(String),
    #[error("corrupt record {path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
}

fn io_err<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| {
        if source.raw_os_error() == Some(libc::ENOSPC) {
            Error::DiskFull(path.to_path_buf())
        } else {
            Error::Io { path: path.to_path_buf(), what, source }
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Layer {
    pub digest: Digest,
    #[serde(rename = "diffID")]
    pub diff_id: Digest,
    pub media_type: String,
    pub size: u64,
}

/// What a reference resolved to when it was pulled.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    pub reference: String,
    /// The platform's manifest.
    pub digest: Digest,
    /// The index it was chosen from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_digest: Option<Digest>,
    pub media_type: String,
    pub platform: String,
    pub config: Digest,
    pub layers: Vec<Layer>,
    pub pulled: String,
    /// The reference its blobs were pulled from (a commit's base's), for push's
    /// cross-repository mounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

/// A snapshot bundle (an overlay of store layers), so that prune keeps its layers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleRecord {
    pub dir: PathBuf,
    pub image: String,
    pub layers: Vec<Digest>,
    /// A `--copy` bundle (a plain rootfs), not a snapshot.
    #[serde(default)]
    pub copy: bool,
}

pub struct Store {
    pub root: PathBuf,
}

/// An flock on the store's lock file; released on drop.
pub struct Lock(#[allow(dead_code)] File);

pub fn default_root() -> PathBuf {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/var/lib/berth-image");
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    data.join("berth-image")
}

fn name_hash(s: &str) -> String {
    Digest::of(s.as_bytes()).hex()[..32].to_string()
}

impl Store {
    pub fn open(root: &Path) -> Result<Store, Error> {
        for d in ["blobs/sha256", "layers/sha256", "images", "bundles", "tmp"] {
            let p = root.join(d);
            fs::DirBuilder::new().recursive(true).mode(0o700).create(&p).map_err(io_err(&p, "create"))?;
        }
        Ok(Store { root: root.to_path_buf() })
    }

    fn flock(&self, how: libc::c_int) -> Result<Lock, Error> {
        let p = self.root.join("lock");
        let f = fs::OpenOptions::new().create(true).truncate(false).write(true).mode(0o600).custom_flags(libc::O_CLOEXEC).open(&p).map_err(io_err(&p, "open lock"))?;
        loop {
            // SAFETY: flock on an fd we own.
            if unsafe { libc::flock(f.as_raw_fd(), how) } == 0 {
                return Ok(Lock(f));
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(io_err(&p, "lock")(e));
            }
        }
    }

    /// Held while pulling or bundling: many at once.
    pub fn shared(&self) -> Result<Lock, Error> {
        self.flock(libc::LOCK_SH)
    }

    /// Held by rm and prune: alone.
    pub fn exclusive(&self) -> Result<Lock, Error> {
        self.flock(libc::LOCK_EX)
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(d.hex())
    }

    pub fn has_blob(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file()
    }

    /// A new temporary path under tmp/ (unique to this process and call).
    pub fn tmp_path(&self, what: &str) -> PathBuf {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.root.join("tmp").join(format!("{what}-{}-{n}", std::process::id()))
    }

    /// Stores a blob from a stream, checked against `d` as it is written; a mismatch
    /// removes the partial file and names both digests.
    pub fn put_blob(&self, d: &Digest, r: impl Read, what: &str) -> Result<u64, Error> {
        let tmp = self.tmp_path("blob");
        let result = (|| {
            let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).custom_flags(libc::O_CLOEXEC).open(&tmp).map_err(io_err(&tmp, "create"))?;
            let mut h = Hashing::new(r);
            io::copy(&mut h, &mut f).map_err(io_err(&tmp, "write"))?;
            let got = h.digest();
            if &got != d {
                return Err(Error::Mismatch { what: what.into(), expected: d.to_string(), actual: got.to_string() });
            }
            f.flush().map_err(io_err(&tmp, "write"))?;
            let dest = self.blob_path(d);
            fs::rename(&tmp, &dest).map_err(io_err(&dest, "rename"))?;
            Ok(h.bytes)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Stores bytes already in memory (manifests, configs), checked likewise.
    pub fn put_bytes(&self, d: &Digest, data: &[u8], what: &str) -> Result<(), Error> {
        if self.has_blob(d) {
            return Ok(());
        }
        self.put_blob(d, data, what).map(|_| ())
    }

    /// A small blob (manifest, config), checked against its digest on the way in.
    pub fn read_blob(&self, d: &Digest, limit: u64) -> Result<Vec<u8>, Error> {
        let p = self.blob_path(d);
        let mut data = Vec::new();
        File::open(&p).map_err(io_err(&p, "open"))?.take(limit).read_to_end(&mut data).map_err(io_err(&p, "read"))?;
        let got = Digest::of(&data);
        if &got != d {
            return Err(Error::Mismatch { what: format!("stored blob {d}"), expected: d.to_string(), actual: got.to_string() });
        }
        Ok(data)
    }

    pub fn layer_dir(&self, diff_id: &Digest) -> PathBuf {
        self.root.join("layers/sha256").join(diff_id.hex())
    }

    pub fn has_layer(&self, diff_id: &Digest) -> bool {
        self.layer_dir(diff_id).is_dir()
    }

    /// The lock under which one process unpacks a layer.
    pub fn layer_lock(&self, diff_id: &Digest) -> Result<Lock, Error> {
        let p = self.root.join("layers/sha256").join(format!("{}.lock", diff_id.hex()));
        let f = fs::OpenOptions::new().create(true).truncate(false).write(true).mode(0o600).custom_flags(libc::O_CLOEXEC).open(&p).map_err(io_err(&p, "open lock"))?;
        // SAFETY: flock on an fd we own.
        while unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(io_err(&p, "lock")(e));
            }
        }
        Ok(Lock(f))
    }

    /// Moves a completely unpacked layer into place.
    pub fn commit_layer(&self, tmp: &Path, diff_id: &Digest) -> Result<(), Error> {
        let dest = self.layer_dir(diff_id);
        fs::rename(tmp, &dest).map_err(io_err(&dest, "commit layer"))
    }

    fn image_path(&self, reference: &str) -> PathBuf {
        self.root.join("images").join(format!("{}.json", name_hash(reference)))
    }

    pub fn save_image(&self, img: &Image) -> Result<(), Error> {
        let p = self.image_path(&img.reference);
        let data = serde_json::to_vec_pretty(img).map_err(|e| Error::Corrupt { path: p.clone(), reason: e.to_string() })?;
        berth::util::fs::write_atomic(&p, &data, 0o600).map_err(io_err(&p, "write"))
    }

    pub fn load_image(&self, reference: &str) -> Result<Image, Error> {
        let p = self.image_path(reference);
        let data = match fs::read(&p) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Error::NoImage(reference.into())),
            Err(e) => return Err(io_err(&p, "read")(e)),
        };
        serde_json::from_slice(&data).map_err(|e| Error::Corrupt { path: p, reason: e.to_string() })
    }

    pub fn images(&self) -> Result<Vec<Image>, Error> {
        let d = self.root.join("images");
        let mut out = Vec::new();
        for e in fs::read_dir(&d).map_err(io_err(&d, "read"))?.flatten() {
            if e.path().extension().is_some_and(|x| x == "json") {
                let data = fs::read(e.path()).map_err(io_err(&e.path(), "read"))?;
                out.push(serde_json::from_slice(&data).map_err(|x| Error::Corrupt { path: e.path(), reason: x.to_string() })?);
            }
        }
        out.sort_by(|a: &Image, b: &Image| a.reference.cmp(&b.reference));
        Ok(out)
    }

    pub fn remove_image(&self, reference: &str) -> Result<(), Error> {
        let p = self.image_path(reference);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::NoImage(reference.into())),
            Err(e) => Err(io_err(&p, "remove")(e)),
        }
    }

    fn bundle_path(&self, dir: &Path) -> PathBuf {
        self.root.join("bundles").join(format!("{}.json", name_hash(&dir.to_string_lossy())))
    }

    pub fn save_bundle(&self, b: &BundleRecord) -> Result<(), Error> {
        let p = self.bundle_path(&b.dir);
        let data = serde_json::to_vec_pretty(b).map_err(|e| Error::Corrupt { path: p.clone(), reason: e.to_string() })?;
        berth::util::fs::write_atomic(&p, &data, 0o600).map_err(io_err(&p, "write"))
    }

    pub fn load_bundle(&self, dir: &Path) -> Option<BundleRecord> {
        fs::read(self.bundle_path(dir)).ok().and_then(|d| serde_json::from_slice(&d).ok())
    }

    pub fn remove_bundle(&self, dir: &Path) {
        let _ = fs::remove_file(self.bundle_path(dir));
    }

    pub fn bundles(&self) -> Vec<BundleRecord> {
        let d = self.root.join("bundles");
        fs::read_dir(&d)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| fs::read(e.path()).ok())
            .filter_map(|d| serde_json::from_slice(&d).ok())
            .collect()
    }

    /// Removes blobs and unpacked layers that no image and no bundle refers to, and what
    /// interrupted pulls left in tmp/. Call under the exclusive lock. Returns (blobs,
    /// layers) removed.
    pub fn prune(&self) -> Result<(usize, usize), Error> {
        let mut keep_blobs = std::collections::HashSet::new();
        let mut keep_layers = std::collections::HashSet::new();
        for i in self.images()? {
            keep_blobs.insert(i.digest.hex().to_string());
            keep_blobs.insert(i.config.hex().to_string());
            if let Some(x) = &i.index_digest {
                keep_blobs.insert(x.hex().to_string());
            }
            for l in &i.layers {
                keep_blobs.insert(l.digest.hex().to_string());
                keep_layers.insert(l.diff_id.hex().to_string());
            }
        }
        for b in self.bundles() {
            if b.dir.join("rootfs").exists() || b.dir.exists() {
                for l in b.layers {
                    keep_layers.insert(l.hex().to_string());
                }
            }
        }
        let mut removed = (0, 0);
        let blobs = self.root.join("blobs/sha256");
        for e in fs::read_dir(&blobs).map_err(io_err(&blobs, "read"))?.flatten() {
            if !keep_blobs.contains(e.file_name().to_string_lossy().as_ref()) {
                fs::remove_file(e.path()).map_err(io_err(&e.path(), "remove"))?;
                removed.0 += 1;
            }
        }
        let layers = self.root.join("layers/sha256");
        for e in fs::read_dir(&layers).map_err(io_err(&layers, "read"))?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let id = name.trim_end_matches(".lock");
            if !keep_layers.contains(id) {
                remove_tree(&e.path())?;
                if !name.ends_with(".lock") {
                    removed.1 += 1;
                }
            }
        }
        let tmp = self.root.join("tmp");
        for e in fs::read_dir(&tmp).map_err(io_err(&tmp, "read"))?.flatten() {
            remove_tree(&e.path())?;
        }
        Ok(removed)
    }
}

/// Removes a file or a directory tree without following links.
pub fn remove_tree(p: &Path) -> Result<(), Error> {
    let meta = match fs::symlink_metadata(p) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(p, "stat")(e)),
    };
    if meta.is_dir() {
        fs::remove_dir_all(p).map_err(io_err(p, "remove"))
    } else {
        fs::remove_file(p).map_err(io_err(p, "remove"))
    }
}
