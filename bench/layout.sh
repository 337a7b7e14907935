#!/usr/bin/env bash
# make layout: regenerates bench/hot-symbols.txt, the functions the release link places
# first and together (lld --symbol-ordering-file).
#
# Why: on a page fault in a file mapping the kernel also maps the cached pages around it
# (fault-around, 64 KiB), so a runtime whose hot functions are scattered over its 3 MB of
# text ends up with most of it resident although it runs a fraction. Packing the
# functions the commands run into one range took peak RSS of `run /bin/true` from 3.5 to
# about 2 MB (static binary).
#
# How, exactly rather than by sampling: a release build with symbols (same link flags, no
# ordering) is copied onto a small ext2 filesystem of our own on a loop device whose
# readahead is 0 and whose cache starts empty. With no readahead and nothing cached, every
# page the runtime touches is read on its own fault and nothing else is: after a workload,
# mincore(2) on the file lists exactly the pages that ran, and with every Rust function
# aligned to a page of its own, exactly the Rust functions (a libc page also names its
# neighbours: libc.a cannot be page-aligned per function). They are listed in three rounds
# that each add only new names: a plain container start
# (the path every container takes: it must be one compact range), the rest of the
# lifecycle and a seccomp-profile start, then the other commands. Functions that no
# longer exist are ignored by the link. Takes about three minutes (mostly the build).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=$(make -s --no-print-directory release-target)
WORK=$(mktemp -d /tmp/berth-layout.XXXXXX)
MNT=$WORK/mnt; LOOP=""
B=$MNT/berth
R="$B --root $WORK/root"
cleanup() {
  for id in $($R list -q 2>/dev/null); do $R delete -f "$id" >/dev/null 2>&1 || true; done
  find /sys/fs/cgroup -depth -type d -path '*/berth-layout*' -exec rmdir {} \; 2>/dev/null || true
  mountpoint -q "$MNT" && umount "$MNT"
  [ -n "$LOOP" ] && losetup -d "$LOOP"
  [ -n "${KEEP:-}" ] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT

# Every Rust function on a page of its own (align 2^12): a touched page names one function.
CARGO_PROFILE_RELEASE_STRIP=false RUSTFLAGS="$(make -s --no-print-directory release-flags ORDERING=) -C llvm-args=-align-all-functions=12" \
  cargo build -q --release --target "$TARGET" --target-dir "$WORK/target"
BUILT=$WORK/target/$TARGET/release/berth
truncate -s 256M "$WORK/fs.img"
LOOP=$(losetup -f --show "$WORK/fs.img")
blockdev --setra 0 "$LOOP"
mkfs.ext2 -q "$LOOP"
mkdir -p "$MNT"
mount "$LOOP" "$MNT"
cp "$BUILT" "$B"
umount "$MNT" && mount "$LOOP" "$MNT"   # nothing of the copy left in the page cache

BERTH=$BUILT sh integration-tests/make-bundle.sh "$WORK/b" >/dev/null
bundle() { # bundle NAME ARGS-JSON [seccomp]
  mkdir -p "$WORK/$1" && ln -s "$WORK/b/rootfs" "$WORK/$1/rootfs"
  python3 - "$WORK/b/config.json" "$WORK/$1/config.json" "$2" "$1" "${3:-}" <<'PY'
import json, sys
src, dst, args, name, extra = sys.argv[1:]
c = json.load(open(src))
c["process"]["args"] = json.loads(args); c["process"]["terminal"] = False
c["linux"]["cgroupsPath"] = "/berth-layout/" + name
if extra:
    c["linux"]["seccomp"] = json.load(open("integration-tests/data/docker-default-seccomp.json"))
json.dump(c, open(dst, "w"))
PY
}
bundle true '["/bin/true"]'; bundle sleep '["sleep","1000"]'; bundle sc '["/bin/true"]' seccomp

# touched: the functions overlapping the pages of $B now in the page cache.
touched() {
  python3 - "$B" "$BUILT" <<'PY'
import ctypes, os, subprocess, sys
path, syms_from = sys.argv[1], sys.argv[2]
fd = os.open(path, os.O_RDONLY); size = os.fstat(fd).st_size
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
base = libc.mmap(None, size, 1, 2, fd, 0)  # PROT_READ, MAP_PRIVATE: maps, reads nothing
pages = (size + 4095) // 4096
vec = (ctypes.c_ubyte * pages)()
if libc.mincore(ctypes.c_void_p(base), ctypes.c_size_t(size), vec) != 0:
    sys.exit("mincore: errno %d" % ctypes.get_errno())
cached = {i for i in range(pages) if vec[i] & 1}
# file offset -> virtual address through the executable segments
segs = []
for l in subprocess.run(["readelf", "-lW", syms_from], capture_output=True, text=True).stdout.splitlines():
    f = l.split()
    if f[:1] == ["LOAD"] and "E" in f[6:-1]:
        segs.append((int(f[1], 16), int(f[2], 16), int(f[4], 16)))
ranges = []  # virtual address ranges of cached executable bytes
for off, va, fsz in segs:
    for p in cached:
        lo, hi = max(p * 4096, off), min(p * 4096 + 4096, off + fsz)
        if lo < hi:
            ranges.append((va + lo - off, va + hi - off))
hot = {a // 4096 for lo, hi in ranges for a in (lo, hi - 1)}
for l in subprocess.run(["nm", "-S", "-n", syms_from], capture_output=True, text=True).stdout.splitlines():
    f = l.split()
    if len(f) == 4 and f[2] in "tTwW":
        a, s = int(f[0], 16), max(int(f[1], 16), 1)
        if any(p in hot for p in range(a // 4096, (a + s - 1) // 4096 + 1)):
            print(f[3])
PY
}
# Beside another container, as under an engine: a create then reads a root that is not
# empty (looking for its own stale temporary directory), code an empty root never runs.
# Laid out from an empty root, that code sat among the cold functions: +64 KiB of peak RSS.
$R create --bundle "$WORK/sleep" other
for i in 1 2 3; do $R run --bundle "$WORK/true" t$i >/dev/null; done
$R delete -f other
touched > "$WORK/round1"
for i in 1 2 3; do
  $R run --bundle "$WORK/sc" s$i >/dev/null
  $R create --bundle "$WORK/sleep" c$i && $R start c$i && $R state c$i >/dev/null
  $R kill c$i KILL; $R delete -f c$i
done
touched > "$WORK/round2"
$R run -d --bundle "$WORK/sleep" o
$R exec o /bin/true && $R ps o >/dev/null && $R list >/dev/null && $R events --stats o >/dev/null
$R pause o && $R resume o && $R update --pids-limit 100 o
$R delete -f o
$R spec --bundle "$WORK" >/dev/null; $R features >/dev/null; $R --version >/dev/null
touched > "$WORK/round3"
cat "$WORK/round1" "$WORK/round2" "$WORK/round3" | awk '!seen[$0]++' > bench/hot-symbols.txt
echo "bench/hot-symbols.txt: $(wc -l < "$WORK/round1") functions for a plain start, $(wc -l < bench/hot-symbols.txt) in all"
