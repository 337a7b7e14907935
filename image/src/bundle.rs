//! bundle: a stored image → `DIR/rootfs` and `DIR/config.json`, runnable with
//! `berth run --bundle DIR ID`.
//!
//! The rootfs is, by default, a snapshot: an overlay mount whose lower layers are the
//! image's layers unpacked once in the store (read-only, shared by every bundle of that
//! image) and whose upper and work directories are the bundle's own (`DIR/upper`,
//! `DIR/work`); making one costs a mount, whatever the image's size. `--copy` writes a
//! plain directory instead, applying each layer in order. `unbundle DIR` undoes either.
//!
//! config.json follows umoci's mapping of the image config onto berth's default spec:
//! Entrypoint + Cmd (`-- ARGS` replaces Cmd), Env (PATH added if absent, HOME from
//! /etc/passwd if absent), WorkingDir, User resolved through the rootfs's /etc/passwd
//! and /etc/group (with the user's additional groups), and the labels, StopSignal and the
//! image-spec's other conversion annotations; terminal only with `--tty`.

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use oci_spec::image::ImageConfiguration;
use serde_json::{json, Value};

use crate::manifest::{self, Compression};
use crate::store::{self, Image, Store};
use crate::unpack;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bundle directory {0} is not empty")]
    NotEmpty(PathBuf),
    #[error("{path}: {what}: {source}")]
    Io { path: PathBuf, what: &'static str, source: io::Error },
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Manifest(#[from] manifest::Error),
    #[error("layer {digest}: {source}")]
    Unpack { digest: String, source: unpack::Error },
    #[error("image config: {0}")]
    Config(String),
    #[error("{0} is not a bundle made by berth-image")]
    NotABundle(PathBuf),
}

fn io_err<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io { path: path.to_path_buf(), what, source }
}

pub struct Options {
    pub tty: bool,
    /// `-- ARGS`: replaces the image's Cmd.
    pub args: Option<Vec<String>>,
    pub copy: bool,
    pub in_userns: bool,
}

