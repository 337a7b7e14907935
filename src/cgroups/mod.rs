//! Cgroups: where a container's cgroup lives on this host (v1, v2 or hybrid), creating it,
//! moving processes in, listing them, freezing, and removing only what berth created.
//!
//! cgroupsPath semantics: an absolute path is taken below each hierarchy's root; a relative
//! path, or none at all, goes below `/berth`. Never below the caller's own cgroup: on
//! machines where the caller runs inside a service's cgroup, that one is not ours to grow.

mod devices_bpf;
mod layout;
pub mod resources;
mod stats;
pub mod systemd;

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use layout::{Hierarchy, Layout};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cgroup {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("no cgroup hierarchy is mounted")]
    NoHierarchy,
    #[error("{0}")]
    Systemd(String),
    #[error("linux.cgroupsPath {0:?}: must not contain '..'")]
    BadPath(String),
    #[error("linux.resources: {what}: writing {value:?} to {path}: {source}")]
    Write { what: String, value: String, path: PathBuf, source: io::Error },
    #[error("linux.resources: {0}")]
    Unsupported(String),
}

impl Error {
    /// A directory or file the caller may not write (rootless: runc ignores these).
    pub fn is_permission(&self) -> bool {
        let source = match self {
            Error::Io { source, .. } | Error::Write { source, .. } => source,
            _ => return false,
        };
        source.kind() == io::ErrorKind::PermissionDenied || matches!(source.raw_os_error(), Some(libc::EPERM) | Some(libc::EROFS))
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

/// One directory of the container's cgroup in one hierarchy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Dir {
    pub path: PathBuf,
    /// The hierarchy's mount point.
    pub mount: PathBuf,
    /// Controllers of that hierarchy (v1), empty for cgroup2.
    pub controllers: Vec<String>,
    pub v2: bool,
}

/// Who makes, limits and removes a container's cgroup: the driver seam. Everything else
/// (joining, pids, freezing, stats, the files of limits) is the same for both: a scope's
/// directory is an ordinary cgroup2 directory once systemd has made it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Driver {
    /// berth itself, hierarchy by hierarchy (v1, cgroup2 or hybrid): made before or
    /// around the clone, removed by rmdir of exactly what it made.
    #[default]
    Cgroupfs,
    /// A transient scope of systemd's (`--systemd-cgroup`): systemd makes the directory
    /// when the scope starts with the init in it, and removes it when the scope stops.
    Systemd(systemd::Scope),
}

/// A container's cgroup. Saved in cgroup.json as `Saved` (its own type, so that a change
/// here cannot change the file by accident).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Saved", from = "Saved")]
pub struct Cgroup {
    dirs: Vec<Dir>,
    /// Directories this container's create made, parents first: delete removes these only.
    created: Vec<PathBuf>,
    driver: Driver,
}

/// cgroup.json (and the `cgroup` of older berths' state.json), field for field as berth
/// has always written it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Saved {
    dirs: Vec<Dir>,
    created: Vec<PathBuf>,
    /// The systemd driver's scope unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unit: Option<String>,
    /// The scope is the user's systemd's (rootless), not the system's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    user: bool,
}

impl From<Cgroup> for Saved {
    fn from(c: Cgroup) -> Saved {
        let (unit, user) = match c.driver {
            Driver::Cgroupfs => (None, false),
            Driver::Systemd(s) => (Some(s.unit), s.user),
        };
        Saved { dirs: c.dirs, created: c.created, unit, user }
    }
}

impl From<Saved> for Cgroup {
    fn from(s: Saved) -> Cgroup {
        let driver = match s.unit {
            None => Driver::Cgroupfs,
            // The slice only matters when the scope starts.
            Some(unit) => Driver::Systemd(systemd::Scope { unit, slice: String::new(), user: s.user }),
        };
        Cgroup { dirs: s.dirs, created: s.created, driver }
    }
}

/// Below each hierarchy's root: where containers without an absolute cgroupsPath go.
pub const DEFAULT_PARENT: &str = "berth";

/// The cgroup path (relative to each hierarchy's root) for a container.
fn relative_path(cgroups_path: Option<&Path>, id: &str) -> Result<PathBuf, Error> {
    let raw = cgroups_path.map(|p| p.to_string_lossy().into_owned());
    let p = match cgroups_path {
        None => PathBuf::from(DEFAULT_PARENT).join(id),
        Some(p) if p.as_os_str().is_empty() => PathBuf::from(DEFAULT_PARENT).join(id),
        Some(p) if p.is_absolute() => p.strip_prefix("/").unwrap_or(p).to_path_buf(),
        Some(p) => PathBuf::from(DEFAULT_PARENT).join(p),
    };
    if p.components().any(|c| !matches!(c, Component::Normal(_))) || p.as_os_str().is_empty() {
        return Err(Error::BadPath(raw.unwrap_or_default()));
    }
    Ok(p)
}

