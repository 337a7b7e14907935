//! The serving shim (containerd runs the binary with no action word once `start` forked
//! it): the ttrpc server, the reaper, the wait for the exit signal.
//!
//! The `containerd-shim` crate's own loop registers the Task service under
//! `containerd.task.v3` only, which containerd 2.x calls; containerd 1.6 and 1.7 call
//! `containerd.task.v2` (the same messages under the older package). This loop registers
//! both names, and is otherwise the crate's: a subreaper, SIGCHLD reaping into the
//! crate's exit monitor, stdout released once the socket listens.

use std::os::fd::IntoRawFd;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::Arc;

use containerd_shim::protos::shim::shim_ttrpc::create_task;
use containerd_shim::protos::ttrpc::{Client, Server};
use containerd_shim::{Config, Error, Flags, Shim as _};
use signal_hook::iterator::Signals;

use crate::Shim;

fn io(context: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |err| Error::IoError { context: context.to_string(), err }
}

fn socket_path(address: &str) -> &str {
    address.strip_prefix("unix://").unwrap_or(address)
}

/// Binds the shim's socket. A socket already bound and answering is another shim of the
/// same group (a race of two `start`s): this one then has nothing to serve (None).
fn listen(address: &str) -> Result<Option<UnixListener>, Error> {
    let path = Path::new(socket_path(address));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io("create the socket's directory"))?;
    }
    match UnixListener::bind(path) {
        Ok(l) => Ok(Some(l)),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            for _ in 0..5 {
                if Client::connect(address).is_ok() {
                    return Ok(None);
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            let _ = std::fs::remove_file(path);
            UnixListener::bind(path).map(Some).map_err(io("bind the shim socket"))
        }
        Err(e) => Err(io("bind the shim socket")(e)),
    }
}

/// Reaps every child (the containers' processes are reparented to the shim, a
/// subreaper) and hands each exit to the crate's monitor, which the task service
/// subscribes to.
fn reap(mut signals: Signals) {
    for sig in signals.forever() {
        if sig != libc::SIGCHLD {
            continue;
        }
        loop {
            let mut status = 0;
            // SAFETY: waitpid on any child with a status we own.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                if pid < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                break;
            }
            let code = if libc::WIFSIGNALED(status) { 128 + libc::WTERMSIG(status) } else { libc::WEXITSTATUS(status) };
            if let Err(e) = containerd_shim::monitor::monitor_notify_by_pid(pid, code) {
                log::error!("exit of {pid}: {e}");
            }
        }
    }
}

pub fn run(runtime_id: &str, flags: Flags) -> Result<(), Error> {
    if flags.socket.is_empty() {
        return Err(Error::InvalidArgument("the shim socket (-socket) is empty".into()));
    }
    if flags.namespace.is_empty() {
        return Err(Error::InvalidArgument("the namespace (-namespace) is empty".into()));
    }
    let signals = Signals::new([libc::SIGTERM, libc::SIGINT, libc::SIGPIPE, libc::SIGCHLD]).map_err(io("install signal handlers"))?;
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) } != 0 {
        return Err(io("become a subreaper")(std::io::Error::last_os_error()));
    }
    let Some(listener) = listen(&flags.socket)? else {
        return Ok(());
    };
    // `start` reads our stdout to its end, and containerd dials the socket once it has the
    // address: release stdout as soon as the socket listens (the crate's
    // signal_server_started). containerd's connection waits in the backlog, and its first
    // request in the socket, while the rest is set up.
    // SAFETY: dup2 of the process's own standard fds.
    unsafe { libc::dup2(libc::STDERR_FILENO, libc::STDOUT_FILENO) };
    let (server, mut shim) = match serve(runtime_id, &flags, listener) {
        Ok(s) => s,
        Err(e) => {
            // Nothing serves the socket: leave no socket file for containerd to dial.
            let _ = std::fs::remove_file(socket_path(&flags.socket));
            return Err(e);
        }
    };
    std::thread::Builder::new().name("reaper".into()).spawn(move || reap(signals)).map_err(io("start the reaper"))?;
    shim.wait();
    server.shutdown();
    let _ = std::fs::remove_file(socket_path(&flags.socket));
    Ok(())
}

/// The service and its server, on the socket `start` already handed to containerd.
fn serve(runtime_id: &str, flags: &Flags, listener: UnixListener) -> Result<(Server, Shim), Error> {
    containerd_shim::logger::init(flags.debug, "info", &flags.namespace, &flags.id)?;
    let ttrpc_address = std::env::var("TTRPC_ADDRESS").map_err(|_| Error::InvalidArgument("TTRPC_ADDRESS is not set".into()))?;
    let shim = Shim::new(runtime_id, flags, &mut Config::default());
    let service: Arc<dyn containerd_shim::Task + Send + Sync> = Arc::new(shim.service(&ttrpc_address)?);
    let mut methods = create_task(service.clone());
    let v2: Vec<_> = create_task(service).into_iter().map(|(name, m)| (name.replace("/containerd.task.v3.", "/containerd.task.v2."), m)).collect();
    methods.extend(v2);
    // containerd keeps one connection; a worker blocks in each Wait. One idle worker at
    // least, two started, at most three idle kept (ttrpc wants min < default < max; its
    // default 1 < 3 < 5 keeps more threads, each with its stack, for nothing).
    let mut server = Server::new()
        .set_thread_count_min(1)
        .set_thread_count_default(2)
        .set_thread_count_max(3)
        .add_listener(listener.into_raw_fd())?
        .register_service(methods);
    server.start()?;
    Ok((server, shim))
}
