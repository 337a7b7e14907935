//! The per-container state directory under `--root`: `<root>/<id>/state.json` (the
//! record every command reads), `cgroup.json` (the container's cgroup: every command that
//! loads the container reads it, `list` does not), `config.json` (the config the container
//! was created from, read only by the commands that need it: exec, update, hooks) and the
//! `exec.fifo` that holds a created container before `start`.
//!
//! Concurrency: every command that touches a container holds an exclusive flock on its
//! directory for as long as it works on it. `create` makes the directory under a
//! temporary name, locks it, writes a first record into it, and only then renames it into
//! place (RENAME_NOREPLACE), so no other command can ever see a half-made container: it
//! either finds nothing, or waits for the lock and finds the state file (and cgroup.json,
//! written before the first record).
//!
//! A `create` killed half-way (`kill -9` at any moment): the directory always holds a
//! record of what was made so far (the first one names the cgroup before it is made; the
//! next adds the init's pid and start time right after the clone), marked `creating`
//! until the complete state replaces it. Whoever gets the lock of a `creating` record
//! knows its creator is gone: such a container is `stopped`, listed, and `delete` removes
//! what the record names. A temporary directory left before the rename is removed by the
//! next `create` or `delete -f` of that id.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cgroups::Cgroup;
use crate::util;

pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";
pub const CONFIG_FILE: &str = "config.json";
pub const CGROUP_FILE: &str = "cgroup.json";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid container id {0:?}: only letters, digits, '_', '+', '-' and '.' are allowed")]
    InvalidId(String),
    #[error("container with id {0:?} already exists")]
    Exists(String),
    #[error("container {0:?} does not exist")]
    NotFound(String),
    #[error("{what} {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: io::Error },
    #[error("corrupt state file {path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
}

/// runc's rule for container IDs: `^[\w+-\.]+$`, and not `.` or `..`.
pub fn validate_id(id: &str) -> Result<(), Error> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId(id.to_string()))
    }
}

/// What a state file records about a container: `State` with the config and the cgroup
/// of an older berth's record kept as text (its cgroup is read from cgroup.json, or from
/// that text); `Brief` (`list`) with the config skipped unread and an older record's
/// cgroup left as text in the buffer (list looks into it only for where the freezer is,
/// Cgroup::is_frozen_seen_saved, and only for a live container past `created`; a record of
/// now names its freezer file itself, `freezer`).
pub type State = Record<Option<Box<serde_json::value::RawValue>>, Option<Box<serde_json::value::RawValue>>>;
pub type Brief<'a> = Record<serde::de::IgnoredAny, Option<&'a serde_json::value::RawValue>>;

/// A record field that can be absent from the file.
pub trait Absent {
    fn absent(&self) -> bool;
}

impl<T> Absent for Option<T> {
    fn absent(&self) -> bool {
        self.is_none()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound(serialize = "C: Serialize + Absent, G: Serialize", deserialize = "C: Deserialize<'de> + Default, G: Deserialize<'de> + Default"))]
