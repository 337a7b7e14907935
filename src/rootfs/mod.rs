//! The container's root filesystem: propagation, the mounts of config.json, /dev, then
//! pivot_root (pivot.rs), then masked and read-only paths and a read-only root.
//!
//! `prepare` runs in the init's new mount namespace before pivot_root (host paths still
//! visible: bind sources, hook binaries); `finalize` runs after it, inside the container.

mod devices;
pub mod mounts;
pub mod paths;
mod pivot;

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};
use oci_spec::runtime::Spec;

use crate::cgroups::Cgroup;

pub use mounts::propagation as propagation_flag;
pub use pivot::{move_root, pivot};

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
    /// The cgroup gate's own error, already worded.
    #[error("{0}")]
    Gate(String),
}

/// What the rootfs set-up needs to know besides the spec.
pub struct Setup<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub in_userns: bool,
    pub cgroup: &'a Cgroup,
    pub new_cgroupns: bool,
    /// Called before the first cgroup mount, or after the other mounts when there is
    /// none, and so always before device nodes are made: from then on the init must be
    /// in its cgroup (the mounts before it overlap with the runtime making that cgroup).
    pub cgroup_gate: &'a dyn Fn() -> Result<(), String>,
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

/// Everything before pivot_root.
pub fn prepare(s: &Setup) -> Result<(), Error> {
    let linux = s.spec.linux().as_ref();
    let prop = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(propagation_flag)
        .unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
    mount(None::<&str>, "/", None::<&str>, prop, None::<&str>).map_err(|source| Error::Mount { what: "set propagation of /".into(), source })?;
    // pivot_root needs the new root to be a mount point.
    mount(Some(s.rootfs), s.rootfs, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        .map_err(|source| Error::Mount { what: format!("bind rootfs {}", s.rootfs.display()), source })?;
    if prop.contains(MsFlags::MS_SHARED) {
        // A shared new root cannot be pivoted into; its own mount stays private.
        mount(None::<&str>, s.rootfs, None::<&str>, MsFlags::MS_PRIVATE, None::<&str>).map_err(|source| Error::Mount { what: "make rootfs private".into(), source })?;
    }
    let root = open_dir(s.rootfs)?;
    let root_fd = root.as_raw_fd();
    let mut dev_from_host = false;
    for (index, m) in s.spec.mounts().iter().flatten().enumerate() {
        let options = mounts::parse_options(m.options().as_deref().unwrap_or(&[]));
        let typ = m.typ().as_deref().unwrap_or(if options.flags.contains(MsFlags::MS_BIND) { "bind" } else { "none" });
        let source = m.source().as_ref().map(|p| if p.is_absolute() || !options.flags.contains(MsFlags::MS_BIND) { p.clone() } else { s.bundle.join(p) });
        if paths::relative(m.destination()) == Path::new("dev") && options.flags.contains(MsFlags::MS_BIND) {
            dev_from_host = true;
        }
        if typ == "cgroup" || typ == "cgroup2" {
            (s.cgroup_gate)().map_err(Error::Gate)?;
            mount_cgroup(root_fd, index, m.destination(), &options, s)?;
            continue;
        }
        let entry = mounts::Entry { index, destination: m.destination(), typ, source, options };
        mounts::mount_entry(root_fd, &entry, s.in_userns)?;
    }
    (s.cgroup_gate)().map_err(Error::Gate)?;
    if !dev_from_host {
        let mut nodes = devices::defaults();
        for (i, d) in linux.and_then(|l| l.devices().as_ref()).into_iter().flatten().enumerate() {
            let n = devices::from_spec(i, d)?;
            nodes.retain(|x| x.path != n.path);
            nodes.push(n);
        }
        for n in &nodes {
            devices::create(root_fd, n, s.in_userns)?;
        }
        devices::symlinks(root_fd)?;
    }
    Ok(())
}

/// A `cgroup` mount: cgroup2 itself on a v2 host with a cgroup namespace; otherwise a
/// tmpfs with the container's own cgroup directories bound into it (never the host's
/// whole hierarchy).
fn mount_cgroup(root: RawFd, index: usize, dest: &Path, opts: &mounts::Options, s: &Setup) -> Result<(), Error> {
    let err = |what: String| move |source| Error::Mount { what, source };
    let base = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let target = paths::ensure_in_root(root, dest, paths::Kind::Dir).map_err(|e| Error::Config(format!("mounts[{index}].destination"), e.to_string()))?;
    let only_v2 = s.cgroup.dirs.len() == 1 && s.cgroup.dirs[0].v2;
    if only_v2 && s.new_cgroupns {
        return mount(Some("cgroup2"), &paths::fd_path(&target), Some("cgroup2"), (opts.flags & !MsFlags::MS_BIND) | base, None::<&str>)
            .map_err(err(format!("mounts[{index}] cgroup2")));
    }
    if only_v2 {
        let p = paths::fd_path(&target);
        mount(Some(&s.cgroup.dirs[0].path), &p, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>).map_err(err(format!("mounts[{index}] cgroup bind")))?;
        return mounts::remount_bind(&p, (opts.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC)) | base, s.in_userns).map_err(err(format!("mounts[{index}] cgroup remount")));
    }
    mount(Some("tmpfs"), &paths::fd_path(&target), Some("tmpfs"), base, Some("mode=755")).map_err(err(format!("mounts[{index}] cgroup tmpfs")))?;
    drop(target);
    let rel = paths::relative(dest);
    for d in &s.cgroup.dirs {
        let name = if d.v2 { "unified".to_string() } else { d.controllers.join(",").replace("name=", "") };
        let sub = paths::ensure_in_root(root, &rel.join(&name), paths::Kind::Dir).map_err(|e| Error::Io(name.clone(), e))?;
        let p = paths::fd_path(&sub);
        mount(Some(&d.path), &p, None::<&str>, MsFlags::MS_BIND, None::<&str>).map_err(err(format!("mounts[{index}] cgroup {name}")))?;
        let sub = paths::open_in_root(root, &rel.join(&name), libc::O_PATH, 0).map_err(|e| Error::Io(name.clone(), e))?;
        mounts::remount_bind(&paths::fd_path(&sub), (opts.flags & MsFlags::MS_RDONLY) | base, s.in_userns).map_err(err(format!("mounts[{index}] cgroup {name} remount")))?;
    }
    if opts.flags.contains(MsFlags::MS_RDONLY) {
        let t = paths::open_in_root(root, &rel, libc::O_PATH, 0).map_err(|e| Error::Io(dest.display().to_string(), e))?;
        mount(None::<&str>, &paths::fd_path(&t), None::<&str>, MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | base, Some("mode=755")).map_err(err(format!("mounts[{index}] cgroup ro")))?;
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
    for p in linux.and_then(|l| l.readonly_paths().as_ref()).into_iter().flatten() {
        let rel = paths::relative(Path::new(p));
        let fd = match paths::open_in_root(root.as_raw_fd(), &rel, libc::O_PATH, 0) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(Error::Io(format!("readonlyPaths {p}"), e)),
        };
        let fp = paths::fd_path(&fd);
        mount(Some(&fp), &fp, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>).map_err(|source| Error::Mount { what: format!("readonlyPaths {p}"), source })?;
        let fd = paths::open_in_root(root.as_raw_fd(), &rel, libc::O_PATH, 0).map_err(|e| Error::Io(format!("readonlyPaths {p}"), e))?;
        mounts::remount_bind_readonly(&paths::fd_path(&fd))
            .map_err(|source| Error::Mount { what: format!("readonlyPaths {p} remount"), source })?;
    }
    if let Some(prop) = linux.and_then(|l| l.rootfs_propagation().as_deref()).and_then(propagation_flag) {
        mount(None::<&str>, "/", None::<&str>, prop, None::<&str>).map_err(|source| Error::Mount { what: "rootfsPropagation".into(), source })?;
    }
    if spec.root().as_ref().and_then(|r| r.readonly()).unwrap_or(false) {
        mounts::remount_bind_readonly(Path::new("/")).map_err(|source| Error::Mount { what: "make root read-only".into(), source })?;
    }
    Ok(())
}

