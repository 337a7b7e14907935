#!/usr/bin/env bash
# Runtime-spec v1.3.0 conformance checks, runtime-agnostic: spec-conformance/run.sh RUNTIME
# Each check quotes the normative sentence it tests (runtime.md, config.md, config-linux.md)
# and prints "PASS|FAIL|SKIP [area] sentence (detail)"; then a summary per area and, last,
# "N passed, M failed" (M counts failures only; skips say why and are properties of the host).
# Effects are observed from inside the container (busybox probes) and from the host.
set -uo pipefail
cd "$(dirname "$0")/.."
RT=$(command -v "${1:?usage: run.sh RUNTIME}" || echo "$1")
RTNAME=$(basename "$RT")
W=$(mktemp -d /tmp/conformance.XXXXXX)
chmod 755 "$W"   # a user namespace's root must be able to reach the rootfs
ROOT=$W/root
declare -A P F S
TOTAL_P=0; TOTAL_F=0
cleanup() {
  for id in $("$RT" --root "$ROOT" list -q 2>/dev/null); do "$RT" --root "$ROOT" delete -f "$id" >/dev/null 2>&1; done
  find /sys/fs/cgroup -depth -type d -path '*/berth-conformance*' -exec rmdir {} \; 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT

BERTH=${BERTH:-target/debug/berth} sh integration-tests/make-bundle.sh "$W/base" >/dev/null || { echo "cannot make a bundle"; exit 1; }
ROOTFS=$W/base/rootfs
n=0
# bundle JQ-EDIT: a fresh bundle (shared rootfs by absolute path; crun 1.8 wants ociVersion
# 1.0.x; an absolute cgroupsPath so no runtime makes cgroups below the caller's own).
bundle() {
  n=$((n + 1)); B=$W/b$n; mkdir -p "$B"
  jq --arg r "$ROOTFS" --arg cg "/berth-conformance/c$n" \
    '.ociVersion="1.0.2-dev" | .root.path=$r | .process.terminal=false | .linux.cgroupsPath=$cg | del(.linux.resources)' \
    "$W/base/config.json" | jq "$1" > "$B/config.json"
}
rt() { "$RT" --root "$ROOT" "$@"; }
runout() { rt run --bundle "$B" "c$n" </dev/null 2>&1; }
result() { # result STATUS AREA SENTENCE [DETAIL]
  local key=$2
  case $1 in
    PASS) P[$key]=$(( ${P[$key]:-0} + 1 )); TOTAL_P=$((TOTAL_P + 1));;
    FAIL) F[$key]=$(( ${F[$key]:-0} + 1 )); TOTAL_F=$((TOTAL_F + 1));;
    SKIP) S[$key]=$(( ${S[$key]:-0} + 1 ));;
  esac
  echo "$1 [$2] $3${4:+ ($4)}"
}
expect() { # expect AREA SENTENCE CONDITION-RESULT DETAIL
  if [ "$3" = 0 ]; then result PASS "$1" "$2"; else result FAIL "$1" "$2" "$4"; fi
}

