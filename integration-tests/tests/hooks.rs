//! config.md "POSIX-platform Hooks" and runtime.md "Lifecycle": order, state on stdin,
//! the namespace each kind runs in, failure semantics.

use std::fs;

use berth_integration_tests::T;
use serde_json::{json, Value};

/// A hook that appends "<name> <uts ns> <mnt ns>" and its stdin to `log`.
fn hook(name: &str, log: &str) -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c",
        format!("echo \"{name} $(readlink /proc/self/ns/uts) $(readlink /proc/self/ns/mnt) $(cat)\" >> {log}")]})
}

#[test]
fn hooks_run_in_order_in_their_namespaces_with_the_state() {
    let mut t = T::new("hookorder");
    let logdir = t.tmp.join("hooklog");
    fs::create_dir_all(&logdir).unwrap();
    let host_log = logdir.join("log");
    let hl = host_log.to_str().unwrap();
    let mut b = t.bundle(&["sleep", "100"]);
    // startContainer runs after pivot_root: its path and log resolve in the container,
    // which sees the log directory through a bind mount.
    b.config["mounts"].as_array_mut().unwrap().push(json!({"destination": "/hooklog", "type": "bind", "source": logdir, "options": ["rbind"]}));
    b.config["annotations"] = json!({"org.example.k": "v"});
    b.config["hooks"] = json!({
        "prestart": [hook("prestart", hl)],
        "createRuntime": [hook("createRuntime", hl)],
        "createContainer": [hook("createContainer", hl)],
        "startContainer": [hook("startContainer", "/hooklog/log")],
        "poststart": [hook("poststart", hl)],
        "poststop": [hook("poststop", hl)],
    });
    t.create(&b, "hk").ok();
    let pid = t.state("hk")["pid"].as_i64().unwrap();
    t.berth(&["start", "hk"]).ok();
    // startContainer runs in the init after start released it; wait for it.
    for _ in 0..200 {
        if fs::read_to_string(&host_log).unwrap_or_default().contains("startContainer") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    t.berth(&["kill", "hk", "KILL"]).ok();
    t.wait_status("hk", "stopped");
    t.berth(&["delete", "hk"]).ok();

    let text = fs::read_to_string(&host_log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let names: Vec<&str> = lines.iter().map(|l| l.split(' ').next().unwrap()).collect();
    // runtime.md lifecycle order; poststart comes after startContainer's release.
    let mut sorted = names.clone();
    let pos = |n: &str| names.iter().position(|x| *x == n).unwrap_or_else(|| panic!("{n} did not run: {text}"));
    assert!(pos("prestart") < pos("createContainer") && pos("createRuntime") < pos("createContainer"), "{names:?}");
    assert!(pos("createContainer") < pos("startContainer"), "{names:?}");
    assert_eq!(names.last(), Some(&"poststop"));
    sorted.dedup();
    assert_eq!(sorted.len(), 6, "each hook ran once: {names:?}");

    let host_uts = fs::read_link("/proc/self/ns/uts").unwrap().display().to_string();
    let ctr_uts = format!("uts:[{}]", fs::read_link(format!("/proc/{pid}/ns/uts")).map(|p| p.display().to_string()).unwrap_or_default().trim_start_matches("uts:[").trim_end_matches(']'));
    for l in &lines {
        let f: Vec<&str> = l.splitn(4, ' ').collect();
        let (name, uts, state) = (f[0], f[1], f[3]);
        match name {
            // config.md: createRuntime/prestart/poststart/poststop "in the runtime namespace".
            "prestart" | "createRuntime" | "poststart" | "poststop" => assert_eq!(uts, host_uts, "{name} ran outside the runtime namespace"),
            // createContainer/startContainer "in the container namespace".
            _ => assert!(uts != host_uts && (ctr_uts == "uts:[]" || uts == ctr_uts), "{name} ran in {uts}"),
        }
        // runtime.md: hooks receive the state of the container on stdin.
        let s: Value = serde_json::from_str(state).unwrap_or_else(|e| panic!("{name} stdin is not state JSON ({e}): {state}"));
        assert_eq!(s["id"], "hk");
        assert_eq!(s["annotations"]["org.example.k"], "v");
        assert!(s["bundle"].as_str().unwrap().ends_with("bundle1"));
        if name != "poststop" {
            assert_eq!(s["pid"], pid, "{name}");
        }
    }
}

#[test]
fn poststop_and_poststart_failures_only_warn() {
    let mut t = T::new("hookwarn");
    let mut b = t.bundle(&["true"]);
    b.config["hooks"] = json!({
        "poststart": [{"path": "/bin/false"}],
        "poststop": [{"path": "/bin/false"}],
    });
    let o = t.run(&b, "w");
    o.ok();
    assert!(o.stderr.contains("poststop") && o.stderr.contains("warning"), "{}", o.stderr);
}

#[test]
fn prestart_failure_fails_create_and_a_slow_hook_times_out() {
    let mut t = T::new("hooktimeout");
    let mut b = t.bundle(&["true"]);
    b.config["hooks"] = json!({"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "sleep 10"], "timeout": 1}]});
    let start = std::time::Instant::now();
    t.create(&b, "slow").failed_with("hook ran past specified timeout");
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    let mut b = t.bundle(&["true"]);
    b.config["hooks"] = json!({"createContainer": [{"path": "/bin/false"}]});
    t.create(&b, "cc").failed_with("createContainer");
}
