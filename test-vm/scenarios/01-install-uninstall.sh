#!/bin/sh
# 01 install-uninstall: diagnose with nothing installed, install, healthy
# status, the content served through the ingress, diagnose without secrets, a
# re-run that changes nothing, uninstall, nothing left behind.
# timeout: 3000
# shellcheck source=test-vm/guest/lib.sh
. "$T/lib.sh"
scenario_begin install-uninstall

snapshot "$LOGS/before"

diagnose_not_installed

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
if [ "$LEVEL" = K ]; then k3s_timeline; k3s_cpu; fi
check kubeconfig-mode-0600 "k3s.yaml is not mode 600" test "$(stat -c %a /etc/rancher/k3s/k3s.yaml)" = 600
if [ "$LEVEL" = S ]; then
    check images-imported "the stand-in recorded no minio image" grep -q 'quay.io/minio/minio' /var/lib/rancher/k3s/agent/containerd/imported.list
else
    check images-imported "containerd does not know the minio image" sh -c "'$K3S' crictl images | grep -q minio"
fi
if [ "$LEVEL" != S ]; then app_checks ""; fi

diagnose_installed

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
