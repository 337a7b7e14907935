//! Switching the init's root to the container's rootfs: pivot_root, or with `--no-pivot`
//! MS_MOVE + chroot (for ramfs roots, where pivot_root is impossible).

use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::unistd::{chdir, fchdir, pivot_root};

use super::Error;

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

pub fn move_root(rootfs: &Path) -> Result<(), Error> {
    chdir(rootfs).map_err(step("chdir to rootfs"))?;
    mount(Some(rootfs), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>).map_err(step("move rootfs to /"))?;
    nix::unistd::chroot(".").map_err(step("chroot"))?;
    chdir("/").map_err(step("chdir /"))
}
