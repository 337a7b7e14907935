//! Readers for /proc/<pid>: the facts that decide whether a state file's pid is still our
//! container's process (alive, not a zombie, same start time).

/// The command name a container's init carries from its start until it executes the
/// container's program (set by process::init, as runc's init is `runc:[2:INIT]`): a pid
/// whose name is another has run its program, so it is past `created` (whatever the
/// program then calls itself, it can only make the exec.fifo be looked at).
pub const INIT_NAME: &std::ffi::CStr = c"berth:init";

/// What /proc/<pid>/stat says about a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub state: char,
    pub start_time: u64,
    /// Its command name is INIT_NAME.
    pub init_named: bool,
}

/// Parses /proc/<pid>/stat content. The command name (field 2) may contain spaces and
/// parentheses, so fields are counted after the last ')'.
/// The name is whatever bytes the process set, so the content is taken as bytes.
pub fn parse_stat(content: &[u8]) -> Option<ProcStat> {
    let close = content.iter().rposition(|&b| b == b')')?;
    let init_named = content.iter().position(|&b| b == b'(').is_some_and(|open| open < close && content[open + 1..close] == *INIT_NAME.to_bytes());
    let mut fields = content[close + 1..].split(|&b| b == b' ').filter(|f| !f.is_empty());
    let state = match fields.next()? {
        [s, ..] if s.is_ascii() => char::from(*s),
        _ => return None,
    };
    // After the state (field 3) the start time is field 22, i.e. the 19th field from here.
    let start_time = std::str::from_utf8(fields.nth(18)?).ok()?.trim_end().parse().ok()?;
    Some(ProcStat { state, start_time, init_named })
}

/// Whether we run in a user namespace other than the initial one (whose uid_map maps
/// all 2^32-1 ids onto themselves), as runc's userns.RunningInUserNS.
pub fn in_user_namespace() -> bool {
    super::procfs::ProcFs::host()
        .and_then(|p| p.read_small("self/uid_map"))
        .is_ok_and(|m| m.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"])
}

pub fn stat(pid: i32) -> Option<ProcStat> {
    if pid <= 0 {
        return None;
    }
    // The first 22 fields, all this reads, fit in far less than the buffer.
    let mut buf = [0u8; 1024];
    let n = super::procfs::ProcFs::host().ok()?.read_pid_into(pid as u32, "stat", &mut buf).ok()?;
    parse_stat(&buf[..n])
}

/// What /proc/<pid>/stat says of `pid` when it is alive (not a zombie, not dead) and
/// started at `start_time`: a pid reused by another process never passes for the
/// container's. One read of /proc/<pid>/stat.
pub fn alive_state(pid: i32, start_time: u64) -> Option<ProcStat> {
    stat(pid).filter(|s| s.start_time == start_time && s.state != 'Z' && s.state != 'X')
}

/// True when `pid` is alive and started at `start_time` (see `alive_state`).
pub fn is_alive(pid: i32, start_time: u64) -> bool {
    alive_state(pid, start_time).is_some()
}

/// How many CPUs this process may run on (its affinity mask; 1 if it cannot be read).
/// One system call, where std's available_parallelism also reads cgroup files.
pub fn cpus_allowed() -> usize {
    // SAFETY: a zeroed plain-data mask, filled by sched_getaffinity for this process.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above; the size given is the mask's own.
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) } != 0 {
        return 1;
    }
    // SAFETY: counting the bits of the mask just filled.
    (unsafe { libc::CPU_COUNT(&set) } as usize).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_hostile_comm() {
        let line = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 1 2 3";
        assert_eq!(parse_stat(line.as_bytes()), Some(ProcStat { state: 'S', start_time: 98765, init_named: false }));
        let init = "42 (berth:init) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 1 2 3";
        assert!(parse_stat(init.as_bytes()).is_some_and(|s| s.init_named));
        // A program that names itself so from a lookalike, or around it, is not the init.
        let near = "42 (x) (berth:init) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 1 2 3";
        assert!(parse_stat(near.as_bytes()).is_some_and(|s| !s.init_named));
        assert_eq!(parse_stat(b"garbage"), None);
        // Non-UTF-8 bytes in the name, and the line's newline after the last field.
        assert_eq!(parse_stat(b"7 (\xff\xfe) R 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5\n").map(|s| s.start_time), Some(5));
    }

    #[test]
    fn own_process_is_alive_and_other_start_time_is_not() {
        let me = std::process::id() as i32;
        let st = stat(me).expect("own stat");
        assert!(is_alive(me, st.start_time));
        assert!(!is_alive(me, st.start_time + 1));
    }
}
