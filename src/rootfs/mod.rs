//! The container's root filesystem: propagation, the mounts of config.json, /dev, then
//! pivot_root (pivot.rs), then masked and read-only paths and a read-only root.
//!
//! `prepare` runs in the init's new mount namespace before pivot_root (host paths still
//! visible: bind sources, hook binaries); `finalize` runs after it, inside the container.

mod copyup;
mod devices;
pub mod idmap;
pub mod mounts;
pub mod paths;
mod pivot;

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::mount::{mount, MsFlags};
use oci_spec::runtime::Spec;

use crate::cgroups::Cgroup;
use crate::util::mount as m;

pub use mounts::propagation as propagation_flag;
pub use pivot::{chroot, move_root, pivot};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("config.json: {0}: {1}")]
    Config(String, String),
    #[error("{what}: {source}")]
    Mount { what: String, source: nix::Error },
    #[error("device {path}: {reason}")]
    Device { path: String, reason: String },
    #[error("{0}: {1}")]
    Io(String, io::Error),
}

/// What the rootfs set-up needs to know besides the spec.
pub struct Setup<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub in_userns: bool,
    pub cgroup: &'a Cgroup,
    pub new_cgroupns: bool,
    /// Bind sources the runtime opened before the init entered its user namespace (see
    /// `open_bind_sources`), by mounts[] index.
    pub bind_trees: &'a [Option<OwnedFd>],
}

/// Bind sources the runtime opens before the clone, as detached copies of the mounts
/// (open_tree) that the init attaches, by mounts[] index:
/// - with a user namespace (`userns_init`), every bind source: the init resolves paths
///   as the namespace's root, which may not reach a source the host's root can (a 0700
///   directory, say), as runc does;
/// - idmapped ones always, with the mapping applied (rootfs/idmap.rs).
///
/// Only for a new mount namespace: one joined by path resolves sources inside itself.
pub fn open_bind_sources(spec: &Spec, bundle: &Path, userns_init: bool, userns: &idmap::ContainerUserns) -> Result<Vec<Option<OwnedFd>>, Error> {
    let mut out = Vec::new();
    let mounts = spec.mounts().as_deref().unwrap_or(&[]);
    let any_idmap = mounts.iter().any(|m| m.options().iter().flatten().any(|o| o == "idmap" || o == "ridmap") || m.uid_mappings().is_some() || m.gid_mappings().is_some());
    if !userns_init && !any_idmap {
        return Ok(out);
    }
    let mut made = idmap::Namespaces::default();
    for (index, m) in mounts.iter().enumerate() {
        let options = mounts::parse_options(m.options().as_deref().unwrap_or(&[]));
        let (typ, source) = type_and_source(m, &options, bundle);
        let bind = options.flags.contains(MsFlags::MS_BIND) && !options.flags.contains(MsFlags::MS_REMOUNT) && !matches!(typ, "cgroup" | "cgroup2");
        let idmapped = idmap::wanted(m, &options);
        let Some(src) = source.filter(|_| bind && (userns_init || idmapped.is_some())) else {
            out.push(None);
            continue;
        };
        let tree = m::clone_tree(libc::AT_FDCWD, &src, options.flags.contains(MsFlags::MS_REC))
            .map_err(|e| Error::Config(format!("mounts[{index}].source"), format!("{}: {e}", src.display())))?;
        if let Some(recursive) = idmapped {
            idmap::apply(&tree, index, m, recursive, userns, &mut made)?;
        }
        out.push(Some(tree));
    }
    Ok(out)
}

/// A mounts[] entry's type ("bind" when absent and the options bind, else "none") and
/// source (a bind source that is relative is relative to the bundle), as prepare mounts it.
fn type_and_source<'a>(m: &'a oci_spec::runtime::Mount, options: &mounts::Options, bundle: &Path) -> (&'a str, Option<std::path::PathBuf>) {
    let bind = options.flags.contains(MsFlags::MS_BIND);
    let typ = m.typ().as_deref().unwrap_or(if bind { "bind" } else { "none" });
    let source = m.source().as_ref().map(|p| if p.is_absolute() || !bind { p.clone() } else { bundle.join(p) });
    (typ, source)
}

/// An O_PATH fd on a directory named by a trusted path (the rootfs, or "/" after pivot).
fn open_dir(p: &Path) -> Result<OwnedFd, Error> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(p)
        .map(OwnedFd::from)
        .map_err(|e| Error::Io(p.display().to_string(), e))
}

