//! linux.resources → cgroup files, for v1 and v2.
//!
//! The mapping is pure (a list of writes per controller), so it is unit-tested without a
//! kernel; `Cgroup::apply` then sends each write to the hierarchy that has the controller:
//! on a hybrid host a v1 hierarchy when one has it, else the cgroup2 directory.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};

/// One write: controller, file (relative to the cgroup directory), value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub controller: &'static str,
    pub file: String,
    pub value: String,
}

fn w(controller: &'static str, file: impl Into<String>, value: impl ToString) -> Write {
    Write { controller, file: file.into(), value: value.to_string() }
}

fn limit_v1(v: i64) -> String {
    if v < 0 { "-1".into() } else { v.to_string() }
}

fn limit_v2(v: i64) -> String {
    if v < 0 { "max".into() } else { v.to_string() }
}

/// A device rule, as the config gives it and the defaults add: v1 writes it as text
/// (`Display`: "c 1:3 rwm"), cgroup2 compiles it into an eBPF program (devices_bpf.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRule {
    /// 'a', 'b', 'c' or 'p'.
    pub typ: char,
    /// None: any.
    pub major: Option<i64>,
    pub minor: Option<i64>,
    pub access: u32,
    pub allow: bool,
}

pub const MKNOD: u32 = 1;
pub const READ: u32 = 2;
pub const WRITE: u32 = 4;

impl std::fmt::Display for DeviceRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = |x: Option<i64>| x.map_or("*".to_string(), |v| v.to_string());
        let access: String = [(READ, 'r'), (WRITE, 'w'), (MKNOD, 'm')].iter().filter(|(b, _)| self.access & b != 0).map(|(_, c)| *c).collect();
        write!(f, "{} {}:{} {access}", self.typ, n(self.major), n(self.minor))
    }
}

/// The config's rule, or None when its access names nothing a rule can grant or deny (a
/// no-op, as in runc).
fn device_rule(d: &LinuxDeviceCgroup) -> Option<DeviceRule> {
    let typ = match d.typ() {
        Some(LinuxDeviceType::B) => 'b',
        Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => 'c',
        Some(LinuxDeviceType::P) => 'p',
        Some(LinuxDeviceType::A) | None => 'a',
    };
    // As runc keeps them: the r, w and m the access names (anything else is dropped),
    // printed in that order; absent or empty: all three.
    let letters = d.access().as_deref().filter(|a| !a.is_empty()).unwrap_or("rwm");
    let access = [('r', READ), ('w', WRITE), ('m', MKNOD)].iter().filter(|(c, _)| letters.contains(*c)).fold(0, |a, (_, b)| a | b);
    if access == 0 {
        return None;
    }
    let n = |x: Option<i64>| x.filter(|v| *v >= 0);
    Some(DeviceRule { typ, major: n(d.major()), minor: n(d.minor()), access, allow: d.allow() })
}

const fn allow(typ: char, major: Option<i64>, minor: Option<i64>, access: u32) -> DeviceRule {
    DeviceRule { typ, major, minor, access, allow: true }
}

const RWM: u32 = READ | WRITE | MKNOD;

/// The device nodes every container gets (rootfs/devices.rs) must stay usable whatever
/// the device rules say, as runc allows them after the config's rules: runc's list
/// exactly (no 5:1: a terminal's /dev/console is its pty, 136:*).
pub const DEFAULT_ALLOWED: &[DeviceRule] = &[
    allow('c', None, None, MKNOD),
    allow('b', None, None, MKNOD),
    allow('c', Some(1), Some(3), RWM),
    allow('c', Some(1), Some(5), RWM),
    allow('c', Some(1), Some(7), RWM),
    allow('c', Some(1), Some(8), RWM),
    allow('c', Some(1), Some(9), RWM),
    allow('c', Some(5), Some(0), RWM),
    allow('c', Some(5), Some(2), RWM),
    allow('c', Some(136), None, RWM),
    allow('c', Some(10), Some(200), RWM),
];

/// The config's device rules in order, then the defaults (none without config rules).
pub fn device_rules(r: &LinuxResources) -> Vec<DeviceRule> {
    match r.devices() {
        Some(devs) => devs.iter().filter_map(device_rule).chain(DEFAULT_ALLOWED.iter().copied()).collect(),
        None => Vec::new(),
    }
}

/// runc's rule, which engines rely on (docker sends `"blockIO": {"weight": 0}`): a zero
/// memory value, pids limit or I/O weight means "not set", not a limit of zero.
fn set_i64(v: Option<i64>) -> Option<i64> {
    v.filter(|v| *v != 0)
}
fn set_u16(v: Option<u16>) -> Option<u16> {
    v.filter(|v| *v != 0)
}

