"""Checks image names in an OCI archive's index.json the way k3s does at
import: each must parse as a tagged reference (k3s's parseNamedTagged in
pkg/agent/containerd/containerd.go: distribution/reference's
ParseNormalizedNamed, then a NamedTagged type check). Our own statement of
that grammar, written from distribution/reference's documented grammar, not
k3s's code. Prints one refused name a line; exits 1 if any.
Usage: k3s_names.py ARCHIVE | --self-test"""

import json
import re
import sys
import tarfile

COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
DOMAIN = r"(?:localhost|(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
TAG = r"[\w][\w.-]{0,127}"
DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
REFERENCE = re.compile(rf"^(?:{DOMAIN}/)?{COMPONENT}(?:/{COMPONENT})*(?::(?P<tag>{TAG}))?(?:@{DIGEST})?$")


def k3s_accepts(name):
    """True if NAME parses as a normalized, tagged reference."""
    if re.fullmatch(r"[a-f0-9]{64}", name):
        return False
    first, _, rest = name.partition("/")
    # A first component without '.', ':' or 'localhost' is a docker.io path.
    if not rest or not (("." in first or ":" in first) or first == "localhost"):
        first, rest = "docker.io", name
    if rest.split("@")[0].split(":")[0].lower() != rest.split("@")[0].split(":")[0]:
        return False
    m = REFERENCE.match(f"{first}/{rest}")
    return bool(m and m.group("tag"))


def archive_names(path):
    with tarfile.open(path) as tar:
        index = json.load(tar.extractfile("index.json"))
    return [m.get("annotations", {}).get("io.containerd.image.name", "") for m in index["manifests"]]


def self_test():
    d = "sha256:" + "ab" * 32
    good = ["docker.io/minio/minio:RELEASE.2025-09-07T16-13-09Z", "busybox:1", "127.0.0.1:5000/a/b:1", f"quay.io/a:1@{d}"]
    bad = ["busybox", f"docker.io/minio/minio@{d}", "Upper/case:1", "a" * 64, ""]
    wrong = [n for n in good if not k3s_accepts(n)] + [n for n in bad if k3s_accepts(n)]
    print("\n".join(wrong))
    return 1 if wrong else 0


def main():
    if sys.argv[1] == "--self-test":
        return self_test()
    refused = [n for n in archive_names(sys.argv[1]) if not k3s_accepts(n)]
    print("\n".join(refused))
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
