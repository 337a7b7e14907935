//! Test-only fault points. In a debug build, `BERTH_TESTPOINT=NAME` makes the process
//! that reaches `hit("NAME")` kill itself with SIGKILL (what `kill -9` of berth at that
//! step would do), and `BERTH_TESTPOINT=NAME@stop` stop itself with SIGSTOP (a test then
//! changes the world and sends SIGCONT). Release builds compile every point away.
//!
//! The integration tests use them to kill `create` at every step of its protocol and
//! check that `delete -f` leaves nothing behind.

/// Reaching the point named `name`.
#[inline(always)]
pub fn hit(name: &str) {
    #[cfg(debug_assertions)]
    {
        let Some(v) = std::env::var_os("BERTH_TESTPOINT") else { return };
        let v = v.to_string_lossy();
        let (point, action) = v.rsplit_once('@').unwrap_or((&v, "kill"));
        if point == name {
            let sig = if action == "stop" { libc::SIGSTOP } else { libc::SIGKILL };
            // SAFETY: signalling ourselves.
            unsafe { libc::kill(libc::getpid(), sig) };
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = name;
}
