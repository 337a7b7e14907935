#!/usr/bin/env python3
"""Fault injection: every syscall that `berth run` and `berth exec` make, made to fail.

For each syscall the command makes (found by tracing one clean run with strace -f), and
for a sample of its invocations (1st, 2nd, 3rd, middle, last), strace injects EIO into
that one invocation (`-e inject=NAME:error=EIO:when=N`, per traced process) and the
outcome is checked:
  - berth exits with a status (never a crash: no signal, no panic);
  - a failure prints exactly one error line;
  - afterwards nothing is left: no state entry under --root, no cgroup, no mount, no
    process (a failed run or exec leaves nothing; a successful one deletes its
    container as usual). Where the injected call is one of the clean-up itself (an
    rmdir, an unlink), what is left must go with `delete -f`, and that is reported.

Not injected, and why:
  - memory (mmap, munmap, mremap, brk, mprotect, madvise): Rust aborts on allocation
    failure, by design;
  - what the C library and Rust's runtime do before main, once per exec (arch_prctl,
    set_tid_address, set_robust_list, rseq, sigaltstack, sched_getaffinity, and the
    first two polls of each process, std's check of fds 0-2; berth execs itself once
    to seal its binary), and rt_sigaction (std asserts on it at start-up; berth's own
    uses reset signals to their defaults and ignore failure);
  - getrandom (std's HashMap keys panic on a failure, which Linux never gives with
    GRND_INSECURE) and close (Linux's close never fails for the files berth opens;
    std asserts on a failed closedir);
  - process exit, and the container program's own execve (the container failing).

A `run` whose own clean-up then failed (it says so in a warning: its delete, whether the
container ran or failed, or a failed create's undo) may leave its entry: that counts as
passed when `delete -f` removes it.

usage: fault-injection.py BERTH    prints PASS/FAIL lines and "N passed, M failed"
"""
import json, os, re, shutil, subprocess, sys, tempfile, collections

BERTH = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/debug/berth")
HERE = os.path.dirname(os.path.abspath(__file__))
SKIP = {"mmap", "munmap", "mremap", "brk", "mprotect", "madvise", "arch_prctl", "set_tid_address",
        "set_robust_list", "rseq", "sigaltstack", "sched_getaffinity", "exit_group", "exit",
        "rt_sigaction", "getrandom", "close"}
# Invocations that belong to the runtime's start-up (see above).
SKIP_AT = {("poll", 1), ("poll", 2)}

work = tempfile.mkdtemp(prefix="berth-inject-")
root = os.path.join(work, "state")
passed = failed = 0


def mounts():
    with open("/proc/self/mountinfo") as f:
        return {" ".join(l.split()[3:5]) for l in f}


def cgroups():
    out = set()
    for h in os.listdir("/sys/fs/cgroup"):
        base = os.path.join("/sys/fs/cgroup", h)
        if not os.path.isdir(base):
            continue
        for e in os.listdir(base):
            if e.startswith("berth-inject"):
                for d, _, _ in os.walk(os.path.join(base, e)):
                    out.add(d)
    return out


def procs():
    out = set()
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            cmd = open(f"/proc/{p}/cmdline", "rb").read()
            stat = open(f"/proc/{p}/stat").read()
        except OSError:
            continue
        # berth's own processes (their command line names the scratch --root) and the
        # container's (the probe marker in its arguments).
        if (work.encode() in cmd or b"berth-inject-probe" in cmd) and ") Z " not in stat:
            out.add(p)
    return out


def entries():
    try:
        return {e for e in os.listdir(root) if not e.startswith(".seccomp")}
    except FileNotFoundError:
        return set()


