"""Turns bench/run.sh's measurements into a markdown table with berth/crun and berth/runc ratios."""
import os, platform, subprocess, sys
from collections import OrderedDict

rows = OrderedDict()
for line in open(sys.argv[1]):
    measure, cmd, med, lo, hi = line.rstrip("\n").split("\t")
    name = "floor" if cmd.startswith("unshare") else next((r for r in ("berth", "runc", "crun") if r in os.path.basename(cmd.split()[0]) or cmd.startswith(r)), cmd)
    if name != "floor" and "/" in cmd.split()[0]:
        name = next((r for r in ("berth", "runc", "crun") if cmd.split()[0].endswith(r)), name)
    rows.setdefault(measure, {})[name] = (float(med), lo, hi)

def ver(cmd):
    # With a --root of its own: crun makes its state root (/run/crun by default) even to
    # print its version, and the host's /run is not this run's to grow.
    import tempfile
    try:
        with tempfile.TemporaryDirectory() as d:
            return subprocess.run([cmd, "--root", f"{d}/root", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except Exception:
        return "not installed"

berth = sys.argv[2]
print("# berth benchmark\n")
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip() or "unknown"
print(f"Measured at commit {commit} with `make bench`. Machine: {os.cpu_count()} cores, kernel {platform.release()}; {ver(berth)}, {ver('runc')}, {ver('crun')}.")
ldd = subprocess.run(["ldd", berth], capture_output=True, text=True).stdout
libs = [l.split()[0] for l in ldd.splitlines() if "=>" in l or l.strip().startswith("/")]
print(f"berth binary: {os.path.getsize(berth)} bytes; " + (f"{len(libs)} shared libraries (ldd: {', '.join(libs)})" if libs else "statically linked (ldd: no shared libraries)") + ".\n")
print("Times in ms: median (min..max) of interleaved runs; lower is better. Ratio < 1 means berth is faster.\n")
print("| measure | berth | crun | runc | berth/crun | berth/runc |")
print("|---|---|---|---|---|---|")
# The floor is measured in row 1's round-robin (bench/run.sh).
floor = rows.get("1. run /bin/true", {}).pop("floor", None)
kib = lambda m: "KiB" in m
for m, r in rows.items():
    cell = lambda k: (f"{r[k][0]:.2f} ({r[k][1]}..{r[k][2]})" if r[k][1] != "-" and r[k][1] != f"{r[k][0]:.0f}" and not kib(m) else f"{r[k][0]:.2f}" if not kib(m) else f"{r[k][0]:.0f}") if k in r else "-"
    ratio = lambda k: f"{r['berth'][0] / r[k][0]:.2f}" if "berth" in r and k in r and r[k][0] > 0 else "-"
    print(f"| {m} | {cell('berth')} | {cell('crun')} | {cell('runc')} | {ratio('crun')} | {ratio('runc')} |")
if floor:
    run = rows["1. run /bin/true"]
    rel = "; ".join(f"{k}'s run {run[k][0] / floor[0]:.2f}x it" for k in ("berth", "crun", "runc") if k in run)
    print(f"\nKernel floor (unshare of the same 5 namespaces + chroot + exec /bin/true), in row 1's round-robin: {floor[0]:.2f} ms ({floor[1]}..{floor[2]}); {rel}.")
