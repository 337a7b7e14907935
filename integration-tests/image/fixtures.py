"""Fixture images for berth-image's tests, built here from scratch (no network): tar layers
written entry by entry with Python's tarfile (PAX, so long names and xattrs), compressed
as asked (gzip, zstd through the zstd tool, or none), with OCI or Docker media types, and
pushed to a registry (reglib) with their config and manifest.
"""
import gzip, io, json, os, subprocess, tarfile

from reglib import SHA

OCI = {"manifest": "application/vnd.oci.image.manifest.v1+json", "index": "application/vnd.oci.image.index.v1+json",
       "config": "application/vnd.oci.image.config.v1+json",
       "layer": {"none": "application/vnd.oci.image.layer.v1.tar", "gzip": "application/vnd.oci.image.layer.v1.tar+gzip", "zstd": "application/vnd.oci.image.layer.v1.tar+zstd"}}
DOCKER = {"manifest": "application/vnd.docker.distribution.manifest.v2+json", "index": "application/vnd.docker.distribution.manifest.list.v2+json",
          "config": "application/vnd.docker.container.image.v1+json",
          "layer": {"gzip": "application/vnd.docker.image.rootfs.diff.tar.gzip", "none": "application/vnd.docker.image.rootfs.diff.tar"}}

# A file capability (cap_net_bind_service=ep), as the security.capability xattr holds it.
CAP_NET_BIND = bytes([0x01, 0, 0, 0x02, 0x00, 0x04, 0, 0] + [0] * 12)


def entry(name, type="file", data=b"", mode=None, uid=0, gid=0, link="", xattrs=None, major=0, minor=0, mtime=1700000000):
    return {"name": name, "type": type, "data": data, "mode": mode, "uid": uid, "gid": gid, "link": link, "xattrs": xattrs or {}, "major": major, "minor": minor, "mtime": mtime}


def tar_bytes(entries, end_blocks=True):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            ti = tarfile.TarInfo(e["name"])
            ti.uid, ti.gid, ti.mtime = e["uid"], e["gid"], e["mtime"]
            ti.uname = ti.gname = ""
            kind = e["type"]
            ti.type = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
                       "fifo": tarfile.FIFOTYPE, "char": tarfile.CHRTYPE, "block": tarfile.BLKTYPE}[kind]
            ti.mode = e["mode"] if e["mode"] is not None else (0o755 if kind == "dir" else 0o644)
            ti.linkname = e["link"]
            ti.devmajor, ti.devminor = e["major"], e["minor"]
            for k, v in e["xattrs"].items():
                ti.pax_headers["SCHILY.xattr." + k] = v.decode("utf-8", "surrogateescape") if isinstance(v, bytes) else v
            if kind == "file":
                ti.size = len(e["data"])
                t.addfile(ti, io.BytesIO(e["data"]))
            else:
                t.addfile(ti)
    data = buf.getvalue()
    if not end_blocks:
        # As umoci insert writes them: no end-of-archive blocks, no padding after the
        # last file's data.
        data = data.rstrip(b"\0")
    return data


def compress(data, how):
    if how == "gzip":
        return gzip.compress(data, mtime=0)
    if how == "zstd":
        return subprocess.run(["zstd", "-q", "-c", "-3"], input=data, check=True, capture_output=True).stdout
    return data


def busybox_layer():
    bb = open("/bin/busybox", "rb").read()
    applets = subprocess.run(["/bin/busybox", "--list"], check=True, capture_output=True, text=True).stdout.split()
    es = [entry("bin/", "dir"), entry("bin/busybox", data=bb, mode=0o755)]
    es += [entry(f"bin/{a}", "symlink", link="busybox") for a in applets if a != "busybox"]
    es += [entry("etc/", "dir"), entry("tmp/", "dir", mode=0o1777), entry("root/", "dir", mode=0o700), entry("proc/", "dir"), entry("sys/", "dir"), entry("dev/", "dir"),
           entry("etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app user:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"),
           entry("etc/group", data=b"root:x:0:\napp:x:1000:\nextra:x:2000:app,other\nnobody:x:65534:\n"),
           entry("home/", "dir"), entry("home/app/", "dir", uid=1000, gid=1000, mode=0o750)]
    return es


def config(diff_ids, cfg=None, arch="amd64", os_="linux", history=True):
    c = {"architecture": arch, "os": os_, "created": "2026-01-01T00:00:00Z", "author": "berth tests",
         "config": cfg or {"Cmd": ["/bin/sh"], "Env": ["PATH=/usr/bin:/bin"]},
         "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    if history:
        c["history"] = [{"created": "2026-01-01T00:00:00Z", "created_by": "berth fixture"} for _ in diff_ids]
    return c


def push_image(reg, repo, tag, layers, cfg=None, types=OCI, arch="amd64", raw_config=None, extra_manifest=None, push_tag=True):
    """layers: [(entries | bytes of a tar, compression)]. Returns (manifest digest, manifest bytes, descriptor)."""
    descs, diff_ids = [], []
    for l, how in layers:
        plain = l if isinstance(l, bytes) else tar_bytes(l)
        blob = compress(plain, how)
        d = reg.push_blob(repo, blob)
        descs.append({"mediaType": types["layer"][how], "digest": d, "size": len(blob)})
        diff_ids.append(SHA(plain))
    cbytes = json.dumps(raw_config if raw_config is not None else config(diff_ids, cfg, arch)).encode()
    cd = reg.push_blob(repo, cbytes)
    m = {"schemaVersion": 2, "mediaType": types["manifest"], "config": {"mediaType": types["config"], "digest": cd, "size": len(cbytes)}, "layers": descs}
    if extra_manifest:
        m.update(extra_manifest)
    mbytes = json.dumps(m).encode()
    md = reg.push_manifest(repo, tag if push_tag else SHA(mbytes), mbytes, types["manifest"])
    return md, mbytes, {"mediaType": types["manifest"], "digest": md, "size": len(mbytes), "platform": {"os": "linux", "architecture": arch}}


def push_index(reg, repo, tag, descriptors, types=OCI):
    idx = {"schemaVersion": 2, "mediaType": types["index"], "manifests": descriptors}
    b = json.dumps(idx).encode()
    return reg.push_manifest(repo, tag, b, types["index"]), b
