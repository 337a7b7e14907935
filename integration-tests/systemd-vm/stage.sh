#!/bin/sh
# Run by berth-test.service under systemd (PID 1): the scenario, between the markers
# run-in-vm.sh reads, then the end of the VM.
PATH=/opt/test/bin:/opt/test:/bin:/sbin:/usr/bin:/usr/sbin
export PATH HOME=/root TESTDIR=/opt/test
[ -f /etc/scenario.env ] && . /etc/scenario.env
mkdir -p /dev/pts /tmp; ln -sf /proc/self/fd /dev/fd 2>/dev/null
hostname sdvm
echo "=== CGV2VM BEGIN uptime=$(cut -d' ' -f1 /proc/uptime) ==="
cd /tmp
sh /scenario.sh
rc=$?
echo "=== CGV2VM END rc=$rc uptime=$(cut -d' ' -f1 /proc/uptime) ==="
sync
reboot -f