fn is_dev(dest: &Path) -> bool {
    paths::relative(dest).components().map(|c| c.as_os_str()).eq(["dev"])
}

/// The set-up before pivot_root, in two parts with the init's cgroup gate between them
/// (init.rs): `prepare` makes the mounts that need no cgroup, up to the first cgroup
/// mount; `Partial::finish` the cgroup mounts, the rest and the device nodes, which must
/// be made once the init is in its cgroup (device access is the cgroup's to allow).
pub struct Partial<'a> {
    s: &'a Setup<'a>,
    root: OwnedFd,
    /// The next mounts[] entry to make.
    next: usize,
    dev_from_host: bool,
}

/// Propagation, the bind of the rootfs onto itself, and the mounts before the first
/// cgroup mount (all of them when there is none).
pub fn prepare<'a>(s: &'a Setup<'a>) -> Result<Partial<'a>, Error> {
    let linux = s.spec.linux().as_ref();
    // The config's rootfsPropagation, as runc: "/" gets it now, except unbindable, which
    // would refuse the bind of the rootfs below; finalize applies it (again) after the pivot.
    let prop = match linux.and_then(|l| l.rootfs_propagation().as_deref()).and_then(propagation_flag) {
        Some(p) if !p.contains(MsFlags::MS_UNBINDABLE) => p,
        _ => MsFlags::MS_SLAVE | MsFlags::MS_REC,
    };
    mount(None::<&str>, "/", None::<&str>, prop, None::<&str>).map_err(|source| Error::Mount { what: "set propagation of /".into(), source })?;
    if prop.contains(MsFlags::MS_SHARED) {
        // pivot_root refuses a new root, or a parent of it, with shared propagation: the
        // mount holding the rootfs is made private first, so its bind below is private too.
        parent_mount_private(s.rootfs)?;
    }
    // pivot_root needs the new root to be a mount point.
    mount(Some(s.rootfs), s.rootfs, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        .map_err(|source| Error::Mount { what: format!("bind rootfs {}", s.rootfs.display()), source })?;
    let mut p = Partial { s, root: open_dir(s.rootfs)?, next: 0, dev_from_host: false };
    p.mount_entries(true)?;
    Ok(p)
}

impl Partial<'_> {
    /// The cgroup mounts and the entries after them, then /dev's nodes.
    pub fn finish(mut self) -> Result<(), Error> {
        self.mount_entries(false)?;
        if !self.dev_from_host {
            let mut nodes = devices::defaults();
            for (i, d) in self.s.spec.linux().as_ref().and_then(|l| l.devices().as_ref()).into_iter().flatten().enumerate() {
                let n = devices::from_spec(i, d)?;
                nodes.retain(|x| x.path != n.path);
                nodes.push(n);
            }
            for n in &nodes {
                devices::create(self.root.as_raw_fd(), n, self.s.in_userns)?;
            }
            devices::symlinks(self.root.as_raw_fd())?;
        }
        Ok(())
    }

    /// Makes mounts[] entries from `next` on; with `stop_at_cgroup`, up to (not including)
    /// the first cgroup mount.
    fn mount_entries(&mut self, stop_at_cgroup: bool) -> Result<(), Error> {
        let s = self.s;
        let root_fd = self.root.as_raw_fd();
        for (index, m) in s.spec.mounts().iter().flatten().enumerate().skip(self.next) {
            let mut options = mounts::parse_options(m.options().as_deref().unwrap_or(&[]));
            if is_dev(m.destination()) && !options.flags.contains(MsFlags::MS_BIND) {
                // As runc: a read-only /dev is made read-only only in finalize, once its
                // nodes and the mounts below it (/dev/pts, /dev/shm, ...) are made.
                options.flags.remove(MsFlags::MS_RDONLY);
            }
            let (typ, source) = type_and_source(m, &options, s.bundle);
            let cgroup = typ == "cgroup" || typ == "cgroup2";
            if cgroup && stop_at_cgroup {
                return Ok(());
            }
            self.next = index + 1;
            if is_dev(m.destination()) && options.flags.contains(MsFlags::MS_BIND) {
                self.dev_from_host = true;
            }
            if cgroup {
                mount_cgroup(root_fd, index, m.destination(), &options, s)?;
                continue;
            }
            let entry = mounts::Entry { index, destination: m.destination(), typ, source, options, tree: s.bind_trees.get(index).and_then(Option::as_ref) };
            mounts::mount_entry(root_fd, &entry, s.in_userns)?;
        }
        Ok(())
    }
}

