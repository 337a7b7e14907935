#!/bin/sh
# Makes an OCI bundle at $1 (default: bundles/busybox): a rootfs holding Debian's static
# busybox with a link per applet, and config.json from `berth spec` (no terminal, a
# harmless default command). Used by the demo and by the integration tests.
set -eu
dir=${1:-bundles/busybox}
berth=$(realpath "${BERTH:-$(ls target/*/release/berth target/release/berth target/debug/berth 2>/dev/null | head -1)}")
busybox=${BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || { echo "make-bundle: $busybox missing: apt-get install busybox-static" >&2; exit 1; }
file "$busybox" 2>/dev/null | grep -q 'statically linked' || ldd "$busybox" 2>&1 | grep -q 'not a dynamic' || {
  echo "make-bundle: $busybox is not static: apt-get install busybox-static" >&2; exit 1; }
rm -rf "$dir"
mkdir -p "$dir/rootfs/bin" "$dir/rootfs/etc" "$dir/rootfs/proc" "$dir/rootfs/sys" "$dir/rootfs/dev" "$dir/rootfs/tmp" "$dir/rootfs/root"
cp "$busybox" "$dir/rootfs/bin/busybox"
for a in $("$busybox" --list); do
  [ "$a" = busybox ] || ln -sf busybox "$dir/rootfs/bin/$a"
done
chmod 1777 "$dir/rootfs/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$dir/rootfs/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' > "$dir/rootfs/etc/group"
(cd "$dir" && "$berth" spec)
# A demo-friendly default: no terminal, print who and where we are.
sed -i -e 's/"terminal": true/"terminal": false/' \
       -e 's/"sh"$/"sh", "-c", "echo hello from berth: $(hostname) pid $$ uid $(id -u); ls \/"/' "$dir/config.json"
echo "bundle ready: $dir"
