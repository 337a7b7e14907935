//! Checks on config.json made before `create` touches the system, so that bad input
//! fails with the field and the reason and leaves nothing behind.

use std::collections::HashSet;
use std::path::Path;

use oci_spec::runtime::{Hook, LinuxNamespaceType, Spec};

use super::{invalid, Error};

/// Validates a spec for `create`. `bundle` is the absolute bundle directory.
pub fn validate(spec: &Spec, bundle: &Path) -> Result<(), Error> {
    // config.md: "ociVersion (string, REQUIRED) MUST be in SemVer v2.0.0 format".
    if !is_semver(spec.version()) {
        return Err(invalid("ociVersion", format!("{:?} is not a SemVer 2.0.0 version (MAJOR.MINOR.PATCH[-PRE][+BUILD])", spec.version())));
    }
    let root = spec.root().as_ref().ok_or_else(|| invalid("root", "is required on Linux"))?;
    let rootfs = bundle.join(root.path());
    match std::fs::metadata(&rootfs) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(invalid("root.path", format!("{} is not a directory", rootfs.display()))),
        Err(e) => return Err(invalid("root.path", format!("{}: {e}", rootfs.display()))),
    }
    let process = spec.process().as_ref().ok_or_else(|| invalid("process", "is required by create"))?;
    match process.args() {
        Some(a) if !a.is_empty() && !a[0].is_empty() => {}
        _ => return Err(invalid("process.args", "must name the program to run")),
    }
    if !process.cwd().is_absolute() {
        return Err(invalid("process.cwd", format!("{:?} is not an absolute path", process.cwd())));
    }
    if let Some(env) = process.env() {
        for (i, e) in env.iter().enumerate() {
            if !e.contains('=') || e.starts_with('=') {
                return Err(invalid(format!("process.env[{i}]"), format!("{e:?} is not NAME=VALUE")));
            }
        }
    }
    let mut seen = HashSet::new();
    for (i, r) in process.rlimits().iter().flatten().enumerate() {
        if !seen.insert(format!("{:?}", r.typ())) {
            return Err(invalid(format!("process.rlimits[{i}].type"), format!("{:?} is set twice", r.typ())));
        }
        if r.soft() > r.hard() {
            return Err(invalid(format!("process.rlimits[{i}]"), "soft limit is above the hard limit"));
        }
    }
    if process.terminal().unwrap_or(false) && process.console_size().is_some_and(|b| b.width() == 0 && b.height() != 0) {
        return Err(invalid("process.consoleSize", "width is 0"));
    }
    for (k, _) in spec.annotations().iter().flatten() {
        // config.md "Annotations": "Keys MUST NOT be an empty string."
        if k.is_empty() {
            return Err(invalid("annotations", "a key is an empty string"));
        }
    }
    validate_hooks(spec)?;
    validate_mounts(spec)?;
    validate_linux(spec)
}

/// Idmapped mounts (config.md "Mounts"): uidMappings "MUST be specified along with
/// gidMappings" and the other way round; berth, as runc, idmaps bind mounts only, and
/// `idmap` without the mount's own mappings uses the container's user namespace's.
fn validate_mounts(spec: &Spec) -> Result<(), Error> {
    let namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().as_deref()).unwrap_or(&[]);
    let has_userns = namespaces.iter().any(|n| n.typ() == LinuxNamespaceType::User);
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let uid = m.uid_mappings().as_ref().is_some_and(|v| !v.is_empty());
        let gid = m.gid_mappings().as_ref().is_some_and(|v| !v.is_empty());
        if uid != gid {
            let (field, other) = if uid { ("gidMappings", "uidMappings") } else { ("uidMappings", "gidMappings") };
            return Err(invalid(format!("mounts[{i}].{field}"), format!("must be given along with {other}")));
        }
        let opts = m.options().as_deref().unwrap_or(&[]);
        let idmap = opts.iter().any(|o| o == "idmap" || o == "ridmap");
        if !idmap && !uid {
            continue;
        }
        if !opts.iter().any(|o| o == "bind" || o == "rbind") {
            return Err(invalid(format!("mounts[{i}].options"), "idmapped mounts are only supported for bind mounts"));
        }
        if !uid && !has_userns {
            return Err(invalid(format!("mounts[{i}].options"), "idmap without uidMappings/gidMappings needs a user namespace for the container"));
        }
    }
    Ok(())
}

/// SemVer 2.0.0: three numeric parts without leading zeros, then an optional pre-release
/// (dot-separated [0-9A-Za-z-] identifiers, numeric ones without leading zeros) and
/// optional build metadata.
fn is_semver(v: &str) -> bool {
    let ident = |s: &str, numeric_rule: bool| {
        !s.is_empty()
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !(numeric_rule && s.len() > 1 && s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit()))
    };
    let (rest, build) = match v.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (v, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (rest, None),
    };
    let nums: Vec<&str> = core.split('.').collect();
    nums.len() == 3
        && nums.iter().all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && !(n.len() > 1 && n.starts_with('0')))
        && pre.is_none_or(|p| p.split('.').all(|i| ident(i, true)))
        && build.is_none_or(|b| b.split('.').all(|i| ident(i, false)))
}

