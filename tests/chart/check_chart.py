"""Checks of charts/floppies: real Helm render and lint, Pod Security
"restricted" field by field, network flows, schemas, policy, and the seed
script's idempotence against a fake `mc`. Run by tests/chart/run."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import helm_python
import kubernetes_validate
import yaml

ROOT = sys.argv[1]
CHART = os.path.join(ROOT, "charts", "floppies")
PINS = os.path.join(ROOT, "airgap", "pins.json")
NAMESPACE = "floppies"
RELEASE = "floppies"
# Exactly what the installer sends (helper/src/steps/values.rs).
INSTALLER_VALUES = {
    "minio": {
        "imageVariant": "default",
        "existingSecret": "floppies-minio-root",
        "dataHostPath": "/var/lib/floppies/data/minio",
    },
    "s3www": {"existingSecret": "floppies-s3www-reader"},
    "content": {"hostPath": "/opt/floppies/current/content"},
    "tls": {"secretName": "floppies-tls"},
}
# checkov findings we accept, each for a reason.
CHECKOV_SKIPS = {
    # Images are pinned by digest once `make pin` has verified the digests;
    # the digest values are empty until then (no registry reachable here).
    "CKV_K8S_43": "image digests are filled in by 'make pin'",
    # Air gap: images come with the installer and are never pulled, so
    # IfNotPresent is the right policy, not Always.
    "CKV_K8S_15": "images are imported from the bundle, never pulled",
    # The namespace is created by the installer (with Pod Security labels),
    # and the chart must not template it; 'default' is never used.
    "CKV_K8S_21": "the release namespace is set by helm-controller's targetNamespace",
    # A UID above 10000 is a heuristic; MinIO's data dir is owned by 1000 by contract.
    "CKV_K8S_40": "MinIO runs as 1000, the owner of its host data directory",
    # MinIO and mc take credentials only from the environment.
    "CKV_K8S_35": "secrets as env vars: MinIO and mc read credentials only from the environment",
}

passed = 0
failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"PASS chart {name}")
    else:
        failed += 1
        print(f"FAIL chart {name}" + (f": {detail}" if detail else ""))


def merge(base, extra):
    out = json.loads(json.dumps(base))
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def render(values, chart=None):
    c = helm_python.Chart.load(chart or CHART)
    files = c.render(values, name=RELEASE, namespace=NAMESPACE)
    docs = []
    for path, text in sorted(files.items()):
        if not path.endswith(".yaml"):
            continue
        for d in yaml.safe_load_all(text):
            if d:
                d["__file"] = path
                docs.append(d)
    return files, docs


def pod_specs(docs):
    for d in docs:
        if d["kind"] == "Pod":
            yield d, d["spec"]
        elif d["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
            yield d, d["spec"]["template"]["spec"]


def psa_restricted_problems(spec):
    """Pod Security Standards, restricted profile (v1.30+), field by field."""
    problems = []
    for f in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(f):
            problems.append(f)
    allowed_volumes = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
    for v in spec.get("volumes", []):
        kinds = set(v) - {"name"}
        if not kinds <= allowed_volumes:
            problems.append(f"volume {v['name']} is {kinds}")
    psc = spec.get("securityContext", {})
    containers = spec.get("containers", []) + spec.get("initContainers", [])
    for c in containers:
        sc = c.get("securityContext", {})
        n = c["name"]
        if sc.get("privileged"):
            problems.append(f"{n} privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{n} allowPrivilegeEscalation not false")
        if sc.get("capabilities", {}).get("drop") != ["ALL"]:
            problems.append(f"{n} does not drop ALL capabilities")
        if set(sc.get("capabilities", {}).get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{n} adds capabilities")
        if not (sc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
            problems.append(f"{n} runAsNonRoot not set")
        if sc.get("runAsUser", psc.get("runAsUser")) == 0:
            problems.append(f"{n} runs as uid 0")
        seccomp = sc.get("seccompProfile", psc.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{n} seccomp {seccomp}")
        if c.get("ports"):
            if any(p.get("hostPort") for p in c["ports"]):
                problems.append(f"{n} hostPort")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{n} root filesystem writable")
    return problems


def labels_component(selector):
    return (selector or {}).get("matchLabels", {}).get("app.kubernetes.io/component")


def flows(docs):
    """(direction, from, to, protocol/port) for every allow rule."""
    out = set()
    for p in (d for d in docs if d["kind"] == "NetworkPolicy"):
        me = labels_component(p["spec"]["podSelector"]) or "all"
        for rule in p["spec"].get("ingress", []):
            for peer in rule.get("from", []):
                src = labels_component(peer.get("podSelector"))
                if peer.get("namespaceSelector"):
                    src = peer["podSelector"]["matchLabels"].get("app.kubernetes.io/name", "?")
                for port in rule.get("ports", []):
                    out.add(("in", src, me, f"{port['protocol']}/{port['port']}"))
        for rule in p["spec"].get("egress", []):
            for peer in rule.get("to", []):
                dst = labels_component(peer.get("podSelector"))
                if peer.get("namespaceSelector"):
                    dst = peer["podSelector"]["matchLabels"].get("k8s-app", "?")
                for port in rule.get("ports", []):
                    out.add(("out", me, dst, f"{port['protocol']}/{port['port']}"))
    return out


def main():
    defaults = yaml.safe_load(open(os.path.join(CHART, "values.yaml")))

    lint = helm_python.lint(CHART, INSTALLER_VALUES, strict=False, namespace=NAMESPACE)
    worse_than_info = [m for m in lint.get("messages", []) if m.get("severity", 0) >= 2] + lint.get("errors", [])
    check("helm lint finds no warning or error", not worse_than_info, json.dumps(worse_than_info)[:600])

    try:
        files, docs = render(INSTALLER_VALUES)
        check("renders with the installer's values", True)
    except Exception as e:  # noqa: BLE001 - any render failure is the finding
        check("renders with the installer's values", False, str(e)[:400])
        return

    try:
        render({})
        check("refuses to render without minio.existingSecret", False, "rendered with no credentials secret")
    except Exception as e:  # noqa: BLE001
        msg = str(e)
        check("refuses to render without minio.existingSecret, readably",
              "minio.existingSecret is required" in msg and "no default password" in msg, msg[:300])

    for bad, where in ((merge(INSTALLER_VALUES, {"typo": 1}), "top level"),
                       (merge(INSTALLER_VALUES, {"minio": {"imageVarient": "cpuv1"}}), "minio"),
                       (merge(INSTALLER_VALUES, {"minio": {"imageVariant": "v1"}}), "minio.imageVariant enum")):
        try:
            render(bad)
            check(f"schema rejects a bad value ({where})", False, "rendered")
        except Exception as e:  # noqa: BLE001
            check(f"schema rejects a bad value ({where})", "schema" in str(e).lower() or "additional" in str(e).lower(), str(e)[:300])

    kinds = [d["kind"] for d in docs]
    check("no Namespace object (the installer makes it, with Pod Security labels)", "Namespace" not in kinds, str(kinds))
    rbac = [k for k in kinds if k in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")]
    check("no RBAC objects", not rbac, str(rbac))

    for d, spec in pod_specs(docs):
        name = f"{d['kind']}/{d['metadata']['name']}"
        problems = psa_restricted_problems(spec)
        check(f"{name} passes Pod Security restricted", not problems, "; ".join(problems))
        check(f"{name} mounts no service account token", spec.get("automountServiceAccountToken") is False)
        missing = [c["name"] for c in spec["containers"]
                   if not (c.get("resources", {}).get("requests") and c.get("resources", {}).get("limits"))]
        check(f"{name} sets requests and limits", not missing, str(missing))
        if d["kind"] == "Deployment":
            no_probe = [c["name"] for c in spec["containers"] if not (c.get("livenessProbe") and c.get("readinessProbe"))]
            check(f"{name} has liveness and readiness probes", not no_probe, str(no_probe))
    sa = [d for d in docs if d["kind"] == "ServiceAccount"]
    check("the ServiceAccount does not automount tokens", sa and all(d.get("automountServiceAccountToken") is False for d in sa))

    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    deny = [p for p in policies if p["spec"]["podSelector"].get("matchLabels") == {"app.kubernetes.io/instance": RELEASE}
            and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"} and "ingress" not in p["spec"] and "egress" not in p["spec"]]
    check("a default-deny NetworkPolicy covers every pod of the release, both directions", len(deny) == 1)
    want = {
        ("in", "traefik", "s3www", "TCP/8080"), ("in", "test", "s3www", "TCP/8080"),
        ("out", "s3www", "minio", "TCP/9000"), ("in", "s3www", "minio", "TCP/9000"),
        ("out", "seed", "minio", "TCP/9000"), ("in", "seed", "minio", "TCP/9000"),
        ("out", "test", "s3www", "TCP/8080"),
        ("out", "all", "kube-dns", "UDP/53"), ("out", "all", "kube-dns", "TCP/53"),
    }
    got = flows(docs)
    check("NetworkPolicies allow exactly the application's flows", got == want,
          f"extra {sorted(got - want)}, missing {sorted(want - got)}")
    every_pod_selected = all(d["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/instance") == RELEASE
                             for d in docs if d["kind"] in ("Deployment", "Job"))
    check("every workload carries the release label the default deny selects", every_pod_selected)

    def images(ds):
        return sorted({c["image"] for _, spec in pod_specs(ds) for c in spec["containers"]})

    minio_default = [i for i in images(docs) if "minio" in i]
    _, v1docs = render(merge(INSTALLER_VALUES, {"minio": {"imageVariant": "cpuv1"}}))
    minio_v1 = [i for i in images(v1docs) if "minio" in i]
    check("imageVariant cpuv1 selects the -cpuv1 MinIO image for server and seed job",
          minio_default and all(not i.endswith("-cpuv1") for i in minio_default)
          and minio_v1 and all(i.endswith("-cpuv1") for i in minio_v1), f"{minio_default} -> {minio_v1}")
    _, pinned = render(merge(INSTALLER_VALUES, {"minio": {"image": {"digest": "sha256:" + "a" * 64}}}))
    check("a pinned digest renders as repository:tag@digest",
          any(i.endswith("@sha256:" + "a" * 64) for i in images(pinned)), str(images(pinned)))

    pins = json.load(open(PINS))
    refs = {i["reference"] for i in pins["images"]}
    test_image = f"{defaults['test']['image']['repository']}:{defaults['test']['image']['tag']}"
    rendered = set(images(docs)) | set(images(v1docs))
    unpinned = sorted(i.split("@")[0] for i in rendered if i.split("@")[0] not in refs and i != test_image)
    check("every image the chart can render is pinned in airgap/pins.json", not unpinned, str(unpinned))

    pvs = {d["metadata"]["name"]: d for d in docs if d["kind"] == "PersistentVolume"}
    pvcs = [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    paths = sorted(p["spec"]["hostPath"]["path"] for p in pvs.values())
    check("PersistentVolumes point at the installer's host paths",
          paths == sorted([INSTALLER_VALUES["minio"]["dataHostPath"], INSTALLER_VALUES["content"]["hostPath"]]), str(paths))
    check("PersistentVolumes are Retain and bound to their claims",
          all(p["spec"]["persistentVolumeReclaimPolicy"] == "Retain" for p in pvs.values())
          and all(c["spec"]["volumeName"] in pvs and pvs[c["spec"]["volumeName"]]["spec"]["claimRef"]["name"] == c["metadata"]["name"] for c in pvcs)
          and len(pvcs) == 2)
    content_mounts = [m for _, s in pod_specs(docs) for c in s["containers"] for m in c.get("volumeMounts", []) if m["mountPath"] == "/content"]
    check("the content is mounted read-only", content_mounts and all(m.get("readOnly") for m in content_mounts))

    s3www = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-s3www"))
    args = s3www["spec"]["template"]["spec"]["containers"][0]["args"]
    check("s3www listens on 0.0.0.0:8080 (its default is 127.0.0.1)", "0.0.0.0:8080" in args and args[args.index("0.0.0.0:8080") - 1] == "-address", str(args))
    ing = [d for d in docs if d["kind"] == "Ingress"]
    check("Ingress through Traefik with the installer's TLS secret",
          len(ing) == 1 and ing[0]["spec"]["ingressClassName"] == "traefik" and ing[0]["spec"]["tls"][0]["secretName"] == "floppies-tls")
    secrets = [d for d in docs if d["kind"] == "Secret"]
    check("the chart creates no Secret (no default credentials)", not secrets)

    # Schemas of the Kubernetes version k3s's current lines run.
    version = "1.33.0"
    errors = []
    for d in docs:
        obj = {k: v for k, v in d.items() if k != "__file"}
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            errors.append(f"{d['kind']}/{d['metadata']['name']}: {e.message}")
        except Exception as e:  # noqa: BLE001
            errors.append(f"{d['kind']}/{d['metadata']['name']}: {e}")
    check(f"every object validates against the Kubernetes {version} schema (strict)", not errors, "; ".join(errors)[:800])

    checkov(files)
    seed_script_is_idempotent()


def checkov(files):
    with tempfile.TemporaryDirectory() as tmp:
        for path, text in files.items():
            if path.endswith(".yaml"):
                with open(os.path.join(tmp, path.replace("/", "_")), "w") as f:
                    f.write(text)
        exe = os.path.join(os.path.dirname(sys.executable), "checkov")
        proc = subprocess.run([exe, "-d", tmp, "--framework", "kubernetes", "--compact", "-o", "json",
                               "--skip-check", ",".join(CHECKOV_SKIPS)], capture_output=True, text=True, timeout=600)
        try:
            report = json.loads(proc.stdout)
        except json.JSONDecodeError:
            check("checkov runs", False, (proc.stderr or proc.stdout)[:400])
            return
        reports = report if isinstance(report, list) else [report]
        failed_checks = [f"{c['check_id']} {c['resource']}" for r in reports for c in r.get("results", {}).get("failed_checks", [])]
        passed_count = sum(len(r.get("results", {}).get("passed_checks", [])) for r in reports)
        check(f"checkov: no failed Kubernetes policy ({passed_count} passed, {len(CHECKOV_SKIPS)} skipped with reasons)",
              not failed_checks and passed_count > 0, "; ".join(sorted(set(failed_checks)))[:800])


FAKE_MC = r"""#!/bin/sh
# A fake `mc` over a directory ($FAKE_S3): enough for seed.sh.
set -eu
log() { printf '%s\n' "$*" >>"$FAKE_S3/calls"; }
log "$*"
case "$1" in
  alias) exit 0 ;;
  ready) exit 0 ;;
  mb) mkdir -p "$FAKE_S3/${3#local/}"; exit 0 ;;
  stat) [ -f "$FAKE_S3/${2#local/}" ] ;;
  cp) [ "$2" = --quiet ] && shift; mkdir -p "$(dirname "$FAKE_S3/${3#local/}")"; cp "$2" "$FAKE_S3/${3#local/}" ;;
  admin)
    case "$2 $3" in
      "policy create") cp "$6" "$FAKE_S3/policy" ;;
      "user add") printf '%s' "$6" >"$FAKE_S3/user-$5" ;;
      "user info") [ -f "$FAKE_S3/attached-$5" ] && echo "PolicyName: floppies-read"; exit 0 ;;
      "policy attach") touch "$FAKE_S3/attached-$7" ;;
    esac ;;
  rm|rb|mirror) echo "seed must never call mc $1" >&2; exit 99 ;;
