#!/bin/bash
# berth's systemd cgroup driver against a real systemd: the cgroup2 QEMU guest of
# ../cgroupv2-vm booted with Debian's systemd as PID 1 (no D-Bus daemon: systemd's own
# bus socket, /run/systemd/private, serves the calls). Prints the scenario's checks and
# "N passed, M failed"; exit 0 iff none failed. usage: run.sh [SCENARIO]
# VM_CGROUPS (run-in-vm.sh) boots it with systemd's hybrid or legacy hierarchy instead,
# for scenario-v1.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
vm=$here/../cgroupv2-vm
berth=${BERTH:-$here/../../target/debug/berth}
bash "$vm/setup.sh" >/dev/null
w=$(mktemp -d /tmp/berth-sdvm.XXXXXX)
trap 'rm -rf "$w"' EXIT
mkdir -p "$w/bin" "$w/root/usr/lib/systemd" "$w/root/etc/systemd/system" "$w/root/usr/lib/x86_64-linux-gnu/systemd"
cp "$berth" "$w/bin/berth"
# berth's own containerd shim, for the engine checks on cgroup2 (scenario.sh 4b).
shim=${SHIM:-$here/../../target/debug/containerd-shim-berth-v2}
[ ! -x "$shim" ] || cp "$shim" "$w/bin/containerd-shim-berth-v2"
cp /usr/bin/systemctl /usr/bin/busctl /usr/bin/systemd-run /usr/bin/setpriv "$w/bin/"
# An engine with the systemd driver, as Kubernetes nodes run it (SystemdCgroup = true).
for b in containerd containerd-shim-runc-v2 ctr; do
  p=$(command -v $b || true); [ -z "$p" ] || cp "$p" "$w/bin/"
done
cp /usr/lib/systemd/systemd "$w/root/usr/lib/systemd/"
cp /etc/os-release "$w/root/etc/os-release" 2>/dev/null || cp /usr/lib/os-release "$w/root/etc/os-release"
: > "$w/root/etc/machine-id"
cp "$here/stage.sh" "$w/root/stage.sh"
cat > "$w/root/etc/systemd/system/berth.target" <<UNIT
[Unit]
Description=berth's systemd scenario
Wants=berth-test.service
UNIT
cat > "$w/root/etc/systemd/system/berth-test.service" <<UNIT
[Unit]
Description=berth's systemd scenario
DefaultDependencies=no
[Service]
Type=oneshot
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
ExecStart=/bin/sh /stage.sh
UNIT
GUEST_INIT=$here/init EXTRA_ROOT=$w/root VM_TIMEOUT=${VM_TIMEOUT:-300} VM_MEM=${VM_MEM:-2048} bash "$vm/run-in-vm.sh" "$w/bin" "${1:-$here/scenario.sh}"
