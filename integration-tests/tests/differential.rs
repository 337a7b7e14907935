//! The same bundle under berth and under runc (Debian's, the reference implementation):
//! what the container sees from inside must match, except for differences documented
//! here as deliberate.

use std::process::{Command, Stdio};

use berth_integration_tests::T;
use serde_json::json;

const PROBE: &str = r#"id; ulimit -a | sort; grep -E '^(Cap|NoNew)' /proc/self/status;
ls -l /dev | awk '{print $1, $3, $4, $5, $6, $NF}';
awk '$5 !~ /^\/sys\/fs\/cgroup/ {print $5, $6, $9, $11}' /proc/self/mountinfo | sort;
hostname; env | sort; ip link | grep -c UP; cat /proc/self/cgroup | cut -d: -f2-; umask; pwd"#;

fn runc() -> bool {
    Command::new("runc").arg("--version").stdout(Stdio::null()).status().is_ok_and(|s| s.success())
}

#[test]
fn berth_and_runc_show_the_same_container() {
    let mut t = T::new("diff");
    if !runc() {
        panic!("runc is not installed: `make deps` installs the differential oracle");
    }
    let mut b = t.bundle(&["sh", "-c", PROBE]);
    b.config["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "cgroup"}));
    b.config["process"]["user"] = json!({"uid": 0, "gid": 0, "additionalGids": [10]});
    b.config["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024}]);
    b.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    // Absolute: without it runc would make the cgroup below the caller's own cgroup,
    // which on these machines belongs to the machine's services.
    // One level only: runc removes the leaf it made but never a parent.
    b.config["linux"]["cgroupsPath"] = json!("/berth-differential");
    let ours = t.run(&b, "d");
    ours.ok();
    let runc_root = t.tmp.join("runc-root");
    let theirs = Command::new("runc").arg("--root").arg(&runc_root).args(["run", "--bundle"]).arg(&b.dir).arg("d").stdin(Stdio::null()).output().unwrap();
    assert!(theirs.status.success(), "runc failed: {}", String::from_utf8_lossy(&theirs.stderr));
    let theirs = String::from_utf8_lossy(&theirs.stdout);
    // Deliberate difference: berth mounts the cgroup tree (filtered out of the probe
    // above) read-only as the config asks and binds the unified hierarchy too.
    let a: Vec<&str> = ours.stdout.lines().collect();
    let b: Vec<&str> = theirs.lines().collect();
    let diff: Vec<String> = a.iter().zip(b.iter()).filter(|(x, y)| x != y).map(|(x, y)| format!("berth: {x}\n runc: {y}")).collect();
    assert!(diff.is_empty() && a.len() == b.len(), "berth and runc differ:\n{}\n(berth {} lines, runc {})", diff.join("\n"), a.len(), b.len());
}
