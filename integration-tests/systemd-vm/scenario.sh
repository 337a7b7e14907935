# berth's systemd cgroup driver against Debian's systemd as PID 1 (run by run.sh inside
# the QEMU guest). Counted lines: "PASS: ..." / "FAIL: ...". berth is in /opt/test.
. /lib/vmtest.sh
B=/tmp/bundle
R="berth --root /run/berth --systemd-cgroup"
cfg() { jq "$1" $B/config.json > $B/config.tmp && mv $B/config.tmp $B/config.json; }
show() { systemctl show -p "$2" --value "$1"; }
check_eq "systemd is PID 1" systemd "$(cat /proc/1/comm)"
mkbundle $B

# 1. docker's shape: system.slice:docker:ID, limits as unit properties and in the files
cfg '.process.args=["sleep","1000"] | .linux.cgroupsPath="system.slice:docker:c1" | .linux.resources={"memory":{"limit":67108864,"reservation":1048576},"pids":{"limit":32},"cpu":{"shares":512,"quota":50000,"period":100000},"blockIO":{"weight":500}}'
if $R run -d -b $B c1 </dev/null >/tmp/c1.log 2>&1; then ok "docker shape: run -d"; else not_ok "docker shape: run -d" "$(cat /tmp/c1.log)"; fi
U=docker-c1.scope; G=/sys/fs/cgroup/system.slice/$U
pid=$($R state c1 | jq .pid)
check_eq "docker shape: the scope is active" active "$(systemctl is-active $U)"
check_eq "docker shape: it is in system.slice" system.slice "$(show $U Slice)"
check_eq "docker shape: Delegate=yes" yes "$(show $U Delegate)"
check "docker shape: the init is in the scope" grep -qx "$pid" $G/cgroup.procs
check_eq "docker shape: MemoryMax" 67108864 "$(show $U MemoryMax)"
check_eq "docker shape: memory.max" 67108864 "$(cat $G/memory.max)"
check_eq "docker shape: MemoryLow" 1048576 "$(show $U MemoryLow)"
check_eq "docker shape: TasksMax" 32 "$(show $U TasksMax)"
check_eq "docker shape: pids.max" 32 "$(cat $G/pids.max)"
check_eq "docker shape: CPUQuotaPerSecUSec" 500ms "$(show $U CPUQuotaPerSecUSec)"
check_eq "docker shape: cpu.max" "50000 100000" "$(cat $G/cpu.max)"
check_eq "docker shape: CPUWeight as cpu.weight" "$(cat $G/cpu.weight)" "$(show $U CPUWeight)"
check_eq "docker shape: IOWeight (blkio 500 in io's scale)" 4950 "$(show $U IOWeight)"
check_eq "docker shape: io.weight (no BFQ here)" "default 4950" "$(cat $G/io.weight 2>&1)"
$R update c1 --memory 100M --pids-limit 10 >/tmp/u.log 2>&1 || cat /tmp/u.log
check_eq "update: MemoryMax" 104857600 "$(show $U MemoryMax)"
check_eq "update: memory.max" 104857600 "$(cat $G/memory.max)"
check_eq "update: TasksMax" 10 "$(show $U TasksMax)"
check_eq "update: pids.max" 10 "$(cat $G/pids.max)"
$R pause c1
check_eq "pause: cgroup.freeze" 1 "$(cat $G/cgroup.freeze)"
check_eq "pause: state" paused "$($R state c1 | jq -r .status)"
$R resume c1
check_eq "resume: state" running "$($R state c1 | jq -r .status)"
$R exec -d c1 sleep 500 </dev/null >/tmp/ex.log 2>&1
check_eq "exec: the process joins the scope" 2 "$(wc -l < $G/cgroup.procs)"
check_eq "ps --format json" 2 "$($R ps --format json c1 | jq length)"
check "events --stats: pids reported" sh -c "$R events --stats c1 | jq -e '.data.pids.current == 2'"
$R delete -f c1 >/tmp/d.log 2>&1 || cat /tmp/d.log
check "delete: the scope is gone" sh -c "! systemctl is-active -q $U"
check "delete: its cgroup is gone" test ! -e $G
check_eq "delete: no state left" "" "$(ls /run/berth | grep -v '^\.')"