/// Writes for a v1 hierarchy set.
pub fn v1(r: &LinuxResources) -> Vec<Write> {
    let mut out = Vec::new();
    if let Some(m) = r.memory() {
        if let Some(v) = set_i64(m.limit()) {
            out.push(w("memory", "memory.limit_in_bytes", limit_v1(v)));
        }
        if let Some(v) = set_i64(m.swap()) {
            out.push(w("memory", "memory.memsw.limit_in_bytes", limit_v1(v)));
        }
        if let Some(v) = set_i64(m.reservation()) {
            out.push(w("memory", "memory.soft_limit_in_bytes", limit_v1(v)));
        }
        if let Some(v) = set_i64(m.kernel_tcp()) {
            out.push(w("memory", "memory.kmem.tcp.limit_in_bytes", limit_v1(v)));
        }
        if let Some(v) = m.swappiness() {
            out.push(w("memory", "memory.swappiness", v));
        }
        if m.disable_oom_killer() == Some(true) {
            out.push(w("memory", "memory.oom_control", 1));
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(v) = c.shares().filter(|v| *v > 0) {
            out.push(w("cpu", "cpu.shares", v));
        }
        // The period before the quota: a quota is checked against the current period.
        if let Some(v) = c.period().filter(|v| *v > 0) {
            out.push(w("cpu", "cpu.cfs_period_us", v));
        }
        if let Some(v) = c.quota().filter(|v| *v != 0) {
            out.push(w("cpu", "cpu.cfs_quota_us", v));
        }
        if let Some(v) = c.burst() {
            out.push(w("cpu", "cpu.cfs_burst_us", v));
        }
        if let Some(v) = c.realtime_period().filter(|v| *v > 0) {
            out.push(w("cpu", "cpu.rt_period_us", v));
        }
        if let Some(v) = c.realtime_runtime().filter(|v| *v != 0) {
            out.push(w("cpu", "cpu.rt_runtime_us", v));
        }
        if let Some(v) = c.idle() {
            out.push(w("cpu", "cpu.idle", v));
        }
        if let Some(v) = c.cpus().as_ref().filter(|s| !s.is_empty()) {
            out.push(w("cpuset", "cpuset.cpus", v));
        }
        if let Some(v) = c.mems().as_ref().filter(|s| !s.is_empty()) {
            out.push(w("cpuset", "cpuset.mems", v));
        }
    }
    if let Some(p) = r.pids().filter(|p| p.limit() != 0) {
        out.push(w("pids", "pids.max", if p.limit() > 0 { p.limit().to_string() } else { "max".into() }));
    }
    if let Some(b) = r.block_io() {
        if let Some(v) = set_u16(b.weight()) {
            out.push(w("blkio", "blkio.weight", v));
        }
        if let Some(v) = set_u16(b.leaf_weight()) {
            out.push(w("blkio", "blkio.leaf_weight", v));
        }
        for d in b.weight_device().iter().flatten() {
            if let Some(v) = set_u16(d.weight()) {
                out.push(w("blkio", "blkio.weight_device", format!("{}:{} {v}", d.major(), d.minor())));
            }
            if let Some(v) = set_u16(d.leaf_weight()) {
                out.push(w("blkio", "blkio.leaf_weight_device", format!("{}:{} {v}", d.major(), d.minor())));
            }
        }
        for (file, list) in [
            ("blkio.throttle.read_bps_device", b.throttle_read_bps_device()),
            ("blkio.throttle.write_bps_device", b.throttle_write_bps_device()),
            ("blkio.throttle.read_iops_device", b.throttle_read_iops_device()),
            ("blkio.throttle.write_iops_device", b.throttle_write_iops_device()),
        ] {
            for d in list.iter().flatten() {
                out.push(w("blkio", file, format!("{}:{} {}", d.major(), d.minor(), d.rate())));
            }
        }
    }
    for h in r.hugepage_limits().iter().flatten() {
        out.push(w("hugetlb", format!("hugetlb.{}.limit_in_bytes", h.page_size()), limit_v1(h.limit())));
    }
    if let Some(n) = r.network() {
        if let Some(v) = n.class_id() {
            out.push(w("net_cls", "net_cls.classid", v));
        }
        for p in n.priorities().iter().flatten() {
            out.push(w("net_prio", "net_prio.ifpriomap", format!("{} {}", p.name(), p.priority())));
        }
    }
    for rule in device_rules(r) {
        out.push(w("devices", if rule.allow { "devices.allow" } else { "devices.deny" }, rule));
    }
    for (dev, l) in r.rdma().iter().flatten() {
        out.push(w("rdma", "rdma.max", rdma_line(dev, l.hca_handles(), l.hca_objects())));
    }
    out
}

fn rdma_line(dev: &str, handles: Option<u32>, objects: Option<u32>) -> String {
    let mut s = dev.to_string();
    if let Some(h) = handles {
        s.push_str(&format!(" hca_handle={h}"));
    }
    if let Some(o) = objects {
        s.push_str(&format!(" hca_object={o}"));
    }
    s
}

/// cpu shares [2, 262144] to cgroup2's weight [1, 10000] with the formula runc (>= 1.3.2,
/// opencontainers/runc#4785) and crun (>= 1.23) use: a quadratic in log2(shares) that maps
/// the minimum, the default (1024 -> 100) and the maximum onto cgroup2's; the old linear
/// map gave the default 39, below cgroup2's own default.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    if shares <= 2 {
        return 1;
    }
    if shares >= 262_144 {
        return 10_000;
    }
    let l = (shares as f64).log2();
    let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
    10f64.powf(exponent).ceil() as u64
}

