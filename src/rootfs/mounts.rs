//! config.json mount options → mount(2) flags, propagation and filesystem data, and the
//! mounting of one entry inside the rootfs.

use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};

use super::paths::{self, Kind};
use super::Error;

/// A mount entry's options, split the way mount(2) wants them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub flags: MsFlags,
    pub clear: MsFlags,
    pub propagation: Vec<MsFlags>,
    pub data: Vec<String>,
}

pub fn propagation(opt: &str) -> Option<MsFlags> {
    Some(match opt {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

pub fn parse_options(opts: &[String]) -> Options {
    let mut o = Options { flags: MsFlags::empty(), clear: MsFlags::empty(), propagation: Vec::new(), data: Vec::new() };
    for opt in opts {
        let (set, clear) = match opt.as_str() {
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "defaults" => (MsFlags::empty(), MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "iversion" => (MsFlags::MS_I_VERSION, MsFlags::empty()),
            "lazytime" => (MsFlags::MS_LAZYTIME, MsFlags::empty()),
            "loud" => (MsFlags::empty(), MsFlags::MS_SILENT),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "noiversion" => (MsFlags::empty(), MsFlags::MS_I_VERSION),
            "nolazytime" => (MsFlags::empty(), MsFlags::MS_LAZYTIME),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "silent" => (MsFlags::MS_SILENT, MsFlags::empty()),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            // runc extensions that need no mount(2) flag here.
            "tmpcopyup" | "idmap" | "ridmap" => (MsFlags::empty(), MsFlags::empty()),
            other => {
                if let Some(p) = propagation(other) {
                    o.propagation.push(p);
                } else {
                    o.data.push(other.to_string());
                }
                continue;
            }
        };
        o.flags = (o.flags | set) & !clear;
        o.clear |= clear;
    }
    o
}

/// A mount's nosuid/nodev/noexec/rdonly flags. On a mount made in a less privileged user
/// namespace the kernel locks them: a bind remount must keep them or it fails with EPERM.
fn current_flags(target: &Path) -> MsFlags {
    let Ok(st) = nix::sys::statvfs::statvfs(target) else { return MsFlags::empty() };
    use nix::sys::statvfs::FsFlags;
    let f = st.flags();
    let mut out = MsFlags::empty();
    for (s, m) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
    ] {
        if f.contains(s) {
            out |= m;
        }
    }
    out
}

/// Remounts a bind mount with `flags`, keeping the flags the kernel locked on it.
pub fn remount_bind(target: &Path, flags: MsFlags, in_userns: bool) -> nix::Result<()> {
    let mut f = flags | MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
    if in_userns {
        f |= current_flags(target) & !MsFlags::MS_RDONLY;
    }
    mount(None::<&str>, target, None::<&str>, f, None::<&str>)
}

/// Remounts a bind mount read-only, keeping its nosuid/nodev/noexec (as runc does): a bind
/// remount sets exactly the flags it is given, so a read-only /proc/sys would otherwise
/// lose the noexec/nosuid/nodev of the /proc it came from.
/// The current flags include those a user namespace locks, so this suits both cases.
pub fn remount_bind_readonly(target: &Path) -> nix::Result<()> {
    let f = MsFlags::MS_RDONLY | current_flags(target) | MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
    mount(None::<&str>, target, None::<&str>, f, None::<&str>)
}

/// One `mounts[]` entry to mount inside the rootfs.
pub struct Entry<'a> {
    pub index: usize,
    pub destination: &'a Path,
    pub typ: &'a str,
    pub source: Option<PathBuf>,
    pub options: Options,
}

/// Mounts one entry. `root` is an fd on the rootfs directory.
pub fn mount_entry(root: RawFd, e: &Entry, in_userns: bool) -> Result<(), Error> {
    let field = |what: &str| format!("mounts[{}].{what}", e.index);
    let is_bind = e.options.flags.contains(MsFlags::MS_BIND);
    let kind = if is_bind {
        let src = e.source.as_deref().ok_or_else(|| Error::Config(field("source"), "a bind mount needs a source".into()))?;
        match std::fs::metadata(src) {
            Ok(m) if m.is_dir() => Kind::Dir,
            Ok(_) => Kind::File,
            Err(err) => return Err(Error::Config(field("source"), format!("{}: {err}", src.display()))),
        }
    } else {
        Kind::Dir
    };
    let target_fd = paths::ensure_in_root(root, e.destination, kind)
        .map_err(|err| Error::Config(field("destination"), format!("{}: {err}", e.destination.display())))?;
    let target = paths::fd_path(&target_fd);
    let data = e.options.data.join(",");
    let prop_mask = MsFlags::MS_SHARED | MsFlags::MS_PRIVATE | MsFlags::MS_SLAVE | MsFlags::MS_UNBINDABLE;
    let mut flags = e.options.flags & !prop_mask;
    if is_bind {
        // Per-mount flags on a bind mount only take effect through a remount.
        flags &= MsFlags::MS_BIND | MsFlags::MS_REC;
    }
    let mount_err = |op: &str, err: nix::Error| Error::Mount {
        what: format!("mounts[{}] ({} on {}) {op}", e.index, e.typ, e.destination.display()),
        source: err,
    };
    let fstype = if is_bind { None } else { Some(e.typ) };
    let source = e.source.as_deref().map(Path::as_os_str).unwrap_or(std::ffi::OsStr::new(e.typ));
    mount(Some(source), &target, fstype, flags, if data.is_empty() { None } else { Some(data.as_str()) })
        .map_err(|err| mount_err("mount", err))?;
    drop(target_fd);
    // The fd above pointed at the directory under the new mount; reopen to reach the mount.
    let mounted = paths::open_in_root(root, &paths::relative(e.destination), libc::O_PATH, 0)
        .map_err(|err| Error::Config(field("destination"), err.to_string()))?;
    let mounted_path = paths::fd_path(&mounted);
    let extra = e.options.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT) & !prop_mask;
    if is_bind && !extra.is_empty() {
        remount_bind(&mounted_path, extra, in_userns).map_err(|err| mount_err("remount", err))?;
    }
    for p in &e.options.propagation {
        mount(None::<&str>, &mounted_path, None::<&str>, *p, None::<&str>).map_err(|err| mount_err("propagation", err))?;
    }
    let _ = mounted.as_raw_fd();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_into_flags_propagation_and_data() {
        let v: Vec<String> = ["nosuid", "ro", "rw", "mode=755", "rslave", "size=64k", "rbind"].iter().map(|s| s.to_string()).collect();
        let o = parse_options(&v);
        assert!(o.flags.contains(MsFlags::MS_NOSUID | MsFlags::MS_BIND | MsFlags::MS_REC));
        assert!(!o.flags.contains(MsFlags::MS_RDONLY), "a later rw clears ro");
        assert_eq!(o.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
        assert_eq!(o.data, vec!["mode=755", "size=64k"]);
    }
}