pub struct Record<C, G> {
    pub id: String,
    /// The init's pid as seen from the host (runtime namespace).
    pub pid: i32,
    /// Start time of `pid` (field 22 of /proc/pid/stat): a reused pid does not match.
    pub start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// The cgroup, from cgroup.json beside the record (the 2 KiB of a v1 host's ten
    /// directories were four fifths of each record, which `list` read and skipped for
    /// every container) or from `saved_cgroup`. Never in the record written now.
    #[serde(skip)]
    pub cgroup: Cgroup,
    /// The cgroup as older berths kept it, in the record: text, parsed by `load` as
    /// cgroup.json is (one parser of it in the binary, not two).
    #[serde(default, rename = "cgroup", skip_serializing)]
    pub saved_cgroup: G,
    /// The cgroup's freezer file, where `list` looks for a paused container (from the
    /// cgroup by `State::set_cgroup`). Absent from records of older berths and where the
    /// container has no freezer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freezer: Option<crate::cgroups::Freezer>,
    /// The config.json the container was created from, in the records of berths that
    /// kept it there (it is in `config.json` beside the record now: most commands, and
    /// list for every container, read the record alone). Never written.
    #[serde(default, skip_serializing_if = "Absent::absent")]
    pub config: C,
    /// Whether the config has poststart / poststop hooks: start and delete need not read
    /// the config when it has none.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub poststart: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub poststop: bool,
    /// The uid that made the container (its directory's owner, which `list` shows), so
    /// that `list` need not stat each directory. Absent from records of older berths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<u32>,
    /// Set while `create` has not finished: the record of a create that may have died.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub creating: bool,
    /// The init carries util::proc::INIT_NAME until it runs the container's program, so
    /// one named otherwise is not waiting for `start` and its exec.fifo need not be looked
    /// for. Absent from records of older berths (whose inits kept berth's name).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub named_init: bool,
}

/// The container states of runtime.md. `Creating` is only ever seen by hooks (the
/// state createRuntime and createContainer hooks read) and the init: a container whose
/// create has not finished is not listed as one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    /// The status of a saved container, observed, never trusted from the file: the init
    /// alive with its recorded start time (`init` gives its state letter, and whether it
    /// may still be waiting for `start`: see `Record::named_init`); `created` while
    /// exec.fifo exists; `paused` while its cgroup is frozen (`frozen` is given the
    /// init's state letter: see `Cgroup::is_frozen_seen`). A `creating` record whose lock
    /// the caller got is a create that died: stopped. The probes are asked only as far as
    /// needed.
    pub fn observed(creating: bool, init: impl FnOnce() -> Option<(char, bool)>, fifo: impl FnOnce() -> bool, frozen: impl FnOnce(char) -> bool) -> Status {
        let Some((state, may_wait)) = (!creating).then(init).flatten() else { return Status::Stopped };
        if may_wait && fifo() {
            Status::Created
        } else if frozen(state) {
            Status::Paused
        } else {
            Status::Running
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
    /// runtime.md: start on a container that is not `created` MUST error.
    pub fn can_start(self) -> bool {
        self == Status::Created
    }
    /// runtime.md: kill on a container that is neither `created` nor `running` MUST error
    /// (a paused container can be signalled too, as runc allows).
    pub fn can_kill(self) -> bool {
        matches!(self, Status::Created | Status::Running | Status::Paused)
    }
    /// runtime.md: delete on a container that is not `stopped` MUST error; runc also
    /// deletes a `created` one (its init has not run user code yet).
    pub fn can_delete(self) -> bool {
        matches!(self, Status::Created | Status::Stopped)
    }
    /// runc: exec into a created or running container; into a paused one only with
    /// --ignore-paused; never into a stopped one.
    pub fn can_exec(self, ignore_paused: bool) -> bool {
        match self {
            Status::Created | Status::Running => true,
            Status::Paused => ignore_paused,
            Status::Creating | Status::Stopped => false,
        }
    }
    /// runc: pause freezes a created or running container.
    pub fn can_pause(self) -> bool {
        matches!(self, Status::Created | Status::Running)
    }
    pub fn can_resume(self) -> bool {
        self == Status::Paused
    }
    /// update and events need the container's cgroup, which exists until it stops.
    pub fn can_update(self) -> bool {
        !matches!(self, Status::Creating | Status::Stopped)
    }
}

/// The state of runtime.md ("State") as hooks read it on stdin and the init receives it
/// in `Go`: runc's field order, pid omitted when 0 (a stopped container has none),
/// annotations when empty, their keys sorted (Go encodes maps so).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookState {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pid: i32,
    pub bundle: PathBuf,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

impl HookState {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl<C, G> Record<C, G> {
    /// What `Status::observed` asks of the init: its state letter when it is alive with
    /// the recorded start time, and whether it may still be waiting for `start` (named
    /// util::proc::INIT_NAME, or recorded by an older berth, whose inits were not named).
    pub fn init(&self) -> Option<(char, bool)> {
        util::proc::alive_state(self.pid, self.start_time).map(|p| (p.state, !self.named_init || p.init_named))
    }
}

impl State {
    /// Sets the cgroup and the freezer file recorded with it.
    pub fn set_cgroup(&mut self, cgroup: Cgroup) {
        self.freezer = cgroup.freezer_file();
        self.cgroup = cgroup;
    }

    /// Whether the container's config has hooks of `kind` (poststart or poststop). An
    /// older berth's record holds the config itself: a mention of the kind counts.
    pub fn has_hooks(&self, kind: crate::hooks::Kind) -> bool {
        match (&self.config, kind) {
            (Some(c), k) => c.get().contains(&format!("\"{}\"", k.name())),
            (None, crate::hooks::Kind::Poststart) => self.poststart,
            (None, crate::hooks::Kind::Poststop) => self.poststop,
            (None, _) => false,
        }
    }

    /// For an older berth's record, once its config is written beside it: drops the copy
    /// and records which later hooks it has instead. Whether there was one.
    pub fn config_moved_out(&mut self) -> bool {
        use crate::hooks::Kind;
        if self.config.is_none() {
            return false;
        }
        (self.poststart, self.poststop) = (self.has_hooks(Kind::Poststart), self.has_hooks(Kind::Poststop));
        self.config = None;
        true
    }

    pub fn hook_state(&self, status: Status) -> HookState {
        HookState {
            oci_version: crate::SPEC_VERSION.to_string(),
            id: self.id.clone(),
            status,
            pid: if status == Status::Stopped { 0 } else { self.pid },
            bundle: self.bundle.clone(),
            annotations: self.annotations.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        }
    }
}

/// A locked container directory. The lock is released when this is dropped.
pub struct ContainerDir {
    pub id: String,
    pub path: PathBuf,
    /// The directory's owner (uid), as `list` shows it.
    pub owner: u32,
    lock: File,
}

fn ensure_root(root: &Path) -> Result<(), Error> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
        .map_err(|source| Error::Io { what: "cannot create state root", path: root.to_path_buf(), source })
}

fn flock(f: &File, path: &Path) -> Result<(), Error> {
    loop {
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(Error::Io { what: "cannot lock", path: path.to_path_buf(), source: e });
        }
    }
}

