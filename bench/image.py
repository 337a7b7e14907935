#!/usr/bin/env python3
"""make bench-image: berth-image against skopeo copy + umoci unpack, side by side in one
run (round-robin), on images built here and served from a local docker-registry: a
small multi-layer one and a big one (~250 MB in ~27,000 files, 5 gzip layers).

Per image, each round, with an empty store (or OCI layout) for the cold measures:
  bundle       berth-image bundle REF DIR (a snapshot: the layers unpacked once into the
               store, the rootfs an overlay of them)
  bundle-copy  berth-image bundle --copy REF DIR (a plain directory)
  skopeo+umoci skopeo copy docker://REF oci:DIR, then umoci unpack
  rebundle     a second bundle of the image already in the store (snapshot, and --copy)
  umoci-unpack umoci unpack alone, from an OCI layout already on disk (the peer of rebundle)
Then, on the big image:
  commit       1,000 files of a snapshot bundle changed, berth-image commit, against
               umoci repack of the same change in an umoci bundle
  push         berth-image push of the stored image to a fresh registry, against
               skopeo copy from the first registry to another fresh one (fresh each time:
               a registry that has the blobs, in any repository, lets either skip them)
Times are medians (min..max) in seconds; peak RSS (GNU time) in MiB. SAVE=1 writes
bench/IMAGE-RESULTS.md.

Every tool writes to the same tmpfs (mounted for the run, removed after), so that what
is measured is the tools and not the disk: on this machine's ext4 (mounted with
`discard`) file creation slows down by a factor of 5-10 for a while after each
benchmark round deletes its ~27,000 files. DISK=1 runs on the disk instead.

usage: bench/image.py BERTH_IMAGE [ROUNDS]
"""
import hashlib, json, os, random, shutil, statistics, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration-tests", "image"))
import fixtures as fx  # noqa: E402
import reglib  # noqa: E402

BI = os.path.abspath(sys.argv[1])
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
CACHE = os.path.join(HERE, "..", "target", "bench-image-cache")
WORK = tempfile.mkdtemp(prefix="berth-bench-image-")
ON_TMPFS = not os.environ.get("DISK")
if ON_TMPFS:
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8g,mode=700", "berth-bench-image", WORK], check=True)


def text_block():
    rnd = random.Random(7)
    words = ["container", "runtime", "layer", "image", "berth", "kernel", "mount", "overlay", "digest", "registry", "bundle", "config", "process", "cgroup"]
    return " ".join(rnd.choice(words) for _ in range(200000)).encode()


def big_layers():
    """5 layers, ~27,000 files, ~250 MB: mostly small files (text and binary), some big ones."""
    os.makedirs(CACHE, exist_ok=True)
    meta = os.path.join(CACHE, "big.json")
    if os.path.exists(meta):
        return json.load(open(meta))
    rnd = random.Random(42)
    text = text_block()
    out = []
    files = 0
    for li in range(5):
        entries = [fx.entry(f"usr/lib{li}/", "dir")]
        for d in range(54):
            entries.append(fx.entry(f"usr/lib{li}/d{d}/", "dir"))
            for f in range(100):
                n = rnd.randint(512, 12 << 10)
                if rnd.random() < 0.5:
                    off = rnd.randint(0, len(text) - n)
                    data = text[off:off + n]
                else:
                    data = rnd.randbytes(n)
                entries.append(fx.entry(f"usr/lib{li}/d{d}/f{f}", data=data, mode=0o644))
                files += 1
        for b in range(20):
            data = rnd.randbytes(1 << 20) if b % 2 else (text * 6)[: 1 << 20]
            entries.append(fx.entry(f"usr/lib{li}/big{b}", data=data))
            files += 1
        plain = fx.tar_bytes(entries)
        blob = fx.compress(plain, "gzip")
        p = os.path.join(CACHE, f"big{li}.tar.gz")
        open(p, "wb").write(blob)
        out.append({"path": p, "diff_id": reglib.SHA(plain), "size": len(plain)})
    json.dump({"layers": out, "files": files}, open(meta, "w"))
    return json.load(open(meta))


