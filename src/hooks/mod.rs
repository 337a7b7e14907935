//! Hooks (config.md "POSIX-platform Hooks"): each runs with the container's state JSON on
//! stdin, its own args and env, and an optional timeout in seconds.
//!
//! Where they run is decided by the caller: prestart/createRuntime/poststart/poststop in
//! the runtime's namespaces (berth itself), createContainer/startContainer inside the
//! container's namespaces (the init). Failure semantics (runtime.md): a failing prestart,
//! createRuntime, createContainer or startContainer hook is an error of the operation; a
//! failing poststart or poststop hook only produces a warning.

use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::Duration;

use oci_spec::runtime::{Hook, Hooks};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // runc's words ("error running hook #N: ..."), which scripts match, with the kind
    // and path added.
    #[error("error running hook #{index} ({kind} {path}): {source}")]
    Spawn { kind: &'static str, index: usize, path: String, source: std::io::Error },
    #[error("error running hook #{index} ({kind} {path}): {status}{stderr}")]
    Failed { kind: &'static str, index: usize, path: String, status: String, stderr: String },
    #[error("error running hook #{index} ({kind} {path}): hook ran past specified timeout of {secs}s")]
    Timeout { kind: &'static str, index: usize, path: String, secs: i64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Prestart => "prestart",
            Kind::CreateRuntime => "createRuntime",
            Kind::CreateContainer => "createContainer",
            Kind::StartContainer => "startContainer",
            Kind::Poststart => "poststart",
            Kind::Poststop => "poststop",
        }
    }
}

#[allow(deprecated)]
pub fn list(hooks: Option<&Hooks>, kind: Kind) -> &[Hook] {
    let Some(h) = hooks else { return &[] };
    let l = match kind {
        Kind::Prestart => h.prestart(),
        Kind::CreateRuntime => h.create_runtime(),
        Kind::CreateContainer => h.create_container(),
        Kind::StartContainer => h.start_container(),
        Kind::Poststart => h.poststart(),
        Kind::Poststop => h.poststop(),
    };
    l.as_deref().unwrap_or(&[])
}

/// Where a hook runs besides its own fields, as runc runs it.
#[derive(Default, Clone, Copy)]
pub struct Context<'a> {
    /// The working directory (createContainer: the rootfs); None: the caller's.
    pub cwd: Option<&'a std::path::Path>,
    /// The environment of a hook whose `env` is absent (startContainer: the process's);
    /// None: the caller's own. A hook with `env`, even empty, gets exactly that.
    pub env: Option<&'a [String]>,
}

/// Runs the hooks of one kind in order; stops at the first failure.
pub fn run_all(hooks: Option<&Hooks>, kind: Kind, state_json: &str, ctx: Context) -> Result<(), Error> {
    for (index, h) in list(hooks, kind).iter().enumerate() {
        run_one(h, kind.name(), index, state_json, ctx)?;
    }
    Ok(())
}

/// poststart and poststop (runtime.md: "the runtime MUST log a warning, but the remaining
/// hooks and lifecycle continue as if the hook had succeeded"): every hook runs; each
/// failure is returned, in order, for the caller to log.
pub fn run_all_warn(hooks: Option<&Hooks>, kind: Kind, state_json: &str) -> Vec<Error> {
    list(hooks, kind).iter().enumerate().filter_map(|(index, h)| run_one(h, kind.name(), index, state_json, Context::default()).err()).collect()
}

fn run_one(h: &Hook, kind: &'static str, index: usize, state: &str, ctx: Context) -> Result<(), Error> {
    let path = h.path().display().to_string();
    let mut cmd = Command::new(h.path());
    let args = h.args().as_deref().unwrap_or(&[]);
    // args[0] is argv[0] (execv semantics); the rest are the arguments.
    if let Some((first, rest)) = args.split_first() {
        use std::os::unix::process::CommandExt;
        cmd.arg0(first).args(rest);
    }
    if let Some(dir) = ctx.cwd {
        cmd.current_dir(dir);
    }
    // As Go's exec.Cmd: no env, the default environment; an env, only it.
    let env = h.env().as_deref().or(ctx.env);
    if let Some(env) = env {
        cmd.env_clear();
        for e in env {
            if let Some((k, v)) = e.split_once('=') {
                cmd.env(k, v);
            }
        }
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped());
    // Its own process group, so that a timeout kills the hook and everything it started.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().map_err(|source| Error::Spawn { kind, index, path: path.clone(), source })?;
    let timeout = h.timeout().map(|t| Duration::from_secs(t.max(0) as u64));
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    if let Some(stdin) = child.stdin.take() {
        // The timeout covers handing over the state too: a hook that never reads its
        // stdin must not block us once the state is larger than the pipe buffer. A hook
        // that exits without reading must not make us fail (EPIPE).
        write_state(stdin, state.as_bytes(), deadline);
    }
    if let (Some(t), Some(deadline)) = (timeout, deadline) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if !wait_exit(child.id() as i32, left) {
            // SAFETY: kill of the process group our child leads.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            return Err(Error::Timeout { kind, index, path, secs: t.as_secs() as i64 });
        }
    }
    let out = child.wait_with_output().map_err(|source| Error::Spawn { kind, index, path: path.clone(), source })?;
    if out.status.success() {
        return Ok(());
    }
    let mut stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if !stderr.is_empty() {
        stderr = format!(", stderr: {stderr}");
    }
    Err(Error::Failed { kind, index, path, status: out.status.to_string(), stderr })
}