#[allow(deprecated)]
fn validate_hooks(spec: &Spec) -> Result<(), Error> {
    let Some(hooks) = spec.hooks() else { return Ok(()) };
    let all: [(&str, &Option<Vec<Hook>>); 6] = [
        ("prestart", hooks.prestart()),
        ("createRuntime", hooks.create_runtime()),
        ("createContainer", hooks.create_container()),
        ("startContainer", hooks.start_container()),
        ("poststart", hooks.poststart()),
        ("poststop", hooks.poststop()),
    ];
    for (name, list) in all {
        for (i, h) in list.iter().flatten().enumerate() {
            // config.md: "This specification extends the IEEE standard in that path MUST be absolute."
            if !h.path().is_absolute() {
                return Err(invalid(format!("hooks.{name}[{i}].path"), "must be an absolute path"));
            }
            if h.timeout().is_some_and(|t| t <= 0) {
                return Err(invalid(format!("hooks.{name}[{i}].timeout"), "must be greater than zero"));
            }
        }
    }
    Ok(())
}

fn validate_linux(spec: &Spec) -> Result<(), Error> {
    let Some(linux) = spec.linux() else {
        return Err(invalid("linux", "is required on Linux"));
    };
    let namespaces = linux.namespaces().as_deref().unwrap_or(&[]);
    let mut seen = HashSet::new();
    for (i, ns) in namespaces.iter().enumerate() {
        // config-linux.md: "If a namespace type is specified more than once, the runtime MUST generate an error."
        if !seen.insert(ns.typ()) {
            return Err(invalid(format!("linux.namespaces[{i}]"), format!("{:?} namespace listed twice", ns.typ())));
        }
        if let Some(p) = ns.path() {
            if !p.is_absolute() {
                return Err(invalid(format!("linux.namespaces[{i}].path"), "must be an absolute path"));
            }
        }
    }
    let has = |t| seen.contains(&t);
    let new_userns = namespaces.iter().any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none());
    let maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if new_userns && linux.uid_mappings().as_ref().is_none_or(|m| m.is_empty()) {
        return Err(invalid("linux.uidMappings", "a new user namespace needs uid mappings"));
    }
    if new_userns && linux.gid_mappings().as_ref().is_none_or(|m| m.is_empty()) {
        return Err(invalid("linux.gidMappings", "a new user namespace needs gid mappings"));
    }
    if maps && !new_userns {
        return Err(invalid("linux.uidMappings", "mappings are set but no new user namespace is requested"));
    }
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts) {
        return Err(invalid("hostname", "cannot be set without a UTS namespace"));
    }
    if spec.domainname().as_ref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts) {
        return Err(invalid("domainname", "cannot be set without a UTS namespace"));
    }
    if let Some(offsets) = linux.time_offsets() {
        if !has(LinuxNamespaceType::Time) {
            return Err(invalid("linux.timeOffsets", "set without a time namespace"));
        }
        for k in offsets.keys() {
            if k != "monotonic" && k != "boottime" {
                return Err(invalid(format!("linux.timeOffsets.{k}"), "only monotonic and boottime exist"));
            }
        }
    }
    if let Some(p) = linux.cgroups_path() {
        if p.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
            return Err(invalid("linux.cgroupsPath", "must not contain '..'"));
        }
    }
    for k in linux.sysctl().iter().flat_map(|m| m.keys()) {
        sysctl_path(k)?;
    }
    // config-linux.md: maskedPaths and readonlyPaths "MUST be absolute paths in the
    // container namespace".
    for (field, list) in [("linux.maskedPaths", linux.masked_paths()), ("linux.readonlyPaths", linux.readonly_paths())] {
        for (i, p) in list.iter().flatten().enumerate() {
            if !p.starts_with('/') {
                return Err(invalid(format!("{field}[{i}]"), format!("{p:?} is not an absolute path")));
            }
        }
    }
    // Not implemented: refused rather than ignored (netDevices: "MUST generate an error if
    // the check fails"; intelRdt needs resctrl, which berth does not drive).
    if linux.net_devices().as_ref().is_some_and(|d| !d.is_empty()) {
        return Err(invalid("linux.netDevices", "moving network devices into the container is not supported by berth"));
    }
    if linux.intel_rdt().is_some() {
        return Err(invalid("linux.intelRdt", "Intel RDT (resctrl) is not supported by berth"));
    }
    if let Some(prop) = linux.rootfs_propagation() {
        if crate::rootfs::propagation_flag(prop).is_none() {
            return Err(invalid("linux.rootfsPropagation", format!("unknown propagation {prop:?}")));
        }
    }
    Ok(())
}