impl ContainerDir {
    /// Creates `<root>/<id>` atomically, already locked, holding `first` as its state (and
    /// its cgroup in cgroup.json).
    pub fn create(root: &Path, id: &str, first: &State) -> Result<ContainerDir, Error> {
        validate_id(id)?;
        ensure_root(root)?;
        let path = root.join(id);
        if path.exists() {
            return Err(Error::Exists(id.to_string()));
        }
        remove_stale_tmp(root, id);
        let tmp = root.join(format!(".creating-{id}-{}", std::process::id()));
        fs::DirBuilder::new()
            .mode(0o711)
            .create(&tmp)
            .map_err(|source| Error::Io { what: "cannot create state dir", path: tmp.clone(), source })?;
        let lock = match util::fs::open_cloexec(&tmp) {
            Ok(f) => f,
            Err(source) => {
                let _ = fs::remove_dir(&tmp);
                return Err(Error::Io { what: "cannot open state dir", path: tmp, source });
            }
        };
        let mut dir = ContainerDir { id: id.to_string(), path: tmp.clone(), owner: nix::unistd::geteuid().as_raw(), lock };
        let moved = flock(&dir.lock, &tmp).and_then(|()| dir.save_cgroup(&first.cgroup, false)).and_then(|()| dir.save(first)).and_then(|()| {
            crate::util::testpoint::hit("create:first-record");
            rename_noreplace(&tmp, &path, id)
        });
        if let Err(e) = moved {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        dir.path = path;
        Ok(dir)
    }

    /// Opens and locks an existing container's directory.
    pub fn open(root: &Path, id: &str) -> Result<ContainerDir, Error> {
        validate_id(id)?;
        let path = root.join(id);
        let lock = match util::fs::open_cloexec(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Error::NotFound(id.to_string())),
            Err(source) => return Err(Error::Io { what: "cannot open state dir", path, source }),
        };
        flock(&lock, &path)?;
        // The holder before us may have deleted the container (the directory is then
        // unlinked: nlink 0) or failed its create (no state file).
        let meta = lock.metadata().ok().filter(|m| m.nlink() > 0);
        let Some(owner) = meta.map(|m| m.uid()).filter(|_| path.join(STATE_FILE).exists()) else {
            return Err(Error::NotFound(id.to_string()));
        };
        Ok(ContainerDir { id: id.to_string(), path, owner, lock })
    }

