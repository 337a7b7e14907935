//! runtime.md "Lifecycle" and "Operations", through the real binary.

use std::fs;
use std::process::{Command, Stdio};

use berth_integration_tests::T;
use serde_json::Value;

#[test]
fn create_start_kill_delete_walks_through_every_status() {
    let mut t = T::new("lifecycle");
    let b = t.bundle(&["sleep", "100"]);
    let pid_file = t.tmp.join("init.pid");
    b.write();
    let mut c = t.cmd();
    c.args(["create", "--bundle"]).arg(&b.dir).arg("--pid-file").arg(&pid_file).arg("c1");
    t.detached(&mut c).ok();
    // runtime.md: state MUST include ociVersion, id, status, pid (when created/running), bundle.
    let s = t.state("c1");
    assert_eq!(s["status"], "created");
    assert_eq!(s["id"], "c1");
    assert_eq!(s["bundle"], Value::String(fs::canonicalize(&b.dir).unwrap().display().to_string()));
    // annotations: OPTIONAL, and omitted when empty as runc does (runc_compat.rs).
    for k in ["ociVersion", "pid", "rootfs", "created", "owner"] {
        assert!(s.get(k).is_some(), "state lacks {k}: {s}");
    }
    let pid = s["pid"].as_i64().unwrap();
    assert_eq!(fs::read_to_string(&pid_file).unwrap().trim(), pid.to_string());
    // The user program has not run yet: the init is still berth, named as its inits are
    // until then (state and list look for exec.fifo only while it is: a created container
    // whose init were not so named would read as running in both).
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm.trim(), "berth:init");
    assert_eq!(listed_status(&mut t, "c1"), "created");

    t.berth(&["start", "c1"]).ok();
    assert_eq!(t.status("c1"), "running");
    assert_eq!(listed_status(&mut t, "c1"), "running");
    assert_eq!(fs::read_to_string(format!("/proc/{pid}/comm")).unwrap().trim(), "sleep");

    t.berth(&["kill", "c1", "KILL"]).ok();
    t.wait_status("c1", "stopped");
    assert_eq!(t.state("c1")["pid"], 0);
    t.berth(&["delete", "c1"]).ok();
    t.berth(&["state", "c1"]).failed_with("does not exist");
}

#[test]
fn foreground_run_exits_with_the_container_status() {
    let mut t = T::new("exitcode");
    let b = t.bundle(&["sh", "-c", "echo out; echo err >&2; exit 7"]);
    let o = t.run(&b, "c");
    assert_eq!(o.code, 7);
    assert_eq!(o.stdout, "out\n");
    assert_eq!(o.stderr, "err\n");
    // A signal death is 128+N. (Without its own pid namespace: pid 1 of a namespace
    // cannot be killed by a signal sent from inside it.)
    let mut b = t.bundle(&["sh", "-c", "kill -9 $$"]);
    b.config["linux"]["namespaces"].as_array_mut().unwrap().retain(|n| n["type"] != "pid");
    assert_eq!(t.run(&b, "c").code, 128 + 9);
    // run deletes the container afterwards
    assert!(t.berth(&["list", "-q"]).ok().stdout.is_empty());
}

#[test]
fn foreground_run_forwards_signals() {
    let mut t = T::new("sigfwd");
    let marker = "ready";
    let b = t.bundle(&["sh", "-c", &format!("trap 'exit 42' TERM; echo {marker}; while true; do sleep 0.05; done")]);
    b.write();
    let mut c = t.cmd();
    c.args(["run", "--bundle"]).arg(&b.dir).arg("sig");
    let mut child = c.stdin(Stdio::null()).stdout(Stdio::piped()).spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut buf = [0u8; 6];
    std::io::Read::read_exact(&mut stdout, &mut buf).unwrap();
    assert_eq!(&buf, b"ready\n");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(42));
}

#[test]
fn detached_run_keeps_running_until_killed() {
    let mut t = T::new("detach");
    let b = t.bundle(&["sleep", "100"]);
    b.write();
    let mut c = t.cmd();
    c.args(["run", "-d", "--bundle"]).arg(&b.dir).arg("d1");
    t.detached(&mut c).ok();
    assert_eq!(t.status("d1"), "running");
    t.berth(&["kill", "d1", "9"]).ok();
    t.wait_status("d1", "stopped");
    t.berth(&["delete", "d1"]).ok();
}

