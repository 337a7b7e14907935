# Sourced by the engine scenarios (containerd.sh, podman.sh, docker.sh): result lines and
# the closing "N passed, M failed", and removal of the scenario's own mounts.
PASSED=0; FAILED=0
ok() { echo "PASS: $1"; PASSED=$((PASSED + 1)); }
no() { echo "FAIL: $1${2:+: $2}"; FAILED=$((FAILED + 1)); }
check() { local n=$1; shift; if "$@" >/dev/null 2>&1; then ok "$n"; else no "$n"; fi; }
eq() { if [ "$2" = "$3" ]; then ok "$1"; else no "$1" "expected '$2', got '$3'"; fi; }
# umount_below DIR: only mounts below the scenario's own directory, deepest first.
umount_below() {
  awk -v w="$1" '$5 ~ "^"w {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
}
finish() { echo "$PASSED passed, $FAILED failed"; [ "$FAILED" -eq 0 ]; }
