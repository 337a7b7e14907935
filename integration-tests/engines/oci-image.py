#!/usr/bin/env python3
"""Writes an image archive of a rootfs directory, offline, for engines to import without a
registry: an OCI layout (oci-layout + index.json + blobs; `ctr images import`,
`podman load`), or with --docker the docker-archive format (`docker load` before 25.0).
--cmd 'JSON ARRAY' sets the image's default command (default ["sh"]), e.g. a pause image for
a CRI pod sandbox. usage: oci-image.py [--docker] [--cmd JSON] ROOTFS OUT.tar REF"""
import hashlib, io, json, sys, tarfile

args = sys.argv[1:]
docker = args[:1] == ["--docker"]
args = args[1:] if docker else args
cmd = ["sh"]
if args[:1] == ["--cmd"]:
    cmd, args = json.loads(args[1]), args[2:]
rootfs, out, ref = args[0], args[1], args[2]
layer = io.BytesIO()
with tarfile.open(fileobj=layer, mode="w") as t:
    t.add(rootfs, arcname=".")
layer = layer.getvalue()
def blob(data):
    return "sha256:" + hashlib.sha256(data).hexdigest(), data
ldig, _ = blob(layer)
config = json.dumps({
    "architecture": "amd64", "os": "linux",
    "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": cmd},
    "rootfs": {"type": "layers", "diff_ids": [ldig]},
}).encode()
cdig, _ = blob(config)
manifest = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdig, "size": len(config)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ldig, "size": len(layer)}],
}).encode()
mdig, _ = blob(manifest)
index = json.dumps({
    "schemaVersion": 2,
    "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mdig, "size": len(manifest),
                   "annotations": {"org.opencontainers.image.ref.name": ref, "io.containerd.image.name": ref}}],
}).encode()
def add_to(t, name, data):
    info = tarfile.TarInfo(name); info.size = len(data); t.addfile(info, io.BytesIO(data))

if docker:
    with tarfile.open(out, "w") as t:
        add_to(t, "layer/layer.tar", layer)
        add_to(t, cdig.split(":")[1] + ".json", config)
        add_to(t, "manifest.json", json.dumps([{"Config": cdig.split(":")[1] + ".json", "RepoTags": [ref], "Layers": ["layer/layer.tar"]}]).encode())
    sys.exit(0)

with tarfile.open(out, "w") as t:
    def add(name, data):
        info = tarfile.TarInfo(name); info.size = len(data); t.addfile(info, io.BytesIO(data))
    add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    add("index.json", index)
    for d, data in ((ldig, layer), (cdig, config), (mdig, manifest)):
        add("blobs/sha256/" + d.split(":")[1], data)
