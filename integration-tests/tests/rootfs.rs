//! config.md "Mounts", config-linux.md "Devices", "Masked Paths", "Readonly Paths",
//! "Rootfs Mount Propagation", root.readonly — observed from inside the container.

use std::fs;

use berth_integration_tests::{rootfs, T};
use serde_json::json;

/// The mount options column of /proc/self/mountinfo for `dest`, from inside.
fn options_of(mountinfo: &str, dest: &str) -> String {
    mountinfo
        .lines()
        .filter(|l| l.split(' ').nth(4) == Some(dest))
        .last()
        .map(|l| l.split(' ').nth(5).unwrap_or_default().to_string())
        .unwrap_or_else(|| panic!("{dest} is not mounted:\n{mountinfo}"))
}

#[test]
fn mounts_get_their_flags_and_data() {
    let mut t = T::new("mountflags");
    let src = t.tmp.join("bindsrc");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("f"), "hostdata").unwrap();
    let mut b = t.bundle(&["sh", "-c", "cat /proc/self/mountinfo; echo ---; cat /mnt/ro/f; stat -c '%a %u %g' /mnt/tmp; touch /mnt/ro/x 2>/dev/null && echo WROTE; true"]);
    b.config["mounts"].as_array_mut().unwrap().extend([
        json!({"destination": "/mnt/ro", "type": "bind", "source": src, "options": ["rbind", "ro", "nosuid", "nodev", "noexec"]}),
        json!({"destination": "/mnt/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["noatime", "size=1m", "mode=710", "uid=7", "gid=8"]}),
    ]);
    let out = t.run(&b, "m").ok().stdout.clone();
    let (mi, rest) = out.split_once("---\n").unwrap();
    let ro = options_of(mi, "/mnt/ro");
    for f in ["ro", "nosuid", "nodev", "noexec"] {
        assert!(ro.split(',').any(|o| o == f), "/mnt/ro lacks {f}: {ro}");
    }
    assert!(options_of(mi, "/mnt/tmp").contains("noatime"));
    assert!(options_of(mi, "/sys").starts_with("ro"), "sysfs is mounted ro by the default config");
    assert!(options_of(mi, "/proc").starts_with("rw"));
    assert_eq!(rest, "hostdata710 7 8\n", "bind content, tmpfs mode/uid/gid, and the write to ro failed");
}

#[test]
fn a_symlinked_mount_destination_stays_inside_the_rootfs() {
    let mut t = T::new("symlinkdest");
    // A private rootfs copy with a hostile symlink: /evil -> / (absolute) and /up -> ../../..
    let root = t.tmp.join("rootfs");
    let status = std::process::Command::new("cp").arg("-a").arg(rootfs()).arg(&root).status().unwrap();
    assert!(status.success());
    std::os::unix::fs::symlink("/", root.join("evil")).unwrap();
    std::os::unix::fs::symlink("../../../../..", root.join("up")).unwrap();
    let marker = format!("berth-escape-{}", std::process::id());
    let mut b = t.bundle(&["sh", "-c", &format!("ls -d /{marker}/a /{marker}/b")]);
    b.config["root"]["path"] = json!(root);
    b.config["mounts"].as_array_mut().unwrap().extend([
        json!({"destination": format!("/evil/{marker}/a"), "type": "tmpfs", "source": "tmpfs"}),
        json!({"destination": format!("/up/{marker}/b"), "type": "tmpfs", "source": "tmpfs"}),
    ]);
    let out = t.run(&b, "s");
    out.ok();
    // Created and mounted inside the rootfs, never on the host.
    assert!(!std::path::Path::new(&format!("/{marker}")).exists(), "a mount destination escaped to the host");
    assert!(root.join(&marker).join("a").is_dir() && root.join(&marker).join("b").is_dir());
}

#[test]
fn readonly_root_and_no_pivot() {
    let mut t = T::new("rootro");
    let mut b = t.bundle(&["sh", "-c", "touch /x 2>/dev/null && echo WROTE; awk '$5 == \"/\" { print $6 }' /proc/self/mountinfo"]);
    b.config["root"]["readonly"] = json!(true);
    let out = t.run(&b, "r").ok().stdout.clone();
    assert!(!out.contains("WROTE"));
    assert!(out.trim().starts_with("ro"), "{out}");
    // --no-pivot: MS_MOVE + chroot gives the same view.
    b.write();
    let o = t.berth(&["run", "--no-pivot", "--bundle", b.dir.to_str().unwrap(), "np"]);
    o.ok();
    assert!(!o.stdout.contains("WROTE"));
}

#[test]
fn default_devices_and_links_exist() {
    let mut t = T::new("devices");
    let out = t.output_of(&["sh", "-c", "for d in null zero full random urandom tty; do stat -c '%n %F %t:%T %a' /dev/$d; done; for l in ptmx fd stdin stdout stderr; do readlink /dev/$l; done"]);
    let want = "/dev/null character special file 1:3 666\n/dev/zero character special file 1:5 666\n/dev/full character special file 1:7 666\n\
/dev/random character special file 1:8 666\n/dev/urandom character special file 1:9 666\n/dev/tty character special file 5:0 666\n\
pts/ptmx\n/proc/self/fd\n/proc/self/fd/0\n/proc/self/fd/1\n/proc/self/fd/2\n";
    assert_eq!(out, want);
}

#[test]
fn listed_devices_are_created_and_conflicts_refused() {
    let mut t = T::new("linuxdevices");
    let mut b = t.bundle(&["stat", "-c", "%n %F %t:%T %a %u %g", "/dev/mydev", "/dev/sub/fifo"]);
    b.config["linux"]["devices"] = json!([
        {"path": "/dev/mydev", "type": "c", "major": 1, "minor": 5, "fileMode": 0o640, "uid": 3, "gid": 4},
        {"path": "/dev/sub/fifo", "type": "p", "major": 0, "minor": 0}
    ]);
    let out = t.run(&b, "d").ok().stdout.clone();
    assert_eq!(out, "/dev/mydev character special file 1:5 640 3 4\n/dev/sub/fifo fifo 0:0 666 0 0\n");
    // An existing file that is not the requested device is an error, not replaced.
    let mut b = t.bundle(&["true"]);
    b.config["linux"]["devices"] = json!([{"path": "/bin/sh", "type": "c", "major": 1, "minor": 3}]);
    t.create(&b, "conflict").failed_with("/bin/sh");
}

#[test]
fn masked_and_readonly_paths() {
    let mut t = T::new("masked");
    let mut b = t.bundle(&["sh", "-c", "cat /proc/kcore | wc -c; ls /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo WROTE; echo done"]);
    b.config["linux"]["maskedPaths"].as_array_mut().unwrap().push(json!("/does/not/exist"));
    let out = t.run(&b, "m").ok().stdout.clone();
    // maskedPaths: "MUST render them inaccessible"; readonlyPaths: "MUST set ... read-only".
    assert_eq!(out, "0\n0\ndone\n");
}

#[test]
fn readonly_paths_keep_nosuid_nodev_noexec() {
    // A bind remount sets exactly the flags it is given: making /proc/sys read-only must not
    // drop the nosuid/nodev/noexec of the /proc it comes from (found by the differential run
    // of the engines' configs against runc, which keeps them).
    let mut t = T::new("roflags");
    let mut b = t.bundle(&["cat", "/proc/self/mountinfo"]);
    b.config["root"]["readonly"] = json!(true);
    // /proc as the engines mount it (runc's `spec` gives it no options).
    for m in b.config["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/proc" {
            m["options"] = json!(["nosuid", "noexec", "nodev"]);
        }
    }
    let mi = t.run(&b, "r").ok().stdout.clone();
    for dest in ["/proc/sys", "/proc/bus"] {
        let o = options_of(&mi, dest);
        for f in ["ro", "nosuid", "nodev", "noexec"] {
            assert!(o.split(',').any(|x| x == f), "{dest} lacks {f}: {o}");
        }
    }
    assert!(options_of(&mi, "/").starts_with("ro"), "root.readonly");
}

#[test]
fn masking_refuses_a_dev_null_that_is_not_the_null_device() {
    let mut t = T::new("fakenull");
    // /dev bound from a host directory where "null" is a regular file: binding it over
    // masked paths would expose whatever it is (the CVE-2025-31133 class).
    let fakedev = t.tmp.join("fakedev");
    fs::create_dir_all(&fakedev).unwrap();
    fs::write(fakedev.join("null"), "not a device").unwrap();
    let mut b = t.bundle(&["true"]);
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    mounts.retain(|m| !m["destination"].as_str().unwrap().starts_with("/dev"));
    mounts.push(json!({"destination": "/dev", "type": "bind", "source": fakedev, "options": ["rbind"]}));
    t.create(&b, "fake").failed_with("is not the null device");
}

#[test]
fn rootfs_propagation_private_is_applied() {
    let mut t = T::new("propagation");
    let mut b = t.bundle(&["sh", "-c", "awk '$5 == \"/\"' /proc/self/mountinfo"]);
    b.config["linux"]["rootfsPropagation"] = json!("rprivate");
    let out = t.run(&b, "p").ok().stdout.clone();
    assert!(!out.contains("shared:") && !out.contains("master:"), "{out}");
    b.config["linux"]["rootfsPropagation"] = json!("rslave");
    t.run(&b, "p2").ok();
}

#[test]
fn sysctl_is_written() {
    let mut t = T::new("sysctl");
    let mut b = t.bundle(&["cat", "/proc/sys/net/ipv4/ip_forward", "/proc/sys/kernel/msgmax"]);
    b.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.msgmax": "12345"});
    assert_eq!(t.run(&b, "s").ok().stdout, "1\n12345\n");
}

/// config.md "Mounts": uidMappings/gidMappings "The mapping to convert UIDs from the
/// source file system to the destination mount point ... SHOULD be implemented using
/// mount_setattr(MOUNT_ATTR_IDMAP)"; runc's `idmap`/`ridmap` without mappings use the
/// container's user namespace's. Before issue 18 both were accepted and ignored.
#[test]
fn idmapped_bind_mounts_show_owners_through_their_mapping() {
    use std::os::unix::fs::{chown, MetadataExt};
    let mut t = T::new("idmap");
    let src = t.tmp.join("shared");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("root-owned"), "r").unwrap();
    fs::write(src.join("u1000"), "u").unwrap();
    chown(src.join("u1000"), Some(1000), Some(1000)).unwrap();
    // Writable by the container's root whichever way it reaches the directory.
    fs::set_permissions(&src, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let probe = "stat -c %u:%g /plain/root-owned /idmapped/root-owned /idmapped/u1000 /own/u1000 /own/root-owned; touch /idmapped/made-inside";
    let mut b = t.bundle(&["sh", "-c", probe]);
    // Mount points made beforehand: the container's root may not create them in a
    // rootfs that is the host root's.
    let root = t.private_rootfs();
    for d in ["plain", "idmapped", "own"] {
        fs::create_dir(root.join(d)).unwrap();
    }
    b.config["root"]["path"] = json!(root);
    let maps = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.config["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
    b.config["linux"]["uidMappings"] = maps.clone();
    b.config["linux"]["gidMappings"] = maps;
    let one = json!([{"containerID": 1000, "hostID": 100000, "size": 1}]);
    let s = src.display().to_string();
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    mounts.push(json!({"destination": "/plain", "type": "bind", "source": s, "options": ["bind"]}));
    mounts.push(json!({"destination": "/idmapped", "type": "bind", "source": s, "options": ["bind", "idmap"]}));
    mounts.push(json!({"destination": "/own", "type": "bind", "source": s, "options": ["rbind", "ridmap"], "uidMappings": one, "gidMappings": one}));
    let out = t.run(&b, "idm");
    out.ok();
    let got: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        got,
        [
            "65534:65534", // not mapped: the host's root is nobody in the user namespace
            "0:0",         // through the container's mapping: root's again
            "1000:1000",
            "0:0", // the mount's own mapping: host 1000 is the container's root
            "65534:65534",
        ],
        "{}",
        out.stderr
    );
    // Written through the idmapped mount by the container's root (host uid 100000): the
    // file on the source's filesystem is root's.
    let made = fs::metadata(src.join("made-inside")).unwrap();
    assert_eq!((made.uid(), made.gid()), (0, 0));

    // features reports it.
    let f = t.berth(&["features"]).ok().json();
    assert_eq!(f["linux"]["mountExtensions"]["idmap"]["enabled"], json!(true));
    let opts = f["mountOptions"].as_array().unwrap();
    assert!(opts.contains(&json!("idmap")) && opts.contains(&json!("ridmap")), "{opts:?}");
}

/// The spec's MUSTs on the fields, and runc's limits: refused before anything is made.
#[test]
fn idmapped_mounts_are_checked_before_create() {
    let mut t = T::new("idmapbad");
    let one = json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
    let mut b = t.bundle(&["true"]);
    b.config["mounts"].as_array_mut().unwrap().push(json!({"destination": "/m", "type": "bind", "source": "/tmp", "options": ["bind", "idmap"], "uidMappings": one}));
    t.create(&b, "x").failed_with("mounts[").failed_with("gidMappings");
    let mut b = t.bundle(&["true"]);
    b.config["mounts"].as_array_mut().unwrap().push(json!({"destination": "/m", "type": "bind", "source": "/tmp", "options": ["bind", "idmap"]}));
    t.create(&b, "y").failed_with("needs a user namespace");
    assert!(t.berth(&["state", "x"]).code != 0 && t.berth(&["state", "y"]).code != 0);
}
