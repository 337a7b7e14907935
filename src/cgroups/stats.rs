//! Statistics for `events`, in runc's JSON shape ({"cpu":..,"memory":..,"pids":..,
//! "blkio":..,"hugetlb":..}), read from v1 or v2 files.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde_json::{json, Map, Value};

use super::{Cgroup, Dir};

fn num(p: &Path) -> Option<u64> {
    let s = fs::read_to_string(p).ok()?;
    let s = s.trim();
    if s == "max" {
        return Some(u64::MAX);
    }
    s.parse().ok()
}

fn kv(p: &Path) -> BTreeMap<String, u64> {
    fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_string(), it.next()?.parse().ok()?))
        })
        .collect()
}

fn entry(limit: Option<u64>, usage: Option<u64>, max: Option<u64>, failcnt: Option<u64>) -> Value {
    let mut m = Map::new();
    m.insert("limit".into(), json!(limit.unwrap_or(0)));
    if let Some(u) = usage.filter(|u| *u > 0) {
        m.insert("usage".into(), json!(u));
    }
    if let Some(x) = max.filter(|x| *x > 0) {
        m.insert("max".into(), json!(x));
    }
    m.insert("failcnt".into(), json!(failcnt.unwrap_or(0)));
    Value::Object(m)
}

impl Cgroup {
    fn dir_with(&self, controller: &str) -> Option<&Dir> {
        self.dirs.iter().find(|d| d.controllers.iter().any(|c| c == controller))
    }

    /// Where OOM kills are counted: the v1 memory controller's directory (false) or, with
    /// no v1 memory controller, the cgroup2 one (true).
    pub fn memory_dir(&self) -> Option<(&Path, bool)> {
        if let Some(d) = self.dir_with("memory") {
            return Some((&d.path, false));
        }
        self.v2().map(|d| (d.path.as_path(), true))
    }

    /// The number of OOM kills so far (for `events` OOM notifications, the shim's events).
    pub fn oom_kills(&self) -> u64 {
        let file = match self.memory_dir() {
            Some((dir, false)) => dir.join("memory.oom_control"),
            Some((dir, true)) => dir.join("memory.events"),
            None => return 0,
        };
        kv(&file).get("oom_kill").copied().unwrap_or(0)
    }

