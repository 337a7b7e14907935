#!/usr/bin/env bash
# docker driving a runtime (dockerd with the runtime added, `docker run --runtime`), on a
# private dockerd: data root, exec root, pid file and socket under a temporary directory,
# no bridge, no iptables, cgroupfs, a busybox image built offline (docker-archive) and
# loaded. default-ulimits are pinned as podman's (root lacks CAP_SYS_RESOURCE here).
# Prints PASS/FAIL per step, then "N passed, M failed". usage: docker.sh RUNTIME_BINARY
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
RT=$(realpath "$(command -v "${1:?usage: docker.sh RUNTIME}" || echo "$1")")
W=$(mktemp -d /tmp/engine-docker.XXXXXX); chmod 755 "$W"
. "$here/lib.sh"
had_docker_cg=$(find /sys/fs/cgroup -maxdepth 2 -name docker | head -1)
had_run_docker=$(ls -d /run/docker 2>/dev/null)   # dockerd makes /run/docker/plugins whatever its exec root
D="docker -H unix://$W/docker.sock"
DPID=""
teardown() {
  $D rm -f $($D ps -aq 2>/dev/null) >/dev/null 2>&1
  [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
  umount_below "$W"
  rm -rf "$W"
  # dockerd's cgroupfs parent (/docker), only if this run made it.
  [ -n "$had_docker_cg" ] || find /sys/fs/cgroup -maxdepth 2 -depth -type d -name docker -exec rmdir {} \; 2>/dev/null
  [ -n "$had_run_docker" ] || rm -rf /run/docker
}
trap teardown EXIT

BERTH=${BERTH:-$here/../../target/debug/berth} sh "$here/../make-bundle.sh" "$W/bundle" >/dev/null
python3 "$here/oci-image.py" --docker "$W/bundle/rootfs" "$W/busybox.tar" busybox:test
cat > "$W/daemon.json" <<CFG
{"runtimes": {"test-runtime": {"path": "$RT"}}, "bridge": "none", "iptables": false, "ip-masq": false,
 "ip6tables": false, "exec-opts": ["native.cgroupdriver=cgroupfs"], "storage-driver": "vfs",
 "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 1024, "Soft": 1024}, "nproc": {"Name": "nproc", "Hard": 4096, "Soft": 4096}}}
CFG
dockerd --config-file "$W/daemon.json" --data-root "$W/data" --exec-root "$W/exec" --pidfile "$W/docker.pid" -H "unix://$W/docker.sock" > "$W/dockerd.log" 2>&1 &
DPID=$!
for _ in $(seq 100); do [ -S "$W/docker.sock" ] && $D version >/dev/null 2>&1 && break; sleep 0.2; done
$D load -i "$W/busybox.tar" >/dev/null 2>&1 && ok "docker: image loaded" || no "docker: image loaded"
R="--runtime test-runtime --network none"
IMG=busybox:test
state() { $D inspect --format '{{.State.Status}}' "$1" 2>/dev/null; }
eq "run: output" hello "$(timeout 60 $D run --rm $R $IMG echo hello 2>&1)"
timeout 60 $D run --rm $R $IMG sh -c 'exit 7' >/dev/null 2>&1
eq "run: exit code" 7 "$?"
timeout 60 $D run -d --name d1 $R $IMG sleep 1000 >/dev/null 2>&1
eq "run -d: running" running "$(state d1)"
out=$(timeout 60 $D exec d1 sh -c 'echo in-exec; exit 3' 2>&1); rc=$?
eq "exec: output" in-exec "$out"
eq "exec: exit code" 3 "$rc"
if command -v script >/dev/null; then
  out=$(timeout 60 script -qec "$D exec -t d1 tty" /dev/null 2>&1 | tr -d '\r')
  case $out in *"/dev/pts/"*) ok "exec -t: a terminal";; *) no "exec -t: a terminal" "$out";; esac
fi
timeout 60 $D pause d1 >/dev/null 2>&1
eq "pause" paused "$(state d1)"
timeout 60 $D unpause d1 >/dev/null 2>&1
eq "unpause" running "$(state d1)"
timeout 60 $D update --memory 64m --memory-swap 128m d1 >/dev/null 2>&1
pid=$($D inspect --format '{{.State.Pid}}' d1)
mem=$(awk -F: '$2 == "memory" {print $3}' /proc/$pid/cgroup 2>/dev/null)
eq "update: memory limit in the cgroup" 67108864 "$(cat /sys/fs/cgroup/memory$mem/memory.limit_in_bytes 2>&1)"
timeout 60 $D kill d1 >/dev/null 2>&1
for _ in $(seq 50); do [ "$(state d1)" = exited ] && break; sleep 0.1; done
eq "kill" exited "$(state d1)"
timeout 60 $D restart -t 1 d1 >/dev/null 2>&1
eq "restart" running "$(state d1)"
timeout 60 $D stop -t 1 d1 >/dev/null 2>&1
eq "stop" exited "$(state d1)"
timeout 60 $D start d1 >/dev/null 2>&1
timeout 60 $D rm -f d1 >/dev/null 2>&1
eq "rm -f of a running container" "" "$($D ps -aq)"
finish
