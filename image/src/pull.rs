//! pull: reference → manifest (through an index to the platform's) → config → layers,
//! every byte checked. Each layer is one pipeline, in a thread of its own (several
//! layers at once): the registry's stream → its digest → a copy into the blob store →
//! decompression → the diff_id digest → the unpacker, so no layer is ever held in memory
//! and unpacking starts with the first bytes. A layer already unpacked in the store is
//! not fetched again; a blob already stored is unpacked from disk.

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Mutex;

use oci_spec::image::{Descriptor, ImageConfiguration, ImageManifest};

use crate::digest::{Digest, Hashing};
use crate::manifest::{self, Compression, Document, Platform};
use crate::progress::Progress;
use crate::reference::Reference;
use crate::registry::{self, Client};
use crate::store::{self, Image, Layer, Store};
use crate::unpack;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Registry(#[from] registry::Error),
    #[error(transparent)]
    Manifest(#[from] manifest::Error),
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error("layer {digest}: {source}")]
    Unpack { digest: String, source: unpack::Error },
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    Mismatch { what: String, expected: String, actual: String },
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
    #[error("layer {digest}: {what}: {source}")]
    Io { digest: String, what: &'static str, source: io::Error },
}

const MAX_CONFIG: u64 = 8 << 20;
/// Layers fetched and unpacked at once. All of an image's, up to 8 (~1 MiB of buffers
/// each): the work is CPU-bound once the network is fast, and layers of similar sizes
/// run to their end together instead of leaving the last ones to one core (measured on
/// 5 layers of 60 MB with 2 cores: 4 at once 0.80 s, all at once 0.72 s).
const PARALLEL: usize = 8;

/// Passes a stream through, copying it into `w`.
struct Tee<R, W> {
    r: R,
    w: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.r.read(buf)?;
        self.w.write_all(&buf[..n])?;
        Ok(n)
    }
}

fn decompress<'a>(c: Compression, r: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match c {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(crate::gzip::GzDecoder::new(io::BufReader::with_capacity(256 << 10, r))),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(r)?),
    })
}

fn drain(r: &mut impl Read) -> io::Result<()> {
    io::copy(r, &mut io::sink()).map(drop)
}

pub struct Request<'a> {
    pub reference: &'a Reference,
    pub platform: &'a Platform,
    pub registry: &'a registry::Options,
    pub progress: &'a Progress,
    /// Whether each layer must also be unpacked into the store (for snapshot bundles).
    pub unpack: bool,
    pub in_userns: bool,
}

/// Fetches the image, stores it, records the reference. Returns the record.
pub fn pull(store: &Store, req: &Request) -> Result<Image, Error> {
    let r = req.reference;
    let client = Client::new(r, req.registry)?;
    let what = r.to_string();
    let first = client.manifest(&r.repository, &r.object())?;
    if let Some(want) = &r.digest {
        if &first.digest != want {
            return Err(Error::Mismatch { what: format!("manifest of {what}"), expected: want.to_string(), actual: first.digest.to_string() });
        }
    }
    let (index_digest, fetched) = match manifest::parse(&first.data, first.content_type.as_deref(), &what)? {
        Document::Manifest(_) => (None, first),
        Document::Index(idx) => {
            let d = manifest::select(&idx, req.platform, &what)?;
            let want = Digest::parse(d.digest().as_ref()).map_err(|e| Error::Invalid { what: what.clone(), reason: e.to_string() })?;
            let m = client.manifest(&r.repository, want.as_str())?;
            if m.digest != want {
                return Err(Error::Mismatch { what: format!("manifest {want} of {what}"), expected: want.to_string(), actual: m.digest.to_string() });
            }
            store.put_bytes(&first.digest, &first.data, "index")?;
            (Some(first.digest), m)
        }
    };
    let manifest: ImageManifest = match manifest::parse(&fetched.data, fetched.content_type.as_deref(), &what)? {
        Document::Manifest(m) => m,
        Document::Index(_) => return Err(Error::Invalid { what, reason: "an index points at another index".into() }),
    };
    let media_type = manifest.media_type().as_ref().map_or_else(|| fetched.content_type.clone().unwrap_or_else(|| manifest::OCI_MANIFEST.into()), |m| m.to_string());
    store.put_bytes(&fetched.digest, &fetched.data, "manifest")?;
    // The config.
    let cdesc = manifest.config();
    let cdigest = descriptor_digest(cdesc, &what)?;
    if !store.has_blob(&cdigest) {
        let body = client.blob(&r.repository, &cdigest)?;
        store.put_blob(&cdigest, body.take(MAX_CONFIG), &format!("config of {what}"))?;
    }
    let config: ImageConfiguration = serde_json::from_slice(&store.read_blob(&cdigest, MAX_CONFIG)?).map_err(|e| Error::Invalid { what: format!("config of {what}"), reason: e.to_string() })?;
    let diff_ids = config.rootfs().diff_ids();
    if diff_ids.len() != manifest.layers().len() {
        return Err(Error::Invalid { what: format!("config of {what}"), reason: format!("{} diff_ids for {} layers", diff_ids.len(), manifest.layers().len()) });
    }
    let mut layers = Vec::new();
    for (d, id) in manifest.layers().iter().zip(diff_ids) {
        manifest::layer_compression(d)?;
        layers.push(Layer {
            digest: descriptor_digest(d, &what)?,
            diff_id: Digest::parse(id).map_err(|e| Error::Invalid { what: format!("config of {what}"), reason: e.to_string() })?,
            media_type: d.media_type().to_string(),
            size: d.size(),
        });
    }
    fetch_layers(store, &client, &r.repository, &manifest, &layers, req)?;
    let platform = format!("{}/{}{}", config.os(), config.architecture(), config.variant().as_ref().map_or_else(String::new, |v| format!("/{v}")));
    let img = Image {
        reference: r.to_string(),
        digest: fetched.digest,
        index_digest,
        media_type,
        platform,
        config: cdigest,
        layers,
        pulled: berth::util::time::now_rfc3339_nano(),
        origin: Some(r.to_string()),
    };
    store.save_image(&img)?;
    Ok(img)
}

