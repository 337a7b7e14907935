#!/usr/bin/env python3
"""Differential run: the config.json files real engines wrote (engine-specs/, recorded from
containerd's ctr, the CRI sandbox and container, docker, podman), adapted to this host and
run under two runtimes (default: berth and runc); a probe inside prints what the process
sees (identity, capabilities, seccomp and NoNewPrivs, limits, umask, cwd, env, hostname,
mounts with their options, /dev, sysctls, masked paths, cgroup) and the outputs are compared.

usage: differential.py [RUNTIME_A [RUNTIME_B]]   (prints SAME/DIFF per bundle, then the
differences; exits 1 if any difference is not listed in KNOWN below)

Adaptation, the same for both runtimes: the rootfs is the local busybox one; process.args
is the probe; namespaces given by path (the engines' sandboxes) become new ones; bind
sources that only existed on the engine's machine are recreated (empty files or
directories); hooks are dropped (docker's calls dockerd); AppArmor/SELinux labels are
dropped where the host has no such LSM; rlimits above the host's hard limit and negative
oomScoreAdj are clamped (root lacks CAP_SYS_RESOURCE here); every container gets an
absolute cgroupsPath of its own.
"""
import json, os, re, shutil, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SPECS = os.path.join(HERE, "engine-specs")

# Differences that are understood and kept, each with its reason.
KNOWN = {
    r"^Seccomp_filters:": "berth loads a profile with several actions/errnos as stacked filters "
    "(the kernel applies the most restrictive verdict); runc loads one. Same verdicts.",
    r"^mount: /sys/fs/cgroup tmpfs (ro|rw),": "berth applies the cgroup mount's \"ro\" option to the tmpfs "
    "holding the controllers too; runc leaves that tmpfs writable (config.md: options are applied).",
    r"^mount: /sys/fs/cgroup/unified cgroup2 ": "on a hybrid host berth also binds the container's own cgroup2 "
    "directory (read-only); runc shows no cgroup2 there.",
}

PROBE = r"""
echo "id: $(id)"
grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp|Seccomp_filters):' /proc/self/status
echo "umask: $(umask)"; echo "cwd: $(pwd)"; echo "hostname: $(hostname)"
echo "oom_score_adj: $(cat /proc/self/oom_score_adj)"
sed -n '2,$p' /proc/self/limits | sed 's/  */ /g'
env | grep -v '^\(PWD\|SHLVL\|_\)=' | sort | sed 's/^/env: /'
# mounts: point, type, per-mount options, superblock options without numbers that vary
awk '{ for (i = 7; $i != "-"; i++); print "mount:", $5, $(i+1), $6, $(i+3) }' /proc/self/mountinfo \
  | sed -E 's/,?(size|nr_inodes|inode64|mode|gid|ptmxmode|uid)=?[0-9a-z]*//g'
ls -ln /dev | awk 'NR > 1 { print "dev:", $1, $3, $4, $5, $6, $NF }'
for s in net/ipv4/ip_unprivileged_port_start net/ipv4/ping_group_range; do echo "sysctl $s: $(cat /proc/sys/$s 2>&1)"; done
for p in /proc/kcore /proc/keys /proc/timer_list /proc/acpi /sys/firmware /proc/scsi; do
  if [ -d $p ]; then echo "masked $p: dir, $(ls $p 2>/dev/null | wc -l) entries"
  else echo "masked $p: $( [ -s $p ] && echo has content || echo empty)"; fi; done
sed 's/[^:]*:\([^:]*\):.*/cgroup: \1/' /proc/self/cgroup | sort
"""


def lsm_enabled(name):
    try:
        return name in open("/sys/kernel/security/lsm").read()
    except OSError:
        return False


def hard_limit(kind):
    import resource
    return resource.getrlimit({"RLIMIT_NOFILE": resource.RLIMIT_NOFILE, "RLIMIT_NPROC": resource.RLIMIT_NPROC}.get(kind, resource.RLIMIT_NOFILE))[1]