    /// Opens and locks the directory of `id` whatever it holds, for `delete -f`: also one
    /// whose state file is missing (a create killed before berth wrote records this way).
    /// None if there is no such directory.
    pub fn open_any(root: &Path, id: &str) -> Result<Option<ContainerDir>, Error> {
        validate_id(id)?;
        remove_stale_tmp(root, id);
        let path = root.join(id);
        let lock = match util::fs::open_cloexec(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(Error::Io { what: "cannot open state dir", path, source }),
        };
        flock(&lock, &path)?;
        let meta = lock.metadata().map_err(|source| Error::Io { what: "cannot stat", path: path.clone(), source })?;
        if meta.nlink() == 0 {
            return Ok(None);
        }
        Ok(Some(ContainerDir { id: id.to_string(), path, owner: meta.uid(), lock }))
    }

    pub fn fifo_path(&self) -> PathBuf {
        self.path.join(EXEC_FIFO)
    }

    /// The record, with its cgroup from cgroup.json; an older berth's record, which has no
    /// cgroup.json, holds its cgroup itself.
    pub fn load(&self) -> Result<State, Error> {
        let p = self.path.join(STATE_FILE);
        let data = fs::read(&p).map_err(|source| Error::Io { what: "cannot read", path: p.clone(), source })?;
        let mut state: State = serde_json::from_slice(&data).map_err(|e| Error::Corrupt { path: p, reason: e.to_string() })?;
        let p = self.path.join(CGROUP_FILE);
        let data = match fs::read(&p) {
            Ok(data) => Some(data),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(source) => return Err(Error::Io { what: "cannot read", path: p, source }),
        };
        let (text, path) = match (&data, &state.saved_cgroup) {
            (Some(d), _) => (d.as_slice(), p),
            (None, Some(saved)) => (saved.get().as_bytes(), self.path.join(STATE_FILE)),
            (None, None) => return Ok(state),
        };
        state.cgroup = serde_json::from_slice(text).map_err(|e| Error::Corrupt { path, reason: e.to_string() })?;
        Ok(state)
    }

    /// The config the container was created from, as JSON text: `config.json`, or the
    /// copy in an older berth's record.
    pub fn load_config(&self, state: &State) -> Result<String, Error> {
        if let Some(c) = &state.config {
            return Ok(c.get().to_string());
        }
        let p = self.path.join(CONFIG_FILE);
        fs::read_to_string(&p).map_err(|source| Error::Io { what: "cannot read", path: p, source })
    }

    /// Writes the config beside the record. `atomic`: replacing one a reader may be
    /// reading (update); create writes the first while it holds the container alone.
    pub fn save_config(&self, data: &[u8], atomic: bool) -> Result<(), Error> {
        let p = self.path.join(CONFIG_FILE);
        let written = match atomic {
            true => util::fs::write_atomic(&p, data, 0o600),
            false => util::fs::write_new(&p, data, 0o600),
        };
        written.map_err(|source| Error::Io { what: "cannot write", path: p, source })
    }

