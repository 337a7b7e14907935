# berth on a pure cgroup v2 host (run by run-in-vm.sh inside the QEMU guest).
# Counted lines: "PASS: ..." / "FAIL: ...". berth is in /opt/test.
. /lib/vmtest.sh
B=/tmp/bundle
R="berth --root /run/berth --log /tmp/berth.log --log-format json"
cfg() { jq "$1" $B/config.json > $B/config.tmp && mv $B/config.tmp $B/config.json; }
check_eq "host: only cgroup2 is mounted" "cgroup2" "$(awk '$3 ~ /^cgroup/ {print $3}' /proc/mounts | sort -u | xargs)"
mkbundle $B

# 1. a one-shot container, default cgroup path (/berth/<id>), removed afterwards
cfg '.process.args=["cat","/proc/self/cgroup"]'
check_eq "run: cgroup namespace rooted at the container" "0::/" "$($R run -b $B one 2>/dev/null)"
check_eq "run: nothing left below /sys/fs/cgroup/berth" "" "$(ls /sys/fs/cgroup/berth 2>/dev/null)"

# 2. limits from config.json, read back inside (cgroup2 mounted in the cgroup namespace)
cfg '.process.args=["cat","/sys/fs/cgroup/memory.max","/sys/fs/cgroup/pids.max","/sys/fs/cgroup/cpu.max","/sys/fs/cgroup/cpu.weight","/sys/fs/cgroup/memory.high","/sys/fs/cgroup/memory.swap.max"]
     | .linux.cgroupsPath="/cgv2test/lim"
     | .linux.resources += {"memory":{"limit":67108864,"swap":134217728},"pids":{"limit":32},"cpu":{"quota":50000,"period":100000,"shares":1024},"unified":{"memory.high":"61440000"}}'
out=$($R run -b $B lim 2>/dev/null); echo "$out" | sed 's/^/    /'
check_eq "limits: memory.max" 67108864 "$(echo "$out" | sed -n 1p)"
check_eq "limits: pids.max" 32 "$(echo "$out" | sed -n 2p)"
check_eq "limits: cpu.max" "50000 100000" "$(echo "$out" | sed -n 3p)"
check_eq "limits: cpu.weight from shares 1024 (runc >= 1.3.2, crun >= 1.23)" 100 "$(echo "$out" | sed -n 4p)"
check_eq "limits: unified memory.high (page-aligned)" 61440000 "$(echo "$out" | sed -n 5p)"
check_eq "limits: memory.swap.max = swap - limit" 67108864 "$(echo "$out" | sed -n 6p)"

# 3. device rules through the eBPF program: default devices usable, others denied
ln -sf busybox $B/rootfs/bin/mknod
probe='head -c1 /dev/zero > /dev/null && echo zero-ok; mknod /dev/l0 b 7 0 && { head -c1 /dev/l0 > /dev/null 2>/tmp/e; cat /tmp/e; true; }'
cfg '.process.args=["sh","-c","'"$probe"'"] | .linux.cgroupsPath="/cgv2test/dev" | .process.capabilities.bounding += ["CAP_MKNOD"] | .process.capabilities.effective += ["CAP_MKNOD"] | .process.capabilities.permitted += ["CAP_MKNOD"] | .linux.resources={"devices":[{"allow":false,"access":"rwm"}]}'
out=$($R run -b $B dev 2>&1); echo "$out" | sed 's/^/    /'
check_eq "devices: default devices stay usable" zero-ok "$(echo "$out" | head -1)"
check "devices: a device outside the rules is denied" sh -c "echo '$out' | grep -q 'Operation not permitted'"
cfg '.linux.resources={"devices":[{"allow":true,"access":"rwm"}]}'
out=$($R run -b $B dev2 2>&1)
check "devices: allow-all lets it open" sh -c "! echo '$out' | grep -q 'Operation not permitted'"

