#!/usr/bin/env bash
# containerd driving a runtime through its runc shim (ctr run --runc-binary RUNTIME), on a
# private daemon: config, sockets, root and state under a temporary directory, a busybox
# image built offline (oci-image.py) and imported. Prints PASS/FAIL per step, then
# "N passed, M failed". usage: containerd.sh RUNTIME_BINARY
# With SHIM=path/to/containerd-shim-berth-v2 the same scenario goes through berth's own
# shim (ctr run --runtime io.containerd.berth.v2, the shim found on containerd's PATH),
# which links berth's library: RUNTIME_BINARY must then never be executed, which is checked.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
RT=$(realpath "$(command -v "${1:?usage: containerd.sh RUNTIME}" || echo "$1")")
W=$(mktemp -d /tmp/engine-containerd.XXXXXX); chmod 755 "$W"
. "$here/lib.sh"
DPID=""
# containerd puts a namespace's containers below /<namespace> (here /default); runc, unlike
# berth, leaves that parent behind. Ours to remove only if this run made it.
had_ns_cg=$(find /sys/fs/cgroup -maxdepth 2 -name default | head -1)
teardown() {
  stop_containerd default
  [ -n "$had_ns_cg" ] || find /sys/fs/cgroup -maxdepth 2 -depth -type d -name default -exec rmdir {} \; 2>/dev/null
}
trap teardown EXIT

BERTH=${BERTH:-$here/../../target/debug/berth} sh "$here/../make-bundle.sh" "$W/bundle" >/dev/null
python3 "$here/oci-image.py" "$W/bundle/rootfs" "$W/busybox.tar" docker.io/library/busybox:test
R="--runc-binary $RT"
if [ -n "${SHIM:-}" ]; then
  SHIM=$(realpath "$SHIM")
  # The runtime binary is replaced by one that records any execution of it.
  # A copy: the CVE-2019-5736 probe below may overwrite it, never the build's binary.
  mkdir -p "$W/bin"; cp "$SHIM" "$W/bin/containerd-shim-berth-v2"
  shim_sum=$(sha256sum < "$W/bin/containerd-shim-berth-v2")
  printf '#!/bin/sh\necho "$@" >> %s/runtime-executed\nexec %s "$@"\n' "$W" "$RT" > "$W/bin/berth"; chmod +x "$W/bin/berth"
  export PATH="$W/bin:$PATH" BERTH_SHIM_ROOT="$W/shim-root"
  R="--runtime io.containerd.berth.v2"
fi
sockets_before=$(ls /run/containerd/s 2>/dev/null)
start_containerd
C="ctr -a $W/containerd.sock"
IMG=docker.io/library/busybox:test
check "containerd: image imported" $C images import "$W/busybox.tar"
eq "run: output" hello "$(timeout 60 $C run $R --rm $IMG c1 echo hello 2>&1)"
timeout 60 $C run $R --rm $IMG c2 sh -c 'exit 7' >/dev/null 2>&1
eq "run: exit code" 7 "$?"
# CVE-2024-21626's class: no fd of the shim or the runtime reaches the container (ls's own
# directory fd is 3). Through berth's shim, each container is forked from a shim that
# holds ttrpc sockets, other containers' FIFOs and pipes.
eq "run: only stdio reaches the container" "0 1 2 3" "$(timeout 60 $C run $R --rm $IMG fd1 ls /proc/self/fd 2>&1 | tr '\n' ' ' | sed 's/ $//')"
timeout 60 $C run -d $R --memory-limit 67108864 $IMG d1 sleep 1000 >/dev/null 2>&1
eq "run -d: task running" RUNNING "$($C task ls | awk '$1=="d1" {print $3}')"
pid=$($C task ls | awk '$1=="d1" {print $2}')
rootfs=$W/state/io.containerd.runtime.v2.task/default/d1/rootfs
check "run -d: the task's rootfs is mounted" mountpoint -q "$rootfs"
mem=$(awk -F: '$2 == "memory" {print $3}' /proc/$pid/cgroup 2>/dev/null)
eq "memory limit visible in the cgroup" 67108864 "$(cat /sys/fs/cgroup/memory$mem/memory.limit_in_bytes 2>&1)"
out=$(timeout 60 $C task exec --exec-id e1 d1 sh -c 'echo in-exec; exit 3' 2>&1); rc=$?
eq "task exec: output" in-exec "$out"
eq "task exec: exit code" 3 "$rc"
eq "task exec: only stdio reaches the process" "0 1 2 3" "$(timeout 60 $C task exec --exec-id fd2 d1 ls /proc/self/fd 2>&1 | tr '\n' ' ' | sed 's/ $//')"
timeout 60 $C task exec -d --exec-id e2 d1 sleep 500 >/dev/null 2>&1
eq "task exec -d + task ps: two processes" 2 "$($C task ps d1 | tail -n +2 | wc -l)"
if command -v script >/dev/null; then
  out=$(timeout 60 script -qec "$C task exec -t --exec-id e3 d1 tty" /dev/null 2>&1 | tr -d '\r')
  case $out in *"/dev/pts/"*) ok "task exec -t: a terminal";; *) no "task exec -t: a terminal" "$out";; esac
