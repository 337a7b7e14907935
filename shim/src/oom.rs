//! OOM events (containerd's /tasks/oom): one thread per container waits on its memory
//! cgroup. v1: an eventfd registered for memory.oom_control through cgroup.event_control
//! (the kernel also signals it when the cgroup goes away, which ends the thread). v2: the
//! oom_kill count of memory.events, watched with inotify (IN_MODIFY; IN_IGNORED once the
//! cgroup is removed).

use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

use berth::cgroups::Cgroup;
use berth::container::{Container, Runtime};

use crate::task::Service;

/// Watches the memory cgroup berth recorded for container `id` (its state: the same
/// directories `berth events` reads, whichever driver made them).
pub fn watch(svc: Service, rt: &Runtime, id: String) {
    let cgroup = match Container::load(rt, &id) {
        Ok(c) => c.state.cgroup,
        Err(e) => return log::warn!("OOM events of {id}: {e}"),
    };
    let Some((dir, v2)) = cgroup.memory_dir().map(|(d, v2)| (d.to_path_buf(), v2)) else { return };
    let r = if v2 { watch_v2(svc, id, dir, cgroup) } else { watch_v1(svc, id, dir) };
    if let Err(e) = r {
        log::warn!("OOM events: {e}");
    }
}

fn fd(raw: i32, what: &str) -> std::io::Result<OwnedFd> {
    if raw < 0 {
        let e = std::io::Error::last_os_error();
        return Err(std::io::Error::new(e.kind(), format!("{what}: {e}")));
    }
    // SAFETY: a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

fn watch_v1(svc: Service, id: String, dir: PathBuf) -> std::io::Result<()> {
    // SAFETY: eventfd with valid flags.
    let efd = fd(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) }, "eventfd")?;
    let control = File::open(dir.join("memory.oom_control"))?;
    std::fs::write(dir.join("cgroup.event_control"), format!("{} {}", efd.as_raw_fd(), control.as_raw_fd()))?;
    std::thread::Builder::new().name("oom".into()).stack_size(64 * 1024).spawn(move || {
        let _control = control;
        let mut f = File::from(efd);
        let mut buf = [0u8; 8];
        while f.read_exact(&mut buf).is_ok() {
            // Also signalled when the cgroup is removed.
            if !dir.exists() {
                break;
            }
            svc.oom(&id);
        }
    })?;
    Ok(())
}

fn watch_v2(svc: Service, id: String, dir: PathBuf, cgroup: Cgroup) -> std::io::Result<()> {
    // SAFETY: inotify_init1 with valid flags.
    let ino = fd(unsafe { libc::inotify_init1(libc::IN_CLOEXEC) }, "inotify")?;
    let path = CString::new(dir.join("memory.events").into_os_string().into_encoded_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: a valid C string and our inotify fd.
    if unsafe { libc::inotify_add_watch(ino.as_raw_fd(), path.as_ptr(), libc::IN_MODIFY) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    std::thread::Builder::new().name("oom".into()).stack_size(64 * 1024).spawn(move || {
        let mut seen = cgroup.oom_kills();
        let mut f = File::from(ino);
        let mut buf = [0u8; 512];
        while let Ok(n @ 1..) = f.read(&mut buf) {
            // IN_IGNORED (0x8000): the watch is gone with the cgroup.
            let mask = u32::from_ne_bytes([buf[4], buf[5], buf[6], buf[7]]);
            if n >= 16 && mask & libc::IN_IGNORED != 0 {
                break;
            }
            let now = cgroup.oom_kills();
            if now > seen {
                svc.oom(&id);
            }
            seen = now;
        }
    })?;
    Ok(())
}
