#!/usr/bin/env bash
# make bench, the engines' rows: the same busybox image run by containerd (ctr, its runc
# shim driving berth, crun or runc, and berth's own shim), containerd's CRI plugin, podman
# and docker, all interleaved per measure as bench/run.sh's rows; then the shims' memory
# with 20 containers running. Appends TSV rows (measure, runtime, median, min, max).
# usage: engines.sh RESULTS_TSV BERTH SHIM   (RUNS, WARM from run.sh)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
RESULTS=$1; BERTH=$(realpath "$2"); SHIM=$(realpath "$3")
RUNS=${RUNS:-40}; WARM=${WARM:-5}
W=$(mktemp -d /tmp/berth-bench-engines.XXXXXX); chmod 755 "$W"
. "$here/../integration-tests/engines/lib.sh"
declare -A BIN=([berth]=$BERTH [runc]=$(command -v runc) [crun]=$(command -v crun))
DPID=""; DDPID=""
had_ns_cg=$(find /sys/fs/cgroup -maxdepth 2 -name bench | head -1)
had_docker_cg=$(find /sys/fs/cgroup -maxdepth 2 -name docker | head -1)
had_libpod=$(find /sys/fs/cgroup -maxdepth 2 -name libpod_parent | head -1)
had_run_docker=$(ls -d /run/docker 2>/dev/null || true)
had_run=$(ls -d /run/berth /run/runc /run/crun /run/containerd/runc/bench 2>/dev/null || true)
P="podman --root $W/storage --runroot $W/runroot --storage-driver vfs"
D="docker -H unix://$W/docker.sock"
teardown() {
  set +e
  $P rm -af -t 0 >/dev/null 2>&1
  if [ -n "$DDPID" ]; then $D rm -f $($D ps -aq 2>/dev/null) >/dev/null 2>&1; kill "$DDPID" 2>/dev/null; wait "$DDPID" 2>/dev/null; fi
  # dockerd's containerd and its shims outlive it a moment (a last runtime delete may
  # still make a default root): wait for them before removing what they made.
  for _ in $(seq 50); do pgrep -f "$W/docker-exec" >/dev/null || break; sleep 0.1; done
  stop_containerd bench k8s.io   # also removes $W
  [ -n "$had_cri_cg" ] || find /sys/fs/cgroup -maxdepth 3 -depth -type d -path "*${CRI_CG}*" -exec rmdir {} \; 2>/dev/null
  [ -n "$had_ns_cg" ] || find /sys/fs/cgroup -maxdepth 2 -depth -type d -name bench -exec rmdir {} \; 2>/dev/null
  [ -n "$had_docker_cg" ] || find /sys/fs/cgroup -maxdepth 2 -depth -type d -name docker -exec rmdir {} \; 2>/dev/null
  [ -n "$had_libpod" ] || find /sys/fs/cgroup -depth -type d -path '*/libpod_parent*' -exec rmdir {} \; 2>/dev/null
  [ -n "$had_run_docker" ] || rm -rf /run/docker
  # The runtimes' default roots (podman's), the runc shim's root for namespace bench.
  for d in /run/berth /run/runc /run/crun /run/containerd/runc/bench; do case " $had_run " in *" $d "*) ;; *) rm -rf "$d";; esac; done
}
trap teardown EXIT

BERTH=$BERTH sh "$here/../integration-tests/make-bundle.sh" "$W/bundle" >/dev/null
python3 "$here/../integration-tests/engines/oci-image.py" "$W/bundle/rootfs" "$W/busybox.tar" docker.io/library/busybox:test
IMG=docker.io/library/busybox:test
# berth's shim on containerd's PATH, its state under $W.
mkdir -p "$W/bin"; ln -s "$SHIM" "$W/bin/containerd-shim-berth-v2"
export PATH="$W/bin:$PATH" BERTH_SHIM_ROOT="$W/shim-root"
python3 "$here/../integration-tests/engines/oci-image.py" --cmd '["sleep","2147483647"]' "$W/bundle/rootfs" "$W/pause.tar" localhost/berth-pause:test
CRI_CG=/berth-bench-cri
had_cri_cg=$(find /sys/fs/cgroup -maxdepth 2 -name "${CRI_CG#/}" | head -1)
handler() { # handler NAME BINARY: the runc shim driving BINARY, its own root
  printf '  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.%s]\n    runtime_type = "io.containerd.runc.v2"\n' "$1"
  printf '    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.%s.options]\n      BinaryName = "%s"\n      Root = "%s"\n' "$1" "$2" "$W/cri-root-$1"
}
start_containerd "$(cri_config localhost/berth-pause:test; cat <<CFG
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth-shim]
    runtime_type = "io.containerd.berth.v2"
