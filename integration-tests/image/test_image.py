#!/usr/bin/env python3
"""berth-image against real parts: Debian's docker-registry in four modes (plain HTTP, TLS
with a test CA, htpasswd Basic auth, Bearer tokens from reglib's token server), fixture
images built here (fixtures.py), skopeo + umoci as the reference unpacker, and every
bundle run with berth.

usage: test_image.py BERTH_IMAGE BERTH     prints PASS/FAIL lines, then "N passed, M failed"
"""
import hashlib, json, os, pty, select, shutil, stat, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures as fx
import reglib
from fixtures import entry as E

BI = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/debug/berth-image")
BERTH = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else "target/debug/berth")
WORK = tempfile.mkdtemp(prefix="berth-image-test-")
STORE = os.path.join(WORK, "store")
ROOT = os.path.join(WORK, "berth-root")
passed = failed = 0
cleanups = []


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
    print(("PASS: " if ok else "FAIL: ") + name + ("" if ok or not detail else f" -- {str(detail)[:600]}"), flush=True)
    return ok


def bi(*args, store=STORE, env=None, timeout=120):
    e = dict(os.environ, **(env or {}))
    return subprocess.run([BI, "--store", store, "-q"] + list(args), capture_output=True, text=True, env=e, timeout=timeout)


def berth_run(bundle, cid, *extra):
    return subprocess.run([BERTH, "--root", ROOT, "run", "--bundle", bundle, cid] + list(extra), capture_output=True, text=True, timeout=60)


def one_error(r):
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    return r.returncode != 0 and len(lines) == 1 and "error" in lines[0]


def fresh(name):
    d = os.path.join(WORK, name)
    if os.path.exists(d):
        subprocess.run([BI, "--store", STORE, "unbundle", d], capture_output=True)
        shutil.rmtree(d, ignore_errors=True)
    return d


