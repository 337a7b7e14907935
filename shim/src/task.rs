//! The Task API containerd calls, served with berth's library: no runtime binary runs.
//! One shim serves every container of its group (a CRI pod: the sandbox and its
//! containers), each with its init and exec'd processes.
//!
//! Exits: the shim is a subreaper; the crate's reaper waits for every child and tells the
//! monitor, whose subscriber here (`exits`) matches the pid to its process. A pid can
//! exit before the shim knows it (a quick exec); such exits wait in `unclaimed` until
//! the process is recorded. Events go out through one queue, filled under the state lock,
//! so a process's start is always published before its exit.

use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use berth::container::{self, CreateOptions, ExecOptions, Runtime};
use containerd_shim::api::{
    CloseIORequest, ConnectRequest, ConnectResponse, CreateTaskRequest, CreateTaskResponse, DeleteRequest, DeleteResponse, Empty,
    ExecProcessRequest, KillRequest, Options, PauseRequest, PidsRequest, PidsResponse, ResizePtyRequest, ResumeRequest,
    ShutdownRequest, StartRequest, StartResponse, StateRequest, StateResponse, StatsRequest, StatsResponse, UpdateTaskRequest,
    WaitRequest, WaitResponse,
};
use containerd_shim::monitor::{monitor_subscribe, Subject, Topic};
use containerd_shim::protos::events::task::{
    TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskIO, TaskPaused, TaskResumed, TaskStart,
};
use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim::protos::protobuf::{Message, MessageField};
use containerd_shim::protos::topics;
use containerd_shim::protos::types::task::{ProcessInfo, Status};
use containerd_shim::{ExitSignal, TtrpcContext, TtrpcResult};

use crate::events::Publisher;
use crate::helper::{self, Job};
use crate::io::{self, Io, Paths};
use crate::{oom, Error};

/// Where the shim keeps the runtime's state unless told otherwise (the runc shim's is
/// /run/containerd/runc); the namespace is a directory below it.
pub const DEFAULT_ROOT: &str = "/run/containerd/berth";
/// The root a container was created with, kept in its bundle for `shim delete`.
pub const ROOT_FILE: &str = "berth-root";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Created,
    Running,
    Paused,
    Stopped,
}

struct Process {
    pid: i32,
    phase: Phase,
    exit: Option<(u32, Timestamp)>,
    paths: Paths,
    io: Option<Arc<Io>>,
    /// An exec's process, until it is started.
    spec: Option<oci_spec::runtime::Process>,
}

impl Process {
    fn new(paths: Paths) -> Process {
        Process { pid: 0, phase: Phase::Created, exit: None, paths, io: None, spec: None }
    }
}

struct Task {
    bundle: String,
    /// Whether the shim mounted bundle/rootfs (and so unmounts it).
    mounted: bool,
    /// The unmount started when the init exited (see exited()); delete waits for it.
    unmounting: Option<std::thread::JoinHandle<()>>,
    /// start/delete run hooks (their children are waited for): done in a helper.
    hooks: bool,
    init: Process,
    execs: HashMap<String, Process>,
}

/// Whose a reaped pid is.
#[derive(Clone)]
enum Owner {
    Init(String),
    Exec(String, String),
    /// A helper (helper.rs): nothing to report.
    Helper,
}

#[derive(Default)]
struct State {
    tasks: HashMap<String, Task>,
    owners: HashMap<i32, Owner>,
    unclaimed: HashMap<i32, i32>,
}


pub struct Shared {
    rt: Mutex<Runtime>,
    namespace: String,
    state: Mutex<State>,
    changed: Condvar,
    events: Publisher,
    exit: Arc<ExitSignal>,
}

#[derive(Clone)]
pub struct Service(Arc<Shared>);

pub(crate) fn now() -> Timestamp {
    containerd_shim::util::timestamp().unwrap_or_default()
}

