//! `-h`, `--help` and `help [COMMAND]` in runc's layout (urfave/cli: NAME:, USAGE:,
//! DESCRIPTION:, COMMANDS:, OPTIONS:), which scripts and suites read. The texts are runc
//! 1.1.5's help, adapted: `{prog}` is the name berth was run by (so a berth installed as
//! `runc` says runc), berth's default root and version. They live in help/*.txt; a test
//! checks that every option they list is one the parser takes and that every option the
//! parser takes is listed, so text and parser cannot drift apart.

const TEXTS: &[(&str, &str)] = &[
    ("checkpoint", include_str!("help/checkpoint.txt")),
    ("create", include_str!("help/create.txt")),
    ("delete", include_str!("help/delete.txt")),
    ("events", include_str!("help/events.txt")),
    ("exec", include_str!("help/exec.txt")),
    ("features", include_str!("help/features.txt")),
    ("kill", include_str!("help/kill.txt")),
    ("list", include_str!("help/list.txt")),
    ("pause", include_str!("help/pause.txt")),
    ("ps", include_str!("help/ps.txt")),
    ("restore", include_str!("help/restore.txt")),
    ("resume", include_str!("help/resume.txt")),
    ("run", include_str!("help/run.txt")),
    ("spec", include_str!("help/spec.txt")),
    ("start", include_str!("help/start.txt")),
    ("state", include_str!("help/state.txt")),
    ("update", include_str!("help/update.txt")),
];
const MAIN: &str = include_str!("help/main.txt");

/// The name berth was invoked by (argv[0]'s last component).
pub fn program() -> String {
    std::env::args_os()
        .next()
        .as_deref()
        .and_then(|a| std::path::Path::new(a).file_name().map(|n| n.to_string_lossy().into_owned()))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "berth".into())
}

/// The help of `command`, or the program's when None; None for an unknown command.
pub fn render(command: Option<&str>) -> Option<String> {
    let text = match command {
        None => MAIN.to_string(),
        Some(c) => TEXTS.iter().find(|(n, _)| *n == c)?.1.to_string(),
    };
    let version = super::version_lines();
    Some(text.replace("{version}", &version).replace("{prog}", &program()))
}

/// The command a help request is about: the first word of `args` (argv without argv[0])
/// that is not a global option or its value. `help`/`h` name the word after them.
pub fn topic(args: &[String]) -> Option<String> {
    let mut words = super::args::words(args);
    match words.next()? {
        "help" | "h" => words.next().map(String::from),
        w => Some(w.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// The long options a help text lists ("--bundle value, -b value  ..." → bundle).
    fn listed(text: &str) -> std::collections::BTreeSet<String> {
        let opts = text.split("OPTIONS:\n").nth(1).unwrap_or("");
        opts.lines()
            .filter_map(|l| l.strip_prefix("   --"))
            .map(|l| l.split([' ', ',']).next().unwrap_or("").to_string())
            .filter(|n| n != "help" && n != "version")
            .collect()
    }

    fn parsed(cmd: &clap::Command) -> std::collections::BTreeSet<String> {
        cmd.get_arguments().filter(|a| !a.is_global_set() && !a.is_hide_set()).filter_map(|a| a.get_long().map(String::from)).filter(|n| n != "help" && n != "version").collect()
    }

    #[test]
    fn every_listed_option_is_parsed_and_every_parsed_option_is_listed() {
        let cli = super::super::args::Cli::command();
        // checkpoint and restore take anything (they only say they are not supported).
        for (name, text) in TEXTS.iter().filter(|(n, _)| !matches!(*n, "checkpoint" | "restore")) {
            let sub = cli.find_subcommand(name).unwrap_or_else(|| panic!("{name}: no such command"));
            assert_eq!(listed(text), parsed(sub), "{name}: the help text's options (left) and the parser's (right)");
        }
        let globals: std::collections::BTreeSet<String> = cli.get_arguments().filter_map(|a| a.get_long().map(String::from)).filter(|n| n != "help" && n != "version").collect();
        assert_eq!(listed(MAIN.split("GLOBAL ").nth(1).unwrap()), globals);
        let commands: Vec<&str> = cli.get_subcommands().map(|c| c.get_name()).filter(|n| *n != "help").collect();
        for c in commands {
            assert!(TEXTS.iter().any(|(n, _)| *n == c), "{c} has no help text");
        }
    }

    #[test]
    fn topics_skip_global_options_and_follow_help() {
        let v = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert_eq!(topic(&v("--root /x state -h")).as_deref(), Some("state"));
        assert_eq!(topic(&v("help kill")).as_deref(), Some("kill"));
        assert_eq!(topic(&v("h kill")).as_deref(), Some("kill"));
        assert_eq!(topic(&v("--help")), None);
        assert_eq!(topic(&v("help")), None);
        assert_eq!(topic(&v("--debug --log f exec -h")).as_deref(), Some("exec"));
    }
}
