#!/usr/bin/env python3
"""Exact peak RSS (KiB) of a command and every process it starts.

    bench/peak_rss.py CMD [ARG...]

Why not getrusage's ru_maxrss (what /usr/bin/time -f %M prints): since Linux 6.2 a
process's RSS counters are per-CPU counters, and the high-water mark the kernel keeps is
read from their approximate sum, which lags each CPU's unfolded share (up to 31 pages per
counter and CPU). So ru_maxrss moves in steps of 128 KiB: a program touching 0..23 pages
of its own reads 548 KiB here, 24..55 pages 676 KiB, 56.. 804 KiB. Two builds of berth a
few pages apart read 1444 or 1576 KiB, and which one a run reads depends on where the
counters happened to fold.

How, exactly: the command runs under strace, which stops each process at the entry of
execve/execveat (its image is about to be dropped) and exit_group (it is about to end)
for a moment; meanwhile /proc/PID/smaps_rollup gives its RSS, counted from its page
tables. A process's RSS is highest at one of those two points unless it unmaps memory
it touched (the runtimes here do not give back their images or stacks). strace prints
nothing and reads no memory of the processes (-e raw=all: arguments are not decoded,
so no page is faulted in on their behalf). Prints the largest value seen.
"""
import os
import subprocess
import sys
import time

DELAY_US = 300_000


def children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                s = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces or parentheses.
        rest = s[s.rfind(b")") + 2:].split()
        kids.setdefault(int(rest[1]), []).append((int(d), rest[0]))
    return kids


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    st = subprocess.Popen(
        ["strace", "-f", "-qq", "-o", "/dev/null", "-e", "raw=all",
         "-e", "trace=execve,execveat,exit_group",
         "-e", f"inject=execve,execveat,exit_group:delay_enter={DELAY_US}", *sys.argv[1:]],
        stdout=subprocess.DEVNULL)
    peak, seen = 0, set()
    while st.poll() is None:
        kids, todo = children_map(), [st.pid]
        while todo:
            for pid, state in kids.get(todo.pop(), []):
                todo.append(pid)
                # 't': stopped by strace at one of the syscalls above.
                if state == b"t" and (pid, rss := rss_kib(pid)) not in seen and rss is not None:
                    seen.add((pid, rss))
                    peak = max(peak, rss)
        time.sleep(0.02)
    if st.returncode != 0 or peak == 0:
        sys.exit(f"peak_rss: {sys.argv[1:]} exited {st.returncode}, peak {peak}")
    print(peak)


if __name__ == "__main__":
    main()