impl Service {
    pub fn new(namespace: &str, root: PathBuf, events: Publisher, exit: Arc<ExitSignal>) -> Service {
        let rt = Runtime { root, systemd_cgroup: false, rootless: false };
        let s = Service(Arc::new(Shared {
            rt: Mutex::new(rt),
            namespace: namespace.to_string(),
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            events,
            exit,
        }));
        let me = s.clone();
        match monitor_subscribe(Topic::Pid) {
            Ok(sub) => {
                let _ = std::thread::Builder::new().name("exits".into()).spawn(move || {
                    for e in sub.rx.iter() {
                        if let Subject::Pid(pid) = e.subject {
                            me.exited(pid, e.exit_code);
                        }
                    }
                });
            }
            Err(e) => log::error!("subscribe to exits: {e}"),
        }
        s
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn rt(&self) -> Runtime {
        self.0.rt.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn publish<M: Message>(&self, topic: &'static str, ev: M) {
        self.0.events.publish(topic, ev);
    }

    /// A reaped pid: recorded as its process's exit (once its output is copied), or kept
    /// until its process is recorded.
    fn exited(&self, pid: i32, code: i32) {
        let (owner, io) = {
            let mut st = self.lock();
            match st.owners.get(&pid).cloned() {
                None => {
                    if st.unclaimed.len() > 4096 {
                        st.unclaimed.clear();
                    }
                    st.unclaimed.insert(pid, code);
                    return;
                }
                Some(Owner::Helper) => {
                    st.owners.remove(&pid);
                    return;
                }
                Some(o) => {
                    let io = process_mut(&mut st, &o).and_then(|p| p.io.clone());
                    (o, io)
                }
            }
        };
        if let Some(io) = io {
            io.done.wait(Duration::from_secs(2));
        }
        let mut st = self.lock();
        st.owners.remove(&pid);
        let at = now();
        let Some(p) = process_mut(&mut st, &owner) else { return };
        p.phase = Phase::Stopped;
        p.exit = Some((code as u32, at.clone()));
        let (cid, id) = match &owner {
            Owner::Init(c) => (c.clone(), c.clone()),
            Owner::Exec(c, e) => (c.clone(), e.clone()),
            Owner::Helper => return,
        };
        self.publish(
            topics::TASK_EXIT_EVENT_TOPIC,
            TaskExit { container_id: cid.clone(), id, pid: pid as u32, exit_status: code as u32, exited_at: MessageField::some(at), ..Default::default() },
        );
        if matches!(owner, Owner::Init(_)) {
            if let Some(t) = st.tasks.get_mut(&cid) {
                unmount_early(t);
            }
        }
        drop(st);
        self.0.changed.notify_all();
    }

    /// Records `pid` as `owner`'s; an exit already reaped is handled at once.
    fn claim(&self, st: &mut State, pid: i32, owner: Owner) -> Option<i32> {
        st.owners.insert(pid, owner);
        st.unclaimed.remove(&pid)
    }

    fn helper(&self, job: Job, stdio: Option<helper::Stdio>) -> Result<helper::Outcome, Error> {
        let rt = self.rt();
        let out = helper::run(&rt, job, stdio, |pid| {
            let mut st = self.lock();
            if self.claim(&mut st, pid, Owner::Helper).is_some() {
                st.owners.remove(&pid);
            }
        })
        .map_err(|e| Error::io("fork a helper", e))?;
        for line in out.warnings.lines() {
            log::warn!("{line}");
        }
        Ok(out)
    }
}

fn process_mut<'a>(st: &'a mut State, o: &Owner) -> Option<&'a mut Process> {
    match o {
        Owner::Init(c) => st.tasks.get_mut(c).map(|t| &mut t.init),
        Owner::Exec(c, e) => st.tasks.get_mut(c).and_then(|t| t.execs.get_mut(e)),
        Owner::Helper => None,
    }
}

fn not_found(id: &str) -> Error {
    Error::NotFound(format!("container {id}: not found"))
}

fn process<'a>(st: &'a mut State, id: &str, exec_id: &str) -> Result<&'a mut Process, Error> {
    let t = st.tasks.get_mut(id).ok_or_else(|| not_found(id))?;
    if exec_id.is_empty() {
        return Ok(&mut t.init);
    }
    t.execs.get_mut(exec_id).ok_or_else(|| Error::NotFound(format!("process {exec_id} of container {id}: not found")))
}

fn status_of(p: &Process) -> Status {
    match p.phase {
        Phase::Created => Status::CREATED,
        Phase::Running => Status::RUNNING,
        Phase::Paused => Status::PAUSED,
        Phase::Stopped => Status::STOPPED,
    }
}

