#!/usr/bin/env bash
# make bench: berth, runc and crun side by side, in one interleaved run per measure
# (round-robin, bench/interleave.py), on the same busybox bundle, the same cgroup layout
# and the same kind of --root.
# Prints a table of medians (min..max) and ratios; with SAVE=1 writes bench/RESULTS.md.
#   bench/run.sh          full run (a few minutes on 2 cores)
#   bench/run.sh --smoke  one quick pass with berth only (CI checks that the harness runs)
#   ENGINES=0             without the engines' rows (bench/engines.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
SMOKE=0; [ "${1:-}" = "--smoke" ] && SMOKE=1
BERTH=${BERTH:-$(ls -d "$PWD"/target/x86_64-unknown-linux-musl/release/berth "$PWD"/target/$(rustc -vV | sed -n "s/^host: //p")/release/berth 2>/dev/null | head -1)}
WORK=$(mktemp -d /tmp/berth-bench.XXXXXX)
RUNS=${RUNS:-40}; WARM=${WARM:-5}; SCALE=${SCALE:-10 100 500}
if [ $SMOKE = 1 ]; then RUNS=2; WARM=0; SCALE="3"; fi
declare -A BIN=([berth]=$BERTH [runc]=$(command -v runc || true) [crun]=$(command -v crun || true))
RUNTIMES="berth runc crun"; [ $SMOKE = 1 ] && RUNTIMES="berth"

cleanup() {
  for r in $RUNTIMES; do
    for id in $("${BIN[$r]}" --root "$WORK/root-$r" list -q 2>/dev/null); do
      "${BIN[$r]}" --root "$WORK/root-$r" delete -f "$id" >/dev/null 2>&1 || true
    done
  done
  # Only what this run made: the /berth-bench subtree (an oracle's delete can lose the
  # race with its zombie init here and leave the cgroup).
  find /sys/fs/cgroup -depth -type d -path '*/berth-bench*' -exec rmdir {} \; 2>/dev/null || true
  hugetlb_restore
  rm -rf "$WORK"
}
trap cleanup EXIT

# crun 1.8.1 refuses this hybrid host while cgroup2 holds hugetlb: moved for the run, undone on exit.
. integration-tests/crun-hybrid.sh
[ $SMOKE = 0 ] && hugetlb_to_v1

# One bundle, written with ociVersion 1.0.2-dev (what crun 1.8.1 accepts), rootfs shared.
BUNDLE=$WORK/bundle
BERTH=$BERTH sh integration-tests/make-bundle.sh "$BUNDLE" >/dev/null
set_args() { # set_args FILE ARGS-JSON [EXTRA-JQ]
  python3 - "$1" "$2" "${3:-}" <<'PY'
import json, os, sys
p, args, extra = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
c = json.load(open(p))
c["ociVersion"] = "1.0.2-dev"; c["process"]["args"] = args; c["process"]["terminal"] = False
c["root"]["path"] = os.environ["ROOTFS"]  # absolute: runc refuses a symlinked rootfs
if extra == "seccomp":
    c["linux"]["seccomp"] = json.load(open(os.environ["SECCOMP_PROFILE"]))
if extra == "mounts":
    c["mounts"] += [{"destination": f"/mnt/m{i}", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "size=1m"]} for i in range(50)]
json.dump(c, open(p, "w"))
PY
}
export ROOTFS=$BUNDLE/rootfs
export SECCOMP_PROFILE=$PWD/integration-tests/data/docker-default-seccomp.json
# bundle KIND RUNTIME ID: a bundle of its own per container, so that each gets its own
# absolute cgroupsPath (/berth-bench/RUNTIME-ID). Without one, runc and crun would create
# cgroups below the caller's own cgroup, which on these machines is not ours to grow.
bundle() {
  local dir=$WORK/bundles/$2-$3
  if [ ! -f "$dir/config.json" ]; then
    mkdir -p "$dir" && cp "$BUNDLE/config.json" "$dir/"
    case $1 in
      true) set_args "$dir/config.json" '["/bin/true"]' ;;
      sleep) set_args "$dir/config.json" '["sleep", "1000"]' ;;
      mounts) set_args "$dir/config.json" '["/bin/true"]' mounts ;;
      seccomp) set_args "$dir/config.json" '["/bin/true"]' seccomp ;;
    esac
    CG="/berth-bench/$2-$3" python3 -c "import json,os; p='$dir/config.json'; c=json.load(open(p)); c['linux']['cgroupsPath']=os.environ['CG']; json.dump(c,open(p,'w'))"
  fi
  echo "$dir"
}

