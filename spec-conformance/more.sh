# Sourced by run.sh: the rest of the runtime-spec v1.3 MUSTs, one check each, quoting the
# sentence (runtime.md, config.md, config-linux.md, features.md, features-linux.md).
# Helpers (on top of run.sh's bundle/rt/expect/result):
#   chk AREA SENTENCE EDIT PROBE WANT   the probe (sh -c) prints WANT (lines joined by spaces)
#   chkre AREA SENTENCE EDIT PROBE RE   the probe's joined output matches the ERE
#   refuse AREA SENTENCE EDIT           create fails and leaves no container behind
#   runs AREA SENTENCE EDIT             run succeeds (exit status 0)

quiet() { rt run --bundle "$B" "c$n" </dev/null 2>/dev/null; }
probe_edit() { echo "$1 | .process.args=[\"sh\",\"-c\",$(jq -Rn --arg p "$2" '$p')]"; }
chk() { bundle "$(probe_edit "$3" "$4")"; local out; out=$(quiet | tr '\n' ' '); [ "$out" = "$5" ]; expect "$1" "$2" $? "$out"; }
chkre() { bundle "$(probe_edit "$3" "$4")"; local out; out=$(quiet | tr '\n' ' '); echo "$out" | grep -qE -- "$5"; expect "$1" "$2" $? "$out"; }
refuse() {
  bundle "$3"; local out rc left
  # Through a file: a runtime that wrongly creates the container leaves an init holding
  # its stderr, and a pipe would never end.
  rt create --bundle "$B" "c$n" </dev/null >/dev/null 2>"$W/refuse.err"; rc=$?; out=$(head -c 300 "$W/refuse.err")
  left=$(rt list -q 2>/dev/null); rt delete -f "c$n" >/dev/null 2>&1
  [ $rc -ne 0 ] && [ -z "$left" ]; expect "$1" "$2" $? "rc=$rc left=$left ${out:0:160}"
}
runs() { bundle "$3"; local out rc; out=$(rt run --bundle "$B" "c$n" </dev/null 2>&1); rc=$?; [ $rc -eq 0 ]; expect "$1" "$2" $? "rc=$rc ${out:0:160}"; }
TMPFS='.mounts += [{"destination":"/tmp","type":"tmpfs","source":"tmpfs"}]'
cg() { # cg CONTROLLER FILE: the container's cgroup file (v1 controller dir, else cgroup2)
  local d; for d in /sys/fs/cgroup/$1/berth-conformance/c$n /sys/fs/cgroup/berth-conformance/c$n /sys/fs/cgroup/unified/berth-conformance/c$n; do
    [ -e "$d/$2" ] && { cat "$d/$2"; return; }; done; echo "no $2"; }

# ---------------------------------------------------------------- runtime.md
bundle '.process.args=["sleep","100"]'
rt create --bundle "$B" st1 </dev/null >/dev/null 2>&1
s=$(rt state st1 2>/dev/null); p=$(echo "$s" | jq -r .pid)
[ -n "$p" ] && [ -d "/proc/$p" ] && [ "$(readlink /proc/$p/ns/pid)" != "$(readlink /proc/self/ns/pid)" ]
expect lifecycle "state: \"pid (int, REQUIRED when status is created or running on Linux) is the ID of the container process\" as the runtime sees it" $? "$s"
echo "$s" | jq -e '.bundle | startswith("/")' >/dev/null
expect lifecycle "state: \"bundle (string, REQUIRED) is the absolute path to the container's bundle directory\"" $? "$(echo "$s" | jq -c .bundle)"
echo "$s" | jq -e '.status == "created"' >/dev/null
expect lifecycle "create: \"Upon successful completion of this operation the status property of this container MUST be created\"" $? "$(echo "$s" | jq -c .status)"
jq '.process.args=["echo","changed"]' "$B/config.json" > "$B/c2" && mv "$B/c2" "$B/config.json"
rt start st1 >/dev/null 2>&1; sleep 0.2
[ "$(cat /proc/$p/comm 2>/dev/null)" = sleep ]
expect lifecycle "lifecycle step 2: \"Any updates to config.json after this step MUST NOT affect the container\"" $? "comm=$(cat /proc/$p/comm 2>&1)"
[ "$(rt state st1 2>/dev/null | jq -r .status)" = running ]
expect lifecycle "start: \"Upon successful completion of this operation the status property of this container MUST be running\"" $? "$(rt state st1 2>&1 | jq -c .status)"
rt kill st1 KILL >/dev/null 2>&1; for i in $(seq 50); do [ "$(rt state st1 2>/dev/null | jq -r .status)" = stopped ] && break; sleep 0.1; done
[ "$(rt state st1 2>/dev/null | jq -r .status)" = stopped ]
expect lifecycle "kill: \"When the process in the container is stopped ... the status property of this container MUST be stopped\" (SIGKILL)" $? "$(rt state st1 2>&1 | jq -c .status)"
rt delete st1 >/dev/null 2>&1 || rt delete -f st1 >/dev/null 2>&1
rt state st1 >/dev/null 2>&1; [ $? -ne 0 ]
expect lifecycle "state: \"Attempting to query a container that does not exist MUST generate an error\"" $? "state of a deleted container succeeded"
rt state >/dev/null 2>&1; [ $? -ne 0 ]
expect lifecycle "state: \"This operation MUST generate an error if it is not provided the ID of a container\"" $? "state without an ID succeeded"
rt create --bundle "$B" </dev/null >/dev/null 2>&1; rc=$?; [ $rc -ne 0 ] && [ -z "$(rt list -q 2>/dev/null)" ]
expect lifecycle "create: \"This operation MUST generate an error if it is not provided a path to the bundle and the container ID\"" $? "rc=$rc"
rt start >/dev/null 2>&1; [ $? -ne 0 ]
expect lifecycle "start: \"This operation MUST generate an error if it is not provided the container ID\"" $? "start without an ID succeeded"
rt kill >/dev/null 2>&1; [ $? -ne 0 ]
expect lifecycle "kill: \"This operation MUST generate an error if it is not provided the container ID\"" $? "kill without an ID succeeded"
rt delete >/dev/null 2>&1; [ $? -ne 0 ]
expect lifecycle "delete: \"This operation MUST generate an error if it is not provided the container ID\"" $? "delete without an ID succeeded"
rt delete no-such-container-x >/dev/null 2>&1; [ $? -ne 0 ]
expect lifecycle "delete: attempting to delete a container that does not exist MUST generate an error" $? "delete of an unknown ID succeeded"
rt kill no-such-container-x KILL >/dev/null 2>&1; [ $? -ne 0 ]
expect lifecycle "kill: a container that is neither created nor running (here: none) MUST generate an error" $? "kill of an unknown ID succeeded"
bundle '.process.args=["true"]'; rt create --bundle "$B" "../escape" </dev/null >/dev/null 2>&1; rc=$?
[ $rc -ne 0 ] && [ ! -e "$W/escape" ] && [ -z "$(rt list -q 2>/dev/null)" ]
expect lifecycle "create: \"If the ID provided is ... not valid in any other way, the implementation MUST generate an error\" (../escape)" $? "rc=$rc"
bundle '.process.args=["sleep","100"]'
rt create --bundle "$B" kc </dev/null >/dev/null 2>&1; kp=$(rt state kc 2>/dev/null | jq -r .pid)
rt kill kc KILL >/dev/null 2>&1; for i in $(seq 50); do [ -d /proc/$kp ] || break; sleep 0.1; done
[ ! -d "/proc/$kp" ] && [ "$(rt state kc 2>/dev/null | jq -r .status)" = stopped ]
expect lifecycle "kill: \"This operation MUST send the specified signal to the container process\" (a created container)" $? "pid $kp $(rt state kc 2>&1 | jq -c .status)"
rt delete kc >/dev/null 2>&1
bundle '.process.args=["sleep","100"]'
rt create --bundle "$B" dx </dev/null >/dev/null 2>&1; rt start dx >/dev/null 2>&1; dp=$(rt state dx 2>/dev/null | jq -r .pid)
rt delete dx >/dev/null 2>&1; rc=$?
[ $rc -ne 0 ] && [ -d "/proc/$dp" ] && [ "$(rt state dx 2>/dev/null | jq -r .status)" = running ]
expect lifecycle "delete: \"Attempting to delete a container that is not stopped MUST have no effect on the container\" (it still runs)" $? "rc=$rc"
rt delete -f dx >/dev/null 2>&1
mkdir -p "$W/keep"; echo kept > "$W/keep/f"
bundle ".process.args=[\"true\"] | .mounts += [{\"destination\":\"/mnt\",\"type\":\"bind\",\"source\":\"$W/keep\",\"options\":[\"rbind\"]}]"
rt run --bundle "$B" keep </dev/null >/dev/null 2>&1
[ "$(cat "$W/keep/f" 2>/dev/null)" = kept ]
expect lifecycle "delete: \"resources associated with the container, but not created by this container, MUST NOT be deleted\" (a bind source)" $? "$(ls -la "$W/keep" 2>&1 | head -3)"
refuse lifecycle "lifecycle step 2: \"If the runtime is unable to create the environment specified in the config.json, it MUST generate an error\" (a bind source that does not exist)" ".process.args=[\"true\"] | .mounts += [{\"destination\":\"/mnt\",\"type\":\"bind\",\"source\":\"$W/no-such-dir\",\"options\":[\"rbind\"]}]"
refuse lifecycle "create: \"If the runtime cannot apply a property as specified in the configuration, it MUST generate an error and a new container MUST NOT be created\" (a sysctl the kernel lacks)" '.process.args=["true"] | .linux.sysctl={"kernel.no_such_sysctl_at_all":"1"}'

