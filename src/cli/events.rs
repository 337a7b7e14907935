//! `update` (runc's flags or a LinuxResources JSON) and `events` (stats and OOM events as
//! JSON lines, in runc's shape).

use std::io::Read;
use std::time::Duration;

use oci_spec::runtime::LinuxResources;
use serde_json::{json, Value};

use super::args::UpdateArgs;
use super::{fail, stdout, Failure};
use crate::container::{self, Runtime};

/// "50M", "1g", "1024", "-1" → bytes (runc uses docker's RAMInBytes: binary units).
pub fn parse_bytes(s: &str) -> Option<i64> {
    let s = s.trim();
    if s == "-1" {
        return Some(-1);
    }
    let lower = s.to_ascii_lowercase();
    let t = lower.trim_end_matches('b').trim_end_matches('i');
    let (num, mult) = match t.chars().last()? {
        'k' => (&t[..t.len() - 1], 1i64 << 10),
        'm' => (&t[..t.len() - 1], 1 << 20),
        'g' => (&t[..t.len() - 1], 1 << 30),
        't' => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let v: f64 = num.trim().parse().ok()?;
    let b = v * mult as f64;
    (b.is_finite() && b >= 0.0 && b < i64::MAX as f64).then_some(b as i64)
}

/// Go's time.ParseDuration for the forms people pass: 100ms, 5s, 1m, 1.5s.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let units = [("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9), ("s", 1.0), ("m", 60.0), ("h", 3600.0)];
    for (u, f) in units {
        if let Some(n) = s.strip_suffix(u) {
            let v: f64 = n.parse().ok()?;
            // Not from_secs_f64: it panics on infinity (`1e400s`, `infs`) and overflow.
            return (v > 0.0).then(|| Duration::try_from_secs_f64(v * f).ok()).flatten();
        }
    }
    None
}

fn resources_from_flags(a: &UpdateArgs) -> Result<Value, Failure> {
    let bytes = |name: &str, v: &Option<String>| -> Result<Option<i64>, Failure> {
        v.as_deref().map(|s| parse_bytes(s).ok_or_else(|| fail(format!("invalid value {s:?} for --{name}")))).transpose()
    };
    let mut r = json!({});
    let mut memory = serde_json::Map::new();
    for (key, name, v) in [("limit", "memory", &a.memory), ("reservation", "memory-reservation", &a.memory_reservation), ("swap", "memory-swap", &a.memory_swap), ("kernelTCP", "kernel-memory-tcp", &a.kernel_memory_tcp)] {
        if let Some(b) = bytes(name, v)? {
            memory.insert(key.into(), json!(b));
        }
    }
    if a.kernel_memory.is_some() {
        crate::logging::warn("--kernel-memory is obsolete and ignored");
    }
    if !memory.is_empty() {
        r["memory"] = Value::Object(memory);
    }
    let mut cpu = serde_json::Map::new();
    if let Some(v) = a.cpu_shares {
        cpu.insert("shares".into(), json!(v));
    }
    if let Some(v) = a.cpu_quota {
        cpu.insert("quota".into(), json!(v));
    }
    if let Some(v) = a.cpu_period {
        cpu.insert("period".into(), json!(v));
    }
    if let Some(v) = a.cpu_rt_runtime {
        cpu.insert("realtimeRuntime".into(), json!(v));
    }
    if let Some(v) = a.cpu_rt_period {
        cpu.insert("realtimePeriod".into(), json!(v));
    }
    if let Some(v) = &a.cpuset_cpus {
        cpu.insert("cpus".into(), json!(v));
    }
    if let Some(v) = &a.cpuset_mems {
        cpu.insert("mems".into(), json!(v));
    }
    if !cpu.is_empty() {
        r["cpu"] = Value::Object(cpu);
    }
    if let Some(v) = a.pids_limit {
        r["pids"] = json!({"limit": v});
    }
    if let Some(v) = a.blkio_weight {
        r["blockIO"] = json!({"weight": v});
    }
    if a.l3_cache_schema.is_some() || a.mem_bw_schema.is_some() {
        return Err(fail("Intel RDT (--l3-cache-schema, --mem-bw-schema) is not supported"));
    }
    Ok(r)
}

pub fn update(rt: &Runtime, a: &UpdateArgs) -> Result<i32, Failure> {
    // The resources parsed once (errors name the field), and as JSON to merge into the
    // saved config.
    let (r, patch): (LinuxResources, Value) = match a.resources.as_deref() {
        Some(src) => {
            let mut data = Vec::new();
            if src == "-" {
                std::io::stdin().read_to_end(&mut data).map_err(|e| fail(format!("--resources -: {e}")))?;
            } else {
                data = std::fs::read(src).map_err(|e| fail(format!("--resources {src}: {e}")))?;
            }
            let r: LinuxResources = crate::config::parse_json(&data).map_err(|e| fail(format!("--resources: {}", e.to_string().replace("config.json: ", ""))))?;
            let patch = serde_json::to_value(&r)?;
            (r, patch)
        }
        None => {
            let patch = resources_from_flags(a)?;
            // Through the one JSON deserializer berth uses (see Container::spec).
            let r = crate::config::parse_json(&serde_json::to_vec(&patch)?).map_err(|e| fail(format!("resources: {e}")))?;
            (r, patch)
        }
    };
    for w in container::update(rt, &a.id, &r, &patch)? {
        crate::logging::warn(&w);
    }
    Ok(0)
}

pub fn events(rt: &Runtime, id: &str, once: bool, interval: &str) -> Result<i32, Failure> {
    let every = parse_duration(interval).ok_or_else(|| fail(format!("invalid --interval {interval:?}")))?;
    let event = |stats: &Value| json!({"type": "stats", "id": id, "data": stats});
    let first = container::sample(rt, id)?;
    if once {
        stdout::println(&event(&first.stats).to_string());
        return Ok(0);
    }
    let mut ooms = first.oom_kills;
    loop {
        // The container is locked only while it is read: events never blocks others.
        let Ok(s) = container::sample_any(rt, id) else { return Ok(0) };
        // An OOM kill that ended the container is still reported (its cgroup stays
        // until delete).
        if s.oom_kills > ooms {
            stdout::println(&json!({"type": "oom", "id": id}).to_string());
        }
        ooms = s.oom_kills;
        if s.stopped {
            return Ok(0);
        }
        stdout::println(&event(&s.stats).to_string());
        std::thread::sleep(every);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_durations() {
        assert_eq!(parse_bytes("50M"), Some(50 << 20));
        assert_eq!(parse_bytes("1g"), Some(1 << 30));
        assert_eq!(parse_bytes("1024"), Some(1024));
        assert_eq!(parse_bytes("-1"), Some(-1));
        assert_eq!(parse_bytes("12kb"), Some(12 << 10));
        assert_eq!(parse_bytes("x"), None);
        assert_eq!(parse_bytes("1e400"), None);
        assert_eq!(parse_bytes("inf"), None);
        assert_eq!(parse_bytes("NaN"), None);
        assert_eq!(parse_duration("100ms"), Some(Duration::from_millis(100)));
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("1m"), Some(Duration::from_secs(60)));
        for bad in ["1e400s", "infs", "NaNs", "-1s", "0s", "1e300h", "s", "5"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(parse_duration("0s"), None);
        assert_eq!(parse_duration("5"), None);
    }
}