/// Makes the bundle. `dir` must not exist or be empty; on failure nothing is left.
pub fn make(store: &Store, img: &Image, dir: &Path, o: &Options) -> Result<(), Error> {
    match std::fs::read_dir(dir) {
        Ok(mut rd) => {
            if rd.next().is_some() {
                return Err(Error::NotEmpty(dir.to_path_buf()));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::create_dir_all(dir).map_err(io_err(dir, "create"))?,
        Err(e) => return Err(io_err(dir, "open")(e)),
    }
    let dir = std::fs::canonicalize(dir).map_err(io_err(dir, "resolve"))?;
    let r = (|| {
        let config: ImageConfiguration = serde_json::from_slice(&store.read_blob(&img.config, 8 << 20)?).map_err(|e| Error::Config(e.to_string()))?;
        let rootfs = dir.join("rootfs");
        std::fs::create_dir(&rootfs).map_err(io_err(&rootfs, "create"))?;
        if o.copy {
            apply_layers(store, img, &rootfs, o.in_userns)?;
            store.save_bundle(&store::BundleRecord { dir: dir.clone(), image: img.reference.clone(), layers: Vec::new(), copy: true })?;
        } else {
            mount_snapshot(store, img, &dir, o.in_userns)?;
        }
        let spec = runtime_config(&config, &rootfs, o)?;
        let text = serde_json::to_string_pretty(&spec).map_err(|e| Error::Config(e.to_string()))?;
        berth::util::fs::write_atomic(&dir.join("config.json"), format!("{text}\n").as_bytes(), 0o644).map_err(io_err(&dir, "write config.json"))
    })();
    if r.is_err() {
        let _ = unmake(store, &dir);
    }
    r
}

/// `--copy`: each layer applied in order onto a plain directory (OCI whiteouts).
fn apply_layers(store: &Store, img: &Image, rootfs: &Path, in_userns: bool) -> Result<(), Error> {
    for l in &img.layers {
        let comp = match l.media_type.as_str() {
            t if t.ends_with("+zstd") || t.ends_with(".zstd") => Compression::Zstd,
            t if t.ends_with("gzip") => Compression::Gzip,
            _ => Compression::None,
        };
        let path = store.blob_path(&l.digest);
        let f = std::fs::File::open(&path).map_err(io_err(&path, "open layer"))?;
        let r: Box<dyn Read> = match comp {
            Compression::None => Box::new(io::BufReader::with_capacity(256 << 10, f)),
            Compression::Gzip => Box::new(crate::gzip::GzDecoder::new(io::BufReader::with_capacity(256 << 10, f))),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(f).map_err(io_err(&path, "zstd"))?),
        };
        let root = unpack::open_root(rootfs).map_err(io_err(rootfs, "open"))?;
        unpack::Unpacker::new(root, unpack::Options { mode: unpack::Mode::Apply, in_userns })
            .unpack(r)
            .map_err(|source| Error::Unpack { digest: l.digest.to_string(), source })?;
    }
    Ok(())
}

/// The overlay: the store's layers as lower directories (topmost first), the bundle's own
/// upper and work directories, made detached with the fd-based mount API and attached
/// onto DIR/rootfs.
fn mount_snapshot(store: &Store, img: &Image, dir: &Path, in_userns: bool) -> Result<(), Error> {
    let upper = dir.join("upper");
    let work = dir.join("work");
    for d in [&upper, &work] {
        std::fs::create_dir(d).map_err(io_err(d, "create"))?;
    }
    let mut lowers: Vec<PathBuf> = img.layers.iter().rev().map(|l| store.layer_dir(&l.diff_id)).collect();
    for l in &lowers {
        if !l.is_dir() {
            return Err(Error::Config(format!("layer {} is not unpacked in the store (pull again)", l.display())));
        }
    }
    if lowers.is_empty() {
        // An image without layers: overlayfs needs a lower directory; an empty one.
        let empty = dir.join("empty");
        std::fs::create_dir(&empty).map_err(io_err(&empty, "create"))?;
        lowers.push(empty);
    }
    let rootfs = dir.join("rootfs");
    overlay(&lowers, Some((&upper, &work)), in_userns, &rootfs).map_err(io_err(dir, "overlay mount"))?;
    store.save_bundle(&store::BundleRecord { dir: dir.to_path_buf(), image: img.reference.clone(), layers: img.layers.iter().map(|l| l.diff_id.clone()).collect(), copy: false })?;
    Ok(())
}

/// Mounts an overlay of `lowers` (topmost first) on `target`, with an upper and a work
/// directory, or read-only without. One `lowerdir+` per layer through the fd-based mount
/// API (Linux 6.8: no limit on their number; fsconfig takes strings of 255 bytes at most,
/// so the classic list would not fit there); older kernels get mount(2) with the classic
/// colon-separated list (up to a page of options).
pub fn overlay(lowers: &[PathBuf], upper: Option<(&Path, &Path)>, in_userns: bool, target: &Path) -> io::Result<()> {
    let mut opts: Vec<String> = Vec::new();
    if in_userns {
        opts.push("userxattr".into());
    }
    match upper {
        Some((u, w)) => {
            opts.push(format!("upperdir={}", u.display()));
            opts.push(format!("workdir={}", w.display()));
        }
        None => opts.push("ro".into()),
    }
    let mut plus = opts.clone();
    plus.extend(lowers.iter().map(|l| format!("lowerdir+={}", l.display())));
    let attrs = if upper.is_none() { berth::util::mount::ATTR_RDONLY } else { 0 };
    match berth::util::mount::new_fs("overlay", Some("berth-image"), &plus, attrs) {
        Ok(tree) => {
            let t = unpack::open_root(target)?;
            berth::util::mount::attach(&tree, &t)
        }
        Err(_) => {
            let joined = lowers.iter().map(|l| l.display().to_string()).collect::<Vec<_>>().join(":");
            opts.push(format!("lowerdir={joined}"));
            let flags = if upper.is_none() { nix::mount::MsFlags::MS_RDONLY } else { nix::mount::MsFlags::empty() };
            nix::mount::mount(Some("berth-image"), target, Some("overlay"), flags, Some(opts.join(",").as_str())).map_err(io::Error::from)
        }
    }
}

/// Whether DIR/rootfs is a mount point (the snapshot's overlay).
fn is_mounted(rootfs: &Path) -> bool {
    let (Ok(a), Ok(b)) = (std::fs::metadata(rootfs), std::fs::metadata(rootfs.join(".."))) else { return false };
    use std::os::unix::fs::MetadataExt;
    a.dev() != b.dev() || a.ino() == b.ino()
}

/// unbundle: unmounts a snapshot bundle and removes DIR (a `--copy` bundle too).
pub fn unmake(store: &Store, dir: &Path) -> Result<(), Error> {
    let rootfs = dir.join("rootfs");
    let known = store.load_bundle(dir).is_some();
    if !known && !dir.join("config.json").exists() && !rootfs.exists() {
        return Err(Error::NotABundle(dir.to_path_buf()));
    }
    if is_mounted(&rootfs) {
        nix::mount::umount2(&rootfs, nix::mount::MntFlags::MNT_DETACH).map_err(|e| io_err(&rootfs, "unmount")(e.into()))?;
    }
    store::remove_tree(dir)?;
    store.remove_bundle(dir);
    Ok(())
}

/// The files of the rootfs berth-image reads (/etc/passwd, /etc/group), resolved inside
/// it: a link in the image cannot make berth-image read a host file.
fn read_in_root(rootfs: &Path, rel: &str) -> Option<String> {
    let root = unpack::open_root(rootfs).ok()?;
    let fd = berth::rootfs::paths::open_in_root(root.as_raw_fd(), Path::new(rel), libc::O_RDONLY, 0).ok()?;
    let mut s = String::new();
    std::fs::File::from(fd).take(16 << 20).read_to_string(&mut s).ok()?;
    Some(s)
}

struct Passwd {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

fn passwd(rootfs: &Path) -> Vec<Passwd> {
    read_in_root(rootfs, "etc/passwd")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 6).then(|| Some(Passwd { name: f[0].into(), uid: f[2].parse().ok()?, gid: f[3].parse().ok()?, home: f[5].into() })).flatten()
        })
        .collect()
}

