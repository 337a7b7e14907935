//! The systemd cgroup driver (`--systemd-cgroup`): the container's cgroup is a transient
//! scope unit that systemd makes and owns, as runc's systemd driver does.
//!
//! - `linux.cgroupsPath` is runc's `slice:prefix:name`: the scope `prefix-name.scope` in
//!   `slice` (default `system.slice`; `-.slice` is the root), nested slices expanded as
//!   systemd does (`kubepods-burstable-pod1.slice` lives in `kubepods.slice/
//!   kubepods-burstable.slice/`), so its directory is known before the unit exists;
//! - `create` starts the scope with the init's pid (StartTransientUnit, Delegate=yes), the
//!   limits systemd knows as unit properties (memory, CPU, cpuset, tasks, I/O weight and
//!   throttles), waits for the job, then writes every limit
//!   to the cgroup files too (as runc: systemd's properties do not cover them all);
//! - `update` sets the properties (SetUnitProperties) and the files; `delete` stops the
//!   unit (StopUnit); pause, resume, ps, events and stats read and write the scope's
//!   cgroup directory like any cgroup2 directory.
//!
//! Rootless (`--rootless`, or not root), the scope is the user's systemd's, reached on
//! its private socket ($XDG_RUNTIME_DIR/systemd/private) or the user's bus, in its
//! user.slice by default, as runc.
//!
//! On v1 and hybrid hosts systemd makes the scope in the hierarchies it manages
//! (name=systemd, memory, cpu,cpuacct, blkio, pids, and cgroup2 on hybrid); berth makes,
//! joins and removes the others itself (Cgroup::start_scope), as runc's v1 driver does.

pub mod dbus;

use std::path::{Path, PathBuf};
use std::time::Duration;

use dbus::{Connection, Value};
use oci_spec::runtime::LinuxResources;

use super::Error;

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";

/// A container's scope unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The unit's name, e.g. `docker-ID.scope`.
    pub unit: String,
    pub slice: String,
    /// Of the user's systemd (rootless), over the user's bus; else the system's.
    pub user: bool,
}

/// Where a container's scope goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub scope: Scope,
    /// Its directory below the cgroup2 root, e.g. `system.slice/docker-ID.scope`.
    pub rel: PathBuf,
}

fn bad(raw: &str, why: &str) -> Error {
    Error::Systemd(format!("linux.cgroupsPath {raw:?}: {why} (systemd's form is slice:prefix:name)"))
}

/// runc's grammar for `linux.cgroupsPath` under `--systemd-cgroup`; empty: the
/// container's id with prefix `berth`, in system.slice (or, `user`, the user manager's
/// user.slice, as runc). A user scope's directory is below the user manager's own cgroup,
/// which is asked of it.
pub fn placement(cgroups_path: Option<&str>, id: &str, user: bool) -> Result<Placement, Error> {
    let mut p = place(cgroups_path, id, user)?;
    if user {
        let base = manager_cgroup(true)?;
        p.rel = Path::new(base.trim_start_matches('/')).join(&p.rel);
    }
    Ok(p)
}

