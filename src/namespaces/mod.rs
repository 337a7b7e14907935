//! Linux namespaces: which ones a container gets new and which it joins by path (setns),
//! checked for the right type before anything is created, and in which order.
//!
//! Who does what, and why:
//! - the common case (nothing joined by path, or no user namespace involved): the new
//!   pid/net/ipc/uts/mount/user namespaces come from the clone of the init itself, so
//!   the init is pid 1 of its pid namespace without a second fork, and every namespace
//!   the clone makes is owned by the new user namespace;
//! - a user namespace joined by path, or a new one together with namespaces joined by
//!   path (a Kubernetes pod with `hostUsers: false`: containerd's network namespace, the
//!   sandbox's new user namespace), is crun's order (`Late`): the clone makes nothing;
//!   the init joins what is given by path while it still has the host's rights (a
//!   network namespace owned by the host's user namespace cannot be joined from inside
//!   a new one: EPERM), enters the user namespace (setns, or unshare while the runtime
//!   writes the id maps), then unshares the rest, which are then owned by that user
//!   namespace; a new pid namespace needs one more fork there (unshare(CLONE_NEWPID)
//!   only affects children);
//! - every join (`join_all`, also `exec`'s) goes other types first, mount next (its
//!   setns moves root and cwd), user last: with the host's rights any namespace can be
//!   joined, from inside a user namespace only those it owns;
//! - a pid namespace given by path is entered by the *parent* (setns of
//!   pid_for_children) just around the clone, then left again (process/spawn.rs);
//! - the cgroup namespace is unshared by the init once it is in its cgroup, so that the
//!   namespace's root is the container's cgroup;
//! - the time namespace is unshared by the init, which writes the offsets while no
//!   process is in it yet; execve then moves the init into it (time_for_children). With a
//!   user namespace the runtime makes it (`TimeForChild`).

use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};

