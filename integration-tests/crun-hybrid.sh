# Sourced by bench/run.sh and spec-conformance/results.sh.
# crun 1.8.1 refuses a hybrid host whose cgroup2 mount holds a controller (here hugetlb).
# hugetlb_to_v1 moves it to a v1 hierarchy for crun's runs; hugetlb_restore puts it back
# on cgroup2 as it was. An unmounted v1 hierarchy lingers until its (dying) cgroups are
# released, so the restore unmounts, waits, checks /proc/cgroups (hierarchy 0 = cgroup2)
# and retries, and always ends unmounted.
HUGETLB_MOVED=0
hugetlb_to_v1() {
  if [ -d /sys/fs/cgroup/unified ] && ! mountpoint -q /sys/fs/cgroup/hugetlb; then
    mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb && HUGETLB_MOVED=1
  fi
}
hugetlb_restore() {
  [ "$HUGETLB_MOVED" = 1 ] || return 0
  for _ in $(seq 20); do
    umount /sys/fs/cgroup/hugetlb 2>/dev/null
    sleep 1
    awk '$1 == "hugetlb" { exit ($2 == 0 ? 0 : 1) }' /proc/cgroups && break
    mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb 2>/dev/null
  done
  mountpoint -q /sys/fs/cgroup/hugetlb && umount /sys/fs/cgroup/hugetlb
  rmdir /sys/fs/cgroup/hugetlb 2>/dev/null
  HUGETLB_MOVED=0
}