esac
"""


def seed_script_is_idempotent():
    with tempfile.TemporaryDirectory() as tmp:
        bindir, content, s3 = (os.path.join(tmp, d) for d in ("bin", "content", "s3"))
        for d in (bindir, os.path.join(content, "sub"), s3):
            os.makedirs(d)
        with open(os.path.join(bindir, "mc"), "w") as f:
            f.write(FAKE_MC)
        os.chmod(os.path.join(bindir, "mc"), 0o755)
        for rel, data in (("floppy.gif", b"GIF89a one"), ("sub/page.html", b"<p>two</p>"), (".hidden", b"three")):
            with open(os.path.join(content, rel), "wb") as f:
                f.write(data)
        policy = os.path.join(tmp, "policy.json")
        open(policy, "w").write("{}")
        env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}", FAKE_S3=s3, ENDPOINT="http://minio:9000", BUCKET="floppies",
                   CONTENT_DIR=content, ROOT_USER="root", ROOT_PASSWORD="pw", READER_KEY="reader", READER_SECRET="rs",
                   POLICY_FILE=policy, MC_CONFIG_DIR=os.path.join(tmp, "mc"))
        script = os.path.join(CHART, "files", "seed.sh")

        def run():
            return subprocess.run(["sh", script], env=env, capture_output=True, text=True, timeout=60)

        first = run()
        bucket = os.path.join(s3, "floppies")
        objects = sorted(os.path.relpath(os.path.join(dp, f), bucket) for dp, _, fs in os.walk(bucket) for f in fs)
        check("seed uploads every content file (subdirectories and dotfiles too)",
              first.returncode == 0 and objects == [".hidden", "floppy.gif", "sub/page.html"], f"{objects} {first.stderr[-300:]}")
        check("seed creates the reader user with the read-only policy",
              open(os.path.join(s3, "user-reader")).read() == "rs" and os.path.exists(os.path.join(s3, "attached-reader")))
        # The customer edits one object and deletes another; the job runs again.
        with open(os.path.join(bucket, "floppy.gif"), "wb") as f:
            f.write(b"customer's own version")
        os.remove(os.path.join(bucket, ".hidden"))
        open(os.path.join(s3, "calls"), "w").close()
        second = run()
        calls = open(os.path.join(s3, "calls")).read().splitlines()
        cps = [c for c in calls if c.startswith("cp ")]
        check("a re-run never overwrites a customer's change",
              second.returncode == 0 and open(os.path.join(bucket, "floppy.gif"), "rb").read() == b"customer's own version",
              second.stderr[-300:])
        check("a re-run uploads only what is missing and deletes nothing",
              len(cps) == 1 and cps[0].endswith("local/floppies/.hidden") and not any(c.split()[0] in ("rm", "rb") for c in calls), str(cps))
        check("a re-run does not attach the policy twice", not any(c.startswith("admin policy attach") for c in calls), str(calls))
        lint = subprocess.run(["shellcheck", "-s", "sh", script], capture_output=True, text=True) if shutil.which("shellcheck") else None
        check("seed.sh passes shellcheck -s sh", lint is None or lint.returncode == 0, (lint.stdout if lint else "")[:400])


if __name__ == "__main__":
    main()
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
