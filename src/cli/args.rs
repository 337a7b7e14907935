//! The command line, as runc has it (runc 1.1 `--help` of each command). Options are accepted
//! before and after the container ID, as `--flag value` and `--flag=value`.

use std::path::PathBuf;

use clap::{Args, FromArgMatches, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "berth", about = "berth: an OCI container runtime, compatible with runc", disable_version_flag = true, disable_help_subcommand = true)]
pub struct Cli {
    #[command(flatten)]
    pub g: Globals,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The options before the command word.
#[derive(Args, Debug)]
pub struct Globals {
    /// runc's path to criu: accepted (checkpoint and restore are not supported)
    #[arg(long, global = true)]
    pub criu: Option<String>,
    /// Root directory for storage of container state (default: /run/berth, or
    /// $XDG_RUNTIME_DIR/berth when rootless)
    #[arg(long, global = true)]
    pub root: Option<PathBuf>,
    /// Log file (default: stderr)
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log format: text or json
    #[arg(long = "log-format", global = true, default_value = "text")]
    pub log_format: String,
    /// Enable debug logging
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use systemd cgroup paths (slice:prefix:name)
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Rootless mode: true, false or auto (rootless unless run by root)
    /// (Not global: `spec --rootless` is the spec command's own flag.)
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub rootless: Option<String>,
    /// Print the version
    #[arg(short = 'v', long)]
    pub version: bool,
}

impl Cli {
    /// Parses the command line. For the commands engines run per container (`word`, the
    /// command word guessed from argv) the parser is built with that one command: clap
    /// builds every argument of every command it holds before it parses, and the whole
    /// parser is a good part of a short command's time and memory. Any other word, or
    /// none, gets the whole parser (unknown commands, help and errors as before); a
    /// wrong guess fails the one-command parse and gets it too.
    pub fn parse_for(word: Option<&str>, argv: &[std::ffi::OsString]) -> Result<Cli, clap::Error> {
        use clap::CommandFactory;
        let full = || Cli::from_arg_matches(&Cli::command().try_get_matches_from(argv)?);
        match word.and_then(one_command) {
            Some(sub) => Cli::parse_one(sub, argv).or_else(|_| full()),
            None => full(),
        }
    }