# ---------------------------------------------------------------- config.md
refuse config "ociVersion \"MUST be in SemVer v2.0.0 format\" (\"invalid\" is refused)" '.ociVersion="invalid"'
refuse config "root.path: the rootfs must exist (\"If the runtime is unable to create the environment ... it MUST generate an error\")" '.root.path="/nonexistent-rootfs-x"'
cp -a "$ROOTFS" "$W/rwroot"
chk config "root.readonly false: the root filesystem is writable" ".root.readonly=false | .root.path=\"$W/rwroot\"" 'touch /rw-check && echo ok && rm /rw-check' "ok "
chk config "process.cwd \"is the working directory that will be set for the executable\"" '.process.cwd="/etc"' 'pwd' "/etc "
refuse config "process.cwd: \"This value MUST be an absolute path\"" '.process.cwd="relative/dir"'
chk config "process.env \"with the same semantics as IEEE Std 1003.1-2008's environ\"" '.process.env=["PATH=/bin","A=1","B=two words"]' 'echo "$A|$B|$PATH"' "1|two words|/bin "
chk config "process.args: \"that entry is used with the same semantics as execvp's file\" (found through PATH)" '.process.env=["PATH=/nowhere:/bin"]' 'which ls' "/bin/ls "
chk config "process.args[0] is argv[0] (\"with similar semantics to IEEE Std 1003.1-2008 execvp's argv\")" '.' 'echo $0' "sh "
chk config "consoleSize: \"Runtimes MUST ignore consoleSize if terminal is false or unset\"" '.process.consoleSize={"height":10,"width":20} | .process.terminal=false' '[ -t 0 ] || echo no-tty' "no-tty "
refuse config "rlimits: \"the runtime MUST generate an error for any values which cannot be mapped to a relevant kernel interface\" (RLIMIT_BOGUS)" '.process.args=["true"] | .process.rlimits=[{"type":"RLIMIT_BOGUS","soft":1,"hard":1}]'
chk config "rlimits: a limit of each kind is applied (RLIMIT_NPROC, RLIMIT_CORE via getrlimit)" '.process.rlimits=[{"type":"RLIMIT_NPROC","soft":300,"hard":400},{"type":"RLIMIT_CORE","soft":0,"hard":1024}]' 'ulimit -u; ulimit -Hu; ulimit -Hc' "300 400 2 "
chk config "oomScoreAdj: \"If oomScoreAdj is set, the runtime MUST set oom_score_adj to the given value\" (another one)" '.process.oomScoreAdj=321' 'cat /proc/self/oom_score_adj' "321 "
mine=$(cat /proc/self/oom_score_adj)
chk config "oomScoreAdj: \"If oomScoreAdj is not set, the runtime MUST NOT change the value of oom_score_adj\"" 'del(.process.oomScoreAdj)' 'cat /proc/self/oom_score_adj' "$mine "
chk config "process.user: uid and gid \"in the container namespace\" without additionalGids" '.process.user={"uid":123,"gid":456}' 'id -u; id -g; id -G' "123 456 456 "
chk config "domainname \"specifies the container's domainname as seen by processes running inside the container\"" '.domainname="conf.example"' 'cat /proc/sys/kernel/domainname' "conf.example "
refuse config "hostname: without its own UTS namespace the runtime cannot set it (\"MUST generate an error\")" '.process.args=["true"] | .linux.namespaces=[.linux.namespaces[] | select(.type != "uts")] | .hostname="x"'
chk config "process.capabilities: the bounding and permitted sets are exactly those listed (for root the effective set follows the permitted one across execve)" '.process.capabilities={"bounding":["CAP_CHOWN","CAP_KILL"],"effective":["CAP_CHOWN"],"permitted":["CAP_CHOWN","CAP_KILL"]}' 'grep -E "^Cap(Eff|Prm|Bnd)" /proc/self/status | tr -d "\t" | cut -d: -f2' "0000000000000021 0000000000000021 0000000000000021 "
chk config "noNewPrivileges false: no_new_privs is not set" '.process.noNewPrivileges=false' 'grep NoNewPrivs /proc/self/status | cut -f2' "0 "
chk config "mounts: a relative destination \"MUST be interpreted as relative to /\"" '.mounts += [{"destination":"mnt","type":"tmpfs","source":"tmpfs"}]' 'awk "\$5 == \"/mnt\" {print \$5}" /proc/self/mountinfo' "/mnt "
chk config "mounts: \"The runtime MUST mount entries in the listed order\" (the second of two tmpfs on one destination is on top)" '.mounts += [{"destination":"/mnt","type":"tmpfs","source":"tmpfs","options":["size=1m"]},{"destination":"/mnt","type":"tmpfs","source":"tmpfs","options":["size=2m"]}]' 'df -k /mnt | tail -1 | awk "{print \$2}"' "2048 "
chk config "mounts: \"nosuid, noexec, nodev\" options are applied to a tmpfs" '.mounts += [{"destination":"/mnt","type":"tmpfs","source":"tmpfs","options":["nosuid","noexec","nodev"]}]' 'awk "\$5 == \"/mnt\" {print \$6}" /proc/self/mountinfo' "rw,nosuid,nodev,noexec,relatime "
mkdir -p "$W/rec/sub"
chk config "mounts: the recursive option rro makes every submount of an rbind read-only (the host's /dev and its /dev/shm)" '.mounts += [{"destination":"/mnt","type":"bind","source":"/dev","options":["rbind","rro","nosuid","noexec"]}]' 'touch /mnt/shm/conformance-x 2>/dev/null && echo WROTE-SUB; awk "\$5 == \"/mnt/shm\" {print substr(\$6, 1, 2)}" /proc/self/mountinfo | sort -u' "ro "
chk config "mounts: a bind mount's ro flag (\"remount\" semantics of mount(2)) is applied" ".mounts += [{\"destination\":\"/mnt\",\"type\":\"bind\",\"source\":\"$W/rec\",\"options\":[\"bind\",\"ro\"]}]" 'touch /mnt/x 2>/dev/null && echo WROTE; echo end' "end "
chk config "extensibility: \"Runtimes MAY log unknown properties but MUST otherwise ignore them\"" '.org_example_unknown={"a":1} | .process.unknownField=3 | .linux.unknownLinuxField=true' 'echo ran' "ran "
chk config "annotations are kept for the container (state) and unknown keys are not an error" '.annotations={"org.example.a":"1","com.example.b":"two"}' 'echo ran' "ran "
refuse config "annotations: \"Keys MUST NOT be an empty string\"" '.process.args=["true"] | .annotations={"":"v"}'
refuse config "\"Runtimes MUST generate an error when invalid or unsupported values are encountered\" (an unknown namespace type)" '.process.args=["true"] | .linux.namespaces += [{"type":"bogus"}]'
refuse config "\"Runtimes MUST generate an error when invalid or unsupported values are encountered\" (an unknown rootfsPropagation)" '.process.args=["true"] | .linux.rootfsPropagation="sideways"'
refuse config "\"Runtimes MUST generate an error when invalid or unsupported values are encountered\" (an unknown personality domain)" '.process.args=["true"] | .linux.personality={"domain":"BOGUS"}'
refuse config "\"Runtimes MUST generate an error when invalid or unsupported values are encountered\" (an unknown seccomp action)" '.process.args=["true"] | .linux.seccomp={"defaultAction":"SCMP_ACT_SOMETIMES"}'