fn descriptor_digest(d: &Descriptor, what: &str) -> Result<Digest, Error> {
    Digest::parse(d.digest().as_ref()).map_err(|e| Error::Invalid { what: what.into(), reason: e.to_string() })
}

fn fetch_layers(store: &Store, client: &Client, repo: &str, m: &ImageManifest, layers: &[Layer], req: &Request) -> Result<(), Error> {
    let queue = Mutex::new((0..layers.len()).collect::<Vec<_>>());
    let errors: Mutex<Vec<(usize, Error)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..PARALLEL.min(layers.len()) {
            s.spawn(|| loop {
                let Some(i) = queue.lock().ok().and_then(|mut q| (!q.is_empty()).then(|| q.remove(0))) else { return };
                if errors.lock().is_ok_and(|e| !e.is_empty()) {
                    return;
                }
                if let Err(e) = one_layer(store, Some(client), repo, &m.layers()[i], &layers[i], req) {
                    if let Ok(mut v) = errors.lock() {
                        v.push((i, e));
                    }
                }
            });
        }
    });
    let mut errs = errors.into_inner().unwrap_or_default();
    errs.sort_by_key(|(i, _)| *i);
    if let Some((_, e)) = errs.into_iter().next() {
        return Err(e);
    }
    if req.unpack {
        link_across_layers(store, layers)?;
    }
    Ok(())
}