impl Cgroup {
    /// Where container `id`'s cgroup goes on this host, with the runtime's driver
    /// (`systemd`: --systemd-cgroup; `user`: rootless, the user's systemd): its
    /// cgroupsPath checked in that driver's grammar, nothing made yet.
    pub fn for_container(systemd: bool, user: bool, cgroups_path: Option<&Path>, id: &str) -> Result<Cgroup, Error> {
        if !systemd {
            return Cgroup::locate(&Layout::detect(), &relative_path(cgroups_path, id)?);
        }
        let raw = cgroups_path.map(|p| p.to_str().ok_or_else(|| Error::BadPath(p.display().to_string()))).transpose()?;
        let p = systemd::placement(raw, id, user)?;
        let mut c = Cgroup::locate(&Layout::detect(), &p.rel)?;
        if user && !c.is_v2_only() {
            // systemd delegates to users on cgroup2 only.
            return Err(Error::Systemd("the systemd driver for a user (rootless) needs a cgroup2-only host".into()));
        }
        c.driver = Driver::Systemd(p.scope);
        Ok(c)
    }

    /// Whether `d` is made (and the init moved into it) by systemd rather than by berth:
    /// under the systemd driver, cgroup2 and the v1 hierarchies systemd manages for a
    /// delegated unit (its accounting: cpu, cpuacct, blkio, memory, pids, and its own
    /// name=systemd); the other v1 ones (devices, which systemd makes only for a
    /// DevicePolicy, cpuset, freezer, net_cls, perf_event, hugetlb, ...) are berth's to
    /// make, join and remove, as runc's systemd v1 driver joins them itself.
    fn by_systemd(&self, d: &Dir) -> bool {
        const MANAGED: [&str; 6] = ["cpu", "cpuacct", "blkio", "memory", "pids", "name=systemd"];
        matches!(self.driver, Driver::Systemd(_)) && (d.v2 || d.controllers.iter().any(|c| MANAGED.contains(&c.as_str())))
    }

    /// The container's directory in every hierarchy of `layout`: paths only, nothing is
    /// made yet (see `make`).
    pub fn locate(layout: &Layout, rel: &Path) -> Result<Cgroup, Error> {
        if layout.hierarchies.is_empty() {
            return Err(Error::NoHierarchy);
        }
        let dirs = layout
            .hierarchies
            .iter()
            .map(|h| Dir { path: h.mountpoint.join(rel), mount: h.mountpoint.clone(), controllers: h.controllers.clone(), v2: h.v2 })
            .collect();
        Ok(Cgroup { dirs, created: Vec::new(), driver: Driver::Cgroupfs })
    }

    /// Drops the cgroup2 (`v2`) or the v1 directories (rootless, unwritable ones); what
    /// was made there stays in `created` for destroy.
    pub fn without(&mut self, v2: bool) {
        self.dirs.retain(|d| d.v2 != v2);
    }

    /// Whether berth makes the directories (before or around the clone); otherwise
    /// systemd makes them when the scope starts (`start_scope`), with the init inside,
    /// and `make` makes only the v1 ones systemd does not manage.
    pub fn made_by_runtime(&self) -> bool {
        matches!(self.driver, Driver::Cgroupfs)
    }

    /// The systemd driver's step once the init exists: the scope started with the init
    /// in it and the limits systemd has properties for (the caller then writes every
    /// limit to the files, as runc). On v1, then berth's own hierarchies: made only now
    /// (systemd removes a new scope's directories in the hierarchies it does not manage,
    /// found in the hybrid guest) and the init placed there by us, since it may have
    /// tried to join them before they existed (crun's order). Nothing for cgroupfs.
    pub fn start_scope(&mut self, id: &str, pid: i32, r: Option<&oci_spec::runtime::LinuxResources>) -> Result<(), Error> {
        let Driver::Systemd(s) = &self.driver else { return Ok(()) };
        systemd::start(s, id, pid, r)?;
        self.make(false)?;
        for d in self.dirs.iter().filter(|d| !d.v2 && !self.by_systemd(d)) {
            let f = d.path.join("cgroup.procs");
            crate::util::fs::write_file(&f, &pid.to_string()).map_err(io_err(&f))?;
        }
        Ok(())
    }

    /// `update`: the driver's own record of the limits first (systemd's unit properties:
    /// systemd rewrites the files from them), then the files. Returns warnings.
    pub fn update(&self, r: &oci_spec::runtime::LinuxResources) -> Result<Vec<String>, Error> {
        if let Driver::Systemd(s) = &self.driver {
            systemd::set(s, r)?;
        }
        self.apply(r)
    }

    /// The one cgroup2 directory of a cgroup2-only host.
    pub fn v2_only_dir(&self) -> Option<&Path> {
        match &self.dirs[..] {
            [d] if d.v2 => Some(&d.path),
            _ => None,
        }
    }

    /// Each directory with the name it gets below a container's cgroup tmpfs (v1's
    /// controllers, "unified" for cgroup2), as the cgroup mount binds them.
    pub fn mount_sources(&self) -> Vec<(String, &Path)> {
        self.dirs.iter().map(|d| (if d.v2 { "unified".to_string() } else { d.controllers.join(",").replace("name=", "") }, d.path.as_path())).collect()
    }

    /// The sub-cgroup `rel` of every directory (exec --cgroup), each of which must exist
    /// (else the first missing one).
    pub fn below(&self, rel: &Path) -> Result<Cgroup, PathBuf> {
        let mut c = self.clone();
        for d in &mut c.dirs {
            d.path = d.path.join(rel);
            if !d.path.is_dir() {
                return Err(d.path.clone());
            }
        }
        Ok(c)
    }

    /// The cgroup2 directory, if the container has one (cgroup2-only or hybrid host).
    fn v2(&self) -> Option<&Dir> {
        self.dirs.iter().find(|d| d.v2)
    }