# ---------------------------------------------------------------- runtime.md: lifecycle
bundle '.process.args=["sleep","100"]'
rt create --bundle "$B" life </dev/null >/dev/null 2>&1
st=$(rt state life 2>/dev/null)
echo "$st" | jq -e '.ociVersion and .id=="life" and .status=="created" and (.pid|type=="number") and .bundle' >/dev/null
expect lifecycle "state: \"ociVersion, id, status, pid, bundle\" are REQUIRED properties of the state" $? "$st"
pid=$(echo "$st" | jq -r .pid)
[ "$(cat /proc/$pid/comm 2>/dev/null)" != sleep ]
expect lifecycle "create: \"the user-specified program (from process) MUST NOT be run at this time\"" $? "comm=$(cat /proc/$pid/comm 2>/dev/null)"
rt create --bundle "$B" life </dev/null >/dev/null 2>&1
[ $? -ne 0 ]; expect lifecycle "create: \"If the ID provided is not unique ... the runtime MUST generate an error\"" $? "duplicate create succeeded"
rt start life >/dev/null 2>&1; sleep 0.2
[ "$(cat /proc/$pid/comm 2>/dev/null)" = sleep ] && [ "$(rt state life | jq -r .status)" = running ]
expect lifecycle "start: \"This operation MUST run the user-specified program as specified by process\"" $? "$(rt state life 2>&1 | jq -c .status)"
rt start life >/dev/null 2>&1
[ $? -ne 0 ]; expect lifecycle "start: \"Attempting to start a container that is not created MUST have no effect on the container and MUST generate an error\"" $? "second start succeeded"
rt delete life >/dev/null 2>&1
[ $? -ne 0 ] && rt state life >/dev/null 2>&1
expect lifecycle "delete: \"Attempting to delete a container that is not stopped MUST have no effect on the container and MUST generate an error\"" $? "running container deleted"
rt kill life KILL >/dev/null 2>&1; for i in $(seq 50); do [ "$(rt state life 2>/dev/null | jq -r .status)" = stopped ] && break; sleep 0.1; done
[ "$(rt state life | jq -r .status)" = stopped ]
expect lifecycle "kill: \"This operation MUST send the specified signal to the container process\"" $? "$(rt state life 2>&1 | jq -c .status)"
rt kill life TERM >/dev/null 2>&1
[ $? -ne 0 ]; expect lifecycle "kill: \"Attempting to send a signal to a container that is neither created nor running MUST have no effect on the container and MUST generate an error\"" $? "kill of a stopped container succeeded"
rt delete life >/dev/null 2>&1
! rt state life >/dev/null 2>&1 && [ ! -d /sys/fs/cgroup/pids/berth-conformance/c$n ] && [ ! -d /sys/fs/cgroup/berth-conformance/c$n ]
expect lifecycle "delete: \"Deleting a container MUST delete the resources that were created during the create step\"" $? "state or cgroup left"
bundle '.process.args=["true"] | .root.path="/nonexistent-rootfs"'
rt create --bundle "$B" bad </dev/null >/dev/null 2>&1
rc=$?; [ $rc -ne 0 ] && [ -z "$(rt list -q 2>/dev/null)" ]
expect lifecycle "\"generating an error MUST leave the state of the environment as if the operation were never attempted\"" $? "rc=$rc list=$(rt list -q 2>&1)"
bundle '.process.args=["true"] | .annotations={"org.example.k":"v"}'
rt create --bundle "$B" ann </dev/null >/dev/null 2>&1
[ "$(rt state ann 2>/dev/null | jq -r '.annotations["org.example.k"]')" = v ]
expect lifecycle "state: \"annotations ... MUST contain the list of annotations associated with the container\"" $? "$(rt state ann 2>&1 | jq -c .annotations)"
rt delete -f ann >/dev/null 2>&1

rt start no-such-container >/dev/null 2>&1
[ $? -ne 0 ]; expect lifecycle "start: \"Attempting to start a container that is not created MUST ... generate an error\" (an unknown ID)" $? "start of an unknown container succeeded"
bundle '.process.args=["sleep","100"] | .hostname="made-at-create" | .mounts += [{"destination":"/mnt/at-create","type":"tmpfs","source":"tmpfs"}]'
rt create --bundle "$B" atc </dev/null >/dev/null 2>&1
cpid=$(rt state atc 2>/dev/null | jq -r .pid)
h=$(nsenter -t "$cpid" -u hostname 2>&1); m=$(awk '$5 == "/mnt/at-create"' /proc/$cpid/mountinfo 2>/dev/null)
[ "$h" = made-at-create ] && [ -n "$m" ]
expect lifecycle "create: \"All of the properties configured in config.json except for process MUST be applied\" (hostname, mounts before start)" $? "hostname=$h mount=${m:-none}"
rt delete -f atc >/dev/null 2>&1

