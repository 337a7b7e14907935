//! `exec`: builds the process (from --process, or from the container's process with the
//! command line's changes, as runc does), runs it, and in the foreground waits for it
//! and exits with its status. A failure of exec itself exits 255, as in runc.

use oci_spec::runtime::{Capability, Process};

use super::args::ExecArgs;
use super::{run, Failure};
use crate::container::{self, ExecOptions, Runtime};

fn exec_failure(msg: String) -> Failure {
    Failure { msg, code: 255 }
}

/// runc's rule: -e adds to (or replaces in) the container's env; PATH stays unless set.
fn merge_env(base: &mut Vec<String>, add: &[String]) {
    for e in add {
        let key = e.split('=').next().unwrap_or_default();
        base.retain(|b| b.split('=').next() != Some(key));
        base.push(e.clone());
    }
}

fn build_process(rt: &Runtime, a: &ExecArgs) -> Result<Process, Failure> {
    if let Some(path) = &a.process {
        let mut p = crate::config::load_process(path).map_err(|e| exec_failure(e.to_string()))?;
        if a.tty {
            p.set_terminal(Some(true));
        }
        return Ok(p);
    }
    if a.command.is_empty() {
        return Err(exec_failure("exec needs a command to run (or --process FILE)".into()));
    }
    let mut p = container::process_of(rt, &a.id).map_err(|e| exec_failure(e.to_string()))?;
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    let mut env = p.env().clone().unwrap_or_default();
    merge_env(&mut env, &a.env);
    p.set_env(Some(env));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some(u) = &a.user {
        let (uid, gid) = u.split_once(':').map_or((u.as_str(), None), |(x, y)| (x, Some(y)));
        let uid: u32 = uid.parse().map_err(|_| exec_failure(format!("--user {u:?}: expected UID[:GID] as numbers")))?;
        p.user_mut().set_uid(uid);
        if let Some(g) = gid {
            let gid: u32 = g.parse().map_err(|_| exec_failure(format!("--user {u:?}: expected UID[:GID] as numbers")))?;
            p.user_mut().set_gid(gid);
        }
    }
    if !a.additional_gids.is_empty() {
        p.user_mut().set_additional_gids(Some(a.additional_gids.clone()));
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for name in &a.cap {
            let full = if name.starts_with("CAP_") { name.clone() } else { format!("CAP_{name}") };
            let cap: Capability = serde_json::from_value(serde_json::Value::String(full.clone())).map_err(|_| exec_failure(format!("--cap {name:?}: unknown capability")))?;
            let add = |s: &Option<oci_spec::runtime::Capabilities>| {
                let mut v = s.clone().unwrap_or_default();
                v.insert(cap);
                Some(v)
            };
            // As runc since CVE-2022-29162: bounding, effective and permitted only.
            // Inheritable and ambient come from the process alone, never from --cap.
            caps.set_bounding(add(caps.bounding()));
            caps.set_effective(add(caps.effective()));
            caps.set_permitted(add(caps.permitted()));
        }
        p.set_capabilities(Some(caps));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(x) = &a.apparmor {
        p.set_apparmor_profile(Some(x.clone()));
    }
    if let Some(x) = &a.process_label {
        p.set_selinux_label(Some(x.clone()));
    }
    Ok(p)
}

pub fn exec(rt: &Runtime, a: &ExecArgs) -> Result<i32, Failure> {
    let mut process = build_process(rt, a)?;
    let terminal = process.terminal().unwrap_or(false);
    // Relayed from our own terminal: the pty is made at its size (the process would
    // otherwise start on a 0x0 pty and race the relay's resize), unless the process
    // names its own consoleSize, which then stands.
    let explicit_size = process.console_size().is_some();
    if terminal && a.console_socket.is_none() && !explicit_size {
        if let Some((rows, cols)) = super::relay::terminal_size() {
            process.set_console_size(oci_spec::runtime::BoxBuilder::default().height(u64::from(rows)).width(u64::from(cols)).build().ok());
        }
    }
    if terminal && a.console_socket.is_none() && a.detach {
        return Err(exec_failure(format!("exec failed: {}", crate::tty::Error::NoConsoleSocket)));
    }
    let relay = if terminal && a.console_socket.is_none() {
        Some(super::relay::console_pair().map_err(|e| exec_failure(format!("console: {e}")))?)
    } else {
        None
    };
    let sub = match a.cgroup.as_slice() {
        [] => None,
        [one] => Some(one.rsplit_once(':').map_or(one.as_str(), |(_, p)| p)),
        _ => return Err(exec_failure("--cgroup: one sub-cgroup for all controllers is supported".into())),
    };
    let set = if a.detach { None } else { Some(run::block_all()) };
    let o = ExecOptions {
        id: &a.id,
        process: &process,
        pid_file: a.pid_file.as_deref(),
        console_socket: a.console_socket.as_deref(),
        console_fd: relay.as_ref().map(|(_, theirs)| std::os::fd::AsRawFd::as_raw_fd(theirs)),
        preserve_fds: a.preserve_fds,
        ignore_paused: a.ignore_paused,
        sub_cgroup: sub,
    };
    let pid = container::exec(rt, &o).map_err(|e| exec_failure(e.to_string()))?;
    match (set, relay) {
        (None, _) => Ok(0),
        (Some(set), Some((ours, theirs))) => {
            drop(theirs);
            Ok(super::relay::relay(ours, pid, &set, !explicit_size).unwrap_or_else(|_| run::wait_forwarding(pid, &set)))
        }
        (Some(set), None) => Ok(run::wait_forwarding(pid, &set)),
    }
}