    pub fn is_v2_only(&self) -> bool {
        self.dirs.iter().all(|d| d.v2)
    }

    /// This cgroup as a crash record (container/state.rs): `created` lists every
    /// directory that `make` is about to create (those missing now, parents first), so
    /// that a delete after a killed create removes what it may have made. Shared parents
    /// get a plain rmdir there, as always: one in use by another container stays.
    /// systemd's directories are not listed: systemd makes and removes them.
    pub fn record(&self) -> Cgroup {
        let mut c = self.clone();
        for d in self.dirs.iter().filter(|d| !self.by_systemd(d)) {
            let rel = d.path.strip_prefix(&d.mount).unwrap_or(&d.path);
            let mut cur = d.mount.clone();
            for comp in rel.components() {
                cur.push(comp);
                if !cur.exists() && !c.created.contains(&cur) {
                    c.created.push(cur.clone());
                }
            }
        }
        c
    }

    /// Whether `made` (this cgroup once made) holds what this record of it does: the same
    /// directories and driver, and the same directories made, perhaps in another order
    /// (`make` goes hierarchy by hierarchy, cgroup2 first; each keeps parents first).
    pub fn records_the_same(&self, made: &Cgroup) -> bool {
        self.dirs == made.dirs && self.driver == made.driver && self.created.len() == made.created.len() && self.created.iter().all(|d| made.created.contains(d))
    }

    /// Makes (or adopts, if they exist) the directories of the cgroup2 hierarchy (`v2`)
    /// or of the v1 ones. On failure `created` still lists what was made: the caller's
    /// clean-up removes it (after killing a process that may already be inside).
    pub fn make(&mut self, v2: bool) -> Result<(), Error> {
        for i in 0..self.dirs.len() {
            if self.dirs[i].v2 != v2 || self.by_systemd(&self.dirs[i]) {
                continue;
            }
            let d = self.dirs[i].clone();
            let rel = d.path.strip_prefix(&d.mount).unwrap_or(&d.path).to_path_buf();
            let cpuset = d.controllers.iter().any(|c| c == "cpuset");
            let mut r = self.mkdir_all(&d.mount, &rel, cpuset, d.v2);
            // A concurrent delete may have removed an empty shared parent meanwhile
            // (each delete removes the parents its create made, and a parent made again
            // by one create can be in several deletes' records). Every ENOENT means such a
            // delete finished: the walk starts again from the mount. Three tries were not
            // enough with 16 clients creating and deleting under one parent (seen: a
            // create failing on ENOENT in the stress test).
            for _ in 0..100 {
                match &r {
                    Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => r = self.mkdir_all(&d.mount, &rel, cpuset, d.v2),
                    _ => break,
                }
            }
            r?;
        }
        Ok(())
    }

    fn mkdir_all(&mut self, mount: &Path, rel: &Path, cpuset: bool, v2: bool) -> Result<(), Error> {
        let mut cur = mount.to_path_buf();
        let depth = rel.components().count();
        for (i, c) in rel.components().enumerate() {
            let parent = cur.clone();
            cur.push(c);
            match fs::create_dir(&cur) {
                Ok(()) => {
                    self.created.push(cur.clone());
                    // cgroup2: a parent berth made passes its controllers on to its
                    // children. Directories berth did not make are never changed, and
                    // the leaf stays a leaf (no internal processes).
                    if v2 && i + 1 < depth {
                        enable_controllers(&cur);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::Io { path: cur, source: e }),
            }
            if cpuset {
                // A v1 cpuset cgroup starts with empty cpus/mems and accepts no task until
                // they are filled: an empty one inherits its parent's, as runc does. Also
                // when it already existed: a concurrent create may have made the shared
                // parent a moment ago and not filled it yet (seen: ENOSPC joining, with
                // 20 creates in parallel). Writing the parent's value twice is harmless.
                for f in ["cpuset.cpus", "cpuset.mems"] {
                    let target = cur.join(f);
                    if fs::read_to_string(&target).is_ok_and(|v| !v.trim().is_empty()) {
                        continue;
                    }
                    let v = fs::read_to_string(parent.join(f)).map_err(io_err(&parent))?;
                    crate::util::fs::write_file(&target, v.trim()).map_err(io_err(&target))?;
                }
            }
        }
        Ok(())
    }

    /// Applies linux.resources. Each write goes to the hierarchy holding its controller:
    /// a v1 hierarchy if one has it, else the cgroup2 directory (hybrid hosts), and
    /// `unified` keys always to cgroup2. Returns warnings for what cannot apply here.
    pub fn apply(&self, r: &oci_spec::runtime::LinuxResources) -> Result<Vec<String>, Error> {
        let mut warnings = Vec::new();
        let v1_dirs: Vec<&Dir> = self.dirs.iter().filter(|d| !d.v2).collect();
        let v2_dir = self.v2();
        if let Some(m) = r.memory().as_ref().filter(|m| m.check_before_update() == Some(true)) {
            // The usage of whichever hierarchy holds the memory controller: v1's
            // memory.usage_in_bytes, else cgroup2's memory.current.
            let usage = match v1_dirs.iter().find(|d| d.controllers.iter().any(|c| c == "memory")) {
                Some(d) => Some(d.path.join("memory.usage_in_bytes")),
                None => v2_dir.map(|d| d.path.join("memory.current")),
            };
            if let Some(usage) = usage {
                check_memory_fits(&usage, m.limit())?;
            }
        }
        if !v1_dirs.is_empty() {
            // runc's fs driver (v1 and hybrid hosts) refuses unified outright.
            if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
                return Err(Error::Unsupported("invalid configuration: cannot use unified on cgroup v1".into()));
            }
            let writes = resources::v1(r);
            let (v2_writes, _) = resources::v2(r);
            let mut done_v2: Vec<String> = Vec::new();
            for wr in order_memory(writes, &v1_dirs) {
                match v1_dirs.iter().find(|d| d.controllers.iter().any(|c| c == wr.controller)) {
                    Some(d) => write_knob(&d.path, &wr)?,
                    None => match v2_dir.filter(|d| v2_has(d, wr.controller)) {
                        // Hybrid host: this controller lives on cgroup2; its v2 files
                        // for this write's setting are written there instead.
                        Some(d) => {
                            let todo: Vec<&resources::Write> = v2_writes.iter().filter(|x| x.controller == wr.controller && !done_v2.contains(&x.file)).collect();
                            for x in todo {
                                write_knob(&d.path, x)?;
                                done_v2.push(x.file.clone());
                            }
                        }
                        // A limit asked for is never silently dropped (runc: "cannot set
                        // net_cls limit: container could not join or create cgroup").
                        None => {
                            let on_v2 = v2_dir.is_some_and(|d| d.path.ancestors().any(|a| fs::read_to_string(a.join("cgroup.controllers")).is_ok_and(|c| c.split_whitespace().any(|x| x == wr.controller))));
                            let why = if on_v2 { "is on cgroup2 but not enabled for the container's parent (cgroup.subtree_control)" } else { "is not available on this host" };
                            return Err(Error::Unsupported(format!("cannot set {} limit: the {} controller {why} ({} = {})", wr.controller, wr.controller, wr.file, wr.value)));
                        }
                    },
                }
            }
        } else if let Some(d) = v2_dir {
            let (writes, w) = resources::v2(r);
            warnings.extend(w);
            if r.devices().as_ref().is_some_and(|d| !d.is_empty()) {
                // The same rules v1 gets (the config's, then the default devices'), as an
                // eBPF program: cgroup2 has no devices files.
                devices_bpf::apply(&d.path, &resources::device_rules(r))?;
            }
            enable_needed(d, &writes);
            for wr in &writes {
                write_knob(&d.path, wr)?;
            }
        }
        warnings.dedup();
        Ok(warnings)
    }