use crate::util::procfs::ProcFs;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("linux.namespaces[{index}].path: {path}: {source}")]
    Open { index: usize, path: PathBuf, source: std::io::Error },
    #[error("linux.namespaces[{index}].path: {path} is not a {want} namespace")]
    WrongType { index: usize, path: PathBuf, want: &'static str },
    #[error("cannot join {kind} namespace {path}: {source}")]
    Join { kind: &'static str, path: PathBuf, source: nix::Error },
    #[error("cannot unshare {kind} namespace: {source}")]
    Unshare { kind: &'static str, source: nix::Error },
    #[error("cannot write {file}: {source}")]
    Write { file: String, source: std::io::Error },
    #[error("cannot open {file}: {source}")]
    OpenOwn { file: &'static str, source: std::io::Error },
    #[error("user namespace mappings: {helper}: {reason}")]
    Helper { helper: &'static str, reason: String },
}

/// Clone flag for a namespace type.
pub fn flag(t: LinuxNamespaceType) -> libc::c_int {
    match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => libc::CLONE_NEWTIME,
    }
}

/// The name used under /proc/<pid>/ns/ and in messages.
pub fn proc_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

/// A namespace to enter, opened (and type-checked) by the parent before the clone.
#[derive(Debug)]
pub struct Join {
    pub typ: LinuxNamespaceType,
    pub path: PathBuf,
    pub file: File,
}

/// crun's order (see the top of this module): what the init does after its joins.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Late {
    /// The user namespace is new: the init unshares it and the runtime writes its maps.
    pub new_user: bool,
    /// The namespaces to unshare once in the user namespace.
    pub flags: u64,
    /// `flags` holds CLONE_NEWPID: the init forks the process that is pid 1 there.
    pub fork: bool,
}

/// What the container's namespaces need from the clone and from the init.
#[derive(Debug, Default)]
pub struct Plan {
    /// Flags for the init's clone.
    pub clone_flags: u64,
    /// Namespaces the init joins by path, in `join_all`'s order.
    pub joins: Vec<Join>,
    /// Set when the user namespace comes after the joins (crun's order).
    pub late: Option<Late>,
    /// The init enters a user namespace, new or joined.
    pub enters_user: bool,
    /// A pid namespace the parent enters around the clone.
    pub pid_join: Option<Join>,
    pub new_user: bool,
    pub new_cgroup: bool,
    pub new_time: bool,
    /// With a new user namespace too, the runtime makes the time namespace (see
    /// `TimeForChild`): the init, root only of its own user namespace and not dumpable,
    /// cannot write its offsets (EACCES), and the offsets must be set before the
    /// namespace has a process.
    pub time_by_runtime: bool,
    pub new_net: bool,
    /// No mount namespace listed: the container shares the runtime's (config-linux.md: a
    /// type not listed is inherited). The init then only chroots into the rootfs: no
    /// mount is made, none could be made without making it on the host.
    pub inherit_mount: bool,
}

const NS_GET_NSTYPE: libc::c_ulong = 0xb703; // _IO(0xb7, 0x3)

fn open_checked(index: usize, typ: LinuxNamespaceType, path: &Path) -> Result<Join, Error> {
    let file = crate::util::fs::open_cloexec(path).map_err(|source| Error::Open { index, path: path.into(), source })?;
    // SAFETY: ioctl with no argument on an fd we own.
    let got = unsafe { libc::ioctl(file.as_raw_fd(), NS_GET_NSTYPE as _) };
    if got != flag(typ) {
        return Err(Error::WrongType { index, path: path.into(), want: proc_name(typ) });
    }
    Ok(Join { typ, path: path.into(), file })
}

impl Plan {
    pub fn from_spec(spec: &Spec) -> Result<Plan, Error> {
        let mut plan = Plan::default();
        let list = spec.linux().as_ref().and_then(|l| l.namespaces().clone()).unwrap_or_default();
        for (index, ns) in list.iter().enumerate() {
            let t = ns.typ();
            match ns.path() {
                Some(p) => {
                    let j = open_checked(index, t, p)?;
                    if t == LinuxNamespaceType::Pid {
                        plan.pid_join = Some(j);
                    } else {
                        plan.joins.push(j);
                    }
                }
                None => match t {
                    LinuxNamespaceType::Cgroup => plan.new_cgroup = true,
                    LinuxNamespaceType::Time => plan.new_time = true,
                    _ => {
                        plan.clone_flags |= flag(t) as u64;
                        plan.new_user |= t == LinuxNamespaceType::User;
                        plan.new_net |= t == LinuxNamespaceType::Network;
                    }
                },
            }
        }
        plan.joins.sort_by_key(|j| join_rank(j.typ));
        let user_joined = plan.joins.iter().any(|j| j.typ == LinuxNamespaceType::User);
        plan.enters_user = plan.new_user || user_joined;
        plan.inherit_mount = plan.clone_flags & libc::CLONE_NEWNS as u64 == 0 && !plan.joins.iter().any(|j| j.typ == LinuxNamespaceType::Mount);
        if user_joined || (plan.new_user && !plan.joins.is_empty()) {
            let flags = plan.clone_flags & !(libc::CLONE_NEWUSER as u64);
            plan.late = Some(Late { new_user: plan.new_user, flags, fork: flags & libc::CLONE_NEWPID as u64 != 0 });
            plan.clone_flags = 0;
        }
        plan.time_by_runtime = plan.new_time && plan.enters_user;
        Ok(plan)
    }
}

/// The order of joins: other types, then mount (its setns moves root and cwd), then
/// user (from inside it only the namespaces it owns can be joined).
fn join_rank(t: LinuxNamespaceType) -> u8 {
    match t {
        LinuxNamespaceType::User => 2,
        LinuxNamespaceType::Mount => 1,
        _ => 0,
    }
}

/// Joins `joins` in `join_rank`'s order. A caller without the host's rights (rootless)
/// may join a namespace its user namespace owns only from inside that user namespace:
/// those refused (EPERM) before the user namespace are joined again after it.
pub fn join_all(joins: &[Join]) -> Result<(), Error> {
    let mut order: Vec<&Join> = joins.iter().collect();
    order.sort_by_key(|j| join_rank(j.typ));
    let has_user = order.iter().any(|j| j.typ == LinuxNamespaceType::User);
    let mut again = Vec::new();
    for j in order {
        match setns(j.file.as_raw_fd(), j.typ, &j.path) {
            Err(Error::Join { source: nix::Error::EPERM, .. }) if has_user && j.typ != LinuxNamespaceType::User => again.push(j),
            r => r?,
        }
    }
    for j in again {
        setns(j.file.as_raw_fd(), j.typ, &j.path)?;
    }
    Ok(())
}

pub fn setns(fd: RawFd, typ: LinuxNamespaceType, path: &Path) -> Result<(), Error> {
    // SAFETY: setns on an fd we own; the caller is single-threaded.
    let r = unsafe { libc::setns(fd, flag(typ)) };
    nix::errno::Errno::result(r)
        .map(drop)
        .map_err(|source| Error::Join { kind: proc_name(typ), path: path.into(), source })
}

pub fn unshare(flags: libc::c_int, kind: &'static str) -> Result<(), Error> {
    // SAFETY: plain syscall.
    let r = unsafe { libc::unshare(flags) };
    nix::errno::Errno::result(r).map(drop).map_err(|source| Error::Unshare { kind, source })
}

fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter().map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size())).collect()
}