# 2. the kubelet's shape: nested pod slices, cri-containerd scopes, a one-shot container
P=kubepods-burstable-pod0f1e.slice
cfg '.process.args=["cat","/proc/self/cgroup"] | .linux.cgroupsPath="'$P':cri-containerd:k1" | .linux.resources={"memory":{"limit":33554432}} | .linux.namespaces=[.linux.namespaces[] | select(.type != "cgroup")]'
out=$($R run -b $B k1 2>/tmp/k1.err); sed 's/^/    /' /tmp/k1.err
check_eq "kubelet shape: the container's cgroup" "0::/kubepods.slice/kubepods-burstable.slice/$P/cri-containerd-k1.scope" "$out"
check "kubelet shape: the scope is gone after run" sh -c "! systemctl is-active -q cri-containerd-k1.scope"
cfg '.process.args=["sleep","1000"] | .linux.cgroupsPath="'$P':cri-containerd:k2"'
$R run -d -b $B k2 </dev/null >/tmp/k2.log 2>&1 || { echo "    run -d k2:"; sed 's/^/    /' /tmp/k2.log; }
K=/sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/$P/cri-containerd-k2.scope
check_eq "kubelet shape: the pod slice holds the scope" "$P" "$(show cri-containerd-k2.scope Slice)"
check_eq "kubelet shape: memory.max" 33554432 "$(cat $K/memory.max 2>&1)"
$R kill k2 KILL; sleep 0.5; $R delete k2
check "kubelet shape: delete removed the scope" test ! -e $K

# 3b. the cgroupfs driver under systemd: systemd enables in the root's subtree_control
# only the controllers its own units need; a container's cpu limit below a path berth
# makes must still be written (cpu enabled from the root down, as runc does).
echo -cpu > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
cfg '.process.args=["sleep","1000"] | .linux.cgroupsPath="/fs1/c1" | .linux.resources={"cpu":{"shares":2048}}'
if berth --root /run/berth run -d -b $B f1 </dev/null >/tmp/f1.log 2>&1; then ok "cgroupfs driver under systemd: run -d with a cpu limit"; else not_ok "cgroupfs driver under systemd: run -d with a cpu limit" "$(cat /tmp/f1.log)"; fi
check_eq "cgroupfs driver under systemd: cpu.weight (shares 2048, runc's mapping)" 174 "$(cat /sys/fs/cgroup/fs1/c1/cpu.weight 2>&1)"
berth --root /run/berth delete -f f1
check "cgroupfs driver under systemd: its cgroups are gone" test ! -e /sys/fs/cgroup/fs1

# 4. containerd driving berth through its runc shim with the systemd driver (the shim
# passes --systemd-cgroup, as with SystemdCgroup = true), rootfs given directly.
if command -v containerd >/dev/null && command -v ctr >/dev/null; then
  mkdir -p /tmp/ctd /run/ctd
  cat > /tmp/ctd/config.toml <<CFG
