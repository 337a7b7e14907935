#!/usr/bin/env bash
# podman driving a runtime (--runtime), with a private containers.conf, storage and run
# root under a temporary directory, a busybox image built offline and loaded, no network.
# As a real operator on this machine would, the config pins default_ulimits (root lacks
# CAP_SYS_RESOURCE, so podman's default 1048576 nofile/nproc fail under any runtime).
# Prints PASS/FAIL per step, then "N passed, M failed". usage: podman.sh RUNTIME_BINARY
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
RT=$(realpath "$(command -v "${1:?usage: podman.sh RUNTIME}" || echo "$1")")
W=$(mktemp -d /tmp/engine-podman.XXXXXX); chmod 755 "$W"
. "$here/lib.sh"
had_libpod=$(find /sys/fs/cgroup -maxdepth 2 -name libpod_parent | head -1)
name=$(basename "$RT")
had_root=$(ls -d "/run/$name" 2>/dev/null)   # podman passes no --root: the default one
export CONTAINERS_CONF=$W/containers.conf
P="podman --root $W/storage --runroot $W/runroot --storage-driver vfs"
teardown() {
  $P rm -af -t 0 >/dev/null 2>&1
  umount_below "$W"
  rm -rf "$W"
  # podman's cgroupfs manager makes libpod_parent (and conmon's cgroup in it): ours to
  # remove only if this run made it.
  [ -n "$had_libpod" ] || find /sys/fs/cgroup -depth -type d -path '*/libpod_parent*' -exec rmdir {} \; 2>/dev/null
  # The runtime's default state root, if this run made it (berth keeps its seccomp
  # filter cache there).
  [ -n "$had_root" ] || rm -rf "/run/$name"
}
trap teardown EXIT

BERTH=${BERTH:-$here/../../target/debug/berth} sh "$here/../make-bundle.sh" "$W/bundle" >/dev/null
python3 "$here/oci-image.py" "$W/bundle/rootfs" "$W/busybox.tar" docker.io/library/busybox:test
containers_conf "$W/containers.conf" "$RT" "$W" '"nofile=1024:1024", "nproc=4096:4096"'
IMG=busybox:test
state() { $P inspect --format '{{.State.Status}}' "$1" 2>/dev/null; }
$P load -i "$W/busybox.tar" >/dev/null 2>&1 && ok "podman: image loaded" || no "podman: image loaded"
eq "run: output" hello "$(timeout 60 $P run --rm $IMG echo hello 2>&1)"
timeout 60 $P run --rm $IMG sh -c 'exit 7' >/dev/null 2>&1
eq "run: exit code" 7 "$?"
timeout 60 $P run -d --name d1 $IMG sleep 1000 >/dev/null 2>&1
eq "run -d: running" running "$(state d1)"
out=$(timeout 60 $P exec d1 sh -c 'echo in-exec; exit 3' 2>&1); rc=$?
eq "exec: output" in-exec "$out"
eq "exec: exit code" 3 "$rc"
if command -v script >/dev/null; then
  out=$(timeout 60 script -qec "$P exec -t d1 tty" /dev/null 2>&1 | tr -d '\r')
  case $out in *"/dev/pts/"*) ok "exec -t: a terminal";; *) no "exec -t: a terminal" "$out";; esac
fi
timeout 60 $P pause d1 >/dev/null 2>&1
eq "pause" paused "$(state d1)"
timeout 60 $P unpause d1 >/dev/null 2>&1
eq "unpause" running "$(state d1)"
timeout 60 $P update --memory 64m d1 >/dev/null 2>&1
pid=$($P inspect --format '{{.State.Pid}}' d1)
mem=$(awk -F: '$2 == "memory" {print $3}' /proc/$pid/cgroup 2>/dev/null)
eq "update: memory limit in the cgroup" 67108864 "$(cat /sys/fs/cgroup/memory$mem/memory.limit_in_bytes 2>&1)"
timeout 60 $P kill d1 >/dev/null 2>&1
for _ in $(seq 50); do [ "$(state d1)" = exited ] && break; sleep 0.1; done
eq "kill" exited "$(state d1)"
timeout 60 $P restart d1 >/dev/null 2>&1
eq "restart" running "$(state d1)"
timeout 60 $P stop -t 1 d1 >/dev/null 2>&1
eq "stop" exited "$(state d1)"
timeout 60 $P start d1 >/dev/null 2>&1
timeout 60 $P rm -f d1 >/dev/null 2>&1
eq "rm -f of a running container" "" "$($P ps -aq)"
eq "nothing left for the runtime" "" "$(ls /run/$name 2>/dev/null)"
finish