# ---------------------------------------------------------------- hooks (config.md "POSIX-platform Hooks")
H="$W/hooklog$n"
bundle ".process.args=[\"true\"] | .hooks={\"prestart\":[{\"path\":\"/bin/sh\",\"args\":[\"sh\",\"-c\",\"echo one >> $H\"]},{\"path\":\"/bin/sh\",\"args\":[\"sh\",\"-c\",\"echo two >> $H\"]},{\"path\":\"/bin/sh\",\"args\":[\"sh\",\"-c\",\"echo three >> $H\"]}]}"
rt run --bundle "$B" ho </dev/null >/dev/null 2>&1
[ "$(tr '\n' ' ' < "$H" 2>/dev/null)" = "one two three " ]
expect hooks "\"Hooks MUST be called in the listed order\"" $? "$(cat "$H" 2>&1 | tr '\n' ' ')"
refuse hooks "path: \"This specification extends the IEEE standard in that path MUST be absolute\"" '.process.args=["true"] | .hooks={"prestart":[{"path":"bin/true"}]}'
refuse hooks "timeout: \"If set, timeout MUST be greater than zero\"" '.process.args=["true"] | .hooks={"prestart":[{"path":"/bin/true","timeout":0}]}'
refuse hooks "createRuntime: a failing hook is an error of create (\"the runtime MUST generate an error, stop the container\")" '.process.args=["true"] | .hooks={"createRuntime":[{"path":"/bin/false"}]}'
refuse hooks "createContainer: a failing hook is an error of create (\"the runtime MUST generate an error, stop the container\")" '.process.args=["true"] | .hooks={"createContainer":[{"path":"/bin/false"}]}'
bundle '.process.args=["sleep","100"] | .hooks={"startContainer":[{"path":"/bin/false"}]}'
rt create --bundle "$B" sc </dev/null >/dev/null 2>&1; rt start sc >/dev/null 2>&1; rc=$?
sleep 0.3; st=$(rt state sc 2>/dev/null | jq -r .status)
[ $rc -ne 0 ] || [ "$st" = stopped ]
expect hooks "startContainer: \"If any startContainer hook fails, the runtime MUST generate an error, stop the container\"" $? "rc=$rc status=$st"
rt delete -f sc >/dev/null 2>&1
M="$W/marker$n"
bundle "$TMPFS | .process.args=[\"sh\",\"-c\",\"cat /tmp/from-hook\"] | .hooks={\"startContainer\":[{\"path\":\"/bin/sh\",\"args\":[\"sh\",\"-c\",\"echo before > /tmp/from-hook\"]}]}"
out=$(quiet); [ "$out" = before ]
expect hooks "startContainer: \"MUST be called before the user-specified process is executed as part of the start operation\"" $? "$out"
bundle ".process.args=[\"sleep\",\"100\"] | .hooks={\"poststart\":[{\"path\":\"/bin/sh\",\"args\":[\"sh\",\"-c\",\"sleep 0.3; echo done > $M\"]}]}"
rt create --bundle "$B" pst </dev/null >/dev/null 2>&1; rt start pst >/dev/null 2>&1
[ "$(cat "$M" 2>/dev/null)" = done ]
expect hooks "poststart: \"MUST be called after the user-specified process is executed but before the start operation returns\"" $? "$(cat "$M" 2>&1)"
rt delete -f pst >/dev/null 2>&1
printf '#!/bin/sh\np=$(sed "s/.*\\"pid\\":\\([0-9]*\\).*/\\1/")\ngrep -c "mnt/hookseen " /proc/$p/mountinfo > %s\n' "$M.cr" > "$W/crhook.sh"; chmod +x "$W/crhook.sh"
bundle ".process.args=[\"true\"] | .mounts += [{\"destination\":\"/mnt/hookseen\",\"type\":\"tmpfs\",\"source\":\"tmpfs\"}] | .hooks={\"createRuntime\":[{\"path\":\"$W/crhook.sh\"}]}"
rt run --bundle "$B" crm </dev/null >/dev/null 2>&1
[ "$(cat "$M.cr" 2>/dev/null)" = 1 ]
expect hooks "createRuntime: \"hooks authors should only expect from the runtime that the mount namespace have been created and the mount operations performed\"" $? "$(cat "$M.cr" 2>&1)"
bundle ".process.args=[\"true\"] | .hooks={\"createContainer\":[{\"path\":\"/bin/sh\",\"args\":[\"sh\",\"-c\",\"cat > $M.cc\"]}]}"
rt run --bundle "$B" ccs </dev/null >/dev/null 2>&1
jq -e '.id=="ccs" and (.status=="creating" or .status=="created")' "$M.cc" >/dev/null 2>&1
expect hooks "createContainer: the state passed on stdin is the container's (\"The state of the container MUST be passed to hooks over stdin\")" $? "$(head -c 200 "$M.cc" 2>&1)"