/// `placement` without asking systemd: the directory below the manager's cgroup.
fn place(cgroups_path: Option<&str>, id: &str, user: bool) -> Result<Placement, Error> {
    let raw = cgroups_path.unwrap_or("");
    let (slice, prefix, name) = if raw.is_empty() {
        ("", "berth", id)
    } else {
        let parts: Vec<&str> = raw.split(':').collect();
        match parts[..] {
            [s, p, n] => (s, p, n),
            _ => return Err(bad(raw, "not three fields")),
        }
    };
    if name.is_empty() || name.contains('/') || prefix.contains('/') {
        return Err(bad(raw, "a bad unit name"));
    }
    let slice = match slice {
        "" if user => "user.slice",
        "" => "system.slice",
        s => s,
    };
    let unit = if name.ends_with(".slice") {
        return Err(bad(raw, "a slice as the container's own unit is not supported"));
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    Ok(Placement { rel: expand_slice(raw, slice)?.join(&unit), scope: Scope { unit, slice: slice.to_string(), user } })
}

/// systemd's slice hierarchy: `a-b-c.slice` is `a.slice/a-b.slice/a-b-c.slice`; `-.slice`
/// the root.
pub fn expand_slice(raw: &str, slice: &str) -> Result<PathBuf, Error> {
    let base = slice.strip_suffix(".slice").ok_or_else(|| bad(raw, "the slice must end in .slice"))?;
    if slice.contains('/') {
        return Err(bad(raw, "a slice name has no '/'"));
    }
    if base == "-" {
        return Ok(PathBuf::new());
    }
    if base.is_empty() || base.starts_with('-') || base.ends_with('-') || base.contains("--") {
        return Err(bad(raw, "a bad slice name"));
    }
    let mut out = PathBuf::new();
    let mut prefix = String::new();
    for part in base.split('-') {
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        out.push(format!("{prefix}.slice"));
    }
    Ok(out)
}

fn sd_err(what: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::Systemd(format!("systemd cgroup driver: {what}: {e}"))
}

fn prop(name: &str, v: Value) -> Value {
    Value::Struct(vec![Value::Str(name.into()), Value::Variant(Box::new(v))])
}

/// A cpuset list ("0-2,4") as systemd's AllowedCPUs/AllowedMemoryNodes bitmask.
fn cpuset_mask(list: &str) -> Option<Vec<u8>> {
    let mut bits: Vec<u8> = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<usize>().ok()?, b.parse::<usize>().ok()?),
            None => (part.parse().ok()?, part.parse().ok()?),
        };
        if a > b || b > 8191 {
            return None;
        }
        for i in a..=b {
            if bits.len() <= i / 8 {
                bits.resize(i / 8 + 1, 0);
            }
            bits[i / 8] |= 1 << (i % 8);
        }
    }
    Some(bits)
}