/// (name, gid, members)
fn groups(rootfs: &Path) -> Vec<(String, u32, Vec<String>)> {
    read_in_root(rootfs, "etc/group")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 3).then(|| Some((f[0].to_string(), f[2].parse().ok()?, f.get(3).map_or_else(Vec::new, |m| m.split(',').filter(|x| !x.is_empty()).map(str::to_string).collect())))).flatten()
        })
        .collect()
}

/// USER of the image config ("uid", "name", "uid:gid", "name:group", …) → uid, gid,
/// additional gids, home.
pub fn resolve_user(user: &str, rootfs: &Path) -> Result<(u32, u32, Vec<u32>, String), Error> {
    let pw = passwd(rootfs);
    let gr = groups(rootfs);
    let (u, g) = user.split_once(':').map_or((user, None), |(u, g)| (u, Some(g)));
    let entry = match u.parse::<u32>() {
        Ok(uid) => pw.iter().find(|p| p.uid == uid),
        Err(_) if u.is_empty() => pw.iter().find(|p| p.uid == 0),
        Err(_) => Some(pw.iter().find(|p| p.name == u).ok_or_else(|| Error::Config(format!("user {u:?} is not in the image's /etc/passwd")))?),
    };
    let uid = u.parse::<u32>().ok().or(entry.map(|p| p.uid)).unwrap_or(0);
    let gid = match g {
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => gr.iter().find(|x| x.0 == g).map(|x| x.1).ok_or_else(|| Error::Config(format!("group {g:?} is not in the image's /etc/group")))?,
        },
        None => entry.map_or(0, |p| p.gid),
    };
    let additional: Vec<u32> = match (g, entry) {
        // An explicit group is the only one, as with docker.
        (None, Some(p)) => gr.iter().filter(|x| x.2.iter().any(|m| m == &p.name) && x.1 != gid).map(|x| x.1).collect(),
        _ => Vec::new(),
    };
    let home = entry.map_or_else(|| "/".to_string(), |p| p.home.clone());
    Ok((uid, gid, additional, home))
}

/// The runtime config.json of an image.
pub fn runtime_config(c: &ImageConfiguration, rootfs: &Path, o: &Options) -> Result<Value, Error> {
    let mut spec = berth::config::default_spec(false, 0, 0);
    let cfg = c.config().clone().unwrap_or_default();
    let mut args: Vec<String> = cfg.entrypoint().clone().unwrap_or_default();
    match &o.args {
        Some(a) => args.extend(a.iter().cloned()),
        None => args.extend(cfg.cmd().clone().unwrap_or_default()),
    }
    if args.is_empty() {
        return Err(Error::Config("the image has neither Entrypoint nor Cmd: give a command after --".into()));
    }
    let (uid, gid, additional, home) = resolve_user(cfg.user().as_deref().unwrap_or(""), rootfs)?;
    let mut env: Vec<String> = cfg.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={home}"));
    }
    if o.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    let cwd = cfg.working_dir().clone().filter(|w| !w.is_empty()).unwrap_or_else(|| "/".into());
    let p = &mut spec["process"];
    p["terminal"] = json!(o.tty);
    p["args"] = json!(args);
    p["env"] = json!(env);
    p["cwd"] = json!(cwd);
    p["user"] = json!({"uid": uid, "gid": gid});
    if !additional.is_empty() {
        p["user"]["additionalGids"] = json!(additional);
    }
    spec["root"] = json!({"path": "rootfs", "readonly": false});
    // image-spec conversion.md: what has no runtime field becomes an annotation.
    let mut ann = serde_json::Map::new();
    for (k, v) in cfg.labels().clone().unwrap_or_default() {
        ann.insert(k, json!(v));
    }
    ann.insert("org.opencontainers.image.os".into(), json!(c.os().to_string()));
    ann.insert("org.opencontainers.image.architecture".into(), json!(c.architecture().to_string()));
    if let Some(a) = c.author() {
        ann.insert("org.opencontainers.image.author".into(), json!(a));
    }
    if let Some(t) = c.created() {
        ann.insert("org.opencontainers.image.created".into(), json!(t));
    }
    if let Some(s) = cfg.stop_signal() {
        ann.insert("org.opencontainers.image.stopSignal".into(), json!(s));
    }
    if let Some(ports) = cfg.exposed_ports().as_ref().filter(|p| !p.is_empty()) {
        ann.insert("org.opencontainers.image.exposedPorts".into(), json!(ports.join(",")));
    }
    spec["annotations"] = Value::Object(ann);
    Ok(spec)
}
