//! linux.seccomp → BPF with the seccompiler crate (pure Rust, no libseccomp), and loading.
//!
//! seccompiler compiles a filter with one default ("mismatch") and one match action. An
//! OCI profile gives each rule its own action and errno, so berth stacks filters, which
//! the kernel evaluates all, keeping the most restrictive result:
//!   - the default filter: a syscall matched by any rule → ALLOW, else defaultAction;
//!   - one filter per other (action, errno) of the rules: matched → that action, else ALLOW.
//! A syscall matched by a rule thus gets that rule's action, any other the default. (If
//! two rules of different actions match one call, the more restrictive wins.)
//!
//! Architectures: seccompiler kills a process calling through a foreign ABI (e.g. x86 or
//! x32 on x86_64). berth replaces that verdict with the profile's default action in the
//! default filter and ALLOW in the others, so foreign-ABI calls get the default action
//! instead of a kill; rules are compiled for the native ABI only (documented choice).
//!
//! User notification (SCMP_ACT_NOTIFY): seccompiler has no such action, so notify rules
//! are compiled with a reserved placeholder verdict (TRACE with data 0xfffe) that is then
//! rewritten to SECCOMP_RET_USER_NOTIF. That filter is loaded with
//! SECCOMP_FILTER_FLAG_NEW_LISTENER and its listener fd is sent to `listenerPath` with the
//! container process state (config-linux.md "Seccomp"). As runc, NOTIFY cannot be the
//! default action.

mod cache;
mod syscalls_x86_64;

pub use cache::{compile_cached, decode_entry};

use std::collections::BTreeMap;

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator};
use seccompiler::{BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("linux.seccomp{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("linux.seccomp: cannot load the filter: {0}")]
    Load(std::io::Error),
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::Invalid { field: field.into(), reason: reason.into() }
}

/// A CPU architecture, as far as compiling a profile for it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Aarch64,
    Other,
}

impl Arch {
    /// The architecture berth runs on.
    pub fn native() -> Arch {
        if cfg!(target_arch = "x86_64") {
            Arch::X86_64
        } else if cfg!(target_arch = "aarch64") {
            Arch::Aarch64
        } else {
            Arch::Other
        }
    }

    fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
            Arch::Other => std::env::consts::ARCH,
        }
    }

    /// Its syscall names and numbers, sorted by name, if berth has them.
    fn syscalls(self) -> Option<&'static [(&'static str, i64)]> {
        match self {
            Arch::X86_64 => Some(syscalls_x86_64::SYSCALLS),
            Arch::Aarch64 | Arch::Other => None,
        }
    }
}

/// The syscall number of `name` on this architecture.
pub fn syscall_number(name: &str) -> Option<i64> {
    number_on(Arch::native().syscalls()?, name)
}

fn number_on(table: &[(&str, i64)], name: &str) -> Option<i64> {
    table.binary_search_by(|(n, _)| n.cmp(&name)).ok().map(|i| table[i].1)
}

const EPERM: u32 = 1;
/// Stands in for SECCOMP_RET_USER_NOTIF while seccompiler builds the program.
const NOTIFY_PLACEHOLDER: SeccompAction = SeccompAction::Trace(0xfffe);
const SECCOMP_RET_USER_NOTIF: u32 = 0x7fc0_0000;
const SECCOMP_FILTER_FLAG_NEW_LISTENER: u32 = 8;
/// BPF_RET | BPF_K: a return of a constant verdict.
const BPF_RET_K: u16 = 0x06;

fn action(a: LinuxSeccompAction, errno: Option<u32>, field: &str) -> Result<SeccompAction, Error> {
    use LinuxSeccompAction::*;
    let act = match a {
        ScmpActAllow => SeccompAction::Allow,
        ScmpActErrno => return Ok(SeccompAction::Errno(errno.unwrap_or(EPERM))),
        ScmpActTrace => return Ok(SeccompAction::Trace(errno.unwrap_or(EPERM))),
        ScmpActKill | ScmpActKillThread => SeccompAction::KillThread,
        ScmpActKillProcess => SeccompAction::KillProcess,
        ScmpActTrap => SeccompAction::Trap,
        ScmpActLog => SeccompAction::Log,
        ScmpActNotify => NOTIFY_PLACEHOLDER,
    };
    if errno.is_some() {
        return Err(invalid(field, format!("errnoRet is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not {a:?}")));
    }
    Ok(act)
}

