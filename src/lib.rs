//! berth: an OCI container runtime. The library does the work; `cli` is a thin layer.
//!
//! Where things happen:
//! - `container`: state on disk, create/start/kill/delete (the runtime side)
//! - `process`: the clone of the init, the sync channel, the init itself, exec
//! - `namespaces`: new and joined namespaces, id maps, time offsets
//! - `rootfs`: mounts, /dev, pivot_root, masked and read-only paths
//! - `cgroups`: the container's cgroup on v1, v2 and hybrid hosts
//! - `capabilities`, `hooks`, `config` (config.json), `logging`, `util`

pub mod capabilities;
pub mod cgroups;
pub mod cli;
pub mod config;
pub mod container;
pub mod hooks;
pub mod logging;
pub mod namespaces;
pub mod process;
pub mod rootfs;
pub mod seccomp;
pub mod tty;
pub mod util;

/// The runtime-spec version berth implements.
pub const SPEC_VERSION: &str = "1.3.0";
