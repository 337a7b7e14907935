//! `create`: the runtime side. Validates everything it can before touching the system,
//! makes the state directory (locked), the cgroup and exec.fifo, clones the init (born in
//! its cgroup2 directory; it joins v1 ones itself), feeds it (id maps, hooks), and returns
//! once the init reports `Ready`. On any failure it undoes all of it: the init is killed
//! and reaped, the cgroup and state dir removed.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::cgroups::Cgroup;
use crate::config::{self, Spec};
use crate::hooks::{self, Kind};
use crate::namespaces::{self, Plan};
use crate::process::spawn::{self, Child, Spawn};
use crate::process::sync::{FromInit, RuntimeEnd, ToInit};
use crate::process::{init, sync};
use crate::util;

use super::state::{ContainerDir, State, Status};
use super::{io_err, Error, Runtime};

pub struct CreateOptions<'a> {
    pub id: &'a str,
    pub bundle: &'a Path,
    pub pid_file: Option<&'a Path>,
    pub console_socket: Option<&'a Path>,
    /// An already connected console socket (foreground `run` relaying the pty itself).
    pub console_fd: Option<RawFd>,
    pub no_pivot: bool,
    pub preserve_fds: u32,
    /// The caller watches the init until it exits (a foreground `run`): the init's
    /// failures after `Ready` come to it (`Created::init_error`) instead of the
    /// container's stderr.
    pub watch: bool,
}

pub struct Created {
    pub pid: i32,
    /// Kept when watched.
    sync: Option<RuntimeEnd>,
}

impl Created {
    /// What the init reported failing after create returned (before it was released, or
    /// while waiting for `start`), if anything. Never blocks: the init sends before it
    /// exits, so once it is seen stopped or reaped the message is here.
    pub fn init_error(&self) -> Option<String> {
        match self.sync.as_ref()?.try_recv() {
            Ok(Some(FromInit::Error(msg))) => Some(msg),
            Ok(_) => None,
            // Still running (start failed for its own reason).
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
            // Whether the program ever ran is unknown: that is the error then.
            Err(e) => Some(format!("its report is unreadable: {}", crate::util::errno::text(&e))),
        }
    }
}

/// Undoes a partial create when dropped, unless disarmed: the init first (killed and
/// reaped by spawn::Child), then its cgroup, then the state directory.
struct Undo {
    dir: Option<ContainerDir>,
    cgroup: Option<Cgroup>,
    child: Option<Child>,
}

impl Drop for Undo {
    fn drop(&mut self) {
        drop(self.child.take());
        if let Some(cg) = self.cgroup.take() {
            if let Err(e) = cg.destroy() {
                crate::logging::warn(&format!("cleanup after failed create: {e}"));
            }
        }
        if let Some(dir) = self.dir.take() {
            // What is left goes with `delete -f`; the user is told it is there (fault
            // injection found a failed create whose state directory stayed silently).
            if let Err(e) = dir.remove() {
                crate::logging::warn(&format!("cleanup after failed create: {e}"));
            }
        }
    }
}

/// spawn::above, with this module's error.
pub(super) fn above(fd: OwnedFd, min: RawFd) -> Result<OwnedFd, Error> {
    spawn::above(fd, min).map_err(io_err("dup fd"))
}