# ---------------------------------------------------------------- config.md
bundle '.process.args=["sh","-c","touch /x 2>/dev/null && echo WROTE; echo done"] | .root.readonly=true'
out=$(runout); [ "$out" = done ]
expect config "root.readonly: \"If true then the root filesystem MUST be read-only inside the container\"" $? "$out"
bundle '.process.args=["sh","-c","pwd; echo $FOO; id -u; id -g; id -G"] | .process.cwd="/tmp" | .process.env += ["FOO=bar"] | .process.user={"uid":65534,"gid":65534,"additionalGids":[7]}'
out=$(runout | tr '\n' ' ')
[ "$out" = "/tmp bar 65534 65534 65534 7 " ]; expect config "process: cwd, env, user.uid, user.gid and additionalGids are applied" $? "$out"
bundle '.process.args=["sh","-c","ulimit -n; ulimit -Hn"] | .process.rlimits=[{"type":"RLIMIT_NOFILE","soft":123,"hard":456}]'
out=$(runout | tr '\n' ' '); [ "$out" = "123 456 " ]
expect config "rlimits: \"the runtime MUST ... setrlimit\" with soft and hard" $? "$out"
bundle '.process.args=["hostname"] | .hostname="conf-host"'
out=$(runout); [ "$out" = conf-host ]
expect config "hostname: the container's hostname as seen by processes inside it" $? "$out"
bundle '.process.args=["sh","-c","ls -d /mnt/a /mnt/a/b"] | .mounts += [{"destination":"/mnt/a","type":"tmpfs","source":"tmpfs"},{"destination":"/mnt/a/b","type":"tmpfs","source":"tmpfs"}]'
out=$(runout | tr '\n' ' '); [ "$out" = "/mnt/a /mnt/a/b " ]
expect config "mounts: \"The runtime MUST mount entries in the listed order\" (a later mount on top of an earlier one)" $? "$out"
bundle '.process.args=["sh","-c","grep -E \"^(NoNewPrivs|CapBnd)\" /proc/self/status; cat /proc/self/oom_score_adj"] | .process.noNewPrivileges=true | .process.oomScoreAdj=100 | .process.capabilities={"bounding":["CAP_KILL"],"effective":["CAP_KILL"],"permitted":["CAP_KILL"]}'
out=$(runout | tr '\n\t' '  '); [ "$out" = "CapBnd: 0000000000000020 NoNewPrivs: 1 100 " ]
expect config "process: capabilities, noNewPrivileges and oomScoreAdj are applied" $? "$out"
bundle '.process.args=["true"] | .hooks={"poststop":[{"path":"/bin/false"}]}'
rt run --bundle "$B" hook </dev/null >/dev/null 2>&1
[ $? -eq 0 ] && [ -z "$(rt list -q)" ]
expect hooks "poststop: \"If any poststop hook fails, the runtime MUST log a warning, but the remaining hooks and lifecycle continue\"" $? "run failed or container left"
bundle ".process.args=[\"true\"] | .hooks={\"prestart\":[{\"path\":\"/bin/sh\",\"args\":[\"sh\",\"-c\",\"cat > $W/hookstate\"]}]}"
rt run --bundle "$B" hk </dev/null >/dev/null 2>&1
jq -e '.id=="hk" and (.pid|type=="number")' "$W/hookstate" >/dev/null 2>&1
expect hooks "hooks: \"The state of the container MUST be passed to hooks over stdin\"" $? "$(cat $W/hookstate 2>&1 | head -c 200)"
bundle '.process.args=["true"] | .hooks={"prestart":[{"path":"/bin/false"}]}'
rt run --bundle "$B" hkf </dev/null >/dev/null 2>&1
[ $? -ne 0 ] && [ -z "$(rt list -q)" ]
expect hooks "prestart: \"If any prestart hook fails, the runtime MUST generate an error, stop the container, and continue the lifecycle at step 12\"" $? "run succeeded or container left"