RESULTS=$WORK/results.tsv; : > "$RESULTS"
hf() { # hf MEASURE KIND ID CMD-TEMPLATE [INTERLEAVE-OPTIONS] ({R} runtime binary, {root} its --root, {B} bundle)
  # ALSO=CMD: one more command in the same round-robin (the kernel's floor beside row 1).
  local measure=$1 kind=$2 id=$3 tmpl=$4 cmds=() names=(); shift 4
  for r in $RUNTIMES; do
    [ -n "${BIN[$r]}" ] || continue
    local c=${tmpl//\{R\}/${BIN[$r]}}; c=${c//\{root\}/$WORK/root-$r}; c=${c//\{B\}/$(bundle "$kind" "$r" "$id")}
    cmds+=("$c"); names+=(-n "$r")
  done
  [ -z "${ALSO:-}" ] || { cmds+=("$ALSO"); names+=(-n "${ALSO%% *}"); }
  python3 bench/interleave.py -w "$WARM" -r "$RUNS" "$@" "${names[@]}" --tsv "$RESULTS" "$measure" "${cmds[@]}" >"$WORK/hf.log" 2>&1 \
    || { echo "measure $measure failed:" >&2; cat "$WORK/hf.log" >&2; return 1; }
}

echo "measuring (runs=$RUNS)..." >&2
# Row 1 with the kernel's floor in the same round-robin: the same five namespaces, chroot,
# exec /bin/true, nothing else (measured in another minute, the ratio to it would be the
# two minutes' noise as much as the runtime's).
FLOOR="unshare -m -u -i -n -p -f chroot $BUNDLE/rootfs /bin/true"
[ $SMOKE = 1 ] && FLOOR=""
ALSO=$FLOOR hf "1. run /bin/true" true b1 "{R} --root {root} run --bundle {B} b1"
# The same, one run every 0.3 s: an idle host, where the kernel's cgroup lock is cold (a
# runtime writing a pid to cgroup.procs then waits for an RCU grace period).
[ $SMOKE = 1 ] || RUNS=$(( RUNS / 2 )) hf "1b. run /bin/true, one every 0.3 s" true b1i "{R} --root {root} run --bundle {B} b1i" --pause 0.3
hf "2. create+start+wait+delete" true b2 "sh -c '{R} --root {root} create --bundle {B} b2 && {R} --root {root} start b2 && until {R} --root {root} delete b2 2>/dev/null; do :; done'"
hf "7a. run with Docker's seccomp profile" seccomp b4 "{R} --root {root} run --bundle {B} b4"
hf "7b. run with 50 tmpfs mounts" mounts b3 "{R} --root {root} run --bundle {B} b3"
for r in $RUNTIMES; do "${BIN[$r]}" --root "$WORK/root-$r" run -d --bundle "$(bundle sleep "$r" lat)" lat >/dev/null; done
hf "3. exec /bin/true" sleep lat "{R} --root {root} exec lat /bin/true"
hf "4a. state" sleep lat "{R} --root {root} state lat"
hf "4b. kill (SIGCONT)" sleep lat "{R} --root {root} kill lat CONT"
for r in $RUNTIMES; do "${BIN[$r]}" --root "$WORK/root-$r" delete -f lat >/dev/null; done

# 5. Peak RSS (KiB) of `run /bin/true`: the runtime and the processes it waits for, the
# largest of any one of them. 5: exact, from their page tables (bench/peak_rss.py);
# 5b: getrusage's ru_maxrss as /usr/bin/time prints it, which this kernel keeps from
# per-CPU counters in steps of about 128 KiB (see bench/peak_rss.py).
for r in $RUNTIMES; do
  [ -n "${BIN[$r]}" ] || continue
  best=""; best_ru=""
  for i in 1 2 3; do
    kb=$(python3 bench/peak_rss.py "${BIN[$r]}" --root "$WORK/root-$r" run --bundle "$(bundle true "$r" rss)" rss)
    [ -z "$best" ] || [ "$kb" -lt "$best" ] && best=$kb
    kb=$( { /usr/bin/time -f %M "${BIN[$r]}" --root "$WORK/root-$r" run --bundle "$(bundle true "$r" rss)" rss >/dev/null; } 2>&1 | tail -1)
    [ -z "$best_ru" ] || [ "$kb" -lt "$best_ru" ] && best_ru=$kb
  done
  printf '5. peak RSS KiB\t%s\t%s\t%s\t%s\n' "${BIN[$r]}" "$best" "$best" "$best" >> "$RESULTS"
  printf '5b. ru_maxrss KiB\t%s\t%s\t%s\t%s\n' "${BIN[$r]}" "$best_ru" "$best_ru" "$best_ru" >> "$RESULTS"
done

# 6. Scale: N sleeping containers: create+start each, list, kill+delete all; ms per container.
for n in $SCALE; do
  for r in $RUNTIMES; do
    [ -n "${BIN[$r]}" ] || continue
    R=${BIN[$r]}; root=$WORK/root-$r
    t0=$(date +%s%N)
    # All N bundles in one go (one Python start, not N).
    python3 - "$BUNDLE/config.json" "$WORK/bundles" "$r" "$n" <<'PY'
import json, os, sys
src, out, rt, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
c = json.load(open(src))
c["ociVersion"] = "1.0.2-dev"; c["process"]["args"] = ["sleep", "1000"]; c["process"]["terminal"] = False
c["root"]["path"] = os.environ["ROOTFS"]
for i in range(1, n + 1):
    d = f"{out}/{rt}-s{i}"
    os.makedirs(d, exist_ok=True)
    c["linux"]["cgroupsPath"] = f"/berth-bench/{rt}-s{i}"
    json.dump(c, open(f"{d}/config.json", "w"))
PY
    t0=$(date +%s%N)
    for i in $(seq "$n"); do timeout 20 "$R" --root "$root" run -d --bundle "$WORK/bundles/$r-s$i" "s$i" >/dev/null || echo "$r run -d s$i failed or hung" >&2; done
    t1=$(date +%s%N)
    # list: the median of 9, timed around the runtime alone (a `date` around a single
    # run would add its own ~1 ms to a measure of a few).
    tl=$(python3 - "$R" "$root" <<'PY'
import statistics, subprocess, sys, time
ts = []
for _ in range(9):
    t = time.perf_counter()
    subprocess.run([sys.argv[1], "--root", sys.argv[2], "list"], stdout=subprocess.DEVNULL, check=True)
    ts.append((time.perf_counter() - t) * 1000)
print(f"{statistics.median(ts):.2f}")
PY
)
    t2=$(date +%s%N)
    for i in $(seq "$n"); do timeout 20 "$R" --root "$root" delete -f "s$i" >/dev/null || echo "$r delete s$i failed" >&2; done
    t3=$(date +%s%N)
    python3 -c "n=$n; print(f'6. scale N={n}: start per ctr\t$R\t{($t1-$t0)/1e6/n:.2f}\t-\t-'); print(f'6. scale N={n}: list\t$R\t$tl\t-\t-'); print(f'6. scale N={n}: delete per ctr\t$R\t{($t3-$t2)/1e6/n:.2f}\t-\t-')" >> "$RESULTS"
  done
done

# 8. Parallel clients: 16 at a time create, start and delete their own containers; ms of
# wall-clock per container (1000/that = containers per second). Runtimes one after the
# other, each on its own --root, twice, the better kept.
CLIENTS=16; CYCLES=${CYCLES:-10}; [ $SMOKE = 1 ] && CLIENTS=2 CYCLES=2
for r in $RUNTIMES; do
  [ -n "${BIN[$r]}" ] || continue
  for c in $(seq 0 $((CLIENTS - 1))); do bundle true "$r" "p$c" >/dev/null; done
  best=""
  for pass in 1 2; do
    read -r ms fails < <(python3 bench/parallel.py "${BIN[$r]}" "$WORK/root-$r" "$WORK/bundles/$r" "$CLIENTS" "$CYCLES")
    [ "$fails" = 0 ] || echo "$r: $fails of $((CLIENTS * CYCLES)) parallel cycles failed" >&2
    per=$(python3 -c "print(f'{$ms / ($CLIENTS * $CYCLES):.2f}')")
    { [ -z "$best" ] || python3 -c "import sys; sys.exit(0 if $per < $best else 1)"; } && best=$per
  done
  printf '8. %s parallel clients: ms per container\t%s\t%s\t-\t-\n' "$CLIENTS" "${BIN[$r]}" "$best" >> "$RESULTS"
done

# 9-13. Under the engines (containerd with either shim, podman, docker): bench/engines.sh.
if [ $SMOKE = 0 ] && [ "${ENGINES:-1}" = 1 ]; then
  SHIM=${SHIM:-$(dirname "$BERTH")/containerd-shim-berth-v2}
  RUNS=$RUNS WARM=$WARM bash bench/engines.sh "$RESULTS" "$BERTH" "$SHIM"
fi

python3 bench/report.py "$RESULTS" "$BERTH" > "$WORK/report.md"
cat "$WORK/report.md"
if [ "${SAVE:-0}" = 1 ]; then cp "$WORK/report.md" bench/RESULTS.md; echo "saved bench/RESULTS.md" >&2; fi
