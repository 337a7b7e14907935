//! Rootless berth (issue 18), as runc's `--rootless auto`: run by a user who is not root,
//! state in $XDG_RUNTIME_DIR/berth, the user namespace mapping the caller's own ids (or
//! more, through newuidmap/newgidmap and /etc/subuid, /etc/subgid), cgroups skipped
//! where the user cannot write them (this host's v1 hierarchies; the cgroup2 guest
//! checks a delegated subtree).

use std::fs;
use std::os::unix::fs::chown;
use std::path::Path;
use std::process::{Command, Stdio};

use berth_integration_tests::{berth_bin, rootfs, Out, T};
use serde_json::{json, Value};

/// A uid and gid no account uses: berth needs none for the caller's own mapping.
const UID: u32 = 23450;

fn own(t: &T, name: &str, uid: u32) -> std::path::PathBuf {
    let d = t.tmp.join(name);
    fs::create_dir_all(&d).unwrap();
    chown(&d, Some(uid), Some(uid)).unwrap();
    d
}

/// berth as `uid` (setpriv: no capabilities left, no supplementary groups), with
/// XDG_RUNTIME_DIR set to a directory of its own, and `env` added. Output goes through
/// files: a container's init inherits them and outlives `create`.
fn as_user_env(t: &T, uid: u32, args: &[&str], env: &[(&str, &str)]) -> Out {
    let xdg = own(t, "xdg", uid);
    let (o, e) = (t.tmp.join("user-out"), t.tmp.join("user-err"));
    let mut c = Command::new("/usr/bin/setpriv");
    c.args([format!("--reuid={uid}"), format!("--regid={uid}"), "--clear-groups".into(), "--".into()]).arg(berth_bin()).args(args);
    c.env("XDG_RUNTIME_DIR", &xdg).env("HOME", &xdg);
    for (k, v) in env {
        c.env(k, v);
    }
    let st = c.stdin(Stdio::null()).stdout(fs::File::create(&o).unwrap()).stderr(fs::File::create(&e).unwrap()).status().unwrap();
    Out { code: st.code().unwrap_or(-1), stdout: fs::read_to_string(&o).unwrap_or_default(), stderr: fs::read_to_string(&e).unwrap_or_default() }
}

fn as_user(t: &T, uid: u32, args: &[&str]) -> Out {
    as_user_env(t, uid, args, &[])
}

/// `berth spec --rootless`, written by the user, adapted to the shared rootfs and `args`.
fn rootless_bundle(t: &T, uid: u32, name: &str, args: &[&str]) -> (std::path::PathBuf, Value) {
    let dir = own(t, name, uid);
    as_user(t, uid, &["spec", "--rootless", "--bundle", dir.to_str().unwrap()]).ok();
    let mut c: Value = serde_json::from_slice(&fs::read(dir.join("config.json")).unwrap()).unwrap();
    c["root"]["path"] = json!(rootfs());
    c["process"]["terminal"] = json!(false);
    c["process"]["args"] = json!(args);
    fs::write(dir.join("config.json"), serde_json::to_vec(&c).unwrap()).unwrap();
    (dir, c)
}

const PROBE: &str = "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; echo $$; hostname";

#[test]
fn a_user_runs_a_container_as_runc_rootless_does() {
    let t = T::new("rootless");
    let (dir, c) = rootless_bundle(&t, UID, "b", &["sh", "-c", PROBE]);
    assert_eq!(c["linux"]["uidMappings"], json!([{"containerID": 0, "hostID": UID, "size": 1}]), "spec --rootless maps the caller");
    let out = as_user(&t, UID, &["run", "--bundle", dir.to_str().unwrap(), "rl"]);
    out.ok();
    let words: Vec<&str> = out.stdout.split_whitespace().collect();
    let u = UID.to_string();
    assert_eq!(words, ["0", "0", "0", u.as_str(), "1", "0", u.as_str(), "1", "1", "berth"], "{}", out.stderr);
    // The v1 hierarchies are root's: skipped, with a warning, as runc ignores them.
    assert!(out.stderr.contains("rootless: no cgroup v1 directories"), "{}", out.stderr);
    // State went to $XDG_RUNTIME_DIR/berth, and is gone after the foreground run.
    let state = t.tmp.join("xdg/berth");
    assert!(state.is_dir(), "no {}", state.display());
    assert_eq!(fs::read_dir(&state).unwrap().filter(|e| !e.as_ref().unwrap().file_name().to_string_lossy().starts_with('.')).count(), 0);
}

#[test]
fn a_rootless_container_goes_through_its_lifecycle_with_exec() {
    let t = T::new("rootlesslc");
    let (dir, _) = rootless_bundle(&t, UID, "b", &["sleep", "100"]);
    let d = dir.to_str().unwrap();
    as_user(&t, UID, &["create", "--bundle", d, "lc"]).ok();
    let st = as_user(&t, UID, &["state", "lc"]).json();
    assert_eq!(st["status"], "created");
    let pid = st["pid"].as_i64().unwrap();
    // The init is the user's (host view), root in its namespace.
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some(&UID.to_string())), "{status}");
    as_user(&t, UID, &["start", "lc"]).ok();
    // exec: the runtime cannot enter the pid namespace itself; the child does, then
    // forks (process/enter.rs). It sees the container's pid 1.
    let out = as_user(&t, UID, &["exec", "lc", "sh", "-c", "id -u; head -c5 /proc/1/cmdline; echo; readlink /proc/self/ns/pid"]);
    out.ok();
    let words: Vec<&str> = out.stdout.split_whitespace().collect();
    assert_eq!(&words[..2], ["0", "sleep"], "{}", out.stderr);
    assert_eq!(words[2], fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap().display().to_string());
    let ps = as_user(&t, UID, &["list"]).ok().stdout.clone();
    assert!(ps.contains("lc") && ps.contains("running"), "{ps}");
    as_user(&t, UID, &["kill", "lc", "KILL"]).ok();
    for _ in 0..200 {
        if as_user(&t, UID, &["state", "lc"]).json()["status"] == "stopped" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    as_user(&t, UID, &["delete", "lc"]).ok();
    assert!(as_user(&t, UID, &["state", "lc"]).code != 0);
}

