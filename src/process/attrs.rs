//! Process attributes applied by the init before exec: personality, I/O priority,
//! scheduler, the LSM labels (AppArmor profile, SELinux label); exec's CPU affinity.

use std::path::Path;

use oci_spec::runtime::{
    IOPriorityClass, LinuxMemoryPolicy, LinuxPersonality, LinuxPersonalityDomain, LinuxSchedulerFlag, LinuxSchedulerPolicy, MemoryPolicyFlagType, MemoryPolicyModeType, Process,
    Scheduler,
};

use crate::util::procfs::ProcFs;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("{field}: {source}")]
    Sys { field: &'static str, source: std::io::Error },
}

fn last(field: &'static str) -> Error {
    Error::Sys { field, source: std::io::Error::last_os_error() }
}

/// A CPU list ("0-3,7") as a set; None when it is malformed or names no CPU.
fn cpu_set(list: &str) -> Option<libc::cpu_set_t> {
    // SAFETY: an all-zero cpu_set_t is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for cpu in id_list(list, 8 * std::mem::size_of::<libc::cpu_set_t>())? {
        // SAFETY: cpu < the set's capacity (id_list's bound).
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    Some(set)
}

/// linux.memoryPolicy: set_mempolicy(2) of the init, which the container's processes
/// inherit. `nodes` is a list such as "0-1,3".
pub fn set_memory_policy(p: &LinuxMemoryPolicy) -> Result<(), Error> {
    const FIELD: &str = "linux.memoryPolicy";
    let mode: libc::c_int = match p.mode() {
        MemoryPolicyModeType::MpolDefault => 0,
        MemoryPolicyModeType::MpolPreferred => 1,
        MemoryPolicyModeType::MpolBind => 2,
        MemoryPolicyModeType::MpolInterleave => 3,
        MemoryPolicyModeType::MpolLocal => 4,
        MemoryPolicyModeType::MpolPreferredMany => 5,
        MemoryPolicyModeType::MpolWeightedInterleave => 6,
    };
    let mut flags: libc::c_int = 0;
    for f in p.flags().iter().flatten() {
        flags |= match f {
            MemoryPolicyFlagType::MpolFNumaBalancing => 1 << 13,
            MemoryPolicyFlagType::MpolFRelativeNodes => 1 << 14,
            MemoryPolicyFlagType::MpolFStaticNodes => 1 << 15,
        };
    }
    let mut mask = [0 as libc::c_ulong; 16];
    let bits = 8 * std::mem::size_of_val(&mask);
    if let Some(list) = p.nodes().as_deref().filter(|n| !n.is_empty()) {
        let nodes = id_list(list, bits).ok_or_else(|| Error::Invalid { field: FIELD, reason: format!("nodes {list:?} is not a node list such as 0-1,3") })?;
        let w = 8 * std::mem::size_of::<libc::c_ulong>();
        for n in nodes {
            mask[n / w] |= 1 << (n % w);
        }
    }
    let empty = mask.iter().all(|w| *w == 0);
    // SAFETY: set_mempolicy with a mask of `bits` bits that outlives the call.
    let r = unsafe { libc::syscall(libc::SYS_set_mempolicy, mode | flags, if empty { std::ptr::null() } else { mask.as_ptr() }, if empty { 0 } else { bits as libc::c_ulong + 1 }) };
    if r != 0 {
        return Err(last(FIELD));
    }
    Ok(())
}

/// "0-3,7" → [0, 1, 2, 3, 7], every id below `max`; None when malformed or empty.
fn id_list(list: &str, max: usize) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    for part in list.split(',').map(str::trim) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (usize, usize) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
        if a > b || b >= max {
            return None;
        }
        out.extend(a..=b);
    }
    (!out.is_empty()).then_some(out)
}

/// process.execCPUAffinity (exec only): the calling process's CPU affinity.
pub fn set_cpu_affinity(list: &str, field: &'static str) -> Result<(), Error> {
    let set = cpu_set(list).ok_or_else(|| Error::Invalid { field, reason: format!("{list:?} is not a CPU list such as 0-3,7") })?;
    // SAFETY: sched_setaffinity of ourselves with a valid set of its own size.
    if unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) } != 0 {
        return Err(last(field));
    }
    Ok(())
}

