//! `exec`: run a new process inside a running container.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Process};

use crate::namespaces::{self, Join};
use crate::process::spawn::{self, Spawn};
use crate::process::sync::{self, FromInit, ToInit};
use crate::process::enter;
use crate::util;

use super::{io_err, Container, Error, Runtime, Status};

pub struct ExecOptions<'a> {
    pub id: &'a str,
    pub process: &'a Process,
    pub pid_file: Option<&'a Path>,
    pub console_socket: Option<&'a Path>,
    /// An already connected console socket (foreground `exec -t` relaying the pty).
    pub console_fd: Option<RawFd>,
    pub preserve_fds: u32,
    pub ignore_paused: bool,
    /// `--cgroup`: a sub-cgroup of the container's (relative, never `..`).
    pub sub_cgroup: Option<&'a str>,
}

/// The namespaces of the container's init to join: every type its config lists (the
/// others it shares with the host, and so do we).
fn namespaces_of(c: &Container, spec: &crate::config::Spec) -> Result<(Vec<Join>, Option<Join>), Error> {
    let list = spec.linux().as_ref().and_then(|l| l.namespaces().clone()).unwrap_or_default();
    let mut joins = Vec::new();
    let mut pid_join = None;
    for ns in list {
        let t = ns.typ();
        let path = PathBuf::from(format!("/proc/{}/ns/{}", c.state.pid, namespaces::proc_name(t)));
        let file = util::fs::open_cloexec(&path).map_err(io_err(format!("open {}", path.display())))?;
        let j = Join { typ: t, path, file };
        if t == LinuxNamespaceType::Pid {
            pid_join = Some(j);
        } else {
            joins.push(j);
        }
    }
    // Joined in namespaces::join_all's order, user last: the container's network namespace
    // may be the host user namespace's (a pod's), and its time namespace is berth's when
    // it has a user namespace; neither can be joined from inside the container's.
    Ok((joins, pid_join))
}

/// `--cgroup` as runc joins it to the container's cgroup: "/" and "" are the container's
/// own, "a/b" and "/a/b" below it; a path whose ".." would leave it is refused (None).
fn sub_cgroup(sub: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(sub).components() {
        match c {
            std::path::Component::Normal(n) => out.push(n),
            std::path::Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            _ => {}
        }
    }
    Some(out)
}

/// What a process left out is taken from the container's own process, as runc does for
/// the fields that bound its privileges: without `capabilities` it gets the container's
/// five sets (never the full set of the root that runs berth), without `rlimits` the
/// container's limits, without LSM labels the container's.
fn complete(p: &Process, spec: &crate::config::Spec) -> Process {
    let Some(base) = spec.process().as_ref() else { return p.clone() };
    let mut p = p.clone();
    if p.capabilities().is_none() {
        p.set_capabilities(base.capabilities().clone());
    }
    if p.rlimits().as_ref().is_none_or(|r| r.is_empty()) {
        p.set_rlimits(base.rlimits().clone());
    }
    if p.apparmor_profile().is_none() {
        p.set_apparmor_profile(base.apparmor_profile().clone());
    }
    if p.selinux_label().is_none() {
        p.set_selinux_label(base.selinux_label().clone());
    }
    p
}