/// Makes the mount that holds `dir` private: found by its mount id (statx), its mount point
/// read from the verified procfs's mountinfo.
fn parent_mount_private(dir: &Path) -> Result<(), Error> {
    let err = |e: io::Error| Error::Io(format!("the mount holding {}", dir.display()), e);
    let fd = open_dir(dir)?;
    let id = m::mount_id(&fd).map_err(err)?;
    let proc = crate::util::procfs::ProcFs::host().map_err(err)?;
    let mut text = String::new();
    io::Read::read_to_string(&mut proc.open("self/mountinfo", libc::O_RDONLY).map_err(err)?, &mut text).map_err(err)?;
    let point = text
        .lines()
        .find(|l| l.split(' ').next().and_then(|x| x.parse::<u64>().ok()) == Some(id))
        .and_then(|l| l.split(' ').nth(4))
        .map(m::unescape_mountinfo)
        .ok_or_else(|| err(io::Error::other(format!("mount {id} is not in mountinfo"))))?;
    mount(None::<&str>, point.as_str(), None::<&str>, MsFlags::MS_PRIVATE, None::<&str>).map_err(|source| Error::Mount { what: format!("make {point} private"), source })
}

/// A `cgroup` mount: cgroup2 itself on a v2 host with a cgroup namespace; otherwise a
/// tmpfs with the container's own cgroup directories bound into it (never the host's
/// whole hierarchy). Each is made detached and attached onto an fd resolved in the root.
fn mount_cgroup(root: RawFd, index: usize, dest: &Path, opts: &mounts::Options, s: &Setup) -> Result<(), Error> {
    let err = |what: String| move |e: io::Error| Error::Io(format!("mounts[{index}] {what}"), e);
    let base = m::ATTR_NOSUID | m::ATTR_NODEV | m::ATTR_NOEXEC;
    let per_mount = opts.flags.difference(MsFlags::MS_BIND | MsFlags::MS_REC);
    let target = paths::ensure_in_root(root, dest, paths::Kind::Dir).map_err(|e| Error::Config(format!("mounts[{index}].destination"), e.to_string()))?;
    let only_v2 = s.cgroup.v2_only_dir();
    if only_v2.is_some() && s.new_cgroupns {
        let tree = m::new_fs("cgroup2", Some("cgroup2"), &[], mounts::attrs_of(per_mount) | base).map_err(err("cgroup2".into()))?;
        return m::attach(&tree, &target).map_err(err("cgroup2".into()));
    }
    if let Some(dir) = only_v2 {
        let tree = m::clone_tree(libc::AT_FDCWD, dir, true).map_err(err("cgroup bind".into()))?;
        let mut a = mounts::remount_attr(per_mount, s.in_userns);
        a.set |= base;
        a.clear &= !base;
        m::set_attr(&tree, false, &a).map_err(err("cgroup flags".into()))?;
        return m::attach(&tree, &target).map_err(err("cgroup bind".into()));
    }
    let tmpfs = m::new_fs("tmpfs", Some("tmpfs"), &["mode=755".into()], base).map_err(err("cgroup tmpfs".into()))?;
    m::attach(&tmpfs, &target).map_err(err("cgroup tmpfs".into()))?;
    drop(target);
    let rel = paths::relative(dest);
    for (name, path) in s.cgroup.mount_sources() {
        let sub = paths::ensure_in_root(root, &rel.join(&name), paths::Kind::Dir).map_err(|e| Error::Io(name.clone(), e))?;
        let tree = m::clone_tree(libc::AT_FDCWD, path, false).map_err(err(format!("cgroup {name}")))?;
        let mut a = mounts::remount_attr(per_mount & MsFlags::MS_RDONLY, s.in_userns);
        a.set |= base;
        a.clear &= !base;
        m::set_attr(&tree, false, &a).map_err(err(format!("cgroup {name} flags")))?;
        m::attach(&tree, &sub).map_err(err(format!("cgroup {name}")))?;
    }
    if opts.flags.contains(MsFlags::MS_RDONLY) {
        m::set_attr(&tmpfs, false, &m::Attr { set: m::ATTR_RDONLY, ..Default::default() }).map_err(err("cgroup ro".into()))?;
    }
    Ok(())
}

