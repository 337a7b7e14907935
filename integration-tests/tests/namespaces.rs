//! config-linux.md "Namespaces": new ones, joined by path, user mappings, time offsets.

use std::fs;
use std::process::Stdio;

use berth_integration_tests::T;
use serde_json::json;

fn host_ns(kind: &str) -> String {
    fs::read_link(format!("/proc/self/ns/{kind}")).unwrap().display().to_string()
}

#[test]
fn each_requested_namespace_is_new() {
    let mut t = T::new("nsnew");
    let mut b = t.bundle(&["sh", "-c", "for n in pid net ipc uts mnt cgroup; do readlink /proc/self/ns/$n; done"]);
    b.config["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "cgroup"}));
    let out = t.run(&b, "n");
    out.ok();
    let inside: Vec<&str> = out.stdout.lines().collect();
    for (i, kind) in ["pid", "net", "ipc", "uts", "mnt", "cgroup"].iter().enumerate() {
        // config-linux.md: "If a namespace type ... the runtime MUST create a new namespace".
        assert_ne!(inside[i], host_ns(kind), "{kind} namespace is the host's");
    }
}

#[test]
fn an_omitted_namespace_is_the_hosts() {
    let mut t = T::new("nsomit");
    let mut b = t.bundle(&["readlink", "/proc/self/ns/net"]);
    b.config["linux"]["namespaces"].as_array_mut().unwrap().retain(|n| n["type"] != "network");
    // config-linux.md: "If a namespace type is not specified ... the container MUST
    // inherit the runtime namespace of that type."
    assert_eq!(t.run(&b, "o").ok().stdout.trim(), host_ns("net"));
}

#[test]
fn namespaces_are_joined_by_path() {
    let mut t = T::new("nsjoin");
    let a = t.bundle(&["sleep", "100"]);
    t.create(&a, "sandbox").ok();
    t.berth(&["start", "sandbox"]).ok();
    let pid = t.state("sandbox")["pid"].as_i64().unwrap();
    let want: Vec<String> = ["net", "ipc", "uts", "pid"].iter().map(|k| fs::read_link(format!("/proc/{pid}/ns/{k}")).unwrap().display().to_string()).collect();
    let mut b = t.bundle(&["sh", "-c", "for n in net ipc uts pid; do readlink /proc/self/ns/$n; done; hostname"]);
    b.config["hostname"] = serde_json::Value::Null;
    b.config["linux"]["namespaces"] = json!([
        {"type": "mount"},
        {"type": "network", "path": format!("/proc/{pid}/ns/net")},
        {"type": "ipc", "path": format!("/proc/{pid}/ns/ipc")},
        {"type": "uts", "path": format!("/proc/{pid}/ns/uts")},
        {"type": "pid", "path": format!("/proc/{pid}/ns/pid")},
    ]);
    let out = t.run(&b, "member");
    out.ok();
    let got: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(&got[..4], want.iter().map(String::as_str).collect::<Vec<_>>().as_slice());
    assert_eq!(got[4], "berth", "joined the sandbox's UTS namespace and sees its hostname");
    // The runtime itself is back in its own pid namespace afterwards (the parent enters
    // the target pid namespace only around the clone): a second container works too.
    t.run(&b, "member2").ok();
    t.berth(&["delete", "-f", "sandbox"]).ok();
}

#[test]
fn user_namespace_with_mappings() {
    let mut t = T::new("userns");
    let mut b = t.bundle(&["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g"]);
    b.config["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    // sysfs cannot be mounted for a network namespace the user namespace does not own
    // only when joined; here both are new, so the default mounts work.
    let out = t.run(&b, "u");
    out.ok();
    let words: Vec<&str> = out.stdout.split_whitespace().collect();
    assert_eq!(words, ["0", "100000", "65536", "0", "200000", "65536", "0", "0"]);
}

#[test]
fn time_namespace_applies_offsets() {
    let mut t = T::new("timens");
    let mut b = t.bundle(&["cat", "/proc/uptime"]);
    b.config["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "time"}));
    b.config["linux"]["timeOffsets"] = json!({"boottime": {"secs": 86400 * 365, "nanosecs": 0}, "monotonic": {"secs": 1000}});
    let host: f64 = fs::read_to_string("/proc/uptime").unwrap().split_whitespace().next().unwrap().parse().unwrap();
    let inside: f64 = t.run(&b, "time").ok().stdout.split_whitespace().next().unwrap().parse().unwrap();
    let diff = inside - host;
    assert!((diff - 86400.0 * 365.0).abs() < 60.0, "uptime inside {inside}, host {host}");
}

#[test]
fn cgroup_namespace_is_rooted_at_the_containers_cgroup() {
    let mut t = T::new("cgroupns");
    let mut b = t.bundle(&["cat", "/proc/self/cgroup"]);
    b.config["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "cgroup"}));
    t.create(&b, "cg").ok();
    // Seen from the host, the init is in the container's cgroup; seen from inside, that
    // cgroup is the root ("/" alone would also be what a namespace rooted elsewhere shows).
    assert_in_cgroup(t.state("cg")["pid"].as_i64().unwrap(), "/berth/cg");
    t.berth(&["start", "cg"]).ok();
    t.wait_status("cg", "stopped");
    let out = fs::read_to_string(t.tmp.join("out1")).unwrap();
    assert!(!out.is_empty());
    for line in out.lines() {
        assert!(line.ends_with(":/"), "not rooted at the container's cgroup: {line}");
    }
    t.berth(&["delete", "cg"]).ok();
}

#[test]
fn hostname_and_domainname() {
    let mut t = T::new("uts");
    let mut b = t.bundle(&["sh", "-c", "hostname; cat /proc/sys/kernel/domainname"]);
    b.config["hostname"] = json!("box");
    b.config["domainname"] = json!("example.org");
    assert_eq!(t.run(&b, "h").ok().stdout, "box\nexample.org\n");
}

/// Every line of /proc/PID/cgroup (every mounted hierarchy) ends with `path`.
fn assert_in_cgroup(pid: i64, path: &str) {
    let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let mut checked = 0;
    for line in cg.lines().filter(|l| !l.is_empty()) {
        // A v1 hierarchy that is not mounted (nothing can join it) is skipped.
        let name = line.split(':').nth(1).unwrap_or_default().replace("name=", "");
        let dir = if name.is_empty() { "unified".to_string() } else { name.split(',').next().unwrap_or_default().to_string() };
        if !std::path::Path::new("/sys/fs/cgroup").join(&dir).exists() && !(name.is_empty() && cg.lines().count() == 1) {
            continue;
        }
        assert!(line.ends_with(path), "pid {pid} not in {path}: {line}");
        checked += 1;
    }
    assert!(checked > 0, "no hierarchy checked in {cg}");
}

#[test]
fn the_container_is_in_its_cgroup_from_the_start() {
    let mut t = T::new("cgroupjoin");
    let mut b = t.bundle(&["sleep", "100"]);
    b.config["linux"]["cgroupsPath"] = json!("/berth/custom-path");
    t.create(&b, "cgc").ok();
    // Every hierarchy: the init joins v1 ones itself, is born in the cgroup2 one.
    assert_in_cgroup(t.state("cgc")["pid"].as_i64().unwrap(), "/berth/custom-path");
    let _ = Stdio::null();
    t.berth(&["delete", "cgc"]).ok();
}

#[test]
fn a_user_namespace_container_and_its_exec_are_in_its_cgroup() {
    let mut t = T::new("usernscg");
    let mut b = t.bundle(&["sleep", "100"]);
    b.config["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    t.create(&b, "ucg").ok();
    assert_in_cgroup(t.state("ucg")["pid"].as_i64().unwrap(), "/berth/ucg");
    t.berth(&["start", "ucg"]).ok();
    let pid_file = t.tmp.join("exec.pid");
    let mut c = t.cmd();
    c.args(["exec", "-d", "--pid-file"]).arg(&pid_file).args(["ucg", "sleep", "100"]);
    t.detached(&mut c).ok();
    let pid: i64 = fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    assert_in_cgroup(pid, "/berth/ucg");
    t.berth(&["delete", "-f", "ucg"]).ok();
}

/// A process holding a network namespace of the host's user namespace, as containerd
/// makes a pod's; killed (by pid) when dropped.
struct NetnsHolder(std::process::Child);

impl NetnsHolder {
    fn new() -> NetnsHolder {
        let c = std::process::Command::new("unshare").args(["--net", "sleep", "100"]).spawn().unwrap();
        let h = NetnsHolder(c);
        for _ in 0..500 {
            if fs::read_link(h.path()).ok().map(|l| l.display().to_string()).is_some_and(|l| l != host_ns("net")) {
                return h;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        panic!("unshare --net never made its namespace");
    }
    fn path(&self) -> String {
        format!("/proc/{}/ns/net", self.0.id())
    }
    fn ns(&self) -> String {
        fs::read_link(self.path()).unwrap().display().to_string()
    }
}

impl Drop for NetnsHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const POD_MAPS: (u32, u32) = (100000, 65536);

/// The sandbox of a Kubernetes pod with `hostUsers: false`, as containerd 1.7+ writes its
/// config.json: a new user namespace with mappings, the pod's network namespace (made by
/// containerd, owned by the host's user namespace) joined by path, the rest new.
fn pod_sandbox(t: &mut T, netns: &str, args: &[&str]) -> berth_integration_tests::Bundle {
    let mut b = t.bundle(args);
    let maps = json!([{"containerID": 0, "hostID": POD_MAPS.0, "size": POD_MAPS.1}]);
    b.config["linux"]["uidMappings"] = maps.clone();
    b.config["linux"]["gidMappings"] = maps;
    b.config["linux"]["namespaces"] = json!([
        {"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "user"},
        {"type": "network", "path": netns},
    ]);
    b
}

/// A container of that pod: the sandbox's user, ipc and uts namespaces and the pod's
/// network namespace by path; its own pid and mount namespaces (owned by the pod's user
/// namespace: it mounts its /proc there).
fn pod_container(t: &mut T, sandbox_pid: i64, netns: &str, args: &[&str]) -> berth_integration_tests::Bundle {
    let mut b = t.bundle(args);
    b.config["hostname"] = serde_json::Value::Null;
    b.config["linux"]["namespaces"] = json!([
        {"type": "pid"}, {"type": "mount"},
        {"type": "ipc", "path": format!("/proc/{sandbox_pid}/ns/ipc")},
        {"type": "uts", "path": format!("/proc/{sandbox_pid}/ns/uts")},
        {"type": "network", "path": netns},
        {"type": "user", "path": format!("/proc/{sandbox_pid}/ns/user")},
    ]);
    b
}

const POD_PROBE: &str = "id -u; cat /proc/self/uid_map; readlink /proc/self/ns/net; readlink /proc/self/ns/user; echo $$; hostname; ls /sys/class/net";

/// Issue 18: `container init: cannot join net namespace ...: EPERM` was this shape's
/// failure (CLONE_NEWUSER in the clone, the join after it). config-linux.md: "If a path
/// is specified, the runtime MUST ... join that namespace"; the user namespace's
/// mappings MUST apply, and the container's own namespaces are made inside it (else it
/// could not mount its /proc).
#[test]
fn a_user_namespaced_pod_joins_the_pods_network_namespace() {
    let mut t = T::new("userpod");
    let net = NetnsHolder::new();
    let sb = pod_sandbox(&mut t, &net.path(), &["sleep", "100"]);
    t.create(&sb, "sandbox").ok();
    t.berth(&["start", "sandbox"]).ok();
    let spid = t.state("sandbox")["pid"].as_i64().unwrap();
    let userns = fs::read_link(format!("/proc/{spid}/ns/user")).unwrap().display().to_string();
    assert_eq!(fs::read_link(format!("/proc/{spid}/ns/net")).unwrap().display().to_string(), net.ns());
    assert_ne!(userns, host_ns("user"));
    let map = format!("0 {} {}", POD_MAPS.0, POD_MAPS.1);
    let check = |out: &str, what: &str, hostname: &str, pid1: bool| {
        let words: Vec<&str> = out.split_whitespace().collect();
        assert!(words.len() >= 9, "{what}: {out:?}");
        assert_eq!(words[0], "0", "{what}: root of the pod's user namespace");
        assert_eq!(words[1..4].join(" "), map, "{what}: the pod's mappings");
        assert_eq!(words[4], net.ns(), "{what}: the pod's network namespace");
        assert_eq!(words[5], userns, "{what}: the pod's user namespace");
        if pid1 {
            assert_eq!(words[6], "1", "{what}: pid 1 of its own pid namespace");
        }
        assert_eq!(words[7], hostname, "{what}: hostname");
        // sysfs of a network namespace the user namespace does not own cannot be
        // mounted: the runtime's /sys is bound instead (as runc), which lists lo.
        assert!(words[8..].contains(&"lo"), "{what}: /sys/class/net {:?}", &words[8..]);
    };
    // An exec into the sandbox joins the same way (user namespace last).
    let out = t.berth(&["exec", "sandbox", "sh", "-c", POD_PROBE]);
    check(&out.ok().stdout, "exec into the sandbox", "berth", false);

    // A container of the pod, run to completion, then a long-running one and an exec.
    let c = pod_container(&mut t, spid, &net.path(), &["sh", "-c", POD_PROBE]);
    let out = t.run(&c, "app");
    check(&out.ok().stdout, "pod container", "berth", true);
    // A volume as containerd >= 2.0 gives a user-namespaced pod: idmapped with the pod's
    // mappings (the joined user namespace's), so the host's root-owned files are root's.
    let vol = t.tmp.join("volume");
    fs::create_dir_all(&vol).unwrap();
    fs::write(vol.join("f"), "x").unwrap();
    let mut c = pod_container(&mut t, spid, &net.path(), &["stat", "-c", "%u:%g", "/mnt/f"]);
    c.config["mounts"].as_array_mut().unwrap().push(json!({"destination": "/mnt", "type": "bind", "source": vol, "options": ["rbind", "ridmap"]}));
    assert_eq!(t.run(&c, "vol").ok().stdout.trim(), "0:0", "idmapped with the joined user namespace");
    let c = pod_container(&mut t, spid, &net.path(), &["sleep", "100"]);
    t.create(&c, "app2").ok();
    t.berth(&["start", "app2"]).ok();
    let apid = t.state("app2")["pid"].as_i64().unwrap();
    assert_in_cgroup(apid, "/berth/app2");
    assert_ne!(fs::read_link(format!("/proc/{apid}/ns/pid")).unwrap(), fs::read_link(format!("/proc/{spid}/ns/pid")).unwrap());
    let out = t.berth(&["exec", "app2", "sh", "-c", POD_PROBE]);
    check(&out.ok().stdout, "exec into the pod container", "berth", false);
    t.berth(&["delete", "-f", "app2"]).ok();
    t.berth(&["delete", "-f", "sandbox"]).ok();
}

/// The same order's failure paths leave nothing: the init's fork is killed and reaped
/// by the runtime (its subreaper) when create fails after it.
#[test]
fn a_failing_pod_container_leaves_no_process() {
    let mut t = T::new("userpodfail");
    let net = NetnsHolder::new();
    let sb = pod_sandbox(&mut t, &net.path(), &["sleep", "100"]);
    t.create(&sb, "sandbox").ok();
    let spid = t.state("sandbox")["pid"].as_i64().unwrap();
    let mut c = pod_container(&mut t, spid, &net.path(), &["/no/such/program"]);
    c.config["process"]["cwd"] = json!("/");
    t.create(&c, "bad").failed_with("/no/such/program");
    assert!(t.berth(&["state", "bad"]).code != 0);
    t.berth(&["delete", "-f", "sandbox"]).ok();
}