/// A stable key per action (SeccompAction has no Ord).
fn key(a: &SeccompAction) -> u32 {
    u32::from(a.clone())
}

/// Compiled filters, in load order, and the seccomp() flags to load them with.
pub struct Compiled {
    pub filters: Vec<BpfProgram>,
    pub flags: u32,
    /// The filter holding the SCMP_ACT_NOTIFY rules (loaded with a listener).
    pub notify: Option<usize>,
    pub listener_metadata: Option<String>,
}

type Chains = BTreeMap<i64, Option<Vec<SeccompRule>>>;

fn add(chains: &mut Chains, nr: i64, rule: Option<SeccompRule>) {
    let e = chains.entry(nr).or_insert_with(|| Some(Vec::new()));
    match (e.as_mut(), rule) {
        // An unconditional rule makes the whole chain unconditional.
        (_, None) => *e = None,
        (Some(v), Some(r)) => v.push(r),
        (None, Some(_)) => {}
    }
}

fn finish(chains: Chains) -> BTreeMap<i64, Vec<SeccompRule>> {
    chains.into_iter().map(|(nr, c)| (nr, c.unwrap_or_default())).collect()
}

pub fn compile(s: &LinuxSeccomp) -> Result<Compiled, Error> {
    compile_for(s, Arch::native())
}

/// Compiles for `arch`. A profile with rules is refused on an architecture berth has no
/// syscall table for: skipping every rule would turn a deny-list profile into "allow
/// everything", failing open.
fn compile_for(s: &LinuxSeccomp, arch: Arch) -> Result<Compiled, Error> {
    let has_rules = s.syscalls().iter().flatten().any(|sc| !sc.names().is_empty());
    let table = match arch.syscalls() {
        Some(t) => t,
        None if has_rules => {
            return Err(invalid(".syscalls", format!("berth has no syscall table for {}: refusing a profile whose rules it cannot compile", arch.name())));
        }
        None => &[],
    };
    if s.listener_metadata().is_some() && s.listener_path().is_none() {
        return Err(invalid(".listenerMetadata", "is set without listenerPath"));
    }
    if s.default_action() == LinuxSeccompAction::ScmpActNotify {
        return Err(invalid(".defaultAction", "SCMP_ACT_NOTIFY cannot be the default action"));
    }
    let default = action(s.default_action(), s.default_errno_ret(), ".defaultAction")?;
    let mut all: Chains = BTreeMap::new();
    let mut groups: BTreeMap<u32, (SeccompAction, Chains)> = BTreeMap::new();
    for (i, sc) in s.syscalls().iter().flatten().enumerate() {
        let field = format!(".syscalls[{i}]");
        if sc.names().is_empty() {
            return Err(invalid(format!("{field}.names"), "must name at least one syscall"));
        }
        let act = action(sc.action(), sc.errno_ret(), &format!("{field}.action"))?;
        if sc.action() == LinuxSeccompAction::ScmpActNotify && sc.errno_ret().is_some() {
            return Err(invalid(format!("{field}.action"), "errnoRet is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE"));
        }
        if sc.action() == LinuxSeccompAction::ScmpActNotify && s.listener_path().is_none() {
            return Err(invalid(".listenerPath", "is required by SCMP_ACT_NOTIFY rules"));
        }
        let mut conds = Vec::new();
        for (j, a) in sc.args().iter().flatten().enumerate() {
            let op = match a.op() {
                LinuxSeccompOperator::ScmpCmpNe => SeccompCmpOp::Ne,
                LinuxSeccompOperator::ScmpCmpLt => SeccompCmpOp::Lt,
                LinuxSeccompOperator::ScmpCmpLe => SeccompCmpOp::Le,
                LinuxSeccompOperator::ScmpCmpEq => SeccompCmpOp::Eq,
                LinuxSeccompOperator::ScmpCmpGe => SeccompCmpOp::Ge,
                LinuxSeccompOperator::ScmpCmpGt => SeccompCmpOp::Gt,
                // OCI: value is the mask, valueTwo what the masked argument must equal.
                LinuxSeccompOperator::ScmpCmpMaskedEq => SeccompCmpOp::MaskedEq(a.value()),
            };
            let value = if a.op() == LinuxSeccompOperator::ScmpCmpMaskedEq { a.value_two().unwrap_or(0) } else { a.value() };
            let idx = u8::try_from(a.index()).map_err(|_| invalid(format!("{field}.args[{j}].index"), "must be 0..5"))?;
            let c = SeccompCondition::new(idx, SeccompCmpArgLen::Qword, op, value).map_err(|e| invalid(format!("{field}.args[{j}]"), e.to_string()))?;
            conds.push(c);
        }
        // All of a rule's args must match (AND); rules for one syscall combine with OR.
        let rule = if conds.is_empty() { None } else { Some(SeccompRule::new(conds).map_err(|e| invalid(&field, e.to_string()))?) };
        for name in sc.names() {
            let Some(nr) = number_on(table, name) else {
                // As runc: a name this architecture does not know is skipped.
                crate::logging::debug(&format!("seccomp: unknown syscall {name:?} skipped"));
                continue;
            };
            add(&mut all, nr, rule.clone());
            if key(&act) != key(&SeccompAction::Allow) {
                add(&mut groups.entry(key(&act)).or_insert_with(|| (act.clone(), BTreeMap::new())).1, nr, rule.clone());
            }
        }
    }
    let arch = target_arch(arch)?;
    let mut filters = Vec::new();
    if key(&default) != key(&SeccompAction::Allow) {
        let f = SeccompFilter::new(finish(all), default.clone(), SeccompAction::Allow, arch).map_err(|e| invalid("", e.to_string()))?;
        filters.push(with_foreign_arch(f, &default)?);
    }
    let mut notify = None;
    for (_, (act, chains)) in groups {
        let is_notify = key(&act) == key(&NOTIFY_PLACEHOLDER);
        let f = SeccompFilter::new(finish(chains), SeccompAction::Allow, act, arch).map_err(|e| invalid("", e.to_string()))?;
        let mut prog = with_foreign_arch(f, &SeccompAction::Allow)?;
        if is_notify {
            let placeholder = u32::from(NOTIFY_PLACEHOLDER);
            for ins in prog.iter_mut().filter(|i| i.code == BPF_RET_K && i.k == placeholder) {
                ins.k = SECCOMP_RET_USER_NOTIF;
            }
            notify = Some(filters.len());
        }
        filters.push(prog);
    }
    let mut flags = 0u32;
    for f in s.flags().iter().flatten() {
        flags |= match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => 1,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => 2,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => 4,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => 32,
        };
    }
    Ok(Compiled { filters, flags, notify, listener_metadata: s.listener_metadata().clone() })
}