def adapt(cfg, rootfs, work, cgroup):
    cfg["root"]["path"] = rootfs
    p = cfg["process"]
    p["args"] = ["sh", "-c", PROBE]
    p["terminal"] = False
    p.pop("consoleSize", None)
    cfg.pop("hooks", None)
    if not lsm_enabled("apparmor"):
        p.pop("apparmorProfile", None)
    if not lsm_enabled("selinux"):
        p.pop("selinuxLabel", None)
        cfg.get("linux", {}).pop("mountLabel", None)
    for rl in p.get("rlimits", []):
        h = hard_limit(rl["type"])
        rl["hard"], rl["soft"] = min(rl["hard"], h), min(rl["soft"], h)
    if p.get("oomScoreAdj", 0) < 0:
        p["oomScoreAdj"] = 0
    lin = cfg.setdefault("linux", {})
    lin["cgroupsPath"] = cgroup
    for ns in lin.get("namespaces", []):
        ns.pop("path", None)
    for i, m in enumerate(cfg.get("mounts", [])):
        src = m.get("source", "")
        if src.startswith("/") and not os.path.exists(src):
            new = os.path.join(work, "src", f"{i}-{os.path.basename(src)}")
            os.makedirs(os.path.dirname(new), exist_ok=True)
            if m["destination"].startswith("/etc/") or os.path.basename(src).startswith("."):
                open(new, "w").write(f"{os.path.basename(m['destination'])} from the engine\n")
            else:
                os.makedirs(new, exist_ok=True)
            m["source"] = new
    return cfg


def run(runtime, name, cfg, work):
    bundle = os.path.join(work, f"{os.path.basename(runtime)}-{name}")
    os.makedirs(bundle)
    json.dump(cfg, open(os.path.join(bundle, "config.json"), "w"))
    r = subprocess.run([runtime, "--root", os.path.join(work, "root"), "run", "--bundle", bundle, f"diff-{name}"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    out = r.stdout
    # The cgroup path names the runtime (each gets its own): compare the rest.
    out = out.replace(os.path.basename(runtime), "RUNTIME")
    if r.returncode != 0:
        out += f"exit {r.returncode}: {r.stderr.strip()[-300:]}\n"
    return out.splitlines()


def main():
    rts = sys.argv[1:3] or [os.path.join(REPO, "target", "debug", "berth"), "runc"]
    rts += ["runc"] * (2 - len(rts))
    rts = [shutil.which(r) or os.path.abspath(r) for r in rts]
    work = tempfile.mkdtemp(prefix="conformance-diff.")
    os.chmod(work, 0o755)
    unexplained = 0
    try:
        subprocess.run(["sh", os.path.join(REPO, "integration-tests", "make-bundle.sh"), os.path.join(work, "base")],
                       env=dict(os.environ, BERTH=rts[0] if "berth" in rts[0] else os.environ.get("BERTH", os.path.join(REPO, "target", "debug", "berth"))),
                       check=True, stdout=subprocess.DEVNULL)
        rootfs = os.path.join(work, "base", "rootfs")
        for f in sorted(os.listdir(SPECS)):
            if not f.endswith(".config.json"):
                continue
            name = f[: -len(".config.json")]
            outs = []
            for rt in rts:
                cfg = json.load(open(os.path.join(SPECS, f)))
                cg = f"/berth-conformance-diff/{os.path.basename(rt)}-{name}"
                outs.append(run(rt, name, adapt(cfg, rootfs, os.path.join(work, os.path.basename(rt)), cg), work))
            a, b = outs
            only_a = [l for l in a if l not in b]
            only_b = [l for l in b if l not in a]
            if not only_a and not only_b:
                print(f"SAME {name} ({len(a)} probe lines)")
                continue
            print(f"DIFF {name}")
            for l in only_a:
                why = next((v for k, v in KNOWN.items() if re.search(k, l)), None)
                print(f"  {os.path.basename(rts[0])}: {l}" + (f"   [known: {why}]" if why else ""))
                unexplained += why is None
            for l in only_b:
                why = next((v for k, v in KNOWN.items() if re.search(k, l)), None)
                print(f"  {os.path.basename(rts[1])}: {l}" + (f"   [known: {why}]" if why else ""))
                unexplained += why is None
    finally:
        for rt in rts:
            subprocess.run(f"for id in $({rt} --root {work}/root list -q 2>/dev/null); do {rt} --root {work}/root delete -f $id; done",
                           shell=True, stderr=subprocess.DEVNULL)
        subprocess.run("find /sys/fs/cgroup -depth -type d -path '*/berth-conformance-diff*' -exec rmdir {} \\; 2>/dev/null",
                       shell=True)
        shutil.rmtree(work, ignore_errors=True)
    print(f"{unexplained} unexplained differences")
    sys.exit(1 if unexplained else 0)


if __name__ == "__main__":
    main()