    /// Writes the cgroup beside the record. `atomic`: replacing one (a create's record
    /// of what it is about to make, once made; an older berth's record rewritten); the
    /// first is written before the record, in a directory no one else can see yet.
    pub fn save_cgroup(&self, cgroup: &Cgroup, atomic: bool) -> Result<(), Error> {
        let p = self.path.join(CGROUP_FILE);
        let data = serde_json::to_vec(cgroup).map_err(|e| Error::Corrupt { path: p.clone(), reason: e.to_string() })?;
        let written = match atomic {
            true => util::fs::write_atomic(&p, &data, 0o600),
            false => util::fs::write_new(&p, &data, 0o600),
        };
        written.map_err(|source| Error::Io { what: "cannot write", path: p, source })
    }

    /// Writes the record (without the cgroup: `save_cgroup`).
    pub fn save(&self, state: &State) -> Result<(), Error> {
        let p = self.path.join(STATE_FILE);
        let data = serde_json::to_vec(state).map_err(|e| Error::Corrupt { path: p.clone(), reason: e.to_string() })?;
        util::fs::write_atomic(&p, &data, 0o600).map_err(|source| Error::Io { what: "cannot write", path: p, source })
    }

    /// Removes the directory and everything in it; the lock goes with it.
    pub fn remove(self) -> Result<(), Error> {
        let _keep_locked_until_removed = &self.lock;
        fs::remove_dir_all(&self.path)
            .or_else(|e| if e.kind() == io::ErrorKind::NotFound { Ok(()) } else { Err(e) })
            .map_err(|source| Error::Io { what: "cannot remove", path: self.path.clone(), source })
    }

    pub fn lock_fd(&self) -> i32 {
        self.lock.as_raw_fd()
    }
}

/// The state directory root, opened once for `read_brief`.
pub fn open_root(root: &Path) -> Result<Option<File>, Error> {
    match util::fs::open_cloexec(root) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Io { what: "cannot open", path: root.to_path_buf(), source }),
    }
}

/// `f` given "<id>" or "<id>/<file>" as a C string, built on the stack.
fn with_path<R>(id: &str, file: Option<&str>, f: impl FnOnce(&std::ffi::CStr) -> R) -> Option<R> {
    match file {
        Some(file) => util::fs::with_c_path(&[id.as_bytes(), b"/", file.as_bytes()], f),
        None => util::fs::with_c_path(&[id.as_bytes()], f),
    }
}

fn stat_at(root: &File, id: &str, file: Option<&str>) -> Option<libc::stat> {
    with_path(id, file, |p| {
        // SAFETY: a zeroed plain-data struct, filled by fstatat below an fd we own.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        (unsafe { libc::fstatat(root.as_raw_fd(), p.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) } == 0).then_some(st)
    })?
}

/// `list`'s read of one container, without its lock: state.json is only ever replaced
/// whole (written aside, renamed over), so an unlocked read sees one complete record; the
/// config of an older berth's record in it is skipped unread, the cgroup kept as text.
/// The owner (recorded; the directory's for a record of an older berth) and the record;
/// None when the container is gone (deleted meanwhile) or has no record yet. `buf` is
/// reused from one container to the next.
pub fn read_brief<'b>(root: &File, id: &str, buf: &'b mut Vec<u8>) -> Option<(u32, Brief<'b>)> {
    let b = read_record(root, id, buf)?;
    let owner = match b.owner {
        Some(o) => o,
        None => stat_at(root, id, None)?.st_uid,
    };
    Some((owner, b))
}

fn read_record<'b>(root: &File, id: &str, buf: &'b mut Vec<u8>) -> Option<Brief<'b>> {
    // SAFETY: openat below an fd we own.
    let fd = with_path(id, Some(STATE_FILE), |p| unsafe { libc::openat(root.as_raw_fd(), p.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW) })?;
    if fd < 0 {
        return None;
    }
    // SAFETY: fd was just opened and is ours alone.
    let f = unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    if util::fs::read_once(&f, buf).ok()? {
        // Through Take: File's own read_to_end would stat and seek first.
        io::Read::read_to_end(&mut io::Read::take(&f, u64::MAX), buf).ok()?;
    }
    serde_json::from_slice(buf).ok()
}

