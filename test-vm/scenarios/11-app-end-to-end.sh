#!/bin/sh
# 11 app-end-to-end: with REAL k3s and the real images (a production bundle,
# e.g. in the GitHub workflow): every pod of the app Ready in a namespace
# that enforces Pod Security "restricted", the seed job done, and the bundled
# content served through the ingress byte for byte (HTTP 200, same sha256),
# and HTTPS verifying against the deployment's CA by name and by IP address.
# A test bundle skips it: the stand-in proves nothing about the app.
# timeout: 900
# shellcheck source=test-vm/guest/lib.sh
. "$T/lib.sh"
scenario_begin app-end-to-end
needs_real_k3s "the app runs only on real k3s with the real images"
snapshot "$LOGS/before"

installer install install --yes
expect_rc install-exit-0 0
run namespace-labels "$K3S" kubectl get namespace floppies -o 'jsonpath={.metadata.labels}'
expect_out namespace-enforces-restricted '"pod-security.kubernetes.io/enforce":"restricted"'
# Every pod Running and Ready, or a finished job's pod.
pods_ready() {
    _pods=$("$K3S" kubectl -n floppies get pods --no-headers 2> /dev/null)
    [ -n "$_pods" ] && ! echo "$_pods" | awk '$3 != "Completed" && ($3 != "Running" || split($2, r, "/") && r[1] != r[2])' | grep -q .
}
check pods-ready "not every pod in floppies is Ready within 300s" wait_until 300 pods_ready
run pods "$K3S" kubectl -n floppies get pods -o wide
run seed-job "$K3S" kubectl -n floppies get jobs -o 'jsonpath={.items[*].status.succeeded}'
expect_out seed-job-succeeded '1'
run http-status sh -c 'busybox wget -S -O /dev/null http://127.0.0.1/floppy.gif 2>&1'
expect_out http-200 'HTTP/1.1 200'
http_equals floppy.gif http-content-matches
# HTTPS with the deployment's CA, by name (SNI) and by IP address (no SNI:
# the chart's default TLSStore must give our certificate, not Traefik's).
CA=/var/lib/floppies/credentials/tls/ca.crt
IP=$(hostname -I | awk '{print $1}')
https_ok() {
    [ "$(curl -sS --max-time 20 --cacert "$CA" -o /dev/null -w '%{http_code}' "https://$1/floppy.gif")" = 200 ]
}
check https-by-name "https://localhost/ does not verify against ca.crt with HTTP 200 (curl needed)" https_ok localhost
check https-by-ip "https://$IP/ does not verify against ca.crt: Traefik served another certificate" https_ok "$IP"

installer uninstall uninstall --yes
expect_rc uninstall-exit-0 0
snapshot "$LOGS/after"
compare nothing-left-behind "$LOGS/before" "$LOGS/after"
scenario_end