def push_big(reg):
    m = big_layers()
    descs, diff_ids = [], []
    for l in [{"blob": fx.compress(fx.tar_bytes(fx.busybox_layer()), "gzip"), "diff_id": reglib.SHA(fx.tar_bytes(fx.busybox_layer()))}] + m["layers"]:
        blob = l.get("blob") or open(l["path"], "rb").read()
        d = reg.push_blob("bench/big", blob)
        descs.append({"mediaType": fx.OCI["layer"]["gzip"], "digest": d, "size": len(blob)})
        diff_ids.append(l["diff_id"])
    cfg = json.dumps(fx.config(diff_ids, {"Cmd": ["/bin/true"]})).encode()
    cd = reg.push_blob("bench/big", cfg)
    man = json.dumps({"schemaVersion": 2, "mediaType": fx.OCI["manifest"], "config": {"mediaType": fx.OCI["config"], "digest": cd, "size": len(cfg)}, "layers": descs}).encode()
    reg.push_manifest("bench/big", "1", man, fx.OCI["manifest"])
    return sum(l["size"] for l in m["layers"]), m["files"], sum(d["size"] for d in descs)


def push_small(reg):
    layers = [(fx.busybox_layer(), "gzip")] + [([fx.entry(f"etc/app{i}/", "dir")] + [fx.entry(f"etc/app{i}/f{j}", data=os.urandom(2048)) for j in range(50)], "gzip") for i in range(4)]
    fx.push_image(reg, "bench/small", "1", layers, cfg={"Cmd": ["/bin/true"]})


def timed(cmd):
    """(seconds, peak RSS KiB) of one command (GNU time for the RSS)."""
    t = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError(f"{cmd}: {r.stderr[-500:]}")
    return dt, int(r.stderr.strip().splitlines()[-1])


def clear(p):
    if os.path.isdir(os.path.join(p, "rootfs")):
        subprocess.run(["umount", "-l", os.path.join(p, "rootfs")], capture_output=True)
    shutil.rmtree(p, ignore_errors=True)


def main():
    reg = reglib.Registry("http")
    try:
        push_small(reg)
        size, files, compressed = push_big(reg)
        results = {}
        for name in ("small", "big"):
            ref = f"{reg.host}/bench/{name}:1"
            meas = {k: [] for k in ("bundle", "bundle-copy", "skopeo+umoci", "rebundle", "rebundle-copy", "umoci-unpack")}
            rss = {k: [] for k in meas}
            for rnd in range(ROUNDS):
                order = ["bi", "bic", "su"]
                order = order[rnd % 3:] + order[:rnd % 3]
                for who in order:
                    store, dest = os.path.join(WORK, "store"), os.path.join(WORK, "bundle")
                    clear(dest)
                    shutil.rmtree(store, ignore_errors=True)
                    if who == "bi":
                        t, m = timed([BI, "--store", store, "-q", "--plain-http", "bundle", ref, dest])
                        meas["bundle"].append(t); rss["bundle"].append(m)
                        clear(dest)
                        t, m = timed([BI, "--store", store, "-q", "--plain-http", "bundle", ref, dest])
                        meas["rebundle"].append(t); rss["rebundle"].append(m)
                        subprocess.run([BI, "--store", store, "unbundle", dest], capture_output=True)
                    elif who == "bic":
                        t, m = timed([BI, "--store", store, "-q", "--plain-http", "bundle", "--copy", ref, dest])
                        meas["bundle-copy"].append(t); rss["bundle-copy"].append(m)
                        clear(dest)
                        t, m = timed([BI, "--store", store, "-q", "--plain-http", "bundle", "--copy", ref, dest])
                        meas["rebundle-copy"].append(t); rss["rebundle-copy"].append(m)
                    else:
                        oci = os.path.join(WORK, "oci")
                        shutil.rmtree(oci, ignore_errors=True)
                        t0 = time.perf_counter()
                        _, m1 = timed(["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{ref}", f"oci:{oci}:t"])
                        _, m2 = timed(["umoci", "unpack", "--image", f"{oci}:t", dest])
                        meas["skopeo+umoci"].append(time.perf_counter() - t0); rss["skopeo+umoci"].append(max(m1, m2))
                        clear(dest)
                        t, m = timed(["umoci", "unpack", "--image", f"{oci}:t", dest])
                        meas["umoci-unpack"].append(t); rss["umoci-unpack"].append(m)
                        shutil.rmtree(oci, ignore_errors=True)
                    clear(dest)
                    shutil.rmtree(store, ignore_errors=True)
            results[name] = (meas, rss)
        extra = commit_and_push(reg)
        report(results, size, files, compressed, extra)
    finally:
        reg.close()
        if ON_TMPFS:
            subprocess.run(["umount", "-l", WORK])
        shutil.rmtree(WORK, ignore_errors=True)


def change_files(rootfs, n=1000):
    """What a container does to 1,000 files: rewrites them."""
    done = 0
    for li in range(5):
        for d in range(54):
            for f in range(100):
                if done == n:
                    return
                with open(os.path.join(rootfs, f"usr/lib{li}/d{d}/f{f}"), "wb") as fh:
                    fh.write(b"changed by the container %d\n" % done)
                done += 1