version = 2
root = "/tmp/ctd/root"
state = "/run/ctd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "/run/ctd/containerd.sock"
CFG
  containerd --config /tmp/ctd/config.toml >/tmp/ctd/log 2>&1 &
  CPID=$!
  for i in $(seq 100); do [ -S /run/ctd/containerd.sock ] && break; sleep 0.1; done
  C="ctr -a /run/ctd/containerd.sock"
  cfg '.process.args=["sh"]'
  out=$(timeout 60 $C run --rm --runc-binary /opt/test/berth --runc-systemd-cgroup --cgroup system.slice:ctr:e1 --rootfs $B/rootfs e1 cat /proc/self/cgroup 2>&1)
  check_eq "containerd, systemd driver: ctr run --rm in its scope" "0::/system.slice/ctr-e1.scope" "$out"
  timeout 60 $C run -d --runc-binary /opt/test/berth --runc-systemd-cgroup --cgroup system.slice:ctr:e2 --rootfs $B/rootfs e2 sleep 1000 >/tmp/e2.log 2>&1
  check_eq "containerd, systemd driver: the task's scope is active" active "$(systemctl is-active ctr-e2.scope)"
  check_eq "containerd, systemd driver: exec" hi "$(timeout 60 $C task exec --exec-id x1 e2 echo hi 2>&1)"
  timeout 30 $C task kill -s SIGKILL e2; sleep 1; timeout 30 $C task delete e2 >/dev/null 2>&1; $C container delete e2 >/dev/null 2>&1
  check "containerd, systemd driver: the scope is gone after delete" sh -c "! systemctl is-active -q ctr-e2.scope"
  # 4b. berth's own shim (containerd-shim-berth-v2, on containerd's PATH) on cgroup2:
  # the cgroup, Stats as cgroup2 metrics, an OOM kill as a /tasks/oom event (memory.events
  # watched), exit status, clean-up.
  if command -v containerd-shim-berth-v2 >/dev/null; then
    S="--runtime io.containerd.berth.v2"
    out=$(timeout 60 $C run --rm $S --rootfs $B/rootfs s1 cat /proc/self/cgroup 2>&1)
    check_eq "berth shim, cgroup2: ctr run --rm in its cgroup" "0::/default/s1" "$out"
    timeout 60 $C run --rm $S --rootfs $B/rootfs s0 sh -c "exit 7" >/dev/null 2>&1
    check_eq "berth shim, cgroup2: the exit status" 7 "$?"
    timeout 60 $C run -d $S --memory-limit 33554432 --rootfs $B/rootfs s2 sleep 1000 >/tmp/s2.log 2>&1
    check_eq "berth shim, cgroup2: memory.max" 33554432 "$(cat /sys/fs/cgroup/default/s2/memory.max 2>&1)"
    out=$(timeout 30 $C task metrics s2 2>&1)
    case $out in *memory.usage*) case $out in *usage_in_bytes*) not_ok "berth shim, cgroup2: task metrics are cgroup2's" "$out";; *) ok "berth shim, cgroup2: task metrics are cgroup2's";; esac;; *) not_ok "berth shim, cgroup2: task metrics are cgroup2's" "$out";; esac
    $C events > /tmp/s2.events 2>&1 & EV=$!
    sleep 0.5
    timeout 60 $C task exec --exec-id hog s2 busybox tail /dev/zero >/tmp/hog.log 2>&1
    echo "rc=$?" >> /tmp/hog.log
    for i in $(seq 50); do grep -q /tasks/oom /tmp/s2.events && break; sleep 0.1; done
    kill $EV; wait $EV 2>/dev/null
    n=$(awk '$1=="oom_kill" {print ($2 > 0)}' /sys/fs/cgroup/default/s2/memory.events)
    if [ "$n" = 1 ]; then ok "berth shim, cgroup2: the kernel counted an OOM kill"; else not_ok "berth shim, cgroup2: the kernel counted an OOM kill" "hog: $(tr '\n' ' ' < /tmp/hog.log) memory.events: $(tr '\n' ' ' < /sys/fs/cgroup/default/s2/memory.events)"; fi
    check "berth shim, cgroup2: an OOM kill is a /tasks/oom event" grep -q /tasks/oom /tmp/s2.events
    timeout 30 $C task kill -s SIGKILL s2; sleep 1; timeout 30 $C task delete s2 >/dev/null 2>&1; $C container delete s2 >/dev/null 2>&1
    check "berth shim, cgroup2: the cgroup is gone after delete" test ! -e /sys/fs/cgroup/default/s2
  else
    not_ok "berth shim, cgroup2: containerd-shim-berth-v2 is in the guest" "$(ls /opt/test)"
  fi
  kill $CPID; wait $CPID 2>/dev/null
else
  echo "    (no containerd on the host: the engine checks are skipped)"
fi

# 5. rootless: the user's systemd (runc's systemdUser). A user manager runs as a
# delegated service of the user (what user@.service is, without PAM); berth runs in a
# service of that manager (systemd-run --user), as podman in a user unit does: the manager
# moves the init into the container's scope itself (from a login session's cgroup it asks
# PID 1 over the system bus, which this guest does not run).
RU=23450; RX=/run/user/$RU; RB=/tmp/rl-bundle
echo "rl:x:$RU:$RU::/tmp:/bin/sh" >> /etc/passwd; echo "rl:x:$RU:" >> /etc/group
mkdir -p $RX /etc/systemd/user /tmp/rl-spec && chown $RU:$RU $RX /tmp/rl-spec && chmod 700 $RX
printf '[Unit]\nDescription=berth user scenario\n' > /etc/systemd/user/berth-user.target
systemd-run --quiet --uid=$RU --gid=$RU -p Delegate=yes -p DefaultDependencies=no -p TimeoutStopSec=3 -E XDG_RUNTIME_DIR=$RX --unit=berth-user-mgr \
  /usr/lib/systemd/systemd --user --unit=berth-user.target --log-target=console
