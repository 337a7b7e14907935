//! Processes: the clone that makes a container's init, the sync channel between the
//! runtime and that init, the init itself, and what it does just before execve.

pub mod attrs;
pub mod clone;
pub mod exec;
pub mod init;
pub mod rlimits;
pub mod sync;
pub mod user;