    /// The parse with the globals and `sub` only.
    fn parse_one(sub: clap::Command, argv: &[std::ffi::OsString]) -> Result<Cli, clap::Error> {
        let top = clap::Command::new("berth").disable_version_flag(true).disable_help_subcommand(true);
        let m = Globals::augment_args(top).subcommand(sub).try_get_matches_from(argv)?;
        Ok(Cli { g: Globals::from_arg_matches(&m)?, command: Some(Command::from_arg_matches(&m)?) })
    }
}

/// The global options that take a value (`--root DIR`).
const GLOBAL_WITH_VALUE: &[&str] = &["--root", "--log", "--log-format", "--criu"];

/// The words of a command line (argv without argv[0]) that are neither an option nor the
/// value of a global option that takes one, in order: the command word first. Read
/// without clap, by the help request and by the early seal.
pub fn words<S: AsRef<str>>(args: &[S]) -> impl Iterator<Item = &str> {
    let mut it = args.iter().map(AsRef::as_ref);
    std::iter::from_fn(move || loop {
        let a = it.next()?;
        if GLOBAL_WITH_VALUE.contains(&a) {
            it.next();
        } else if !a.starts_with('-') {
            return Some(a);
        }
    })
}

/// The parser of one of the commands engines run per container, alone.
fn one_command(word: &str) -> Option<clap::Command> {
    let sub = |name: &'static str| clap::Command::new(name);
    Some(match word {
        "create" => CreateArgs::augment_args(sub("create")),
        "run" => RunArgs::augment_args(sub("run")),
        "exec" => ExecArgs::augment_args(sub("exec")),
        "start" => IdArgs::augment_args(sub("start")),
        "state" => IdArgs::augment_args(sub("state")),
        "kill" => KillArgs::augment_args(sub("kill")),
        "delete" => DeleteArgs::augment_args(sub("delete")),
        _ => return None,
    })
}

/// A command whose only argument is the container's ID.
#[derive(Args, Debug)]
pub struct IdArgs {
    pub id: String,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// Detach from the container's process
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Do not delete the container after it exits
    #[arg(long)]
    pub keep: bool,
    /// runc's: accepted (berth's foreground run reaps its own child only)
    #[arg(long = "no-subreaper")]
    pub no_subreaper: bool,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal all processes in the container's cgroup
    #[arg(short = 'a', long)]
    pub all: bool,
    pub id: String,
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

#[derive(Args, Debug)]
pub struct DeleteArgs {
    /// Kill and delete a running or paused container; succeed if it does not exist
    #[arg(short = 'f', long)]
    pub force: bool,
    pub id: String,
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Path to the bundle (the directory holding config.json)
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// AF_UNIX socket to receive the pty master of a terminal
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// File to write the container's init pid to
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Use MS_MOVE + chroot instead of pivot_root
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a session keyring (accepted; berth creates none)
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N additional fds (3 .. 3+N-1) to the container
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    pub id: String,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container
    Create(CreateArgs),
    /// Run the user program of a created container
    Start(IdArgs),
    /// Create and start a container
    Run(RunArgs),
    /// Output the state of a container
    State(IdArgs),
    /// Send a signal to a container's init (or every process with --all)
    Kill(KillArgs),
    /// Delete a container and what it holds
    Delete(DeleteArgs),
    /// List containers
    List {
        /// table or json
        #[arg(short = 'f', long, default_value = "table")]
        format: String,
        /// Print only the IDs
        #[arg(short = 'q', long)]
        quiet: bool,
    },
    /// Write a default config.json
    Spec {
        #[arg(short = 'b', long)]
        bundle: Option<PathBuf>,
        #[arg(long = "rootless", id = "spec_rootless")]
        rootless: bool,
    },
    /// List the processes of a container
    Ps {
        #[arg(short = 'f', long, default_value = "table")]
        format: String,
        id: String,
        /// Options passed to ps(1)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Freeze every process of a container
    Pause { id: String },
    /// Thaw a paused container
    Resume { id: String },
    /// Output the features this runtime supports (runtime-spec features.md)
    Features,
    /// Run a process in a running container
    Exec(ExecArgs),
    /// Update a container's resource limits
    Update(UpdateArgs),
    /// Container statistics and OOM notifications, as JSON lines
    Events {
        /// Print one statistics event and exit
        #[arg(long)]
        stats: bool,
        /// Interval between statistics events (e.g. 5s, 100ms)
        #[arg(long, default_value = "5s")]
        interval: String,
        id: String,
    },
    /// Checkpoint a container (needs CRIU; not supported)
    Checkpoint {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        rest: Vec<String>,
    },
    /// Restore a container (needs CRIU; not supported)
    Restore {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        rest: Vec<String>,
    },
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// A process.json (runtime-spec Process) to run instead of COMMAND
    #[arg(short = 'p', long)]
    pub process: Option<PathBuf>,
    /// Do not wait for the process
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Working directory in the container
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Set an environment variable (NAME=VALUE; adds to the container's env)
    #[arg(short = 'e', long)]
    pub env: Vec<String>,
    /// UID[:GID]
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Add a capability to the bounding, effective and permitted sets
    #[arg(short = 'c', long)]
    pub cap: Vec<String>,
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    #[arg(long)]
    pub apparmor: Option<String>,
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    /// Run in a sub-cgroup of the container: [controller:]path
    #[arg(long)]
    pub cgroup: Vec<String>,
    pub id: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// LinuxResources JSON file, or - for stdin
    #[arg(short = 'r', long)]
    pub resources: Option<String>,
    /// Memory limit (bytes, or with a k/m/g suffix; -1 for none)
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Memory plus swap limit (-1 for none)
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Kernel memory limit (obsolete; accepted and ignored, as runc does; hidden as in
    /// runc's help)
    #[arg(long = "kernel-memory", allow_hyphen_values = true, hide = true)]
    pub kernel_memory: Option<String>,
    #[arg(long = "kernel-memory-tcp", allow_hyphen_values = true, hide = true)]
    pub kernel_memory_tcp: Option<String>,
    /// runc spells it --cpu-share; --cpu-shares is kept as an alias.
    #[arg(long = "cpu-share", alias = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Intel RDT (not supported)
    #[arg(long = "l3-cache-schema")]
    pub l3_cache_schema: Option<String>,
    #[arg(long = "mem-bw-schema")]
    pub mem_bw_schema: Option<String>,
    pub id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-command parser reads every line as the whole parser does.
    #[test]
    fn the_one_command_parser_agrees_with_the_whole_one() {
        let lines = [
            "berth --root /r create --bundle /b --pid-file /p --console-socket /s c1",
            "berth create c1 -b /b --preserve-fds 2 --no-pivot --root /r",
            "berth --debug --log /l --log-format json run -d --bundle /b --keep c2",
            "berth run --no-subreaper c2",
            "berth --systemd-cgroup exec -t -e A=1 --env B=2 -u 1:2 --cwd /w c3 sh -c 'x --y'",
            "berth exec -p /p.json -d --pid-file /p c3",
            "berth start c4",
            "berth --rootless true state c4",
            "berth kill --all c5 KILL",
            "berth kill c5",
            "berth delete -f c6",
            "berth delete c6 --root /r",
        ];
        for l in lines {
            let argv: Vec<std::ffi::OsString> = l.split(' ').map(Into::into).collect();
            let word = argv.iter().skip(1).map(|a| a.to_str().unwrap()).find(|a| !a.starts_with('-') && !a.starts_with('/') && !matches!(*a, "true" | "json"));
            // parse_one itself, not parse_for: its fallback to the whole parser would hide a
            // one-command parser that fails.
            let fast = Cli::parse_one(one_command(word.unwrap()).unwrap(), &argv).unwrap();
            let full = Cli::from_arg_matches(&<Cli as clap::CommandFactory>::command().try_get_matches_from(&argv).unwrap()).unwrap();
            assert_eq!(format!("{fast:?}"), format!("{full:?}"), "{l}");
        }
        // An error is the whole parser's, word for word.
        let argv: Vec<std::ffi::OsString> = "berth state --bogus x".split(' ').map(Into::into).collect();
        let fast = Cli::parse_for(Some("state"), &argv).unwrap_err().to_string();
        let full = <Cli as clap::CommandFactory>::command().try_get_matches_from(&argv).unwrap_err().to_string();
        assert_eq!(fast, full);
    }
}
