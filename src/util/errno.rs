//! Error texts as runc prints them. Go's syscall error strings are the C library's
//! messages with a lower-case first letter ("no such file or directory", "exec format
//! error"), with no "(os error N)": the texts engines and users already match on.

use std::io;

/// `e` as Go would print it: strerror, first letter lower-cased, for an OS error; the
/// error's own text otherwise.
pub fn text(e: &io::Error) -> String {
    let Some(n) = e.raw_os_error() else { return e.to_string() };
    // std's text is strerror_r's (the C library's, as Go's table) plus " (os error N)".
    let full = e.to_string();
    let s = full.strip_suffix(&format!(" (os error {n})")).unwrap_or(&full);
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_lowercase().chain(c).collect(),
        None => format!("errno {n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_gos() {
        // Go's zerrors_linux_amd64.go.
        assert_eq!(text(&io::Error::from_raw_os_error(libc::ENOEXEC)), "exec format error");
        assert_eq!(text(&io::Error::from_raw_os_error(libc::ENOENT)), "no such file or directory");
        assert_eq!(text(&io::Error::from_raw_os_error(libc::EIO)), "input/output error");
        assert_eq!(text(&io::Error::from_raw_os_error(libc::EACCES)), "permission denied");
        assert_eq!(text(&io::Error::other("plain")), "plain");
    }
}