HO=hookorder-$$
hk() { echo "{\"path\":\"/bin/sh\",\"args\":[\"sh\",\"-c\",\"echo $1 >> $2\"]}"; }
bundle ".process.args=[\"true\"] | .hooks={\"prestart\":[$(hk prestart $ROOTFS/$HO)],\"createRuntime\":[$(hk createRuntime $ROOTFS/$HO)],\"createContainer\":[$(hk createContainer $ROOTFS/$HO)],\"startContainer\":[$(hk startContainer /$HO)],\"poststart\":[$(hk poststart $ROOTFS/$HO)],\"poststop\":[$(hk poststop $ROOTFS/$HO)]} | .root.readonly=false"
rt run --bundle "$B" order </dev/null >/dev/null 2>&1
out=$(tr '\n' ' ' < "$ROOTFS/$HO" 2>/dev/null); rm -f "$ROOTFS/$HO"
[ "$out" = "prestart createRuntime createContainer startContainer poststart poststop " ]
expect hooks "lifecycle steps 5-13: prestart, createRuntime, createContainer, startContainer, poststart, poststop are called in that order (startContainer's path in the container)" $? "$out"
bundle ".process.args=[\"sleep\",\"100\"] | .hooks={\"createContainer\":[{\"path\":\"/bin/sh\",\"args\":[\"sh\",\"-c\",\"readlink /proc/self/ns/mnt /proc/self/ns/uts > $W/ccns\"]}],\"createRuntime\":[{\"path\":\"/bin/sh\",\"args\":[\"sh\",\"-c\",\"readlink /proc/self/ns/mnt > $W/crns\"]}]}"
rt create --bundle "$B" hns </dev/null >/dev/null 2>&1
cpid=$(rt state hns 2>/dev/null | jq -r .pid)
[ "$(cat $W/ccns 2>/dev/null | tr '\n' ' ')" = "$(readlink /proc/$cpid/ns/mnt /proc/$cpid/ns/uts | tr '\n' ' ')" ] && [ "$(cat $W/crns 2>/dev/null)" = "$(readlink /proc/self/ns/mnt)" ]
expect hooks "createRuntime \"MUST be called ... in the runtime namespace\"; createContainer \"MUST be called ... in the container namespace\"" $? "cc=$(cat $W/ccns 2>&1 | tr '\n' ' ') cr=$(cat $W/crns 2>&1)"
rt delete -f hns >/dev/null 2>&1
bundle ".process.args=[\"true\"] | .hooks={\"prestart\":[{\"path\":\"/bin/sh\",\"args\":[\"sh\",\"-c\",\"echo \$0 \$FOO > $W/hookenv\",\"arg0\"],\"env\":[\"FOO=from-env\"]}]}"
rt run --bundle "$B" henv </dev/null >/dev/null 2>&1
out=$(cat $W/hookenv 2>&1); [ "$out" = "arg0 from-env" ]
expect hooks "hooks: args and env \"have the same semantics as\" execv's argv and environ" $? "$out"
bundle '.process.args=["true"] | .hooks={"prestart":[{"path":"/bin/sleep","args":["sleep","30"],"timeout":1}]}'
t0=$(date +%s); rt run --bundle "$B" hto </dev/null >/dev/null 2>&1; rc=$?; t1=$(date +%s)
[ $rc -ne 0 ] && [ $((t1 - t0)) -lt 20 ] && [ -z "$(rt list -q)" ]
expect hooks "timeout: \"the number of seconds before aborting the hook\" (a prestart hook past its timeout fails the create)" $? "rc=$rc after $((t1 - t0))s"

