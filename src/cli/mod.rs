//! The `berth` command: parses the command line, runs one library operation, prints
//! its output, and logs an error exactly once, here at the top.

mod args;
mod events;
mod exec;
mod help;
mod output;
mod relay;
mod run;
mod stdout;



use crate::container::{self, signal, CreateOptions, Runtime};
use crate::logging::{self, Format};

pub use args::{Cli, Command};
pub use events::{parse_bytes, parse_duration};

/// A failed command: the message and the exit code.
pub struct Failure {
    pub msg: String,
    pub code: i32,
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure { msg: e.to_string(), code: 1 }
    }
}

fn fail(msg: impl Into<String>) -> Failure {
    Failure { msg: msg.into(), code: 1 }
}

/// Entry point of the binary; returns the exit code.
pub fn main() -> i32 {
    // The words are collected only for help: not on the way to a container.
    let args = || std::env::args().skip(1).collect::<Vec<String>>();
    // `help [COMMAND]` and `h [COMMAND]`, as runc (urfave/cli) has them.
    if std::env::args().skip(1).find(|a| !a.starts_with('-')).is_some_and(|a| a == "help" || a == "h") {
        return print_help(help::topic(&args()).as_deref());
    }
    // create, run and exec run from a sealed copy (process::seal), and re-execute to get
    // there: sealed before clap builds its parser, which is then built once, in the
    // sealed process, not in both (the guess of the command word is checked below).
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let word = command_word(&argv);
    let early = word.as_deref().filter(|w| matches!(*w, "create" | "run" | "exec")).map(|_| crate::process::seal::ensure());
    let cli = match Cli::parse_for(word.as_deref(), &argv) {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand) {
                return print_help(help::topic(&args()).as_deref());
            }
            if e.kind() == ErrorKind::InvalidSubcommand {
                // runc (urfave/cli): "No help topic for 'foo'", exit status 3.
                let word = match e.get(clap::error::ContextKind::InvalidSubcommand) {
                    Some(clap::error::ContextValue::String(w)) => w.clone(),
                    _ => String::new(),
                };
                logging::init(None, Format::Text, false);
                logging::error(&format!("No help topic for '{word}'"));
                return 3;
            }
            let code = match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
                _ => 1,
            };
            let _ = e.print();
            return code;
        }
    };
    // Before anything is opened: the commands that make a container process run from a
    // sealed copy of the binary (process::seal; may re-execute), and keep the fd numbers
    // the container is to get free of berth's own files.
    let sealed = match &cli.command {
        Some(Command::Create(_) | Command::Run(_) | Command::Exec(_)) => Some(early.unwrap_or_else(crate::process::seal::ensure)),
        _ => None,
    };
    if let Some(n) = cli.command.as_ref().and_then(passed_fds) {
        reserve_fds(n);
    }
    let format = if cli.g.log_format == "json" { Format::Json } else { Format::Text };
    logging::init(cli.g.log.as_deref(), format, cli.g.debug);
    match sealed {
        Some(Err(e)) => return report(fail(e.to_string())),
        Some(Ok(how)) => logging::debug(&format!("running from a sealed binary: {how:?}")),
        None => {}
    }
    if cli.g.log_format != "json" && cli.g.log_format != "text" {
        return report(fail(format!("unknown log-format {:?}: use text or json", cli.g.log_format)));
    }
    if cli.g.version {
        stdout::print(&version());
        return 0;
    }
    let Some(command) = cli.command else {
        // runc without a command prints its help.
        return print_help(None);
    };
    // Only create, run and exec act on it: other commands skip auto's /proc read.
    let acts = matches!(command, Command::Create(_) | Command::Run(_) | Command::Exec(_));
    let rootless = match cli.g.rootless.as_deref() {
        None | Some("auto") => if acts { Runtime::rootless_auto() } else { nix::unistd::geteuid().as_raw() != 0 },
        Some("true") => true,
        Some("false") => false,
        Some(other) => return report(fail(format!("invalid --rootless value {other:?}: use true, false or auto"))),
    };
    let root = cli.g.root.clone().unwrap_or_else(Runtime::default_root);
    let rt = Runtime { root, systemd_cgroup: cli.g.systemd_cgroup, rootless };
    match dispatch(&rt, command) {
        Ok(code) => code,
        Err(f) => report(f),
    }
}

/// The command word, guessed without clap (args::words). None with --help/-h or `--`
/// anywhere (help is never kept from printing by a failed seal) or a word that is not
/// UTF-8. A wrong guess costs nothing but the early seal: clap reads the line, and `main`
/// seals after it if needed.
fn command_word(argv: &[std::ffi::OsString]) -> Option<String> {
    let args: Vec<&str> = argv.iter().skip(1).map(|a| a.to_str()).collect::<Option<_>>()?;
    if args.iter().any(|a| matches!(*a, "--" | "--help" | "-h")) {
        return None;
    }
    let word = args::words(&args).next().map(String::from);
    word
}

