#!/usr/bin/env python3
"""Scale under parallel clients: CLIENTS threads, each running CYCLES create + start +
delete -f of its own containers (ids pC-I, bundle BUNDLE_PREFIX-pC: its own cgroupsPath),
on one --root. Prints "wall_ms failures" (wall-clock for all CLIENTS*CYCLES containers).

usage: parallel.py RUNTIME ROOT BUNDLE_PREFIX CLIENTS CYCLES
"""
import subprocess, sys, threading, time

rt, root, prefix, clients, cycles = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
failures = []
lock = threading.Lock()


def client(c):
    for i in range(cycles):
        cid = f"p{c}-{i}"
        for args in (["create", "--bundle", f"{prefix}-p{c}", cid], ["start", cid], ["delete", "-f", cid]):
            # The init inherits create's stdio and outlives it: no pipes.
            r = subprocess.run([rt, "--root", root] + args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if r.returncode != 0:
                with lock:
                    failures.append(f"{cid} {args[0]}")
                if args[0] == "create":
                    break


t0 = time.monotonic()
threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"{(time.monotonic() - t0) * 1000:.1f} {len(failures)}")
if failures:
    print("failures: " + ", ".join(failures[:10]), file=sys.stderr)