/// blkio's weight [10, 1000] as io.weight's [1, 10000] (runc's ConvertBlkIOToIOWeightValue).
pub fn blkio_to_io_weight(w: u64) -> u64 {
    1 + (w.clamp(10, 1000) - 10) * 9999 / 990
}

/// Writes for cgroup2. Devices are not here: cgroup2 controls them with an eBPF program.
pub fn v2(r: &LinuxResources) -> (Vec<Write>, Vec<String>) {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    if let Some(m) = r.memory() {
        if let Some(v) = set_i64(m.limit()) {
            out.push(w("memory", "memory.max", limit_v2(v)));
        }
        if let Some(v) = set_i64(m.swap()) {
            // v1's swap is memory+swap; cgroup2's memory.swap.max is swap alone.
            let s = match (v, m.limit()) {
                (v, _) if v < 0 => "max".to_string(),
                (v, Some(l)) if l >= 0 => (v - l).max(0).to_string(),
                (v, _) => v.to_string(),
            };
            out.push(w("memory", "memory.swap.max", s));
        }
        if let Some(v) = set_i64(m.reservation()) {
            out.push(w("memory", "memory.low", limit_v2(v)));
        }
        if m.swappiness().is_some() {
            warnings.push("linux.resources.memory.swappiness has no cgroup2 equivalent; ignored".into());
        }
        if m.disable_oom_killer() == Some(true) {
            warnings.push("linux.resources.memory.disableOOMKiller has no cgroup2 equivalent; ignored".into());
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(v) = c.shares().filter(|v| *v > 0) {
            out.push(w("cpu", "cpu.weight", shares_to_weight(v)));
        }
        if c.quota().is_some() || c.period().is_some() {
            let q = c.quota().filter(|q| *q > 0).map_or("max".to_string(), |q| q.to_string());
            out.push(w("cpu", "cpu.max", format!("{q} {}", c.period().filter(|p| *p > 0).unwrap_or(100_000))));
        }
        if let Some(v) = c.burst() {
            out.push(w("cpu", "cpu.max.burst", v));
        }
        if let Some(v) = c.idle() {
            out.push(w("cpu", "cpu.idle", v));
        }
        if let Some(v) = c.cpus().as_ref().filter(|s| !s.is_empty()) {
            out.push(w("cpuset", "cpuset.cpus", v));
        }
        if let Some(v) = c.mems().as_ref().filter(|s| !s.is_empty()) {
            out.push(w("cpuset", "cpuset.mems", v));
        }
        if c.realtime_runtime().is_some_and(|v| v != 0) || c.realtime_period().is_some_and(|v| v != 0) {
            warnings.push("linux.resources.cpu.realtime* has no cgroup2 equivalent; ignored".into());
        }
    }
    if let Some(p) = r.pids().filter(|p| p.limit() != 0) {
        out.push(w("pids", "pids.max", if p.limit() > 0 { p.limit().to_string() } else { "max".into() }));
    }
    if let Some(b) = r.block_io() {
        if let Some(v) = set_u16(b.weight()) {
            out.push(w("io", "io.bfq.weight", v));
        }
        let mut max: std::collections::BTreeMap<(i64, i64), Vec<String>> = Default::default();
        for (key, list) in [
            ("rbps", b.throttle_read_bps_device()),
            ("wbps", b.throttle_write_bps_device()),
            ("riops", b.throttle_read_iops_device()),
            ("wiops", b.throttle_write_iops_device()),
        ] {
            for d in list.iter().flatten() {
                max.entry((d.major(), d.minor())).or_default().push(format!("{key}={}", d.rate()));
            }
        }
        for ((ma, mi), kv) in max {
            out.push(w("io", "io.max", format!("{ma}:{mi} {}", kv.join(" "))));
        }
        for d in b.weight_device().iter().flatten() {
            if let Some(v) = set_u16(d.weight()) {
                out.push(w("io", "io.bfq.weight", format!("{}:{} {v}", d.major(), d.minor())));
            }
        }
    }
    for h in r.hugepage_limits().iter().flatten() {
        out.push(w("hugetlb", format!("hugetlb.{}.max", h.page_size()), limit_v2(h.limit())));
    }
    for (dev, l) in r.rdma().iter().flatten() {
        out.push(w("rdma", "rdma.max", rdma_line(dev, l.hca_handles(), l.hca_objects())));
    }
    if r.network().is_some() {
        warnings.push("linux.resources.network has no cgroup2 controller; ignored".into());
    }
    for (k, v) in r.unified().iter().flatten() {
        out.push(w("unified", k.clone(), v));
    }
    (out, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(v: serde_json::Value) -> LinuxResources {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn v1_mapping() {
        let r = res(serde_json::json!({
            "memory": {"limit": 1048576, "swap": -1, "reservation": 524288, "swappiness": 10, "disableOOMKiller": true},
            "cpu": {"shares": 512, "quota": 20000, "period": 100000, "cpus": "0", "mems": "0"},
            "pids": {"limit": -1},
            "blockIO": {"weight": 500, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1000}]},
            "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}]
        }));
        let ws = v1(&r);
        let find = |f: &str| ws.iter().filter(|x| x.file == f).map(|x| x.value.clone()).collect::<Vec<_>>();
        assert_eq!(find("memory.limit_in_bytes"), ["1048576"]);
        assert_eq!(find("memory.memsw.limit_in_bytes"), ["-1"]);
        assert_eq!(find("memory.oom_control"), ["1"]);
        assert_eq!(find("pids.max"), ["max"]);
        assert_eq!(find("blkio.throttle.read_bps_device"), ["8:0 1000"]);
        let period = ws.iter().position(|x| x.file == "cpu.cfs_period_us").unwrap();
        let quota = ws.iter().position(|x| x.file == "cpu.cfs_quota_us").unwrap();
        assert!(period < quota);
        assert_eq!(find("devices.deny"), ["a *:* rwm"]);
        assert_eq!(find("devices.allow")[0], "c 1:3 rw");
        assert!(find("devices.allow").contains(&"c 136:* rwm".to_string()));
    }

    #[test]
    fn zeros_mean_unset_as_in_runc() {
        // What docker sends for a container without limits.
        let r = res(serde_json::json!({"memory": {"limit": 0, "swap": 0, "reservation": 0}, "cpu": {"shares": 0},
            "blockIO": {"weight": 0}, "pids": {"limit": 0}}));
        assert_eq!(v1(&r), Vec::<Write>::new());
        assert_eq!(v2(&r).0, Vec::<Write>::new());
    }

    #[test]
    fn v2_mapping() {
        let r = res(serde_json::json!({
            "memory": {"limit": 1000, "swap": 3000},
            "cpu": {"shares": 1024, "quota": -1, "period": 50000},
            "blockIO": {"throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 10}], "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 20}]},
            "unified": {"memory.high": "900"}
        }));
        let (ws, _) = v2(&r);
        let find = |f: &str| ws.iter().filter(|x| x.file == f).map(|x| x.value.clone()).collect::<Vec<_>>();
        assert_eq!(find("memory.max"), ["1000"]);
        assert_eq!(find("memory.swap.max"), ["2000"]);
        assert_eq!(find("cpu.weight"), ["100"], "the default share maps to the default weight");
        assert_eq!(find("cpu.max"), ["max 50000"]);
        assert_eq!(find("io.max"), ["8:0 rbps=10 wiops=20"]);
        assert_eq!(find("memory.high"), ["900"]);
        // The formula's values, computed apart (Python's math.log2/ceil).
        for (shares, weight) in [(0, 0), (2, 1), (3, 2), (512, 59), (1024, 100), (2048, 174), (100_000, 4_340), (262_144, 10_000), (300_000, 10_000)] {
            assert_eq!(shares_to_weight(shares), weight, "shares {shares}");
        }
    }

    #[test]
    fn device_access_is_kept_as_runc_keeps_it() {
        let rule = |access: &str| {
            let d: LinuxDeviceCgroup = serde_json::from_value(serde_json::json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": access})).unwrap();
            device_rule(&d).map(|r| r.to_string())
        };
        assert_eq!(rule("mwr").as_deref(), Some("c 1:3 rwm"));
        assert_eq!(rule("rrx").as_deref(), Some("c 1:3 r"));
        assert_eq!(rule("").as_deref(), Some("c 1:3 rwm"));
        assert_eq!(rule("x"), None, "nothing to grant: no rule");
    }
}