/// Writes uid_map and gid_map of a process in a new user namespace (from the parent).
/// Rootless (`own`: the caller's uid and gid), a mapping of exactly the caller's own id
/// is written directly (for gid_map after denying setgroups, as the kernel requires of
/// an unprivileged writer); anything else goes through the setuid helpers newuidmap and
/// newgidmap, which check /etc/subuid and /etc/subgid, as runc and crun do.
pub fn write_id_maps(pid: i32, uid: &[LinuxIdMapping], gid: &[LinuxIdMapping], own: Option<(u32, u32)>) -> Result<(), Error> {
    let proc = ProcFs::host().map_err(|source| Error::Write { file: "/proc".into(), source })?;
    let write = |file: &str, text: &str| {
        let rel = format!("{pid}/{file}");
        proc.write(&rel, text).map_err(|source| Error::Write { file: format!("/proc/{rel}"), source })
    };
    let Some((own_uid, own_gid)) = own else {
        write("uid_map", &map_text(uid))?;
        return write("gid_map", &map_text(gid));
    };
    let just = |maps: &[LinuxIdMapping], id: u32| matches!(maps, [m] if m.host_id() == id && m.size() == 1);
    match just(uid, own_uid) {
        true => write("uid_map", &map_text(uid))?,
        false => id_map_helper("newuidmap", pid, uid)?,
    }
    match just(gid, own_gid) {
        true => {
            write("setgroups", "deny")?;
            write("gid_map", &map_text(gid))
        }
        false => id_map_helper("newgidmap", pid, gid),
    }
}

fn id_map_helper(helper: &'static str, pid: i32, maps: &[LinuxIdMapping]) -> Result<(), Error> {
    let mut c = std::process::Command::new(helper);
    c.arg(pid.to_string());
    for m in maps {
        c.args([m.container_id().to_string(), m.host_id().to_string(), m.size().to_string()]);
    }
    let out = c.stdin(std::process::Stdio::null()).output().map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => Error::Helper { helper, reason: "not found: mapping ids other than your own needs it (Debian package uidmap)".into() },
        _ => Error::Helper { helper, reason: source.to_string() },
    })?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(Error::Helper { helper, reason: format!("{} ({why}; the ranges must be yours in /etc/subuid and /etc/subgid)", out.status) });
    }
    Ok(())
}

