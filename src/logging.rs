//! runc-compatible logging: `--log FILE`, `--log-format text|json`, `--debug`.
//!
//! Engines (containerd's shim, conmon) read the *last* error line of the log file and show
//! it to users, so every error is logged exactly once, at the top (cli), and deeper layers
//! only return errors. Without `--log`, lines go to stderr, as logrus does for runc.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Mutex;

use crate::util::time;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warning",
            Level::Error => "error",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

struct Logger {
    file: Option<File>,
    format: Format,
    min: Level,
}

static LOGGER: Mutex<Option<Logger>> = Mutex::new(None);

/// Sets up logging for this process. A log file that cannot be opened is reported on
/// stderr and logging falls back to stderr: the command itself still runs.
pub fn init(path: Option<&Path>, format: Format, debug: bool) {
    let file = path.and_then(|p| {
        match OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o644)
            .custom_flags(libc::O_CLOEXEC)
            .open(p)
        {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("berth: cannot open log file {}: {e}", p.display());
                None
            }
        }
    });
    let min = if debug { Level::Debug } else { Level::Info };
    if let Ok(mut g) = LOGGER.lock() {
        *g = Some(Logger { file, format, min });
    }
}

/// True when log lines go to a file, so that a failing command must also tell stderr.
pub fn has_file() -> bool {
    LOGGER.lock().map(|g| g.as_ref().is_some_and(|l| l.file.is_some())).unwrap_or(false)
}

pub fn format_line(format: Format, level: Level, msg: &str, when: &str) -> String {
    match format {
        Format::Json => {
            let v = serde_json::json!({ "level": level.name(), "msg": msg, "time": when });
            format!("{v}\n")
        }
        Format::Text => {
            // logrus' text formatter quotes values that need it; msg always does here.
            let quoted = serde_json::Value::String(msg.to_string());
            format!("time=\"{when}\" level={} msg={quoted}\n", level.name())
        }
    }
}

pub fn log(level: Level, msg: &str) {
    let Ok(mut guard) = LOGGER.lock() else { return };
    let (format, min) = match guard.as_ref() {
        Some(l) => (l.format, l.min),
        None => (Format::Text, Level::Info),
    };
    if level < min {
        return;
    }
    let (s, _) = time::now();
    let line = format_line(format, level, msg, &time::rfc3339(s, 0, false));
    match guard.as_mut().and_then(|l| l.file.as_mut()) {
        Some(f) => {
            let _ = f.write_all(line.as_bytes());
        }
        None => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

pub fn error(msg: &str) {
    log(Level::Error, msg)
}
pub fn warn(msg: &str) {
    log(Level::Warn, msg)
}
pub fn debug(msg: &str) {
    log(Level::Debug, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_has_runc_fields() {
        let l = format_line(Format::Json, Level::Error, "boom \"x\"", "2024-01-01T00:00:00Z");
        let v: serde_json::Value = serde_json::from_str(l.trim()).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "boom \"x\"");
        assert_eq!(v["time"], "2024-01-01T00:00:00Z");
        assert!(l.ends_with('\n'));
    }

    #[test]
    fn text_line_is_logrus_shaped() {
        let l = format_line(Format::Text, Level::Warn, "a b", "T");
        assert_eq!(l, "time=\"T\" level=warning msg=\"a b\"\n");
    }
}
