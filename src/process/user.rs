//! The container process's identity: supplementary groups, gid, uid, umask, and HOME.

use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::User;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("process.user: {what} {value}: {source}")]
    Set { what: &'static str, value: String, source: nix::Error },
}

/// setgroups, then gid, then uid (after the uid change we could no longer set groups).
pub fn switch(user: &User) -> Result<(), Error> {
    let groups: Vec<Gid> = user.additional_gids().iter().flatten().map(|g| Gid::from_raw(*g)).collect();
    match setgroups(&groups) {
        // Rootless with a single gid mapping, setgroups is denied in the user namespace
        // (the kernel requires it for an unprivileged gid_map writer): with no groups to
        // set, the process keeps the ones it has, as with runc.
        // (EPERM: were it CAP_SETGID that is missing, setresgid below would fail too.)
        Err(nix::Error::EPERM) if groups.is_empty() => {}
        r => r.map_err(|source| Error::Set { what: "additionalGids", value: format!("{:?}", user.additional_gids()), source })?,
    }
    let g = Gid::from_raw(user.gid());
    setresgid(g, g, g).map_err(|source| Error::Set { what: "gid", value: user.gid().to_string(), source })?;
    let u = Uid::from_raw(user.uid());
    setresuid(u, u, u).map_err(|source| Error::Set { what: "uid", value: user.uid().to_string(), source })?;
    if let Some(m) = user.umask() {
        // SAFETY: umask cannot fail.
        unsafe { libc::umask(m as libc::mode_t) };
    }
    Ok(())
}

/// The home directory of `uid` from the container's /etc/passwd, else "/".
pub fn home_of(uid: u32) -> String {
    let Ok(passwd) = std::fs::read_to_string("/etc/passwd") else { return "/".into() };
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 6 && f[2].parse::<u32>().ok() == Some(uid))
        .map(|f| f[5].to_string())
        .unwrap_or_else(|| "/".into())
}