/// How many fds from 3 up a command hands to the container: --preserve-fds, plus for
/// create and run LISTEN_FDS (socket activation; exec does not pass them, as runc).
fn passed_fds(c: &Command) -> Option<u32> {
    let listen = || -> u32 { std::env::var("LISTEN_FDS").ok().and_then(|v| v.parse().ok()).unwrap_or(0) };
    let n = match c {
        Command::Create(a) | Command::Run(args::RunArgs { create: a, .. }) => a.preserve_fds.saturating_add(listen()),
        Command::Exec(a) => a.preserve_fds,
        _ => return None,
    };
    Some(n).filter(|n| *n > 0)
}

/// Occupies every free fd number in [3, 3 + n) with a close-on-exec placeholder, so that
/// no file berth opens lands in the range handed to the container: only what the caller
/// really passed reaches it, never an fd of the runtime (the placeholders close at the
/// container's execve).
fn reserve_fds(n: u32) {
    let end = 3u32.saturating_add(n).min(1 << 20) as i32;
    for fd in 3..end {
        // SAFETY: F_GETFD probes an fd number; open/dup3/close on fds we make here.
        unsafe {
            if libc::fcntl(fd, libc::F_GETFD) >= 0 {
                continue;
            }
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
            if null < 0 {
                return;
            }
            if null != fd {
                libc::dup3(null, fd, libc::O_CLOEXEC);
                libc::close(null);
            }
        }
    }
}

/// Logs the error once: to the log file (engines read its last line) and to stderr.
fn report(f: Failure) -> i32 {
    logging::error(&f.msg);
    if logging::has_file() {
        eprintln!("berth: error: {}", f.msg);
    }
    f.code
}

/// What follows "VERSION:" in the help and "<prog> version " in `--version`: runc's lines
/// (version, commit, spec; runc adds go and libseccomp, which berth has neither of).
pub fn version_lines() -> String {
    format!(
        "{}\ncommit: {}\nspec: {}",
        env!("CARGO_PKG_VERSION"),
        option_env!("BERTH_COMMIT").unwrap_or(concat!("v", env!("CARGO_PKG_VERSION"))),
        crate::SPEC_VERSION
    )
}

pub fn version() -> String {
    format!("{} version {}\n", help::program(), version_lines())
}

/// Prints the help of `topic` (the program's for None), or runc's "No help topic for
/// 'foo'" with exit status 3 for an unknown one.
fn print_help(topic: Option<&str>) -> i32 {
    match help::render(topic) {
        Some(text) => {
            stdout::print(&text);
            0
        }
        None => {
            logging::init(None, Format::Text, false);
            logging::error(&format!("No help topic for '{}'", topic.unwrap_or_default()));
            3
        }
    }
}

fn dispatch(rt: &Runtime, command: Command) -> Result<i32, Failure> {
    match command {
        Command::Create(a) => {
            let o = CreateOptions {
                id: &a.id,
                bundle: &a.bundle,
                pid_file: a.pid_file.as_deref(),
                console_socket: a.console_socket.as_deref(),
                console_fd: None,
                no_pivot: a.no_pivot,
                preserve_fds: a.preserve_fds,
                watch: false,
            };
            container::create(rt, &o)?;
            Ok(0)
        }
        Command::Run(args::RunArgs { create, detach, keep, .. }) => run::run(rt, &create, detach, keep),
        Command::Start(args::IdArgs { id }) => {
            container::start(rt, &id)?;
            Ok(0)
        }
        Command::State(args::IdArgs { id }) => {
            stdout::println(&serde_json::to_string_pretty(&container::state(rt, &id)?)?);
            Ok(0)
        }
        Command::Kill(args::KillArgs { all, id, signal }) => {
            let sig = signal::parse(&signal).ok_or_else(|| fail(format!("invalid signal {signal:?}")))?;
            container::kill(rt, &id, sig, all)?;
            Ok(0)
        }
        Command::Delete(args::DeleteArgs { force, id }) => {
            container::delete(rt, &id, force)?;
            Ok(0)
        }
        Command::List { format, quiet } => output::list(rt, &format, quiet),
        Command::Spec { bundle, rootless } => {
            let dir = bundle.unwrap_or_else(|| ".".into());
            let path = dir.join("config.json");
            if path.exists() {
                return Err(fail("File config.json exists. Remove it first."));
            }
            // SAFETY: getuid/getgid cannot fail.
            let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
            let v = crate::config::default_spec(rootless, uid, gid);
            let text = serde_json::to_string_pretty(&v)?;
            std::fs::write(&path, text + "\n").map_err(|e| fail(format!("write {}: {e}", path.display())))?;
            Ok(0)
        }
        Command::Ps { format, id, ps_args } => output::ps(rt, &id, &format, &ps_args),
        Command::Pause { id } => {
            container::pause(rt, &id, true)?;
            Ok(0)
        }
        Command::Resume { id } => {
            container::pause(rt, &id, false)?;
            Ok(0)
        }
        Command::Features => {
            stdout::println(&serde_json::to_string_pretty(&output::features())?);
            Ok(0)
        }
        Command::Exec(a) => exec::exec(rt, &a),
        Command::Update(a) => events::update(rt, &a),
        Command::Events { stats, interval, id } => events::events(rt, &id, stats, &interval),
        Command::Checkpoint { .. } | Command::Restore { .. } => Err(fail("checkpoint/restore is not supported: berth has no CRIU support")),
    }
}