def report(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
    print(("PASS: " if ok else "FAIL: ") + what, flush=True)


def bundle(args):
    b = os.path.join(work, "bundle")
    if not os.path.exists(b):
        subprocess.run(["sh", os.path.join(HERE, "make-bundle.sh"), b], env=dict(os.environ, BERTH=BERTH),
                       check=True, stdout=subprocess.DEVNULL)
    cfg = json.load(open(os.path.join(b, "config.json")))
    cfg["process"]["args"] = args
    cfg["process"]["env"] = ["PATH=/bin", "MARK=berth-inject-probe"]
    cfg["linux"]["cgroupsPath"] = "/berth-inject/c"
    json.dump(cfg, open(os.path.join(b, "config.json"), "w"))
    return b


def trace(cmd):
    """Syscall name -> the largest number of calls any one process made."""
    out = os.path.join(work, "trace")
    subprocess.run(["strace", "-f", "-qq", "-o", out] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    per = collections.defaultdict(collections.Counter)
    for l in open(out):
        m = re.match(r"(\d+)\s+(\w+)\(", l)
        if m:
            per[m.group(2)][m.group(1)] += 1
    return {k: max(c.values()) for k, c in per.items()}


def samples(name, n):
    return sorted({i for i in (1, 2, 3, (n + 1) // 2, n) if 1 <= i <= n and (name, i) not in SKIP_AT})


def remove_cgroups():
    """So that one case's leftover cannot fail the next ones."""
    for d in sorted(cgroups(), key=len, reverse=True):
        try:
            os.rmdir(d)
        except OSError:
            pass


def clean():
    for e in entries():
        subprocess.run([BERTH, "--root", root, "delete", "-f", e], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def check(label, cmd, before, cleanup_calls, setup=None, teardown=None):
    if setup:
        setup()
    try:
        p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace", timeout=60, start_new_session=True)
    except subprocess.TimeoutExpired as e:
        # A hang: the whole session (strace, berth, the init) is killed, then checked.
        for pid in procs():
            try:
                os.kill(int(pid), 9)
            except OSError:
                pass
        p = subprocess.CompletedProcess(cmd, -999, "", (e.stderr or b"").decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or ""))
    err = [l for l in p.stderr.splitlines() if l.strip() and not l.startswith("strace:")]
    # berth's log lines say their level (a warning may quote an error's text); others, by word.
    errors = [l for l in err if ("level=error" in l if l.startswith("time=") else "error" in l)]
    problems = []
    if p.returncode == -999:
        problems.append("hung for 60 s")
    elif p.returncode < 0 or p.returncode > 255 or "panicked" in p.stderr:
        problems.append(f"crashed ({p.returncode}): {p.stderr[-300:]}")
    elif p.returncode != 0 and len(errors) != 1 and not label.startswith(("write:", "writev:")):
        problems.append(f"exit {p.returncode} with {len(errors)} error lines: {err[-3:]}")
    if teardown:
        teardown()
    left = []
    for _ in range(50):
        left = sorted(entries()) + sorted(cgroups() - before[1]) + sorted(mounts() - before[0]) + sorted(procs())
        if not left:
            break
        import time
        time.sleep(0.02)
    name = label.split(":")[0]
    if left:
        clean()
        after = sorted(entries()) + sorted(cgroups() - before[1]) + sorted(mounts() - before[0]) + sorted(procs())
        # berth said its own clean-up failed: run's delete (after the container ran, or
        # after it failed), or a failed create's undo.
        own_delete_failed = "delete after run" in p.stderr or "cleanup after failed create" in p.stderr
        if after:
            problems.append(f"left, even after delete -f: {after[:6]}")
            remove_cgroups()
        elif name not in cleanup_calls and not own_delete_failed:
            problems.append(f"left (delete -f removed it): {left[:6]}")
    msg = errors[0] if errors else f"exit {p.returncode}"
    report(not problems, f"{label}: {msg[:140]}" + ("" if not problems else " -- " + "; ".join(problems)))


def main():
    if shutil.which("strace") is None:
        print("FAIL: strace is not installed")
        print("0 passed, 1 failed")
        sys.exit(1)
    before = (mounts(), cgroups())
    # Calls that only clean up: failing one of them may leave what delete -f removes.
    cleanup = {"rmdir", "unlink", "unlinkat", "umount2", "kill", "pidfd_send_signal", "wait4", "close"}

    b = bundle(["true", "berth-inject-probe"])
    run = [BERTH, "--root", root, "run", "--bundle", b, "inj"]
    calls = trace(run)
    clean()

    def inject_each(label, cmd, calls, **hooks):
        # Every traced call but execve, failed (EIO) at each sampled occurrence in turn.
        for name in sorted(calls):
            if name in SKIP or name == "execve":
                continue
            for n in samples(name, calls[name]):
                check(f"{name}:{n} ({label})", ["strace", "-f", "-qq", "-o", "/dev/null", "-e", f"inject={name}:error=EIO:when={n}"] + cmd,
                      before, cleanup, **hooks)

    inject_each("run", run, calls)

    # exec into a running container (its init is not traced).
    b2 = os.path.join(work, "bundle2")
    shutil.copytree(bundle(["sh", "-c", "sleep 1000", "berth-inject-probe"]), b2, symlinks=True)
    up = lambda: subprocess.run([BERTH, "--root", root, "run", "-d", "--bundle", b2, "target"], check=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    down = lambda: subprocess.run([BERTH, "--root", root, "delete", "-f", "target"], stdout=subprocess.DEVNULL)
    ex = [BERTH, "--root", root, "exec", "target", "true", "berth-inject-probe"]
    up()
    calls = trace(ex)
    down()
    inject_each("exec", ex, calls, setup=up, teardown=down)


try:
    main()
finally:
    clean()
    remove_cgroups()
    shutil.rmtree(work, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
