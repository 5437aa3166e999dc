#!/bin/sh
# 01 install-uninstall: diagnose with nothing installed, install, healthy
# status, the content served through the ingress, diagnose without secrets, a
# re-run that changes nothing, uninstall, nothing left behind.
# timeout: 3000
# shellcheck source=test-vm/guest/lib.sh
. "$T/lib.sh"
scenario_begin install-uninstall

# Every pod in the app's namespace is Ready, or a Job's and Succeeded; at
# least the MinIO and s3www ones exist. Prints the pods.
app_pods_ready() {
    "$K3S" kubectl -n floppies get pods -o json | python3 -c '
import json, sys
pods = json.load(sys.stdin)["items"]
def ready(p):
    conds = {c["type"]: c["status"] for c in p["status"].get("conditions", [])}
    return p["status"].get("phase") == "Succeeded" or conds.get("Ready") == "True"
names = [p["metadata"]["name"] for p in pods]
for p in pods:
    print(p["metadata"]["name"], p["status"].get("phase"), "ready" if ready(p) else "NOT READY", file=sys.stderr)
sys.exit(0 if all(map(ready, pods)) and any("minio" in n for n in names) and any("s3www" in n for n in names) else 1)'
}
snapshot "$LOGS/before"

mkdir -p /tmp/diag-empty
installer diagnose-empty diagnose --output /tmp/diag-empty
expect_rc diagnose-empty-exit-0 0
if diagnose_ok diagnose-empty /tmp/diag-empty; then
    check diagnose-empty-says-not-installed "summary.txt does not say the product is not installed" \
        sh -c "find /tmp/diag-empty/x -name summary.txt -exec cat {} + | grep -qi 'not installed'"
fi
rm -rf /tmp/diag-empty

# Under TCG the k3s of parts needs far longer than the installer's default
# wait (stand-ins/k3s-parts/README.md: unpacking its parts and importing real
# images take minutes).
wait_flag=''
[ "$LEVEL" = K ] && wait_flag='--wait-timeout 2400'
install_t0=$(date +%s)
# shellcheck disable=SC2086 # an optional flag and its value
installer install install --yes $wait_flag
expect_rc install-exit-0 0
expect_out install-names-url 'http://'
floppies status status
expect_rc status-healthy 0
expect_out status-says-healthy '^healthy'
http_equals floppy.gif http-content-matches
info "level $LEVEL: $(($(date +%s) - install_t0)) s from 'install' to the content served"
check kubeconfig-mode-0600 "k3s.yaml is not mode 600" test "$(stat -c %a /etc/rancher/k3s/k3s.yaml)" = 600
if [ "$LEVEL" = S ]; then
    check images-imported "the stand-in recorded no minio image" grep -q 'quay.io/minio/minio' /var/lib/rancher/k3s/agent/containerd/imported.list
else
    check images-imported "containerd does not know the minio image" sh -c "'$K3S' crictl images | grep -q minio"
fi
if [ "$LEVEL" != S ]; then
    # What only a real cluster shows: every pod of the app Ready, in a
    # namespace that enforces restricted, and the seed Job succeeded.
    check namespace-enforces-restricted "the floppies namespace does not enforce restricted" \
        sh -c "'$K3S' kubectl get namespace floppies -o jsonpath='{.metadata.labels.pod-security\.kubernetes\.io/enforce}' | grep -qx restricted"
    check app-pods-ready "a pod of the app is not Ready (or there is none)" app_pods_ready
    check seed-job-succeeded "the seed Job has not succeeded" sh -c "'$K3S' kubectl -n floppies get jobs -o jsonpath='{.items[*].status.succeeded}' | grep -q 1"
    check coredns-ready "CoreDNS is not Ready" sh -c "'$K3S' kubectl -n kube-system get deployment coredns -o jsonpath='{.status.readyReplicas}' | grep -qx 1"
fi

password=$(sed -n 's/^MINIO_ROOT_PASSWORD=//p' /var/lib/floppies/credentials/minio-root.env)
secret=$(sed -n 's/^S3WWW_SECRET_KEY=//p' /var/lib/floppies/credentials/s3www-reader.env)
token=$(sed 's/.*://' /var/lib/rancher/k3s/server/token)
mkdir -p /tmp/diag-installed
floppies diagnose-installed diagnose --output /tmp/diag-installed
expect_rc diagnose-installed-exit-0 0
if diagnose_ok diagnose-installed /tmp/diag-installed; then
    check diagnose-has-manifest "the HelmChart manifest was not collected" sh -c "find /tmp/diag-installed/x -name 'k3s-manifest-floppies.yaml' | grep -q ."
    # The guest's resolv.conf is resolved's stub with no upstream server (00):
    # k3s, and so the stand-in, then writes the kubelet's own; support sees it.
    check diagnose-has-k3s-resolv-conf "the bundle lacks the resolv.conf k3s generated for the kubelet" \
        grep -rqx --include=k3s-resolv.conf.txt 'nameserver 8.8.8.8' /tmp/diag-installed/x
    check diagnose-no-minio-password "the MinIO password is in the bundle" sh -c "[ -n '$password' ] && ! grep -rqF -- '$password' /tmp/diag-installed/x"
    check diagnose-no-s3www-secret "the s3www secret is in the bundle" sh -c "[ -n '$secret' ] && ! grep -rqF -- '$secret' /tmp/diag-installed/x"
    check diagnose-no-k3s-token "the k3s token is in the bundle" sh -c "[ -n '$token' ] && ! grep -rqF -- '$token' /tmp/diag-installed/x"
fi
rm -rf /tmp/diag-installed

t0=$(date +%s)
installer reinstall install --yes
expect_rc reinstall-exit-0 0
expect_out reinstall-unchanged 'unchanged'
info "level $LEVEL: $(($(date +%s) - t0)) s for the re-run of install on the healthy host"

t0=$(date +%s)
installer uninstall uninstall --yes
expect_rc uninstall-exit-0 0
info "level $LEVEL: $(($(date +%s) - t0)) s for uninstall"
check data-removed "/var/lib/floppies is still there" test ! -e /var/lib/floppies
snapshot "$LOGS/after"
compare nothing-left-behind "$LOGS/before" "$LOGS/after"
scenario_end
