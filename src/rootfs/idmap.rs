//! Idmapped bind mounts: mounts[].options `idmap` / `ridmap`, with the mount's own
//! `uidMappings`/`gidMappings` or, without them, the container's user namespace's.
//!
//! config.md: uidMappings "SHOULD be implemented using mount_setattr(MOUNT_ATTR_IDMAP)".
//! The runtime does it before the clone, with the host's rights, on a detached copy of
//! the source (open_tree): a file the source's filesystem gives uid `u` is seen through
//! the mount as the host uid the mapping gives `u` (a mapping {containerID 0, hostID
//! 100000} makes the host's root-owned files root's inside a container whose user
//! namespace maps 0 to 100000). The init only attaches the tree, as any bind source
//! opened for it (rootfs::open_bind_sources).

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use oci_spec::runtime::{LinuxIdMapping, Mount};

use super::Error;
use crate::util::mount as m;

/// The container's user namespace, whose mappings `idmap` without its own uses.
pub enum ContainerUserns<'a> {
    None,
    /// A new one, with linux.uidMappings and gidMappings.
    New(&'a [LinuxIdMapping], &'a [LinuxIdMapping]),
    /// One joined by path: its fd serves as the mount's user namespace itself.
    Joined(RawFd),
}

/// User namespaces made for mappings, reused by mounts with the same ones.
#[derive(Default)]
pub struct Namespaces {
    made: Vec<(String, OwnedFd)>,
}

fn key(uid: &[LinuxIdMapping], gid: &[LinuxIdMapping]) -> String {
    let t = |v: &[LinuxIdMapping]| v.iter().map(|x| format!("{}:{}:{},", x.container_id(), x.host_id(), x.size())).collect::<String>();
    format!("{}/{}", t(uid), t(gid))
}

impl Namespaces {
    fn fd_for(&mut self, uid: &[LinuxIdMapping], gid: &[LinuxIdMapping]) -> Result<RawFd, Error> {
        let k = key(uid, gid);
        if let Some((_, fd)) = self.made.iter().find(|(x, _)| *x == k) {
            return Ok(fd.as_raw_fd());
        }
        let fd = crate::namespaces::user_ns_with(uid, gid).map_err(|e| Error::Io("a user namespace for an idmapped mount".into(), std::io::Error::other(e.to_string())))?;
        let raw = fd.as_raw_fd();
        self.made.push((k, fd));
        Ok(raw)
    }
}

/// Whether a mounts[] entry is idmapped, and recursively (`ridmap`).
pub fn wanted(m: &Mount, options: &super::mounts::Options) -> Option<bool> {
    let own = m.uid_mappings().as_ref().is_some_and(|v| !v.is_empty()) || m.gid_mappings().as_ref().is_some_and(|v| !v.is_empty());
    options.idmap.or(own.then_some(false))
}

/// Idmaps the detached `tree` of mounts[index].
pub fn apply(tree: &OwnedFd, index: usize, mnt: &Mount, recursive: bool, container: &ContainerUserns, cache: &mut Namespaces) -> Result<(), Error> {
    let field = |f: &str| format!("mounts[{index}].{f}");
    let own_uid = mnt.uid_mappings().as_deref().unwrap_or(&[]);
    let own_gid = mnt.gid_mappings().as_deref().unwrap_or(&[]);
    let fd = if !own_uid.is_empty() || !own_gid.is_empty() {
        cache.fd_for(own_uid, own_gid)?
    } else {
        match container {
            ContainerUserns::New(uid, gid) => cache.fd_for(uid, gid)?,
            ContainerUserns::Joined(fd) => *fd,
            ContainerUserns::None => {
                return Err(Error::Config(field("options"), "idmap without uidMappings/gidMappings needs the container's own user namespace".into()));
            }
        }
    };
    let attr = m::Attr { set: m::ATTR_IDMAP, userns_fd: fd as u64, ..Default::default() };
    m::set_attr(tree, recursive, &attr).map_err(|e| {
        let why = match e.raw_os_error() {
            Some(libc::EINVAL) => format!("{e} (the source's filesystem may not support idmapped mounts)"),
            _ => e.to_string(),
        };
        Error::Config(field("source"), format!("idmapped mount: {why}"))
    })
}
