//! config.json mount options → mount(2) flags, propagation and filesystem data, and the
//! mounting of one entry inside the rootfs.

use std::os::fd::{OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;

use super::paths::{self, Kind};
use super::Error;
use crate::util::mount as m;

/// A mount entry's options, split the way mount(2) wants them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub flags: MsFlags,
    pub clear: MsFlags,
    pub propagation: Vec<MsFlags>,
    pub data: Vec<String>,
    /// The recursive options (`rro`, `rnosuid`, ...): applied to the mount and every
    /// mount below it (mount_setattr with AT_RECURSIVE).
    pub recursive: m::Attr,
    /// `tmpcopyup`: a tmpfs starts with a copy of what the destination holds.
    pub copy_up: bool,
    /// `idmap` (Some(false)) or `ridmap` (Some(true): every mount of an rbind): an
    /// idmapped bind mount (rootfs/idmap.rs).
    pub idmap: Option<bool>,
}

/// What a recursive mount option (`rro`, `rnosuid`, ...) does to the mount and every
/// mount below it (mount_setattr with AT_RECURSIVE), as runc reads them.
enum Recursive {
    Set(u64),
    Clear(u64),
    /// An atime mode (relatime is 0): the atime bits are cleared, then this one set.
    Atime(u64),
}

fn recursive_option(opt: &str) -> Option<Recursive> {
    use Recursive::*;
    Some(match opt {
        "rro" => Set(m::ATTR_RDONLY),
        "rrw" => Clear(m::ATTR_RDONLY),
        "rnosuid" => Set(m::ATTR_NOSUID),
        "rsuid" => Clear(m::ATTR_NOSUID),
        "rnodev" => Set(m::ATTR_NODEV),
        "rdev" => Clear(m::ATTR_NODEV),
        "rnoexec" => Set(m::ATTR_NOEXEC),
        "rexec" => Clear(m::ATTR_NOEXEC),
        "rnodiratime" => Set(m::ATTR_NODIRATIME),
        "rdiratime" => Clear(m::ATTR_NODIRATIME),
        "rnosymfollow" => Set(m::ATTR_NOSYMFOLLOW),
        "rsymfollow" => Clear(m::ATTR_NOSYMFOLLOW),
        "rnoatime" => Atime(m::ATTR_NOATIME),
        "rstrictatime" => Atime(m::ATTR_STRICTATIME),
        // Clearing noatime, relatime or strictatime leaves the kernel's default, relatime.
        "rrelatime" | "ratime" | "rnorelatime" | "rnostrictatime" => Atime(m::ATTR_RELATIME),
        _ => return None,
    })
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

/// The names recursive_option and propagation take (a test checks each does).
const RECURSIVE_OPTIONS: &[&str] = &[
    "rro", "rrw", "rnosuid", "rsuid", "rnodev", "rdev", "rnoexec", "rexec", "rnodiratime", "rdiratime", "rnosymfollow",
    "rsymfollow", "rnoatime", "rstrictatime", "rrelatime", "ratime", "rnorelatime", "rnostrictatime",
];
const PROPAGATION_OPTIONS: &[&str] = &["private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable"];

/// MS_NOSYMFOLLOW (Linux 5.10), which nix does not name.
const MS_NOSYMFOLLOW: MsFlags = MsFlags::from_bits_retain(256);

/// The flag options: what each sets and clears (a later option overrides an earlier one).
const FLAG_OPTIONS: &[(&str, MsFlags, MsFlags)] = &[
    ("async", MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
    ("atime", MsFlags::empty(), MsFlags::MS_NOATIME),
    ("bind", MsFlags::MS_BIND, MsFlags::empty()),
    ("defaults", MsFlags::empty(), MsFlags::empty()),
    ("dev", MsFlags::empty(), MsFlags::MS_NODEV),
    ("diratime", MsFlags::empty(), MsFlags::MS_NODIRATIME),
    ("dirsync", MsFlags::MS_DIRSYNC, MsFlags::empty()),
    ("exec", MsFlags::empty(), MsFlags::MS_NOEXEC),
    ("iversion", MsFlags::MS_I_VERSION, MsFlags::empty()),
    ("lazytime", MsFlags::MS_LAZYTIME, MsFlags::empty()),
    ("loud", MsFlags::empty(), MsFlags::MS_SILENT),
    ("mand", MsFlags::MS_MANDLOCK, MsFlags::empty()),
    ("noatime", MsFlags::MS_NOATIME, MsFlags::empty()),
    ("nodev", MsFlags::MS_NODEV, MsFlags::empty()),
    ("nodiratime", MsFlags::MS_NODIRATIME, MsFlags::empty()),
    ("noexec", MsFlags::MS_NOEXEC, MsFlags::empty()),
    ("noiversion", MsFlags::empty(), MsFlags::MS_I_VERSION),
    ("nolazytime", MsFlags::empty(), MsFlags::MS_LAZYTIME),
    ("nomand", MsFlags::empty(), MsFlags::MS_MANDLOCK),
    ("norelatime", MsFlags::empty(), MsFlags::MS_RELATIME),
    ("nostrictatime", MsFlags::empty(), MsFlags::MS_STRICTATIME),
    ("nosuid", MsFlags::MS_NOSUID, MsFlags::empty()),
    ("nosymfollow", MS_NOSYMFOLLOW, MsFlags::empty()),
    ("rbind", MsFlags::MS_BIND.union(MsFlags::MS_REC), MsFlags::empty()),
    ("relatime", MsFlags::MS_RELATIME, MsFlags::empty()),
    ("remount", MsFlags::MS_REMOUNT, MsFlags::empty()),
    ("ro", MsFlags::MS_RDONLY, MsFlags::empty()),
    ("rw", MsFlags::empty(), MsFlags::MS_RDONLY),
    ("silent", MsFlags::MS_SILENT, MsFlags::empty()),
    ("strictatime", MsFlags::MS_STRICTATIME, MsFlags::empty()),
    ("suid", MsFlags::empty(), MsFlags::MS_NOSUID),
    ("symfollow", MsFlags::empty(), MS_NOSYMFOLLOW),
    ("sync", MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
];

/// runc's extensions, which are no mount(2) flag: Options::copy_up and Options::idmap.
const EXTENSIONS: &[&str] = &["tmpcopyup", "idmap", "ridmap"];

/// Every option `features` reports: the flag, recursive and propagation options, from the
/// tables parse_options itself uses.
pub fn known_options() -> Vec<&'static str> {
    let mut v: Vec<&str> = FLAG_OPTIONS.iter().map(|(n, _, _)| *n).chain(RECURSIVE_OPTIONS.iter().copied()).chain(PROPAGATION_OPTIONS.iter().copied()).chain(EXTENSIONS.iter().copied()).collect();
    v.sort_unstable();
    v
}

pub fn parse_options(opts: &[String]) -> Options {
    let mut o = Options { flags: MsFlags::empty(), clear: MsFlags::empty(), propagation: Vec::new(), data: Vec::new(), recursive: m::Attr::default(), copy_up: false, idmap: None };
    for opt in opts {
        if let Some(r) = recursive_option(opt) {
            let a = &mut o.recursive;
            match r {
                Recursive::Set(b) => {
                    a.set |= b;
                    a.clear &= !b;
                }
                Recursive::Clear(b) => {
                    a.clear |= b;
                    a.set &= !b;
                }
                Recursive::Atime(mode) => {
                    a.clear |= m::ATTR_ATIME_MASK;
                    a.set = (a.set & !m::ATTR_ATIME_MASK) | mode;
                }
            }
            continue;
        }
        let known = FLAG_OPTIONS.iter().find(|(n, _, _)| *n == opt.as_str()).map(|(_, s, c)| (*s, *c));
        let (set, clear) = match known {
            Some(sc) => sc,
            None if opt == "tmpcopyup" => {
                o.copy_up = true;
                continue;
            }
            None if opt == "idmap" || opt == "ridmap" => {
                o.idmap = Some(opt == "ridmap" || o.idmap == Some(true));
                continue;
            }
            None => {
                let other = opt.as_str();
                if let Some(p) = propagation(other) {
                    o.propagation.push(p);
                } else {
                    o.data.push(other.to_string());
                }
                continue;
            }
        };
        // difference, not `& !clear`: bitflags' `!` would drop MS_NOSYMFOLLOW, unnamed.
        o.flags = (o.flags | set).difference(clear);
        o.clear |= clear;
    }
    o
}

/// The mount attributes (util::mount::ATTR_*) of mount(2) per-mount flags.
pub fn attrs_of(flags: MsFlags) -> u64 {
    let mut a = 0;
    for (f, attr) in [
        (MsFlags::MS_RDONLY, m::ATTR_RDONLY),
        (MsFlags::MS_NOSUID, m::ATTR_NOSUID),
        (MsFlags::MS_NODEV, m::ATTR_NODEV),
        (MsFlags::MS_NOEXEC, m::ATTR_NOEXEC),
        (MsFlags::MS_NODIRATIME, m::ATTR_NODIRATIME),
        (MS_NOSYMFOLLOW, m::ATTR_NOSYMFOLLOW),
    ] {
        if flags.contains(f) {
            a |= attr;
        }
    }
    if flags.contains(MsFlags::MS_NOATIME) {
        a |= m::ATTR_NOATIME;
    } else if flags.contains(MsFlags::MS_STRICTATIME) {
        a |= m::ATTR_STRICTATIME;
    }
    a
}

/// What mount(2) with MS_BIND|MS_REMOUNT|`flags` does to a bind mount, as attribute
/// changes: the per-mount flags become exactly `flags` (runc's and the kernel's rule for
/// a bind remount). In a user namespace the flags the mount came with are locked by the
/// kernel, so there only what `flags` adds is set and nothing is cleared.
pub fn remount_attr(flags: MsFlags, in_userns: bool) -> m::Attr {
    let set = attrs_of(flags);
    if in_userns {
        return m::Attr { set, ..Default::default() };
    }
    let all = m::ATTR_RDONLY | m::ATTR_NOSUID | m::ATTR_NODEV | m::ATTR_NOEXEC | m::ATTR_NODIRATIME | m::ATTR_NOSYMFOLLOW;
    m::Attr { set, clear: (all & !set) | m::ATTR_ATIME_MASK, ..Default::default() }
}

/// Superblock flags of a new filesystem, as fsconfig knows them.
fn sb_flags(flags: MsFlags) -> Vec<String> {
    [
        (MsFlags::MS_RDONLY, "ro"),
        (MsFlags::MS_SYNCHRONOUS, "sync"),
        (MsFlags::MS_DIRSYNC, "dirsync"),
        (MsFlags::MS_LAZYTIME, "lazytime"),
        (MsFlags::MS_MANDLOCK, "mand"),
    ]
    .iter()
    .filter(|(f, _)| flags.contains(*f))
    .map(|(_, n)| n.to_string())
    .collect()
}

/// Applies the entry's propagation options to an attached mount, in order.
pub fn set_propagation(fd: &OwnedFd, propagation: &[MsFlags]) -> std::io::Result<()> {
    for p in propagation {
        let bits = *p & !MsFlags::MS_REC;
        m::set_attr(fd, p.contains(MsFlags::MS_REC), &m::Attr { propagation: bits.bits() as u64, ..Default::default() })?;
    }
    Ok(())
}

/// One `mounts[]` entry to mount inside the rootfs.
pub struct Entry<'a> {
    pub index: usize,
    pub destination: &'a Path,
    pub typ: &'a str,
    pub source: Option<PathBuf>,
    pub options: Options,
    /// The bind source, already opened by the runtime (a detached tree).
    pub tree: Option<&'a OwnedFd>,
}

/// Mounts one entry. `root` is an fd on the rootfs directory. The mount is made detached,
/// given its flags there, attached onto the destination resolved once inside the rootfs,
/// and given its propagation through the same fd: no path is looked up twice.
pub fn mount_entry(root: RawFd, e: &Entry, in_userns: bool) -> Result<(), Error> {
    let field = |what: &str| format!("mounts[{}].{what}", e.index);
    let mount_err = |op: &str, err: std::io::Error| Error::Io(format!("mounts[{}] ({} on {}) {op}", e.index, e.typ, e.destination.display()), err);
    let is_bind = e.options.flags.contains(MsFlags::MS_BIND);
    let per_mount = e.options.flags.difference(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
    if e.options.flags.contains(MsFlags::MS_REMOUNT) {
        let target = paths::open_in_root(root, &paths::relative(e.destination), libc::O_PATH, 0)
            .map_err(|err| Error::Config(field("destination"), format!("{}: {err}", e.destination.display())))?;
        m::set_attr(&target, false, &remount_attr(per_mount, in_userns)).map_err(|err| mount_err("remount", err))?;
        m::set_attr(&target, true, &e.options.recursive).map_err(|err| mount_err("recursive options", err))?;
        return set_propagation(&target, &e.options.propagation).map_err(|err| mount_err("propagation", err));
    }
    let mut checked = None;
    let mut copy_up_into: Option<bool> = None;
    let (tree, kind) = if is_bind {
        let src = e.source.as_deref().ok_or_else(|| Error::Config(field("source"), "a bind mount needs a source".into()))?;
        let tree = match e.tree {
            Some(t) => t.try_clone().map_err(|err| Error::Config(field("source"), format!("{}: {err}", src.display())))?,
            None => m::clone_tree(libc::AT_FDCWD, src, e.options.flags.contains(MsFlags::MS_REC))
                .map_err(|err| Error::Config(field("source"), format!("{}: {err}", src.display())))?,
        };
        let st = nix::sys::stat::fstat(&tree).map_err(|err| Error::Config(field("source"), format!("{}: {err}", src.display())))?;
        let kind = if st.st_mode & libc::S_IFMT == libc::S_IFDIR { Kind::Dir } else { Kind::File };
        // Per-mount flags on a bind mount take effect as a remount would give them.
        if !per_mount.is_empty() {
            m::set_attr(&tree, false, &remount_attr(per_mount, in_userns)).map_err(|err| mount_err("flags", err))?;
        }
        (tree, kind)
    } else {
        // As runc: procfs and sysfs only on a real directory (a symlink there, whether or
        // not its target exists, is how attacks have redirected them). The fd checked is
        // the one mounted on.
        if matches!(e.typ, "proc" | "sysfs") {
            match paths::open_dir_last_nofollow(root, e.destination) {
                Ok(Some(fd)) => checked = Some(fd),
                Ok(None) => {}
                Err(err) if err.raw_os_error() == Some(libc::ENOTDIR) => {
                    return Err(Error::Config(field("destination"), format!("filesystem {:?} must be mounted on ordinary directory", e.typ)));
                }
                Err(err) => return Err(Error::Config(field("destination"), format!("{}: {err}", e.destination.display()))),
            }
        }
        let copy_up = e.options.copy_up && e.typ == "tmpfs";
        // A tmpfs to fill is made writable (superblock and mount); read-only once filled.
        let mut data = sb_flags(if copy_up { e.options.flags.difference(MsFlags::MS_RDONLY) } else { e.options.flags });
        data.extend(e.options.data.iter().cloned());
        let source = e.source.as_deref().map(|p| p.to_string_lossy().into_owned());
        let attrs = if copy_up { attrs_of(per_mount) & !m::ATTR_RDONLY } else { attrs_of(per_mount) };
        let tree = match m::new_fs(e.typ, Some(source.as_deref().unwrap_or(e.typ)), &data, attrs) {
            // As runc: a user namespace that does not own the network namespace (a pod's,
            // joined by path) may not mount sysfs; the runtime's /sys is bound instead,
            // with the entry's flags.
            Err(err) if e.typ == "sysfs" && in_userns && err.raw_os_error() == Some(libc::EPERM) => {
                let t = m::clone_tree(libc::AT_FDCWD, Path::new("/sys"), true).map_err(|err| mount_err("bind /sys", err))?;
                m::set_attr(&t, false, &remount_attr(per_mount, in_userns)).map_err(|err| mount_err("flags", err))?;
                t
            }
            r => r.map_err(|err| mount_err("mount", err))?,
        };
        if copy_up {
            copy_up_into = Some(attrs_of(per_mount) & m::ATTR_RDONLY != 0);
        }
        (tree, Kind::Dir)
    };
    m::set_attr(&tree, true, &e.options.recursive).map_err(|err| mount_err("recursive options", err))?;
    let target = match checked {
        Some(fd) => fd,
        None => paths::ensure_in_root(root, e.destination, kind)
            .map_err(|err| Error::Config(field("destination"), format!("{}: {err}", e.destination.display())))?,
    };
    if let Some(read_only) = copy_up_into {
        super::copyup::copy_into(&target, &tree).map_err(|err| mount_err("tmpcopyup", err))?;
        if read_only {
            m::set_attr(&tree, false, &m::Attr { set: m::ATTR_RDONLY, ..Default::default() }).map_err(|err| mount_err("tmpcopyup", err))?;
        }
    }
    m::attach(&tree, &target).map_err(|err| mount_err("mount", err))?;
    set_propagation(&tree, &e.options.propagation).map_err(|err| mount_err("propagation", err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_option_is_parsed_as_an_option_not_data() {
        for name in RECURSIVE_OPTIONS {
            assert!(recursive_option(name).is_some(), "{name}");
        }
        for name in PROPAGATION_OPTIONS {
            assert!(propagation(name).is_some(), "{name}");
        }
        for name in known_options() {
            assert!(parse_options(&[name.to_string()]).data.is_empty(), "{name} would be passed as data");
        }
        let o = parse_options(&["nosymfollow".to_string()]);
        assert!(o.flags.contains(MS_NOSYMFOLLOW));
        assert_eq!(attrs_of(o.flags), m::ATTR_NOSYMFOLLOW);
        assert!(!parse_options(&["nosymfollow".to_string(), "symfollow".to_string()]).flags.contains(MS_NOSYMFOLLOW));
    }

    #[test]
    fn options_split_into_flags_propagation_and_data() {
        let v: Vec<String> = ["nosuid", "ro", "rw", "mode=755", "rslave", "size=64k", "rbind"].iter().map(|s| s.to_string()).collect();
        let o = parse_options(&v);
        assert!(o.flags.contains(MsFlags::MS_NOSUID | MsFlags::MS_BIND | MsFlags::MS_REC));
        assert!(!o.flags.contains(MsFlags::MS_RDONLY), "a later rw clears ro");
        assert_eq!(o.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
        assert_eq!(o.data, vec!["mode=755", "size=64k"]);
    }

    #[test]
    fn recursive_options_become_attributes_not_data() {
        let v: Vec<String> = ["rro", "rnosuid", "rsuid", "rnoexec", "rnoatime", "rbind"].iter().map(|s| s.to_string()).collect();
        let o = parse_options(&v);
        assert!(o.data.is_empty(), "{:?}", o.data);
        assert_eq!(o.recursive.set, m::ATTR_RDONLY | m::ATTR_NOEXEC | m::ATTR_NOATIME);
        assert_eq!(o.recursive.clear, m::ATTR_NOSUID | m::ATTR_ATIME_MASK, "a later rsuid undoes rnosuid");
    }

    #[test]
    fn a_bind_remount_sets_exactly_its_flags_outside_a_user_namespace() {
        let a = remount_attr(MsFlags::MS_RDONLY | MsFlags::MS_NOSUID, false);
        assert_eq!(a.set, m::ATTR_RDONLY | m::ATTR_NOSUID);
        assert!(a.clear & m::ATTR_NODEV != 0 && a.clear & m::ATTR_RDONLY == 0);
        let a = remount_attr(MsFlags::MS_RDONLY, true);
        assert_eq!((a.set, a.clear), (m::ATTR_RDONLY, 0), "locked flags are kept in a user namespace");
    }
}
