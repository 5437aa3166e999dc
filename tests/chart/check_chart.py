"""Checks of charts/floppies with real Helm (helm-python-sdk): lint, render,
values and schema contract, Pod Security "restricted" field by field,
network flows, images against airgap/pins.json and the build's own
completeness check (build/chart-images), Kubernetes schemas (Traefik's
TLSStore against a schema written from its CRD), checkov, and the seed
script (seed_test.py). Run by tests/chart/run."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile

import helm_python
import jsonschema
import kubernetes_validate
import yaml

import helm3_test
import seed_test
from report import check, finish, guarded

ROOT = sys.argv[1]
CHART = os.path.join(ROOT, "charts", "floppies")
PINS = os.path.join(ROOT, "airgap", "pins.json")
NAMESPACE = RELEASE = "floppies"
# The values contract of issue 5, exactly.
ISSUE_VALUES = {
    "minio": {"imageVariant": "default", "existingSecret": "floppies-minio-root",
              "dataHostPath": "/var/lib/floppies/data/minio"},
    "content": {"hostPath": "/opt/floppies/current/content"},
    "tls": {"secretName": "floppies-tls"},
}
# What the installer sends: helper/src/steps/values.rs, whose unit test holds
# it to this file's shape. The issue's values plus the reader secret's name
# and the content digest.
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "installer-values.json")) as _f:
    INSTALLER_VALUES = json.load(_f)
# The oldest Kubernetes line k3s still ships that this chart must run on.
OLDEST_KUBE = "1.33.0"
# Maps whose keys are data (label names), so they cannot be closed.
OPEN_MAPS = {"networkPolicy.ingressControllerLabels"}
# checkov findings we accept, each for a reason.
CHECKOV_SKIPS = {
    # Digests are filled in by 'make pin' (no registry reachable here); the
    # chart renders repo:tag@digest once they are set (checked below).
    "CKV_K8S_43": "image digests are filled in by 'make pin'",
    # Air gap: the installer imports the images; IfNotPresent never pulls,
    # Always would try (and fail) to reach a registry.
    "CKV_K8S_15": "images are imported from the bundle, never pulled",
    # The installer creates the namespace (with Pod Security labels); the
    # chart must not template it, and 'default' is never used.
    "CKV_K8S_21": "the namespace is helm-controller's targetNamespace",
    # UID > 10000 is a heuristic; MinIO's data dir is owned by 1000 by contract.
    "CKV_K8S_40": "MinIO runs as 1000, the owner of its host data directory",
    # MinIO and mc take root credentials from the environment only.
    "CKV_K8S_35": "MinIO and mc read credentials only from the environment",
}


# Custom resources the chart renders, which kubernetes-validate does not
# know: closed schemas written from the CRD k3s's Traefik installs
# (tlsstores.traefik.io, version v1alpha1), for the fields the chart uses.
_SECRET_REF = {"type": "object", "additionalProperties": False, "required": ["secretName"],
               "properties": {"secretName": {"type": "string", "minLength": 1}}}
CRD_SCHEMAS = {
    ("traefik.io/v1alpha1", "TLSStore"): {
        "type": "object", "additionalProperties": False, "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "traefik.io/v1alpha1"}, "kind": {"const": "TLSStore"},
            "metadata": {"type": "object", "required": ["name"],
                         "properties": {"name": {"const": "default"}, "labels": {"type": "object"}}},
            "spec": {"type": "object", "additionalProperties": False,
                     "properties": {"defaultCertificate": _SECRET_REF,
                                    "certificates": {"type": "array", "items": _SECRET_REF}}},
        },
    },
}


def merge(base, extra):
    out = json.loads(json.dumps(base))
    for k, v in extra.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def render(values, revision=1):
    files = helm_python.Chart.load(CHART).render(values, name=RELEASE, namespace=NAMESPACE, revision=revision)
    docs = [d for path, text in sorted(files.items()) if path.endswith(".yaml")
            for d in yaml.safe_load_all(text) if d]
    return files, docs


def render_error(values):
    try:
        render(values)
    except Exception as e:  # noqa: BLE001 - the failure is what is checked
        return str(e)
    return None


def kind(docs, k):
    return [d for d in docs if d["kind"] == k]


def pod_specs(docs):
    for d in docs:
        if d["kind"] == "Pod":
            yield d, d["spec"]
        elif d["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
            yield d, d["spec"]["template"]["spec"]


def images(docs):
    return sorted({c["image"] for _, s in pod_specs(docs) for c in s.get("containers", []) + s.get("initContainers", [])})


def psa_restricted_problems(spec):
    """Pod Security Standards, baseline + restricted (Kubernetes 1.25+)."""
    problems = [f for f in ("hostNetwork", "hostPID", "hostIPC") if spec.get(f)]
    allowed_volumes = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
    problems += [f"volume {v['name']} is {set(v) - {'name'}}" for v in spec.get("volumes", []) if not set(v) - {"name"} <= allowed_volumes]
    psc = spec.get("securityContext", {})
    if psc.get("seccompProfile", {}).get("type") not in (None, "RuntimeDefault", "Localhost"):
        problems.append("pod seccomp")
    for c in spec.get("containers", []) + spec.get("initContainers", []):
        sc, n = c.get("securityContext", {}), c["name"]
        caps = sc.get("capabilities", {})
        if sc.get("privileged"):
            problems.append(f"{n} privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{n} allowPrivilegeEscalation not false")
        if caps.get("drop") != ["ALL"]:
            problems.append(f"{n} does not drop ALL capabilities")
        if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{n} adds capabilities")
        if not sc.get("runAsNonRoot", psc.get("runAsNonRoot")):
            problems.append(f"{n} runAsNonRoot not set")
        if sc.get("runAsUser", psc.get("runAsUser")) == 0:
            problems.append(f"{n} runs as uid 0")
        if sc.get("seccompProfile", psc.get("seccompProfile", {})).get("type") not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{n} seccomp not RuntimeDefault")
        if any(p.get("hostPort") for p in c.get("ports", [])):
            problems.append(f"{n} hostPort")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{n} root filesystem writable")
    return problems


def component(selector):
    return (selector or {}).get("matchLabels", {}).get("app.kubernetes.io/component")


def flows(docs):
    """(direction, from, to, protocol/port) for every allow rule."""
    out = set()
    for p in kind(docs, "NetworkPolicy"):
        me = component(p["spec"]["podSelector"]) or "all"
        for direction, key, peers in (("in", "ingress", "from"), ("out", "egress", "to")):
            for rule in p["spec"].get(key, []):
                for peer in rule.get(peers, []):
                    other = component(peer.get("podSelector"))
                    if peer.get("namespaceSelector"):
                        ns = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                        labels = peer["podSelector"]["matchLabels"]
                        other = f"{ns}/{labels.get('app.kubernetes.io/name') or labels.get('k8s-app')}"
                    for port in rule.get("ports", []):
                        pair = (other, me) if direction == "in" else (me, other)
                        out.add((direction, *pair, f"{port['protocol']}/{port['port']}"))
    return out


def leaf_paths(node, prefix=""):
    for k, v in node.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict) and v and path not in OPEN_MAPS and not path.endswith(".resources"):
            yield from leaf_paths(v, path + ".")
        else:
            yield path


def open_objects(schema, path="(root)"):
    """Object schemas that accept unknown keys."""
    if schema.get("type") == "object" or "properties" in schema:
        if path not in OPEN_MAPS and schema.get("additionalProperties") is not False:
            yield path
        for k, sub in schema.get("properties", {}).items():
            yield from open_objects(sub, k if path == "(root)" else f"{path}.{k}")


def check_contract():
    with open(os.path.join(CHART, "Chart.yaml")) as f:
        chart = yaml.safe_load(f)
    check("Chart.yaml is apiVersion v2 (Helm 3, as k3s's helm-controller runs)", chart["apiVersion"] == "v2")
    with open(os.path.join(CHART, "values.schema.json")) as f:
        schema = json.load(f)
    check("values.schema.json is draft-07 (Helm 3 reads it)", "draft-07" in schema.get("$schema", ""))
    loose = list(open_objects(schema))
    check("values.schema.json closes every object (additionalProperties: false)", not loose, str(loose))
    with open(os.path.join(CHART, "values.yaml")) as f:
        text = f.read()
    documented = set(re.findall(r"^\s*## @param (\S+) \S", text, re.M))
    undocumented = [p for p in leaf_paths(yaml.safe_load(text)) if p not in documented]
    check("every value in values.yaml has a ## @param line", not undocumented, str(undocumented))

    for version in (OLDEST_KUBE, pinned_kube()):
        lint = helm_python.lint(CHART, INSTALLER_VALUES, strict=True, namespace=NAMESPACE, kube_version=version)
        bad = [m for m in lint.get("messages", []) if m.get("severity", 0) >= 2] + lint.get("errors", [])
        check(f"helm lint --strict finds no warning or error (Kubernetes {version})", not bad, json.dumps(bad)[:600])

    for name, values in (("the issue's exact values", ISSUE_VALUES), ("the installer's values", INSTALLER_VALUES)):
        err = render_error(values)
        check(f"renders with {name}", err is None, (err or "")[:400])

    err = render_error({}) or ""
    check("refuses to render without minio.existingSecret, with a readable message",
          "minio.existingSecret is required" in err and "no default password" in err, err[:300])
    for bad, where in ((merge(INSTALLER_VALUES, {"typo": 1}), "unknown top-level key"),
                       (merge(INSTALLER_VALUES, {"minio": {"imageVarient": "cpuv1"}}), "unknown key under minio"),
                       (merge(INSTALLER_VALUES, {"tls": {"secretname": "x"}}), "unknown key under tls"),
                       (merge(INSTALLER_VALUES, {"minio": {"imageVariant": "v1"}}), "imageVariant outside default|cpuv1"),
                       (merge(INSTALLER_VALUES, {"content": {"hostPath": "relative/dir"}}), "relative content.hostPath"),
                       (merge(INSTALLER_VALUES, {"minio": {"runAsUser": 1000}}), "minio.runAsUser 1000, a login uid")):
        err = render_error(bad) or ""
        check(f"schema rejects {where}", "schema" in err.lower(), err[:300] or "rendered")


def pinned_kube():
    with open(PINS) as f:
        k3s = json.load(f).get("k3s") or {}
    m = re.match(r"v(\d+)\.(\d+)\.", k3s.get("version", ""))
    return f"{m[1]}.{m[2]}.0" if m else OLDEST_KUBE


def check_pods(docs):
    kinds = [d["kind"] for d in docs]
    check("no Namespace object (the installer makes it, with Pod Security labels)", "Namespace" not in kinds)
    rbac = [k for k in kinds if k in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")]
    check("no RBAC objects", not rbac, str(rbac))
    check("the chart creates no Secret (no default credentials)", "Secret" not in kinds)
    sa = kind(docs, "ServiceAccount")
    check("the dedicated ServiceAccount does not automount a token",
          len(sa) == 1 and sa[0].get("automountServiceAccountToken") is False)

    for d, spec in pod_specs(docs):
        name = f"{d['kind']}/{d['metadata']['name']}"
        problems = psa_restricted_problems(spec)
        check(f"{name} passes Pod Security restricted", not problems, "; ".join(problems))
        check(f"{name} mounts no token and uses the dedicated account",
              spec.get("automountServiceAccountToken") is False and spec.get("serviceAccountName") == sa[0]["metadata"]["name"])
        missing = [c["name"] for c in spec["containers"] if not all(
            c.get("resources", {}).get(k, {}).get(r) for k in ("requests", "limits") for r in ("cpu", "memory"))]
        check(f"{name} sets cpu and memory requests and limits", not missing, str(missing))
        if d["kind"] == "Deployment":
            no_probe = [c["name"] for c in spec["containers"] if not (c.get("livenessProbe") and c.get("readinessProbe"))]
            check(f"{name} has liveness and readiness probes", not no_probe, str(no_probe))

    minio = next(d for d in kind(docs, "Deployment") if d["metadata"]["name"].endswith("-minio"))
    c = minio["spec"]["template"]["spec"]["containers"][0]
    check(f"MinIO: one replica, Recreate, probes on /minio/health/live and /ready :9000, uid/gid {INSTALLER_VALUES['minio']['runAsUser']} (the installer's)",
          minio["spec"]["replicas"] == 1 and minio["spec"]["strategy"]["type"] == "Recreate"
          and c["livenessProbe"]["httpGet"]["path"] == "/minio/health/live"
          and c["readinessProbe"]["httpGet"]["path"] == "/minio/health/ready"
          and c["ports"][0]["containerPort"] == 9000
          and minio["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == INSTALLER_VALUES["minio"]["runAsUser"]
          and minio["spec"]["template"]["spec"]["securityContext"]["runAsGroup"] == INSTALLER_VALUES["minio"]["runAsUser"])
    refs = [e["valueFrom"]["secretKeyRef"] for e in c["env"] if "valueFrom" in e]
    check("MinIO's root key comes from minio.existingSecret (rootUser, rootPassword)",
          sorted((r["name"], r["key"]) for r in refs) == [("floppies-minio-root", "rootPassword"), ("floppies-minio-root", "rootUser")])

    s3www = next(d for d in kind(docs, "Deployment") if d["metadata"]["name"].endswith("-s3www"))
    c = s3www["spec"]["template"]["spec"]["containers"][0]
    args = c["args"]
    check("s3www listens on 0.0.0.0:8080 (its default is 127.0.0.1)",
          "-address" in args and args[args.index("-address") + 1] == "0.0.0.0:8080", str(args))
    env = {e["name"]: e.get("valueFrom", {}).get("secretKeyRef") for e in c["env"]}
    check("s3www takes the reader key from s3www.existingSecret via its own variables, not argv",
          env.get("S3WWW_ACCESS_KEY") == {"name": "floppies-s3www-reader", "key": "accessKey"}
          and env.get("S3WWW_SECRET_KEY") == {"name": "floppies-s3www-reader", "key": "secretKey"}
          and not any("KEY" in a for a in args), str(args))

    ing = kind(docs, "Ingress")
    ok = len(ing) == 1 and ing[0]["spec"]["ingressClassName"] == "traefik" \
        and ing[0]["spec"]["tls"][0]["secretName"] == "floppies-tls" \
        and not any(k.startswith("traefik.ingress.kubernetes.io/router.") for k in ing[0]["metadata"].get("annotations") or {})
    # No router.tls / entrypoints annotation: Traefik then serves the Ingress on
    # both entrypoints, plain HTTP on 80 (the smoke test) and TLS on 443.
    check("Ingress: Traefik, TLS from tls.secretName, served on both 80 and 443", ok)


def check_tls_store(docs):
    stores = kind(docs, "TLSStore")
    ok = len(stores) == 1 and stores[0]["apiVersion"] == "traefik.io/v1alpha1" and stores[0]["metadata"]["name"] == "default" \
        and "namespace" not in stores[0]["metadata"] \
        and stores[0]["spec"] == {"defaultCertificate": {"secretName": INSTALLER_VALUES["tls"]["secretName"]}}
    # Traefik looks the Secret up in the store's namespace: the release's.
    check("a Traefik TLSStore 'default' in the release namespace serves tls.secretName to clients "
          "that send no host name (https://IP/)", ok, json.dumps(stores)[:400])
    # The customer-certificate case: their certificate in a Secret of their naming.
    _, own = render(merge(INSTALLER_VALUES, {"tls": {"secretName": "customer-own-tls"}}))
    check("a customer's certificate Secret is the one the Ingress and the default TLSStore use",
          kind(own, "Ingress")[0]["spec"]["tls"][0]["secretName"] == "customer-own-tls"
          and kind(own, "TLSStore")[0]["spec"]["defaultCertificate"]["secretName"] == "customer-own-tls")
    for name, extra in (("tls.defaultCertificate false", {"tls": {"defaultCertificate": False}}),
                        ("ingress.enabled false", {"ingress": {"enabled": False}})):
        _, off = render(merge(INSTALLER_VALUES, extra))
        check(f"no TLSStore with {name}", not kind(off, "TLSStore"))
    err = render_error(merge(INSTALLER_VALUES, {"ingress": {"className": "nginx"}})) or ""
    check("a TLSStore with another ingress class is refused with a readable message",
          "tls.defaultCertificate makes a Traefik TLSStore" in err and '"nginx"' in err, err[:300] or "rendered")
    _, quiet = render(merge(INSTALLER_VALUES, {"ingress": {"className": "nginx"}, "tls": {"defaultCertificate": False}}))
    check("another ingress class renders once tls.defaultCertificate is false",
          kind(quiet, "Ingress")[0]["spec"]["ingressClassName"] == "nginx")


def check_network(docs):
    policies = kind(docs, "NetworkPolicy")
    deny = [p for p in policies if p["spec"]["podSelector"].get("matchLabels") == {"app.kubernetes.io/instance": RELEASE}
            and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"} and "ingress" not in p["spec"] and "egress" not in p["spec"]]
    check("a default-deny NetworkPolicy covers every pod of the release, both directions", len(deny) == 1)
    pods = [s for s in (d["spec"]["template"] if "template" in d["spec"] else d for d in docs
                        if d["kind"] in ("Deployment", "Job", "Pod"))]
    check("every pod carries the release label the default deny selects",
          all(p["metadata"]["labels"].get("app.kubernetes.io/instance") == RELEASE for p in pods))
    want = {
        ("in", "kube-system/traefik", "s3www", "TCP/8080"),
        ("out", "s3www", "minio", "TCP/9000"), ("in", "s3www", "minio", "TCP/9000"),
        ("out", "seed", "minio", "TCP/9000"), ("in", "seed", "minio", "TCP/9000"),
        # helm test's pod fetches the content through s3www's Service.
        ("out", "test", "s3www", "TCP/8080"), ("in", "test", "s3www", "TCP/8080"),
        ("out", "all", "kube-system/kube-dns", "UDP/53"), ("out", "all", "kube-system/kube-dns", "TCP/53"),
    }
    got = flows(docs)
    check("NetworkPolicies allow exactly the application's flows",
          got == want, f"extra {sorted(got - want)}, missing {sorted(want - got)}")


def data_node_affinity(values):
    """The required node affinity of MinIO's data volume as rendered with VALUES (None if none)."""
    pvs = [d for d in kind(render(values)[1], "PersistentVolume") if d["spec"]["hostPath"]["path"] == values["minio"]["dataHostPath"]]
    return pvs[0]["spec"].get("nodeAffinity") if pvs else "no data volume"