$(handler berth "$BERTH"; handler crun "${BIN[crun]}"; handler runc "${BIN[runc]}")
CFG
)"
C="ctr -n bench -a $W/containerd.sock"
$C images import "$W/busybox.tar" >/dev/null
K="ctr -n k8s.io -a $W/containerd.sock"
$K images import "$W/busybox.tar" >/dev/null; $K images import "$W/pause.tar" >/dev/null

# interleave MEASURE NAME CMD [NAME CMD ...]: one interleaved run, one TSV row per NAME.
interleave() {
  local measure=$1 args=(); shift
  while [ $# -gt 0 ]; do args+=(-n "$1" "$2"); shift 2; done
  python3 "$here/interleave.py" -w "$WARM" -r "$RUNS" --tsv "$RESULTS" "$measure" "${args[@]}" >"$W/il.log" 2>&1 \
    || { echo "measure $measure failed:" >&2; cat "$W/il.log" >&2; return 1; }
}

# 9. ctr run --rm: berth's shim against the runc shim driving each runtime, one run.
# Rows 9a (the runc shim driving each runtime) and 9b (berth's shim in berth's column).
echo "engines: ctr run --rm" >&2
interleave "9. ctr run --rm" \
  shim "$C run --rm --runtime io.containerd.berth.v2 $IMG e-shim /bin/true" \
  berth "$C run --rm --runc-binary $BERTH $IMG e-berth /bin/true" \
  crun "$C run --rm --runc-binary ${BIN[crun]} $IMG e-crun /bin/true" \
  runc "$C run --rm --runc-binary ${BIN[runc]} $IMG e-runc /bin/true"
python3 - "$RESULTS" <<'PY'
import sys
p = sys.argv[1]
out = []
for line in open(p):
    m, name, rest = line.split("\t", 2)
    if m != "9. ctr run --rm":
        out.append(line)
        continue
    if name != "shim":
        out.append(f"9a. ctr run --rm: the runc shim driving each\t{name}\t{rest}")
    if name != "berth":
        out.append(f"9b. ctr run --rm: berth's shim (berth) vs the runc shim\t{'berth' if name == 'shim' else name}\t{rest}")
out.sort(key=lambda l: l.startswith("9b."))  # stable: 9b after everything else so far
open(p, "w").writelines(out)
PY

# 10. Memory of the shims with 20 containers running (sleep): PSS and RSS per container,
# summed over the shim processes (the runc shim: one per container; berth's: one per
# container outside a pod). The runtimes themselves have exited by then.
shim_mem() { # shim_mem NAME RUNTIME-ARGS SHIM-BINARY-NAME
  local i pss=0 rss=0 p
  for i in $(seq 20); do $C run -d $2 $IMG "m-$1-$i" sleep 1000 >/dev/null; done
  for p in $(pgrep -f "^[^ ]*$3 -namespace bench -id m-$1-"); do
    read -r a b < <(awk '/^Pss:/ {p=$2} /^Rss:/ {r=$2} END {print p, r}' "/proc/$p/smaps_rollup")
    pss=$((pss + a)); rss=$((rss + b))
  done
  printf '10a. shim PSS KiB per container (20 running)\t%s\t%s\t-\t-\n' "$1" $((pss / 20)) >> "$RESULTS"
  printf '10b. shim RSS KiB per container (20 running)\t%s\t%s\t-\t-\n' "$1" $((rss / 20)) >> "$RESULTS"
  for i in $(seq 20); do $C task kill -s SIGKILL "m-$1-$i" >/dev/null 2>&1 || true; done
  for i in $(seq 20); do
    for _ in $(seq 50); do [ "$($C task ls | awk -v id="m-$1-$i" '$1==id {print $3}')" = STOPPED ] && break; sleep 0.05; done
    $C task delete "m-$1-$i" >/dev/null 2>&1 || true; $C containers delete "m-$1-$i" >/dev/null 2>&1 || true
  done
}
echo "engines: shim memory" >&2
shim_mem berth "--runtime io.containerd.berth.v2" containerd-shim-berth-v2
shim_mem crun "--runc-binary ${BIN[crun]}" containerd-shim-runc-v2
shim_mem runc "--runc-binary ${BIN[runc]}" containerd-shim-runc-v2

# 11. CRI: RunPodSandbox to a started container in it (the kubelet's path), berth's shim
# in berth's column (11b) and the runc shim driving each runtime (11a).
echo "engines: CRI pod + container" >&2
CLIENT_DIR="$here/../integration-tests/cri-client"
TARGET=${CARGO_TARGET_DIR:-$here/../target}
(cd "$CLIENT_DIR" && CARGO_TARGET_DIR="$TARGET" cargo build -q)
"$TARGET/debug/berth-cri-client" bench "$W/containerd.sock" "$IMG" "$CRI_CG" "$WARM" "$RUNS" berth-shim berth crun runc > "$W/cri.tsv"
while IFS=$'\t' read -r h med lo hi; do
  [ "$h" = berth-shim ] || printf '11a. CRI pod + container up: the runc shim driving each\t%s\t%s\t%s\t%s\n' "$h" "$med" "$lo" "$hi" >> "$RESULTS"
done < "$W/cri.tsv"
while IFS=$'\t' read -r h med lo hi; do
  [ "$h" = berth ] || printf "11b. CRI pod + container up: berth's shim (berth) vs the runc shim\t%s\t%s\t%s\t%s\n" "${h%-shim}" "$med" "$lo" "$hi" >> "$RESULTS"
done < "$W/cri.tsv"

# 12. podman run --rm (conmon, then the runtime binary: no shim of ours here).
echo "engines: podman run --rm" >&2
export CONTAINERS_CONF=$W/containers.conf
containers_conf "$W/containers.conf" "$BERTH" "$W" '"nofile=1024:1024", "nproc=4096:4096"'
$P load -i "$W/busybox.tar" >/dev/null 2>&1
interleave "12. podman run --rm" \
  berth "$P --runtime $BERTH run --rm busybox:test /bin/true" \
  crun "$P --runtime ${BIN[crun]} run --rm busybox:test /bin/true" \
  runc "$P --runtime ${BIN[runc]} run --rm busybox:test /bin/true"

# 13. docker run --rm: a private dockerd (its own containerd and runc shim) with the three
# runtimes added.
echo "engines: docker run --rm" >&2
python3 "$here/../integration-tests/engines/oci-image.py" --docker "$W/bundle/rootfs" "$W/busybox-docker.tar" busybox:test
cat > "$W/daemon.json" <<CFG
{"runtimes": {"b-berth": {"path": "$BERTH"}, "b-crun": {"path": "${BIN[crun]}"}, "b-runc": {"path": "${BIN[runc]}"}},
 "bridge": "none", "iptables": false, "ip-masq": false, "ip6tables": false,
 "exec-opts": ["native.cgroupdriver=cgroupfs"], "storage-driver": "vfs",
 "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 1024, "Soft": 1024}, "nproc": {"Name": "nproc", "Hard": 4096, "Soft": 4096}}}
CFG
dockerd --config-file "$W/daemon.json" --data-root "$W/docker-data" --exec-root "$W/docker-exec" --pidfile "$W/docker.pid" -H "unix://$W/docker.sock" > "$W/dockerd.log" 2>&1 &
DDPID=$!
for _ in $(seq 100); do [ -S "$W/docker.sock" ] && $D version >/dev/null 2>&1 && break; sleep 0.2; done
$D load -i "$W/busybox-docker.tar" >/dev/null
RUNS=$(( RUNS / 2 )) interleave "13. docker run --rm" \
  berth "$D run --rm --network none --runtime b-berth busybox:test /bin/true" \
  crun "$D run --rm --network none --runtime b-crun busybox:test /bin/true" \
  runc "$D run --rm --network none --runtime b-runc busybox:test /bin/true"