#[test]
fn delete_of_created_kills_the_init_and_force_deletes_running() {
    let mut t = T::new("delete");
    let b = t.bundle(&["sleep", "100"]);
    t.create(&b, "a").ok();
    let pid = t.state("a")["pid"].as_i64().unwrap();
    t.berth(&["delete", "a"]).ok();
    assert!(!std::path::Path::new(&format!("/proc/{pid}/cmdline")).exists() || fs::read_to_string(format!("/proc/{pid}/stat")).unwrap().contains(") Z "));
    t.create(&b, "b").ok();
    t.berth(&["start", "b"]).ok();
    t.berth(&["delete", "b"]).failed_with("not stopped");
    t.berth(&["delete", "--force", "b"]).ok();
    // --force on a container that does not exist is not an error (runc).
    t.berth(&["delete", "--force", "never-existed"]).ok();
    t.berth(&["delete", "never-existed"]).failed_with("does not exist");
}

#[test]
fn kill_accepts_every_signal_form_and_all() {
    let mut t = T::new("killforms");
    let b = t.bundle(&["sh", "-c", "trap '' TERM; sleep 100 & sleep 100 & wait"]);
    for (i, sig) in ["9", "SIGKILL", "KILL", "kill"].iter().enumerate() {
        let id = format!("k{i}");
        t.create(&b, &id).ok();
        t.berth(&["start", &id]).ok();
        t.berth(&["kill", &id, sig]).ok();
        t.wait_status(&id, "stopped");
        t.berth(&["delete", &id]).ok();
    }
    // --all reaches every process of the container, not only the init.
    t.create(&b, "all").ok();
    t.berth(&["start", "all"]).ok();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let ps = t.berth(&["ps", "--format", "json", "all"]).ok().json();
    assert_eq!(ps.as_array().unwrap().len(), 3, "sh and two sleeps: {ps}");
    t.berth(&["kill", "--all", "all", "KILL"]).ok();
    t.wait_status("all", "stopped");
    t.berth(&["kill", "all", "KILL"]).failed_with("not running");
    t.berth(&["delete", "all"]).ok();
}

#[test]
fn pause_and_resume_freeze_the_container() {
    let mut t = T::new("pause");
    let b = t.bundle(&["sleep", "100"]);
    t.create(&b, "p").ok();
    t.berth(&["start", "p"]).ok();
    let pid = t.state("p")["pid"].as_i64().unwrap();
    t.berth(&["pause", "p"]).ok();
    assert_eq!(t.status("p"), "paused");
    assert_eq!(listed_status(&mut t, "p"), "paused");
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    assert!(stat.contains(") D ") || stat.contains(") S "), "{stat}");
    t.berth(&["resume", "p"]).ok();
    assert_eq!(t.status("p"), "running");
    assert_eq!(listed_status(&mut t, "p"), "running");
    t.berth(&["resume", "p"]).failed_with("not paused");
    t.berth(&["delete", "--force", "p"]).ok();
}

fn listed_status(t: &mut T, id: &str) -> String {
    let l = t.berth(&["list", "--format", "json"]).ok().json();
    l.as_array().unwrap().iter().find(|c| c["id"] == id).map(|c| c["status"].as_str().unwrap().to_string()).unwrap()
}

/// The freezer file of `pid`'s cgroup, and the values that freeze and thaw it: v1's
/// freezer.state where the freezer is a v1 controller, else cgroup v2's cgroup.freeze.
fn freezer_of(pid: i64) -> (std::path::PathBuf, &'static str, &'static str) {
    let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    if let Some(p) = cg.lines().find_map(|l| l.split_once(":freezer:").map(|(_, p)| p.to_string())) {
        return (format!("/sys/fs/cgroup/freezer{p}/freezer.state").into(), "FROZEN", "THAWED");
    }
    let p = cg.lines().find_map(|l| l.strip_prefix("0::")).unwrap();
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap();
    let root = mounts.lines().map(|l| l.split(' ').collect::<Vec<_>>()).find(|f| f[2] == "cgroup2").map(|f| f[1].to_string()).unwrap();
    (format!("{root}{p}/cgroup.freeze").into(), "1", "0")
}