/// Whether container `id` (below the opened root) still has its exec.fifo: `created`.
pub fn fifo_exists(root: &File, id: &str) -> bool {
    stat_at(root, id, Some(EXEC_FIFO)).is_some()
}

/// Removes temporary directories `.creating-<id>-<pid>` of creates that died before their
/// rename: those whose lock nobody holds (a live create keeps its own locked).
fn remove_stale_tmp(root: &Path, id: &str) {
    let prefix = format!(".creating-{id}-");
    let Ok(rd) = fs::read_dir(root) else { return };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(&prefix)) else { continue };
        if !rest.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(f) = util::fs::open_cloexec(&e.path()) else { continue };
        // SAFETY: a non-blocking flock on an fd we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

fn rename_noreplace(from: &Path, to: &Path, id: &str) -> Result<(), Error> {
    let io = |source| Error::Io { what: "cannot create state dir", path: to.to_path_buf(), source };
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).map_err(|_| io(io::Error::from_raw_os_error(libc::EINVAL)));
    let (f, t) = (c(from)?, c(to)?);
    // renameat2 by number: musl's libc has no wrapper.
    // SAFETY: renameat2 with two NUL-terminated paths that outlive the call.
    if unsafe { libc::syscall(libc::SYS_renameat2, libc::AT_FDCWD, f.as_ptr(), libc::AT_FDCWD, t.as_ptr(), libc::RENAME_NOREPLACE) } == 0 {
        return Ok(());
    }
    match io::Error::last_os_error() {
        e if matches!(e.raw_os_error(), Some(libc::EEXIST) | Some(libc::ENOTEMPTY)) => Err(Error::Exists(id.to_string())),
        e => Err(io(e)),
    }
}