bundle '.process.args=[]'
rt run --bundle "$B" noargs </dev/null >/dev/null 2>&1
rc=$?; [ $rc -ne 0 ] && [ -z "$(rt list -q)" ]
expect config "process.args: \"at least one entry is REQUIRED\" (an empty args is an error, nothing created)" $? "rc=$rc"
bundle '.process.args=["true"] | .process.rlimits=[{"type":"RLIMIT_NOFILE","soft":10,"hard":10},{"type":"RLIMIT_NOFILE","soft":20,"hard":20}]'
rt run --bundle "$B" duprl </dev/null >/dev/null 2>&1
[ $? -ne 0 ]; expect config "rlimits: \"If rlimits contains duplicated entries with same type, the runtime MUST generate an error\"" $? "accepted"
bundle ".process.args=[\"true\"] | .hooks={\"poststop\":[{\"path\":\"/bin/sh\",\"args\":[\"sh\",\"-c\",\"cat > $W/poststop\"]}]}"
rt create --bundle "$B" ps1 </dev/null >/dev/null 2>&1; rt start ps1 >/dev/null 2>&1; sleep 0.3; rt delete ps1 >/dev/null 2>&1
jq -e '.id=="ps1"' "$W/poststop" >/dev/null 2>&1
expect hooks "poststop: \"MUST be called after the container is deleted but before the delete operation returns\"" $? "no poststop state received"

bundle ".process.args=[\"sh\",\"-c\",\"cat /mnt/b/f; touch /mnt/b/x 2>/dev/null && echo WROTE; stat -c %a /mnt/t; grep ' /mnt/s ' /proc/self/mountinfo | grep -c shared:\"] | .mounts += [{\"destination\":\"/mnt/b\",\"type\":\"bind\",\"source\":\"$W/bsrc\",\"options\":[\"rbind\",\"ro\"]},{\"destination\":\"/mnt/t\",\"type\":\"tmpfs\",\"source\":\"tmpfs\",\"options\":[\"mode=700\",\"size=1m\"]},{\"destination\":\"/mnt/s\",\"type\":\"tmpfs\",\"source\":\"tmpfs\",\"options\":[\"shared\"]}]"
mkdir -p "$W/bsrc"; echo content > "$W/bsrc/f"
out=$(runout | tr '\n' ' '); [ "$out" = "content 700 1 " ]
expect config "mounts: options are applied (bind with ro, tmpfs data mode=700, propagation \"shared\")" $? "$out"
bundle '.process.args=["sh","-c","umask"] | .process.user.umask=23'
out=$(runout); [ "$out" = 0027 ]
expect config "process.user.umask: \"umask of the user\" is applied" $? "$out"
bundle '.process.args=["sh","-c","grep CapAmb /proc/self/status"] | .process.user={"uid":1000,"gid":1000} | .process.capabilities={"bounding":["CAP_KILL"],"effective":["CAP_KILL"],"permitted":["CAP_KILL"],"inheritable":["CAP_KILL"],"ambient":["CAP_KILL"]}'
out=$(runout | tr '\t' ' '); [ "$out" = "CapAmb: 0000000000000020" ]
expect config "capabilities.ambient: the ambient set is applied (a non-root process keeps CAP_KILL)" $? "$out"
if command -v script >/dev/null; then
  bundle '.process.args=["sh","-c","tty; stat -c %t /dev/console"] | .process.terminal=true'
  out=$(script -qec "$RT --root $ROOT run --bundle $B c$n" /dev/null </dev/null 2>&1 | tr -d '\r' | sed 's/\^@//g' | tr '\n' ' ')
  echo "$out" | grep -qE '(^| )/dev/pts/[0-9]+ 88 '   # a runtime's own log lines may share the pty
  expect config "terminal: \"If set to true, the runtime MUST allocate a pseudoterminal pair for the process\" (and /dev/console is that pty)" $? "$out"
else result SKIP config "terminal" "no script(1) on this host to give the runtime a terminal"; fi