/// runc reads the freezer for `state` and `list`: a container frozen behind the runtime's
/// back (the freezer file written directly, as `systemctl freeze` or an engine may) is
/// `paused`, and `running` again once thawed. berth skips the v1 file while the init reads
/// as running or sleeping, which a frozen init never does: this checks that rule holds.
#[test]
fn a_container_frozen_behind_the_runtimes_back_is_paused_in_state_and_list() {
    let mut t = T::new("extfreeze");
    let b = t.bundle(&["sleep", "100"]);
    t.create(&b, "x").ok();
    t.berth(&["start", "x"]).ok();
    let pid = t.state("x")["pid"].as_i64().unwrap();
    let (file, freeze, thaw) = freezer_of(pid);
    fs::write(&file, freeze).unwrap();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while fs::read_to_string(&file).unwrap().trim() != freeze.trim() && std::time::Instant::now() < end {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(t.status("x"), "paused");
    assert_eq!(listed_status(&mut t, "x"), "paused");
    fs::write(&file, thaw).unwrap();
    assert_eq!(t.status("x"), "running");
    assert_eq!(listed_status(&mut t, "x"), "running");
    t.berth(&["delete", "--force", "x"]).ok();
}

#[test]
fn list_prints_runc_shapes() {
    let mut t = T::new("list");
    assert_eq!(t.berth(&["list", "--format", "json"]).ok().stdout.trim(), "null");
    let b = t.bundle(&["sleep", "100"]);
    t.create(&b, "l1").ok();
    t.create(&b, "l2").ok();
    let table = t.berth(&["list"]).ok().stdout.clone();
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("ID          PID         STATUS      BUNDLE"), "{header}");
    assert!(header.ends_with("OWNER"));
    assert!(lines.next().unwrap().starts_with("l1 "));
    let j = t.berth(&["list", "--format=json"]).ok().json();
    assert_eq!(j.as_array().unwrap().len(), 2);
    assert_eq!(j[0]["status"], "created");
    assert_eq!(j[0]["owner"], "root");
    assert_eq!(t.berth(&["list", "-q"]).ok().stdout, "l1\nl2\n");
    t.berth(&["delete", "l1"]).ok();
    t.berth(&["delete", "l2"]).ok();
}

/// A list of many containers is read by several threads (when there are CPUs for them):
/// it must still come in id order, each exactly once, with the status `state` sees.
#[test]
fn a_list_of_many_containers_is_in_id_order_and_agrees_with_state() {
    let mut t = T::new("listmany");
    let b = t.bundle(&["sleep", "100"]);
    let ids: Vec<String> = (0..150).map(|i| format!("m{i:03}")).collect();
    for id in &ids {
        t.create(&b, id).ok();
    }
    // created, running, paused, stopped, in turn.
    for (i, id) in ids.iter().enumerate().filter(|(i, _)| i % 4 != 0) {
        t.berth(&["start", id]).ok();
        match i % 4 {
            2 => t.berth(&["pause", id]).ok(),
            3 => t.berth(&["kill", id, "KILL"]).ok(),
            _ => continue,
        };
    }
    for id in ids.iter().skip(3).step_by(4) {
        t.wait_status(id, "stopped");
    }
    let listed = t.berth(&["list", "--format", "json"]).ok().json();
    let listed: Vec<(String, String)> = listed.as_array().unwrap().iter().map(|c| (c["id"].as_str().unwrap().into(), c["status"].as_str().unwrap().into())).collect();
    let expected: Vec<(String, String)> = ids.iter().map(|id| (id.clone(), t.status(id))).collect();
    assert_eq!(listed, expected);
    let kinds: std::collections::BTreeSet<&str> = expected.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(kinds.into_iter().collect::<Vec<_>>(), ["created", "paused", "running", "stopped"]);
    assert_eq!(t.berth(&["list", "-q"]).ok().stdout, ids.iter().map(|i| format!("{i}\n")).collect::<String>());
    for id in &ids {
        t.berth(&["delete", "-f", id]).ok();
    }
}

