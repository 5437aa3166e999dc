#!/bin/sh
# 02 keep-data: uninstall --keep-data keeps the customer's data and the
# credentials and removes everything else; installing again reuses them.
# Two installs at level K under TCG take about 400 s each.
# timeout: 1500
# shellcheck source=test-vm/guest/lib.sh
. "$T/lib.sh"
scenario_begin keep-data
snapshot "$LOGS/before"

# At level K, the installer's wait as in 01 (stand-ins/k3s-parts/README.md).
wait_flag=''
[ "$LEVEL" = K ] && wait_flag='--wait-timeout 2400'
# shellcheck disable=SC2086 # an optional flag and its value
installer install install --yes $wait_flag
expect_rc install-exit-0 0
marker=/var/lib/floppies/data/minio/customer-marker
check write-marker "could not write $marker" sh -c "echo 'customer data $$' > $marker"
cred=/var/lib/floppies/credentials/minio-root.env
cp "$cred" /tmp/minio-root.env.before 2>/dev/null

t0=$(date +%s)
floppies uninstall-keep uninstall --keep-data --yes
expect_rc uninstall-keep-exit-0 0
info "level $LEVEL: $(($(date +%s) - t0)) s for uninstall --keep-data"
check marker-kept "the marker in the MinIO data dir is gone" grep -q "customer data" "$marker"
check credentials-kept "the MinIO credentials changed or are gone" cmp -s "$cred" /tmp/minio-root.env.before
check credentials-mode "the credentials dir is not mode 700" test "$(stat -c %a /var/lib/floppies/credentials)" = 700
snapshot "$LOGS/after-keep"
compare only-data-left "$LOGS/before" "$LOGS/after-keep" '^[-+]/var/lib/floppies'

# shellcheck disable=SC2086 # an optional flag and its value
installer reinstall install --yes $wait_flag
expect_rc reinstall-exit-0 0
check same-credentials "install made new MinIO credentials instead of reusing the kept ones" cmp -s "$cred" /tmp/minio-root.env.before
check manifest-uses-kept-password "the HelmChart secret does not carry the kept password" \
    grep -q "$(sed -n 's/^MINIO_ROOT_PASSWORD=//p' /tmp/minio-root.env.before)" /var/lib/rancher/k3s/server/manifests/floppies.yaml
check marker-survives-reinstall "the marker is gone after the reinstall" grep -q "customer data" "$marker"
http_equals floppy.gif http-content-matches

installer uninstall uninstall --yes
expect_rc uninstall-exit-0 0
rm -f /tmp/minio-root.env.before
snapshot "$LOGS/after"
compare nothing-left-behind "$LOGS/before" "$LOGS/after"
scenario_end