/// Everything after pivot_root: masked paths, read-only paths, read-only root.
pub fn finalize(spec: &Spec) -> Result<(), Error> {
    let root = open_dir(Path::new("/"))?;
    let linux = spec.linux().as_ref();
    if let Some(masked) = linux.and_then(|l| l.masked_paths().as_ref()) {
        mask_paths(root.as_raw_fd(), masked)?;
    }
    let ro = m::Attr { set: m::ATTR_RDONLY, ..Default::default() };
    for p in linux.and_then(|l| l.readonly_paths().as_ref()).into_iter().flatten() {
        let rel = paths::relative(Path::new(p));
        let fd = match paths::open_in_root(root.as_raw_fd(), &rel, libc::O_PATH, 0) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(Error::Io(format!("readonlyPaths {p}"), e)),
        };
        // A read-only copy of the path (with its submounts) over itself. Only RDONLY is
        // set: the path keeps nosuid/nodev/noexec, as with runc.
        let err = |e| Error::Io(format!("readonlyPaths {p}"), e);
        let tree = m::clone_tree(fd.as_raw_fd(), Path::new(""), true).map_err(err)?;
        m::set_attr(&tree, false, &ro).map_err(err)?;
        m::attach(&tree, &fd).map_err(err)?;
    }
    let dev_ro = spec.mounts().iter().flatten().filter(|m| is_dev(m.destination())).last().is_some_and(|m| {
        let o = mounts::parse_options(m.options().as_deref().unwrap_or(&[]));
        o.flags.contains(MsFlags::MS_RDONLY) && !o.flags.contains(MsFlags::MS_BIND)
    });
    if dev_ro {
        let dev = paths::open_in_root(root.as_raw_fd(), Path::new("dev"), libc::O_PATH | libc::O_DIRECTORY, 0).map_err(|e| Error::Io("/dev".into(), e))?;
        m::set_attr(&dev, false, &ro).map_err(|e| Error::Io("make /dev read-only".into(), e))?;
    }
    if let Some(prop) = linux.and_then(|l| l.rootfs_propagation().as_deref()).and_then(propagation_flag) {
        mount(None::<&str>, "/", None::<&str>, prop, None::<&str>).map_err(|source| Error::Mount { what: "rootfsPropagation".into(), source })?;
    }
    if spec.root().as_ref().and_then(|r| r.readonly()).unwrap_or(false) {
        m::set_attr(&root, false, &ro).map_err(|e| Error::Io("make root read-only".into(), e))?;
    }
    Ok(())
}

/// maskedPaths: /dev/null over files, an empty read-only tmpfs over directories.
///
/// Attack stopped (CVE-2025-31133 class): if the container's /dev/null were a symlink or
/// another file (e.g. pointing at /proc/sys/kernel/core_pattern), binding "it" over a
/// masked path would expose, not mask. The source is opened once, checked to be the
/// character device 1:3, and a bind of that very fd is what covers each masked file.
fn mask_paths(root: RawFd, masked: &[String]) -> Result<(), Error> {
    let mut null: Option<OwnedFd> = None;
    for p in masked {
        let rel = paths::relative(Path::new(p));
        let fd = match paths::open_in_root(root, &rel, libc::O_PATH, 0) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(Error::Io(format!("maskedPaths {p}"), e)),
        };
        let err = |e| Error::Io(format!("maskedPaths {p}"), e);
        let st = nix::sys::stat::fstat(&fd).map_err(|e| err(e.into()))?;
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            let tree = m::new_fs("tmpfs", Some("tmpfs"), &["ro".into()], m::ATTR_RDONLY).map_err(err)?;
            m::attach(&tree, &fd).map_err(err)?;
            continue;
        }
        if null.is_none() {
            let n = paths::open_in_root(root, Path::new("dev/null"), libc::O_PATH | libc::O_NOFOLLOW, 0).map_err(|e| Error::Io("/dev/null".into(), e))?;
            let nst = nix::sys::stat::fstat(&n).map_err(|e| Error::Io("/dev/null".into(), e.into()))?;
            if nst.st_mode & libc::S_IFMT != libc::S_IFCHR || nst.st_rdev != libc::makedev(1, 3) {
                return Err(Error::Device { path: "/dev/null".into(), reason: "is not the null device (1:3): refusing to use it to mask paths".into() });
            }
            null = Some(n);
        }
        if let Some(n) = &null {
            let tree = m::clone_tree(n.as_raw_fd(), Path::new(""), false).map_err(err)?;
            m::attach(&tree, &fd).map_err(err)?;
        }
    }
    Ok(())
}