def commit_and_push(reg):
    ref = f"{reg.host}/bench/big:1"
    out = {"commit": [], "umoci-repack": [], "push": [], "skopeo-copy": []}
    if True:
        for rnd in range(ROUNDS):
            store, dest = os.path.join(WORK, "store"), os.path.join(WORK, "bundle")
            clear(dest)
            shutil.rmtree(store, ignore_errors=True)
            subprocess.run([BI, "--store", store, "-q", "--plain-http", "bundle", ref, dest], check=True)
            change_files(os.path.join(dest, "rootfs"))
            t, _ = timed([BI, "--store", store, "-q", "commit", dest, f"localhost/bench/committed:{rnd}"])
            out["commit"].append(t)
            reg2 = reglib.Registry("http")
            try:
                t, _ = timed([BI, "--store", store, "-q", "--plain-http", "push", ref, f"{reg2.host}/bench/pushed:1"])
                out["push"].append(t)
            finally:
                reg2.close()
            subprocess.run([BI, "--store", store, "unbundle", dest], capture_output=True)
            shutil.rmtree(store, ignore_errors=True)
            reg3 = reglib.Registry("http")
            try:
                t, _ = timed(["skopeo", "copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false", f"docker://{ref}", f"docker://{reg3.host}/bench/skopeo:1"])
                out["skopeo-copy"].append(t)
            finally:
                reg3.close()
            oci = os.path.join(WORK, "oci")
            shutil.rmtree(oci, ignore_errors=True)
            subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{ref}", f"oci:{oci}:t"], check=True, capture_output=True)
            subprocess.run(["umoci", "unpack", "--image", f"{oci}:t", dest], check=True, capture_output=True)
            change_files(os.path.join(dest, "rootfs"))
            t, _ = timed(["umoci", "repack", "--image", f"{oci}:t2", dest])
            out["umoci-repack"].append(t)
            clear(dest)
            shutil.rmtree(oci, ignore_errors=True)
    return out


def fmt(v):
    return f"{statistics.median(v):.3f} ({min(v):.3f}..{max(v):.3f})"


def report(results, size, files, compressed, extra):
    ver = subprocess.run([BI, "--version"], capture_output=True, text=True).stdout.strip()
    sk = subprocess.run(["skopeo", "--version"], capture_output=True, text=True).stdout.strip()
    um = subprocess.run(["umoci", "--version"], capture_output=True, text=True).stdout.strip()
    lines = [f"# berth-image benchmark\n", f"{ver}; {sk}; {um}. {ROUNDS} rounds, interleaved; a local docker-registry over plain HTTP.",
             f"Big image: {files + 1} files (busybox's applets besides), {size / 1e6:.0f} MB of files in 5 gzip layers ({compressed / 1e6:.0f} MB compressed) plus busybox.\n",
             "Work directories (stores, bundles, the OCI layout) on " + ("a tmpfs." if ON_TMPFS else "the disk.") + " Seconds: median (min..max). Peak RSS in MiB (max over the processes of a measure).\n",
             "| image | measure | time | peak RSS | vs skopeo+umoci |", "|---|---|---|---|---|"]
    for name, (meas, rss) in results.items():
        base = statistics.median(meas["skopeo+umoci"])
        for k, v in meas.items():
            med = statistics.median(v)
            lines.append(f"| {name} | {k} | {fmt(v)} | {max(rss[k]) / 1024:.1f} | {base / med:.1f}x faster |")
        first, second = statistics.median(meas["bundle"]), statistics.median(meas["rebundle"])
        lines.append(f"| {name} | second bundle vs first | | | {first / second:.0f}x faster |")
    lines += ["", "Big image, once stored: a commit of 1,000 changed files, and a push to a second local registry.", "",
              "| measure | berth-image | peer | peer | ratio |", "|---|---|---|---|---|"]
    lines.append(f"| commit of 1,000 changed files | {fmt(extra['commit'])} | umoci repack | {fmt(extra['umoci-repack'])} | {statistics.median(extra['umoci-repack']) / statistics.median(extra['commit']):.1f}x faster |")
    lines.append(f"| push of the big image | {fmt(extra['push'])} | skopeo copy | {fmt(extra['skopeo-copy'])} | {statistics.median(extra['skopeo-copy']) / statistics.median(extra['push']):.1f}x faster |")
    text = "\n".join(lines) + "\n"
    print(text)
    if os.environ.get("SAVE"):
        open(os.path.join(HERE, "IMAGE-RESULTS.md"), "w").write(text)
        print("saved bench/IMAGE-RESULTS.md")


main()
