//! Where engines, scripts and suites look at runc's behaviour: the same command under berth
//! and runc (Debian's 1.1.5, the oracle) on the same bundle, compared; and the runtime-spec
//! sentence where the behaviour is the spec's. runc is only run on the busybox rootfs the
//! tests make, never on a hostile one (it is open to CVE-2025-31133).

use std::process::{Command, Stdio};

use berth_integration_tests::{Bundle, Out, T};
use serde_json::{json, Value};

/// runc with its own state root beside the test's, stdin closed; output through files, as
/// `T::detached` (a created container's init holds inherited pipes open).
fn runc(t: &T, args: &[&str]) -> Out {
    let o = t.tmp.join("runc.out");
    let e = t.tmp.join("runc.err");
    let st = Command::new("runc")
        .arg("--root")
        .arg(t.tmp.join("runc-root"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&o).unwrap())
        .stderr(std::fs::File::create(&e).unwrap())
        .status()
        .expect("runc is not installed: `make deps` installs the differential oracle");
    Out { code: st.code().unwrap_or(-1), stdout: std::fs::read_to_string(&o).unwrap_or_default(), stderr: std::fs::read_to_string(&e).unwrap_or_default() }
}

/// A bundle both runtimes can run: an absolute cgroupsPath of one level (runc removes the
/// leaf it made, never a parent; never below the caller's own cgroup).
fn bundle(t: &mut T, args: &[&str], cgroup: &str) -> Bundle {
    let mut b = t.bundle(args);
    b.config["linux"]["cgroupsPath"] = json!(format!("/berth-compat-{cgroup}"));
    b.write();
    b
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
}

#[test]
fn state_list_and_events_print_runc_keys_in_runc_order() {
    let mut t = T::new("compat-json");
    let mut b = bundle(&mut t, &["sleep", "100"], "json");
    b.config["annotations"] = json!({"org.example.z": "1", "org.example.a": "2"});
    t.create(&b, "j").ok();
    let r = runc(&t, &["create", "--bundle", b.dir.to_str().unwrap(), "j"]);
    assert_eq!(r.code, 0, "runc create: {}", r.stderr);
    let ours = t.berth(&["state", "j"]).ok().json();
    let theirs: Value = serde_json::from_str(&runc(&t, &["state", "j"]).stdout).unwrap();
    assert_eq!(keys(&ours), keys(&theirs), "state");
    assert_eq!(keys(&ours["annotations"]), keys(&theirs["annotations"]), "annotations sorted as Go sorts a map");
    let ours: Value = t.berth(&["list", "--format", "json"]).ok().json();
    let theirs: Value = serde_json::from_str(&runc(&t, &["list", "--format", "json"]).stdout).unwrap();
    assert_eq!(keys(&ours[0]), keys(&theirs[0]), "list --format json");
    // events --stats: one line, starting as runc's does.
    let ev = t.berth(&["events", "--stats", "j"]).ok().stdout.clone();
    assert!(ev.starts_with(r#"{"type":"stats","id":"j","data":{"#), "{ev}");
    let theirs = runc(&t, &["events", "--stats", "j"]).stdout;
    assert!(theirs.starts_with(r#"{"type":"stats","id":"j","data":{"#), "runc: {theirs}");
    // Signal 0 is a valid signal for both: it checks, and sends nothing.
    for all in [false, true] {
        let args: Vec<&str> = if all { vec!["kill", "--all", "j", "0"] } else { vec!["kill", "j", "0"] };
        assert_eq!(runc(&t, &args).code, 0);
        t.berth(&args).ok();
    }
    assert_eq!(t.status("j"), "created");
    runc(&t, &["delete", "-f", "j"]);
    t.berth(&["delete", "-f", "j"]).ok();
    // Without annotations runc omits the key; so does berth.
    let b = bundle(&mut t, &["sleep", "100"], "json2");
    t.create(&b, "k").ok();
    assert!(t.state("k").get("annotations").is_none());
    t.berth(&["delete", "-f", "k"]).ok();
}

/// The propagation fields of the mountinfo line of "/" seen from inside.
fn root_propagation(t: &mut T, prop: &str) -> Out {
    let mut b = t.bundle(&["sh", "-c", r#"awk '$5 == "/" { for (i = 7; $i != "-"; i++) printf "%s ", $i; print "." }' /proc/self/mountinfo"#]);
    b.config["linux"]["rootfsPropagation"] = json!(prop);
    t.run(&b, &format!("prop-{prop}"))
}

#[test]
fn every_rootfs_propagation_is_applied_to_the_root() {
    // config-linux.md: "rootfsPropagation (string, OPTIONAL) sets the rootfs's mount
    // propagation. Its value is either shared, slave, private or unbindable."
    // Found: shared failed with pivot_root: EINVAL, unbindable with "bind rootfs: EINVAL".
    let mut t = T::new("compat-prop");
    let out = root_propagation(&mut t, "shared");
    assert!(out.ok().stdout.starts_with("shared:"), "{out:?}");
    let out = root_propagation(&mut t, "unbindable");
    assert_eq!(out.ok().stdout.trim(), "unbindable .", "{out:?}");
    for p in ["slave", "private"] {
        let out = root_propagation(&mut t, p);
        assert!(!out.ok().stdout.contains("shared:"), "{p}: {out:?}");
    }
}

#[test]
fn proc_or_sys_as_a_symlink_in_the_rootfs_is_refused_with_runcs_words() {
    // An attacker's image: /proc (or /sys) a symlink, to somewhere that exists on the
    // host or to nothing. runc refuses both with this message; berth resolved an
    // existing target inside the root and mounted there, or failed with ENOENT.
    let mut t = T::new("compat-procsym");
    let root = t.private_rootfs();
    std::fs::create_dir_all(t.tmp.join("target")).unwrap();
    for (dir, target, kind) in [("proc", t.tmp.join("target"), "proc"), ("proc", "/nowhere".into(), "proc"), ("sys", "proc".into(), "sysfs"), ("sys", "/".into(), "sysfs")] {
        let p = root.join(dir);
        let _ = std::fs::remove_dir(&p);
        let _ = std::fs::remove_file(&p);
        std::os::unix::fs::symlink(&target, &p).unwrap();
        let mut b = t.bundle(&["true"]);
        b.config["root"]["path"] = json!(root);
        // Every run: the reason, never a lost report (once 1 in 20 said ECONNRESET).
        for _ in 0..5 {
            // (logrus quotes the message: its quotes come escaped.)
            t.run(&b, "sym").failed_with(&format!("filesystem \\\"{kind}\\\" must be mounted on ordinary directory"));
        }
        std::fs::remove_file(&p).unwrap();
        std::fs::create_dir(&p).unwrap();
    }
}