fn target_arch(arch: Arch) -> Result<TargetArch, Error> {
    match arch {
        Arch::X86_64 => Ok(TargetArch::x86_64),
        Arch::Aarch64 => Ok(TargetArch::aarch64),
        Arch::Other => Err(invalid("", format!("seccomp is not supported on {}", arch.name()))),
    }
}

/// Replaces seccompiler's kill on a foreign architecture (instruction 2: `ret KILL`)
/// with `verdict`.
fn with_foreign_arch(f: SeccompFilter, verdict: &SeccompAction) -> Result<BpfProgram, Error> {
    let mut prog: BpfProgram = f.try_into().map_err(|e: seccompiler::BackendError| invalid("", e.to_string()))?;
    if prog.len() > 2 && prog[2].k == libc::SECCOMP_RET_KILL_PROCESS {
        prog[2].k = u32::from(verdict.clone());
    }
    Ok(prog)
}

/// Where the listener fd of a filter with SCMP_ACT_NOTIFY rules goes.
pub struct Listener<'a> {
    /// Connected to listenerPath (by the runtime, before entering the container).
    pub socket: std::os::fd::RawFd,
    /// The container's state (runtime.md), sent with the fd.
    pub state: &'a str,
}

/// Loads the filters into the calling thread (needs no_new_privs or CAP_SYS_ADMIN), and
/// hands the notification listener to `listener`.
pub fn load(c: &Compiled, listener: Option<&Listener>) -> Result<(), Error> {
    for (i, f) in c.filters.iter().enumerate() {
        let prog = libc::sock_fprog { len: f.len() as u16, filter: f.as_ptr() as *mut libc::sock_filter };
        let notify = c.notify == Some(i);
        let flags = if notify { c.flags | SECCOMP_FILTER_FLAG_NEW_LISTENER } else { c.flags };
        // SAFETY: seccomp(SET_MODE_FILTER) with a valid program that outlives the call.
        let r = unsafe { libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, flags, &prog as *const libc::sock_fprog) };
        if r < 0 {
            return Err(Error::Load(std::io::Error::last_os_error()));
        }
        if notify {
            // SAFETY: with NEW_LISTENER the result is a new fd.
            let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(r as i32) };
            let l = listener.ok_or_else(|| invalid(".listenerPath", "no listener socket"))?;
            send_listener(l, c.listener_metadata.as_deref(), std::os::fd::AsRawFd::as_raw_fd(&fd))?;
        }
    }
    Ok(())
}

