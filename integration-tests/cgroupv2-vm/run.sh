#!/bin/bash
# berth's tests on a pure cgroup v2 host: a throw-away QEMU guest (see README.md here).
# Prints the guest's checks and "N passed, M failed"; exit 0 iff none failed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
berth=${BERTH:-$here/../../target/debug/berth}
bash "$here/setup.sh" >/dev/null
bin=$(mktemp -d /tmp/berth-v2bin.XXXXXX)
trap 'rm -rf "$bin"' EXIT
cp "$berth" "$bin/berth"
# The rootless section runs berth as another user.
cp /usr/bin/setpriv "$bin/setpriv"
bash "$here/run-in-vm.sh" "$bin" "$here/scenario-berth.sh"