# ---------------------------------------------------------------- config-linux.md
bundle '.process.args=["sh","-c","for n in pid net ipc uts mnt; do readlink /proc/self/ns/$n; done"]'
out=$(runout); same=0
for k in pid net ipc uts mnt; do echo "$out" | grep -qx "$(readlink /proc/self/ns/$k)" && same=1; done
[ $same = 0 ]; expect namespaces "\"If a namespace type is specified ... without a path, the runtime MUST create a new namespace\"" $? "$out"
bundle '.process.args=["readlink","/proc/self/ns/net"] | .linux.namespaces=[.linux.namespaces[] | select(.type != "network")]'
out=$(runout); [ "$out" = "$(readlink /proc/self/ns/net)" ]
expect namespaces "\"If a namespace type is not specified ... the container MUST inherit the runtime namespace of that type\"" $? "$out"
unshare -u sleep 100 & holder=$!; sleep 0.2
bundle '.process.args=["readlink","/proc/self/ns/uts"] | .linux.namespaces=[.linux.namespaces[] | if .type=="uts" then .path="/proc/'$holder'/ns/uts" else . end] | del(.hostname)'
out=$(runout); [ "$out" = "$(readlink /proc/$holder/ns/uts)" ] && [ "$out" != "$(readlink /proc/self/ns/uts)" ]
expect namespaces "path: \"the runtime MUST place the container process in the namespace at that path\"" $? "$out"
kill $holder; wait $holder 2>/dev/null
bundle '.process.args=["true"] | .linux.namespaces += [{"type":"pid"}]'
rt run --bundle "$B" dupns </dev/null >/dev/null 2>&1
[ $? -ne 0 ]; expect namespaces "\"If a namespace type is specified more than once, the runtime MUST generate an error\"" $? "accepted"
bundle '.process.args=["true"] | .linux.namespaces=[.linux.namespaces[] | if .type=="pid" then .path="/proc/self/ns/net" else . end]'
rt run --bundle "$B" badns </dev/null >/dev/null 2>&1
[ $? -ne 0 ]; expect namespaces "\"If a path is specified that is not a namespace of the given type, the runtime MUST generate an error\" (pid path naming a net ns)" $? "accepted"
bundle '.process.args=["sh","-c","cat /proc/self/uid_map; id -u"] | .linux.namespaces += [{"type":"user"}] | .linux.uidMappings=[{"containerID":0,"hostID":100000,"size":65536}] | .linux.gidMappings=[{"containerID":0,"hostID":100000,"size":65536}]'
out=$(runout | tr -s ' \n' '  '); echo "$out" | grep -q "0 100000 65536 0"
expect namespaces "user namespace: uidMappings/gidMappings applied" $? "$out"
bundle '.process.args=["cat","/proc/uptime"] | .linux.namespaces += [{"type":"time"}] | .linux.timeOffsets={"boottime":{"secs":864000}}'
out=$(runout)
if echo "$out" | grep -qiE "time.*(not supported|unknown)|unknown namespace"; then result SKIP namespaces "time namespace with timeOffsets" "the runtime rejects time namespaces: $out"
else up=$(cut -d' ' -f1 /proc/uptime); awk -v a="${out%% *}" -v b="$up" 'BEGIN { exit !(a - b > 863000) }'
  expect namespaces "time namespace: \"timeOffsets\" applied" $? "$out"; fi