/// The limits systemd has unit properties for, as runc's systemd v2 driver sets them.
pub fn resource_properties(r: &LinuxResources) -> Vec<Value> {
    let mut out = Vec::new();
    let max = |v: i64| if v < 0 { u64::MAX } else { v as u64 };
    if let Some(m) = r.memory() {
        if let Some(l) = m.limit().filter(|l| *l != 0) {
            out.push(prop("MemoryMax", Value::U64(max(l))));
            if let Some(s) = m.swap().filter(|s| *s != 0) {
                let swap = if s < 0 || l < 0 { u64::MAX } else { (s - l).max(0) as u64 };
                out.push(prop("MemorySwapMax", Value::U64(swap)));
            }
        }
        if let Some(low) = m.reservation().filter(|v| *v > 0) {
            out.push(prop("MemoryLow", Value::U64(low as u64)));
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(s) = c.shares().filter(|s| *s != 0) {
            out.push(prop("CPUWeight", Value::U64(super::resources::shares_to_weight(s))));
        }
        let period = c.period().filter(|p| *p != 0).unwrap_or(100_000);
        if c.period().is_some_and(|p| p != 0) {
            out.push(prop("CPUQuotaPeriodUSec", Value::U64(period)));
        }
        if let Some(q) = c.quota().filter(|q| *q != 0) {
            // runc: systemd takes the quota per second, in steps of 10 ms.
            let per_sec = if q < 0 {
                u64::MAX
            } else {
                let v = q as u64 * 1_000_000 / period;
                v.div_ceil(10_000) * 10_000
            };
            out.push(prop("CPUQuotaPerSecUSec", Value::U64(per_sec)));
        }
        if let Some(m) = c.cpus().as_deref().filter(|s| !s.is_empty()).and_then(cpuset_mask) {
            out.push(prop("AllowedCPUs", Value::Bytes(m)));
        }
        if let Some(m) = c.mems().as_deref().filter(|s| !s.is_empty()).and_then(cpuset_mask) {
            out.push(prop("AllowedMemoryNodes", Value::Bytes(m)));
        }
    }
    if let Some(p) = r.pids().as_ref().map(|p| p.limit()).filter(|l| *l != 0) {
        out.push(prop("TasksMax", Value::U64(max(p))));
    }
    if let Some(b) = r.block_io() {
        // blkio's 10..1000 onto io's 1..10000, as runc converts it.
        if let Some(w) = b.weight().filter(|w| *w != 0) {
            out.push(prop("IOWeight", Value::U64(super::resources::blkio_to_io_weight(w as u64))));
        }
        // systemd names a device by a path; /dev/block/MAJ:MIN is the kernel's own.
        let limits = |name: &str, devs: Option<&Vec<oci_spec::runtime::LinuxThrottleDevice>>| {
            let items: Vec<Value> = devs
                .into_iter()
                .flatten()
                .map(|d| Value::Struct(vec![Value::Str(format!("/dev/block/{}:{}", d.major(), d.minor())), Value::U64(d.rate())]))
                .collect();
            (!items.is_empty()).then(|| prop(name, Value::Array("(st)".into(), items)))
        };
        out.extend(limits("IOReadBandwidthMax", b.throttle_read_bps_device().as_ref()));
        out.extend(limits("IOWriteBandwidthMax", b.throttle_write_bps_device().as_ref()));
        out.extend(limits("IOReadIOPSMax", b.throttle_read_iops_device().as_ref()));
        out.extend(limits("IOWriteIOPSMax", b.throttle_write_iops_device().as_ref()));
    }
    out
}

fn open(user: bool) -> Result<Connection, Error> {
    match user {
        true => Connection::user().map_err(sd_err("connect to the user's systemd (rootless)")),
        false => Connection::system().map_err(sd_err("connect")),
    }
}

/// The manager's own cgroup (its ControlGroup property): "/" for the system's, e.g.
/// "/user.slice/user-1000.slice/user@1000.service" for a user's.
fn manager_cgroup(user: bool) -> Result<String, Error> {
    let mut c = open(user)?;
    let args = [Value::Str(MANAGER.into()), Value::Str("ControlGroup".into())];
    let reply = c.call(DEST, PATH, "org.freedesktop.DBus.Properties", "Get", &args).map_err(sd_err("the manager's ControlGroup"))?;
    reply.args().into_iter().next().filter(|g| g.starts_with('/')).ok_or_else(|| Error::Systemd("systemd cgroup driver: the manager's ControlGroup: not a path".into()))
}

fn connect(user: bool) -> Result<Connection, Error> {
    let mut c = open(user)?;
    c.call(DEST, PATH, MANAGER, "Subscribe", &[]).map_err(sd_err("Subscribe"))?;
    if c.is_bus() {
        let rule = "type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.systemd1.Manager',member='JobRemoved'";
        c.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch", &[Value::Str(rule.into())]).map_err(sd_err("AddMatch"))?;
    }
    Ok(c)
}

/// Waits for the job a call returned (its object path) to end; its result must be "done".
fn wait_job(c: &mut Connection, reply: &dbus::Message, what: &str) -> Result<(), Error> {
    let job = reply.args().into_iter().next().ok_or_else(|| Error::Systemd(format!("systemd cgroup driver: {what}: no job in the reply")))?;
    let m = c
        .wait_signal(Duration::from_secs(30), |m| m.member.as_deref() == Some("JobRemoved") && m.args().get(1) == Some(&job))
        .map_err(sd_err(what))?;
    match m.args().get(3).map(String::as_str) {
        Some("done") => Ok(()),
        other => Err(Error::Systemd(format!("systemd cgroup driver: {what}: job {job} ended {:?}", other.unwrap_or("?")))),
    }
}

/// StartTransientUnit of the container's scope, holding `pid`, with the properties
/// systemd has for `resources`.
pub fn start(p: &Scope, id: &str, pid: i32, resources: Option<&LinuxResources>) -> Result<(), Error> {
    let mut c = connect(p.user)?;
    let mut props = vec![
        prop("Description", Value::Str(format!("berth container {id}"))),
        prop("Slice", Value::Str(p.slice.clone())),
        prop("Delegate", Value::Bool(true)),
        prop("PIDs", Value::Array("u".into(), vec![Value::U32(pid as u32)])),
        prop("DefaultDependencies", Value::Bool(false)),
        prop("MemoryAccounting", Value::Bool(true)),
        prop("CPUAccounting", Value::Bool(true)),
        prop("IOAccounting", Value::Bool(true)),
        prop("TasksAccounting", Value::Bool(true)),
    ];
    props.extend(resources.map(resource_properties).unwrap_or_default());
    let args = [
        Value::Str(p.unit.clone()),
        Value::Str("replace".into()),
        Value::Array("(sv)".into(), props),
        Value::Array("(sa(sv))".into(), Vec::new()),
    ];
    let reply = c.call(DEST, PATH, MANAGER, "StartTransientUnit", &args).map_err(sd_err(&format!("start {}", p.unit)))?;
    wait_job(&mut c, &reply, &format!("start {}", p.unit))
}

/// StopUnit; a unit systemd no longer has is already stopped.
pub fn stop(s: &Scope) -> Result<(), Error> {
    let unit = s.unit.as_str();
    let mut c = connect(s.user)?;
    match c.call(DEST, PATH, MANAGER, "StopUnit", &[Value::Str(unit.into()), Value::Str("replace".into())]) {
        Ok(reply) => wait_job(&mut c, &reply, &format!("stop {unit}")),
        Err(e) if e.to_string().contains("NoSuchUnit") || e.to_string().contains("not loaded") => Ok(()),
        Err(e) => Err(sd_err("stop")(e)),
    }
}

/// SetUnitProperties (runtime) for `update`.
pub fn set(s: &Scope, resources: &LinuxResources) -> Result<(), Error> {
    let unit = s.unit.as_str();
    let props = resource_properties(resources);
    if props.is_empty() {
        return Ok(());
    }
    let mut c = open(s.user)?;
    c.call(DEST, PATH, MANAGER, "SetUnitProperties", &[Value::Str(unit.into()), Value::Bool(true), Value::Array("(sv)".into(), props)])
        .map(drop)
        .map_err(sd_err(&format!("set properties of {unit}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroups_paths_in_runcs_grammar() {
        let p = place(Some("system.slice:docker:abc"), "x", false).unwrap();
        assert_eq!((p.scope.unit.as_str(), p.scope.slice.as_str(), p.rel.to_str().unwrap()), ("docker-abc.scope", "system.slice", "system.slice/docker-abc.scope"));
        let p = place(Some("kubepods-burstable-pod1.slice:cri-containerd:c1"), "x", false).unwrap();
        assert_eq!(p.rel.to_str().unwrap(), "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-c1.scope");
        let p = place(Some("-.slice:p:n"), "x", false).unwrap();
        assert_eq!(p.rel.to_str().unwrap(), "p-n.scope");
        let p = place(None, "c9", false).unwrap();
        assert_eq!(p.rel.to_str().unwrap(), "system.slice/berth-c9.scope");
        assert_eq!(place(Some(":p:n"), "x", false).unwrap().scope.slice, "system.slice");
        // Rootless, as runc: the user manager's user.slice unless the path names one.
        let p = place(Some(":p:n"), "x", true).unwrap();
        assert_eq!((p.scope.slice.as_str(), p.rel.to_str().unwrap(), p.scope.user), ("user.slice", "user.slice/p-n.scope", true));
        for bad in ["/a/b", "a:b", "x.slice:p:n/../m", "a--b.slice:p:n", "-a.slice:p:n", "nota:p:n"] {
            assert!(place(Some(bad), "x", false).is_err(), "{bad}");
        }
    }

    #[test]
    fn resources_become_runcs_unit_properties() {
        let r: LinuxResources = serde_json::from_value(serde_json::json!({
            "memory": {"limit": 67108864, "swap": 134217728, "reservation": 1048576},
            "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1,3"},
            "pids": {"limit": 32},
            "blockIO": {"weight": 500, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}]}
        }))
        .unwrap();
        let props = resource_properties(&r);
        let get = |n: &str| props.iter().find_map(|p| match p {
            Value::Struct(f) if f[0] == Value::Str(n.into()) => Some(f[1].clone()),
            _ => None,
        });
        let v = |x: Value| Some(Value::Variant(Box::new(x)));
        assert_eq!(get("MemoryMax"), v(Value::U64(67108864)));
        assert_eq!(get("MemorySwapMax"), v(Value::U64(67108864)));
        assert_eq!(get("MemoryLow"), v(Value::U64(1048576)));
        assert_eq!(get("CPUWeight"), v(Value::U64(100)));
        assert_eq!(get("CPUQuotaPerSecUSec"), v(Value::U64(500000)));
        assert_eq!(get("AllowedCPUs"), v(Value::Bytes(vec![0b1011])));
        assert_eq!(get("TasksMax"), v(Value::U64(32)));
        assert_eq!(get("IOWeight"), v(Value::U64(4950)));
        let dev = Value::Struct(vec![Value::Str("/dev/block/8:0".into()), Value::U64(1048576)]);
        assert_eq!(get("IOReadBandwidthMax"), v(Value::Array("(st)".into(), vec![dev])));
        assert_eq!(get("IOWriteIOPSMax"), None);
    }
}