fn one_layer(store: &Store, client: Option<&Client>, repo: &str, desc: &Descriptor, l: &Layer, req: &Request) -> Result<(), Error> {
    let comp = manifest::layer_compression(desc)?;
    let io = |what: &'static str| {
        let digest = l.digest.to_string();
        move |source| Error::Io { digest, what, source }
    };
    let want_layer = req.unpack && !store.has_layer(&l.diff_id);
    let have_blob = store.has_blob(&l.digest);
    if !want_layer && have_blob {
        req.progress.done(&l.digest, l.size, "already in the store");
        return Ok(());
    }
    let _lock = if want_layer { Some(store.layer_lock(&l.diff_id)?) } else { None };
    let want_layer = want_layer && !store.has_layer(&l.diff_id);
    if !want_layer && store.has_blob(&l.digest) {
        req.progress.done(&l.digest, l.size, "already in the store");
        return Ok(());
    }
    // The compressed stream: from the store, or from the registry (copied into tmp/ on
    // the way, committed as a blob once its digest is checked).
    let blob_tmp = store.tmp_path("blob");
    let from_store = store.has_blob(&l.digest);
    let source: Box<dyn Read + Send + Sync> = match client {
        _ if from_store => Box::new(std::fs::File::open(store.blob_path(&l.digest)).map_err(io("open blob"))?),
        Some(c) => c.blob(repo, &l.digest)?,
        None => return Err(Error::Invalid { what: format!("layer {}", l.digest), reason: "not in the store".into() }),
    };
    let sink: Box<dyn Write> = if from_store {
        Box::new(io::sink())
    } else {
        use std::os::unix::fs::OpenOptionsExt;
        Box::new(io::BufWriter::with_capacity(256 << 10, std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&blob_tmp).map_err(io("create blob"))?))
    };
    let layer_tmp = store.tmp_path("layer");
    let result = (|| -> Result<(), Error> {
        let counted = req.progress.reader(&l.digest, l.size, source);
        let mut compressed = Hashing::new(Tee { r: counted, w: sink });
        let mut unpacked = None;
        if want_layer {
            std::fs::create_dir(&layer_tmp).map_err(io("create layer dir"))?;
            let root = unpack::open_root(&layer_tmp).map_err(io("open layer dir"))?;
            let mut plain = Hashing::new(decompress(comp, &mut compressed).map_err(io("decompress"))?);
            let opts = unpack::Options { mode: unpack::Mode::Layer, in_userns: req.in_userns };
            let res = unpack::Unpacker::new(root, opts)
                .unpack(&mut plain)
                .map_err(|source| Error::Unpack { digest: l.digest.to_string(), source })
                .and_then(|rep| drain(&mut plain).map(|()| rep).map_err(io("decompress")));
            unpacked = Some((res, plain.digest()));
        }
        // The compressed digest first, whatever the unpacker made of the stream: a
        // corrupt blob is named as such, not as the tar error it caused.
        let drained = drain(&mut compressed);
        if drained.is_ok() && compressed.digest() != l.digest {
            return Err(Error::Mismatch { what: format!("layer {}", l.digest), expected: l.digest.to_string(), actual: compressed.digest().to_string() });
        }
        if let Some((res, diff)) = unpacked {
            let report = res?;
            if diff != l.diff_id {
                return Err(Error::Mismatch { what: format!("uncompressed layer {} (diff_id)", l.digest), expected: l.diff_id.to_string(), actual: diff.to_string() });
            }
            let fix = Fixups { links: report.pending_links, implicit_dirs: report.implicit_dirs };
            if !fix.links.is_empty() || !fix.implicit_dirs.is_empty() {
                std::fs::write(layer_tmp.with_extension("links"), serde_json::to_vec(&fix).unwrap_or_default()).map_err(io("record fix-ups"))?;
            }
        }
        drained.map_err(io("download"))?;
        let Tee { mut w, .. } = compressed.into_inner();
        w.flush().map_err(io("write blob"))?;
        drop(w);
        if !from_store {
            std::fs::rename(&blob_tmp, store.blob_path(&l.digest)).map_err(io("commit blob"))?;
        }
        if want_layer {
            if layer_tmp.with_extension("links").exists() {
                std::fs::rename(layer_tmp.with_extension("links"), store.layer_dir(&l.diff_id).with_extension("links")).map_err(io("commit links"))?;
            }
            store.commit_layer(&layer_tmp, &l.diff_id)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&blob_tmp);
        let _ = store::remove_tree(&layer_tmp);
        let _ = std::fs::remove_file(layer_tmp.with_extension("links"));
        req.progress.failed(&l.digest);
    } else {
        req.progress.done(&l.digest, l.size, if from_store { "unpacked" } else { "pulled" });
    }
    result
}

/// Unpacks into the store every layer of `layers` not there yet, from its stored blob
/// (a `--copy` pull or a commit stores blobs only), then the fix-ups between layers.
pub fn ensure_unpacked(store: &Store, layers: &[Layer], in_userns: bool) -> Result<(), Error> {
    let progress = Progress::new(false);
    let r = Reference::parse("localhost/berth-image-store:unpack").map_err(|e| Error::Invalid { what: "store".into(), reason: e.to_string() })?;
    let platform = Platform::host();
    let opts = registry::Options::default();
    let req = Request { reference: &r, platform: &platform, registry: &opts, progress: &progress, unpack: true, in_userns };
    for l in layers {
        if store.has_layer(&l.diff_id) {
            continue;
        }
        if !store.has_blob(&l.digest) {
            return Err(Error::Invalid { what: format!("layer {}", l.digest), reason: "neither unpacked nor stored (pull the image again)".into() });
        }
        let desc: Descriptor = serde_json::from_value(serde_json::json!({"mediaType": l.media_type, "digest": l.digest, "size": l.size}))
            .map_err(|e| Error::Invalid { what: format!("layer {}", l.digest), reason: e.to_string() })?;
        one_layer(store, None, "", &desc, l, &req)?;
    }
    link_across_layers(store, layers)
}

/// What a layer needs from the layers below it, once they are all unpacked.
#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Fixups {
    links: Vec<(std::path::PathBuf, std::path::PathBuf)>,
    implicit_dirs: Vec<std::path::PathBuf>,
}