/// The runc shim's options (Root, SystemdCgroup), when containerd passes them.
/// Other options are ignored; runc's that do not decode are refused.
fn runc_options(o: &MessageField<containerd_shim::protos::protobuf::well_known_types::any::Any>) -> Result<Option<Options>, Error> {
    let Some(any) = o.as_ref() else { return Ok(None) };
    if !any.type_url.ends_with("containerd.runc.v1.Options") {
        return Ok(None);
    }
    Options::parse_from_bytes(&any.value).map(Some).map_err(|e| Error::invalid(format!("create: the runc options: {e}")))
}

fn has_hooks(bundle: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(bundle.join("config.json")) else { return false };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else { return false };
    let h = &v["hooks"];
    ["poststart", "poststop"].iter().any(|k| h[k].as_array().is_some_and(|a| !a.is_empty()))
}

fn mount_rootfs(req: &CreateTaskRequest) -> Result<bool, Error> {
    if req.rootfs.is_empty() {
        return Ok(false);
    }
    let target = Path::new(&req.bundle).join("rootfs");
    for m in &req.rootfs {
        containerd_shim::mount::mount_rootfs(Some(m.type_.as_str()), Some(m.source.as_str()), &m.options, &target)
            .map_err(|e| Error::Other(format!("mount rootfs {} on {}: {e}", m.source, target.display())))?;
    }
    Ok(true)
}

/// Once the init has exited nothing uses bundle/rootfs in the shim's mount namespace:
/// the container's processes have their own (pivot_root'd), and containerd neither starts
/// nor execs into a stopped task. The unmount (reading mountinfo, then overlayfs syncing
/// its upper layer as it goes: 1-3 ms measured) runs then, while containerd and its
/// client handle the exit, instead of inside the Delete they send next. Not with hooks:
/// a poststop hook, run at delete, may look at the rootfs.
fn unmount_early(t: &mut Task) {
    if !t.mounted || t.hooks || t.unmounting.is_some() {
        return;
    }
    let bundle = t.bundle.clone();
    if let Ok(h) = std::thread::Builder::new().name("unmount".into()).stack_size(128 * 1024).spawn(move || unmount_rootfs(&bundle)) {
        t.unmounting = Some(h);
    }
}

pub fn unmount_rootfs(bundle: &str) {
    let target = Path::new(bundle).join("rootfs");
    if let Err(e) = containerd_shim::mount::umount_recursive(target.to_str(), 0) {
        log::warn!("unmount {}: {e}", target.display());
    }
}

impl Service {
    fn do_create(&self, req: CreateTaskRequest) -> Result<CreateTaskResponse, Error> {
        if !req.checkpoint.is_empty() {
            return Err(Error::FailedPrecondition("berth cannot restore checkpoints".into()));
        }
        if self.lock().tasks.contains_key(&req.id) {
            return Err(Error::AlreadyExists(format!("container {}: already exists", req.id)));
        }
        if let Some(o) = runc_options(&req.options)? {
            let mut rt = self.0.rt.lock().unwrap_or_else(|p| p.into_inner());
            if !o.root.is_empty() {
                rt.root = PathBuf::from(&o.root).join(&self.0.namespace);
            }
            rt.systemd_cgroup = o.systemd_cgroup;
        }
        let rt = self.rt();
        let bundle = PathBuf::from(&req.bundle);
        let _ = std::fs::write(bundle.join(ROOT_FILE), rt.root.as_os_str().as_encoded_bytes());
        let mounted = mount_rootfs(&req)?;
        let paths = Paths { stdin: req.stdin.clone(), stdout: req.stdout.clone(), stderr: req.stderr.clone(), terminal: req.terminal };
        let undo = |e: Error| {
            if mounted {
                unmount_rootfs(&req.bundle);
            }
            e
        };
        let prepared = io::prepare(&paths).map_err(undo)?;
        let o = CreateOptions {
            id: &req.id,
            bundle: &bundle,
            pid_file: None,
            console_socket: None,
            console_fd: prepared.console_theirs.as_ref().map(|f| f.as_raw_fd()),
            no_pivot: false,
            preserve_fds: 0,
            watch: false,
        };
        let out = self.helper(Job::Create(o), Some(prepared.raw())).map_err(undo)?;
        let pid = out.result.map_err(|e| undo(Error::Other(e)))?;
        let io = match io::attach(prepared) {
            Ok(io) => io,
            Err(e) => {
                let _ = container::delete(&rt, &req.id, true);
                return Err(undo(e));
            }
        };
        let mut init = Process::new(paths.clone());
        init.pid = pid;
        init.io = Some(Arc::new(io));
        let task = Task { bundle: req.bundle.clone(), mounted, unmounting: None, hooks: has_hooks(&bundle), init, execs: HashMap::new() };
        let early = {
            let mut st = self.lock();
            st.tasks.insert(req.id.clone(), task);
            let early = self.claim(&mut st, pid, Owner::Init(req.id.clone()));
            self.publish(
                topics::TASK_CREATE_EVENT_TOPIC,
                TaskCreate {
                    container_id: req.id.clone(),
                    bundle: req.bundle.clone(),
                    rootfs: req.rootfs.clone(),
                    io: MessageField::some(TaskIO { stdin: paths.stdin, stdout: paths.stdout, stderr: paths.stderr, terminal: paths.terminal, ..Default::default() }),
                    pid: pid as u32,
                    ..Default::default()
                },
            );
            early
        };
        if let Some(code) = early {
            self.exited(pid, code);
        }
        oom::watch(self.clone(), &rt, req.id.clone());
        Ok(CreateTaskResponse { pid: pid as u32, ..Default::default() })
    }