# ---------------------------------------------------------------- config-linux.md: namespaces
for t in ipc uts pid; do
  k=$t
  chk namespaces "$t: \"If a namespace type is not specified in the namespaces array, the container MUST inherit the runtime namespace of that type\"" ".linux.namespaces=[.linux.namespaces[] | select(.type != \"$t\")] | del(.hostname)" "readlink /proc/self/ns/$k" "$(readlink /proc/self/ns/$k) "
done
for t in ipc uts; do
  chkre namespaces "$t: \"If path is not specified, the runtime MUST create a new container namespace of type $t\"" '.' "readlink /proc/self/ns/$t" "^$t:\\[[0-9]+\\] \$"
done
bundle '.process.args=["sh","-c","readlink /proc/self/ns/ipc; readlink /proc/self/ns/uts"]'; out=$(quiet | tr '\n' ' ')
[ "$out" != "$(readlink /proc/self/ns/ipc) $(readlink /proc/self/ns/uts) " ] && [ -n "$out" ]
expect namespaces "ipc and uts listed without path: new namespaces, not the runtime's" $? "$out"
refuse namespaces "path: \"This value MUST be an absolute path in the runtime mount namespace\"" '.process.args=["true"] | .linux.namespaces=[.linux.namespaces[] | if .type=="uts" then .path="proc/1/ns/uts" else . end] | del(.hostname)'
refuse namespaces "path naming no namespace at all: \"The runtime MUST generate an error if path is not associated with a namespace of type type\"" ".process.args=[\"true\"] | .linux.namespaces=[.linux.namespaces[] | if .type==\"ipc\" then .path=\"$W\" else . end]"
unshare -i sleep 100 & nsi=$!; sleep 0.2
chk namespaces "ipc by path: \"The runtime MUST place the container process in the namespace associated with that path\"" ".linux.namespaces=[.linux.namespaces[] | if .type==\"ipc\" then .path=\"/proc/$nsi/ns/ipc\" else . end]" 'readlink /proc/self/ns/ipc' "$(readlink /proc/$nsi/ns/ipc) "
kill $nsi 2>/dev/null; wait $nsi 2>/dev/null
chk namespaces "network: a new network namespace has only its own loopback" '.' 'ls /sys/class/net' "lo "
chk namespaces "pid: the container process is pid 1 of a new pid namespace" '.' 'echo $$' "1 "
chk namespaces "user: \"uidMappings (array of objects, OPTIONAL) describes the user namespace uid mappings from the host to the container\" (gid too)" '.linux.namespaces += [{"type":"user"}] | .linux.uidMappings=[{"containerID":0,"hostID":200000,"size":1000}] | .linux.gidMappings=[{"containerID":0,"hostID":300000,"size":1000}] | .mounts |= map(select(.type != "cgroup"))' 'cat /proc/self/uid_map /proc/self/gid_map | tr -s " " | sed "s/^ //"' "0 200000 1000 0 300000 1000 "
refuse namespaces "user: a new user namespace without uidMappings cannot be set up (\"MUST generate an error\")" '.process.args=["true"] | .linux.namespaces += [{"type":"user"}] | del(.linux.uidMappings) | del(.linux.gidMappings)'
refuse namespaces "timeOffsets without a time namespace: \"Runtimes MUST generate an error when invalid or unsupported values are encountered\"" '.process.args=["true"] | .linux.timeOffsets={"boottime":{"secs":1}}'

