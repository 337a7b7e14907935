//! containerd-shim-berth-v2: containerd's shim v2 for berth (`runtime_type =
//! "io.containerd.berth.v2"`), linking berth's library: create, start, exec, kill, delete,
//! pause, resume, update, stats and stdio without executing a runtime binary.
//!
//! - `task`: the Task API, the processes, their exits and events
//! - `helper`: the single-threaded fork each clone of a container process happens in
//! - `io`: stdio (FIFOs handed to the process, stdin and pty copies)
//! - `oom`: OOM events
//!
//! The shim's own lifecycle (containerd's `start` and `delete` actions, the ttrpc server,
//! the reaper) is the `containerd-shim` crate's, in its synchronous form: no async runtime.

mod error;
mod events;
mod helper;
mod io;
mod oom;
mod serve;
mod task;

// No allocator of its own (berth's binary brings dlmalloc on musl): the helpers are
// fork(2)s of this multi-threaded process that allocate, and only the libc's malloc (glibc's
// or musl's) is held consistent across fork. With dlmalloc a helper forked while another
// thread held its lock hung (make bench, the 8th of 20 containers); helper.rs's test.
use std::path::PathBuf;
use std::sync::Arc;

use containerd_shim::api::DeleteResponse;
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::{Config, ExitSignal, Flags, StartOpts};

pub use error::Error;

const RUNTIME_ID: &str = "io.containerd.berth.v2";
/// The annotation containerd's CRI plugin puts on every container of a pod: one shim
/// serves the pod.
const SANDBOX_ID: &str = "io.kubernetes.cri.sandbox-id";

struct Shim {
    namespace: String,
    id: String,
    exit: Arc<ExitSignal>,
}

/// The state root: $BERTH_SHIM_ROOT or /run/containerd/berth, then the namespace (the
/// runc shim's layout). A create given the runc shim's options may move it (Root).
fn root(namespace: &str) -> PathBuf {
    let base = std::env::var_os("BERTH_SHIM_ROOT").filter(|v| !v.is_empty()).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(task::DEFAULT_ROOT));
    base.join(namespace)
}

fn grouping(id: &str) -> String {
    std::fs::read_to_string("config.json")
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["annotations"][SANDBOX_ID].as_str().map(str::to_string))
        .unwrap_or_else(|| id.to_string())
}

impl Shim {
    fn service(&self, ttrpc_address: &str) -> Result<task::Service, containerd_shim::Error> {
        let events = events::Publisher::connect(ttrpc_address, &self.namespace)?;
        Ok(task::Service::new(&self.namespace, root(&self.namespace), events, self.exit.clone()))
    }
}

/// The crate's `spawn`, but the serving shim is executed from a sealed copy of this binary
/// (berth's seal::sealed_copy): it starts sealed instead of re-executing itself to be, one
/// execution of the binary less on every container's (or pod's) start. Returns when the
/// server listens (it then releases its stdout).
fn spawn(opts: &StartOpts, group: &str) -> Result<String, containerd_shim::Error> {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let io = |context: &str| {
        let context = context.to_string();
        move |err| containerd_shim::Error::IoError { context, err }
    };
    let address = opts.socket_address(group);
    let exe = std::env::current_exe().map_err(io("the shim's own path"))?;
    let sealed = berth::process::seal::sealed_copy().map_err(|e| containerd_shim::Error::Other(format!("seal the shim: {e}")))?;
    let mut cmd = std::process::Command::new(format!("/proc/self/fd/{}", sealed.as_raw_fd()));
    cmd.arg0(&exe)
        .current_dir(std::env::current_dir().map_err(io("the bundle directory"))?)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .args(["-namespace", &opts.namespace, "-id", &opts.id, "-address", &opts.address, "-socket", &address]);
    if !opts.ttrpc_address.is_empty() {
        cmd.env("TTRPC_ADDRESS", &opts.ttrpc_address);
    }
    if opts.debug {
        cmd.arg("-debug");
    }
    let mut child = cmd.spawn().map_err(io("start the serving shim"))?;
    drop(sealed);
    if let Some(mut out) = child.stdout.take() {
        let _ = std::io::copy(&mut out, &mut std::io::stderr());
    }
    Ok(address)
}