    pub fn stats(&self) -> Value {
        let v2 = self.v2().map(|d| d.path.clone());
        let mut out = Map::new();
        // cpu
        if let Some(d) = self.dir_with("cpuacct") {
            let p = &d.path;
            let percpu: Vec<u64> = fs::read_to_string(p.join("cpuacct.usage_percpu")).unwrap_or_default().split_whitespace().filter_map(|x| x.parse().ok()).collect();
            let st = kv(&p.join("cpuacct.stat"));
            // cpuacct.stat is in USER_HZ ticks (100/s).
            let tick = 10_000_000u64;
            let mut cpu = json!({"usage": {"total": num(&p.join("cpuacct.usage")).unwrap_or(0), "percpu": percpu,
                "kernel": st.get("system").copied().unwrap_or(0) * tick, "user": st.get("user").copied().unwrap_or(0) * tick}});
            if let Some(c) = self.dir_with("cpu") {
                let t = kv(&c.path.join("cpu.stat"));
                cpu["throttling"] = json!({"periods": t.get("nr_periods"), "throttledPeriods": t.get("nr_throttled"), "throttledTime": t.get("throttled_time")});
            }
            out.insert("cpu".into(), cpu);
        } else if let Some(p) = &v2 {
            let t = kv(&p.join("cpu.stat"));
            let us = |k: &str| t.get(k).copied().unwrap_or(0) * 1000;
            out.insert("cpu".into(), json!({"usage": {"total": us("usage_usec"), "kernel": us("system_usec"), "user": us("user_usec")},
                "throttling": {"periods": t.get("nr_periods"), "throttledPeriods": t.get("nr_throttled"), "throttledTime": us("throttled_usec")}}));
        }
        // memory
        if let Some(d) = self.dir_with("memory") {
            let p = &d.path;
            let f = |n: &str| num(&p.join(n));
            let raw = kv(&p.join("memory.stat"));
            out.insert("memory".into(), json!({
                "cache": raw.get("cache").copied().unwrap_or(0),
                "usage": entry(f("memory.limit_in_bytes"), f("memory.usage_in_bytes"), f("memory.max_usage_in_bytes"), f("memory.failcnt")),
                "swap": entry(f("memory.memsw.limit_in_bytes"), f("memory.memsw.usage_in_bytes"), f("memory.memsw.max_usage_in_bytes"), f("memory.memsw.failcnt")),
                "kernel": entry(f("memory.kmem.limit_in_bytes"), f("memory.kmem.usage_in_bytes"), f("memory.kmem.max_usage_in_bytes"), f("memory.kmem.failcnt")),
                "raw": raw,
            }));
        } else if let Some(p) = &v2 {
            let raw = kv(&p.join("memory.stat"));
            let events = kv(&p.join("memory.events"));
            out.insert("memory".into(), json!({
                "cache": raw.get("file").copied().unwrap_or(0),
                "usage": entry(num(&p.join("memory.max")), num(&p.join("memory.current")), num(&p.join("memory.peak")), events.get("max").copied()),
                "swap": entry(num(&p.join("memory.swap.max")), num(&p.join("memory.swap.current")), None, None),
                "raw": raw,
            }));
        }
        // pids
        let pids_dir = self.dir_with("pids").map(|d| d.path.clone()).or(v2.clone());
        if let Some(p) = pids_dir {
            let limit = num(&p.join("pids.max")).filter(|l| *l != u64::MAX);
            out.insert("pids".into(), json!({"current": num(&p.join("pids.current")).unwrap_or(0), "limit": limit.unwrap_or(0)}));
        }
        // blkio
        let mut blkio = Map::new();
        if let Some(d) = self.dir_with("blkio") {
            for (file, key) in [("blkio.throttle.io_service_bytes_recursive", "ioServiceBytesRecursive"), ("blkio.throttle.io_serviced_recursive", "ioServicedRecursive")] {
                let entries: Vec<Value> = fs::read_to_string(d.path.join(file))
                    .unwrap_or_default()
                    .lines()
                    .filter_map(|l| {
                        let f: Vec<&str> = l.split_whitespace().collect();
                        let (ma, mi) = f.first()?.split_once(':')?;
                        Some(json!({"major": ma.parse::<u64>().ok()?, "minor": mi.parse::<u64>().ok()?, "op": f.get(1)?, "value": f.get(2)?.parse::<u64>().ok()?}))
                    })
                    .collect();
                if !entries.is_empty() {
                    blkio.insert(key.into(), Value::Array(entries));
                }
            }
        }
        out.insert("blkio".into(), Value::Object(blkio));
        // hugetlb
        let mut huge = Map::new();
        if let Some(d) = self.dir_with("hugetlb") {
            for e in fs::read_dir(&d.path).into_iter().flatten().flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if let Some(size) = n.strip_prefix("hugetlb.").and_then(|x| x.strip_suffix(".usage_in_bytes")) {
                    let f = |s: &str| num(&d.path.join(format!("hugetlb.{size}.{s}")));
                    huge.insert(size.to_string(), json!({"usage": f("usage_in_bytes"), "max": f("max_usage_in_bytes"), "failcnt": f("failcnt").unwrap_or(0)}));
                }
            }
        } else if let Some(p) = &v2 {
            for e in fs::read_dir(p).into_iter().flatten().flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if let Some(size) = n.strip_prefix("hugetlb.").and_then(|x| x.strip_suffix(".current")) {
                    huge.insert(size.to_string(), json!({"usage": num(&e.path()), "failcnt": kv(&p.join(format!("hugetlb.{size}.events"))).get("max").copied().unwrap_or(0)}));
                }
            }
        }
        out.insert("hugetlb".into(), Value::Object(huge));
        Value::Object(out)
    }
}