# ---------------------------------------------------------------- devices
chk devices "default devices: /dev/null, zero, full, random, urandom and tty are the character devices 1:3 1:5 1:7 1:8 1:9 5:0" '.' 'for d in null zero full random urandom tty; do stat -c "%t:%T" /dev/$d; done' "1:3 1:5 1:7 1:8 1:9 5:0 "
chk devices "default devices: \"/dev/ptmx. A bind-mount or symlink of the container's ptmx\"" '.' 'readlink /dev/ptmx || stat -c %t:%T /dev/ptmx' "pts/ptmx "
chk devices "devices: \"The path MAY be anywhere in the container filesystem, notably outside of /dev\"" "$TMPFS | .linux.devices=[{\"path\":\"/tmp/mydev\",\"type\":\"c\",\"major\":1,\"minor\":7}]" 'stat -c "%F %t:%T" /tmp/mydev' "character special file 1:7 "
chk devices "devices: type b is a block device" '.linux.devices=[{"path":"/dev/blk0","type":"b","major":7,"minor":200}]' 'stat -c "%F %t:%T" /dev/blk0' "block special file 7:c8 "
chk devices "devices: type p is a FIFO (major and minor \"REQUIRED unless type is p\")" '.linux.devices=[{"path":"/dev/fifo0","type":"p"}]' 'stat -c "%F" /dev/fifo0' "fifo "
chk devices "devices: type u is an unbuffered character device" '.linux.devices=[{"path":"/dev/u0","type":"u","major":1,"minor":9}]' 'stat -c "%F %t:%T" /dev/u0' "character special file 1:9 "
refuse devices "devices: \"If a file already exists at path that does not match the requested device, the runtime MUST generate an error\" (a directory)" '.process.args=["true"] | .linux.devices=[{"path":"/etc","type":"c","major":1,"minor":3}]'

