//! linux.seccomp → BPF with the seccompiler crate (pure Rust, no libseccomp), and loading.
//!
//! seccompiler compiles a filter with one default ("mismatch") and one match action. An
//! OCI profile gives each rule its own action and errno, so berth compiles one part per
//! (action, errno) of the rules (matched → that action, else ALLOW) and a default part (a
//! syscall matched by any rule → ALLOW, else defaultAction), and chains them into one
//! program: the parts in the kernel's precedence order of their actions, each part's ALLOW
//! a jump to the next. That is the verdict a stack of those filters would give (the most
//! restrictive), with one seccomp(2) call: no filter loaded first can deny the call that
//! loads the next (a profile denying seccomp itself failed so). Too long for one program
//! (4096 instructions), the parts are loaded as a stack, the default part last.
//!
//! As runc: a syscall numbered above every syscall the profile names gets ENOSYS (unless
//! the default allows), and several conditions on one argument index are separate rules.
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
    /// runc's words, which scripts match.
    #[error("failed to connect with seccomp agent specified in the seccomp profile: {path}: {source}")]
    Agent { path: String, source: std::io::Error },
}

/// The listener socket of a profile with SCMP_ACT_NOTIFY rules, connected to its
/// `listenerPath` (a host path: connected by the runtime before entering the container);
/// None when the compiled profile has no notify rule (a listenerPath alone is ignored).
pub fn connect_listener(compiled: Option<&Compiled>, profile: Option<&LinuxSeccomp>) -> Result<Option<std::os::fd::OwnedFd>, Error> {
    let (Some(_), Some(path)) = (compiled.and_then(|c| c.notify), profile.and_then(|s| s.listener_path().as_deref())) else {
        return Ok(None);
    };
    let s = std::os::unix::net::UnixStream::connect(path).map_err(|source| Error::Agent { path: path.display().to_string(), source })?;
    Ok(Some(s.into()))
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

/// The actions, operators and filter flags compile() takes, named as profiles name them:
/// what `features` reports (a test compiles a rule with each).
pub const ACTIONS: &[LinuxSeccompAction] = &[
    LinuxSeccompAction::ScmpActAllow,
    LinuxSeccompAction::ScmpActErrno,
    LinuxSeccompAction::ScmpActKill,
    LinuxSeccompAction::ScmpActKillProcess,
    LinuxSeccompAction::ScmpActKillThread,
    LinuxSeccompAction::ScmpActLog,
    LinuxSeccompAction::ScmpActNotify,
    LinuxSeccompAction::ScmpActTrace,
    LinuxSeccompAction::ScmpActTrap,
];
pub const OPERATORS: &[LinuxSeccompOperator] = &[
    LinuxSeccompOperator::ScmpCmpEq,
    LinuxSeccompOperator::ScmpCmpGe,
    LinuxSeccompOperator::ScmpCmpGt,
    LinuxSeccompOperator::ScmpCmpLe,
    LinuxSeccompOperator::ScmpCmpLt,
    LinuxSeccompOperator::ScmpCmpMaskedEq,
    LinuxSeccompOperator::ScmpCmpNe,
];
pub const FLAGS: &[(LinuxSeccompFilterFlag, u32)] = &[
    (LinuxSeccompFilterFlag::SeccompFilterFlagTsync, 1),
    (LinuxSeccompFilterFlag::SeccompFilterFlagLog, 2),
    (LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow, 4),
    (LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv, 32),
];

/// features.md "seccomp", from the tables above and the native architecture.
pub fn features() -> serde_json::Value {
    let flags: Vec<serde_json::Value> = FLAGS.iter().map(|(f, _)| serde_json::json!(f)).collect();
    let arch = match Arch::native() {
        Arch::X86_64 => vec!["SCMP_ARCH_X86_64"],
        Arch::Aarch64 => vec!["SCMP_ARCH_AARCH64"],
        Arch::Other => vec![],
    };
    serde_json::json!({
        "enabled": true,
        "actions": ACTIONS,
        "operators": OPERATORS,
        "archs": arch,
        "knownFlags": flags,
        "supportedFlags": flags,
    })
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
        return Err(invalid(".defaultAction", "SCMP_ACT_NOTIFY cannot be used as default action"));
    }
    let default = action(s.default_action(), s.default_errno_ret(), ".defaultAction")?;
    let mut all: Chains = BTreeMap::new();
    let mut groups: BTreeMap<u32, (SeccompAction, Chains)> = BTreeMap::new();
    let mut max_named = -1i64;
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
        // As runc: the init reports the listener fd with write(2), which a notifying
        // filter would hold until an agent that has not got the fd yet answers.
        if sc.action() == LinuxSeccompAction::ScmpActNotify && sc.names().iter().any(|n| n == "write") {
            return Err(invalid(format!("{field}.names"), "SCMP_ACT_NOTIFY cannot be used for the write syscall"));
        }
        let mut conds = Vec::new();
        let mut per_index = [0u8; 6];
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
            let idx = u8::try_from(a.index()).ok().filter(|i| *i < 6).ok_or_else(|| invalid(format!("{field}.args[{j}].index"), "must be 0..5"))?;
            per_index[usize::from(idx)] += 1;
            let c = SeccompCondition::new(idx, SeccompCmpArgLen::Qword, op, value).map_err(|e| invalid(format!("{field}.args[{j}]"), e.to_string()))?;
            conds.push(c);
        }
        // All of a rule's args must match (AND); rules for one syscall combine with OR.
        // As runc (libseccomp cannot AND two conditions on one argument): when an index
        // repeats, every condition of the entry becomes a rule of its own (OR).
        let rules: Vec<Option<SeccompRule>> = if conds.is_empty() {
            vec![None]
        } else if per_index.iter().any(|n| *n > 1) {
            conds.into_iter().map(|c| SeccompRule::new(vec![c]).map(Some).map_err(|e| invalid(&field, e.to_string()))).collect::<Result<_, _>>()?
        } else {
            vec![Some(SeccompRule::new(conds).map_err(|e| invalid(&field, e.to_string()))?)]
        };
        for name in sc.names() {
            let Some(nr) = number_on(table, name) else {
                // As runc: a name this architecture does not know is skipped.
                crate::logging::debug(&format!("seccomp: unknown syscall {name:?} skipped"));
                continue;
            };
            max_named = max_named.max(nr);
            for rule in &rules {
                add(&mut all, nr, rule.clone());
                if key(&act) != key(&SeccompAction::Allow) {
                    add(&mut groups.entry(key(&act)).or_insert_with(|| (act.clone(), BTreeMap::new())).1, nr, rule.clone());
                }
            }
        }
    }
    let audit_arch = audit_arch(arch);
    let arch = target_arch(arch)?;
    // The parts of the program, in the order it evaluates them: the rule groups by the
    // kernel's precedence of their actions (the most restrictive first), the default last.
    let mut groups: Vec<(SeccompAction, Chains)> = groups.into_values().collect();
    groups.sort_by_key(|(a, _)| precedence(a));
    let mut parts = Vec::new();
    let mut has_notify = false;
    for (act, chains) in groups {
        let is_notify = key(&act) == key(&NOTIFY_PLACEHOLDER);
        let f = SeccompFilter::new(finish(chains), SeccompAction::Allow, act, arch).map_err(|e| invalid("", e.to_string()))?;
        let mut prog = with_foreign_arch(f, &SeccompAction::Allow)?;
        if is_notify {
            let placeholder = u32::from(NOTIFY_PLACEHOLDER);
            for ins in prog.iter_mut().filter(|i| i.code == BPF_RET_K && i.k == placeholder) {
                ins.k = SECCOMP_RET_USER_NOTIF;
            }
            has_notify = true;
        }
        parts.push(prog);
    }
    let default_allows = matches!(default, SeccompAction::Allow | SeccompAction::Log);
    if key(&default) != key(&SeccompAction::Allow) {
        let f = SeccompFilter::new(finish(all), default.clone(), SeccompAction::Allow, arch).map_err(|e| invalid("", e.to_string()))?;
        parts.push(with_foreign_arch(f, &default)?);
    }
    // As runc's stub: a syscall newer than every one the profile names (so one it cannot
    // know of) gets ENOSYS, which programs take as "not here" and fall back, instead of
    // the default action's errno (glibc's clone3 → clone, statx → fstatat, ...).
    let stub = if !default_allows && max_named >= 0 { enosys_stub(audit_arch, max_named) } else { Vec::new() };
    // The chained program is exactly the stub plus every part: its length is known before
    // it is built, so nothing is copied to keep the parts for the fallback.
    let chained_len = stub.len() + parts.iter().map(Vec::len).sum::<usize>();
    let (filters, notify) = if parts.is_empty() {
        (Vec::new(), None)
    } else if chained_len <= BPF_MAXINSNS {
        (vec![chain(stub, parts)], has_notify.then_some(0))
    } else {
        // Too long for one program: loaded as a stack, which the kernel evaluates with the
        // same precedence (a filter denying seccomp(2) itself then must not come first:
        // the default's goes last).
        let notify = has_notify.then(|| parts.iter().position(|p| p.iter().any(|i| i.code == BPF_RET_K && i.k == SECCOMP_RET_USER_NOTIF))).flatten();
        let mut parts = parts;
        parts[0] = stub.into_iter().chain(std::mem::take(&mut parts[0])).collect();
        (parts, notify)
    };
    let mut flags = 0u32;
    for f in s.flags().iter().flatten() {
        flags |= FLAGS.iter().find(|(x, _)| x == f).map_or(0, |(_, bit)| *bit);
    }
    Ok(Compiled { filters, flags, notify, listener_metadata: s.listener_metadata().clone() })
}