def check_data_node(values):
    # The installer's values name the node; "without" is the chart's own default.
    bare = json.loads(json.dumps(values))
    bare["minio"].pop("dataNodeName", None)
    pinned = data_node_affinity(merge(bare, {"minio": {"dataNodeName": "server-1"}}))
    want = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
        {"key": "kubernetes.io/hostname", "operator": "In", "values": ["server-1"]}]}]}}
    check("with minio.dataNodeName, MinIO's data volume requires that node (never another machine's empty directory)",
          pinned == want, str(pinned))
    check("without minio.dataNodeName, MinIO's data volume requires no node (one machine)",
          data_node_affinity(bare) is None, str(data_node_affinity(bare)))
    check("minio.dataNodeName must be a node name", bool(render_error(merge(bare, {"minio": {"dataNodeName": "Not A Name"}}))))


def check_storage(docs):
    pvs = {d["metadata"]["name"]: d for d in kind(docs, "PersistentVolume")}
    pvcs = kind(docs, "PersistentVolumeClaim")
    by_path = {p["spec"]["hostPath"]["path"]: p for p in pvs.values()}
    check("PersistentVolumes point at exactly the host paths in the values",
          sorted(by_path) == sorted([ISSUE_VALUES["minio"]["dataHostPath"], ISSUE_VALUES["content"]["hostPath"]]), str(sorted(by_path)))
    check("PersistentVolumes are Retain, storageClassName \"\", and bound both ways to their claims",
          len(pvcs) == 2 and all(p["spec"]["persistentVolumeReclaimPolicy"] == "Retain" and p["spec"]["storageClassName"] == ""
                                 for p in pvs.values())
          and all(c["spec"]["storageClassName"] == "" and c["spec"]["volumeName"] in pvs
                  and pvs[c["spec"]["volumeName"]]["spec"]["claimRef"] == {"namespace": NAMESPACE, "name": c["metadata"]["name"]}
                  for c in pvcs))
    content_pv = by_path.get(ISSUE_VALUES["content"]["hostPath"], {"spec": {}})
    mounts = [(m, v) for _, s in pod_specs(docs) for c in s["containers"] for m in c.get("volumeMounts", [])
              for v in s.get("volumes", []) if v["name"] == m["name"] and "persistentVolumeClaim" in v
              and v["persistentVolumeClaim"]["claimName"].endswith("-content")]
    check("the content volume is ReadOnlyMany and mounted read-only",
          content_pv["spec"].get("accessModes") == ["ReadOnlyMany"] and mounts
          and all(m.get("readOnly") and v["persistentVolumeClaim"].get("readOnly") for m, v in mounts))


