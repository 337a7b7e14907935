//! Containers: their state on disk and the runtime.md operations on them.

mod create;
mod resources;
mod exec;
mod lifecycle;
pub mod signal;
pub mod state;

use std::path::PathBuf;

pub use create::{create, CreateOptions, Created};
pub use exec::{exec, ExecOptions};
pub use lifecycle::{delete, kill, pause, start, wait_gone};
pub use resources::{sample, sample_any, update, Sample};
pub use state::{ContainerDir, HookState, State, Status};

use crate::util;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    State(#[from] state::Error),
    #[error(transparent)]
    Config(#[from] crate::config::Error),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::Error),
    #[error(transparent)]
    Namespace(#[from] crate::namespaces::Error),
    #[error(transparent)]
    Hook(#[from] crate::hooks::Error),
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::Error),
    #[error(transparent)]
    Rootfs(#[from] crate::rootfs::Error),
    #[error(transparent)]
    Spawn(#[from] crate::process::spawn::Error),
    /// An error the container's init reported while setting the container up.
    #[error("container init: {0}")]
    Init(String),
    /// An error the process entering a container reported (`exec`).
    #[error("exec failed: {0}")]
    Exec(String),
    #[error("{0}")]
    WrongState(String),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
}

pub fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// Where berth keeps state, and runtime-wide options.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub root: PathBuf,
    pub systemd_cgroup: bool,
    /// runc's rootless mode (`--rootless`, by default when not run by root): cgroups
    /// that cannot be written are skipped, id maps other than the caller's own go
    /// through newuidmap/newgidmap.
    pub rootless: bool,
}

impl Runtime {
    /// runc's `--rootless auto`: rootless when the effective uid is not 0, or when root
    /// of a user namespace other than the host's (rootless podman runs its runtime so).
    pub fn rootless_auto() -> bool {
        nix::unistd::geteuid().as_raw() != 0 || util::proc::in_user_namespace()
    }

    /// runc's default state directory: $XDG_RUNTIME_DIR/berth for a caller who has one
    /// and is not root, or is root of a user namespace other than the host's (the same
    /// for every command, whatever `--rootless` says); /run/berth otherwise.
    pub fn default_root() -> PathBuf {
        match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
            Some(d) if nix::unistd::geteuid().as_raw() != 0 || util::proc::in_user_namespace() => PathBuf::from(d).join("berth"),
            _ => PathBuf::from("/run/berth"),
        }
    }
}

/// A container's locked directory and its state.
pub struct Container {
    pub dir: ContainerDir,
    pub state: State,
}

impl Container {
    pub fn load(rt: &Runtime, id: &str) -> Result<Container, Error> {
        let dir = ContainerDir::open(&rt.root, id)?;
        let state = dir.load()?;
        Ok(Container { dir, state })
    }

    /// The status, derived from the live process, never trusted from the file: the init
    /// must be alive with its recorded start time; `created` while exec.fifo exists.
    pub fn status(&self) -> Status {
        // We hold the lock, so the create that wrote a `creating` record is gone: it
        // can never become a container.
        let s = &self.state;
        Status::observed(s.creating, || s.init(), || self.dir.fifo_path().exists(), |init| s.cgroup.is_frozen_seen(init))
    }

    pub fn spec(&self) -> Option<crate::config::Spec> {
        // The same (path-reporting) deserializer as config loading: one copy of the Spec
        // deserialization code in the binary instead of two.
        crate::config::parse_json(self.dir.load_config(&self.state).ok()?.as_bytes()).ok()
    }

    /// The state of runtime.md ("State"), as hooks receive it.
    pub fn hook_state(&self, status: Status) -> String {
        self.state.hook_state(status).to_json()
    }

    /// Its state as `state` prints it, observed now; the record moves into it.
    pub fn into_oci_state(self) -> (OciState, u32) {
        let status = self.status();
        (OciState::of(self.state, status), self.dir.owner)
    }
}

/// runc's containerState, as `state` prints it and `list --format json` each item, in
/// its field order: annotations only when there are any (Go sorts a map's keys).
#[derive(Debug, serde::Serialize)]
pub struct OciState {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'static str,
    pub id: String,
    pub pid: i32,
    pub status: Status,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
    /// Empty from `state`; the owner's name in `list`.
    pub owner: String,
}

impl OciState {
    pub fn of<C, G>(s: state::Record<C, G>, status: Status) -> OciState {
        OciState {
            oci_version: crate::SPEC_VERSION,
            pid: if status == Status::Stopped { 0 } else { s.pid },
            id: s.id,
            status,
            bundle: s.bundle,
            rootfs: s.rootfs,
            created: s.created,
            annotations: s.annotations.into_iter().collect(),
            owner: String::new(),
        }
    }
}

/// Every container under the root: its state (runtime.md, with owner "") and the uid
/// that owns it, in the order of their ids. One deleted meanwhile is simply not listed. No
/// container's lock is taken (state::read_brief), so a list never waits for a command at
/// work on one: only a `creating` record is read under its lock (a create still running
/// holds it, and is listed once done; one that died is stopped).
///
/// Each container costs a few system calls and nothing is shared between two, so many
/// are read by as many threads as there are CPUs to run them (one per
/// `LIST_PER_THREAD` containers at least). They take the ids in batches of `LIST_BATCH`
/// as they come to them, not a fixed share each: a thread that starts late (on a VM, an
/// idle CPU can take a while to wake) leaves more to the others instead of the whole
/// list waiting for its share.
pub fn list(rt: &Runtime) -> Result<Vec<(OciState, u32)>, Error> {
    let Some(root) = state::open_root(&rt.root)? else { return Ok(Vec::new()) };
    let ids = state::list_ids(&rt.root)?;
    let threads = match ids.len() / LIST_PER_THREAD {
        0 | 1 => 1,
        n => n.min(util::proc::cpus_allowed()).clamp(1, 8),
    };
    if threads == 1 {
        return Ok(list_of(rt, &root, &ids, &mut Vec::new()));
    }
    // Opened (and verified) once, before the threads would each open their own.
    let _ = util::procfs::ProcFs::host();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let batches = ids.chunks(LIST_BATCH).collect::<Vec<_>>();
    let work = || {
        let (mut done, mut buf) = (Vec::new(), Vec::new());
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(batch) = batches.get(i) else { return done };
            done.push((i, list_of(rt, &root, batch, &mut buf)));
        }
    };
    let mut done = std::thread::scope(|s| {
        // A thread that cannot be made leaves its batches to the others.
        let others: Vec<_> = (1..threads).filter_map(|_| std::thread::Builder::new().spawn_scoped(s, work).ok()).collect();
        let mut done = work();
        for t in others {
            done.extend(t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        done
    });
    // Back in the order of the ids.
    done.sort_unstable_by_key(|(i, _)| *i);
    let mut out = Vec::with_capacity(ids.len());
    for (_, part) in done {
        out.extend(part);
    }
    Ok(out)
}

/// Fewer containers than this are listed by one thread: a thread costs about as much to
/// start as reading a few containers.
const LIST_PER_THREAD: usize = 64;
/// Containers a thread of `list` takes at a time.
const LIST_BATCH: usize = 16;

/// The containers of `ids`; `buf` is the read buffer, kept from one call to the next.
fn list_of(rt: &Runtime, root: &std::fs::File, ids: &[String], buf: &mut Vec<u8>) -> Vec<(OciState, u32)> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let Some((owner, b)) = state::read_brief(root, id, buf) else { continue };
        if b.creating {
            if let Ok(c) = Container::load(rt, id) {
                out.push(c.into_oci_state());
            }
            continue;
        }
        let frozen = |init| match (&b.freezer, b.saved_cgroup) {
            (Some(f), _) => f.is_frozen_seen(init),
            // An older berth's record: its cgroup is in it.
            (None, Some(c)) => crate::cgroups::Cgroup::is_frozen_seen_saved(c.get(), init),
            (None, None) => false,
        };
        let status = Status::observed(false, || b.init(), || state::fifo_exists(root, id), frozen);
        out.push((OciState::of(b, status), owner));
    }
    out
}

/// The pids of every process of a container (its cgroup and sub-cgroups).
pub fn pids(rt: &Runtime, id: &str) -> Result<Vec<i32>, Error> {
    let c = Container::load(rt, id)?;
    Ok(c.state.cgroup.pids()?)
}

/// A container's state as `state` prints it (runtime.md "State").
pub fn state(rt: &Runtime, id: &str) -> Result<OciState, Error> {
    let c = Container::load(rt, id)?;
    Ok(c.into_oci_state().0)
}

/// The container's own process (config.json's), the base `exec` builds on.
pub fn process_of(rt: &Runtime, id: &str) -> Result<oci_spec::runtime::Process, Error> {
    let c = Container::load(rt, id)?;
    let spec = c.spec().ok_or_else(|| Error::WrongState("the container's saved config is unreadable".into()))?;
    Ok(spec.process().clone().unwrap_or_default())
}