impl containerd_shim::Shim for Shim {
    type T = task::Service;

    fn new(_runtime_id: &str, args: &Flags, _config: &mut Config) -> Self {
        Shim { namespace: args.namespace.clone(), id: args.id.clone(), exit: Arc::new(ExitSignal::default()) }
    }

    fn start_shim(&mut self, opts: StartOpts) -> Result<String, containerd_shim::Error> {
        let group = grouping(&opts.id);
        let legacy = opts.containerd_version.is_empty();
        let address = spawn(&opts, &group)?;
        containerd_shim::util::write_address(&address)?;
        if legacy {
            // containerd before 2.3 reads the bare address (1.6 only that; 1.7 to 2.2 take
            // it as a task API v2 shim, which this one also is). The crate would answer
            // JSON naming API v3, which 1.6 cannot parse.
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(address.as_bytes()).and_then(|()| out.flush());
            std::process::exit(0);
        }
        Ok(address)
    }

    /// containerd's clean-up after a shim died: the container is removed by force, its
    /// rootfs unmounted (the cwd is its bundle).
    fn delete_shim(&mut self) -> Result<DeleteResponse, containerd_shim::Error> {
        let root = std::fs::read_to_string(task::ROOT_FILE).map(PathBuf::from).unwrap_or_else(|_| root(&self.namespace));
        let rt = berth::container::Runtime { root, systemd_cgroup: false, rootless: false };
        if let Err(e) = berth::container::delete(&rt, &self.id, true) {
            log::warn!("delete {}: {e}", self.id);
        }
        if let Ok(cwd) = std::env::current_dir() {
            task::unmount_rootfs(&cwd.to_string_lossy());
        }
        Ok(DeleteResponse {
            exit_status: 128 + libc::SIGKILL as u32,
            exited_at: containerd_shim::protos::protobuf::MessageField::some(containerd_shim::util::timestamp()?),
            ..Default::default()
        })
    }

    fn wait(&mut self) {
        self.exit.wait();
    }

    /// Not called: main() hands only `start`, `delete` and `-info` to the crate, and the
    /// serving loop is serve.rs's, which makes the service with service(). The crate's
    /// publisher is dropped (events.rs says why).
    fn create_task_service(&self, _publisher: RemotePublisher) -> Self::T {
        let address = std::env::var("TTRPC_ADDRESS").unwrap_or_default();
        self.service(&address).unwrap_or_else(|e| {
            log::error!("events: {e}");
            task::Service::new(&self.namespace, root(&self.namespace), events::Publisher::closed(), self.exit.clone())
        })
    }}

/// The serving shim forks every container process: like berth's create, it first runs
/// from a copy of its binary no container can write (CVE-2019-5736, berth's
/// process/seal.rs). The actions (`start`, `delete`, `-info`) are the crate's.
fn main() {
    // One malloc arena for all threads: the shim's threads mostly wait, and an arena per
    // thread (glibc's default, up to 8 per core) is heap each shim keeps for nothing.
    // (musl's malloc has no per-thread arenas.)
    // SAFETY: mallopt before any thread exists.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1)
    };
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let flags = match containerd_shim::parse(&args) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{RUNTIME_ID}: {e}");
            std::process::exit(2);
        }
    };
    if flags.version {
        println!("containerd-shim-berth-v2:\n  Version:  {}\n  Runtime:  {RUNTIME_ID}", env!("CARGO_PKG_VERSION"));
        return;
    }
    if flags.info || matches!(flags.action.as_str(), "start" | "delete") {
        containerd_shim::run::<Shim>(RUNTIME_ID, None);
        return;
    }
    if !flags.action.is_empty() {
        eprintln!("{RUNTIME_ID}: unknown action {:?}: start, delete, or none to serve", flags.action);
        std::process::exit(2);
    }
    if let Err(e) = berth::process::seal::ensure() {
        eprintln!("{RUNTIME_ID}: {e}");
        std::process::exit(1);
    }
    if let Err(e) = serve::run(RUNTIME_ID, flags) {
        // stderr is /dev/null once `start` forked us: containerd reads the log FIFO.
        log::error!("{e}");
        eprintln!("{RUNTIME_ID}: {e}");
        std::process::exit(1);
    }
}
