#!/usr/bin/env bash
# Kubernetes' path: containerd's CRI plugin with a runtime handler "berth" whose BinaryName is
# the runtime under test, driven by a small CRI v1 client (../cri-client, gRPC over the
# daemon's unix socket) as the kubelet would: a pod sandbox (host network: no CNI here),
# containers joining its namespaces, ExecSync, UpdateContainerResources, stop and remove.
# Private daemon, images built offline (busybox and a pause image), everything under a
# temporary directory. Prints PASS/FAIL per step, then "N passed, M failed".
# usage: cri.sh RUNTIME_BINARY
# With SHIM=path/to/containerd-shim-berth-v2 the handler is berth's own shim (runtime_type
# io.containerd.berth.v2, its state root $BERTH_SHIM_ROOT), which must serve the whole pod
# from one process: every `start` containerd runs for the pod answers the same address.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
RT=$(realpath "$(command -v "${1:?usage: cri.sh RUNTIME}" || echo "$1")")
W=$(mktemp -d /tmp/engine-cri.XXXXXX); chmod 755 "$W"
. "$here/lib.sh"
DPID=""
CG=/berth-cri-test
had_cg=$(find /sys/fs/cgroup -maxdepth 2 -name "${CG#/}" | head -1)
teardown() {
  stop_containerd k8s.io
  # The pod's cgroup parent, if this run made it (runc leaves parents behind).
  [ -n "$had_cg" ] || find /sys/fs/cgroup -maxdepth 3 -depth -type d -path "*${CG}*" -exec rmdir {} \; 2>/dev/null
}
trap teardown EXIT

# The client: its own cargo workspace (tonic and tokio stay out of berth and the default build).
CLIENT_DIR="$here/../cri-client"
TARGET=${CARGO_TARGET_DIR:-$here/../../target}
if ! (cd "$CLIENT_DIR" && CARGO_TARGET_DIR="$TARGET" cargo build -q 2>"$W/build.log"); then
  cat "$W/build.log"; no "build the CRI client"; finish; exit 1
fi

BERTH=${BERTH:-$here/../../target/debug/berth} sh "$here/../make-bundle.sh" "$W/bundle" >/dev/null
python3 "$here/oci-image.py" "$W/bundle/rootfs" "$W/busybox.tar" docker.io/library/busybox:test
python3 "$here/oci-image.py" --cmd '["sleep","2147483647"]' "$W/bundle/rootfs" "$W/pause.tar" localhost/berth-pause:test
HANDLER="runtime_type = \"io.containerd.runc.v2\"
    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.berth.options]
      BinaryName = \"$RT\"
      Root = \"$W/runtime-root\""
if [ -n "${SHIM:-}" ]; then
  # The shim on containerd's PATH is a wrapper recording each `start` and its answer.
  mkdir -p "$W/bin"
  printf '#!/bin/sh\ncase " $* " in *" start "*) a=$(%s "$@") || exit; echo "$a" >> %s/shim-starts; printf %%s "$a";; *) exec %s "$@";; esac\n' \
    "$(realpath "$SHIM")" "$W" "$(realpath "$SHIM")" > "$W/bin/containerd-shim-berth-v2"
  chmod +x "$W/bin/containerd-shim-berth-v2"
  export PATH="$W/bin:$PATH" BERTH_SHIM_ROOT="$W/runtime-root"
  HANDLER='runtime_type = "io.containerd.berth.v2"'
fi
start_containerd "$(cri_config localhost/berth-pause:test; cat <<CFG
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "berth"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth]
    $HANDLER
CFG
)"
C="ctr -n k8s.io -a $W/containerd.sock"
check "containerd: images imported" sh -c "$C images import $W/busybox.tar && $C images import $W/pause.tar"
"$TARGET/debug/berth-cri-client" "$W/containerd.sock" docker.io/library/busybox:test berth "$CG" "$W/runtime-root" > "$W/client.out"
cat "$W/client.out"
read -r p _ f _ < <(tail -1 "$W/client.out")
PASSED=$((PASSED + ${p:-0})); FAILED=$((FAILED + ${f:-1}))
[ "${f:-1}" = 0 ] || { echo "--- containerd log (last lines)"; tail -20 "$W/containerd.log"; }
if [ -n "${SHIM:-}" ]; then
  n=$(wc -l < "$W/shim-starts" 2>/dev/null || echo 0)
  check "shim: containerd ran start for the pod and its containers ($n)" test "$n" -ge 2
  eq "shim: one shim per pod (one address)" 1 "$(sort -u "$W/shim-starts" 2>/dev/null | wc -l)"
  eq "shim: no shim left running" "" "$(pgrep -f "containerd-shim-berth-v2 .*-address $W/" 2>/dev/null)"
fi
finish
