# Sourced by the engine scenarios (containerd.sh, cri.sh, podman.sh, docker.sh): result lines
# and the closing "N passed, M failed", a private containerd, removal of the scenario's mounts.
PASSED=0; FAILED=0
ok() { echo "PASS: $1"; PASSED=$((PASSED + 1)); }
no() { echo "FAIL: $1${2:+: $2}"; FAILED=$((FAILED + 1)); }
check() { local n=$1; shift; if "$@" >/dev/null 2>&1; then ok "$n"; else no "$n"; fi; }
eq() { if [ "$2" = "$3" ]; then ok "$1"; else no "$1" "expected '$2', got '$3'"; fi; }
# umount_below DIR: only mounts below the scenario's own directory, deepest first.
umount_below() {
  awk -v w="$1" '$5 ~ "^"w {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
}
# start_containerd [EXTRA_TOML]: a private containerd with everything under $W (config,
# root, state, sockets), extra config appended; sets DPID and waits for its socket.
start_containerd() {
  cat > "$W/config.toml" <<CFG
version = 2
root = "$W/root"
state = "$W/state"
[grpc]
  address = "$W/containerd.sock"
[ttrpc]
  address = "$W/containerd.sock.ttrpc"
${1:-}
CFG
  containerd --config "$W/config.toml" > "$W/containerd.log" 2>&1 &
  DPID=$!
  for _ in $(seq 50); do [ -S "$W/containerd.sock" ] && break; sleep 0.1; done
}
# cri_config PAUSE_IMAGE: the CRI plugin's section for the private containerd (no CNI:
# empty plugin dirs under $W; runtimes appended by the caller).
cri_config() {
  mkdir -p "$W/cni/bin" "$W/cni/conf"
  cat <<CFG
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$1"
  # Root lacks CAP_SYS_RESOURCE here: a negative oom_score_adj fails under any runtime.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$W/cni/bin"
    conf_dir = "$W/cni/conf"
CFG
}
# stop_containerd NAMESPACE...: kills and deletes every task and container of the private
# daemon in those containerd namespaces, stops the daemon (by its PID), removes the mounts
# below $W and $W itself.
stop_containerd() {
  local C ns t c
  for ns in "$@"; do
    C="ctr -n $ns -a $W/containerd.sock"
    for t in $($C task ls -q 2>/dev/null); do $C task kill -a -s SIGKILL "$t" >/dev/null 2>&1; sleep 0.3; $C task delete -f "$t" >/dev/null 2>&1; done
    for c in $($C containers ls -q 2>/dev/null); do $C containers delete "$c" >/dev/null 2>&1; done
  done
  [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
  umount_below "$W"
  rm -rf "$W"
}
# containers_conf FILE RUNTIME DIR ULIMITS: podman's private containers.conf (no network,
# cgroupfs manager, events and tmp under DIR, RUNTIME as the runtime, its JSON log read).
containers_conf() {
  local n; n=$(basename "$2")
  cat > "$1" <<CFG
[containers]
default_ulimits = [$4]
netns = "none"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$3/events.log"
runtime = "$n"
runtime_supports_json = ["$n"]
tmp_dir = "$3/tmp"
[engine.runtimes]
$n = ["$2"]
CFG
}
finish() { echo "$PASSED passed, $FAILED failed"; [ "$FAILED" -eq 0 ]; }