    /// An fd on the cgroup2 directory (pure v2 and hybrid hosts) for
    /// clone3(CLONE_INTO_CGROUP), so the process is born in it. None on a v1-only host.
    pub fn clone_target(&self) -> Option<std::os::fd::OwnedFd> {
        use std::os::unix::fs::OpenOptionsExt;
        // systemd's scope does not exist before the init does: systemd moves it in.
        if !self.made_by_runtime() {
            return None;
        }
        let d = self.v2()?;
        fs::OpenOptions::new().read(true).custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC).open(&d.path).ok().map(Into::into)
    }

    /// Moves the calling process into every v1 hierarchy: run by the process being
    /// placed (the init, or a process entering a container), first thing after the clone,
    /// while it is single-threaded and still sees the host's cgroup mounts.
    ///
    /// Why not the parent writing the pid to `cgroup.procs`: the kernel serialises that
    /// with the global cgroup_threadgroup_rwsem, whose write side waits for an RCU grace
    /// period: 5-20 ms per create on this 2-core machine, more than the rest of `run`.
    /// A thread moving itself ("0" written to `tasks`) is exempt from that lock
    /// (kernel/cgroup/cgroup.c, cgroup_procs_write_start), and for a single-threaded
    /// process moving its only thread is moving the process.
    pub fn join_v1_self(&self) -> Result<(), Error> {
        for d in self.dirs.iter().filter(|d| !d.v2) {
            let f = d.path.join("tasks");
            match crate::util::fs::write_file(&f, "0") {
                // Under systemd, a directory of the scope that does not exist yet (an
                // init joining first thing, crun's order): start_scope places the init.
                Err(e) if e.kind() == io::ErrorKind::NotFound && !self.made_by_runtime() => {}
                r => r.map_err(io_err(&f))?,
            }
        }
        Ok(())
    }

    /// The parent's part of placing `pid`: the cgroup2 directory, when the child was not
    /// born in it (CLONE_INTO_CGROUP refused). v1 hierarchies are joined by the child.
    pub fn add_v2(&self, pid: i32) -> Result<(), Error> {
        for d in self.dirs.iter().filter(|d| d.v2) {
            let f = d.path.join("cgroup.procs");
            crate::util::fs::write_file(&f, &pid.to_string()).map_err(io_err(&f))?;
        }
        Ok(())
    }

    /// The directory that best answers "which processes are in the container".
    fn procs_dir(&self) -> Option<&Dir> {
        let by = |name: &str| self.dirs.iter().find(|d| d.controllers.iter().any(|c| c == name));
        by("pids").or_else(|| by("freezer")).or_else(|| self.v2()).or(self.dirs.first())
    }

    /// Every pid in the container's cgroup (and its sub-cgroups).
    pub fn pids(&self) -> Result<Vec<i32>, Error> {
        let Some(d) = self.procs_dir() else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        collect_pids(&d.path, &mut out)?;
        Ok(out)
    }

    /// Before a container is made in a cgroup that may already exist (runc 1.1's factory
    /// checks): processes already in it only earn a warning (returned); a frozen cgroup is
    /// refused, as the init would hang in it. Nothing is made or changed.
    pub fn check_existing(&self) -> Result<Option<String>, Error> {
        if self.is_frozen() {
            return Err(Error::Unsupported("container's cgroup unexpectedly frozen".into()));
        }
        let mut pids = Vec::new();
        match self.procs_dir().map(|d| collect_pids(&d.path, &mut pids)) {
            // Not there (yet), or removed meanwhile: empty.
            Some(Err(Error::Io { source, .. })) if matches!(source.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENODEV)) => {}
            Some(Err(e)) => return Err(e),
            _ => {}
        }
        Ok((!pids.is_empty()).then(|| format!("container's cgroup is not empty: {} process(es) found", pids.len())))
    }

    fn freezer(&self) -> Option<(PathBuf, bool)> {
        freezer_among(self.dirs.iter().map(|d| (d.path.as_path(), d.controllers.iter().any(|c| c == "freezer"), d.v2)))
    }

    /// Where the freezer is, as the container's record keeps it for `list`.
    pub fn freezer_file(&self) -> Option<Freezer> {
        self.freezer().map(|(file, v2)| Freezer { file, v2 })
    }

    pub fn is_frozen(&self) -> bool {
        self.freezer().is_some_and(|(f, v2)| frozen_in(&f, v2))
    }

    /// `is_frozen` for `status`: `init_state` is the container init's state letter
    /// (/proc/<pid>/stat). A v1 freezer is FROZEN only once every task in its cgroup is
    /// frozen, and a frozen task never reads as running or sleeping ('R', 'S'): the
    /// kernel reports it as uninterruptible ('D': the refrigerator before 6.1,
    /// TASK_FROZEN "reported as uninterruptible" since), or stopped ('T') if it was. So
    /// while the init reads 'R' or 'S' a v1 cgroup is not frozen and freezer.state is not
    /// read: a `list` of running containers reads one file less each. cgroup v2's
    /// freezer parks tasks in a signal stop that reads as 'S': its file is always read.
    pub fn is_frozen_seen(&self, init_state: char) -> bool {
        frozen_seen(self.freezer().as_ref().map(|(f, v2)| (f.as_path(), *v2)), init_state)
    }

    /// `is_frozen_seen` of a cgroup as state.json saved it (the record's `cgroup`, as
    /// text), without building the Cgroup: `list` asks it of every container, and needs
    /// only where the freezer is (a borrowed view of the directories: no path or
    /// controller name is copied).
    pub fn is_frozen_seen_saved(saved: &str, init_state: char) -> bool {
        #[derive(Deserialize)]
        struct View<'a> {
            #[serde(borrow)]
            dirs: Vec<DirView<'a>>,
        }
        #[derive(Deserialize)]
        struct DirView<'a> {
            #[serde(borrow)]
            path: std::borrow::Cow<'a, str>,
            #[serde(borrow)]
            controllers: &'a serde_json::value::RawValue,
            v2: bool,
        }
        // A v1 freezer is the one asked when there is one, and a running or sleeping
        // init says it is not frozen (frozen_seen): nothing to parse. A JSON array of
        // controller names holds the text "freezer" (quoted) only when one of them is
        // that name; a path holding it would have its quotes escaped.
        if matches!(init_state, 'R' | 'S') && saved.contains("\"freezer\"") {
            return false;
        }
        let Ok(v) = serde_json::from_str::<View>(saved) else { return false };
        let freezer = freezer_among(v.dirs.iter().map(|d| (Path::new(d.path.as_ref()), d.controllers.get().contains("\"freezer\""), d.v2)));
        frozen_seen(freezer.as_ref().map(|(f, v2)| (f.as_path(), *v2)), init_state)
    }

    /// Freezes or thaws the cgroup and waits until the kernel reports the new state.
    pub fn set_frozen(&self, frozen: bool) -> Result<(), Error> {
        let Some((f, v2)) = self.freezer() else { return Err(Error::NoHierarchy) };
        let value = match (v2, frozen) {
            (true, true) => "1",
            (true, false) => "0",
            (false, true) => "FROZEN",
            (false, false) => "THAWED",
        };
        crate::util::fs::write_file(&f, value).map_err(io_err(&f))?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.is_frozen() != frozen && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    /// Removes the directories this container created, deepest first. A cgroup that
    /// still has processes is retried for a short while (an exiting task leaves it late).
    pub fn destroy(&self) -> Result<(), Error> {
        if let Driver::Systemd(s) = &self.driver {
            systemd::stop(s)?;
        }
        let mut first_err = None;
        for d in self.created.iter().rev() {
            // Only the container's own directory is removed with what it made inside;
            // a parent is shared with other containers and gets a plain rmdir.
            let own = self.dirs.iter().any(|x| &x.path == d);
            let deadline = Instant::now() + Duration::from_millis(500);
            loop {
                let r = if own { remove_tree(d) } else { fs::remove_dir(d) };
                match r {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                    // A shared parent (e.g. /berth) still used by another container.
                    Err(e) if !own && matches!(e.raw_os_error(), Some(libc::ENOTEMPTY) | Some(libc::EBUSY)) => break,
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => {
                        // Any other failure, of the leaf or of a parent this container
                        // made, is reported: the caller keeps the state so that a later
                        // delete can finish the job.
                        if first_err.is_none() {
                            first_err = Some(Error::Io { path: d.clone(), source: e });
                        }
                        break;
                    }
                }
            }
        }
        // berth's own subtree (/berth/...) is shared by all containers: whichever
        // container leaves it empty removes it, so none of it outlives the last one.
        for d in &self.dirs {
            let own = d.mount.join(DEFAULT_PARENT);
            for a in d.path.ancestors().skip(1) {
                if !a.starts_with(&own) || fs::remove_dir(a).is_err() {
                    break;
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

fn v2_has(d: &Dir, controller: &str) -> bool {
    let parent = d.path.parent().unwrap_or(&d.path);
    fs::read_to_string(parent.join("cgroup.subtree_control")).is_ok_and(|s| s.split_whitespace().any(|c| c == controller))
        || fs::read_to_string(d.path.join("cgroup.controllers")).is_ok_and(|s| s.split_whitespace().any(|c| c == controller))
}

/// Enables, in a cgroup2 directory berth created, every controller it has for its
/// children (needed for resource files to exist below it).
fn enable_controllers(dir: &Path) {
    let Ok(avail) = fs::read_to_string(dir.join("cgroup.controllers")) else { return };
    let want: Vec<String> = avail.split_whitespace().map(|c| format!("+{c}")).collect();
    if !want.is_empty() {
        let _ = crate::util::fs::write_file(&dir.join("cgroup.subtree_control"), &want.join(" "));
    }
}

/// cgroup2: enables each controller these writes need in every directory above `d`
/// whose subtree_control lacks it, from the hierarchy's root down, as runc's
/// CreateCgroupPath does (it enables all of the root's controllers, in the root too: under
/// systemd the root's subtree_control holds only what systemd's own units asked for, and a
/// container's cpu.weight did not exist: found by ctr through berth's shim on systemd).
/// berth enables only what the container's limits need, so a host's cgroups change no more
/// than the container asks; one the host lacks is left to write_knob's error.
fn enable_needed(d: &Dir, writes: &[resources::Write]) {
    let read = |dir: &Path, file: &str| fs::read_to_string(dir.join(file)).unwrap_or_default();
    let has = |list: &str, c: &str| list.split_whitespace().any(|x| x == c);
    let mut needed: Vec<&str> = writes
        .iter()
        .filter_map(|w| if w.controller == "unified" { w.file.split('.').next().filter(|c| *c != "cgroup") } else { Some(w.controller) })
        .collect();
    needed.sort_unstable();
    needed.dedup();
    let here = read(&d.path, "cgroup.controllers");
    needed.retain(|c| !has(&here, c));
    if needed.is_empty() {
        return;
    }
    let root = read(&d.mount, "cgroup.controllers");
    needed.retain(|c| has(&root, c));
    let Ok(rel) = d.path.strip_prefix(&d.mount) else { return };
    let mut dir = d.mount.clone();
    for part in rel.components() {
        let enabled = read(&dir, "cgroup.subtree_control");
        for c in needed.iter().filter(|c| !has(&enabled, c)) {
            let _ = crate::util::fs::write_file(&dir.join("cgroup.subtree_control"), &format!("+{c}"));
        }
        dir.push(part);
    }
}

fn write_knob(dir: &Path, wr: &resources::Write) -> Result<(), Error> {
    let mut path = dir.join(&wr.file);
    if wr.file.contains('/') || wr.file.starts_with('.') {
        return Err(Error::Unsupported(format!("{:?} is not a cgroup file", wr.file)));
    }
    // I/O weights live in blkio.weight[_device] (CFQ) or blkio.bfq.weight[_device] (BFQ),
    // as runc looks for them, or nowhere when the disk's scheduler has none: say so rather
    // than "No such file".
    if let Some(rest) = wr.file.strip_prefix("blkio.").filter(|f| f.starts_with("weight") || f.starts_with("leaf_weight")) {
        if !path.exists() {
            let bfq = dir.join(format!("blkio.bfq.{rest}"));
            if !bfq.exists() {
                return Err(Error::Unsupported(format!("{}: this kernel's I/O scheduler has no such weight (neither {} nor blkio.bfq.{rest} exists)", wr.file, wr.file)));
            }
            path = bfq;
        }
    }
    // cgroup2 without BFQ on any disk: io.weight in its own scale, as runc falls back.
    let mut value = std::borrow::Cow::Borrowed(wr.value.as_str());
    if wr.file == "io.bfq.weight" && !path.exists() && dir.join("io.weight").exists() {
        let (dev, w) = wr.value.rsplit_once(' ').unwrap_or(("", &wr.value));
        if let Ok(w) = w.parse::<u64>() {
            path = dir.join("io.weight");
            let v = resources::blkio_to_io_weight(w);
            value = if dev.is_empty() { format!("default {v}").into() } else { format!("{dev} {v}").into() };
        }
    }
    crate::util::fs::write_file(&path, &value).map_err(|source| Error::Write { what: wr.file.clone(), value: value.to_string(), path, source })
}

/// v1 memory and memory+swap limits, as runc's setMemoryAndSwap: a limit of -1 with no
/// swap given also lifts memsw (where the kernel has it: memsw may never be below the
/// limit); with both, memsw goes first when it is -1 or above the current limit, so that
/// memsw >= limit holds at every step.
fn order_memory(mut writes: Vec<resources::Write>, dirs: &[&Dir]) -> Vec<resources::Write> {
    let Some(d) = dirs.iter().find(|d| d.controllers.iter().any(|c| c == "memory")) else { return writes };
    let value = |w: &[resources::Write], f: &str| w.iter().find(|x| x.file == f).and_then(|x| x.value.parse::<i64>().ok());
    let memsw = "memory.memsw.limit_in_bytes";
    if value(&writes, "memory.limit_in_bytes") == Some(-1) && value(&writes, memsw).is_none() && d.path.join(memsw).exists() {
        writes.push(resources::Write { controller: "memory", file: memsw.into(), value: "-1".into() });
    }
    let (Some(_), Some(swap)) = (value(&writes, "memory.limit_in_bytes"), value(&writes, memsw)) else { return writes };
    let cur_limit = fs::read_to_string(d.path.join("memory.limit_in_bytes")).ok().and_then(|s| s.trim().parse::<u64>().ok());
    if swap == -1 || cur_limit.is_some_and(|c| swap > 0 && c < swap as u64) {
        if let Some(i) = writes.iter().position(|w| w.file == memsw) {
            let sw = writes.remove(i);
            let at = writes.iter().position(|w| w.file == "memory.limit_in_bytes").unwrap_or(0);
            writes.insert(at, sw);
        }
    }
    writes
}

/// checkBeforeUpdate (config-linux.md: "the runtime MUST check if the new memory limit is
/// lower than the current usage, and MUST reject the new limit"): `usage` is cgroup2's
/// memory.current or v1's memory.usage_in_bytes.
fn check_memory_fits(usage: &Path, limit: Option<i64>) -> Result<(), Error> {
    let (Some(limit), Ok(cur)) = (limit.filter(|l| *l > 0), fs::read_to_string(usage)) else { return Ok(()) };
    let cur: i64 = cur.trim().parse().unwrap_or(0);
    if cur > limit {
        return Err(Error::Unsupported(format!("memory.limit {limit} is below the current usage {cur} (checkBeforeUpdate)")));
    }
    Ok(())
}

/// rmdir of a cgroup directory and the sub-cgroups a container made inside it.
fn remove_tree(dir: &Path) -> io::Result<()> {
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&e.path())?;
            }
        }
    }
    fs::remove_dir(dir)
}

fn collect_pids(dir: &Path, out: &mut Vec<i32>) -> Result<(), Error> {
    let f = dir.join("cgroup.procs");
    let s = crate::util::fs::read_small(&f).map_err(io_err(&f))?;
    out.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                collect_pids(&e.path(), out)?;
            }
        }
    }
    Ok(())
}