/// IDs of every container under `root` (for `list`), sorted.
pub fn list_ids(root: &Path) -> Result<Vec<String>, Error> {
    let rd = match fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(Error::Io { what: "cannot read", path: root.to_path_buf(), source }),
    };
    let mut ids: Vec<String> = rd
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| validate_id(n).is_ok() && !n.starts_with('.'))
        .collect();
    ids.sort();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_is_observed_asking_only_what_it_needs() {
        let never = || -> bool { panic!("asked") };
        assert_eq!(Status::observed(true, || panic!("asked"), never, |_| panic!("asked")), Status::Stopped);
        assert_eq!(Status::observed(false, || None, never, |_| panic!("asked")), Status::Stopped);
        // May still wait for start: the fifo decides.
        assert_eq!(Status::observed(false, || Some(('S', true)), || true, |_| panic!("asked")), Status::Created);
        assert_eq!(Status::observed(false, || Some(('S', true)), || false, |_| false), Status::Running);
        // Has run its program: no fifo is looked for.
        assert_eq!(Status::observed(false, || Some(('S', false)), never, |_| false), Status::Running);
        assert_eq!(Status::observed(false, || Some(('D', false)), never, |s| s == 'D'), Status::Paused);
    }

    #[test]
    fn id_rules_match_runc() {
        for ok in ["a", "A-b_c+d.e", "0123", "x".repeat(64).as_str()] {
            validate_id(ok).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "../x", "a b", "a\0b", "é"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn status_rules() {
        assert!(Status::Created.can_start() && !Status::Running.can_start());
        assert!(!Status::Stopped.can_kill() && Status::Running.can_kill());
        assert!(Status::Stopped.can_delete() && !Status::Running.can_delete());
    }

    fn record(id: &str) -> State {
        State {
            id: id.into(),
            pid: 0,
            start_time: 0,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "now".into(),
            annotations: HashMap::new(),
            cgroup: Cgroup::default(),
            saved_cgroup: None,
            freezer: None,
            config: Default::default(),
            poststart: false,
            poststop: false,
            owner: None,
            creating: true,
            named_init: false,
        }
    }

    #[test]
    fn create_is_exclusive_and_the_first_record_is_there_from_the_start() {
        let root = std::env::temp_dir().join(format!("berth-state-test-{}", std::process::id()));
        let d = ContainerDir::create(&root, "c1", &record("c1")).unwrap();
        assert!(matches!(ContainerDir::create(&root, "c1", &record("c1")), Err(Error::Exists(_))));
        drop(d);
        // The creator is gone (its lock released): the record says what was made.
        let d = ContainerDir::open(&root, "c1").unwrap();
        let s = d.load().unwrap();
        assert!(s.creating && s.pid == 0);
        drop(d);
        assert!(matches!(ContainerDir::open(&root, "nope"), Err(Error::NotFound(_))));
        // A temporary directory left by a create that died before the rename is removed.
        fs::create_dir_all(root.join(".creating-c2-12345")).unwrap();
        assert!(ContainerDir::open_any(&root, "c2").unwrap().is_none());
        assert!(!root.join(".creating-c2-12345").exists());
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn the_cgroup_is_kept_beside_the_record_and_an_older_records_own_still_reads() {
        let root = std::env::temp_dir().join(format!("berth-cgroup-test-{}", std::process::id()));
        let cg = Cgroup::for_container(false, false, Some(Path::new("/berth-unit-test/c")), "c").unwrap();
        assert_ne!(cg, Cgroup::default(), "this host has cgroup hierarchies");
        let mut r = record("c");
        r.set_cgroup(cg.clone());
        r.creating = false;
        let d = ContainerDir::create(&root, "c", &r).unwrap();
        let text = fs::read_to_string(d.path.join(STATE_FILE)).unwrap();
        assert!(!text.contains("\"cgroup\"") && !text.contains("\"dirs\""), "the record holds no cgroup: {text}");
        assert_eq!(d.load().unwrap().cgroup, cg);
        // list reads the record alone: the freezer's file is named in it.
        let f = open_root(&root).unwrap().unwrap();
        let mut buf = Vec::new();
        let (_, b) = read_brief(&f, "c", &mut buf).unwrap();
        assert!(b.saved_cgroup.is_none());
        assert_eq!(b.freezer, cg.freezer_file());
        assert!(b.freezer.is_some(), "this host has a freezer");
        // An older berth's record: the cgroup in it, no cgroup.json, no freezer.
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["cgroup"] = serde_json::to_value(&cg).unwrap();
        v.as_object_mut().unwrap().remove("freezer");
        fs::write(d.path.join(STATE_FILE), v.to_string()).unwrap();
        fs::remove_file(d.path.join(CGROUP_FILE)).unwrap();
        assert_eq!(d.load().unwrap().cgroup, cg);
        let mut buf = Vec::new();
        let (_, b) = read_brief(&f, "c", &mut buf).unwrap();
        assert!(b.freezer.is_none() && b.saved_cgroup.is_some_and(|c| c.get().contains("\"freezer\"")));
        drop(d);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn list_reads_the_recorded_owner_and_the_directorys_for_an_older_record() {
        let root = std::env::temp_dir().join(format!("berth-owner-test-{}", std::process::id()));
        let d = ContainerDir::create(&root, "old", &record("old")).unwrap();
        drop(d);
        let mut r = record("new");
        r.owner = Some(4242);
        drop(ContainerDir::create(&root, "new", &r).unwrap());
        let f = open_root(&root).unwrap().unwrap();
        let mut buf = Vec::new();
        assert_eq!(read_brief(&f, "new", &mut buf).map(|(o, _)| o), Some(4242));
        let dir_uid = fs::metadata(root.join("old")).unwrap().uid();
        assert_eq!(read_brief(&f, "old", &mut buf).map(|(o, _)| o), Some(dir_uid));
        assert!(read_brief(&f, "gone", &mut buf).is_none());
        fs::remove_dir_all(&root).unwrap();
    }
}
