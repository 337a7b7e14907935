//! `update` and `events`' statistics: a container's resources changed, or read.

use oci_spec::runtime::LinuxResources;
use serde_json::{json, Value};

use super::{Container, Error, Runtime};

/// Merges `patch` into `base` (objects key by key), as runc merges an update into the
/// container's saved resources.
fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, p) => *b = p.clone(),
    }
}

/// Applies `r` to the container's cgroup and remembers it (merged as `patch`) in its
/// saved config, as runc keeps it in its state. Returns the warnings to log.
pub fn update(rt: &Runtime, id: &str, r: &LinuxResources, patch: &Value) -> Result<Vec<String>, Error> {
    let mut c = Container::load(rt, id)?;
    if !c.status().can_update() {
        return Err(Error::WrongState(format!("container {id} is not running")));
    }
    let warnings = c.state.cgroup.update(r)?;
    let mut config: Value = serde_json::from_str(&c.dir.load_config(&c.state)?).map_err(|e| Error::WrongState(format!("the saved config: {e}")))?;
    let saved = &mut config["linux"]["resources"];
    if saved.is_null() {
        *saved = json!({});
    }
    merge(saved, patch);
    let text = serde_json::to_vec(&config).map_err(|e| Error::WrongState(format!("the saved config: {e}")))?;
    c.dir.save_config(&text, true)?;
    if c.state.config_moved_out() {
        // An older berth's record, rewritten as berth writes them now: its cgroup beside it.
        let cgroup = std::mem::take(&mut c.state.cgroup);
        c.dir.save_cgroup(&cgroup, true)?;
        c.state.set_cgroup(cgroup);
        c.dir.save(&c.state)?;
    }
    Ok(warnings)
}

/// One reading of a container's cgroup for `events`.
pub struct Sample {
    pub stats: Value,
    pub oom_kills: u64,
    pub stopped: bool,
}

/// A reading of a container that is not stopped (an error otherwise).
pub fn sample(rt: &Runtime, id: &str) -> Result<Sample, Error> {
    let s = sample_any(rt, id)?;
    if s.stopped {
        return Err(Error::WrongState(format!("container {id} is not running")));
    }
    Ok(s)
}

/// A reading whatever the state (a stopped container's cgroup stays until delete).
pub fn sample_any(rt: &Runtime, id: &str) -> Result<Sample, Error> {
    let c = Container::load(rt, id)?;
    let stopped = c.status() == super::Status::Stopped;
    Ok(Sample { stats: if stopped { Value::Null } else { c.state.cgroup.stats() }, oom_kills: c.state.cgroup.oom_kills(), stopped })
}
