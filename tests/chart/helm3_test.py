"""Helm 3 beside Helm 4: k3s's helm-controller installs the chart with Helm 3
(v3.19.4, built by `make upstream`), the chart suite renders it with Helm 4
(helm-python-sdk). Both must render the same manifests, compared as parsed
YAML, document by document, for each set of values given."""

import json
import os
import subprocess
import tempfile

import yaml

from report import check


def _key(doc):
    meta = doc.get("metadata") or {}
    return (doc.get("apiVersion"), doc.get("kind"), meta.get("namespace"), meta.get("name"))


def _by_key(docs):
    return {_key(d): d for d in docs if d}


def helm3_docs(helm, chart, values, release, namespace):
    """Parsed documents of `helm template` (hooks and test pods included, as Helm 4's render has them)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(values, f)
        f.flush()
        out = subprocess.run([helm, "template", release, chart, "--namespace", namespace, "--values", f.name],
                             capture_output=True, text=True, check=True)
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def _first_difference(a, b, path=""):
    if type(a) is not type(b):
        return f"{path or '(root)'}: {json.dumps(a)[:80]} vs {json.dumps(b)[:80]}"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{path}.{k}: only in Helm {'4' if k in a else '3'}"
            d = _first_difference(a[k], b[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            d = _first_difference(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    return None if a == b else f"{path}: {json.dumps(a)[:80]} vs {json.dumps(b)[:80]}"


def run_checks(root, chart, render, values_sets, release, namespace):
    helm = os.path.join(root, "out", "upstream", "bin", "helm")
    if not os.access(helm, os.X_OK):
        check("Helm 3 renders like Helm 4", False, f"{helm} is missing (run 'make upstream')")
        return
    version = subprocess.run([helm, "version", "--short"], capture_output=True, text=True).stdout.strip()
    for label, values in values_sets:
        helm4 = _by_key(render(values)[1])
        helm3 = _by_key(helm3_docs(helm, chart, values, release, namespace))
        only = sorted(set(helm4) ^ set(helm3), key=str)
        diffs = [f"{k[1]} {k[3]}: {_first_difference(helm4[k], helm3[k])}"
                 for k in sorted(set(helm4) & set(helm3), key=str) if helm4[k] != helm3[k]]
        detail = "; ".join([f"only one has {k[1]} {k[3]}" for k in only] + diffs)[:600]
        check(f"Helm 3 ({version}) and Helm 4 render the same {len(helm4)} manifests ({label})",
              not only and not diffs and len(helm4) > 0, detail)
