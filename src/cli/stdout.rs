//! The command's standard output. A reader that went away (`berth list | head -1`) ends
//! the command as it ends runc, a Go program: killed by SIGPIPE, quietly. Rust ignores
//! SIGPIPE (so that berth's writes to hooks and sockets fail with EPIPE instead), which is
//! why stdout's EPIPE is turned back into the signal here, and only here.

use std::io::Write;

/// Writes `text` to stdout in one go; on a closed pipe, dies of SIGPIPE.
pub fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let r = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    if let Err(e) = r {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            // SAFETY: restoring the default action and raising the signal on ourselves.
            unsafe {
                libc::signal(libc::SIGPIPE, libc::SIG_DFL);
                libc::raise(libc::SIGPIPE);
            }
        }
        // Any other error (a full disk behind a redirect): the exit code says it.
        std::process::exit(1);
    }
}

/// `print` with a newline.
pub fn println(text: &str) {
    let mut s = String::with_capacity(text.len() + 1);
    s.push_str(text);
    s.push('\n');
    print(&s);
}