    pub fn oom(&self, id: &str) {
        if self.lock().tasks.contains_key(id) {
            self.publish(
                topics::TASK_OOM_EVENT_TOPIC,
                containerd_shim::protos::events::task::TaskOOM { container_id: id.to_string(), ..Default::default() },
            );
        }
    }

    fn do_start(&self, req: StartRequest) -> Result<StartResponse, Error> {
        if req.exec_id.is_empty() {
            let hooks = {
                let mut st = self.lock();
                let t = st.tasks.get_mut(&req.id).ok_or_else(|| not_found(&req.id))?;
                if t.init.phase != Phase::Created {
                    return Err(Error::FailedPrecondition(format!("container {} is not created", req.id)));
                }
                t.hooks
            };
            if hooks {
                self.helper(Job::Start(&req.id), None)?.result.map_err(Error::Other)?;
            } else {
                container::start(&self.rt(), &req.id)?;
            }
            let mut st = self.lock();
            let p = process(&mut st, &req.id, "")?;
            if p.phase == Phase::Created {
                p.phase = Phase::Running;
            }
            let pid = p.pid;
            self.publish(topics::TASK_START_EVENT_TOPIC, TaskStart { container_id: req.id.clone(), pid: pid as u32, ..Default::default() });
            return Ok(StartResponse { pid: pid as u32, ..Default::default() });
        }
        let (spec, paths) = {
            let mut st = self.lock();
            let p = process(&mut st, &req.id, &req.exec_id)?;
            let spec = p.spec.take().ok_or_else(|| Error::FailedPrecondition(format!("process {} already started", req.exec_id)))?;
            (spec, p.paths.clone())
        };
        let prepared = io::prepare(&paths)?;
        let o = ExecOptions {
            id: &req.id,
            process: &spec,
            pid_file: None,
            console_socket: None,
            console_fd: prepared.console_theirs.as_ref().map(|f| f.as_raw_fd()),
            preserve_fds: 0,
            ignore_paused: false,
            sub_cgroup: None,
        };
        let out = self.helper(Job::Exec(o), Some(prepared.raw()))?;
        let pid = match out.result {
            Ok(pid) => pid,
            Err(e) => {
                // containerd's own words when the runtime fails to exec: the error is the start's.
                let mut st = self.lock();
                if let Ok(p) = process(&mut st, &req.id, &req.exec_id) {
                    p.phase = Phase::Stopped;
                    p.exit = Some((255, now()));
                }
                drop(st);
                self.0.changed.notify_all();
                return Err(Error::Other(e));
            }
        };
        let io = io::attach(prepared)?;
        let early = {
            let mut st = self.lock();
            let p = process(&mut st, &req.id, &req.exec_id)?;
            p.pid = pid;
            p.phase = Phase::Running;
            p.io = Some(Arc::new(io));
            let early = self.claim(&mut st, pid, Owner::Exec(req.id.clone(), req.exec_id.clone()));
            self.publish(
                topics::TASK_EXEC_STARTED_EVENT_TOPIC,
                TaskExecStarted { container_id: req.id.clone(), exec_id: req.exec_id.clone(), pid: pid as u32, ..Default::default() },
            );
            early
        };
        if let Some(code) = early {
            self.exited(pid, code);
        }
        Ok(StartResponse { pid: pid as u32, ..Default::default() })
    }