fi
$C task pause d1 >/dev/null 2>&1
eq "pause" PAUSED "$($C task ls | awk '$1=="d1" {print $3}')"
$C task resume d1 >/dev/null 2>&1
eq "resume" RUNNING "$($C task ls | awk '$1=="d1" {print $3}')"
timeout 60 $C task kill -s SIGKILL d1 >/dev/null 2>&1
for _ in $(seq 50); do [ "$($C task ls | awk '$1=="d1" {print $3}')" = STOPPED ] && break; sleep 0.1; done
eq "kill: task stopped" STOPPED "$($C task ls | awk '$1=="d1" {print $3}')"
if [ -n "${SHIM:-}" ]; then
  # berth's shim unmounts a task's rootfs when its init exits, not in the Delete that
  # follows (task.rs, unmount_early); the runc shim keeps it until Delete.
  for _ in $(seq 50); do mountpoint -q "$rootfs" || break; sleep 0.1; done
  check "shim: a stopped task's rootfs is unmounted before its delete" sh -c "! mountpoint -q '$rootfs'"
fi
timeout 60 $C run -d $R $IMG d2 sh -c 'sleep 1000 & sleep 1000' >/dev/null 2>&1
timeout 60 $C task kill -a -s SIGKILL d2 >/dev/null 2>&1
for _ in $(seq 50); do [ "$($C task ls | awk '$1=="d2" {print $3}')" = STOPPED ] && break; sleep 0.1; done
eq "kill --all: task stopped" STOPPED "$($C task ls | awk '$1=="d2" {print $3}')"
check "task delete" $C task delete d1
$C task delete d2 >/dev/null 2>&1
check "container delete" sh -c "$C containers delete d1 && $C containers delete d2"
eq "nothing left in the task list" "" "$($C task ls -q)"
check "the container's cgroup is gone" test ! -e "/sys/fs/cgroup/memory$mem"
if [ -n "${SHIM:-}" ]; then
  # Task API calls beyond the common path: Stats (ctr task metrics), OOM events. (ctr 1.6
  # has no `task update`: cri.sh's UpdateContainerResources is the Update through the shim.)
  timeout 60 $C run -d $R --memory-limit 33554432 $IMG m1 sleep 1000 >/dev/null 2>&1
  out=$($C task metrics m1 2>&1)
  case $out in *memory.usage_in_bytes*|*memory.usage*) ok "shim: task metrics";; *) no "shim: task metrics" "$out";; esac
  $C events > "$W/events" 2>&1 & EV=$!
  sleep 0.3
  # tail keeps a line that never ends in memory: past the limit, the kernel kills it.
  timeout 60 $C task exec --exec-id hog m1 tail /dev/zero >/dev/null 2>&1
  for _ in $(seq 50); do grep -q /tasks/oom "$W/events" && break; sleep 0.1; done
  kill "$EV" 2>/dev/null; wait "$EV" 2>/dev/null
  check "shim: an OOM kill is a /tasks/oom event" grep -q /tasks/oom "$W/events"
  $C task kill -s SIGKILL m1 >/dev/null 2>&1
  for _ in $(seq 50); do [ "$($C task ls | awk '$1=="m1" {print $3}')" = STOPPED ] && break; sleep 0.1; done
  $C task delete m1 >/dev/null 2>&1; $C containers delete m1 >/dev/null 2>&1
  # CVE-2019-5736 as an attacker would aim it at the shim, which is the parent of every
  # container process: a privileged container in the host's pid namespace keeps the exe
  # of another container's shim open, waits for that shim to exit, then writes through
  # the fd. The shim serves from a read-only (or sealed) copy of itself: nothing to write.
  # (The attacker runs under the runc shim: while any berth shim ran the binary, the
  # kernel would refuse the write with ETXTBSY, sealed or not.)
  mkdir -p "$W/comm"
  timeout 60 $C run -d $R $IMG v1 sleep 1000 >/dev/null 2>&1
  vshim=$(pgrep -f "containerd-shim-berth-v2 -namespace default -id v1 " | head -1)
  timeout 60 $C run -d --runc-binary "$RT" --privileged --with-ns "pid:/proc/$$/ns/pid" --mount "type=bind,src=$W/comm,dst=/comm,options=rbind:rw" $IMG a1 \
    sh -c "exec 3</proc/${vshim:-0}/exe && touch /comm/opened; while [ -e /proc/${vshim:-0} ]; do sleep 0.05; done
           if echo PWNED 2>/comm/err >> /proc/self/fd/3; then echo wrote; else echo refused; fi > /comm/result; sleep 1000" > "$W/a1.out" 2>&1
  for _ in $(seq 100); do [ -e "$W/comm/opened" ] && break; sleep 0.1; done
  [ -e "$W/comm/opened" ] && ok "shim exe probe: the attacker holds the victim shim's exe (pid ${vshim:-none})" ||
    no "shim exe probe: the attacker holds the victim shim's exe (pid ${vshim:-none})" "$(cat "$W/a1.out"; $C task ls)"
  $C task kill -s SIGKILL v1 >/dev/null 2>&1
  for _ in $(seq 50); do [ "$($C task ls | awk '$1=="v1" {print $3}')" = STOPPED ] && break; sleep 0.1; done
  $C task delete v1 >/dev/null 2>&1; $C containers delete v1 >/dev/null 2>&1
  for _ in $(seq 100); do [ -s "$W/comm/result" ] && break; sleep 0.1; done
  eq "shim exe probe: the write through the held exe is refused ($(cat "$W/comm/err" 2>/dev/null))" refused "$(cat "$W/comm/result" 2>&1)"
  eq "shim exe probe: the shim binary is unchanged" "$shim_sum" "$(sha256sum < "$W/bin/containerd-shim-berth-v2")"
  $C task kill -s SIGKILL a1 >/dev/null 2>&1
  for _ in $(seq 50); do [ "$($C task ls | awk '$1=="a1" {print $3}')" = STOPPED ] && break; sleep 0.1; done
  $C task delete a1 >/dev/null 2>&1; $C containers delete a1 >/dev/null 2>&1
  eq "shim: the runtime binary was never executed" "" "$(cat "$W/runtime-executed" 2>/dev/null)"
  eq "shim: nothing left in the shim's state root" "" "$(ls "$W/shim-root/default" 2>/dev/null)"
  eq "shim: no shim left running" "" "$(pgrep -f "containerd-shim-berth-v2 .*-address $W/" 2>/dev/null)"
  eq "shim: no shim socket left in /run/containerd/s" "" "$(comm -13 <(echo "$sockets_before") <(ls /run/containerd/s 2>/dev/null))"
fi
finish
