//! Processes: the clone that makes a container's init, the sync channel between the
//! runtime and that init, the init itself, and what it does just before execve.

pub mod attrs;
pub mod clone;
pub mod enter;
pub mod exec;
pub mod identity;
pub mod init;
pub mod rlimits;
pub mod seal;
pub mod spawn;
pub mod sync;
pub mod user;

use crate::{capabilities, hooks, namespaces, rootfs};

/// Errors of a process being set up (the init, or a process entering a container). They
/// travel to the runtime over the sync channel as text.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Namespace(#[from] namespaces::Error),
    #[error(transparent)]
    Rootfs(#[from] rootfs::Error),
    #[error(transparent)]
    Hook(#[from] hooks::Error),
    #[error(transparent)]
    Rlimit(#[from] rlimits::Error),
    #[error(transparent)]
    User(#[from] user::Error),
    #[error(transparent)]
    Caps(#[from] capabilities::Error),
    #[error(transparent)]
    Exec(#[from] exec::Error),
    #[error(transparent)]
    Attr(#[from] attrs::Error),
    #[error(transparent)]
    Tty(#[from] crate::tty::Error),
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::Error),
    #[error("sync with the runtime: {0}")]
    Sync(String),
    #[error("{0}: {1}")]
    Sys(String, nix::Error),
    #[error("{0}")]
    Other(String),
}

