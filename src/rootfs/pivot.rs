//! Switching the init's root to the container's rootfs: pivot_root, or with `--no-pivot`
//! MS_MOVE + chroot (for ramfs roots, where pivot_root is impossible).

use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::unistd::{chdir, fchdir, pivot_root};

use super::Error;
use crate::util::procfs::ProcFs;

fn step(what: &'static str) -> impl FnOnce(nix::Error) -> Error {
    move |source| Error::Mount { what: what.to_string(), source }
}

/// pivot_root(".", ".") in the new root, then detach the old root stacked below it:
/// no temporary directory is needed inside the rootfs.
pub fn pivot(rootfs: &Path) -> Result<(), Error> {
    let old = crate::util::fs::open_cloexec(Path::new("/")).map_err(|e| Error::Io("open /".into(), e))?;
    let new = crate::util::fs::open_cloexec(rootfs).map_err(|e| Error::Io(rootfs.display().to_string(), e))?;
    fchdir(&new).map_err(step("chdir to rootfs"))?;
    pivot_root(".", ".").map_err(step("pivot_root"))?;
    fchdir(&old).map_err(step("chdir to old root"))?;
    // Make sure unmounting the old root does not propagate to the host.
    mount(None::<&str>, ".", None::<&str>, MsFlags::MS_SLAVE | MsFlags::MS_REC, None::<&str>).map_err(step("make old root rslave"))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(step("detach old root"))?;
    chdir("/").map_err(step("chdir /"))
}

/// Without a mount namespace of its own (the runtime's is inherited): chroot only, as
/// nothing may be mounted or moved in the host's mount namespace.
pub fn chroot(rootfs: &Path) -> Result<(), Error> {
    chdir(rootfs).map_err(step("chdir to rootfs"))?;
    nix::unistd::chroot(".").map_err(step("chroot"))?;
    chdir("/").map_err(step("chdir /"))
}

/// `--no-pivot`: MS_MOVE the rootfs over "/" and chroot into it.
///
/// Attack stopped (as runc's msMoveRoot): the old root stays in the mount namespace under
/// the moved rootfs, unreachable by path but, to the kernel, "visible": a process in the
/// container could `unshare -mrpf` and mount a fresh procfs (mount_too_revealing lets a
/// new user namespace do so while a fully visible procfs exists in its mount namespace),
/// getting the host's whole /proc. So first every procfs and sysfs mount outside the
/// rootfs is made private (no unmount propagates to the host, whatever the root's
/// propagation) and detached, or, if it cannot be, covered with an empty read-only tmpfs.
pub fn move_root(rootfs: &Path, proc: &ProcFs) -> Result<(), Error> {
    hide_host_proc_and_sys(rootfs, proc)?;
    chdir(rootfs).map_err(step("chdir to rootfs"))?;
    mount(Some(rootfs), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>).map_err(step("move rootfs to /"))?;
    nix::unistd::chroot(".").map_err(step("chroot"))?;
    chdir("/").map_err(step("chdir /"))
}

fn hide_host_proc_and_sys(rootfs: &Path, proc: &ProcFs) -> Result<(), Error> {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut proc.open("self/mountinfo", libc::O_RDONLY).map_err(|e| Error::Io("mountinfo".into(), e))?, &mut text)
        .map_err(|e| Error::Io("mountinfo".into(), e))?;
    let mut points: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let fstype = right.split(' ').next()?;
            let point = PathBuf::from(crate::util::mount::unescape_mountinfo(left.split(' ').nth(4)?));
            (matches!(fstype, "proc" | "sysfs") && !point.starts_with(rootfs)).then_some(point)
        })
        .collect();
    // Deepest first: a parent detached first would take the path of its children with it.
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    points.dedup();
    for p in points {
        match mount(None::<&str>, &p, None::<&str>, MsFlags::MS_PRIVATE | MsFlags::MS_REC, None::<&str>) {
            Ok(()) => {}
            // Gone with a parent detached before it.
            Err(nix::Error::ENOENT) | Err(nix::Error::EINVAL) => continue,
            Err(e) => return Err(Error::Mount { what: format!("make {} private", p.display()), source: e }),
        }
        if umount2(&p, MntFlags::MNT_DETACH).is_err() {
            mount(Some("tmpfs"), &p, Some("tmpfs"), MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC, None::<&str>)
                .map_err(|e| Error::Mount { what: format!("cover {}", p.display()), source: e })?;
        }
    }
    Ok(())
}