/// Writes the state to the hook's stdin, giving up at `deadline` (never, without one) or
/// when the hook closed its end; the pipe is closed when this returns.
fn write_state(mut stdin: std::process::ChildStdin, mut data: &[u8], deadline: Option<std::time::Instant>) {
    let Some(deadline) = deadline else {
        let _ = stdin.write_all(data);
        return;
    };
    let fd = stdin.as_raw_fd();
    // SAFETY: fcntl on the pipe we own.
    unsafe { libc::fcntl(fd, libc::F_SETFL, libc::fcntl(fd, libc::F_GETFL) | libc::O_NONBLOCK) };
    while !data.is_empty() {
        match stdin.write(data) {
            Ok(0) => return,
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    return;
                }
                let mut p = libc::pollfd { fd, events: libc::POLLOUT, revents: 0 };
                // SAFETY: poll on one pollfd we own.
                unsafe { libc::poll(&mut p, 1, left.as_millis().clamp(1, i32::MAX as u128) as i32) };
            }
            Err(_) => return,
        }
    }
}

/// Waits up to `t` for the process to exit (without reaping it). True if it exited.
fn wait_exit(pid: i32, t: Duration) -> bool {
    // SAFETY: pidfd_open of our own child.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return true; // cannot watch it: let wait() decide
    }
    // SAFETY: a new fd owned here.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    let ms = t.as_millis().min(i32::MAX as u128) as i32;
    loop {
        // SAFETY: poll on one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r >= 0 {
            return r > 0;
        }
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(json: serde_json::Value) -> Hook {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn hook_gets_state_on_stdin_args_and_env() {
        let out = std::env::temp_dir().join(format!("berth-hook-{}", std::process::id()));
        let h = hook(serde_json::json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("cat > {0}; echo \"$1 $FOO\" >> {0}", out.display()), "sh", "arg1"],
            "env": ["FOO=bar"]
        }));
        run_one(&h, "prestart", 0, "{\"id\":\"x\"}", Context::default()).unwrap();
        let got = std::fs::read_to_string(&out).unwrap();
        std::fs::remove_file(&out).unwrap();
        assert_eq!(got, "{\"id\":\"x\"}arg1 bar\n");
    }

    #[test]
    fn failure_and_timeout_are_errors() {
        let h = hook(serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", "echo oops >&2; exit 3"]}));
        match run_one(&h, "createRuntime", 2, "{}", Context::default()) {
            Err(Error::Failed { index: 2, stderr, .. }) => assert!(stderr.contains("oops")),
            other => panic!("{other:?}"),
        }
        let h = hook(serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", "sleep 5"], "timeout": 1}));
        assert!(matches!(run_one(&h, "prestart", 0, "{}", Context::default()), Err(Error::Timeout { .. })));
    }

    #[test]
    fn the_timeout_covers_a_state_the_hook_never_reads() {
        // 1 MiB of state: far more than a pipe holds; the hook never reads stdin.
        let state = format!("{{\"id\":\"{}\"}}", "x".repeat(1 << 20));
        let h = hook(serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", "sleep 30"], "timeout": 1}));
        let t = std::time::Instant::now();
        assert!(matches!(run_one(&h, "prestart", 0, &state, Context::default()), Err(Error::Timeout { .. })));
        assert!(t.elapsed() < Duration::from_secs(5), "took {:?}", t.elapsed());
        // A hook that exits without reading is a success, whatever the state's size.
        let h = hook(serde_json::json!({"path": "/bin/true", "timeout": 5}));
        run_one(&h, "prestart", 0, &state, Context::default()).unwrap();
        let h = hook(serde_json::json!({"path": "/bin/true"}));
        run_one(&h, "prestart", 0, &state, Context::default()).unwrap();
    }
}