/// The freezer file among a cgroup's directories (path, holds the v1 freezer, is
/// cgroup2): a v1 freezer hierarchy's freezer.state, else cgroup2's cgroup.freeze; and
/// whether it is cgroup2's.
fn freezer_among<'a>(dirs: impl Iterator<Item = (&'a Path, bool, bool)>) -> Option<(PathBuf, bool)> {
    let mut v2 = None;
    for (path, freezer, is_v2) in dirs {
        if freezer {
            return Some((path.join("freezer.state"), false));
        }
        if is_v2 && v2.is_none() {
            v2 = Some(path);
        }
    }
    v2.map(|p| (p.join("cgroup.freeze"), true))
}

/// A cgroup's freezer file (`freezer.state` of a v1 freezer, or cgroup2's `cgroup.freeze`)
/// as the container's record names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Freezer {
    pub file: PathBuf,
    pub v2: bool,
}

impl Freezer {
    /// `Cgroup::is_frozen_seen` of the cgroup this is the freezer of.
    pub fn is_frozen_seen(&self, init_state: char) -> bool {
        frozen_seen(Some((&self.file, self.v2)), init_state)
    }
}

/// `is_frozen_seen`'s rule, given the freezer file.
fn frozen_seen(freezer: Option<(&Path, bool)>, init_state: char) -> bool {
    match freezer {
        Some((_, false)) if matches!(init_state, 'R' | 'S') => false,
        Some((f, v2)) => frozen_in(f, v2),
        None => false,
    }
}

