# The systemd driver on a v1 host (the guest booted with systemd's hybrid or legacy
# hierarchy: run.sh sets VM_CGROUPS): systemd makes the scope in the hierarchies it
# manages (name=systemd, memory, cpu,cpuacct, blkio, pids; cgroup2 on hybrid), berth
# makes, joins and removes the others (cpuset, freezer, devices, ...), as runc's v1
# systemd driver. Counted lines: "PASS: ..." / "FAIL: ...".
. /lib/vmtest.sh
B=/tmp/bundle; C=/sys/fs/cgroup
R="berth --root /run/berth --systemd-cgroup"
cfg() { jq "$1" $B/config.json > $B/config.tmp && mv $B/config.tmp $B/config.json; }
show() { systemctl show -p "$2" --value "$1"; }
mode=legacy; [ -d $C/unified ] && mode=hybrid
check_eq "systemd is PID 1 ($mode)" systemd "$(cat /proc/1/comm)"
check "v1 controllers are mounted" test -d $C/memory
mkbundle $B
cfg '.process.args=["sleep","1000"] | .linux.cgroupsPath="system.slice:docker:h1" | .linux.resources={"memory":{"limit":67108864},"pids":{"limit":32},"cpu":{"shares":512,"quota":50000,"period":100000,"cpus":"0"}}'
if $R run -d -b $B h1 </dev/null >/tmp/h1.log 2>&1; then ok "$mode: run -d"; else not_ok "$mode: run -d" "$(cat /tmp/h1.log)"; fi
U=docker-h1.scope; S=system.slice/$U
pid=$($R state h1 | jq .pid)
check_eq "$mode: the scope is active" active "$(systemctl is-active $U)"
for h in systemd memory pids cpu,cpuacct cpuset freezer devices; do
  check "$mode: the init is in $h:/$S" grep -qx "$pid" $C/$h/$S/cgroup.procs
done
[ $mode = hybrid ] && check "$mode: and in the unified hierarchy" grep -qx "$pid" $C/unified/$S/cgroup.procs
check_eq "$mode: MemoryMax" 67108864 "$(show $U MemoryMax)"
check_eq "$mode: memory.limit_in_bytes" 67108864 "$(cat $C/memory/$S/memory.limit_in_bytes)"
check_eq "$mode: pids.max" 32 "$(cat $C/pids/$S/pids.max)"
check_eq "$mode: cpu.cfs_quota_us" 50000 "$(cat $C/cpu,cpuacct/$S/cpu.cfs_quota_us)"
check_eq "$mode: cpuset.cpus (berth's hierarchy)" 0 "$(cat $C/cpuset/$S/cpuset.cpus)"
$R update h1 --memory 100M --pids-limit 10 >/tmp/u.log 2>&1 || cat /tmp/u.log
check_eq "$mode: update: MemoryMax" 104857600 "$(show $U MemoryMax)"
check_eq "$mode: update: memory.limit_in_bytes" 104857600 "$(cat $C/memory/$S/memory.limit_in_bytes)"
check_eq "$mode: update: pids.max" 10 "$(cat $C/pids/$S/pids.max)"
check "$mode: berth's hierarchies survive systemd's update" grep -qx "$pid" $C/cpuset/$S/cgroup.procs
$R pause h1
check_eq "$mode: pause: freezer.state" FROZEN "$(cat $C/freezer/$S/freezer.state)"
$R resume h1
check_eq "$mode: resume: state" running "$($R state h1 | jq -r .status)"
$R exec -d h1 sleep 500 </dev/null >/tmp/ex.log 2>&1
for h in memory cpuset freezer; do
  check_eq "$mode: exec joins $h" 2 "$(wc -l < $C/$h/$S/cgroup.procs)"
done
check_eq "$mode: ps" 2 "$($R ps --format json h1 | jq length)"
$R delete -f h1 >/tmp/d.log 2>&1 || cat /tmp/d.log
check "$mode: delete: the scope is gone" sh -c "! systemctl is-active -q $U"
check_eq "$mode: delete: no directory of it in any hierarchy" "" "$(ls -d $C/*/$S 2>/dev/null)"
check_eq "$mode: delete: no state left" "" "$(ls /run/berth | grep -v '^\.')"
# crun's order (a user namespace joined by path): the init joins its cgroups first thing,
# before the scope exists; the scope's hierarchies and berth's still hold it after.
cfg '.process.args=["sleep","1000"] | .linux.cgroupsPath="system.slice:docker:u0" | .linux.namespaces += [{"type":"user"}] | .linux.uidMappings=[{"containerID":0,"hostID":100000,"size":65536}] | .linux.gidMappings=[{"containerID":0,"hostID":100000,"size":65536}]'
chown -R 100000:100000 $B/rootfs
$R run -d -b $B u0 </dev/null >/tmp/u0.log 2>&1 || sed 's/^/    /' /tmp/u0.log
p0=$($R state u0 | jq .pid)
cfg '.linux.cgroupsPath="system.slice:docker:u1" | .linux.namespaces=[.linux.namespaces[] | select(.type != "user")] + [{"type":"user","path":"/proc/'$p0'/ns/user"}] | del(.linux.uidMappings) | del(.linux.gidMappings)'
$R run -d -b $B u1 </dev/null >/tmp/u1.log 2>&1 || sed 's/^/    /' /tmp/u1.log
p1=$($R state u1 | jq .pid)
check_eq "$mode, joined user namespace: the container's is the pod's" "$(readlink /proc/$p0/ns/user)" "$(readlink /proc/$p1/ns/user 2>&1)"
for h in memory pids cpuset freezer; do
  check "$mode, joined user namespace: the init is in $h:/system.slice/docker-u1.scope" grep -qx "$p1" $C/$h/system.slice/docker-u1.scope/cgroup.procs
done
$R delete -f u1; $R delete -f u0
chown -R 0:0 $B/rootfs
check_eq "$mode, joined user namespace: nothing left" "" "$(ls -d $C/*/system.slice/docker-u[01].scope 2>/dev/null)"
cfg 'del(.linux.uidMappings) | del(.linux.gidMappings) | .linux.namespaces=[.linux.namespaces[] | select(.type != "user")]'

# A create that fails after the scope started leaves nothing either.
cfg '.process.args=["/nonexistent"] | .linux.cgroupsPath="system.slice:docker:h2"'
$R run -b $B h2 >/tmp/h2.log 2>&1
check "$mode: a failing create says why" grep -q 'nonexistent' /tmp/h2.log
check_eq "$mode: and leaves no directory" "" "$(ls -d $C/*/system.slice/docker-h2.scope 2>/dev/null)"
check "$mode: and no scope" sh -c "! systemctl is-active -q docker-h2.scope"
