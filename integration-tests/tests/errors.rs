//! Bad input: exit code 1, one clear message on stderr (and in --log), nothing left behind.
//! Every test ends with the harness' leak check (mounts, cgroups, processes, state).

use std::fs;

use berth_integration_tests::T;
use serde_json::json;

fn no_state(t: &T) {
    let left: Vec<_> = fs::read_dir(&t.root).map(|rd| rd.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "state left behind: {left:?}");
}

#[test]
fn missing_or_malformed_config_names_the_problem() {
    let mut t = T::new("badconfig");
    let b = t.bundle(&["true"]);
    fs::remove_file(b.dir.join("config.json")).unwrap();
    let o = t.berth(&["create", "-b", b.dir.to_str().unwrap(), "c"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("config.json") && o.stderr.contains("No such file"), "{}", o.stderr);
    fs::write(b.dir.join("config.json"), "{not json").unwrap();
    let o = t.berth(&["create", "-b", b.dir.to_str().unwrap(), "c"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("config.json"), "{}", o.stderr);
    no_state(&t);
}

/// Each entry: a change to a valid config, and the field the error must name.
#[test]
fn each_bad_field_is_named() {
    let mut t = T::new("badfields");
    let cases: Vec<(&str, Box<dyn Fn(&mut serde_json::Value)>)> = vec![
        ("process.rlimits[0].type", Box::new(|v| v["process"]["rlimits"] = json!([{"type": "RLIMIT_BOGUS", "hard": 1, "soft": 1}]))),
        ("process.rlimits[1].type", Box::new(|v| v["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 1, "soft": 1}, {"type": "RLIMIT_NOFILE", "hard": 2, "soft": 2}]))),
        ("process.args", Box::new(|v| v["process"]["args"] = json!([]))),
        ("process.cwd", Box::new(|v| v["process"]["cwd"] = json!("relative"))),
        ("process.user.uid", Box::new(|v| v["process"]["user"]["uid"] = json!("root"))),
        ("root.path", Box::new(|v| v["root"]["path"] = json!("/nonexistent/rootfs"))),
        ("linux.namespaces[0].type", Box::new(|v| v["linux"]["namespaces"][0]["type"] = json!("bogus"))),
        ("linux.namespaces[5]", Box::new(|v| v["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "pid"})))),
        ("linux.uidMappings", Box::new(|v| v["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"})))),
        ("linux.namespaces[0].path", Box::new(|v| v["linux"]["namespaces"][0] = json!({"type": "pid", "path": "/proc/self/ns/net"}))),
        ("linux.namespaces[0].path", Box::new(|v| v["linux"]["namespaces"][0] = json!({"type": "pid", "path": "/nonexistent"}))),
        ("hooks.prestart[0].path", Box::new(|v| v["hooks"] = json!({"prestart": [{"path": "relative/hook"}]}))),
        ("linux.cgroupsPath", Box::new(|v| v["linux"]["cgroupsPath"] = json!("/a/../../b"))),
        ("linux.rootfsPropagation", Box::new(|v| v["linux"]["rootfsPropagation"] = json!("sideways"))),
        ("mounts[0].destination", Box::new(|v| v["mounts"][0]["destination"] = json!(17))),
    ];
    for (field, change) in cases {
        let mut b = t.bundle(&["true"]);
        change(&mut b.config);
        let o = t.create(&b, "bad");
        assert_eq!(o.code, 1, "{field}: create succeeded");
        assert!(o.stderr.contains(field), "error for {field} does not name it: {}", o.stderr);
        assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
        no_state(&t);
    }
}

#[test]
fn failures_inside_the_init_are_reported_and_cleaned_up() {
    let mut t = T::new("initfail");
    // Found nothing to exec: reported by create, as runc does.
    let b = t.bundle(&["no-such-program"]);
    let o = t.create(&b, "c");
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("executable file not found in $PATH"), "{}", o.stderr);
    no_state(&t);
    // A bind mount whose source is missing.
    let mut b = t.bundle(&["true"]);
    b.config["mounts"].as_array_mut().unwrap().push(json!({"destination": "/mnt/x", "type": "bind", "source": "/nonexistent-src", "options": ["bind"]}));
    let o = t.create(&b, "c");
    assert!(o.stderr.contains("mounts[7].source"), "{}", o.stderr);
    no_state(&t);
    // A sysctl that does not exist.
    let mut b = t.bundle(&["true"]);
    b.config["linux"]["sysctl"] = json!({"net.ipv4.no_such_knob": "1"});
    let o = t.create(&b, "c");
    assert!(o.stderr.contains("linux.sysctl"), "{}", o.stderr);
    no_state(&t);
    // cwd that does not exist.
    let mut b = t.bundle(&["true"]);
    b.config["process"]["cwd"] = json!("/does/not/exist");
    let o = t.create(&b, "c");
    assert!(o.stderr.contains("process.cwd"), "{}", o.stderr);
    no_state(&t);
}

#[test]
fn unknown_ids_wrong_states_and_bad_arguments() {
    let mut t = T::new("wrongstate");
    for cmd in [&["state", "nope"][..], &["start", "nope"], &["kill", "nope"], &["delete", "nope"], &["pause", "nope"], &["resume", "nope"], &["ps", "nope"]] {
        let o = t.berth(cmd);
        assert_eq!(o.code, 1, "{cmd:?}");
        o.failed_with("does not exist");
    }
    for bad in ["a/b", "..", "has space", "../../etc"] {
        let b = t.bundle(&["true"]);
        t.create(&b, bad).failed_with("invalid container id");
    }
    let b = t.bundle(&["sleep", "100"]);
    t.create(&b, "dup").ok();
    t.create(&b, "dup").failed_with("already exists");
    t.berth(&["kill", "dup", "SIGNOPE"]).failed_with("invalid signal");
    // 0 is valid (runc: it checks the process and sends nothing); out of range is not.
    t.berth(&["kill", "dup", "0"]).ok();
    t.berth(&["kill", "dup", "99"]).failed_with("invalid signal");
    t.berth(&["start", "dup"]).ok();
    t.berth(&["start", "dup"]).failed_with("already running");
    t.berth(&["kill", "dup", "KILL"]).ok();
    t.wait_status("dup", "stopped");
    t.berth(&["start", "dup"]).failed_with("stopped");
    t.berth(&["kill", "dup"]).failed_with("not running");
    t.berth(&["delete", "dup"]).ok();
    // A missing ID is a usage error, exit 1, not a crash.
    assert_eq!(t.berth(&["start"]).code, 1);
}

#[test]
fn log_file_gets_the_error_as_its_last_json_line() {
    let t = T::new("logjson");
    let log = t.tmp.join("log.json");
    let o = t.berth(&["--log", log.to_str().unwrap(), "--log-format", "json", "state", "ghost"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("error") && o.stderr.contains("ghost"), "{}", o.stderr);
    let text = fs::read_to_string(&log).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error");
    assert!(last["msg"].as_str().unwrap().contains("does not exist"));
    assert!(last["time"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn a_corrupt_state_file_is_an_error_not_a_crash() {
    let mut t = T::new("corrupt");
    let b = t.bundle(&["sleep", "100"]);
    t.create(&b, "c").ok();
    let path = t.root.join("c/state.json");
    let good = fs::read(&path).unwrap();
    fs::write(&path, b"{\"id\":").unwrap();
    t.berth(&["state", "c"]).failed_with("corrupt state file");
    fs::write(&path, good).unwrap();
    t.berth(&["delete", "c"]).ok();
}

#[test]
fn failing_runtime_hook_aborts_create_and_cleans_up() {
    let mut t = T::new("hookfail");
    let mut b = t.bundle(&["true"]);
    b.config["hooks"] = json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "echo nope >&2; exit 3"]}]});
    let o = t.create(&b, "h");
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("createRuntime") && o.stderr.contains("nope"), "{}", o.stderr);
    no_state(&t);
}
