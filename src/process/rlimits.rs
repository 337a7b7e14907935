//! process.rlimits → setrlimit, applied in the init before it drops privileges.

use oci_spec::runtime::{PosixRlimit, PosixRlimitType};

#[derive(Debug, thiserror::Error)]
#[error("process.rlimits: cannot set {name} (soft {soft}, hard {hard}): {source}")]
pub struct Error {
    name: String,
    soft: u64,
    hard: u64,
    source: std::io::Error,
}

/// setrlimit's resource type: glibc's own enum type, a plain int elsewhere (musl).
#[cfg(target_env = "gnu")]
type Resource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
type Resource = libc::c_int;

fn resource(t: PosixRlimitType) -> Resource {
    use PosixRlimitType::*;
    (match t {
        RlimitCpu => libc::RLIMIT_CPU,
        RlimitFsize => libc::RLIMIT_FSIZE,
        RlimitData => libc::RLIMIT_DATA,
        RlimitStack => libc::RLIMIT_STACK,
        RlimitCore => libc::RLIMIT_CORE,
        RlimitRss => libc::RLIMIT_RSS,
        RlimitNproc => libc::RLIMIT_NPROC,
        RlimitNofile => libc::RLIMIT_NOFILE,
        RlimitMemlock => libc::RLIMIT_MEMLOCK,
        RlimitAs => libc::RLIMIT_AS,
        RlimitLocks => libc::RLIMIT_LOCKS,
        RlimitSigpending => libc::RLIMIT_SIGPENDING,
        RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        RlimitNice => libc::RLIMIT_NICE,
        RlimitRtprio => libc::RLIMIT_RTPRIO,
        RlimitRttime => libc::RLIMIT_RTTIME,
    }) as Resource
}

pub fn apply(limits: &[PosixRlimit]) -> Result<(), Error> {
    for l in limits {
        let r = libc::rlimit { rlim_cur: l.soft(), rlim_max: l.hard() };
        // SAFETY: setrlimit with a valid struct.
        if unsafe { libc::setrlimit(resource(l.typ()), &r) } != 0 {
            return Err(Error {
                name: format!("{:?}", l.typ()).to_uppercase().replace("RLIMIT", "RLIMIT_"),
                soft: l.soft(),
                hard: l.hard(),
                source: std::io::Error::last_os_error(),
            });
        }
    }
    Ok(())
}
