#!/bin/sh
# 01 install-uninstall: diagnose with nothing installed, install, healthy
# status, the content served through the ingress, diagnose without secrets, a
# re-run that changes nothing, uninstall, nothing left behind.
# timeout: 480
# shellcheck source=test-vm/guest/lib.sh
. "$T/lib.sh"
scenario_begin install-uninstall
snapshot "$LOGS/before"

mkdir -p /tmp/diag-empty
installer diagnose-empty diagnose --output /tmp/diag-empty
expect_rc diagnose-empty-exit-0 0
if diagnose_ok diagnose-empty /tmp/diag-empty; then
    check diagnose-empty-says-not-installed "summary.txt does not say the product is not installed" \
        sh -c "find /tmp/diag-empty/x -name summary.txt -exec cat {} + | grep -qi 'not installed'"
fi
rm -rf /tmp/diag-empty

installer install install --yes
expect_rc install-exit-0 0
expect_out install-names-url 'http://'
floppies status status
expect_rc status-healthy 0
expect_out status-says-healthy '^healthy'
http_equals floppy.gif http-content-matches
check kubeconfig-mode-0600 "k3s.yaml is not mode 600" test "$(stat -c %a /etc/rancher/k3s/k3s.yaml)" = 600
if [ "$PROFILE" = test ]; then
    check images-imported "the stand-in recorded no minio image" grep -q 'quay.io/minio/minio' /var/lib/rancher/k3s/agent/containerd/imported.list
else
    check images-imported "containerd does not know the minio image" sh -c "'$K3S' crictl images | grep -q minio"
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

installer reinstall install --yes
expect_rc reinstall-exit-0 0
expect_out reinstall-unchanged 'unchanged'

installer uninstall uninstall --yes
expect_rc uninstall-exit-0 0
check data-removed "/var/lib/floppies is still there" test ! -e /var/lib/floppies
snapshot "$LOGS/after"
compare nothing-left-behind "$LOGS/before" "$LOGS/after"
scenario_end