/// The kernel's maximum length of one filter program.
pub(crate) const BPF_MAXINSNS: usize = 4096;
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JEQ_K: u16 = 0x15;
const BPF_JGT_K: u16 = 0x25;
const BPF_JA: u16 = 0x05;

fn ins(code: u16, jt: u8, jf: u8, k: u32) -> seccompiler::sock_filter {
    seccompiler::sock_filter { code, jt, jf, k }
}

/// Sort key: the kernel's precedence of an action (SECCOMP_RET_ACTION_FULL as signed,
/// lowest first: KILL_PROCESS, KILL_THREAD, TRAP, ERRNO, USER_NOTIF, TRACE, LOG); among
/// equal actions the higher data first, as the filter loaded last used to win.
fn precedence(a: &SeccompAction) -> (i32, std::cmp::Reverse<u32>) {
    let v = if key(a) == key(&NOTIFY_PLACEHOLDER) { SECCOMP_RET_USER_NOTIF } else { u32::from(a.clone()) };
    ((v & 0xffff_0000) as i32, std::cmp::Reverse(v & 0xffff))
}

fn audit_arch(arch: Arch) -> u32 {
    match arch {
        Arch::X86_64 => 0xc000_003e,
        Arch::Aarch64 => 0xc000_00b7,
        Arch::Other => 0,
    }
}