# 4. a detached container: update, pause/resume, events, ps, exec, kill --all, delete
cfg '.process.args=["sleep","1000"] | .linux.cgroupsPath="/cgv2test/det" | del(.linux.resources.memory, .linux.resources.pids, .linux.resources.cpu, .linux.resources.unified)'
G=/sys/fs/cgroup/cgv2test/det
if $R run -d -b $B det </dev/null >/tmp/det.log 2>&1; then ok "detached: run -d"; else not_ok "detached: run -d" "$(cat /tmp/det.log)"; fi
pid=$($R state det | jq .pid)
check "detached: init is in the cgroup" grep -qx "$pid" $G/cgroup.procs
cp -r $B /tmp/born && jq '.linux.cgroupsPath="/cgv2test/born" | .root.path="'$B'/rootfs"' $B/config.json > /tmp/born/config.json
berth --root /run/berth --debug --log /tmp/debug.log --log-format json create -b /tmp/born born </dev/null >/dev/null 2>&1
check "create: the init is born in its cgroup (clone3 CLONE_INTO_CGROUP)" grep -q CLONE_INTO_CGROUP /tmp/debug.log
check_eq "create: born-in init listed in its cgroup" "$($R state born | jq .pid)" "$(cat /sys/fs/cgroup/cgv2test/born/cgroup.procs)"
$R delete born
$R update det --memory 100M --pids-limit 10 --cpu-quota 20000 --cpu-period 100000 >/tmp/u.log 2>&1
check_eq "update: memory.max" 104857600 "$(cat $G/memory.max)"
check_eq "update: pids.max" 10 "$(cat $G/pids.max)"
check_eq "update: cpu.max" "20000 100000" "$(cat $G/cpu.max)"
echo '{"memory":{"limit":209715200},"pids":{"limit":-1}}' | $R update -r - det >/tmp/u2.log 2>&1
check_eq "update -r -: memory.max" 209715200 "$(cat $G/memory.max)"
check_eq "update -r -: pids.max back to max" max "$(cat $G/pids.max)"
$R pause det
check_eq "pause: cgroup.freeze" 1 "$(cat $G/cgroup.freeze)"
check_eq "pause: state" paused "$($R state det | jq -r .status)"
$R resume det
check_eq "resume: cgroup.freeze" 0 "$(cat $G/cgroup.freeze)"
check_eq "resume: state" running "$($R state det | jq -r .status)"
check "events --stats: memory usage reported" sh -c "$R events --stats det | jq -e '.data.memory.usage.usage > 0 and .data.pids.current == 1'"
$R exec -d det sleep 500 </dev/null >/tmp/ex.log 2>&1
check_eq "exec: the process joins the cgroup" 2 "$(wc -l < $G/cgroup.procs)"
check_eq "ps --format json" 2 "$($R ps --format json det | jq length)"
$R kill --all det KILL
sleep 1
check_eq "kill --all: cgroup empty" 0 "$(wc -l < $G/cgroup.procs)"
$R delete det
check "delete: the cgroup is gone" test ! -e $G

# 5. enforcement: pids.max stops a fork bomb, memory.max OOM-kills a hog (and events says so)
cfg '.process.args=["sh","-c","i=0; while [ $i -lt 50 ]; do sleep 100 & i=$((i+1)); done"] | .linux.cgroupsPath="/cgv2test/bomb" | .linux.resources.pids={"limit":5} | .linux.namespaces=[.linux.namespaces[] | select(.type != "pid")]'
$R create -b $B bomb </dev/null >/dev/null 2>&1; $R start bomb; sleep 2
check "pids: at most 5 tasks" test "$(cat /sys/fs/cgroup/cgv2test/bomb/pids.current)" -le 5
check "pids: forks were refused" sh -c "! grep -qx 'max 0' /sys/fs/cgroup/cgv2test/bomb/pids.events"
$R delete -f bomb
cfg '.process.args=["sh","-c","sleep 1; dd if=/dev/zero of=/dev/null bs=64M count=1"] | .linux.cgroupsPath="/cgv2test/hog" | .linux.resources={"memory":{"limit":16777216,"swap":16777216}}'
$R create -b $B hog </dev/null >/dev/null 2>&1
( $R events --interval 200ms hog > /tmp/events.log 2>&1 & )
$R start hog
for i in $(seq 50); do [ "$($R state hog | jq -r .status)" = stopped ] && break; sleep 0.2; done
check "oom: the hog was killed" sh -c "grep -q 'oom_kill [1-9]' /sys/fs/cgroup/cgv2test/hog/memory.events"
sleep 1
check "oom: events reported it" grep -q '"type":"oom"' /tmp/events.log
$R delete hog

