//! Signal names as `kill` accepts them: `KILL`, `SIGKILL`, `kill`, `9`, `RTMIN+3`.

const NAMES: &[(&str, i32)] = &[
    ("SIGABRT", libc::SIGABRT), ("SIGALRM", libc::SIGALRM), ("SIGBUS", libc::SIGBUS),
    ("SIGCHLD", libc::SIGCHLD), ("SIGCLD", libc::SIGCHLD), ("SIGCONT", libc::SIGCONT),
    ("SIGFPE", libc::SIGFPE), ("SIGHUP", libc::SIGHUP), ("SIGILL", libc::SIGILL),
    ("SIGINT", libc::SIGINT), ("SIGIO", libc::SIGIO), ("SIGIOT", libc::SIGIOT),
    ("SIGKILL", libc::SIGKILL), ("SIGPIPE", libc::SIGPIPE), ("SIGPOLL", libc::SIGPOLL),
    ("SIGPROF", libc::SIGPROF), ("SIGPWR", libc::SIGPWR), ("SIGQUIT", libc::SIGQUIT),
    ("SIGSEGV", libc::SIGSEGV), ("SIGSTKFLT", libc::SIGSTKFLT), ("SIGSTOP", libc::SIGSTOP),
    ("SIGSYS", libc::SIGSYS), ("SIGTERM", libc::SIGTERM), ("SIGTRAP", libc::SIGTRAP),
    ("SIGTSTP", libc::SIGTSTP), ("SIGTTIN", libc::SIGTTIN), ("SIGTTOU", libc::SIGTTOU),
    ("SIGURG", libc::SIGURG), ("SIGUSR1", libc::SIGUSR1), ("SIGUSR2", libc::SIGUSR2),
    ("SIGVTALRM", libc::SIGVTALRM), ("SIGWINCH", libc::SIGWINCH), ("SIGXCPU", libc::SIGXCPU),
    ("SIGXFSZ", libc::SIGXFSZ),
];

/// The first real-time signal as glibc numbers it, and so `kill -l` and the engines:
/// `RTMIN+n` means the same signal whichever C library berth is linked with (musl keeps
/// one more for itself: its SIGRTMIN() is 35).
const SIGRTMIN: i32 = 34;

/// Parses a signal given by name (with or without SIG, any case) or number.
pub fn parse(raw: &str) -> Option<i32> {
    let max = libc::SIGRTMAX();
    if let Ok(n) = raw.parse::<i32>() {
        // 0 is valid, as runc takes it: it checks the process exists and sends nothing.
        return (0..=max).contains(&n).then_some(n);
    }
    let up = raw.to_ascii_uppercase();
    let name = if up.starts_with("SIG") { up } else { format!("SIG{up}") };
    if let Some((_, n)) = NAMES.iter().find(|(s, _)| *s == name) {
        return Some(*n);
    }
    let rt = |base: i32, rest: &str, sign: i32| -> Option<i32> {
        let off = if rest.is_empty() { 0 } else { rest.parse::<i32>().ok()? };
        let n = base + sign * off;
        (SIGRTMIN..=max).contains(&n).then_some(n)
    };
    if let Some(rest) = name.strip_prefix("SIGRTMIN") {
        return rt(SIGRTMIN, rest.trim_start_matches('+'), 1);
    }
    if let Some(rest) = name.strip_prefix("SIGRTMAX") {
        return rt(max, rest.trim_start_matches('-'), -1);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_junk() {
        assert_eq!(parse("KILL"), Some(9));
        assert_eq!(parse("SIGKILL"), Some(9));
        assert_eq!(parse("term"), Some(15));
        assert_eq!(parse("9"), Some(9));
        assert_eq!(parse("RTMIN+2"), Some(36));
        assert_eq!(parse("SIGRTMIN"), Some(34));
        assert_eq!(parse("SIGRTMAX"), Some(libc::SIGRTMAX()));
        assert_eq!(parse("0"), Some(0));
        for bad in ["-1", "65", "SIGFOO", "", "RTMIN+99"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