    fn do_delete(&self, req: DeleteRequest) -> Result<DeleteResponse, Error> {
        if !req.exec_id.is_empty() {
            let mut st = self.lock();
            let t = st.tasks.get_mut(&req.id).ok_or_else(|| not_found(&req.id))?;
            let p = t.execs.get(&req.exec_id).ok_or_else(|| Error::NotFound(format!("process {}: not found", req.exec_id)))?;
            if p.phase == Phase::Running {
                return Err(Error::FailedPrecondition(format!("process {} is running", req.exec_id)));
            }
            let p = t.execs.remove(&req.exec_id).ok_or_else(|| not_found(&req.exec_id))?;
            let (code, at) = p.exit.unwrap_or((0, now()));
            return Ok(DeleteResponse { pid: p.pid as u32, exit_status: code, exited_at: MessageField::some(at), ..Default::default() });
        }
        let hooks = {
            let st = self.lock();
            let t = st.tasks.get(&req.id).ok_or_else(|| not_found(&req.id))?;
            if matches!(t.init.phase, Phase::Running | Phase::Paused) {
                return Err(Error::FailedPrecondition(format!("container {} is running", req.id)));
            }
            t.hooks
        };
        if hooks {
            self.helper(Job::Delete(&req.id), None)?.result.map_err(Error::Other)?;
        } else {
            match container::delete(&self.rt(), &req.id, true) {
                Ok(()) | Err(container::Error::State(berth::container::state::Error::NotFound(_))) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let t = {
            let mut st = self.lock();
            let t = st.tasks.remove(&req.id).ok_or_else(|| not_found(&req.id))?;
            st.owners.remove(&t.init.pid);
            t
        };
        if let Some(h) = t.unmounting {
            let _ = h.join();
        } else if t.mounted {
            unmount_rootfs(&t.bundle);
        }
        let (code, at) = t.init.exit.clone().unwrap_or((137, now()));
        self.publish(
            topics::TASK_DELETE_EVENT_TOPIC,
            TaskDelete { container_id: req.id.clone(), pid: t.init.pid as u32, exit_status: code, exited_at: MessageField::some(at.clone()), id: req.id.clone(), ..Default::default() },
        );
        Ok(DeleteResponse { pid: t.init.pid as u32, exit_status: code, exited_at: MessageField::some(at), ..Default::default() })
    }

    fn do_kill(&self, req: KillRequest) -> Result<(), Error> {
        let (pid, phase) = {
            let mut st = self.lock();
            let p = process(&mut st, &req.id, &req.exec_id)?;
            (p.pid, p.phase)
        };
        if phase == Phase::Stopped {
            return Err(Error::NotFound("process already finished".into()));
        }
        if !req.exec_id.is_empty() {
            if pid == 0 {
                return Err(Error::FailedPrecondition(format!("process {} is not started", req.exec_id)));
            }
            // SAFETY: kill(2) of a pid the shim reaps (so it cannot have been reused).
            if unsafe { libc::kill(pid, req.signal as i32) } != 0 {
                return Err(Error::NotFound("process already finished".into()));
            }
            return Ok(());
        }
        match container::kill(&self.rt(), &req.id, req.signal as i32, req.all) {
            Ok(()) => Ok(()),
            // Exited between the check and the kill.
            Err(container::Error::WrongState(m)) if m.contains("not running") || m.contains("stopped") => Err(Error::NotFound("process already finished".into())),
            Err(e) => Err(e.into()),
        }
    }

    fn do_exec(&self, req: ExecProcessRequest) -> Result<(), Error> {
        let any = req.spec.as_ref().ok_or_else(|| Error::invalid("exec: no process spec"))?;
        let spec: oci_spec::runtime::Process = serde_json::from_slice(&any.value).map_err(|e| Error::invalid(format!("exec: the process spec: {e}")))?;
        let mut st = self.lock();
        let t = st.tasks.get_mut(&req.id).ok_or_else(|| not_found(&req.id))?;
        if t.init.phase == Phase::Stopped {
            return Err(Error::FailedPrecondition(format!("container {} is stopped", req.id)));
        }
        if t.execs.contains_key(&req.exec_id) {
            return Err(Error::AlreadyExists(format!("process {}: already exists", req.exec_id)));
        }
        let mut p = Process::new(Paths { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, terminal: req.terminal });
        p.spec = Some(spec);
        t.execs.insert(req.exec_id.clone(), p);
        self.publish(topics::TASK_EXEC_ADDED_EVENT_TOPIC, TaskExecAdded { container_id: req.id, exec_id: req.exec_id, ..Default::default() });
        Ok(())
    }

    fn do_state(&self, req: StateRequest) -> Result<StateResponse, Error> {
        let mut st = self.lock();
        let bundle = st.tasks.get(&req.id).map(|t| t.bundle.clone()).unwrap_or_default();
        let p = process(&mut st, &req.id, &req.exec_id)?;
        let (code, at) = p.exit.clone().map(|(c, t)| (c, MessageField::some(t))).unwrap_or((0, MessageField::none()));
        Ok(StateResponse {
            id: if req.exec_id.is_empty() { req.id.clone() } else { req.exec_id.clone() },
            bundle,
            pid: p.pid as u32,
            status: status_of(p).into(),
            stdin: p.paths.stdin.clone(),
            stdout: p.paths.stdout.clone(),
            stderr: p.paths.stderr.clone(),
            terminal: p.paths.terminal,
            exit_status: code,
            exited_at: at,
            exec_id: req.exec_id,
            ..Default::default()
        })
    }

    fn do_pause(&self, id: &str, freeze: bool) -> Result<(), Error> {
        container::pause(&self.rt(), id, freeze)?;
        let mut st = self.lock();
        let p = process(&mut st, id, "")?;
        if p.phase != Phase::Stopped {
            p.phase = if freeze { Phase::Paused } else { Phase::Running };
        }
        if freeze {
            self.publish(topics::TASK_PAUSED_EVENT_TOPIC, TaskPaused { container_id: id.to_string(), ..Default::default() });
        } else {
            self.publish(topics::TASK_RESUMED_EVENT_TOPIC, TaskResumed { container_id: id.to_string(), ..Default::default() });
        }
        Ok(())
    }

    fn do_pids(&self, id: &str) -> Result<PidsResponse, Error> {
        if !self.lock().tasks.contains_key(id) {
            return Err(not_found(id));
        }
        let pids = container::pids(&self.rt(), id)?;
        let processes = pids.into_iter().map(|pid| ProcessInfo { pid: pid as u32, ..Default::default() }).collect();
        Ok(PidsResponse { processes, ..Default::default() })
    }

    fn do_update(&self, req: UpdateTaskRequest) -> Result<(), Error> {
        let any = req.resources.as_ref().ok_or_else(|| Error::invalid("update: no resources"))?;
        let patch: serde_json::Value = serde_json::from_slice(&any.value).map_err(|e| Error::invalid(format!("update: the resources: {e}")))?;
        let r: oci_spec::runtime::LinuxResources = serde_json::from_value(patch.clone()).map_err(|e| Error::invalid(format!("update: the resources: {e}")))?;
        for w in container::update(&self.rt(), &req.id, &r, &patch)? {
            log::warn!("{w}");
        }
        Ok(())
    }

    fn do_stats(&self, id: &str) -> Result<StatsResponse, Error> {
        let pid = {
            let mut st = self.lock();
            process(&mut st, id, "")?.pid
        };
        use containerd_shim::cgroup::{collect_metrics, collect_metrics_v2, get_cgroup};
        let cg = get_cgroup(pid as u32)?;
        // Named as typeurl names them (events.rs: no reflection).
        let any = if cg.v2() {
            crate::events::any("io.containerd.cgroups.v2", &collect_metrics_v2(&cg)?)?
        } else {
            crate::events::any("io.containerd.cgroups.v1", &collect_metrics(&cg)?)?
        };
        Ok(StatsResponse { stats: MessageField::some(any), ..Default::default() })
    }

    fn do_wait(&self, req: WaitRequest) -> Result<WaitResponse, Error> {
        let mut st = self.lock();
        loop {
            let p = process(&mut st, &req.id, &req.exec_id)?;
            if let Some((code, at)) = p.exit.clone() {
                return Ok(WaitResponse { exit_status: code, exited_at: MessageField::some(at), ..Default::default() });
            }
            st = self.0.changed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }
}

fn answer<T>(r: Result<T, Error>) -> TtrpcResult<T> {
    r.map_err(Into::into)
}

impl containerd_shim::Task for Service {
    fn create(&self, _: &TtrpcContext, req: CreateTaskRequest) -> TtrpcResult<CreateTaskResponse> {
        answer(self.do_create(req))
    }
    fn start(&self, _: &TtrpcContext, req: StartRequest) -> TtrpcResult<StartResponse> {
        answer(self.do_start(req))
    }
    fn delete(&self, _: &TtrpcContext, req: DeleteRequest) -> TtrpcResult<DeleteResponse> {
        answer(self.do_delete(req))
    }
    fn kill(&self, _: &TtrpcContext, req: KillRequest) -> TtrpcResult<Empty> {
        answer(self.do_kill(req).map(|()| Empty::new()))
    }
    fn exec(&self, _: &TtrpcContext, req: ExecProcessRequest) -> TtrpcResult<Empty> {
        answer(self.do_exec(req).map(|()| Empty::new()))
    }
    fn state(&self, _: &TtrpcContext, req: StateRequest) -> TtrpcResult<StateResponse> {
        answer(self.do_state(req))
    }
    fn pause(&self, _: &TtrpcContext, req: PauseRequest) -> TtrpcResult<Empty> {
        answer(self.do_pause(&req.id, true).map(|()| Empty::new()))
    }
    fn resume(&self, _: &TtrpcContext, req: ResumeRequest) -> TtrpcResult<Empty> {
        answer(self.do_pause(&req.id, false).map(|()| Empty::new()))
    }
    fn pids(&self, _: &TtrpcContext, req: PidsRequest) -> TtrpcResult<PidsResponse> {
        answer(self.do_pids(&req.id))
    }
    fn update(&self, _: &TtrpcContext, req: UpdateTaskRequest) -> TtrpcResult<Empty> {
        answer(self.do_update(req).map(|()| Empty::new()))
    }
    fn stats(&self, _: &TtrpcContext, req: StatsRequest) -> TtrpcResult<StatsResponse> {
        answer(self.do_stats(&req.id))
    }
    fn wait(&self, _: &TtrpcContext, req: WaitRequest) -> TtrpcResult<WaitResponse> {
        answer(self.do_wait(req))
    }
    fn close_io(&self, _: &TtrpcContext, req: CloseIORequest) -> TtrpcResult<Empty> {
        let mut st = self.lock();
        let p = answer(process(&mut st, &req.id, &req.exec_id))?;
        if let Some(io) = &p.io {
            io.close_stdin();
        }
        Ok(Empty::new())
    }
    fn resize_pty(&self, _: &TtrpcContext, req: ResizePtyRequest) -> TtrpcResult<Empty> {
        let io = {
            let mut st = self.lock();
            answer(process(&mut st, &req.id, &req.exec_id))?.io.clone()
        };
        if let Some(io) = io {
            answer(io.resize(req.width, req.height))?;
        }
        Ok(Empty::new())
    }
    fn connect(&self, _: &TtrpcContext, req: ConnectRequest) -> TtrpcResult<ConnectResponse> {
        let pid = self.lock().tasks.get(&req.id).map(|t| t.init.pid as u32).unwrap_or(0);
        Ok(ConnectResponse { shim_pid: std::process::id(), task_pid: pid, version: env!("CARGO_PKG_VERSION").to_string(), ..Default::default() })
    }
    fn shutdown(&self, _: &TtrpcContext, _req: ShutdownRequest) -> TtrpcResult<Empty> {
        if self.lock().tasks.is_empty() {
            self.0.exit.signal();
        }
        Ok(Empty::new())
    }
}