/// linux.personality: the execution domain (LINUX or LINUX32).
pub fn set_personality(p: &LinuxPersonality) -> Result<(), Error> {
    let persona = match p.domain() {
        LinuxPersonalityDomain::PerLinux => 0x0000,
        LinuxPersonalityDomain::PerLinux32 => 0x0008,
    };
    if p.flags().as_ref().is_some_and(|f| !f.is_empty()) {
        crate::logging::warn("linux.personality.flags are not supported and were ignored");
    }
    // SAFETY: personality(2) with a constant.
    if unsafe { libc::personality(persona) } < 0 {
        return Err(last("linux.personality"));
    }
    Ok(())
}

/// process.ioPriority: ioprio_set(IOPRIO_WHO_PROCESS, self).
pub fn set_io_priority(process: &Process) -> Result<(), Error> {
    let Some(io) = process.io_priority() else { return Ok(()) };
    let class = match io.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    if !(0..=7).contains(&io.priority()) {
        return Err(Error::Invalid { field: "process.ioPriority.priority", reason: format!("{} is not in 0..7", io.priority()) });
    }
    // SAFETY: ioprio_set on ourselves.
    if unsafe { libc::syscall(libc::SYS_ioprio_set, 1, 0, (class << 13) | io.priority()) } < 0 {
        return Err(last("process.ioPriority"));
    }
    Ok(())
}

#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
}

/// process.scheduler: sched_setattr(2) with every field the spec lists.
pub fn set_scheduler(s: &Scheduler) -> Result<(), Error> {
    let policy = match s.policy() {
        LinuxSchedulerPolicy::SchedOther => 0,
        LinuxSchedulerPolicy::SchedFifo => 1,
        LinuxSchedulerPolicy::SchedRr => 2,
        LinuxSchedulerPolicy::SchedBatch => 3,
        LinuxSchedulerPolicy::SchedIso => 4,
        LinuxSchedulerPolicy::SchedIdle => 5,
        LinuxSchedulerPolicy::SchedDeadline => 6,
    };
    let flags = s.flags().iter().flatten().fold(0u64, |f, x| {
        f | match x {
            LinuxSchedulerFlag::SchedResetOnFork => 0x01,
            LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
            LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
            LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
            LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
            LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
            LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
        }
    });
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy,
        flags,
        nice: s.nice().unwrap_or(0),
        priority: s.priority().unwrap_or(0).max(0) as u32,
        runtime: s.runtime().unwrap_or(0),
        deadline: s.deadline().unwrap_or(0),
        period: s.period().unwrap_or(0),
    };
    // SAFETY: sched_setattr on ourselves with a struct of the size given.
    if unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) } < 0 {
        return Err(last("process.scheduler"));
    }
    Ok(())
}

fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|s| s.trim() == "Y")
}

fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// Checks, before anything is created, that the labels asked for can be applied here:
/// a profile or label for an LSM the host does not have is an error (as runc), not a
/// silently unconfined container.
pub fn check_lsm(process: &Process, mount_label: Option<&str>) -> Result<(), Error> {
    if process.apparmor_profile().as_deref().is_some_and(|p| !p.is_empty()) && !apparmor_enabled() {
        return Err(Error::Invalid { field: "process.apparmorProfile", reason: "AppArmor is not enabled on this host".into() });
    }
    if process.selinux_label().as_deref().is_some_and(|p| !p.is_empty()) && !selinux_enabled() {
        return Err(Error::Invalid { field: "process.selinuxLabel", reason: "SELinux is not enabled on this host".into() });
    }
    if mount_label.is_some_and(|l| !l.is_empty()) && !selinux_enabled() {
        crate::logging::warn("linux.mountLabel is ignored: SELinux is not enabled on this host");
    }
    Ok(())
}

/// Arms the labels for the coming execve (the kernel applies them at exec).
pub fn set_exec_labels(process: &Process, proc: &ProcFs) -> Result<(), Error> {
    if let Some(p) = process.apparmor_profile().as_deref().filter(|p| !p.is_empty()) {
        let data = format!("exec {p}");
        let r = match proc.write("self/attr/apparmor/exec", &data) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => proc.write("self/attr/exec", &data),
            r => r,
        };
        r.map_err(|source| Error::Sys { field: "process.apparmorProfile", source })?;
    }
    if let Some(l) = process.selinux_label().as_deref().filter(|l| !l.is_empty()) {
        proc.write("self/attr/exec", l).map_err(|source| Error::Sys { field: "process.selinuxLabel", source })?;
    }
    Ok(())
}