for i in $(seq 150); do [ -S $RX/systemd/private ] && break; sleep 0.1; done
check "rootless: the user's systemd is up" test -S $RX/systemd/private
asu() { XDG_RUNTIME_DIR=$RX /opt/test/setpriv --reuid=$RU --regid=$RU --clear-groups -- "$@"; }
UR="berth --systemd-cgroup"
asu berth spec --rootless --bundle /tmp/rl-spec
mkbundle $RB; mkdir -p $RB/rootfs/proc $RB/rootfs/sys $RB/rootfs/dev
jq --arg r "$RB/rootfs" '.root.path=$r | .process.terminal=false | .process.args=["sleep","1000"] | .linux.cgroupsPath=":berth:u1" | .linux.resources={"memory":{"limit":33554432},"pids":{"limit":16}}' /tmp/rl-spec/config.json > $RB/config.json
asu systemd-run --user --quiet -p DefaultDependencies=no /bin/sh -c "/opt/test/$UR run -d -b $RB u1 </dev/null >$RX/u1.log 2>&1; echo \$? > $RX/u1.rc"
for i in $(seq 100); do [ -s $RX/u1.rc ] && break; sleep 0.1; done
check_eq "rootless: run -d in a service of the user's systemd" 0 "$(cat $RX/u1.rc 2>&1)"; sed 's/^/    /' $RX/u1.log
# Below the manager's own cgroup (berth asks the manager for it: ControlGroup).
UC=/system.slice/berth-user-mgr.service/user.slice/berth-u1.scope; UG=/sys/fs/cgroup$UC
pid=$(asu $UR state u1 | jq .pid)
check_eq "rootless: the scope is the user manager's, active" active "$(asu systemctl --user is-active berth-u1.scope)"
check_eq "rootless: in the manager's user.slice (runc's default)" user.slice "$(asu systemctl --user show -p Slice --value berth-u1.scope)"
check_eq "rootless: the init is in the scope, below the manager's cgroup" "0::$UC" "$(cat /proc/$pid/cgroup)"
check "rootless: berth found the scope's directory (events --stats)" sh -c "XDG_RUNTIME_DIR=$RX setpriv --reuid=$RU --regid=$RU --clear-groups -- $UR events --stats u1 | jq -e '.data.pids.current == 1'"
check_eq "rootless: MemoryMax" 33554432 "$(asu systemctl --user show -p MemoryMax --value berth-u1.scope)"
check_eq "rootless: memory.max" 33554432 "$(cat $UG/memory.max 2>&1)"
check_eq "rootless: pids.max" 16 "$(cat $UG/pids.max 2>&1)"
check_eq "rootless: state in \$XDG_RUNTIME_DIR/berth" u1 "$(ls $RX/berth 2>&1 | grep -v '^\.')"
asu $UR update u1 --pids-limit 8 2>&1 | sed 's/^/    /'
check_eq "rootless: update sets TasksMax" 8 "$(asu systemctl --user show -p TasksMax --value berth-u1.scope)"
check_eq "rootless: and pids.max" 8 "$(cat $UG/pids.max 2>&1)"
asu $UR delete -f u1 2>&1 | sed 's/^/    /'
check "rootless: delete stopped the scope" sh -c "! XDG_RUNTIME_DIR=$RX setpriv --reuid=$RU --regid=$RU --clear-groups -- systemctl --user is-active -q berth-u1.scope"
check "rootless: its cgroup is gone" test ! -e $UG
systemctl stop berth-user-mgr.service

# 3. errors: a bad path is refused before anything is made
cfg '.linux.cgroupsPath="not-a-slice:x:y"'
$R run -b $B bad >/tmp/bad.log 2>&1
check "a cgroupsPath not in slice:prefix:name form is refused" grep -q 'must end in .slice' /tmp/bad.log
check_eq "nothing left in /run/berth" "" "$(ls /run/berth | grep -v '^\.')"