/// On the native ABI, a syscall number above `max` returns ENOSYS; anything else falls
/// through to the instruction after the stub.
fn enosys_stub(audit_arch: u32, max: i64) -> BpfProgram {
    vec![
        ins(BPF_LD_W_ABS, 0, 0, 4),         // A = arch
        ins(BPF_JEQ_K, 0, 3, audit_arch),   // foreign ABI: past the stub
        ins(BPF_LD_W_ABS, 0, 0, 0),         // A = nr
        ins(BPF_JGT_K, 0, 1, max as u32),   // nr > max: ENOSYS, else past the stub
        ins(BPF_RET_K, 0, 0, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
    ]
}

/// One program from the parts: in every part but the last, "allow" becomes a jump to the
/// next part, so the first part whose rules match decides, in precedence order: the
/// verdict of a stack of filters, in one program (one seccomp(2) call, so no earlier
/// filter can deny the loading of a later one, and one evaluation per syscall).
fn chain(stub: BpfProgram, parts: Vec<BpfProgram>) -> BpfProgram {
    let mut out = stub;
    let n = parts.len();
    for (i, mut p) in parts.into_iter().enumerate() {
        if i + 1 < n {
            let next = out.len() + p.len();
            for (j, x) in p.iter_mut().enumerate() {
                if x.code == BPF_RET_K && x.k == libc::SECCOMP_RET_ALLOW {
                    let pc = out.len() + j;
                    *x = ins(BPF_JA, 0, 0, (next - pc - 1) as u32);
                }
            }
        }
        out.extend(p);
    }
    out
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

    /// A classic-BPF interpreter for the instructions seccompiler and berth emit, run on a
    /// seccomp_data of (nr, arch, args): the verdict the kernel would compute.
    fn eval(prog: &[seccompiler::sock_filter], nr: i64, arch: u32, args: [u64; 6]) -> u32 {
        let word = |off: u32| -> u32 {
            match off {
                0 => nr as u32,
                4 => arch,
                8 | 12 => 0, // instruction pointer
                o => {
                    let a = args[((o - 16) / 8) as usize];
                    if (o - 16) % 8 == 0 { a as u32 } else { (a >> 32) as u32 }
                }
            }
        };
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = &prog[pc];
            let jump = |cond: bool| if cond { i.jt as usize } else { i.jf as usize };
            pc += 1;
            match i.code {
                BPF_LD_W_ABS => acc = word(i.k),
                0x54 => acc &= i.k,
                BPF_JA => pc += i.k as usize,
                BPF_JEQ_K => pc += jump(acc == i.k),
                BPF_JGT_K => pc += jump(acc > i.k),
                0x35 => pc += jump(acc >= i.k),
                BPF_RET_K => return i.k,
                c => panic!("instruction {c:#x} at {}", pc - 1),
            }
        }
    }

    /// The verdict of a compiled profile: one program, or a stack (the most restrictive).
    fn verdict(c: &Compiled, nr: i64, args: [u64; 6]) -> u32 {
        c.filters.iter().map(|f| eval(f, nr, 0xc000_003e, args)).min_by_key(|v| (v & 0xffff_0000) as i32).unwrap_or(libc::SECCOMP_RET_ALLOW)
    }

    #[test]
    fn every_action_in_one_program_with_the_stack_semantics() {
        let c = compile(&profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                {"names": ["read", "write", "bogus_name", "seccomp"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["mount"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]},
                {"names": ["kill"], "action": "SCMP_ACT_TRAP", "args": [{"index": 1, "value": 15, "op": "SCMP_CMP_EQ"}]},
                {"names": ["getpid"], "action": "SCMP_ACT_LOG"}
            ],
            "flags": ["SECCOMP_FILTER_FLAG_LOG"]
        })))
        .unwrap();
        // One program: no filter loaded first can deny the seccomp(2) that loads the next.
        assert_eq!(c.filters.len(), 1);
        assert_eq!(c.flags, 2);
        let errno = |e: u32| libc::SECCOMP_RET_ERRNO | e;
        let nr = |n: &str| syscall_number(n).unwrap();
        assert_eq!(verdict(&c, nr("read"), [0; 6]), libc::SECCOMP_RET_ALLOW);
        assert_eq!(verdict(&c, nr("seccomp"), [0; 6]), libc::SECCOMP_RET_ALLOW);
        assert_eq!(verdict(&c, nr("mount"), [0; 6]), errno(38));
        assert_eq!(verdict(&c, nr("kill"), [0, 9, 0, 0, 0, 0]), errno(EPERM));
        assert_eq!(verdict(&c, nr("kill"), [0, 15, 0, 0, 0, 0]), libc::SECCOMP_RET_TRAP);
        assert_eq!(verdict(&c, nr("kill"), [0, 1, 0, 0, 0, 0]), errno(EPERM), "no rule's conditions hold: the default, as libseccomp");
        assert_eq!(verdict(&c, nr("getpid"), [0; 6]), libc::SECCOMP_RET_LOG);
        assert_eq!(verdict(&c, nr("chdir"), [0; 6]), errno(EPERM), "unnamed: the default");
        // A foreign ABI gets the default action, not a kill.
        assert_eq!(eval(&c.filters[0], nr("read"), 0x4000_0003, [0; 6]), errno(EPERM));
    }

    #[test]
    fn every_action_and_operator_features_names_compiles() {
        for a in ACTIONS.iter().filter(|a| **a != LinuxSeccompAction::ScmpActAllow) {
            for op in OPERATORS {
                let p = profile(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x",
                    "syscalls": [{"names": ["kill"], "action": a, "args": [{"index": 1, "value": 9, "op": op}]}]}));
                assert!(compile(&p).is_ok(), "{a:?} {op:?}");
            }
        }
        let f = features();
        assert!(f["actions"].as_array().unwrap().contains(&serde_json::json!("SCMP_ACT_NOTIFY")));
    }

    #[test]
    fn syscalls_newer_than_the_profile_get_enosys() {
        // As runc's stub: above the highest syscall number the profile names, ENOSYS; below
        // it, unnamed calls get the default action. Not with a default that allows.
        let c = compile(&profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["read", "mount_setattr"], "action": "SCMP_ACT_ALLOW"}]
        })))
        .unwrap();
        let max = syscall_number("mount_setattr").unwrap();
        assert_eq!(verdict(&c, max + 1, [0; 6]), libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32);
        assert_eq!(verdict(&c, 999, [0; 6]), libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32);
        assert_eq!(verdict(&c, max - 2, [0; 6]), libc::SECCOMP_RET_ERRNO | EPERM);
        assert_eq!(verdict(&c, max, [0; 6]), libc::SECCOMP_RET_ALLOW);
        let c = compile(&profile(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO"}]}))).unwrap();
        assert_eq!(verdict(&c, 999, [0; 6]), libc::SECCOMP_RET_ALLOW);
        assert_eq!(verdict(&c, 0, [0; 6]), libc::SECCOMP_RET_ERRNO | EPERM);
    }

    #[test]
    fn conditions_on_one_argument_match_as_runc_matches_them() {
        // Two conditions on index 0: runc adds each as its own rule (OR); on two indices
        // they are one rule (AND).
        let c = compile(&profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "args": [
                    {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]},
                {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [
                    {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]}
            ]
        })))
        .unwrap();
        let p = syscall_number("personality").unwrap();
        let denied = libc::SECCOMP_RET_ERRNO | EPERM;
        assert_eq!(verdict(&c, p, [1, 0, 0, 0, 0, 0]), denied);
        assert_eq!(verdict(&c, p, [2, 0, 0, 0, 0, 0]), denied);
        assert_eq!(verdict(&c, p, [3, 0, 0, 0, 0, 0]), libc::SECCOMP_RET_ALLOW);
        let k = syscall_number("kill").unwrap();
        assert_eq!(verdict(&c, k, [1, 9, 0, 0, 0, 0]), denied);
        assert_eq!(verdict(&c, k, [1, 2, 0, 0, 0, 0]), libc::SECCOMP_RET_ALLOW);
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
            (serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x", "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_NOTIFY"}]}), ".syscalls[0].names"),
            (serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}), ".syscalls[0].args[0].index"),
        ];
        for (p, field) in bad {
            match compile(&profile(p)) {
                Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {:?}", other.map(|c| c.filters.len())),
            }
        }
    }
}