fn make_fifo(path: &Path) -> Result<OwnedFd, Error> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::WrongState("bad state path".into()))?;
    // SAFETY: mkfifo/open with a valid C string.
    unsafe {
        if libc::mkfifo(c.as_ptr(), 0o600) != 0 {
            return Err(io_err(format!("mkfifo {}", path.display()))(std::io::Error::last_os_error()));
        }
        // O_RDWR: opening does not block, and the init's blocking read then waits for
        // `start` to write one byte.
        let fd = libc::open(c.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(io_err(format!("open {}", path.display()))(std::io::Error::last_os_error()));
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

pub fn create(rt: &Runtime, o: &CreateOptions) -> Result<Created, Error> {
    super::state::validate_id(o.id)?;
    let bundle = std::fs::canonicalize(o.bundle).map_err(io_err(format!("bundle {}", o.bundle.display())))?;
    let spec: Spec = config::load(&bundle)?;
    config::validate(&spec, &bundle)?;
    let process = spec.process().as_ref().ok_or_else(|| config::invalid("process", "is required"))?;
    // runc: "cannot allocate tty if runc will detach without setting console socket".
    let console = crate::tty::console_for(process.terminal().unwrap_or(false), o.console_socket, o.console_fd)
        .map_err(|e| Error::WrongState(e.to_string()))?;
    crate::process::attrs::check_lsm(process, spec.linux().as_ref().and_then(|l| l.mount_label().as_deref()))
        .map_err(|e| config::Error::Other(format!("config.json: {e}")))?;
    let rootfs = bundle.join(spec.root().as_ref().map(|r| r.path().clone()).unwrap_or_default());
    let rootfs = std::fs::canonicalize(&rootfs).map_err(io_err(format!("root.path {}", rootfs.display())))?;
    let linux = spec.linux().as_ref();
    let cgroups_path = linux.and_then(|l| l.cgroups_path().as_deref());
    let plan = Plan::from_spec(&spec)?;
    if plan.inherit_mount {
        let l = spec.linux().as_ref();
        let asks = !spec.mounts().as_deref().unwrap_or(&[]).is_empty()
            || l.and_then(|l| l.masked_paths().as_ref()).is_some_and(|v| !v.is_empty())
            || l.and_then(|l| l.readonly_paths().as_ref()).is_some_and(|v| !v.is_empty())
            || spec.root().as_ref().and_then(|r| r.readonly()).unwrap_or(false);
        if asks {
            crate::logging::warn("no mount namespace: the container shares the runtime's, so its mounts, masked and read-only paths are not made (they would be made on the host)");
        }
    }
    let seccomp = linux.and_then(|l| l.seccomp().as_ref()).map(|s| crate::seccomp::compile_cached(&rt.root, s)).transpose()?;
    // Used by the init after pivot_root.
    let listener = crate::seccomp::connect_listener(seccomp.as_ref(), linux.and_then(|l| l.seccomp().as_ref()))?;

    // Pure cgroup2: the cgroup is made and limited before the clone, so the init is born
    // in it under its limits. Elsewhere only the cgroup2 directory (if any) is needed by
    // then (CLONE_INTO_CGROUP): the v1 directories and the limits are made while the init
    // does its first mounts, and it joins them only once `Go` says they are ready (the
    // cgroup gate in init.rs), before any device node, hook or user code.
    let mut cgroup = Cgroup::for_container(rt.systemd_cgroup, rt.rootless, cgroups_path, o.id)?;
    if let Some(w) = cgroup.check_existing()? {
        crate::logging::warn(&w);
    }
    // The record of what this create makes, in the state directory from the start and
    // rewritten as things are made (state.rs: a create killed at any moment leaves what
    // `delete` needs to undo it).
    let mut state = State {
        id: o.id.to_string(),
        pid: 0,
        start_time: 0,
        bundle: bundle.clone(),
        rootfs: rootfs.clone(),
        created: util::time::now_rfc3339_nano(),
        annotations: spec.annotations().clone().unwrap_or_default(),
        cgroup: cgroup.record(),
        saved_cgroup: None,
        // With the cgroup once made (set_cgroup): list reads it of complete records only.
        freezer: None,
        config: None,
        poststart: false,
        poststop: false,
        owner: Some(nix::unistd::geteuid().as_raw()),
        creating: true,
        named_init: false,
    };
    let dir = ContainerDir::create(&rt.root, o.id, &state)?;
    util::testpoint::hit("create:dir");
    let mut undo = Undo { dir: None, cgroup: None, child: None };
    let lock_fd = dir.lock_fd();
    let fifo_path = dir.fifo_path();
    undo.dir = Some(dir);
    let listen_fds: u32 = std::env::var("LISTEN_FDS").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let min_fd = 3 + (listen_fds + o.preserve_fds) as RawFd;
    let fifo = above(make_fifo(&fifo_path)?, min_fd)?;
    let console = console.map(|c| above(c, min_fd)).transpose()?;
    let listener = listener.map(|c| above(c, min_fd)).transpose()?;
    let resources = linux.and_then(|l| l.resources().as_ref());
    // crun's order (namespaces.rs) joins the v1 hierarchies before anything else;
    // rootless, which hierarchies the container gets is known only once they are made,
    // and the init's copy of `cgroup` is taken at the clone.
    // systemd makes the scope once the init exists (it moves the init in).
    let limits_first = (cgroup.is_v2_only() || plan.late.is_some() || rt.rootless) && cgroup.made_by_runtime();
    if cgroup.made_by_runtime() {
        make_cgroup(rt, &mut cgroup, true, &mut undo)?;
    }
    if limits_first && !cgroup.is_v2_only() {
        make_cgroup(rt, &mut cgroup, false, &mut undo)?;
    }
    if limits_first {
        apply_limits(&cgroup, resources)?;
    }
    util::testpoint::hit("create:cgroup");
    let (parent_end, child_end) = sync::pair().map_err(io_err("socketpair"))?;

    let new_mount_ns = (plan.clone_flags | plan.late.map_or(0, |l| l.flags)) & libc::CLONE_NEWNS as u64 != 0;
    let bind_trees = if new_mount_ns {
        use crate::rootfs::idmap::ContainerUserns;
        let joined = plan.joins.iter().find(|j| j.typ == oci_spec::runtime::LinuxNamespaceType::User);
        let userns = match (joined, linux) {
            (Some(j), _) => ContainerUserns::Joined(j.file.as_raw_fd()),
            (None, Some(l)) if plan.new_user => ContainerUserns::New(l.uid_mappings().as_deref().unwrap_or(&[]), l.gid_mappings().as_deref().unwrap_or(&[])),
            _ => ContainerUserns::None,
        };
        // Rootless, the init is the caller in all but name: it reaches what the caller
        // can, and the caller could not open_tree() anyway (no CAP_SYS_ADMIN).
        crate::rootfs::open_bind_sources(&spec, &bundle, plan.enters_user && !rt.rootless, &userns)?
    } else {
        Vec::new()
    };
    let runtime_hooks = !hooks::list(spec.hooks().as_ref(), Kind::Prestart).is_empty()
        || !hooks::list(spec.hooks().as_ref(), Kind::CreateRuntime).is_empty();
    let own_pid = std::process::id() as i32;
    let args = init::InitArgs {
        spec: &spec,
        rootfs: &rootfs,
        bundle: &bundle,
        ns: &plan,
        cgroup: &cgroup,
        sync: &child_end,
        fifo_fd: fifo.as_raw_fd(),
        lock_fd,
        parent_pid: own_pid,
        no_pivot: o.no_pivot,
        preserve_fds: o.preserve_fds,
        listen_fds,
        runtime_hooks,
        console: console.as_ref().map(|c| c.as_raw_fd()),
        seccomp: seccomp.as_ref(),
        seccomp_listener: listener.as_ref().map(|c| c.as_raw_fd()),
        bind_trees: &bind_trees,
        rootless: rt.rootless,
        watched: o.watch,
    };
    let target = cgroup.clone_target();
    let time_ns = if plan.time_by_runtime {
        let proc = crate::util::procfs::ProcFs::host().map_err(io_err("procfs"))?;
        Some(namespaces::TimeForChild::prepare(proc, &config::time_offsets(&spec))?)
    } else {
        None
    };
    let how = Spawn {
        flags: plan.clone_flags,
        pid_join: plan.pid_join.as_ref(),
        cgroup: target.as_ref().map(|f| f.as_raw_fd()),
        runtime_end: parent_end.raw(),
        subreaper: plan.late.is_some_and(|l| l.fork),
    };
    let cloned = spawn::spawn(&how, || init::run(&args));
    if let Some(t) = time_ns {
        t.restore()?;
    }
    let (child, born_inside) = cloned?;
    let pid = child.pid();
    undo.child = Some(child);
    drop(child_end);
    drop(console);
    drop(listener);
    record_init(&mut state, pid, &undo)?;
    util::testpoint::hit("create:cloned");

    let write_maps = |pid: i32| -> Result<(), Error> {
        let l = linux.ok_or_else(|| config::invalid("linux", "missing"))?;
        let own = rt.rootless.then(|| (nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw()));
        Ok(namespaces::write_id_maps(pid, l.uid_mappings().as_deref().unwrap_or(&[]), l.gid_mappings().as_deref().unwrap_or(&[]), own)?)
    };
    match plan.late {
        Some(late) => {
            // crun's order: the init asks for its maps once it has unshared its user
            // namespace, and reports the pid of the process it forked to be pid 1.
            if late.new_user {
                expect(&parent_end, |m| matches!(m, FromInit::UserNs))?;
                write_maps(pid)?;
                parent_end.send(&ToInit::IdMaps).map_err(io_err("sync with init"))?;
            }
            if late.fork {
                let n = match expect(&parent_end, |m| matches!(m, FromInit::Pid(_)))? {
                    FromInit::Pid(n) => n,
                    other => return Err(Error::Init(format!("unexpected message {other:?}"))),
                };
                if let Some(c) = undo.child.as_mut() {
                    c.replace(n);
                }
                record_init(&mut state, n, &undo)?;
            }
        }
        None if plan.new_user => write_maps(pid)?,
        None => {}
    }
    let pid = state.pid;
    if !cgroup.made_by_runtime() {
        undo.cgroup = Some(cgroup.clone());
        let started = cgroup.start_scope(o.id, pid, resources);
        // With what it made in berth's hierarchies (v1 hosts), for the undo.
        undo.cgroup = Some(cgroup.clone());
        started?;
        apply_limits(&cgroup, resources)?;
    } else if !limits_first {
        make_cgroup(rt, &mut cgroup, false, &mut undo)?;
        apply_limits(&cgroup, resources)?;
    }
    if born_inside {
        crate::logging::debug("init born in its cgroup2 directory (CLONE_INTO_CGROUP)");
    } else {
        cgroup.add_v2(pid)?;
    }
    // cgroup.json holds the record of what was to be made; rewritten only if what was
    // made differs (a systemd scope's directories), with the complete record below.
    let remade = !state.cgroup.records_the_same(&cgroup);
    state.set_cgroup(cgroup.clone());
    let hook_state = state.hook_state(Status::Creating);
    let creating = hook_state.to_json();
    if let Err(e) = parent_end.send(&ToInit::Go(hook_state)) {
        // The init died early; its own report, if one is waiting, is more useful than
        // EPIPE. Never a blocking read here: if the send failed for another reason the
        // init is still waiting for Go, and both would wait for ever (found by fault
        // injection).
        if let Ok(Some(FromInit::Error(msg))) = parent_end.try_recv() {
            return Err(Error::Init(msg));
        }
        return Err(io_err("sync with init")(e));
    }
    loop {
        match parent_end.recv().map_err(io_err("sync with init"))? {
            Some(FromInit::Hooks) => {
                // In the bundle, as runc (it works there).
                let ctx = hooks::Context { cwd: Some(&bundle), env: None };
                hooks::run_all(spec.hooks().as_ref(), Kind::Prestart, &creating, ctx)?;
                hooks::run_all(spec.hooks().as_ref(), Kind::CreateRuntime, &creating, ctx)?;
                parent_end.send(&ToInit::HooksDone).map_err(io_err("sync with init"))?;
            }
            Some(FromInit::Ready) => {
                util::testpoint::hit("create:ready");
                break;
            }
            Some(FromInit::Error(msg)) => return Err(Error::Init(msg)),
            Some(other) => return Err(Error::Init(format!("unexpected message {other:?}"))),
            None => return Err(Error::Init("the init exited during set-up".into())),
        }
    }
    state.creating = false;
    // Only the complete record names the later hooks: a create that did not finish has
    // none to run (delete skips them for a `creating` record, as before the flags).
    state.poststart = !hooks::list(spec.hooks().as_ref(), Kind::Poststart).is_empty();
    state.poststop = !hooks::list(spec.hooks().as_ref(), Kind::Poststop).is_empty();
    // The init named itself at its start (init.rs), long before `Ready`.
    state.named_init = true;
    let dir = undo.dir.as_ref().ok_or_else(|| Error::WrongState("state dir lost".into()))?;
    dir.save_config(&serde_json::to_vec(&spec).map_err(|e| config::Error::Other(e.to_string()))?, false)?;
    if remade {
        dir.save_cgroup(&state.cgroup, true)?;
    }
    dir.save(&state)?;
    util::testpoint::hit("create:saved");
    if let Some(pf) = o.pid_file {
        write_pid_file(pf, pid)?;
    }
    // The init has stayed tied to us (it dies with us) until the state is saved: from
    // now on it outlives us.
    parent_end.send(&ToInit::Saved).map_err(io_err("sync with init"))?;
    // Success: keep everything. The lock is released when `dir` is dropped.
    undo.child.take().map(Child::keep);
    undo.cgroup = None;
    drop(undo.dir.take());
    Ok(Created { pid, sync: o.watch.then_some(parent_end) })
}

/// Makes the cgroup2 (`v2`) or the v1 directories. Rootless, a hierarchy the caller may
/// not write is not an error (runc's "ignore cgroup permission errors"): the container
/// goes without a cgroup there, its limits unapplied (with a warning when it has any).
fn make_cgroup(rt: &Runtime, cgroup: &mut Cgroup, v2: bool, undo: &mut Undo) -> Result<(), Error> {
    let made = cgroup.make(v2);
    undo.cgroup = Some(cgroup.clone());
    match made {
        Err(e) if rt.rootless && e.is_permission() => {
            cgroup.without(v2);
            let which = if v2 { "cgroup2 directory" } else { "cgroup v1 directories" };
            crate::logging::warn(&format!("rootless: no {which} ({e}): limits there are not applied"));
            undo.cgroup = Some(cgroup.clone());
            Ok(())
        }
        r => Ok(r?),
    }
}

fn apply_limits(cgroup: &Cgroup, resources: Option<&oci_spec::runtime::LinuxResources>) -> Result<(), Error> {
    for w in resources.map(|r| cgroup.apply(r)).transpose()?.unwrap_or_default() {
        crate::logging::warn(&w);
    }
    Ok(())
}

/// runc writes the pid file atomically too; engines poll for it.
fn write_pid_file(path: &Path, pid: i32) -> Result<(), Error> {
    let abs: PathBuf = if path.is_absolute() { path.to_path_buf() } else { std::env::current_dir().map_err(io_err("cwd"))?.join(path) };
    util::fs::write_atomic(&abs, pid.to_string().as_bytes(), 0o644).map_err(io_err(format!("pid file {}", abs.display())))
}

/// The init's pid and start time into the crash record (state.rs), saved at once: a
/// create killed from here on leaves what `delete` needs to kill it.
fn record_init(state: &mut State, pid: i32, undo: &Undo) -> Result<(), Error> {
    state.pid = pid;
    state.start_time = util::proc::stat(pid).map(|s| s.start_time).ok_or_else(|| Error::Init("the init died at once".into()))?;
    undo.dir.as_ref().ok_or_else(|| Error::WrongState("state dir lost".into()))?.save(state)?;
    Ok(())
}

/// The init's next message, which must be the one `want` accepts; its Error, or its
/// death, is the create's error.
fn expect(end: &sync::RuntimeEnd, want: impl Fn(&FromInit) -> bool) -> Result<FromInit, Error> {
    match end.recv().map_err(io_err("sync with init"))? {
        Some(m) if want(&m) => Ok(m),
        Some(FromInit::Error(msg)) => Err(Error::Init(msg)),
        Some(other) => Err(Error::Init(format!("unexpected message {other:?}"))),
        None => Err(Error::Init("the init exited during set-up".into())),
    }
}