/// The path below /proc/sys of a `linux.sysctl` key, runc's two forms: `net.ipv4.ip_forward`
/// (dots become slashes) or `net/ipv4/conf/eth0.100/forwarding` (a path, dots kept).
///
/// Attack stopped: the key names a file to write, so `/etc/group` or `../../etc/x` would
/// write outside /proc/sys (`Path::join` of an absolute key replaced the base). Only
/// `[A-Za-z0-9_.-/]` is allowed, relative, with no empty, `.` or `..` component.
pub fn sysctl_path(key: &str) -> Result<String, Error> {
    let field = || format!("linux.sysctl.{key}");
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-/".contains(&b)) {
        return Err(invalid(field(), "a sysctl name may hold only letters, digits, '_', '.', '-' and '/'"));
    }
    let rel = if key.contains('/') { key.to_string() } else { key.replace('.', "/") };
    if rel.starts_with('/') || rel.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err(invalid(field(), "must be a relative name below /proc/sys, without empty, '.' or '..' parts"));
    }
    Ok(rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_version_must_be_semver() {
        for good in ["1.0.0", "1.0.2-dev", "1.3.0", "1.1.0-rc.1", "1.2.0+build.5", "10.20.30-alpha.beta-1+x"] {
            assert!(is_semver(good), "{good}");
        }
        for bad in ["invalid", "", "1.0", "1.0.0.0", "01.0.0", "1.0.0-", "1.0.0-01", "1.0.0+", "v1.0.0", "1.0.0-a..b", "1.x.0"] {
            assert!(!is_semver(bad), "{bad}");
        }
    }

    fn spec(json: serde_json::Value) -> Spec {
        serde_json::from_value(json).unwrap()
    }

    fn base() -> serde_json::Value {
        serde_json::json!({
            "ociVersion": "1.3.0",
            "root": {"path": "/"},
            "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "linux": {"namespaces": [{"type": "mount"}]}
        })
    }

    fn err_field(v: serde_json::Value) -> String {
        match validate(&spec(v), Path::new("/")) {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn base_is_valid() {
        validate(&spec(base()), Path::new("/")).unwrap();
    }

    #[test]
    fn rejects_each_bad_field_by_name() {
        let mut v = base();
        v["process"]["args"] = serde_json::json!([]);
        assert_eq!(err_field(v), "process.args");
        let mut v = base();
        v["process"]["cwd"] = "rel".into();
        assert_eq!(err_field(v), "process.cwd");
        let mut v = base();
        v["process"]["rlimits"] = serde_json::json!([
            {"type": "RLIMIT_NOFILE", "hard": 1, "soft": 1},
            {"type": "RLIMIT_NOFILE", "hard": 1, "soft": 1}]);
        assert_eq!(err_field(v), "process.rlimits[1].type");
        let mut v = base();
        v["linux"]["namespaces"] = serde_json::json!([{"type": "mount"}, {"type": "mount"}]);
        assert_eq!(err_field(v), "linux.namespaces[1]");
        let mut v = base();
        v["linux"]["namespaces"] = serde_json::json!([{"type": "mount"}, {"type": "user"}]);
        assert_eq!(err_field(v), "linux.uidMappings");
        let mut v = base();
        v["hooks"] = serde_json::json!({"poststop": [{"path": "rel"}]});
        assert_eq!(err_field(v), "hooks.poststop[0].path");
        let mut v = base();
        v["root"]["path"] = "/nonexistent-berth".into();
        assert_eq!(err_field(v), "root.path");
        let mut v = base();
        v["hostname"] = "h".into();
        assert_eq!(err_field(v), "hostname");
        let map = serde_json::json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
        let mut v = base();
        v["mounts"] = serde_json::json!([{"destination": "/m", "source": "/tmp", "options": ["bind", "idmap"], "uidMappings": map}]);
        assert_eq!(err_field(v), "mounts[0].gidMappings");
        let mut v = base();
        v["mounts"] = serde_json::json!([{"destination": "/m", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"], "uidMappings": map, "gidMappings": map}]);
        assert_eq!(err_field(v), "mounts[0].options");
        let mut v = base();
        v["mounts"] = serde_json::json!([{"destination": "/m", "source": "/tmp", "options": ["rbind", "ridmap"]}]);
        assert_eq!(err_field(v), "mounts[0].options", "no mappings and no user namespace");
        for key in ["/etc/group", "../../etc/passwd", "net/../../x", "kernel..x", "a b", ".", "net/", "a\\b", ""] {
            let mut v = base();
            v["linux"]["sysctl"] = serde_json::json!({ key: "1" });
            assert_eq!(err_field(v), format!("linux.sysctl.{key}"), "{key:?}");
        }
    }

    #[test]
    fn sysctl_names_in_both_of_runcs_forms() {
        assert_eq!(sysctl_path("net.ipv4.ip_forward").unwrap(), "net/ipv4/ip_forward");
        assert_eq!(sysctl_path("net/ipv4/conf/eth0.100/forwarding").unwrap(), "net/ipv4/conf/eth0.100/forwarding");
        assert_eq!(sysctl_path("kernel.shm_rmid_forced").unwrap(), "kernel/shm_rmid_forced");

    }
}