def check_seed_job(docs):
    jobs = kind(docs, "Job")
    job = jobs[0] if len(jobs) == 1 else {"metadata": {"name": "?"}, "spec": {}}
    check("the seed job is a plain Job: no Helm hook, no ttlSecondsAfterFinished",
          len(jobs) == 1 and not any(k.startswith("helm.sh/hook") for k in job["metadata"].get("annotations") or {})
          and "ttlSecondsAfterFinished" not in job["spec"])
    _, later = render(INSTALLER_VALUES, revision=7)
    _, v1 = render(merge(INSTALLER_VALUES, {"minio": {"imageVariant": "cpuv1"}}))
    name = job["metadata"]["name"]
    check("the seed job's name does not depend on the release revision", kind(later, "Job")[0]["metadata"]["name"] == name)
    check("the seed job's name changes when its pod changes (a Job's template is immutable)",
          kind(v1, "Job")[0]["metadata"]["name"] != name and len(name) <= 63, name)
    _, other = render(merge(INSTALLER_VALUES, {"content": {"digest": "sha256:" + "1" * 64}}))
    check("new content (content.digest) gives the seed job a new name, so it runs again",
          kind(other, "Job")[0]["metadata"]["name"] != name
          and kind(other, "Job")[0]["metadata"]["annotations"]["floppies/content-digest"] == "sha256:" + "1" * 64, name)
    err = render_error(merge(INSTALLER_VALUES, {"content": {"digest": "md5:abc"}})) or ""
    check("schema rejects a content.digest that is not sha256:HEX", "schema" in err.lower(), err[:300] or "rendered")
    tmp = [v for v in job["spec"].get("template", {}).get("spec", {}).get("volumes", []) if v["name"] == "tmp"]
    check("the seed job's /tmp (mc's config, with the root credentials) is in memory, not on the host's disk",
          len(tmp) == 1 and tmp[0].get("emptyDir", {}).get("medium") == "Memory", str(tmp))
    cm = next(d for d in kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-seed"))
    policy = json.loads(cm["data"]["read-policy.json"])
    actions = sorted((a, r) for s in policy["Statement"] if s["Effect"] == "Allow" for a in s["Action"] for r in s["Resource"])
    check("the reader's policy allows only s3:ListBucket on the bucket and s3:GetObject in it",
          actions == [("s3:GetObject", "arn:aws:s3:::floppies/*"), ("s3:ListBucket", "arn:aws:s3:::floppies")], str(actions))
    with open(os.path.join(CHART, "files", "seed.sh")) as f:
        check("the ConfigMap carries files/seed.sh as is", cm["data"]["seed.sh"] == f.read())
    env = {e["name"]: e.get("value") for c in job["spec"].get("template", {}).get("spec", {}).get("containers", []) for e in c.get("env", [])}
    deadline = job["spec"].get("activeDeadlineSeconds")
    check("the seed job is bounded: activeDeadlineSeconds, and one run's wait for MinIO (READY_TIMEOUT) fits in it",
          isinstance(deadline, int) and env.get("READY_TIMEOUT", "").isdigit() and int(env["READY_TIMEOUT"]) < deadline,
          f"activeDeadlineSeconds {deadline}, READY_TIMEOUT {env.get('READY_TIMEOUT')}")


def check_test_pod(docs):
    """The helm test pod's request, run with the host's curl against a server
    on 127.0.0.1 that starts late (as a new pod's network policy may be in
    place only after the pod starts): it must retry, not fail at once."""
    pods = [d for d in kind(docs, "Pod") if (d["metadata"].get("annotations") or {}).get("helm.sh/hook") == "test"]
    check("the chart has one helm test pod", len(pods) == 1, str(len(pods)))
    if len(pods) != 1:
        return
    command = pods[0]["spec"]["containers"][0]["command"]
    port = free_port()
    local = [re.sub(r"^http://[^/]+", f"http://127.0.0.1:{port}", a) for a in command]
    with tempfile.TemporaryDirectory() as www:
        path = re.sub(r"^http://[^/]+/", "", [a for a in local if a.startswith("http://")][0])
        os.makedirs(os.path.dirname(os.path.join(www, path)), exist_ok=True)
        with open(os.path.join(www, path), "wb") as f:
            f.write(b"GIF89a")
        server = subprocess.Popen(["sh", "-c", f"sleep 3; exec python3 -m http.server --bind 127.0.0.1 {port}"],
                                  cwd=www, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            got = subprocess.run(local, capture_output=True, text=True, timeout=90)
            check("the helm test pod's curl retries until s3www answers (the server here starts 3 s late)",
                  got.returncode == 0, f"{' '.join(local)}: {got.returncode} {got.stderr[-200:]}")
        finally:
            server.terminate()
            server.wait()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_images(docs):
    _, v1 = render(merge(INSTALLER_VALUES, {"minio": {"imageVariant": "cpuv1"}}))
    minio, minio_v1 = ([i for i in images(d) if "/minio/" in i] for d in (docs, v1))
    check("imageVariant cpuv1 gives every MinIO-image container the -cpuv1 tag",
          minio and minio_v1 and not any(i.endswith("-cpuv1") for i in minio) and all(i.endswith("-cpuv1") for i in minio_v1),
          f"{minio} -> {minio_v1}")
    digest = "sha256:" + "a" * 64
    _, pinned = render(merge(INSTALLER_VALUES, {"minio": {"image": {"digest": digest}}, "s3www": {"image": {"digest": digest}}}))
    check("a digest renders as repository:tag@digest, none as repository:tag",
          all(i.endswith("@" + digest) for i in images(pinned) if "cpuv1" not in i) and not any("@" in i for i in images(docs)),
          str(images(pinned)))
    with open(PINS) as f:
        pins = json.load(f)
    refs = {i["reference"] for i in pins["images"]}
    rendered = set(images(docs)) | set(images(v1))
    check("every image the chart can render is pinned in airgap/pins.json", rendered <= refs, str(sorted(rendered - refs)))
    check("airgap/pins.json pins nothing the chart does not render", refs <= rendered, str(sorted(refs - rendered)))
    bad = [i["reference"] for i in pins["images"] if not (i["digest"] is None or re.fullmatch(r"sha256:[0-9a-f]{64}", i["digest"]))
           or not {"name", "reference", "digest", "platforms", "source", "why"} <= set(i) or "@" in i["reference"]]
    check("pins.json images: name, reference without digest, digest null or sha256, platforms, source, why", not bad, str(bad))


def check_kube_schemas(docs):
    for version in (OLDEST_KUBE, pinned_kube()):
        errors = []
        for d in docs:
            crd = CRD_SCHEMAS.get((d["apiVersion"], d["kind"]))
            if crd:
                errors += [f"{d['kind']}/{d['metadata']['name']}: {e.message}"
                           for e in jsonschema.Draft7Validator(crd).iter_errors(d)]
                continue
            try:
                kubernetes_validate.validate(d, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                errors.append(f"{d['kind']}/{d['metadata']['name']}: {e.message}")
            except Exception as e:  # noqa: BLE001 - a missing schema is a finding too
                errors.append(f"{d['kind']}/{d['metadata']['name']}: {e}")
        check(f"every object validates against the Kubernetes {version} schema (strict)", not errors, "; ".join(errors)[:800])


def check_checkov(files):
    with tempfile.TemporaryDirectory() as tmp:
        for path, text in files.items():
            if path.endswith(".yaml"):
                with open(os.path.join(tmp, path.replace("/", "_")), "w") as f:
                    f.write(text)
        exe = os.path.join(os.path.dirname(sys.executable), "checkov")
        proc = subprocess.run([exe, "-d", tmp, "--framework", "kubernetes", "--compact", "-o", "json", "--skip-download",
                               "--skip-check", ",".join(CHECKOV_SKIPS)], capture_output=True, text=True, timeout=600)
        try:
            report = json.loads(proc.stdout)
        except json.JSONDecodeError:
            check("checkov runs", False, (proc.stderr or proc.stdout)[:400])
            return
        results = [r.get("results", {}) for r in (report if isinstance(report, list) else [report])]
        failed = sorted({f"{c['check_id']} {c['resource']}" for r in results for c in r.get("failed_checks", [])})
        passed = sum(len(r.get("passed_checks", [])) for r in results)
        check(f"checkov: no failed Kubernetes check ({passed} passed, {len(CHECKOV_SKIPS)} skipped with reasons)",
              not failed and passed > 0, "; ".join(failed)[:800])


def check_build_completeness():
    """build/chart-images, as build/bundle runs it before packing anything."""
    script = os.path.join(ROOT, "build", "chart-images")
    ok = subprocess.run([sys.executable, "-B", script, CHART, PINS], capture_output=True, text=True, timeout=300)
    check("build/chart-images passes: every image the chart renders is in airgap/pins.json", ok.returncode == 0, ok.stderr[-400:])
    with open(PINS) as f:
        pins = json.load(f)
    gone = next(i["reference"] for i in pins["images"] if "s3www" in i["reference"])
    pins["images"] = [i for i in pins["images"] if i["reference"] != gone]
    with tempfile.TemporaryDirectory() as tmp:
        short = os.path.join(tmp, "pins.json")
        with open(short, "w") as f:
            json.dump(pins, f)
        # The bundle script itself, with an image missing: it must stop at the
        # check (the tools it would build with do not even exist here).
        env = dict(os.environ, VERSION="0.0.0", HELPER="/nonexistent", BUILD_TOOL="/nonexistent", PINS=short,
                   OUT_DIR=os.path.join(tmp, "out"), DIST_DIR=os.path.join(tmp, "dist"))
        for profile in ("test", "prod"):
            bad = subprocess.run([os.path.join(ROOT, "build", "bundle"), profile], env=env, capture_output=True, text=True, timeout=600)
            check(f"build/bundle {profile} fails before building, naming an image the chart uses that the bundle lacks",
                  bad.returncode != 0 and f"references {gone}" in bad.stderr and "not in the bundle's image list" in bad.stderr
                  and not os.path.exists(os.path.join(tmp, "dist")), bad.stderr[-400:])


def check_own_scripts():
    run = os.path.join(ROOT, "tests", "chart", "run")
    syntax = subprocess.run(["bash", "-n", run], capture_output=True, text=True)
    check("tests/chart/run passes bash -n", syntax.returncode == 0, syntax.stderr[:300])
    if shutil.which("shellcheck"):
        lint = subprocess.run(["shellcheck", run], capture_output=True, text=True)
        check("tests/chart/run passes shellcheck", lint.returncode == 0, lint.stdout[:400])


def main():
    guarded("contract checks", check_contract)
    guarded("script checks", check_own_scripts)
    guarded("build completeness checks", check_build_completeness)
    rendered = guarded("render with the installer's values", render, INSTALLER_VALUES)
    if rendered:
        files, docs = rendered
        for name, fn, arg in (("pod checks", check_pods, docs), ("network checks", check_network, docs), ("data node checks", check_data_node, INSTALLER_VALUES),
                              ("storage checks", check_storage, docs), ("TLS store checks", check_tls_store, docs), ("seed job checks", check_seed_job, docs),
                              ("helm test pod checks", check_test_pod, docs),
                              ("image checks", check_images, docs), ("schema checks", check_kube_schemas, docs),
                              ("checkov", check_checkov, files)):
            guarded(name, fn, arg)
    guarded("seed script checks", seed_test.run_checks, CHART)
    guarded("Helm 3 beside Helm 4", helm3_test.run_checks, ROOT, CHART, render, [
        ("installer's values", INSTALLER_VALUES),
        ("cpuv1 MinIO", merge(INSTALLER_VALUES, {"minio": {"imageVariant": "cpuv1"}})),
        ("another ingress class, no default certificate",
         merge(INSTALLER_VALUES, {"ingress": {"className": "nginx"}, "tls": {"defaultCertificate": False}})),
    ], RELEASE, NAMESPACE)
    finish()


if __name__ == "__main__":
    main()