/// What a freezer file (`freezer.state`, or cgroup v2's `cgroup.freeze`) says: frozen?
fn frozen_in(f: &Path, v2: bool) -> bool {
    match crate::util::fs::read_small(f) {
        Ok(s) if v2 => s.trim() == "1",
        Ok(s) => s.trim() != "THAWED",
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_relative_paths_live_below_berth() {
        assert_eq!(relative_path(None, "c1").unwrap(), PathBuf::from("berth/c1"));
        assert_eq!(relative_path(Some(Path::new("x/y")), "c1").unwrap(), PathBuf::from("berth/x/y"));
        assert_eq!(relative_path(Some(Path::new("/a/b")), "c1").unwrap(), PathBuf::from("a/b"));
        assert!(relative_path(Some(Path::new("/a/../b")), "c1").is_err());
        assert!(relative_path(Some(Path::new("/")), "c1").is_err());
    }

    #[test]
    fn the_saved_form_is_state_jsons_as_it_always_was() {
        // A container made by an older berth must still be found and deleted: the file's
        // shape is pinned here, whatever the type's insides become.
        let dir = Dir { path: "/cg/berth/c".into(), mount: "/cg".into(), controllers: vec![], v2: true };
        let fs = Cgroup { dirs: vec![dir.clone()], created: vec!["/cg/berth".into(), "/cg/berth/c".into()], driver: Driver::Cgroupfs };
        let v = serde_json::to_value(&fs).unwrap();
        assert_eq!(v, serde_json::json!({"dirs": [{"path": "/cg/berth/c", "mount": "/cg", "controllers": [], "v2": true}], "created": ["/cg/berth", "/cg/berth/c"]}));
        assert_eq!(serde_json::from_value::<Cgroup>(v).unwrap(), fs);
        let scope = systemd::Scope { unit: "docker-c.scope".into(), slice: String::new(), user: false };
        let sd = Cgroup { dirs: vec![dir], created: vec![], driver: Driver::Systemd(scope) };
        let v = serde_json::to_value(&sd).unwrap();
        assert_eq!(v["unit"], "docker-c.scope");
        assert!(v.get("user").is_none());
        assert_eq!(serde_json::from_value::<Cgroup>(v).unwrap(), sd);
        assert!(!sd.made_by_runtime() && fs.made_by_runtime());
    }

    #[test]
    fn locate_names_one_directory_per_hierarchy_and_makes_nothing() {
        let h = |m: &str, c: &[&str], v2| Hierarchy { mountpoint: PathBuf::from(m), controllers: c.iter().map(|s| s.to_string()).collect(), v2 };
        let hybrid = Layout { hierarchies: vec![h("/cg/memory", &["memory"], false), h("/cg/unified", &[], true)] };
        let cg = Cgroup::locate(&hybrid, Path::new("berth/c1")).unwrap();
        let paths: Vec<_> = cg.dirs.iter().map(|d| (d.path.clone(), d.v2)).collect();
        assert_eq!(paths, [(PathBuf::from("/cg/memory/berth/c1"), false), (PathBuf::from("/cg/unified/berth/c1"), true)]);
        assert!(cg.created.is_empty() && !cg.is_v2_only());
        let v2 = Layout { hierarchies: vec![h("/cg", &[], true)] };
        assert!(Cgroup::locate(&v2, Path::new("a")).unwrap().is_v2_only());
        assert!(matches!(Cgroup::locate(&Layout::default(), Path::new("a")), Err(Error::NoHierarchy)));
    }

    #[test]
    fn the_saved_records_freezer_reads_as_the_cgroups_own() {
        // list asks the saved text (is_frozen_seen_saved), state the Cgroup: the same
        // answer for a hybrid layout's v1 freezer, a cgroup2-only one, and none.
        let tmp = std::env::temp_dir().join(format!("berth-freezer-test-{}", std::process::id()));
        // A cgroup2 directory whose name is the quoted word "freezer": the saved text
        // holds it with its quotes escaped, so it is not taken for a v1 freezer.
        let (fz, un, mem, unq) = (tmp.join("freezer/c"), tmp.join("unified/c"), tmp.join("memory/c"), tmp.join("unified/\"freezer\""));
        for d in [&fz, &un, &mem, &unq] {
            fs::create_dir_all(d).unwrap();
        }
        let dir = |p: &Path, c: &[&str], v2| Dir { path: p.into(), mount: p.parent().unwrap().into(), controllers: c.iter().map(|s| s.to_string()).collect(), v2 };
        let hybrid = Cgroup { dirs: vec![dir(&mem, &["memory"], false), dir(&un, &[], true), dir(&fz, &["freezer"], false)], created: vec![], driver: Driver::Cgroupfs };
        let v2 = Cgroup { dirs: vec![dir(&un, &[], true)], created: vec![], driver: Driver::Cgroupfs };
        let none = Cgroup { dirs: vec![dir(&mem, &["memory"], false)], created: vec![], driver: Driver::Cgroupfs };
        let quoted = Cgroup { dirs: vec![dir(&unq, &[], true)], created: vec![], driver: Driver::Cgroupfs };
        let mut seen = Vec::new();
        for (frozen_v1, frozen_v2) in [("FROZEN\n", "1\n"), ("THAWED\n", "0\n")] {
            fs::write(fz.join("freezer.state"), frozen_v1).unwrap();
            fs::write(un.join("cgroup.freeze"), frozen_v2).unwrap();
            fs::write(unq.join("cgroup.freeze"), frozen_v2).unwrap();
            for cg in [&hybrid, &v2, &none, &quoted] {
                let saved = serde_json::to_string(cg).unwrap();
                for init in ['R', 'S', 'D', 'T'] {
                    let own = cg.is_frozen_seen(init);
                    assert_eq!(Cgroup::is_frozen_seen_saved(&saved, init), own, "{saved} {init}");
                    seen.push(own);
                }
            }
        }
        // Both answers occurred: v1 frozen only when the init is not 'R'/'S', v2 always read.
        fs::write(fz.join("freezer.state"), "FROZEN\n").unwrap();
        fs::write(un.join("cgroup.freeze"), "1\n").unwrap();
        fs::write(unq.join("cgroup.freeze"), "1\n").unwrap();
        assert!(hybrid.is_frozen_seen('D') && !hybrid.is_frozen_seen('S') && v2.is_frozen_seen('S'));
        assert!(Cgroup::is_frozen_seen_saved(&serde_json::to_string(&quoted).unwrap(), 'S'));
        assert!(seen.contains(&true) && seen.contains(&false));
        assert!(!Cgroup::is_frozen_seen_saved("not json", 'D'));
        fs::remove_dir_all(&tmp).unwrap();
    }
}