/// Fix-ups between layers, bottom up (unpack::Report): a directory a layer holds only as
/// the parent of its entries takes the attributes the nearest lower layer gave it (in
/// the overlay the upper one's would win; flattened, the lower one's stay); a hardlink
/// to a lower layer's file is linked to it.
fn link_across_layers(store: &Store, layers: &[Layer]) -> Result<(), Error> {
    for (i, l) in layers.iter().enumerate() {
        let rec = store.layer_dir(&l.diff_id).with_extension("links");
        if !rec.exists() {
            continue;
        }
        // Under the layer's lock: another pull of an image with this layer may be doing
        // the same (the first one does it, removing the record).
        let _lock = store.layer_lock(&l.diff_id)?;
        let Ok(data) = std::fs::read(&rec) else { continue };
        let fix: Fixups = serde_json::from_slice(&data).unwrap_or_default();
        let here = unpack::open_root(&store.layer_dir(&l.diff_id)).map_err(|source| Error::Io { digest: l.digest.to_string(), what: "open layer", source })?;
        for d in &fix.implicit_dirs {
            let lower = layers[..i].iter().rev().find_map(|x| {
                let root = unpack::open_root(&store.layer_dir(&x.diff_id)).ok()?;
                let fd = berth::rootfs::paths::open_in_root_nofollow(std::os::fd::AsRawFd::as_raw_fd(&root), d, libc::O_PATH | libc::O_DIRECTORY).ok()?;
                nix::sys::stat::fstat(&fd).ok()
            });
            let (Some(st), Ok(fd)) = (lower, berth::rootfs::paths::open_in_root_nofollow(std::os::fd::AsRawFd::as_raw_fd(&here), d, libc::O_RDONLY | libc::O_DIRECTORY)) else { continue };
            // SAFETY: fchown/fchmod/futimens on a directory fd of our own layer.
            unsafe {
                libc::fchown(std::os::fd::AsRawFd::as_raw_fd(&fd), st.st_uid, st.st_gid);
                libc::fchmod(std::os::fd::AsRawFd::as_raw_fd(&fd), st.st_mode & 0o7777);
                let ts = [libc::timespec { tv_sec: st.st_atime, tv_nsec: st.st_atime_nsec }, libc::timespec { tv_sec: st.st_mtime, tv_nsec: st.st_mtime_nsec }];
                libc::futimens(std::os::fd::AsRawFd::as_raw_fd(&fd), ts.as_ptr());
            }
        }
        for (link, target) in fix.links {
            let dest = store.layer_dir(&l.diff_id).join(&link);
            if std::fs::symlink_metadata(&dest).is_ok() {
                continue;
            }
            let found = layers[..i].iter().rev().map(|x| store.layer_dir(&x.diff_id)).find_map(|d| {
                let root = unpack::open_root(&d).ok()?;
                let fd = berth::rootfs::paths::open_in_root(std::os::fd::AsRawFd::as_raw_fd(&root), &target, libc::O_PATH | libc::O_NOFOLLOW, 0).ok()?;
                Some((root, fd))
            });
            let Some((_root, fd)) = found else {
                return Err(Error::Unpack { digest: l.digest.to_string(), source: unpack::Error::LinkTarget { path: link.display().to_string(), target: target.display().to_string() } });
            };
            let droot = unpack::open_root(&store.layer_dir(&l.diff_id)).map_err(|source| Error::Io { digest: l.digest.to_string(), what: "open layer", source })?;
            let parent = berth::rootfs::paths::ensure_in_root(std::os::fd::AsRawFd::as_raw_fd(&droot), link.parent().unwrap_or(Path::new("")), berth::rootfs::paths::Kind::Dir)
                .map_err(|source| Error::Io { digest: l.digest.to_string(), what: "link parent", source })?;
            let name = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(link.file_name().unwrap_or_default())).unwrap_or_default();
            // SAFETY: linkat of an O_PATH fd (AT_EMPTY_PATH) into a directory fd.
            let r = unsafe { libc::linkat(std::os::fd::AsRawFd::as_raw_fd(&fd), c"".as_ptr(), std::os::fd::AsRawFd::as_raw_fd(&parent), name.as_ptr(), libc::AT_EMPTY_PATH) };
            if r != 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EEXIST) {
                return Err(Error::Io { digest: l.digest.to_string(), what: "hardlink across layers", source: io::Error::last_os_error() });
            }
        }
        let _ = std::fs::remove_file(&rec);
    }
    Ok(())
}
