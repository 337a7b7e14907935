#!/usr/bin/env python3
"""Times commands round-robin: each round runs every command once, the order rotating
from round to round, so that a slow minute of the machine (this is a 2-core VM) falls
on all runtimes alike instead of on whichever hyperfine happened to run then.

    interleave.py [-w WARMUP] [-r RUNS] [--pause S] [--export-json FILE] -n NAME CMD [-n NAME CMD ...]

CMD is split like a shell word list (no shell runs unless CMD says `sh -c`). Each run is
timed from posix_spawn to wait4, as hyperfine -N does (same figures for a /bin/true
here: 1.26 ms vs 1.3 ms); output goes to /dev/null. A run that fails stops everything.
--pause sleeps before every run: an idle host, as where containers start now and then.
The JSON has hyperfine's shape: results[].command (the name), .median, .times (s).
--tsv FILE MEASURE appends one row per command to FILE: MEASURE, name, median, min, max
(ms), the rows bench/report.py reads."""

import argparse
import json
import os
import shlex
import statistics
import sys
import time


def run_once(argv, devnull):
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
    start = time.perf_counter_ns()
    pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions)
    _, status, _ = os.wait4(pid, 0)
    elapsed = (time.perf_counter_ns() - start) / 1e9
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"interleave: {shlex.join(argv)} exited with {code}")
    return elapsed


def main():
    p = argparse.ArgumentParser()
    p.add_argument("-w", "--warmup", type=int, default=3)
    p.add_argument("-r", "--runs", type=int, default=40)
    p.add_argument("--pause", type=float, default=0.0)
    p.add_argument("--export-json")
    p.add_argument("--tsv", nargs=2, metavar=("FILE", "MEASURE"))
    p.add_argument("-n", "--name", action="append", default=[])
    p.add_argument("commands", nargs="+")
    a = p.parse_intermixed_args()
    names = a.name + [c for c in a.commands[len(a.name):]]
    cmds = [shlex.split(c) for c in a.commands]
    times = [[] for _ in cmds]
    devnull = os.open(os.devnull, os.O_WRONLY)
    for round_no in range(a.warmup + a.runs):
        k = round_no % len(cmds)
        for i in list(range(k, len(cmds))) + list(range(k)):
            time.sleep(a.pause)
            t = run_once(cmds[i], devnull)
            if round_no >= a.warmup:
                times[i].append(t)
    results = [{"command": n, "median": statistics.median(t), "mean": statistics.fmean(t), "times": t} for n, t in zip(names, times)]
    for r in results:
        print(f'{r["command"]}: median {r["median"] * 1000:.2f} ms over {len(r["times"])} runs')
    if a.export_json:
        with open(a.export_json, "w") as f:
            json.dump({"results": results}, f)
    if a.tsv:
        with open(a.tsv[0], "a") as f:
            for r in results:
                t = sorted(r["times"])
                f.write(f'{a.tsv[1]}\t{r["command"]}\t{r["median"]*1000:.2f}\t{t[0]*1000:.2f}\t{t[-1]*1000:.2f}\n')


if __name__ == "__main__":
    main()