/// An account with subordinate ids, without touching the host's /etc: a copy of /etc
/// with the entries added is bound over /etc in a mount namespace of its own (newuidmap
/// and newgidmap, setuid root, read /etc/passwd and /etc/subuid there), in which berth
/// then runs as that user. Nothing of it outlives the command.
const SUB_USER: &str = "berth-rootless-test";
const SUB_UID: u32 = 23460;
const SUB_START: u32 = 400000;

fn private_etc(t: &T) -> std::path::PathBuf {
    let etc = t.tmp.join("etc");
    if etc.exists() {
        return etc;
    }
    let st = Command::new("cp").args(["-a", "/etc"]).arg(&etc).status().unwrap();
    assert!(st.success(), "cp -a /etc");
    let add = |f: &str, line: String| {
        let mut text = fs::read_to_string(etc.join(f)).unwrap_or_default();
        text.push_str(&line);
        fs::write(etc.join(f), text).unwrap();
    };
    add("passwd", format!("{SUB_USER}:x:{SUB_UID}:{SUB_UID}::/nonexistent:/usr/sbin/nologin\n"));
    add("group", format!("{SUB_USER}:x:{SUB_UID}:\n"));
    add("subuid", format!("{SUB_USER}:{SUB_START}:65536\n"));
    add("subgid", format!("{SUB_USER}:{SUB_START}:65536\n"));
    etc
}

/// berth as SUB_USER, with the private /etc.
fn as_sub_user(t: &T, args: &[&str], env: &[(&str, &str)]) -> Out {
    let etc = private_etc(t);
    let xdg = own(t, "xdg", SUB_UID);
    let (o, e) = (t.tmp.join("user-out"), t.tmp.join("user-err"));
    let script = format!("/usr/bin/mount --bind {} /etc && exec /usr/bin/setpriv --reuid={SUB_UID} --regid={SUB_UID} --clear-groups -- \"$@\"", etc.display());
    let mut c = Command::new("/usr/bin/unshare");
    c.args(["--mount", "--propagation", "private", "/bin/sh", "-c", &script, "sh"]).arg(berth_bin()).args(args);
    c.env("XDG_RUNTIME_DIR", &xdg).env("HOME", &xdg);
    for (k, v) in env {
        c.env(k, v);
    }
    let st = c.stdin(Stdio::null()).stdout(fs::File::create(&o).unwrap()).stderr(fs::File::create(&e).unwrap()).status().unwrap();
    Out { code: st.code().unwrap_or(-1), stdout: fs::read_to_string(&o).unwrap_or_default(), stderr: fs::read_to_string(&e).unwrap_or_default() }
}

#[test]
fn several_ranges_go_through_newuidmap_and_its_errors_are_clear() {
    let t = T::new("rootlesssub");
    let (dir, mut c) = rootless_bundle(&t, SUB_UID, "b", &["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u"]);
    let maps = json!([{"containerID": 0, "hostID": SUB_UID, "size": 1}, {"containerID": 1, "hostID": SUB_START, "size": 65536}]);
    c["linux"]["uidMappings"] = maps.clone();
    c["linux"]["gidMappings"] = maps;
    c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    fs::write(dir.join("config.json"), serde_json::to_vec(&c).unwrap()).unwrap();
    let d = dir.to_str().unwrap();
    let out = as_sub_user(&t, &["run", "--bundle", d, "sub"], &[]);
    out.ok();
    let words: Vec<&str> = out.stdout.split_whitespace().collect();
    let (u, s) = (SUB_UID.to_string(), SUB_START.to_string());
    let want = ["0", u.as_str(), "1", "1", s.as_str(), "65536"];
    assert_eq!(&words[..6], want, "uid_map");
    assert_eq!(&words[6..12], want, "gid_map");
    assert_eq!(words[12], "1000", "a user of the subordinate range");

    // Ranges the user was not given: newuidmap refuses, and the error says where to look.
    let maps = json!([{"containerID": 0, "hostID": SUB_UID, "size": 1}, {"containerID": 1, "hostID": 900000, "size": 10}]);
    c["linux"]["uidMappings"] = maps.clone();
    c["linux"]["gidMappings"] = maps;
    fs::write(dir.join("config.json"), serde_json::to_vec(&c).unwrap()).unwrap();
    as_sub_user(&t, &["run", "--bundle", d, "bad"], &[]).failed_with("newuidmap").failed_with("/etc/subuid");
    // No helper at all (not in PATH): said so.
    let out = as_sub_user(&t, &["run", "--bundle", d, "nohelper"], &[("PATH", "/nonexistent")]);
    assert!(out.code != 0 && out.stderr.contains("newuidmap: not found"), "{}", out.stderr);
    let xdg = t.tmp.join("xdg");
    assert!(!Path::new(&xdg.join("berth/bad")).exists() && !Path::new(&xdg.join("berth/nohelper")).exists());
}
