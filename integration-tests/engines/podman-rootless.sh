#!/usr/bin/env bash
# Rootless podman driving a runtime (issue 18): a test account with subordinate ids, as a
# user of this machine would have, podman run as that account (HOME, XDG_RUNTIME_DIR,
# config and vfs storage under a temporary directory, no network). The account and its
# /etc/subuid, /etc/subgid entries live in a copy of /etc bound over /etc in a mount
# namespace of the scenario's own: the host's /etc is never changed. podman runs the
# runtime as root of its own user namespace (newuidmap), where berth's `--rootless auto`
# must find it rootless. Prints PASS/FAIL per step, then "N passed, M failed".
# usage: podman-rootless.sh RUNTIME_BINARY
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
RT=$(realpath "$(command -v "${1:?usage: podman-rootless.sh RUNTIME}" || echo "$1")")
U=23470; NAME=berth-podman-rootless; SUB=500000
. "$here/lib.sh"

if [ -z "${INSIDE:-}" ]; then
  W=$(mktemp -d /tmp/engine-podman-rootless.XXXXXX); chmod 755 "$W"
  cp -a /etc "$W/etc"
  echo "$NAME:x:$U:$U::$W/home:/bin/sh" >> "$W/etc/passwd"
  echo "$NAME:x:$U:" >> "$W/etc/group"
  echo "$NAME:$SUB:65536" >> "$W/etc/subuid"
  echo "$NAME:$SUB:65536" >> "$W/etc/subgid"
  BERTH=${BERTH:-$here/../../target/debug/berth} sh "$here/../make-bundle.sh" "$W/bundle" >/dev/null
  python3 "$here/oci-image.py" "$W/bundle/rootfs" "$W/busybox.tar" docker.io/library/busybox:test
  chmod 644 "$W/busybox.tar"
  mkdir -p "$W/home" "$W/xdg"; chown "$U:$U" "$W/home" "$W/xdg"; chmod 700 "$W/xdg"
  INSIDE=1 W=$W unshare --mount --propagation private bash "$0" "$RT"
  rc=$?
  # Whatever still runs as the scenario's own uid is the scenario's (podman's pause
  # process, a conmon): ended by pid, then the directory goes.
  for p in $(pgrep -u "$U"); do kill -9 "$p" 2>/dev/null; done
  for _ in $(seq 50); do [ -z "$(pgrep -u "$U")" ] && break; sleep 0.1; done
  left=$(pgrep -u "$U" | wc -l)
  rm -rf "$W"
  [ "$left" -eq 0 ] || { echo "FAIL: processes of uid $U left"; exit 1; }
  exit $rc
fi

mount --bind "$W/etc" /etc
containers_conf "$W/containers.conf" "$RT" "$W/xdg" ""
chmod 644 "$W/containers.conf"
as_u() { timeout 60 setpriv --reuid="$U" --regid="$U" --clear-groups -- env HOME="$W/home" XDG_RUNTIME_DIR="$W/xdg" CONTAINERS_CONF="$W/containers.conf" "$@"; }
P="podman --root $W/home/storage --runroot $W/xdg/run --storage-driver vfs"
IMG=busybox:test
as_u $P load -i "$W/busybox.tar" >/dev/null 2>&1 && ok "rootless podman: image loaded" || no "rootless podman: image loaded" "$(as_u $P load -i "$W/busybox.tar" 2>&1 | tail -2)"
out=$(as_u $P run --rm $IMG id 2>&1)
case $out in "uid=0(root) gid=0(root)"*) ok "rootless podman run --rm IMAGE id";; *) no "rootless podman run --rm IMAGE id" "$out";; esac
maps=$(as_u $P run --rm $IMG cat /proc/self/uid_map 2>&1 | tr -s ' ' | sed 's/^ //' | tr '\n' ';')
eq "rootless podman: the user namespace maps the user and its subordinate ids" "0 $U 1;1 $SUB 65536;" "$maps"
as_u $P run --rm $IMG sh -c 'exit 7' >/dev/null 2>&1
eq "rootless podman: exit code" 7 "$?"
as_u $P run -d --name d1 $IMG sleep 1000 >/dev/null 2>&1
eq "rootless podman run -d: running" running "$(as_u $P inspect --format '{{.State.Status}}' d1 2>&1)"
out=$(as_u $P exec d1 sh -c 'echo in-exec; id -u; exit 3' 2>&1); rc=$?
eq "rootless podman exec: output" "in-exec 0" "$(echo $out)"
eq "rootless podman exec: exit code" 3 "$rc"
as_u $P rm -f -t 0 d1 >/dev/null 2>&1
eq "rootless podman rm -f: gone" "" "$(as_u $P ps -aq 2>&1)"
as_u $P rm -af -t 0 >/dev/null 2>&1
finish
