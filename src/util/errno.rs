//! Error texts as runc prints them. Go's syscall error strings are the C library's
//! messages with a lower-case first letter ("no such file or directory", "exec format
//! error"), with no "(os error N)": the texts engines and users already match on.

use std::io;

/// `e` as Go would print it (its table, for an OS error it has; else strerror with the first
/// letter lower-cased); the error's own text otherwise. The table, not strerror, because
/// musl's texts are not glibc's for a few ("resource busy", "I/O error").
pub fn text(e: &io::Error) -> String {
    let Some(n) = e.raw_os_error() else { return e.to_string() };
    if let Some(t) = usize::try_from(n).ok().and_then(|i| GO_TEXTS.get(i)).filter(|t| !t.is_empty()) {
        return (*t).to_string();
    }
    // std's text is strerror_r's plus " (os error N)".
    let full = e.to_string();
    let s = full.strip_suffix(&format!(" (os error {n})")).unwrap_or(&full);
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_lowercase().chain(c).collect(),
        None => format!("errno {n}"),
    }
}

/// Go's text for each errno (its zerrors_linux_amd64.go table: glibc's strerror with the
/// first letter in lower case), whichever C library berth is linked with.
const GO_TEXTS: &[&str] = &[
    "",
    "operation not permitted", // 1 EPERM
    "no such file or directory", // 2 ENOENT
    "no such process", // 3 ESRCH
    "interrupted system call", // 4 EINTR
    "input/output error", // 5 EIO
    "no such device or address", // 6 ENXIO
    "argument list too long", // 7 E2BIG
    "exec format error", // 8 ENOEXEC
    "bad file descriptor", // 9 EBADF
    "no child processes", // 10 ECHILD
    "resource temporarily unavailable", // 11 EAGAIN
    "cannot allocate memory", // 12 ENOMEM
    "permission denied", // 13 EACCES
    "bad address", // 14 EFAULT
    "block device required", // 15 ENOTBLK
    "device or resource busy", // 16 EBUSY
    "file exists", // 17 EEXIST
    "invalid cross-device link", // 18 EXDEV
    "no such device", // 19 ENODEV
    "not a directory", // 20 ENOTDIR
    "is a directory", // 21 EISDIR
    "invalid argument", // 22 EINVAL
    "too many open files in system", // 23 ENFILE
    "too many open files", // 24 EMFILE
    "inappropriate ioctl for device", // 25 ENOTTY
    "text file busy", // 26 ETXTBSY
    "file too large", // 27 EFBIG
    "no space left on device", // 28 ENOSPC
    "illegal seek", // 29 ESPIPE
    "read-only file system", // 30 EROFS
    "too many links", // 31 EMLINK
    "broken pipe", // 32 EPIPE
    "numerical argument out of domain", // 33 EDOM
    "numerical result out of range", // 34 ERANGE
    "resource deadlock avoided", // 35 EDEADLOCK
    "file name too long", // 36 ENAMETOOLONG
    "no locks available", // 37 ENOLCK
    "function not implemented", // 38 ENOSYS
    "directory not empty", // 39 ENOTEMPTY
    "too many levels of symbolic links", // 40 ELOOP
    "", // 41 
    "no message of desired type", // 42 ENOMSG
    "identifier removed", // 43 EIDRM
    "channel number out of range", // 44 ECHRNG
    "level 2 not synchronized", // 45 EL2NSYNC
    "level 3 halted", // 46 EL3HLT
    "level 3 reset", // 47 EL3RST
    "link number out of range", // 48 ELNRNG
    "protocol driver not attached", // 49 EUNATCH
    "no CSI structure available", // 50 ENOCSI
    "level 2 halted", // 51 EL2HLT
    "invalid exchange", // 52 EBADE
    "invalid request descriptor", // 53 EBADR
    "exchange full", // 54 EXFULL
    "no anode", // 55 ENOANO
    "invalid request code", // 56 EBADRQC
    "invalid slot", // 57 EBADSLT
    "", // 58 
    "bad font file format", // 59 EBFONT
    "device not a stream", // 60 ENOSTR
    "no data available", // 61 ENODATA
    "timer expired", // 62 ETIME
    "out of streams resources", // 63 ENOSR
    "machine is not on the network", // 64 ENONET
    "package not installed", // 65 ENOPKG
    "object is remote", // 66 EREMOTE
    "link has been severed", // 67 ENOLINK
    "advertise error", // 68 EADV
    "srmount error", // 69 ESRMNT
    "communication error on send", // 70 ECOMM
    "protocol error", // 71 EPROTO
    "multihop attempted", // 72 EMULTIHOP
    "rFS specific error", // 73 EDOTDOT
    "bad message", // 74 EBADMSG
    "value too large for defined data type", // 75 EOVERFLOW
    "name not unique on network", // 76 ENOTUNIQ
    "file descriptor in bad state", // 77 EBADFD
    "remote address changed", // 78 EREMCHG
    "can not access a needed shared library", // 79 ELIBACC
    "accessing a corrupted shared library", // 80 ELIBBAD
    ".lib section in a.out corrupted", // 81 ELIBSCN
    "attempting to link in too many shared libraries", // 82 ELIBMAX
    "cannot exec a shared library directly", // 83 ELIBEXEC
    "invalid or incomplete multibyte or wide character", // 84 EILSEQ
    "interrupted system call should be restarted", // 85 ERESTART
    "streams pipe error", // 86 ESTRPIPE
    "too many users", // 87 EUSERS
    "socket operation on non-socket", // 88 ENOTSOCK
    "destination address required", // 89 EDESTADDRREQ
    "message too long", // 90 EMSGSIZE
    "protocol wrong type for socket", // 91 EPROTOTYPE
    "protocol not available", // 92 ENOPROTOOPT
    "protocol not supported", // 93 EPROTONOSUPPORT
    "socket type not supported", // 94 ESOCKTNOSUPPORT
    "operation not supported", // 95 ENOTSUP
    "protocol family not supported", // 96 EPFNOSUPPORT
    "address family not supported by protocol", // 97 EAFNOSUPPORT
    "address already in use", // 98 EADDRINUSE
    "cannot assign requested address", // 99 EADDRNOTAVAIL
    "network is down", // 100 ENETDOWN
    "network is unreachable", // 101 ENETUNREACH
    "network dropped connection on reset", // 102 ENETRESET
    "software caused connection abort", // 103 ECONNABORTED
    "connection reset by peer", // 104 ECONNRESET
    "no buffer space available", // 105 ENOBUFS
    "transport endpoint is already connected", // 106 EISCONN
    "transport endpoint is not connected", // 107 ENOTCONN
    "cannot send after transport endpoint shutdown", // 108 ESHUTDOWN
    "too many references: cannot splice", // 109 ETOOMANYREFS
    "connection timed out", // 110 ETIMEDOUT
    "connection refused", // 111 ECONNREFUSED
    "host is down", // 112 EHOSTDOWN
    "no route to host", // 113 EHOSTUNREACH
    "operation already in progress", // 114 EALREADY
    "operation now in progress", // 115 EINPROGRESS
    "stale file handle", // 116 ESTALE
    "structure needs cleaning", // 117 EUCLEAN
    "not a XENIX named type file", // 118 ENOTNAM
    "no XENIX semaphores available", // 119 ENAVAIL
    "is a named type file", // 120 EISNAM
    "remote I/O error", // 121 EREMOTEIO
    "disk quota exceeded", // 122 EDQUOT
    "no medium found", // 123 ENOMEDIUM
    "wrong medium type", // 124 EMEDIUMTYPE
    "operation canceled", // 125 ECANCELED
    "required key not available", // 126 ENOKEY
    "key has expired", // 127 EKEYEXPIRED
    "key has been revoked", // 128 EKEYREVOKED
    "key was rejected by service", // 129 EKEYREJECTED
    "owner died", // 130 EOWNERDEAD
    "state not recoverable", // 131 ENOTRECOVERABLE
    "operation not possible due to RF-kill", // 132 ERFKILL
    "memory page has hardware error", // 133 
];

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
        assert_eq!(text(&io::Error::from_raw_os_error(libc::EBUSY)), "device or resource busy");
        assert_eq!(text(&io::Error::from_raw_os_error(libc::ELOOP)), "too many levels of symbolic links");
        assert_eq!(text(&io::Error::other("plain")), "plain");
    }
}