/// config-linux.md: the container process state, with the listener fd as "seccompFd".
pub fn process_state(state: &str, metadata: Option<&str>) -> String {
    let st: serde_json::Value = serde_json::from_str(state).unwrap_or_default();
    serde_json::json!({
        "ociVersion": crate::SPEC_VERSION,
        "fds": ["seccompFd"],
        "pid": st["pid"],
        "metadata": metadata.unwrap_or(""),
        "state": st,
    })
    .to_string()
}

fn send_listener(l: &Listener, metadata: Option<&str>, fd: std::os::fd::RawFd) -> Result<(), Error> {
    crate::tty::send_fd(l.socket, &process_state(l.state, metadata), fd).map_err(|e| Error::Load(std::io::Error::other(e.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(v: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn table_is_sorted_and_knows_common_names() {
        assert!(syscalls_x86_64::SYSCALLS.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(syscall_number("read"), Some(0));
        assert_eq!(syscall_number("unshare"), Some(272));
        assert_eq!(syscall_number("no_such_call"), None);
    }

    #[test]
    fn one_filter_per_action_plus_the_default() {
        let c = compile(&profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                {"names": ["read", "write", "bogus_name"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["mount"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]}
            ],
            "flags": ["SECCOMP_FILTER_FLAG_LOG"]
        })))
        .unwrap();
        // default filter + ERRNO(38) + ERRNO(EPERM)
        assert_eq!(c.filters.len(), 3);
        assert_eq!(c.flags, 2);
        // The foreign-arch verdict is the default action, not a kill.
        assert_eq!(c.filters[0][2].k, libc::SECCOMP_RET_ERRNO | EPERM);
    }

    #[test]
    fn notify_rules_become_user_notif_in_their_own_filter() {
        let c = compile(&profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/l.sock", "listenerMetadata": "m",
            "syscalls": [{"names": ["sethostname"], "action": "SCMP_ACT_NOTIFY"}]
        })))
        .unwrap();
        assert_eq!(c.notify, Some(0));
        assert!(c.filters[0].iter().any(|i| i.k == SECCOMP_RET_USER_NOTIF));
        assert!(!c.filters[0].iter().any(|i| i.k == u32::from(NOTIFY_PLACEHOLDER)));
        let ps: serde_json::Value = serde_json::from_str(&process_state(r#"{"id":"c","pid":42}"#, Some("m"))).unwrap();
        assert_eq!(ps["fds"][0], "seccompFd");
        assert_eq!(ps["pid"], 42);
        assert_eq!(ps["state"]["id"], "c");
    }

    #[test]
    fn rules_are_never_dropped_for_lack_of_a_syscall_table() {
        // Deny-list profile: allow by default, refuse mount. Without a table for the
        // architecture, compiling it would load "allow everything".
        let p = profile(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ERRNO"}]}));
        match compile_for(&p, Arch::Aarch64) {
            Err(Error::Invalid { field, reason }) => assert!(field == ".syscalls" && reason.contains("aarch64"), "{reason}"),
            other => panic!("{:?}", other.map(|c| c.filters.len())),
        }
        assert!(compile_for(&p, Arch::X86_64).is_ok());
        // A profile with no rules means the same everywhere.
        let only_default = profile(serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO"}));
        assert_eq!(compile_for(&only_default, Arch::Aarch64).unwrap().filters.len(), 1);
    }

    #[test]
    fn bad_profiles_are_refused() {
        let bad = [
            (serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]}), ".syscalls[0].names"),
            (serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_KILL", "errnoRet": 1}]}), ".syscalls[0].action"),
            (serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "x"}), ".listenerMetadata"),
            (serde_json::json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/x"}), ".defaultAction"),
            (serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]}), ".listenerPath"),
        ];
        for (p, field) in bad {
            match compile(&profile(p)) {
                Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {:?}", other.map(|c| c.filters.len())),
            }
        }
    }
}