# 6. rootless (issue 18): a user who is not root, in a cgroup2 subtree delegated to it (the
# directory and its cgroup.procs, cgroup.subtree_control, cgroup.threads are the user's,
# its controllers enabled), and the same user without delegation (cgroups skipped).
RU=23450; RB=/tmp/rl-bundle; D=/sys/fs/cgroup/deleg
mkbundle $RB; mkdir -p $RB/rootfs/proc $RB/rootfs/sys $RB/rootfs/dev
mkdir -p /tmp/rl-xdg && chown $RU:$RU /tmp/rl-xdg && chmod 700 /tmp/rl-xdg
mkdir $D $D/shell
chown $RU:$RU $D $D/cgroup.procs $D/cgroup.subtree_control $D/cgroup.threads
echo "+memory +pids" > $D/cgroup.subtree_control
asu() { XDG_RUNTIME_DIR=/tmp/rl-xdg /opt/test/setpriv --reuid=$RU --regid=$RU --clear-groups -- berth "$@"; }
asu spec --rootless --bundle /tmp/rl-spec 2>/dev/null || { mkdir -p /tmp/rl-spec && chown $RU /tmp/rl-spec && asu spec --rootless --bundle /tmp/rl-spec; }
jq --arg r "$RB/rootfs" '.root.path=$r | .process.terminal=false | .process.args=["sh","-c","id -u; cat /proc/self/cgroup"] | .linux.cgroupsPath="/deleg/c1" | .linux.resources={"memory":{"limit":33554432},"pids":{"limit":16}}' /tmp/rl-spec/config.json > $RB/config.json
# The user's shell is in the delegated subtree (a leaf of it): moving the init into
# /deleg/c1 needs write access to the common ancestor's cgroup.procs, /deleg's.
out=$(sh -c "echo \$\$ > $D/shell/cgroup.procs; XDG_RUNTIME_DIR=/tmp/rl-xdg exec /opt/test/setpriv --reuid=$RU --regid=$RU --clear-groups -- berth run -b $RB rl1" 2>/tmp/rl1.err)
echo "$out" | sed 's/^/    /'; sed 's/^/    /' /tmp/rl1.err
check_eq "rootless: root of its user namespace" 0 "$(echo "$out" | sed -n 1p)"
check_eq "rootless: in the delegated cgroup (spec --rootless has no cgroup namespace)" "0::/deleg/c1" "$(echo "$out" | sed -n 2p)"
jq '.process.args=["sleep","100"]' $RB/config.json > $RB/c.tmp && mv $RB/c.tmp $RB/config.json
sh -c "echo \$\$ > $D/shell/cgroup.procs; XDG_RUNTIME_DIR=/tmp/rl-xdg exec /opt/test/setpriv --reuid=$RU --regid=$RU --clear-groups -- berth run -d -b $RB rl2" </dev/null >/tmp/rl2.log 2>&1
pid=$(asu state rl2 | jq .pid)
check "rootless: the init is in /deleg/c1" grep -qx "$pid" $D/c1/cgroup.procs
check_eq "rootless: memory.max applied by the user" 33554432 "$(cat $D/c1/memory.max)"
check_eq "rootless: pids.max applied by the user" 16 "$(cat $D/c1/pids.max)"
check_eq "rootless: state in \$XDG_RUNTIME_DIR/berth" rl2 "$(ls /tmp/rl-xdg/berth | grep -v '^\.')"
asu update rl2 --pids-limit 8 >/tmp/rl-u.log 2>&1
check_eq "rootless: update in the delegated cgroup" 8 "$(cat $D/c1/pids.max)"
asu kill rl2 KILL; sleep 0.5; asu delete rl2
check "rootless: delete removed its cgroup" test ! -e $D/c1
# Without delegation: /berth/<id> is root's, skipped with a warning; the container runs.
jq '.process.args=["id","-u"] | del(.linux.cgroupsPath) | del(.linux.resources)' $RB/config.json > $RB/c.tmp && mv $RB/c.tmp $RB/config.json
out=$(asu run -b $RB rl3 2>/tmp/rl3.err)
check_eq "rootless, no delegation: runs" 0 "$out"
check "rootless, no delegation: says the cgroup is skipped" grep -q "rootless: no cgroup2 directory" /tmp/rl3.err
rmdir $D/shell 2>/dev/null; echo $$ > /sys/fs/cgroup/cgroup.procs 2>/dev/null; rmdir $D/shell $D 2>/dev/null
check "rootless: nothing left in the delegated subtree" test ! -e $D

# 7. --systemd-cgroup where no systemd runs: a clear error, nothing left.
jq '.process.args=["true"] | .linux.cgroupsPath="system.slice:docker:nosd"' $B/config.json > /tmp/nosd.json && cp /tmp/nosd.json $B/config.json
berth --root /run/berth --systemd-cgroup run -b $B nosd >/tmp/nosd.log 2>&1
check "systemd driver without systemd: says it cannot reach it" grep -q "cannot reach systemd" /tmp/nosd.log
check_eq "systemd driver without systemd: no state left" "" "$(ls /run/berth | grep -v '^\.')"

check_eq "nothing left under /sys/fs/cgroup/cgv2test" "" "$(ls /sys/fs/cgroup/cgv2test 2>/dev/null)"
check_eq "nothing left under /sys/fs/cgroup/berth" "" "$(ls /sys/fs/cgroup/berth 2>/dev/null)"