bundle '.process.args=["sh","-c","for d in null zero full random urandom tty; do [ -c /dev/$d ] || echo missing $d; done; readlink /dev/ptmx; echo ok"]'
out=$(runout | tr '\n' ' '); [ "$out" = "pts/ptmx ok " ]
expect devices "default devices: \"the runtime MUST supply these devices\" (/dev/null ... /dev/tty, /dev/ptmx)" $? "$out"
bundle '.process.args=["stat","-c","%t:%T %a","/dev/conf0"] | .linux.devices=[{"path":"/dev/conf0","type":"c","major":1,"minor":5,"fileMode":432}]'
out=$(runout); [ "$out" = "1:5 660" ]
expect devices "linux.devices: the device is created with its type, numbers and fileMode" $? "$out"
bundle '.process.args=["true"] | .linux.devices=[{"path":"/bin/sh","type":"c","major":1,"minor":3}]'
rt run --bundle "$B" devconf </dev/null >/dev/null 2>&1
rc=$?; [ $rc -ne 0 ] && [ -x "$ROOTFS/bin/busybox" ] && [ -L "$ROOTFS/bin/sh" ]
expect devices "devices: a file at path that is not the requested device: the runtime MUST generate an error (not replace it)" $? "rc=$rc"
bundle '.process.args=["sh","-c","awk \"\\$5 == \\\"/\\\"\" /proc/self/mountinfo"] | .linux.rootfsPropagation="private"'
out=$(runout); ! echo "$out" | grep -qE "shared:|master:" && [ -n "$out" ]
expect paths "rootfsPropagation: \"private\" leaves the root mount without shared or slave propagation" $? "$out"
bundle '.process.args=["sh","-c","cat /proc/kcore 2>/dev/null | wc -c; { echo 1 > /proc/sys/kernel/domainname; } 2>/dev/null && echo WROTE; echo end"]'
out=$(runout | tr '\n' ' '); [ "$out" = "0 end " ]
expect paths "maskedPaths \"MUST render them inaccessible\"; readonlyPaths \"MUST set them read-only\"" $? "$out"
bundle '.process.args=["cat","/proc/sys/net/ipv4/ip_forward"] | .linux.sysctl={"net.ipv4.ip_forward":"1"}'
out=$(runout); [ "$out" = 1 ]
expect sysctl "sysctl: kernel parameters are set in the container" $? "$out"
bundle '.process.args=["sleep","100"] | .linux.resources={"memory":{"limit":33554432},"pids":{"limit":17}}'
rt create --bundle "$B" res </dev/null >/dev/null 2>&1
rpid=$(rt state res 2>/dev/null | jq -r .pid)
mem=$(cat /sys/fs/cgroup/memory/berth-conformance/c$n/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/berth-conformance/c$n/memory.max 2>/dev/null)
pids=$(cat /sys/fs/cgroup/pids/berth-conformance/c$n/pids.max 2>/dev/null || cat /sys/fs/cgroup/berth-conformance/c$n/pids.max 2>/dev/null)
[ "$mem" = 33554432 ] && [ "$pids" = 17 ]
expect cgroups "cgroupsPath and resources: \"the runtime MUST apply\" memory and pids limits to the container's cgroup" $? "memory=$mem pids=$pids"
rt delete -f res >/dev/null 2>&1
bundle '.process.args=["sh","-c","unshare -U true 2>&1; echo rc=$?"] | .linux.seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["unshare"],"action":"SCMP_ACT_ERRNO","errnoRet":38}]}'
out=$(runout | tr '\n' ' '); echo "$out" | grep -q "Function not implemented"
expect seccomp "seccomp: a rule's action and errnoRet are applied" $? "$out"
bundle '.process.args=["sh","-c","uname -m"] | .linux.personality={"domain":"LINUX32"}'
out=$(runout); if echo "$out" | grep -qi "personality"; then result SKIP personality "personality LINUX32" "runtime rejects it: $out"; else [ "$out" = i686 ]; expect personality "personality: domain LINUX32" $? "$out"; fi
bundle '.process.args=["stat","-c","%u:%g","/dev/conf1"] | .linux.devices=[{"path":"/dev/conf1","type":"c","major":1,"minor":5,"uid":7,"gid":8}]'
out=$(runout); [ "$out" = "7:8" ]
expect devices "linux.devices: uid and gid \"of the device file\" are applied" $? "$out"
bundle '.process.args=["sh","-c","ls /sys/firmware | wc -l; touch /sys/firmware/x 2>/dev/null && echo WROTE; echo end"] | .linux.maskedPaths=["/sys/firmware"]'
out=$(runout | tr '\n' ' '); [ "$out" = "0 end " ]
expect paths "maskedPaths: a directory is rendered inaccessible (empty, not writable)" $? "$out"
bundle '.process.args=["cat","/proc/self/cgroup"]'
out=$(runout); echo "$out" | grep -q ":/berth-conformance/c$n\$"
expect cgroups "cgroupsPath: \"the runtime MUST consistently attach to the same place in the cgroups hierarchy given the same value\"" $? "$(echo "$out" | head -3 | tr '\n' ' ')"
bundle '.process.args=["cat","/proc/self/cgroup"] | .linux.namespaces += [{"type":"cgroup"}]'
out=$(runout); ! echo "$out" | grep -q "berth-conformance" && [ -n "$out" ]
expect namespaces "cgroup namespace: a new one roots the container's view at its own cgroup" $? "$(echo "$out" | head -3 | tr '\n' ' ')"
bundle '.process.args=["sleep","100"] | .linux.resources={"cpu":{"shares":512,"quota":50000,"period":100000}}'
rt create --bundle "$B" cpu </dev/null >/dev/null 2>&1
v1=/sys/fs/cgroup/cpu,cpuacct/berth-conformance/c$n; [ -d $v1 ] || v1=/sys/fs/cgroup/cpu/berth-conformance/c$n
if [ -d "$v1" ]; then got="$(cat $v1/cpu.shares $v1/cpu.cfs_quota_us $v1/cpu.cfs_period_us 2>&1 | tr '\n' ' ')"; want="512 50000 100000 "
else got="$(cat /sys/fs/cgroup/berth-conformance/c$n/cpu.max 2>&1)"; want="50000 100000"; fi
[ "$got" = "$want" ]
expect cgroups "resources.cpu: shares, quota and period are applied to the container's cgroup" $? "$got"
rt delete -f cpu >/dev/null 2>&1