/// maskedPaths: /dev/null over files, an empty read-only tmpfs over directories.
///
/// Attack stopped (CVE-2025-31133 class): if the container's /dev/null were a symlink or
/// another file (e.g. pointing at /proc/sys/kernel/core_pattern), binding "it" over a
/// masked path would expose, not mask. The source is opened once, checked to be the
/// character device 1:3, and that very fd is what gets bound.
fn mask_paths(root: RawFd, masked: &[String]) -> Result<(), Error> {
    let mut null: Option<PathBuf> = None;
    let mut _null_fd = None;
    for p in masked {
        let rel = paths::relative(Path::new(p));
        let fd = match paths::open_in_root(root, &rel, libc::O_PATH, 0) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(Error::Io(format!("maskedPaths {p}"), e)),
        };
        let st = nix::sys::stat::fstat(&fd).map_err(|e| Error::Io(format!("maskedPaths {p}"), e.into()))?;
        let target = paths::fd_path(&fd);
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            mount(Some("tmpfs"), &target, Some("tmpfs"), MsFlags::MS_RDONLY, None::<&str>).map_err(|source| Error::Mount { what: format!("maskedPaths {p}"), source })?;
            continue;
        }
        if null.is_none() {
            let n = paths::open_in_root(root, Path::new("dev/null"), libc::O_PATH | libc::O_NOFOLLOW, 0).map_err(|e| Error::Io("/dev/null".into(), e))?;
            let nst = nix::sys::stat::fstat(&n).map_err(|e| Error::Io("/dev/null".into(), e.into()))?;
            if nst.st_mode & libc::S_IFMT != libc::S_IFCHR || nst.st_rdev != libc::makedev(1, 3) {
                return Err(Error::Device { path: "/dev/null".into(), reason: "is not the null device (1:3): refusing to use it to mask paths".into() });
            }
            null = Some(paths::fd_path(&n));
            _null_fd = Some(n);
        }
        if let Some(src) = &null {
            mount(Some(src), &target, None::<&str>, MsFlags::MS_BIND, None::<&str>).map_err(|source| Error::Mount { what: format!("maskedPaths {p}"), source })?;
        }
    }
    Ok(())
}