/// A user namespace with these mappings and no process in it, as an fd (for
/// MOUNT_ATTR_IDMAP): a child cloned into a new user namespace waits on a pipe while its
/// maps are written and the namespace is opened, then exits (also if we die: EOF).
pub fn user_ns_with(uid: &[LinuxIdMapping], gid: &[LinuxIdMapping]) -> Result<std::os::fd::OwnedFd, Error> {
    let err = |file: &'static str| move |source| Error::OpenOwn { file, source };
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| err("pipe")(e.into()))?;
    let pid = crate::process::clone::clone_process(libc::CLONE_NEWUSER as u64, None).map_err(err("clone"))?;
    if pid == 0 {
        // SAFETY: the child: drop our copy of the write end, wait for EOF, leave.
        unsafe {
            libc::close(w.as_raw_fd());
            let mut b = 0u8;
            libc::read(r.as_raw_fd(), (&mut b as *mut u8).cast(), 1);
            libc::_exit(0);
        }
    }
    drop(r);
    let fd = write_id_maps(pid, uid, gid, None).and_then(|()| {
        crate::util::fs::open_cloexec(Path::new(&format!("/proc/{pid}/ns/user"))).map(std::os::fd::OwnedFd::from).map_err(err("/proc/PID/ns/user"))
    });
    drop(w);
    // SAFETY: reaping our own child, which exits on the pipe's EOF.
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    fd
}

/// A time namespace the runtime made for the next child it clones: unshare(CLONE_NEWTIME)
/// changes only the namespace of the caller's future children, so berth unshares, writes
/// the offsets while no process is in the namespace, clones the init into it and returns
/// (`restore`) to its own namespace for the hooks and children that follow.
pub struct TimeForChild {
    own: std::fs::File,
}

impl TimeForChild {
    pub fn prepare(proc: &ProcFs, offsets: &[(String, i64, u32)]) -> Result<TimeForChild, Error> {
        let own = crate::util::fs::open_cloexec(Path::new("/proc/self/ns/time")).map_err(|source| Error::OpenOwn { file: "/proc/self/ns/time", source })?;
        unshare(libc::CLONE_NEWTIME, "time")?;
        let me = TimeForChild { own };
        if let Err(e) = write_time_offsets(proc, offsets) {
            let _ = me.restore();
            return Err(e);
        }
        Ok(me)
    }

    pub fn restore(self) -> Result<(), Error> {
        setns(self.own.as_raw_fd(), LinuxNamespaceType::Time, Path::new("/proc/self/ns/time"))
    }
}

/// Writes /proc/self/timens_offsets after unshare(CLONE_NEWTIME), before any process
/// enters the new time namespace.
pub fn write_time_offsets(proc: &ProcFs, offsets: &[(String, i64, u32)]) -> Result<(), Error> {
    let text: String = offsets.iter().map(|(clock, s, ns)| format!("{clock} {s} {ns}\n")).collect();
    if text.is_empty() {
        return Ok(());
    }
    proc.write("self/timens_offsets", &text).map_err(|source| Error::Write { file: "/proc/self/timens_offsets".into(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_namespace_type_is_refused() {
        // Our own net namespace is not a pid namespace.
        match open_checked(3, LinuxNamespaceType::Pid, Path::new("/proc/self/ns/net")) {
            Err(Error::WrongType { index: 3, want: "pid", .. }) => {}
            other => panic!("{other:?}"),
        }
        assert!(open_checked(0, LinuxNamespaceType::Network, Path::new("/proc/self/ns/net")).is_ok());
        assert!(matches!(
            open_checked(0, LinuxNamespaceType::Network, Path::new("/nonexistent")),
            Err(Error::Open { .. })
        ));
    }

    #[test]
    fn map_text_format() {
        let m: LinuxIdMapping = serde_json::from_str(r#"{"containerID":0,"hostID":1000,"size":65536}"#).unwrap();
        assert_eq!(map_text(&[m]), "0 1000 65536\n");
    }
}

/// Brings up `lo` in a new network namespace, as runc does for every container with its
/// own network namespace (loopback is down in a fresh one).
pub fn loopback_up() -> std::io::Result<()> {
    // SAFETY: a socket used only for the interface ioctls below, closed by OwnedFd.
    let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if s < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: s is a new fd we own.
    let s = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(s) };
    // SAFETY: ifreq is plain data; the name "lo" fits in IFNAMSIZ.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (i, b) in b"lo".iter().enumerate() {
        req.ifr_name[i] = *b as libc::c_char;
    }
    // SAFETY: ioctls with a valid ifreq on our socket.
    unsafe {
        if libc::ioctl(s.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut req) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(s.as_raw_fd(), libc::SIOCSIFFLAGS as _, &req) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
