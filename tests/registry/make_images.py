#!/usr/bin/env python3
"""Writes small deterministic OCI image layouts for the registry suite, one
directory per image under OUT (OUT/a, OUT/b, OUT/c, each tagged "1"):
  a  a multi-arch index (linux/amd64 and linux/arm64), layers [base, a-<arch>]
  b  linux/amd64, layers [base, b]
  c  linux/amd64, layers [base, b, c]   (shares two layers with b)
Layers are gzip'd tars with mtime 0, as registries usually hold them.
Usage: make_images.py OUT"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer(files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, text in files:
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    raw = raw.getvalue()
    return gzip.compress(raw, mtime=0), digest(raw)


class Layout:
    def __init__(self, path):
        self.path = path
        os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)

    def put(self, data):
        d = digest(data)
        with open(os.path.join(self.path, "blobs", "sha256", d[7:]), "wb") as f:
            f.write(data)
        return {"digest": d, "size": len(data)}

    def manifest(self, arch, layers):
        blobs = [self.put(gz) for gz, _ in layers]
        config = json.dumps({
            "architecture": arch, "os": "linux",
            "config": {"Labels": {"floppies.test": "registry suite"}},
            "rootfs": {"type": "layers", "diff_ids": [diff for _, diff in layers]},
        }, sort_keys=True).encode()
        doc = {
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **self.put(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **b} for b in blobs],
        }
        return {"mediaType": OCI_MANIFEST, **self.put(json.dumps(doc, sort_keys=True).encode()),
                "platform": {"architecture": arch, "os": "linux"}}

    def finish(self, top):
        top = dict(top)
        top.pop("platform", None)
        top["annotations"] = {"org.opencontainers.image.ref.name": "1"}
        with open(os.path.join(self.path, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "manifests": [top]}, f)
        with open(os.path.join(self.path, "oci-layout"), "w") as f:
            f.write('{"imageLayoutVersion":"1.0.0"}')


def main():
    out = sys.argv[1]
    base = layer([("etc/floppies-base", "shared base layer\n")])
    b_layer = layer([("b.txt", "layer of image b\n")])
    a = Layout(os.path.join(out, "a"))
    children = [a.manifest(arch, [base, layer([(f"a-{arch}.txt", f"image a for {arch}\n")])]) for arch in ("amd64", "arm64")]
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}
    a.finish({"mediaType": OCI_INDEX, **a.put(json.dumps(index, sort_keys=True).encode())})
    b = Layout(os.path.join(out, "b"))
    b.finish(b.manifest("amd64", [base, b_layer]))
    c = Layout(os.path.join(out, "c"))
    c.finish(c.manifest("amd64", [base, b_layer, layer([("c.txt", "layer of image c\n")])]))


if __name__ == "__main__":
    main()