def tree(root):
    """path -> what umoci and berth-image must agree on."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            t = stat.S_IFMT(st.st_mode)
            info = {"type": t, "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}
            if stat.S_ISREG(t):
                info["sha"] = hashlib.sha256(open(p, "rb").read()).hexdigest()
                info["nlink"] = st.st_nlink
            elif stat.S_ISLNK(t):
                info["link"] = os.readlink(p)
            elif stat.S_ISCHR(t) or stat.S_ISBLK(t):
                info["rdev"] = st.st_rdev
            try:
                # trusted.*: umoci applies an image's, berth-image drops them on purpose
                # (an image must not set overlayfs's own attributes, among others).
                info["xattrs"] = sorted((k, os.getxattr(p, k, follow_symlinks=False)) for k in os.listxattr(p, follow_symlinks=False) if not k.startswith("trusted."))
            except OSError:
                info["xattrs"] = []
            out[rel] = info
    return out


def diff_trees(a, b):
    out = []
    for k in sorted(set(a) | set(b)):
        if k not in a:
            out.append(f"only in umoci: {k}")
        elif k not in b:
            out.append(f"only in berth-image: {k}")
        elif a[k] != b[k]:
            out.append(f"{k}: umoci {a[k]} berth-image {b[k]}")
    return out


def umoci_rootfs(reg, ref, name):
    d = os.path.join(WORK, "umoci-" + name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    tls = ["--src-tls-verify=false"] if reg.mode == "http" else ["--src-cert-dir", reg.ca.dir]
    subprocess.run(["skopeo", "copy", "--quiet"] + tls + [f"docker://{reg.host}/{ref}", f"oci:{d}/oci:t"], check=True, capture_output=True)
    subprocess.run(["umoci", "unpack", "--image", f"{d}/oci:t", f"{d}/bundle"], check=True, capture_output=True)
    return os.path.join(d, "bundle", "rootfs")


FEATURES = [
    # Layer 1: busybox, /etc, a user.
    (fx.busybox_layer(), "gzip"),
    # Layer 2 (zstd): every kind of entry.
    ([E("./data/", "dir", mode=0o750, uid=1000, gid=1000),
      E("./data/file", data=b"contents\n", mode=0o640, uid=1000, gid=2000),
      E("data/setuid", data=b"#!/bin/sh\n", mode=0o4755),
      E("data/setgid-dir/", "dir", mode=0o2775),
      E("data/caps", data=b"x", mode=0o755, xattrs={"security.capability": fx.CAP_NET_BIND}),
      E("data/user-xattr", data=b"y", xattrs={"user.note": b"kept", "trusted.evil": b"dropped"}),
      E("data/hard1", data=b"linked\n"),
      E("data/hard2", "hardlink", link="data/hard1"),
      E("data/abs-link", "symlink", link="/etc/passwd"),
      E("data/rel-link", "symlink", link="../etc/group"),
      E("data/fifo", "fifo", mode=0o600),
      E("data/null", "char", major=1, minor=3, mode=0o666),
      E("data/" + "long-name-" * 15 + "end", data=b"pax path\n"),
      E("data/old-file", data=b"lower\n"),
      E("data/becomes-dir", data=b"a file first\n"),
      E("data/dir-then-link/", "dir"),
      E("data/dir-then-link/inside", data=b"gone\n"),
      E("data/link-to-remove", "symlink", link="/etc/hostname"),
      E("data/opaque/", "dir"),
      E("data/opaque/lower-a", data=b"a\n"),
      E("data/opaque/sub/", "dir"),
      E("data/opaque/sub/lower-b", data=b"b\n"),
      E("data/keep/", "dir"),
      E("data/keep/lower", data=b"stays\n")], "zstd"),
    # Layer 3 (no compression): whiteouts, opaque, replacements, a link to a lower file.
    ([E("data/.wh.old-file", data=b""),
      E("data/.wh.link-to-remove", data=b""),
      E("data/becomes-dir/", "dir", mode=0o700),
      E("data/becomes-dir/now", data=b"a dir now\n"),
      E("data/dir-then-link", "symlink", link="keep"),
      E("data/opaque/same-layer-before", data=b"before the marker\n"),
      E("data/opaque/.wh..wh..opq", data=b""),
      E("data/opaque/same-layer-after", data=b"after the marker\n"),
      E("data/hard3", "hardlink", link="data/file")], "none"),
]


def test_content(reg):
    cfg = {"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["cat /data/file; id -u; pwd; echo $GREETING; ls /data/opaque | tr '\\n' ' '"],
           "Env": ["PATH=/bin", "GREETING=hi"], "WorkingDir": "/data", "User": "app:extra", "Labels": {"org.example.label": "v"}, "StopSignal": "SIGQUIT"}
    md, _, _ = fx.push_image(reg, "fx/features", "oci", FEATURES, cfg=cfg)
    ref = f"{reg.host}/fx/features:oci"
    r = bi("--plain-http", "pull", ref)
    check("pull prints the manifest digest", r.returncode == 0 and r.stdout.strip() == md, r.stderr or r.stdout)
    snap, copy = fresh("features-snap"), fresh("features-copy")
    r1 = bi("--plain-http", "bundle", ref, snap)
    r2 = bi("--plain-http", "bundle", "--copy", ref, copy)
    check("bundle (snapshot) and bundle --copy of a zstd+plain+gzip OCI image", r1.returncode == 0 and r2.returncode == 0, r1.stderr + r2.stderr)
    # umoci 0.4.7 cannot read zstd layers: it unpacks the same layers, gzip'ed.
    fx.push_image(reg, "fx/features", "oci-gzip", [(l, "gzip" if how == "zstd" else how) for l, how in FEATURES], cfg=cfg)
    u = tree(umoci_rootfs(reg, "fx/features:oci-gzip", "features"))
    for name, d in (("snapshot", snap), ("copy", copy)):
        diff = diff_trees(u, tree(os.path.join(d, "rootfs")))
        check(f"{name} rootfs equals umoci unpack's (paths, types, modes, owners, xattrs, links, contents)", not diff, diff[:8])
    rt = os.path.join(copy, "rootfs")
    check("whiteouts leave no .wh. file", not any(".wh." in n for _, _, fs in os.walk(rt) for n in fs))
    check("an opaque directory hides lower entries and keeps the same layer's, before and after its marker",
          sorted(os.listdir(os.path.join(rt, "data/opaque"))) == ["same-layer-after", "same-layer-before"], os.listdir(os.path.join(rt, "data/opaque")))
    check("setuid survives the chown (owner, then mode)", os.stat(os.path.join(rt, "data/setuid")).st_mode & 0o7777 == 0o4755)
    check("file capabilities kept, trusted.* dropped", os.getxattr(os.path.join(rt, "data/caps"), "security.capability") == fx.CAP_NET_BIND
          and "trusted.evil" not in os.listxattr(os.path.join(rt, "data/user-xattr")))
    check("a hardlink to a lower layer's file is a link", os.stat(os.path.join(snap, "rootfs/data/hard3")).st_nlink >= 2)
    check("directory times are the layer's, set after their children", all(int(os.lstat(os.path.join(d, "rootfs/data/setgid-dir")).st_mtime) == 1700000000 for d in (snap, copy)))
    c = json.load(open(os.path.join(snap, "config.json")))
    p = c["process"]
    check("config.json: Entrypoint+Cmd, Env, WorkingDir, User name:group, HOME from passwd",
          p["args"][:2] == ["/bin/sh", "-c"] and "GREETING=hi" in p["env"] and "HOME=/home/app" in p["env"] and p["cwd"] == "/data"
          and p["user"] == {"uid": 1000, "gid": 2000} and p["terminal"] is False, p)
    check("config.json: labels and StopSignal as annotations", c["annotations"].get("org.example.label") == "v" and c["annotations"].get("org.opencontainers.image.stopSignal") == "SIGQUIT", c["annotations"])
    r = berth_run(snap, "feat-snap")
    check("berth runs the snapshot bundle as the image says", r.returncode == 0 and r.stdout.split("\n")[:4] == ["contents", "1000", "/data", "hi"], r.stdout + r.stderr)
    r = berth_run(copy, "feat-copy")
    check("berth runs the --copy bundle", r.returncode == 0 and "same-layer-after same-layer-before" in r.stdout, r.stdout + r.stderr)
    d3 = fresh("features-args")
    r = bi("--plain-http", "bundle", "--tty", ref, d3, "--", "echo replaced")
    c = json.load(open(os.path.join(d3, "config.json")))
    check("-- ARGS replaces Cmd, --tty sets terminal", r.returncode == 0 and c["process"]["args"] == ["/bin/sh", "-c", "echo replaced"] and c["process"]["terminal"] is True, r.stderr)
    r = bi("--plain-http", "bundle", ref, snap)
    check("a bundle directory that is not empty is refused", one_error(r) and "not empty" in r.stderr, r.stderr)
    for d in (snap, copy, d3):
        r = bi("unbundle", d)
        check(f"unbundle {os.path.basename(d)}", r.returncode == 0 and not os.path.exists(d), r.stderr)

    # Docker media types (gzip only: Docker has no zstd type) and a tar without its end.
    docker_layers = [(l, "gzip") for l, _ in FEATURES]
    fx.push_image(reg, "fx/features", "docker", docker_layers, cfg=cfg, types=fx.DOCKER)
    dd = fresh("features-docker")
    r = bi("--plain-http", "bundle", "--copy", f"{reg.host}/fx/features:docker", dd)
    u = tree(umoci_rootfs(reg, "fx/features:docker", "docker"))
    diff = diff_trees(u, tree(os.path.join(dd, "rootfs"))) if r.returncode == 0 else [r.stderr]
    check("Docker schema 2 image with Docker layer types equals umoci's", not diff, diff[:8])
    bi("unbundle", dd)
    trunc = fx.tar_bytes(fx.busybox_layer(), end_blocks=False)
    fx.push_image(reg, "fx/truncated", "1", [(trunc, "none"), ([E("x", data=b"last file, no padding")], "none")], cfg={"Cmd": ["/bin/cat", "/x"]})
    td = fresh("truncated")
    r = bi("--plain-http", "bundle", f"{reg.host}/fx/truncated:1", td)
    out = berth_run(td, "trunc") if r.returncode == 0 else r
    check("a layer without end-of-archive blocks or its last padding (as umoci writes) unpacks", r.returncode == 0 and out.stdout == "last file, no padding", r.stderr + out.stderr)
    bi("unbundle", td)


def test_platforms(reg):
    _, _, arm = fx.push_image(reg, "fx/multi", "arm64", [([E("arch", data=b"arm64\n")], "gzip")], cfg={"Cmd": ["/arch"]}, arch="arm64")
    _, _, amd = fx.push_image(reg, "fx/multi", "amd64", [(fx.busybox_layer(), "gzip"), ([E("arch", data=b"amd64\n")], "gzip")], cfg={"Cmd": ["/bin/cat", "/arch"]})
    arm["platform"]["variant"] = "v8"
    att = {"mediaType": fx.OCI["manifest"], "digest": amd["digest"], "size": amd["size"], "platform": {"os": "unknown", "architecture": "unknown"},
           "annotations": {"vnd.docker.reference.type": "attestation-manifest"}}
    fx.push_index(reg, "fx/multi", "latest", [att, arm, amd])
    d = fresh("multi")
    r = bi("--plain-http", "bundle", f"{reg.host}/fx/multi", d)
    out = berth_run(d, "multi") if r.returncode == 0 else r
    check("an index whose first entries are an attestation and another architecture gives this host's image", out.returncode == 0 and out.stdout == "amd64\n", r.stderr + out.stdout + out.stderr)
    bi("unbundle", d)
    r = bi("--plain-http", "pull", "--platform", "linux/arm64", f"{reg.host}/fx/multi")
    check("--platform linux/arm64 picks the arm64/v8 entry", r.returncode == 0 and r.stdout.strip() == arm["digest"], r.stderr)
    r = bi("--plain-http", "pull", "--platform", "linux/s390x", f"{reg.host}/fx/multi")
    check("no matching platform: the error lists those there are", one_error(r) and "linux/arm64/v8, linux/amd64" in r.stderr, r.stderr)
    # Manifests without mediaType (umoci writes them so).
    bare = {"schemaVersion": 2, "config": json.loads(amd_manifest(reg))["config"], "layers": json.loads(amd_manifest(reg))["layers"]}
    b = json.dumps(bare).encode()
    reg.push_manifest("fx/multi", "bare", b, fx.OCI["manifest"])
    r = bi("--plain-http", "pull", f"{reg.host}/fx/multi:bare")
    check("a manifest without mediaType is read by its structure", r.returncode == 0, r.stderr)


def amd_manifest(reg):
    return reg.request("GET", "/v2/fx/multi/manifests/amd64", headers={"Accept": fx.OCI["manifest"]}, repo="fx/multi").read()


def test_refusals(reg, fake):
    # Schema 1, encrypted and foreign layers: refused by name.
    s1 = json.dumps({"schemaVersion": 1, "name": "fx/old", "tag": "1", "fsLayers": [], "history": []}).encode()
    fake.push_manifest("fx/old", "1", s1, "application/vnd.docker.distribution.manifest.v1+prettyjws")
    r = bi("--plain-http", "pull", f"{fake.host}/fx/old:1")
    check("a schema 1 manifest is refused by name", one_error(r) and "schema 1" in r.stderr, r.stderr)
    layer = fx.compress(fx.tar_bytes([E("f", data=b"x")]), "gzip")
    for name, desc in [("encrypted", {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip+encrypted"}),
                       ("foreign", {"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "urls": ["https://example.invalid/layer"]})]:
        d = fake.push_blob("fx/" + name, layer)
        cfg = json.dumps(fx.config([reglib.SHA(fx.tar_bytes([E("f", data=b"x")]))])).encode()
        cd = fake.push_blob("fx/" + name, cfg)
        m = json.dumps({"schemaVersion": 2, "mediaType": fx.OCI["manifest"], "config": {"mediaType": fx.OCI["config"], "digest": cd, "size": len(cfg)},
                        "layers": [dict(desc, digest=d, size=len(layer))]}).encode()
        fake.push_manifest("fx/" + name, "1", m, fx.OCI["manifest"])
        r = bi("--plain-http", "pull", f"{fake.host}/fx/{name}:1")
        check(f"an {name} layer is refused by name", one_error(r) and name in r.stderr, r.stderr)
    # A blob whose bytes do not match its digest: nothing half-made is kept.
    good = fx.compress(fx.tar_bytes([E("f", data=b"good")]), "gzip")
    bad = fx.compress(fx.tar_bytes([E("f", data=b"evil")]), "gzip")
    gd = fake.push_blob("fx/corrupt", bad, digest=reglib.SHA(good))
    cfg = json.dumps(fx.config([reglib.SHA(fx.tar_bytes([E("f", data=b"good")]))])).encode()
    cd = fake.push_blob("fx/corrupt", cfg)
    m = json.dumps({"schemaVersion": 2, "mediaType": fx.OCI["manifest"], "config": {"mediaType": fx.OCI["config"], "digest": cd, "size": len(cfg)},
                    "layers": [{"mediaType": fx.OCI["layer"]["gzip"], "digest": gd, "size": len(good)}]}).encode()
    fake.push_manifest("fx/corrupt", "1", m, fx.OCI["manifest"])
    r = bi("--plain-http", "pull", f"{fake.host}/fx/corrupt:1")
    blobs = os.listdir(os.path.join(STORE, "blobs/sha256"))
    check("a blob that does not match its digest: the error names expected and actual, nothing is kept",
          one_error(r) and reglib.SHA(good) in r.stderr and reglib.SHA(bad) in r.stderr and reglib.SHA(good)[7:] not in blobs
          and not os.listdir(os.path.join(STORE, "tmp")) and not os.path.exists(os.path.join(STORE, "layers/sha256", reglib.SHA(fx.tar_bytes([E("f", data=b"good")]))[7:])), r.stderr)
    # A config whose diff_id does not match the layer.
    plain = fx.tar_bytes([E("f", data=b"diff")])
    ld = fake.push_blob("fx/diffid", fx.compress(plain, "gzip"))
    cfg = json.dumps(fx.config([reglib.SHA(b"something else")])).encode()
    cd = fake.push_blob("fx/diffid", cfg)
    m = json.dumps({"schemaVersion": 2, "mediaType": fx.OCI["manifest"], "config": {"mediaType": fx.OCI["config"], "digest": cd, "size": len(cfg)},
                    "layers": [{"mediaType": fx.OCI["layer"]["gzip"], "digest": ld, "size": len(fake.blobs[ld])}]}).encode()
    fake.push_manifest("fx/diffid", "1", m, fx.OCI["manifest"])
    r = bi("--plain-http", "pull", f"{fake.host}/fx/diffid:1")
    check("an uncompressed layer that does not match its diff_id is refused", one_error(r) and "diff_id" in r.stderr and reglib.SHA(plain) in r.stderr, r.stderr)
    # A manifest asked for by a digest it does not have.
    want = "sha256:" + "0" * 64
    fake.manifests[("fx/diffid", want)] = (m, fx.OCI["manifest"])
    r = bi("--plain-http", "pull", f"{fake.host}/fx/diffid@{want}")
    check("a manifest that does not match the digest asked for is refused", one_error(r) and want in r.stderr and reglib.SHA(m) in r.stderr, r.stderr)
    # Unknown tag, unknown repository, unreachable registry.
    r = bi("--plain-http", "pull", f"{reg.host}/fx/features:nope")
    check("an unknown tag: one line naming it", one_error(r) and "nope" in r.stderr and "MANIFEST_UNKNOWN" in r.stderr, r.stderr)
    r = bi("--plain-http", "pull", f"{reg.host}/fx/nothing-here:1")
    check("an unknown repository: one line naming it", one_error(r) and "fx/nothing-here" in r.stderr and "not found" in r.stderr, r.stderr)
    r = bi("--plain-http", "pull", f"127.0.0.1:{reglib.free_port()}/fx/x:1")
    check("an unreachable registry: one clear line", one_error(r) and "cannot reach registry" in r.stderr, r.stderr)
    r = bi("pull", f"{reg.host}/fx/features:oci")
    check("HTTPS is the default: a plain-HTTP registry without --plain-http is an error", one_error(r), r.stderr)
    # Disk full: a store on a 1 MiB tmpfs.
    small = os.path.join(WORK, "small-store")
    os.makedirs(small, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", small], check=True)
    try:
        r = bi("--plain-http", "pull", f"{reg.host}/fx/features:oci", store=small)
        left = [n for n in os.listdir(os.path.join(small, "tmp"))] if os.path.isdir(os.path.join(small, "tmp")) else []
        check("a full disk: one line saying so, nothing half-made left", one_error(r) and "no space left" in r.stderr.lower() and not left, r.stderr + str(left))
    finally:
        subprocess.run(["umount", small])


def test_hostile(reg):
    canary = os.path.join(WORK, "canary")
    os.makedirs(canary)
    secret = os.path.join(canary, "secret")
    with open(secret, "w") as f:
        f.write("host secret\n")
    before = sorted(os.listdir(canary))
    c = canary.lstrip("/")
    attacks = {
        "dotdot": [E("../" * 12 + c + "/pwned1", data=b"x")],
        "absolute": [E("/" + c + "/pwned2", data=b"x")],
        "abs-symlink-dir": [E("evil", "symlink", link="/" + c), E("evil/pwned3", data=b"x")],
        "rel-symlink-dir": [E("evil2", "symlink", link="../" * 12 + c), E("evil2/pwned4", data=b"x")],
        "hardlink-out": [E("hl", "hardlink", link="/" + c + "/secret")],
        "hardlink-dotdot": [E("hl2", "hardlink", link="../" * 12 + c + "/secret")],
        "whiteout-through-link": [E("evil3", "symlink", link="/" + c), E("evil3/.wh.secret", data=b"")],
        "opaque-through-link": [E("evil4", "symlink", link="/" + c), E("evil4/.wh..wh..opq", data=b"")],
        "link-then-file": [E("x", "symlink", link="/" + c + "/secret"), E("x", data=b"replaced, not written through\n")],
        "bad-whiteout-empty": [E(".wh.", data=b"")],
        "bad-whiteout-dot": [E("d/", "dir"), E("d/.wh..", data=b"")],
        "bad-whiteout-dotdot": [E("d/", "dir"), E("d/.wh...", data=b"")],
    }
    for name, entries in attacks.items():
        fx.push_image(reg, "fx/hostile", name, [(fx.busybox_layer(), "gzip"), (entries, "none")], cfg={"Cmd": ["/bin/true"]})
        for mode in ("snapshot", "copy"):
            d = fresh(f"hostile-{name}-{mode}")
            args = ["--plain-http", "bundle"] + (["--copy"] if mode == "copy" else []) + [f"{reg.host}/fx/hostile:{name}", d]
            r = bi(*args)
            intact = sorted(os.listdir(canary)) == before and open(secret).read() == "host secret\n" and os.stat(secret).st_nlink == 1
            clean = r.returncode == 0 or one_error(r)
            if name.startswith("bad-whiteout"):
                check(f"hostile layer {name} ({mode}): refused", one_error(r) and "whiteout" in r.stderr and intact, r.stderr)
            else:
                ran = berth_run(d, f"hostile-{mode}") if r.returncode == 0 else r
                check(f"hostile layer {name} ({mode}): nothing outside the rootfs changed (and the bundle runs)", intact and clean and (r.returncode != 0 or ran.returncode == 0), r.stderr + ran.stderr + str(os.listdir(canary)))
            bi("unbundle", d)
            shutil.rmtree(d, ignore_errors=True)


def test_registries():
    for mode in ("tls", "basic", "token"):
        reg = reglib.Registry(mode)
        try:
            fx.push_image(reg, "fx/small", "1", [(fx.busybox_layer(), "gzip")], cfg={"Cmd": ["/bin/echo", "ok"]})
            ref = f"{reg.host}/fx/small:1"
            store = os.path.join(WORK, f"store-{mode}")
            r = bi(*([] if mode == "tls" else ["--cert-dir", reg.ca.dir]), "pull", ref, store=store)
            if mode == "tls":
                check("TLS: a certificate the system roots do not know is refused", one_error(r) and ("certificate" in r.stderr.lower() or "tls" in r.stderr.lower()), r.stderr)
                r = bi("--cert-dir", reg.ca.dir, "pull", ref, store=store)
                check("TLS: --cert-dir with the test CA", r.returncode == 0, r.stderr)
                certs_d = f"/etc/containers/certs.d/{reg.host}"
                os.makedirs(certs_d)
                try:
                    shutil.copy(reg.ca.crt, os.path.join(certs_d, "ca.crt"))
                    shutil.rmtree(store, ignore_errors=True)
                    r = bi("pull", ref, store=store)
                    check("TLS: /etc/containers/certs.d/HOST:PORT/ca.crt", r.returncode == 0, r.stderr)
                finally:
                    shutil.rmtree(certs_d)
                continue
            certs = ["--cert-dir", reg.ca.dir]
            if mode == "basic":
                check("Basic: without credentials, the registry says so", one_error(r) and "credentials" in r.stderr, r.stderr)
                r = bi(*certs, "--creds", "alice:wrong", "pull", ref, store=store)
                check("Basic: wrong credentials are refused by the registry", one_error(r) and "registry" in r.stderr and "refused" in r.stderr, r.stderr)
                r = bi(*certs, "--creds", "alice:wonderland", "pull", ref, store=store)
                check("Basic: --creds", r.returncode == 0, r.stderr)
                auth = os.path.join(WORK, "auth.json")
                import base64
                with open(auth, "w") as f:
                    json.dump({"auths": {reg.host: {"auth": base64.b64encode(b"alice:wonderland").decode()}}}, f)
                shutil.rmtree(store, ignore_errors=True)
                r = bi(*certs, "pull", ref, store=store, env={"REGISTRY_AUTH_FILE": auth})
                check("Basic: $REGISTRY_AUTH_FILE (base64 auths)", r.returncode == 0, r.stderr)
                dcfg = os.path.join(WORK, "docker-config")
                os.makedirs(dcfg, exist_ok=True)
                helper = os.path.join(WORK, "bin", "docker-credential-berthtest")
                os.makedirs(os.path.dirname(helper), exist_ok=True)
                with open(helper, "w") as f:
                    f.write('#!/bin/sh\nread host\n[ "$1" = get ] && echo "{\\"Username\\":\\"alice\\",\\"Secret\\":\\"wonderland\\"}"\n')
                os.chmod(helper, 0o755)
                with open(os.path.join(dcfg, "config.json"), "w") as f:
                    json.dump({"credHelpers": {reg.host: "berthtest"}}, f)
                shutil.rmtree(store, ignore_errors=True)
                r = bi(*certs, "pull", ref, store=store, env={"DOCKER_CONFIG": dcfg, "PATH": os.path.dirname(helper) + ":" + os.environ["PATH"], "REGISTRY_AUTH_FILE": "/nonexistent"})
                check("Basic: $DOCKER_CONFIG credHelpers run docker-credential-NAME get", r.returncode == 0, r.stderr)
            if mode == "token":
                r = bi(*certs, "pull", ref, store=store)
                check("Bearer: an anonymous token from the realm of the 401 challenge", r.returncode == 0 and any(u is None and "repository:fx/small:pull" in s for u, s in reg.token.requests), r.stderr + str(reg.token.requests))
                r = bi(*certs, "--creds", "alice:wrong", "pull", ref, store=store)
                check("Bearer: bad credentials are refused by the token server, and the error says so", one_error(r) and "token server" in r.stderr, r.stderr)
                shutil.rmtree(store, ignore_errors=True)
                r = bi(*certs, "--creds", "alice:wonderland", "pull", ref, store=store)
                check("Bearer: credentials sent as Basic to the realm", r.returncode == 0 and any(u == "alice" for u, _ in reg.token.requests), r.stderr)
        finally:
            reg.close()


def test_store(reg):
    ref = f"{reg.host}/fx/features:oci"
    d1 = fresh("reuse")
    r = bi("--plain-http", "bundle", ref, d1)
    # The registry stopped: a stored image needs it no more.
    host = reg.host
    reg.proc.terminate()
    reg.proc.wait()
    d2 = fresh("reuse2")
    r2 = bi("--plain-http", "bundle", ref, d2)
    check("a second bundle of a stored image needs no registry (layers unpacked once, shared)", r.returncode == 0 and r2.returncode == 0, r.stderr + r2.stderr)
    imgs = json.loads(bi("images", "--format", "json").stdout or "[]")
    check("images --format json lists what was pulled", any(i["reference"] == ref for i in imgs), imgs)
    t = bi("images").stdout.splitlines()
    check("images prints a table", t and t[0].split() == ["REFERENCE", "DIGEST", "PLATFORM", "SIZE", "PULLED"], t[:2])
    ins = json.loads(bi("inspect", ref).stdout or "{}")
    check("inspect: digests, platform, layers with diffIDs, the config", ins.get("platform") == "linux/amd64" and len(ins.get("layers", [])) == 3 and all("diffID" in l for l in ins["layers"]) and "rootfs" in ins.get("config", {}), list(ins))
    r = bi("rm", ref)
    r2 = bi("prune")
    layers = os.listdir(os.path.join(STORE, "layers/sha256"))
    check("prune keeps the layers a bundle still uses after rm", r.returncode == 0 and r2.returncode == 0 and any(not n.endswith(".lock") for n in layers), r.stderr + r2.stderr)
    bi("unbundle", d1)
    bi("unbundle", d2)
    for i in json.loads(bi("images", "--format", "json").stdout or "[]"):
        bi("rm", i["reference"])
    bi("prune")
    left = [n for n in os.listdir(os.path.join(STORE, "layers/sha256"))] + os.listdir(os.path.join(STORE, "blobs/sha256"))
    check("prune removes the blobs and layers nothing uses any more", not left, left[:5])
    return host


def test_concurrency_and_interrupts(reg):
    ref = f"{reg.host}/fx/features:oci"
    s = os.path.join(WORK, "store-conc")
    ps = [subprocess.Popen([BI, "--store", s, "-q", "--plain-http", "pull", ref], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in ps]
    codes = [p.returncode for p in ps]
    d = fresh("conc")
    r = bi("--plain-http", "bundle", ref, d, store=s)
    check("three pulls of one image at once: all succeed, and the store is sound", codes == [0, 0, 0] and r.returncode == 0 and berth_run(d, "conc").returncode == 0, str(codes) + str(outs) + r.stderr)
    subprocess.run([BI, "--store", s, "unbundle", d], capture_output=True)
    # Interrupted pulls: killed at random moments, then a pull must work and trust nothing half-made.
    s2 = os.path.join(WORK, "store-kill")
    big = [(fx.busybox_layer(), "gzip"), ([E(f"big/{i}", data=os.urandom(64 << 10)) for i in range(64)], "gzip")]
    fx.push_image(reg, "fx/big", "1", big, cfg={"Cmd": ["/bin/true"]})
    for delay in (0.02, 0.05, 0.1, 0.2):
        p = subprocess.Popen([BI, "--store", s2, "-q", "--plain-http", "pull", f"{reg.host}/fx/big:1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.kill()
        p.wait()
    r = bi("--plain-http", "pull", f"{reg.host}/fx/big:1", store=s2)
    d = fresh("after-kill")
    r2 = bi("--plain-http", "bundle", "--copy", f"{reg.host}/fx/big:1", d, store=s2)
    ok = r.returncode == 0 and r2.returncode == 0 and len(os.listdir(os.path.join(d, "rootfs/big"))) == 64
    check("pulls killed half-way leave nothing a later pull trusts", ok, r.stderr + r2.stderr)
    shutil.rmtree(d, ignore_errors=True)


def test_progress(reg):
    ref = f"{reg.host}/fx/features:oci"
    s = os.path.join(WORK, "store-progress")
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(BI, [BI, "--store", s, "--plain-http", "pull", ref])
    out = b""
    while True:
        r, _, _ = select.select([fd], [], [], 30)
        if not r:
            break
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    text = out.decode(errors="replace")
    check("on a terminal: a progress line per layer", "pulled" in text or "B/s" in text or "iB" in text, text[-300:])
    shutil.rmtree(s, ignore_errors=True)
    r = subprocess.run([BI, "--store", s, "--plain-http", "pull", ref], capture_output=True, text=True)
    check("not on a terminal: no progress, only the digest", r.returncode == 0 and r.stdout.count("\n") == 1 and r.stdout.startswith("sha256:"), r.stdout)


CHANGES = ("echo new > /data/new; echo changed > /data/changed; rm /data/gone; rm /data/link-gone; "
           "rm -rf /olddir; mkdir /olddir; echo fresh > /olddir/fresh; ln /data/new /data/new-hardlink; "
           "chmod 4755 /data/changed; ln -s ../etc/passwd /data/sym; mkdir -p /deep/a/b; echo d > /deep/a/b/f")


def base_with_data():
    return [(fx.busybox_layer(), "gzip"),
            ([E("data/", "dir"), E("data/changed", data=b"original\n"), E("data/gone", data=b"to delete\n"), E("data/link-gone", "symlink", link="gone"),
              E("data/keep", data=b"kept\n"), E("olddir/", "dir"), E("olddir/a", data=b"a\n"), E("olddir/sub/", "dir"), E("olddir/sub/b", data=b"b\n")], "gzip")]


def view_equals_umoci(reg, ref, name, view):
    u = tree(umoci_rootfs(reg, ref, name))
    v = tree(view)
    # What the runtime itself makes for the container is not the container's change.
    diff = [d for d in diff_trees(u, v)]
    return diff


def test_commit(reg):
    fx.push_image(reg, "fx/base", "1", base_with_data(), cfg={"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]})
    base = f"{reg.host}/fx/base:1"
    for mode in ("snapshot", "copy"):
        d = fresh(f"commit-{mode}")
        r = bi("--plain-http", "bundle", *(["--copy"] if mode == "copy" else []), base, d, "--", "/bin/sh", "-c", CHANGES)
        run = berth_run(d, f"changer-{mode}")
        check(f"{mode}: a container adds, changes and deletes files and replaces a directory", r.returncode == 0 and run.returncode == 0, r.stderr + run.stderr)
        dest = f"{reg.host}/fx/committed-{mode}:1"
        r = bi("commit", "--change", 'CMD ["/bin/cat", "/data/new", "/olddir/fresh"]', "--change", "ENV COMMITTED=yes", "--message", "from the test", d, dest)
        check(f"{mode}: commit", r.returncode == 0 and r.stdout.startswith("sha256:"), r.stderr)
        r = subprocess.run([BI, "--store", STORE, "--plain-http", "push", dest], capture_output=True, text=True)
        check(f"{mode}: push (the base's 2 layers mounted from its repository, the new layer and config uploaded)", r.returncode == 0 and "2 uploaded, 2 mounted" in r.stderr, r.stderr)
        diff = view_equals_umoci(reg, f"fx/committed-{mode}:1", f"committed-{mode}", os.path.join(d, "rootfs"))
        check(f"{mode}: skopeo + umoci of the pushed image equal the container's view", not diff, diff[:8])
        s2 = os.path.join(WORK, f"store-fresh-{mode}")
        d2 = fresh(f"committed-{mode}")
        r = bi("--plain-http", "bundle", dest, d2, store=s2)
        run = berth_run(d2, f"reader-{mode}") if r.returncode == 0 else r
        c = json.load(open(os.path.join(d2, "config.json"))) if r.returncode == 0 else {}
        check(f"{mode}: the committed image, pulled afresh, runs with the changes and the --change", run.returncode == 0 and run.stdout == "new\nfresh\n"
              and "COMMITTED=yes" in c.get("process", {}).get("env", []), r.stderr + run.stdout + run.stderr)
        # A second commit on top.
        d3 = fresh(f"second-{mode}")
        bi("bundle", *(["--copy"] if mode == "copy" else []), dest, d3, "--", "/bin/sh", "-c", "rm /data/keep; echo again > /data/new")
        berth_run(d3, f"again-{mode}")
        dest2 = f"{reg.host}/fx/committed-{mode}:2"
        r = bi("commit", d3, dest2)
        d4 = fresh(f"second-check-{mode}")
        r2 = bi("bundle", dest2, d4, "--", "/bin/sh", "-c", "cat /data/new; test -e /data/keep || echo keep-gone; ls /olddir")
        run = berth_run(d4, f"check2-{mode}") if r2.returncode == 0 else r2
        check(f"{mode}: a second commit on top of the first", r.returncode == 0 and run.stdout == "again\nkeep-gone\nfresh\n", r.stderr + r2.stderr + run.stdout + run.stderr)
        hist = json.loads(bi("inspect", dest2).stdout)["config"]["history"]
        check(f"{mode}: history records both commits and the message", len(hist) >= 4 and hist[-2].get("comment") == "from the test" and "berth-image commit" in hist[-1]["created_by"], hist[-2:])
        for x in (d, d2, d3, d4):
            subprocess.run([BI, "--store", STORE, "unbundle", x], capture_output=True)
            subprocess.run([BI, "--store", s2, "unbundle", x], capture_output=True)
    # A running container: refused, unless --pause (frozen for the commit, running after).
    d = fresh("commit-running")
    bi("--plain-http", "bundle", base, d, "--", "/bin/sh", "-c", "echo x > /data/running; sleep 100")
    subprocess.run([BERTH, "--root", ROOT, "run", "-d", "--bundle", d, "runner"], check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    r = bi("commit", "--berth-root", ROOT, d, f"{reg.host}/fx/running:1")
    check("commit of a bundle a container runs on is refused", one_error(r) and "runner" in r.stderr and "--pause" in r.stderr, r.stderr)
    r = bi("commit", "--pause", "--berth-root", ROOT, d, f"{reg.host}/fx/running:1")
    st = json.loads(subprocess.run([BERTH, "--root", ROOT, "state", "runner"], capture_output=True, text=True).stdout or "{}")
    check("commit --pause: committed, and the container runs on (thawed)", r.returncode == 0 and st.get("status") == "running", r.stderr + str(st))
    subprocess.run([BERTH, "--root", ROOT, "delete", "-f", "runner"], capture_output=True)
    bi("unbundle", d)
    # tag, save and load.
    r = bi("tag", f"{reg.host}/fx/committed-snapshot:1", "localhost/tagged:x")
    arc = os.path.join(WORK, "image.tar")
    r2 = bi("save", "localhost/tagged:x", arc)
    oci = os.path.join(WORK, "from-archive")
    r3 = subprocess.run(["skopeo", "copy", "--quiet", f"oci-archive:{arc}", f"dir:{oci}"], capture_output=True, text=True)
    s3 = os.path.join(WORK, "store-load")
    r4 = bi("load", arc, store=s3)
    d = fresh("loaded")
    r5 = bi("bundle", "localhost/tagged:x", d, store=s3)
    run = berth_run(d, "loaded") if r5.returncode == 0 else r5
    check("tag, save (skopeo reads the archive) and load into another store", all(x.returncode == 0 for x in (r, r2, r3, r4, r5)) and run.stdout == "new\nfresh\n",
          " ".join(x.stderr for x in (r, r2, r3, r4, r5)) + run.stderr)
    subprocess.run([BI, "--store", s3, "unbundle", d], capture_output=True)
    # Chunked upload, to another repository of the same registry with a fresh store.
    big = [(fx.busybox_layer(), "gzip"), ([E(f"blob/{i}", data=os.urandom(256 << 10)) for i in range(12)], "gzip")]
    fx.push_image(reg, "fx/chunky", "1", big, cfg={"Cmd": ["/bin/ls", "/blob"]})
    s4 = os.path.join(WORK, "store-chunk")
    bi("--plain-http", "pull", f"{reg.host}/fx/chunky:1", store=s4)
    reg2 = reglib.Registry("http")
    cleanups.append(reg2.close)
    r = subprocess.run([BI, "--store", s4, "--plain-http", "push", "--chunk-size", "65536", f"{reg.host}/fx/chunky:1", f"{reg2.host}/fx/chunky:copy"], capture_output=True, text=True)
    s5 = os.path.join(WORK, "store-chunk-back")
    d = fresh("chunky")
    r2 = bi("--plain-http", "bundle", "--copy", f"{reg2.host}/fx/chunky:copy", d, store=s5)
    check("push in PATCH chunks of 64 KiB to another registry, then pulled back whole", r.returncode == 0 and "3 uploaded" in r.stderr and r2.returncode == 0
          and len(os.listdir(os.path.join(d, "rootfs/blob"))) == 12, r.stderr + r2.stderr)


def test_push_auth():
    for mode in ("basic", "token"):
        reg = reglib.Registry(mode)
        try:
            fx.push_image(reg, "fx/src", "1", [(fx.busybox_layer(), "gzip")], cfg={"Cmd": ["/bin/echo", "ok"]})
            s = os.path.join(WORK, f"store-push-{mode}")
            certs = ["--cert-dir", reg.ca.dir, "--creds", "alice:wonderland"]
            d = fresh(f"push-{mode}")
            r = bi(*certs, "bundle", f"{reg.host}/fx/src:1", d, "--", "/bin/sh", "-c", "echo pushed > /pushed", store=s)
            berth_run(d, f"push-{mode}")
            r2 = bi("commit", d, f"{reg.host}/fx/dest:1", store=s)
            r3 = bi(*certs, "push", f"{reg.host}/fx/dest:1", store=s)
            s2 = os.path.join(WORK, f"store-push-{mode}-back")
            d2 = fresh(f"push-{mode}-back")
            r4 = bi(*certs, "bundle", f"{reg.host}/fx/dest:1", d2, "--", "/bin/cat", "/pushed", store=s2)
            run = berth_run(d2, f"back-{mode}") if r4.returncode == 0 else r4
            check(f"push with {'Basic auth' if mode == 'basic' else 'Bearer tokens'}, pulled back", all(x.returncode == 0 for x in (r, r2, r3, r4)) and run.stdout == "pushed\n",
                  " ".join(x.stderr for x in (r, r2, r3, r4)) + run.stderr)
            r5 = bi("--cert-dir", reg.ca.dir, "push", f"{reg.host}/fx/dest:1", f"{reg.host}/fx/anon:1", store=s)
            check(f"push without credentials ({mode}): refused, one clear line", one_error(r5) and ("refused" in r5.stderr or "credentials" in r5.stderr), r5.stderr)
            for x in (d, d2):
                subprocess.run([BI, "--store", s, "unbundle", x], capture_output=True)
                subprocess.run([BI, "--store", s2, "unbundle", x], capture_output=True)
        finally:
            reg.close()


def main():
    for tool in ("docker-registry", "skopeo", "umoci", "zstd", "htpasswd", "openssl"):
        if shutil.which(tool) is None:
            check(f"{tool} is installed", False)
            return
    reg = reglib.Registry("http")
    fake = reglib.FakeRegistry()
    cleanups.extend([reg.close, fake.close])
    test_content(reg)
    test_platforms(reg)
    test_refusals(reg, fake)
    test_hostile(reg)
    test_progress(reg)
    test_concurrency_and_interrupts(reg)
    test_registries()
    test_commit(reg)
    test_push_auth()
    test_store(reg)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:
        import traceback
        traceback.print_exc()
        check("the test run finished", False, repr(e))
    finally:
        for c in cleanups:
            try:
                c()
            except Exception:
                pass
        for d in os.listdir(WORK) if os.path.isdir(WORK) else []:
            p = os.path.join(WORK, d)
            subprocess.run(["umount", "-l", os.path.join(p, "rootfs")], capture_output=True)
        for e in (os.listdir(ROOT) if os.path.isdir(ROOT) else []):
            subprocess.run([BERTH, "--root", ROOT, "delete", "-f", e], capture_output=True)
        shutil.rmtree(WORK, ignore_errors=True)
        print(f"{passed} passed, {failed} failed")
        sys.exit(1 if failed else 0)