/// list takes no container's lock: it never waits for a command at work on one (a
/// create stopped after saving its complete state still holds the lock: the old list
/// waited for it for ever), and what it reads is a whole record.
#[test]
fn list_does_not_wait_for_a_container_held_locked() {
    let mut t = T::new("listnolock");
    let b = t.bundle(&["sleep", "100"]);
    t.create(&b, "busy-neighbour").ok();
    b.write();
    let mut create = t.cmd().env("BERTH_TESTPOINT", "create:saved@stop").args(["create", "--bundle"]).arg(&b.dir).arg("held")
        .stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let stopped = |pid: u32| fs::read_to_string(format!("/proc/{pid}/stat")).ok().and_then(|s| s.rsplit(") ").next()?.chars().next()) == Some('T');
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !stopped(create.id()) {
        assert!(std::time::Instant::now() < end, "create never reached create:saved");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // Resumed whatever happens below.
    struct Resume(u32);
    impl Drop for Resume {
        fn drop(&mut self) {
            // SAFETY: resuming the create this test stopped.
            unsafe { libc::kill(self.0 as i32, libc::SIGCONT) };
        }
    }
    let resume = Resume(create.id());
    let mut list = t.cmd().args(["list", "--format", "json"]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while list.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > end {
            let _ = list.kill();
            panic!("list waited for the locked container");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let out = list.wait_with_output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let status = |id: &str| v.as_array().unwrap().iter().find(|c| c["id"] == id).map(|c| c["status"].clone());
    assert_eq!(status("held"), Some(Value::from("created")), "{v}");
    assert_eq!(status("busy-neighbour"), Some(Value::from("created")), "{v}");
    drop(resume);
    assert!(create.wait().unwrap().success());
    t.berth(&["delete", "held"]).ok();
    t.berth(&["delete", "busy-neighbour"]).ok();
}

#[test]
fn flags_are_accepted_after_the_id_and_with_equals() {
    let mut t = T::new("flagpos");
    let b = t.bundle(&["true"]);
    let bundle = format!("--bundle={}", b.dir.display());
    let o = t.berth(&["run", "x1", &bundle]);
    o.ok();
    let o = t.berth(&["run", "x2", "-b", b.dir.to_str().unwrap()]);
    o.ok();
}

#[test]
fn a_reused_pid_does_not_look_like_the_container() {
    let mut t = T::new("pidreuse");
    let b = t.bundle(&["sleep", "100"]);
    t.create(&b, "r").ok();
    t.berth(&["start", "r"]).ok();
    // Point the state file at another live process whose start time differs (start times
    // count clock ticks of 10 ms: a process started in the same tick as the init would
    // look like it, so wait until the decoy's tick is a later one). A decoy, not this test
    // process: should berth ever signal it, the test fails instead of being killed.
    let path = t.root.join("r/state.json");
    let mut s: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    let real_pid = s["pid"].clone();
    let start_of = |pid: u32| fs::read_to_string(format!("/proc/{pid}/stat")).unwrap().rsplit(") ").next().unwrap().split(' ').nth(19).unwrap().to_string();
    let init_start = start_of(real_pid.as_u64().unwrap() as u32);
    let mut decoy = loop {
        let d = Command::new("sleep").arg("100").spawn().unwrap();
        if start_of(d.id()) != init_start {
            break d;
        }
        let mut d = d;
        let _ = d.kill().and_then(|_| d.wait());
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    s["pid"] = (decoy.id() as i64).into();
    fs::write(&path, serde_json::to_vec(&s).unwrap()).unwrap();
    assert_eq!(t.status("r"), "stopped");
    t.berth(&["kill", "r", "KILL"]).failed_with("not running");
    assert!(decoy.try_wait().unwrap().is_none(), "berth signalled the process that reused the pid");
    decoy.kill().unwrap();
    decoy.wait().unwrap();
    s["pid"] = real_pid;
    fs::write(&path, serde_json::to_vec(&s).unwrap()).unwrap();
    assert_eq!(t.status("r"), "running");
    t.berth(&["delete", "-f", "r"]).ok();
}

#[test]
fn a_container_whose_record_holds_its_config_as_older_berths_wrote_it_still_works() {
    // Berth kept the config inside state.json until list had to skip it in every record;
    // now it is config.json beside the record. A container made before an upgrade must
    // still exec, update, list and run its poststop hooks.
    let mut t = T::new("oldrecord");
    let mut b = t.bundle(&["sleep", "100"]);
    let mark = t.tmp.join("poststop-ran");
    b.config["process"]["env"] = serde_json::json!(["PATH=/bin", "MARK=from-config"]);
    b.config["hooks"] = serde_json::json!({"poststop": [{"path": "/bin/sh", "args": ["sh", "-c", format!("echo ran > {}", mark.display())]}]});
    t.create(&b, "o").ok();
    t.berth(&["start", "o"]).ok();
    let dir = t.root.join("o");
    let mut rec: Value = serde_json::from_slice(&fs::read(dir.join("state.json")).unwrap()).unwrap();
    assert!(rec.get("config").is_none(), "the record no longer holds the config: {rec}");
    assert_eq!(rec["poststop"], true, "{rec}");
    let config: Value = serde_json::from_slice(&fs::read(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["process"]["env"][1], "MARK=from-config");
    let cgroup: Value = serde_json::from_slice(&fs::read(dir.join("cgroup.json")).unwrap()).unwrap();
    assert!(rec.get("cgroup").is_none() && rec.get("freezer").is_some(), "the record names its freezer, its cgroup is beside it: {rec}");
    // Rewrite it as an older berth did: the config and the cgroup in the record, no
    // config.json, no cgroup.json, no flags, no freezer.
    rec["config"] = config;
    rec["cgroup"] = cgroup;
    rec.as_object_mut().unwrap().remove("poststop");
    rec.as_object_mut().unwrap().remove("freezer");
    fs::write(dir.join("state.json"), serde_json::to_vec(&rec).unwrap()).unwrap();
    fs::remove_file(dir.join("config.json")).unwrap();
    fs::remove_file(dir.join("cgroup.json")).unwrap();
    assert_eq!(listed_status(&mut t, "o"), "running");
    // Its cgroup is found in the record: pause freezes it, list and state see it.
    t.berth(&["pause", "o"]).ok();
    assert_eq!(listed_status(&mut t, "o"), "paused");
    assert_eq!(t.status("o"), "paused");
    t.berth(&["resume", "o"]).ok();
    assert_eq!(listed_status(&mut t, "o"), "running");
    assert_eq!(t.berth(&["exec", "o", "sh", "-c", "echo $MARK"]).ok().stdout.trim(), "from-config");
    t.berth(&["update", "--pids-limit", "77", "o"]).ok();
    let rec: Value = serde_json::from_slice(&fs::read(dir.join("state.json")).unwrap()).unwrap();
    assert!(rec.get("config").is_none(), "update moved the config out of the record: {rec}");
    assert!(rec.get("cgroup").is_none() && rec.get("freezer").is_some() && dir.join("cgroup.json").exists(), "and the cgroup: {rec}");
    t.berth(&["pause", "o"]).ok();
    assert_eq!(listed_status(&mut t, "o"), "paused");
    t.berth(&["resume", "o"]).ok();
    let config: Value = serde_json::from_slice(&fs::read(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["linux"]["resources"]["pids"]["limit"], 77, "{config}");
    assert_eq!(t.berth(&["exec", "o", "sh", "-c", "echo $MARK"]).ok().stdout.trim(), "from-config");
    t.berth(&["delete", "-f", "o"]).ok();
    assert_eq!(fs::read_to_string(&mark).unwrap_or_default().trim(), "ran", "the poststop hook of the older record ran");
}

#[test]
fn concurrent_creates_of_one_id_yield_one_container() {
    let mut t = T::new("race");
    let b = t.bundle(&["sleep", "100"]);
    b.write();
    let spawn = |i: usize| {
        let mut c = t.cmd();
        c.args(["create", "--bundle"]).arg(&b.dir).arg("same");
        let err = fs::File::create(t.tmp.join(format!("race{i}"))).unwrap();
        c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(err).spawn().unwrap()
    };
    let kids: Vec<_> = (0..4).map(spawn).collect();
    let codes: Vec<bool> = kids.into_iter().map(|mut k| k.wait().unwrap().success()).collect();
    assert_eq!(codes.iter().filter(|c| **c).count(), 1, "exactly one create wins");
    for (i, ok) in codes.iter().enumerate() {
        if !ok {
            let e = fs::read_to_string(t.tmp.join(format!("race{i}"))).unwrap();
            assert!(e.contains("already exists"), "{e}");
        }
    }
    // delete and kill racing on one container serialise: exactly one delete succeeds.
    t.berth(&["start", "same"]).ok();
    let mk = |args: &[&str]| {
        let mut c = t.cmd();
        c.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()
    };
    let d1 = mk(&["delete", "--force", "same"]);
    let d2 = mk(&["delete", "--force", "same"]);
    let k = mk(&["kill", "same", "KILL"]);
    assert!(d1.wait_with_output().unwrap().status.success());
    assert!(d2.wait_with_output().unwrap().status.success());
    let _ = k.wait_with_output();
    t.berth(&["state", "same"]).failed_with("does not exist");
}

#[test]
fn spec_writes_runc_default_and_refuses_to_overwrite() {
    let t = T::new("spec");
    let d = t.tmp.join("specdir");
    fs::create_dir_all(&d).unwrap();
    t.berth(&["spec", "--bundle", d.to_str().unwrap()]).ok();
    let v: Value = serde_json::from_slice(&fs::read(d.join("config.json")).unwrap()).unwrap();
    assert_eq!(v["process"]["args"][0], "sh");
    assert_eq!(v["root"]["path"], "rootfs");
    t.berth(&["spec", "--bundle", d.to_str().unwrap()]).failed_with("exists");
    // Differential: the same as runc's, but for the runtime's own name and version.
    if let Ok(o) = std::process::Command::new("runc").args(["spec", "--bundle"]).arg(t.tmp.join("runc")).output() {
        let _ = o;
    }
    let rd = t.tmp.join("runc");
    fs::create_dir_all(&rd).unwrap();
    if std::process::Command::new("runc").args(["spec", "--bundle"]).arg(&rd).status().map(|s| s.success()).unwrap_or(false) {
        let mut r: Value = serde_json::from_slice(&fs::read(rd.join("config.json")).unwrap()).unwrap();
        let mut ours = v.clone();
        for x in [&mut r, &mut ours] {
            x["ociVersion"] = Value::Null;
            x["hostname"] = Value::Null;
        }
        assert_eq!(ours, r);
    }
    let rl = t.tmp.join("rootless");
    fs::create_dir_all(&rl).unwrap();
    t.berth(&["spec", "--rootless", "--bundle", rl.to_str().unwrap()]).ok();
    let v: Value = serde_json::from_slice(&fs::read(rl.join("config.json")).unwrap()).unwrap();
    assert!(v["linux"]["uidMappings"].is_array());
}

#[test]
fn version_is_printed_in_runc_layout() {
    let t = T::new("version");
    let o = t.berth(&["--version"]);
    o.ok();
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert!(lines[0].starts_with("berth version "));
    assert!(lines[1].starts_with("commit: "));
    assert!(lines[2].starts_with("spec: 1."));
}

#[test]
fn deleting_one_container_leaves_a_siblings_cgroup_alone() {
    let mut t = T::new("siblings");
    let a = t.bundle(&["sleep", "100"]);
    t.create(&a, "first").ok(); // creates the shared /berth parent
    let b = t.bundle(&["true"]);
    t.create(&b, "second").ok();
    t.berth(&["start", "second"]).ok();
    t.wait_status("second", "stopped"); // its cgroup is now empty
    let sibling = std::path::Path::new("/sys/fs/cgroup/pids/berth/second");
    assert!(sibling.is_dir());
    let started = std::time::Instant::now();
    t.berth(&["delete", "--force", "first"]).ok();
    assert!(sibling.is_dir(), "deleting 'first' removed the cgroup of 'second'");
    assert!(started.elapsed() < std::time::Duration::from_millis(400), "delete took {:?}", started.elapsed());
    t.berth(&["delete", "second"]).ok();
}

#[test]
fn an_unknown_command_is_reported_as_runc_does() {
    let t = T::new("nohelp");
    let o = t.berth(&["foo", "-h"]);
    assert_eq!(o.code, 3);
    assert!(o.stderr.contains("No help topic for 'foo'"), "{}", o.stderr);
}

/// Kubernetes lets a pod's annotations reach 256 KiB; the init gets them with the state
/// (process/sync.rs). They were cut at 16 KiB and create failed.
#[test]
fn large_annotations_reach_the_init_whole() {
    let mut t = T::new("bigannot");
    let mut b = t.bundle(&["true"]);
    let big = "x".repeat(150 * 1024);
    b.config["annotations"] = serde_json::json!({"big": big});
    t.create(&b, "ba").ok();
    assert_eq!(t.state("ba")["annotations"]["big"].as_str().map(str::len), Some(big.len()));
    t.berth(&["delete", "ba"]).ok();
}