# ---------------------------------------------------------------- cgroups
bundle '.process.args=["sleep","100"] | .linux.resources={"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":10,"minor":229,"access":"rw"}]}'
rt create --bundle "$B" dv </dev/null >/dev/null 2>&1; dl=$(cg devices devices.list | tr '\n' ' ')
echo "$dl" | grep -q "c 10:229 rw" && ! echo "$dl" | grep -q "a \*:\* rwm"
expect cgroups "resources.devices: \"The runtime MUST apply entries in the listed order\" (deny all, then allow c 10:229)" $? "$dl"
rt delete -f dv >/dev/null 2>&1
chk cgroups "resources.devices: a denied device cannot be opened (allow: \"whether the entry is allowed or denied\")" '.linux.devices=[{"path":"/dev/fuse","type":"c","major":10,"minor":229}] | .linux.resources={"devices":[{"allow":true,"access":"rwm"},{"allow":false,"type":"c","major":10,"minor":229,"access":"rw"}]}' 'cat /dev/fuse 2>&1 | sed "s/.*: //"' "Operation not permitted "
for spec in "memory.limit:33554432:memory.limit_in_bytes" "memory.reservation:16777216:memory.soft_limit_in_bytes" "memory.swap:67108864:memory.memsw.limit_in_bytes" "memory.swappiness:10:memory.swappiness"; do
  IFS=: read -r key val file <<<"$spec"
  obj=${key%%.*}; field=${key#*.}
  bundle ".process.args=[\"sleep\",\"100\"] | .linux.resources={\"$obj\":{\"limit\":33554432,\"$field\":$val}}"
  rt create --bundle "$B" m$n </dev/null >/dev/null 2>&1; got=$(cg memory $file)
  [ "$got" = "$val" ]; expect cgroups "resources.memory.$field is applied to the container's cgroup ($file)" $? "$got"
  rt delete -f m$n >/dev/null 2>&1
done
bundle '.process.args=["sleep","100"] | .linux.resources={"memory":{"limit":67108864}}'
rt create --bundle "$B" cbu </dev/null >/dev/null 2>&1
echo '{"memory":{"limit":4096,"checkBeforeUpdate":true}}' > "$W/cbu.json"
rt update -r "$W/cbu.json" cbu >/dev/null 2>&1; rc=$?; got=$(cg memory memory.limit_in_bytes)
[ $rc -ne 0 ] && [ "$got" = 67108864 ]
expect cgroups "memory.checkBeforeUpdate: \"the runtime MUST check if the new memory limit is lower than the current usage, and MUST reject the new limit\"" $? "rc=$rc limit=$got"
rt delete -f cbu >/dev/null 2>&1
if [ -d /sys/fs/cgroup/memory ]; then
  bundle '.process.args=["sleep","100"] | .linux.resources={"memory":{"limit":67108864,"disableOOMKiller":true}}'
  rt create --bundle "$B" oom </dev/null >/dev/null 2>&1; got=$(cg memory memory.oom_control | grep oom_kill_disable)
  [ "$got" = "oom_kill_disable 1" ]; expect cgroups "resources.memory.disableOOMKiller: \"enables or disables the OOM killer\" (memory.oom_control)" $? "$got"
  rt delete -f oom >/dev/null 2>&1
else result SKIP cgroups "disableOOMKiller" "cgroup2 has no OOM-killer switch"; fi
bundle '.process.args=["sleep","100"] | .linux.resources={"cpu":{"cpus":"0","mems":"0"}}'
rt create --bundle "$B" cs </dev/null >/dev/null 2>&1; got="$(cg cpuset cpuset.cpus) $(cg cpuset cpuset.mems)"
[ "$got" = "0 0" ]; expect cgroups "resources.cpu.cpus and mems: \"list of CPUs / memory nodes the container will run on\" are applied" $? "$got"
rt delete -f cs >/dev/null 2>&1
disk=$(cat /sys/block/$(ls /sys/block | grep -v -e '^loop' -e '^ram' | head -1)/dev); dmaj=${disk%:*}; dmin=${disk#*:}
bundle ".process.args=[\"sleep\",\"100\"] | .linux.resources={\"blockIO\":{\"throttleReadBpsDevice\":[{\"major\":$dmaj,\"minor\":$dmin,\"rate\":1048576}],\"throttleWriteIOPSDevice\":[{\"major\":$dmaj,\"minor\":$dmin,\"rate\":100}]}}"
rt create --bundle "$B" bt </dev/null >/dev/null 2>&1; got="$(cg blkio blkio.throttle.read_bps_device) $(cg blkio blkio.throttle.write_iops_device)"
[ "$got" = "$disk 1048576 $disk 100" ] || echo "$got" | grep -q "$disk rbps=1048576"
expect cgroups "resources.blockIO throttle*Device: rates are applied per device" $? "$got"
rt delete -f bt >/dev/null 2>&1
hkb=$(ls /sys/kernel/mm/hugepages 2>/dev/null | sed -n 's/^hugepages-\([0-9]*\)kB$/\1/p' | sort -n | head -1)
# Usable without changing the root cgroup: a v1 hierarchy, or enabled in cgroup2's root.
hctl=$( { [ -d /sys/fs/cgroup/hugetlb ] && echo yes; } || { grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.subtree_control /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null && echo yes; })
if [ -n "$hkb" ] && [ -n "$hctl" ]; then size=$([ "$hkb" -ge 1048576 ] && echo "$((hkb / 1048576))GB" || echo "$((hkb / 1024))MB")
  bundle ".process.args=[\"sleep\",\"100\"] | .linux.resources={\"hugepageLimits\":[{\"pageSize\":\"$size\",\"limit\":2097152}]}"
  rt create --bundle "$B" hp </dev/null >/dev/null 2>&1; got=$(cg hugetlb hugetlb.$size.limit_in_bytes 2>/dev/null); [ "$got" = "no hugetlb.$size.limit_in_bytes" ] && got=$(cg hugetlb hugetlb.$size.max)
  [ "$got" = 2097152 ]; expect cgroups "hugepageLimits: pageSize \"must match the <hugepagesize> of the corresponding control file\" and the limit is applied" $? "$got"
  rt delete -f hp >/dev/null 2>&1
else result SKIP cgroups "hugepageLimits" "no hugetlb controller a container can use here (on cgroup2 it is not enabled in the root cgroup, which these checks never change)"; fi
if [ ! -d /sys/fs/cgroup/net_cls ]; then
  refuse cgroups "resources.network.classID on a host without net_cls: \"Runtimes MUST generate an error when invalid or unsupported values are encountered\"" '.process.args=["true"] | .linux.resources={"network":{"classID":1048577}}'
else result SKIP cgroups "network without net_cls" "this host has net_cls"; fi
if [ -d /sys/fs/cgroup/memory ]; then
  refuse cgroups "unified on a host whose memory controller is cgroup v1: \"The runtime MUST generate an error when the configuration refers to a cgroup controller that is not present or that cannot be enabled\"" '.process.args=["true"] | .linux.resources={"unified":{"memory.high":"1000000"}}'
else chk cgroups "unified: \"Configuration unknown to the runtime MUST still be written to the relative file\"" '.linux.resources={"unified":{"memory.high":"9000000"}} | .linux.namespaces += [{"type":"cgroup"}]' 'cat /sys/fs/cgroup/memory.high' "8998912 "; fi
refuse cgroups "cgroupsPath: \"Runtimes MAY consider certain cgroupsPath values to be invalid, and MUST generate an error if this is the case\" (..)" '.process.args=["true"] | .linux.cgroupsPath="/berth-conformance/../escape"'
bundle '.process.args=["sleep","100"]'; rt create --bundle "$B" cgx </dev/null >/dev/null 2>&1
cp=$(rt state cgx 2>/dev/null | jq -r .pid); line=$(grep -E '(:pids:|^0::)' /proc/$cp/cgroup | head -1)
echo "$line" | grep -q ":/berth-conformance/c$n\$"
expect cgroups "cgroupsPath: \"In the case of an absolute path (starting with /), the runtime MUST take the path to be relative to the cgroups mount point\"" $? "$line"
rt delete -f cgx >/dev/null 2>&1
bundle '.process.args=["sleep","100"] | .linux.resources={"pids":{"limit":0}}'
rt create --bundle "$B" pz </dev/null >/dev/null 2>&1; got=$(cg pids pids.max)
[ "$got" = max ]; expect cgroups "resources.pids.limit 0: not a limit of zero processes (runc: 0 means unset)" $? "$got"
rt delete -f pz >/dev/null 2>&1

# ---------------------------------------------------------------- seccomp
chk seccomp "defaultAction SCMP_ACT_ERRNO without defaultErrnoRet: \"EPERM is used\"" '.linux.seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["sethostname"],"action":"SCMP_ACT_ERRNO"}]} | .process.capabilities.bounding += ["CAP_SYS_ADMIN"] | .process.capabilities.effective += ["CAP_SYS_ADMIN"] | .process.capabilities.permitted += ["CAP_SYS_ADMIN"]' 'hostname x 2>&1 | sed "s/.*: //"' "Operation not permitted "
chk seccomp "errnoRet: \"the errno return code to use\" for a rule" '.linux.seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":122}]}' 'mkdir /dev/shm/x 2>&1 | sed "s/.*: //"' "Disk quota exceeded "
chk seccomp "defaultErrnoRet: \"the errno return code to use\" for the default action" '.linux.seccomp={"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":122,"syscalls":[{"names":["execve","brk","arch_prctl","set_tid_address","set_robust_list","rseq","prlimit64","mprotect","getuid","getpid","write","writev","exit_group","exit","read","fstat","newfstatat","ioctl","rt_sigaction","rt_sigprocmask","getppid","close","fcntl","getcwd","uname","geteuid","getegid","getgid","openat","wait4","clone","clone3","dup2","dup3","lseek","mmap","munmap","getdents64","statx","readlink","readlinkat","getrandom","pipe2","access","faccessat","faccessat2","stat","lstat","poll","ppoll","futex","sigaltstack","rt_sigreturn","capget","capset","prctl","setgroups","setuid","setgid","setresuid","setresgid","chdir","fchdir","nanosleep","pidfd_open","close_range","sendmsg","recvmsg","sendto","recvfrom","fstatfs","statfs","openat2","dup","kill","clock_gettime","umask","sched_getaffinity","mount_setattr","setsid","getrlimit","setrlimit","setpgid","getpgid","getpgrp","gettid","tgkill","sched_yield","madvise"],"action":"SCMP_ACT_ALLOW"}]} | .process.noNewPrivileges=true' 'mkdir /dev/shm/x 2>&1 | sed "s/.*: //"' "Disk quota exceeded "
refuse seccomp "errnoRet: \"When the action doesn't support an errno, the runtime MUST print and error and fail the container creation\"" '.process.args=["true"] | .linux.seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_KILL","errnoRet":5}]}'
refuse seccomp "defaultErrnoRet: \"When the action doesn't support an errno, the runtime MUST print and error and fail the container creation\"" '.process.args=["true"] | .linux.seccomp={"defaultAction":"SCMP_ACT_ALLOW","defaultErrnoRet":5}'
refuse seccomp "syscalls[].names: \"names MUST contain at least one entry\"" '.process.args=["true"] | .linux.seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":[],"action":"SCMP_ACT_ERRNO"}]}'
runs seccomp "listenerPath: \"If no SCMP_ACT_NOTIFY action is used, this value is ignored\"" '.process.args=["true"] | .linux.seccomp={"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/nonexistent/agent.sock"}'
refuse seccomp "listenerPath: \"If sending to this socket fails, the runtime MUST generate an error\"" '.process.args=["true"] | .linux.seccomp={"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/nonexistent/agent.sock","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}'
chk seccomp "args: op SCMP_CMP_EQ on an argument (\"index ... value ... op\")" '.linux.seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["kill"],"action":"SCMP_ACT_ERRNO","errnoRet":1,"args":[{"index":1,"value":10,"op":"SCMP_CMP_EQ"}]}]} | .linux.namespaces=[.linux.namespaces[] | select(.type != "pid")]' 'kill -10 $$ 2>&1 | sed "s/.*: //"; echo alive' "Operation not permitted alive "
chk seccomp "args: op SCMP_CMP_MASKED_EQ: \"value\" is the mask and \"valueTwo\" what the masked argument equals" '.linux.seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["kill"],"action":"SCMP_ACT_ERRNO","errnoRet":1,"args":[{"index":1,"value":240,"valueTwo":16,"op":"SCMP_CMP_MASKED_EQ"}]}]} | .linux.namespaces=[.linux.namespaces[] | select(.type != "pid")]' 'kill -17 $$ 2>&1 | sed "s/.*: //"; echo alive' "Operation not permitted alive "
chk seccomp "SCMP_ACT_LOG: the call is allowed (and logged)" '.linux.seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getpid"],"action":"SCMP_ACT_LOG"}]}' 'echo $$' "1 "
chk seccomp "SCMP_ACT_KILL_PROCESS: the process is killed by SIGSYS" '.linux.seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_KILL_PROCESS"}]}' 'sh -c "mkdir /dev/shm/y"; echo "rc=$?"' "rc=159 "
chk seccomp "SCMP_ACT_TRAP: the process gets SIGSYS" '.linux.seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_TRAP"}]}' 'sh -c "mkdir /dev/shm/y"; echo "rc=$?"' "rc=159 "
chk seccomp "flags: SECCOMP_FILTER_FLAG_LOG is accepted and the filter still applies" '.linux.seccomp={"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_LOG"],"syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":122}]}' 'mkdir /dev/shm/x 2>&1 | sed "s/.*: //"' "Disk quota exceeded "
chk seccomp "the filter is applied to the container process (its Seccomp mode is filter)" '.linux.seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}' 'grep "^Seccomp:" /proc/self/status | cut -f2' "2 "

# ---------------------------------------------------------------- rootfs, masked and read-only paths, sysctl, personality
chkre paths "rootfsPropagation shared: \"sets the rootfs's mount propagation\"" '.linux.rootfsPropagation="shared"' 'awk "\$5 == \"/\"" /proc/self/mountinfo' " shared:[0-9]+ "
chk paths "rootfsPropagation unbindable: \"sets the rootfs's mount propagation\"" '.linux.rootfsPropagation="unbindable"' 'awk "\$5 == \"/\" {print \$7}" /proc/self/mountinfo' "unbindable "
chkre paths "rootfsPropagation slave: \"sets the rootfs's mount propagation\" (no shared peer group)" '.linux.rootfsPropagation="slave"' 'awk "\$5 == \"/\"" /proc/self/mountinfo' "^[0-9]+ [0-9]+ [0-9:]+ [^ ]+ / [^ ]+ - "
refuse paths "maskedPaths: \"The values MUST be absolute paths in the container namespace\"" '.process.args=["true"] | .linux.maskedPaths=["proc/kcore"]'
refuse paths "readonlyPaths: \"The values MUST be absolute paths in the container namespace\"" '.process.args=["true"] | .linux.readonlyPaths=["proc/sys"]'
chk paths "maskedPaths: a masked file reads as empty (\"will mask over the provided paths inside the container so that they cannot be read\")" '.linux.maskedPaths=["/etc/passwd"]' 'wc -c < /etc/passwd' "0 "
chk paths "readonlyPaths: \"will set the provided paths as readonly inside the container\" (a tmpfs made read-only)" "$TMPFS | .linux.readonlyPaths=[\"/tmp\"]" 'touch /tmp/x 2>&1 | sed "s/.*: //"' "Read-only file system "
chk paths "maskedPaths naming a path that does not exist is not an error" '.linux.maskedPaths=["/no/such/path"]' 'echo ran' "ran "
chk sysctl "sysctl: a kernel.* parameter of the container's IPC namespace is set" '.linux.sysctl={"kernel.msgmax":"4096"}' 'cat /proc/sys/kernel/msgmax' "4096 "
chk sysctl "sysctl: the runtime's own value is untouched (the parameter is per-namespace)" '.linux.sysctl={"kernel.msgmnb":"12345"}' 'cat /proc/sys/kernel/msgmnb' "12345 "
[ "$(cat /proc/sys/kernel/msgmnb)" != 12345 ]; expect sysctl "sysctl: \"allows kernel parameters to be modified at runtime for the container\" (and not for the host)" $? "host msgmnb=$(cat /proc/sys/kernel/msgmnb)"
chkre config "linux.memoryPolicy: mode, nodes and flags are applied to the container's processes (set_mempolicy)" '.linux.memoryPolicy={"mode":"MPOL_BIND","nodes":"0","flags":["MPOL_F_STATIC_NODES"]}' 'head -1 /proc/self/numa_maps' " bind=static:0 "
refuse config "linux.memoryPolicy naming a node the host lacks: \"Runtimes MUST generate an error when invalid or unsupported values are encountered\"" '.process.args=["true"] | .linux.memoryPolicy={"mode":"MPOL_INTERLEAVE","nodes":"63"}'
bundle '.process.args=["sleep","100"]'; rt create --bundle "$B" aff </dev/null >/dev/null 2>&1; rt start aff >/dev/null 2>&1
echo '{"args":["sh","-c","grep Cpus_allowed_list /proc/self/status | cut -f2"],"env":["PATH=/bin"],"cwd":"/","execCPUAffinity":{"initial":"0","final":"0"}}' > "$W/aff.json"
out=$(rt exec -p "$W/aff.json" aff 2>&1 </dev/null); [ "$out" = 0 ]
expect process "execCPUAffinity.final: \"a list of CPUs the process will be run on after the transition to container's cgroup\" (exec)" $? "$out"
rt delete -f aff >/dev/null 2>&1
chk personality "personality LINUX: \"the execution domain\" (64-bit)" '.linux.personality={"domain":"LINUX"}' 'uname -m' "$(uname -m) "

# ---------------------------------------------------------------- features.md, features-linux.md
f=$(rt features 2>/dev/null)
if [ -n "$f" ]; then
  # fchk SENTENCE JQ-TEST JQ-DETAIL: the features document passes the test.
  fchk() { echo "$f" | jq -e "$2" >/dev/null 2>&1; expect features "$1" $? "$(echo "$f" | jq -c "$3" 2>&1 | head -c 300)"; }
  fchk "\"ociVersionMin (string, REQUIRED)\" and \"ociVersionMax (string, REQUIRED)\" are SemVer versions" \
    '(.ociVersionMin | test("^[0-9]+\\.[0-9]+\\.[0-9]+")) and (.ociVersionMax | test("^[0-9]+\\.[0-9]+\\.[0-9]+"))' '[.ociVersionMin, .ociVersionMax]'
  fchk "mountOptions: \"The list of the recognized mount options\" (strings)" '(.mountOptions // []) | all(type == "string" and length > 0)' '.mountOptions[0:5]'
  fchk "seccomp.actions: values are the spec's SCMP_ACT_* names" \
    '((.linux.seccomp.actions // []) - ["SCMP_ACT_KILL","SCMP_ACT_KILL_PROCESS","SCMP_ACT_KILL_THREAD","SCMP_ACT_TRAP","SCMP_ACT_ERRNO","SCMP_ACT_TRACE","SCMP_ACT_ALLOW","SCMP_ACT_LOG","SCMP_ACT_NOTIFY"]) == []' '.linux.seccomp.actions'
  fchk "seccomp.operators: values are the spec's SCMP_CMP_* names" \
    '((.linux.seccomp.operators // []) - ["SCMP_CMP_NE","SCMP_CMP_LT","SCMP_CMP_LE","SCMP_CMP_EQ","SCMP_CMP_GE","SCMP_CMP_GT","SCMP_CMP_MASKED_EQ"]) == []' '.linux.seccomp.operators'
  fchk "seccomp.archs: values are SCMP_ARCH_* names" '(.linux.seccomp.archs // []) | all(startswith("SCMP_ARCH_"))' '.linux.seccomp.archs'
  fchk "seccomp.supportedFlags: \"This list may be a subset of knownFlags\"" '((.linux.seccomp.supportedFlags // []) - (.linux.seccomp.knownFlags // [])) == []' '[.linux.seccomp.knownFlags, .linux.seccomp.supportedFlags]'
  fchk "capabilities: \"the list of the capabilities\" the runtime recognizes (CAP_SYS_ADMIN among them)" '(.linux.capabilities // []) | length > 30 and index("CAP_SYS_ADMIN") != null' '.linux.capabilities | length'
  fchk "apparmor, selinux, intelRdt and mountExtensions.idmap: \"enabled (bool, OPTIONAL)\"" \
    '[.linux.apparmor.enabled, .linux.selinux.enabled, (.linux.intelRdt.enabled // false), (.linux.mountExtensions.idmap.enabled // false)] | all(type == "boolean")' '.linux | {apparmor, selinux, intelRdt}'
  fchk "annotations: \"contains implementation-specific annotation strings\"" '(.annotations // {}) | to_entries | all(.value | type == "string")' '.annotations'
  fchk "hooks: the hook kinds the runtime runs are listed (prestart ... poststop)" '.hooks | index("prestart") != null and index("poststop") != null' '.hooks'
  fchk "namespaces: the namespace types the runtime supports are listed" '.linux.namespaces | index("mount") != null and index("pid") != null and index("user") != null' '.linux.namespaces'
  # Every option the runtime lists as recognized must be accepted in a mount.
  opts=$(echo "$f" | jq -r '.mountOptions[] | select(. != "remount" and . != "bind" and . != "rbind")' | head -60)
  bad=""; for o in rro nosuid nodev noexec noatime strictatime relatime ro; do echo "$opts" | grep -qx "$o" || continue
    bundle ".process.args=[\"true\"] | .mounts += [{\"destination\":\"/mnt\",\"type\":\"tmpfs\",\"source\":\"tmpfs\",\"options\":[\"$o\"]}]"
    rt run --bundle "$B" "c$n" </dev/null >/dev/null 2>&1 || bad="$bad $o"; done
  [ -z "$bad" ]; expect features "mountOptions: listed options are recognized in a mount (ro, rro, nosuid, ... on a tmpfs)" $? "refused:$bad"
else result SKIP features "features.md" "the runtime has no features command"; fi

# ---------------------------------------------------------------- mounts of the default filesystems and the rest
chk config "the /proc mount is a procfs of the container's pid namespace (its pid 1 is the container's process)" '.' 'cat /proc/1/comm; true' "sh "
FST='{for (i = 7; $i != "-"; i++); print $(i + 1)}'
chk config "the /sys mount is sysfs, read-only as its options ask" '.' "awk '\$5 == \"/sys\" {print substr(\$6, 1, 2)} \$5 == \"/sys\" $FST' /proc/self/mountinfo" "ro sysfs "
chk config "/dev/pts is a devpts of its own" '.' "awk '\$5 == \"/dev/pts\" $FST' /proc/self/mountinfo" "devpts "
chk config "/dev/shm is a tmpfs" '.' "awk '\$5 == \"/dev/shm\" $FST' /proc/self/mountinfo" "tmpfs "
if [ "$RTNAME" = berth ]; then
  bundle '.process.args=["sleep","100"] | .linux.namespaces=[.linux.namespaces[] | select(.type != "mount")]'
  rt create --bundle "$B" nomnt </dev/null >/dev/null 2>&1; nmp=$(rt state nomnt 2>/dev/null | jq -r .pid)
  [ -n "$nmp" ] && [ "$(readlink /proc/$nmp/ns/mnt)" = "$(readlink /proc/self/ns/mnt)" ]
  expect namespaces "mount: \"If a namespace type is not specified in the namespaces array, the container MUST inherit the runtime namespace of that type\"" $? "pid=$nmp"
  rt delete -f nomnt >/dev/null 2>&1
else result SKIP namespaces "mount namespace inherited" "not run with $RTNAME: without a mount namespace it would change the host's mount propagation"; fi
