//! Output of `list`, `ps` and `features` in the shapes runc prints and tools parse.

use super::{fail, stdout, Failure};
use crate::container::Runtime;

fn user_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| p.lines().map(|l| l.split(':').collect::<Vec<_>>()).find(|f| f.len() > 2 && f[2].parse::<u32>().ok() == Some(uid)).map(|f| f[0].to_string()))
        .unwrap_or_else(|| format!("#{uid}"))
}

/// Go's text/tabwriter as runc configures it (minwidth 12, padding 3): every column but
/// the last is padded to its widest cell plus 3, and to at least 12. Written into one
/// string, with no string made per cell.
pub fn table<const N: usize>(rows: &[[&str; N]]) -> String {
    let mut widths = [0usize; N];
    let mut size = 0;
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
            size += c.len();
        }
    }
    let pad: usize = widths.iter().take(N.saturating_sub(1)).map(|w| (w + 3).max(12)).sum();
    let mut out = String::with_capacity(size + rows.len() * (pad + 1));
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            out.push_str(c);
            if i + 1 < N {
                let w = (widths[i] + 3).max(12);
                out.extend(std::iter::repeat_n(' ', w - c.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

pub fn list(rt: &Runtime, format: &str, quiet: bool) -> Result<i32, Failure> {
    if format != "table" && format != "json" {
        return Err(fail(format!("invalid format option {format:?}")));
    }
    let items = crate::container::list(rt)?;
    if quiet {
        let mut out = String::new();
        for (v, _) in &items {
            out.push_str(&v.id);
            out.push('\n');
        }
        stdout::print(&out);
        return Ok(0);
    }
    // Each owner's name looked up once, and borrowed by every row (not copied into each).
    let mut names: std::collections::HashMap<u32, String> = Default::default();
    for (_, uid) in &items {
        names.entry(*uid).or_insert_with(|| user_name(*uid));
    }
    if format == "json" {
        // runc encodes an empty list as null (a nil Go slice).
        if items.is_empty() {
            stdout::println("null");
        } else {
            let items: Vec<_> = items
                .into_iter()
                .map(|(mut v, uid)| {
                    v.owner = names.get(&uid).cloned().unwrap_or_default();
                    v
                })
                .collect();
            stdout::println(&serde_json::to_string(&items)?);
        }
        return Ok(0);
    }
    let pids: Vec<String> = items.iter().map(|(v, _)| v.pid.to_string()).collect();
    let bundles: Vec<_> = items.iter().map(|(v, _)| v.bundle.to_string_lossy()).collect();
    let mut rows = Vec::with_capacity(items.len() + 1);
    rows.push(["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]);
    for (((v, uid), pid), bundle) in items.iter().zip(&pids).zip(&bundles) {
        rows.push([&v.id, pid, v.status.as_str(), bundle, &v.created, names.get(uid).map_or("", String::as_str)]);
    }
    stdout::print(&table(&rows));
    Ok(0)
}

/// `ps`: runc runs `ps -ef` (or the given options) and keeps the header and the lines
/// whose PID column is one of the container's; `--format json` prints the pid array.
pub fn ps(rt: &Runtime, id: &str, format: &str, ps_args: &[String]) -> Result<i32, Failure> {
    let pids = crate::container::pids(rt, id)?;
    if format == "json" {
        stdout::println(&serde_json::to_string(&pids)?);
        return Ok(0);
    }
    if format != "table" {
        return Err(fail(format!("invalid format option {format:?}")));
    }
    let args: Vec<String> = if ps_args.is_empty() { vec!["-ef".into()] } else { ps_args.to_vec() };
    let out = std::process::Command::new("ps").args(&args).output().map_err(|e| fail(format!("ps: {e}")))?;
    if !out.status.success() {
        return Err(fail(format!("ps: {}", String::from_utf8_lossy(&out.stderr).trim())));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let pid_col = header.split_whitespace().position(|h| h == "PID").ok_or_else(|| fail("ps output has no PID column"))?;
    stdout::println(header);
    for l in lines {
        if l.split_whitespace().nth(pid_col).and_then(|p| p.parse::<i32>().ok()).is_some_and(|p| pids.contains(&p)) {
            stdout::println(l);
        }
    }
    Ok(0)
}

/// runtime-spec features.md.
pub fn features() -> serde_json::Value {
    let mount_options = crate::rootfs::mounts::known_options();
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::SPEC_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": mount_options,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps::all().iter().map(|c| c.to_string()).collect::<std::collections::BTreeSet<_>>(),
            // rdma: its limits are written where the host has the controller.
            "cgroup": { "v1": true, "v2": true, "systemd": true, "systemdUser": true, "rdma": true },
            "seccomp": crate::seccomp::features(),
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false },
            "intelRdt": { "enabled": false },
            "mountExtensions": { "idmap": { "enabled": true } }
        },
        "annotations": {
            "org.opencontainers.runc.version": env!("CARGO_PKG_VERSION"),
            "io.github.berth.version": env!("CARGO_PKG_VERSION")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_pads_like_tabwriter() {
        let t = table(&[["ID", "PID", "X"], ["a-long-container-id", "1", "y"]]);
        let first: Vec<&str> = t.lines().collect();
        assert_eq!(first[0], format!("ID{}PID{}X", " ".repeat(22 - 2), " ".repeat(12 - 3)));
        assert!(first[1].starts_with("a-long-container-id   1"));
    }
}
