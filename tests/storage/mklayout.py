#!/usr/bin/env python3
"""mklayout.py DIR LAYER... [--media-type MT] [--name REF]: writes an OCI image
layout whose layers are the given files verbatim (their digests and diff ids
are computed, as for uncompressed tar layers), so a test controls every byte
of a layer, including broken ones."""
import argparse
import gzip
import hashlib
import json
import os
import subprocess

p = argparse.ArgumentParser()
p.add_argument("dir")
p.add_argument("layers", nargs="+")
p.add_argument("--media-type", default="application/vnd.oci.image.layer.v1.tar")
p.add_argument("--name", default="latest")
p.add_argument("--gzip", action="store_true", help="compress the layers (diff ids of the tars)")
p.add_argument("--zstd", action="store_true", help="compress with the zstd command")
a = p.parse_args()
blobs = os.path.join(a.dir, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)


def put(data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, d), "wb") as f:
        f.write(data)
    return "sha256:" + d, len(data)


layers, diffs = [], []
for path in a.layers:
    data = open(path, "rb").read()
    diffs.append("sha256:" + hashlib.sha256(data).hexdigest())
    mt = a.media_type
    if a.gzip:
        data = gzip.compress(data, mtime=0)
        mt = "application/vnd.oci.image.layer.v1.tar+gzip"
    elif a.zstd:
        data = subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True,
                              check=True).stdout
        mt = "application/vnd.oci.image.layer.v1.tar+zstd"
    d, n = put(data)
    layers.append({"mediaType": mt, "digest": d, "size": n})
config = json.dumps({"architecture": "amd64", "os": "linux",
                     "config": {"Cmd": ["/bin/sh"]},
                     "rootfs": {"type": "layers", "diff_ids": diffs}}).encode()
cd, cn = put(config)
manifest = json.dumps({"schemaVersion": 2,
                       "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": cd, "size": cn},
                       "layers": layers}).encode()
md, mn = put(manifest)
with open(os.path.join(a.dir, "oci-layout"), "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)
with open(os.path.join(a.dir, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mn,
         "annotations": {"org.opencontainers.image.ref.name": a.name}}]}, f)
print(md)