/// Starts the process; returns its pid (our child) once it has exec'd.
pub fn exec(rt: &Runtime, o: &ExecOptions) -> Result<i32, Error> {
    let c = Container::load(rt, o.id)?;
    let status = c.status();
    if !status.can_exec(o.ignore_paused) {
        return Err(Error::WrongState(match status {
            Status::Paused => "cannot exec in a paused container (use --ignore-paused)".into(),
            s => format!("cannot exec in a {} container", s.as_str()),
        }));
    }
    // Parsed once: the namespaces and the seccomp profile both come from it.
    let spec = c.spec().ok_or_else(|| Error::WrongState("the container's saved config is unreadable".into()))?;
    let process = complete(o.process, &spec);
    let (joins, pid_join) = namespaces_of(&c, &spec)?;
    let profile = spec.linux().as_ref().and_then(|l| l.seccomp().clone());
    let seccomp = profile.as_ref().map(|s| crate::seccomp::compile_cached(&rt.root, s)).transpose()?;
    let listener = crate::seccomp::connect_listener(seccomp.as_ref(), profile.as_ref())?;
    let state = c.state.hook_state(c.status());
    let cgroup = match o.sub_cgroup {
        Some(sub) => {
            let rel = sub_cgroup(sub).ok_or_else(|| Error::WrongState(format!("{sub} is not a sub cgroup path")))?;
            c.state.cgroup.below(&rel).map_err(|missing| Error::WrongState(format!("--cgroup {sub:?}: {} does not exist", missing.display())))?
        }
        None => c.state.cgroup.clone(),
    };
    // The container's lock is not held while the process runs.
    drop(c);
    let console: Option<OwnedFd> = crate::tty::console_for(process.terminal().unwrap_or(false), o.console_socket, o.console_fd)
        .map_err(|e| Error::WrongState(e.to_string()))?;
    let (parent_end, child_end) = sync::pair().map_err(io_err("socketpair"))?;
    let min = 3 + o.preserve_fds as RawFd;
    let child_end = child_end.move_above(min).map_err(io_err("dup fd"))?;
    let console = console.map(|f| spawn::above(f, min)).transpose().map_err(io_err("dup fd"))?;
    let listener = listener.map(|f| spawn::above(f, min)).transpose().map_err(io_err("dup fd"))?;
    // Rootless, the parent cannot enter the container's pid namespace (setns needs
    // CAP_SYS_ADMIN in its own user namespace): the child does, once in the container's
    // user namespace, and forks the process that is then in it (`Pid`).
    let (parent_pid_join, child_pid_join) = if rt.rootless { (None, pid_join.as_ref()) } else { (pid_join.as_ref(), None) };
    let args = enter::EnterArgs {
        process: &process,
        joins: &joins,
        cgroup: &cgroup,
        sync: &child_end,
        console: console.as_ref().map(|f| f.as_raw_fd()),
        preserve_fds: o.preserve_fds,
        parent_pid: std::process::id() as i32,
        seccomp: seccomp.as_ref(),
        seccomp_listener: listener.as_ref().map(|f| f.as_raw_fd()),
        pid_join: child_pid_join,
    };
    let target = cgroup.clone_target();
    let how = Spawn {
        flags: 0,
        pid_join: parent_pid_join,
        cgroup: target.as_ref().map(|f| f.as_raw_fd()),
        runtime_end: parent_end.raw(),
        subreaper: child_pid_join.is_some(),
    };
    let (mut child, born_inside) = spawn::spawn(&how, || enter::run(&args))?;
    drop(child_end);
    drop(console);
    drop(listener);
    if child_pid_join.is_some() {
        match parent_end.recv().map_err(io_err("sync with exec child"))? {
            Some(FromInit::Pid(n)) => child.replace(n),
            Some(FromInit::Error(m)) => return Err(Error::Exec(m)),
            other => return Err(Error::Exec(format!("expected Pid, got {other:?}"))),
        }
    }
    if !born_inside {
        cgroup.add_v2(child.pid())?;
    }
    // From here on a failure drops `child`: killed and reaped.
    parent_end.send(&ToInit::Go(state)).map_err(io_err("sync with exec child"))?;
    match parent_end.recv() {
        Ok(None) => {}
        Ok(Some(FromInit::Error(m))) => return Err(Error::Exec(m)),
        Ok(Some(m)) => return Err(Error::Exec(format!("unexpected {m:?}"))),
        Err(e) => return Err(io_err("sync with exec child")(e)),
    }
    let pid = child.keep();
    if let Some(pf) = o.pid_file {
        let abs = if pf.is_absolute() { pf.to_path_buf() } else { std::env::current_dir().map_err(io_err("cwd"))?.join(pf) };
        util::fs::write_atomic(&abs, pid.to_string().as_bytes(), 0o644).map_err(io_err(format!("pid file {}", abs.display())))?;
    }
    Ok(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_cgroups_resolve_as_runc_joins_them() {
        assert_eq!(sub_cgroup("/"), Some(PathBuf::new()));
        assert_eq!(sub_cgroup(""), Some(PathBuf::new()));
        assert_eq!(sub_cgroup("a/b"), Some(PathBuf::from("a/b")));
        assert_eq!(sub_cgroup("/a/./b/"), Some(PathBuf::from("a/b")));
        assert_eq!(sub_cgroup("a/../b"), Some(PathBuf::from("b")));
        assert_eq!(sub_cgroup(".."), None);
        assert_eq!(sub_cgroup("a/../../x"), None);
    }
}