out=$(rt features 2>/dev/null)
if [ -z "$out" ]; then result SKIP features "features" "the runtime has no features command"
else echo "$out" | jq -e '.ociVersionMin and .ociVersionMax and (.hooks|type=="array") and (.mountOptions|type=="array") and (.linux.namespaces|type=="array")' >/dev/null
  expect features "features.md: ociVersionMin and ociVersionMax are REQUIRED; hooks, mountOptions, linux.namespaces listed" $? "$(echo "$out" | head -c 200)"
  echo "$out" | jq -e '([.hooks[]] - ["prestart","createRuntime","createContainer","startContainer","poststart","poststop"] == [])
    and ([.linux.namespaces[]] - ["pid","network","mount","ipc","uts","user","cgroup","time"] == [])
    and all(.linux.capabilities[]?; startswith("CAP_")) and (.mountOptions | index("ro") != null)
    and ((.linux.cgroup // {}) | all(.[]; type == "boolean")) and ((.linux.seccomp.enabled // true) | type == "boolean")' >/dev/null
  expect features "features.md schema: hooks and namespaces are the spec's names, capabilities CAP_*, cgroup and seccomp flags booleans" $? "$(echo "$out" | jq -c '{hooks, ns: .linux.namespaces, cg: .linux.cgroup}' 2>&1 | head -c 300)"; fi

. spec-conformance/more.sh

echo
echo "== $RTNAME: per area (passed/failed/skipped)"
for a in $(printf '%s\n' "${!P[@]}" "${!F[@]}" "${!S[@]}" | sort -u); do
  printf '%-12s %s/%s/%s\n' "$a" "${P[$a]:-0}" "${F[$a]:-0}" "${S[$a]:-0}"
done
echo "$TOTAL_P passed, $TOTAL_F failed"
[ "$TOTAL_F" -eq 0 ]
