#!/bin/sh
# 22 real-parts-chain: scenarios 01, 02, 06, 11 and 12 on the k3s made of
# real parts (level K), chained in one guest so that two installs cover them
# (under TCG one install at level K takes minutes, far beyond the stand-in's):
# diagnose with nothing installed; install of the older parts bundle killed
# right after the k3s service started (the cluster still starting) and then
# resumed; every pod Ready under restricted, the seed Job done, the content
# byte for byte through the Service's ingress, diagnose without secrets, a
# re-run that changes nothing; an object written with real mc; the upgrade
# to this bundle refused without --yes, then done: data, credentials and the
# object carried over, the new version named; uninstall --keep-data leaves
# only the data, with the real footprint gone; the final uninstall removes
# the data and leaves the host as found. HTTPS is not checked: it is
# Traefik's, which level K does not have (scenario 11 checks it on real k3s).
# covers: 01 02 06 11 12
# on-request: level K only, with the parts bundle: make test-vm-parts, or tests/run vm-parts
# timeout: 3600
# shellcheck source=test-vm/guest/lib.sh
. "$T/lib.sh"
scenario_begin real-parts-chain
needs_parts "it checks the app on real parts"
PREVIOUS=$T/previous.run
[ -f "$PREVIOUS" ] || skip "no older parts bundle was given (test-vm/run --previous FILE)"
snapshot "$LOGS/before"

old=$(sh "$PREVIOUS" --version | awk '{print $2}')
new=$(sh "$BUNDLE" --version | awk '{print $2}')
info "the older bundle is $old, this one $new"
check versions-differ "the older bundle has the same version ($old)" test "$old" != "$new"
check previous-is-parts "the older bundle is not one of real parts" sh -c "sh '$PREVIOUS' --info | grep -q '^contents.*k3s .*MADE OF REAL PARTS'"

# 01: diagnose with nothing installed.
diagnose_not_installed

# 06: one kill while the cluster starts (right after the k3s service step),
# then the next run resumes from the journal. The installer's wait as in 01
# (stand-ins/k3s-parts/README.md: the parts' unpacking and the image import
# take minutes under TCG).
wait_flag='--wait-timeout 2400'
install_t0=$(date +%s)
run install-killed-after-k3s-service env FLOPPIES_TEST_FAULT=kill-after:k3s-service sh "$PREVIOUS" install --yes
expect_rc install-killed-exit-137 137
check journal-has-k3s-service "state.json does not record k3s-service" grep -q '"name": "k3s-service"' /var/lib/floppies/state.json
check journal-not-complete "state.json says complete although the run was killed" sh -c '! grep -q "\"complete\": true" /var/lib/floppies/state.json'
check k3s-runs-after-kill "the k3s unit is neither starting nor running after the installer was killed" \
    sh -c 'systemctl is-active floppies-k3s.service | grep -qxE "active|activating"'
# shellcheck disable=SC2086 # an optional flag and its value
run install-resumed sh "$PREVIOUS" install --yes $wait_flag
expect_rc install-resumed-exit-0 0
expect_out install-names-url 'http://'
floppies status status
expect_rc status-healthy 0
expect_out status-says-healthy '^healthy'
expect_out status-names-old-version "^floppies $old "
http_equals floppy.gif http-content-matches "$PREVIOUS"
info "level $LEVEL: $(($(date +%s) - install_t0)) s from 'install' (killed once, resumed) to the content served"
k3s_timeline
k3s_cpu
check kubeconfig-mode-0600 "k3s.yaml is not mode 600" test "$(stat -c %a /etc/rancher/k3s/k3s.yaml)" = 600
check images-imported "containerd does not know the minio image" sh -c "'$K3S' crictl images | grep -q minio"

# 11 without Traefik: the app on real parts.
app_checks ""
run http-status sh -c 'busybox wget -S -O /dev/null http://127.0.0.1/floppy.gif 2>&1'
expect_out http-200 'HTTP/1.1 200'
diagnose_installed
t0=$(date +%s)
run rerun-unchanged sh "$PREVIOUS" install --yes
expect_rc rerun-exit-0 0
expect_out rerun-says-unchanged 'unchanged'
info "level $LEVEL: $(($(date +%s) - t0)) s for the re-run of install on the healthy host"

# The customer's data: a file in the data dir and an object written with real mc.
marker=/var/lib/floppies/data/minio/customer-marker
check write-marker "could not write $marker" sh -c "echo 'customer data $$' > $marker"
object="customer object $$"
put_object() { echo "$object" | minio_mc 'mc pipe local/floppies/customer-object.txt'; }
object_kept() { [ "$(minio_mc 'mc cat local/floppies/customer-object.txt')" = "$object" ]; }
check mc-put-object "real mc could not write an object into the bucket" put_object
save_credentials

# 12: the upgrade asks first, then replaces the older version.
upgrade_asks_first "$old" "$new"
t0=$(date +%s)
# shellcheck disable=SC2086 # an optional flag and its value
installer upgrade install --yes $wait_flag
expect_rc upgrade-exit-0 0
info "level $LEVEL: $(($(date +%s) - t0)) s for the upgrade (uninstall --keep-data of $old, install of $new)"
k3s_timeline
k3s_cpu
floppies status-new status
expect_rc status-new-healthy 0
expect_out status-names-new-version "^floppies $new "
check old-release-gone "the old release is still under /opt/floppies/releases" test ! -e "/opt/floppies/releases/$old"
# 02 and 12: what was kept is what the new install runs on.
check marker-kept "the customer's file in the data dir is gone after the upgrade" grep -q "customer data $$" "$marker"
credentials_kept
check manifest-uses-kept-password "the HelmChart secret does not carry the kept password" \
    grep -q "$(sed -n 's/^MINIO_ROOT_PASSWORD=//p' /tmp/minio-root.env.before)" /var/lib/rancher/k3s/server/manifests/floppies.yaml
app_checks upgraded
run mc-list-after-upgrade minio_mc 'mc ls local/floppies'
expect_out mc-lists-object 'customer-object\.txt'
expect_out mc-lists-content 'floppy\.gif'
check mc-object-kept "real mc does not read back the object written before the upgrade" object_kept
http_equals floppy.gif http-after-upgrade

# 02: uninstall --keep-data leaves the data and nothing else of the real footprint.
t0=$(date +%s)
floppies uninstall-keep uninstall --keep-data --yes
expect_rc uninstall-keep-exit-0 0
info "level $LEVEL: $(($(date +%s) - t0)) s for uninstall --keep-data"
check marker-kept-by-keep-data "the customer's file is gone after uninstall --keep-data" grep -q "customer data $$" "$marker"
check credentials-kept-by-keep-data "the MinIO credentials changed or are gone" cmp -s /var/lib/floppies/credentials/minio-root.env /tmp/minio-root.env.before
check credentials-mode "the credentials dir is not mode 700" test "$(stat -c %a /var/lib/floppies/credentials)" = 700
snapshot "$LOGS/after-keep"
compare only-data-left "$LOGS/before" "$LOGS/after-keep" '^[-+]/var/lib/floppies'
rm -f /tmp/minio-root.env.before /tmp/s3www-reader.env.before

# The last uninstall, with nothing installed, deletes the kept data.
installer uninstall uninstall --yes
expect_rc uninstall-exit-0 0
check data-removed "/var/lib/floppies is still there" test ! -e /var/lib/floppies
snapshot "$LOGS/after"
compare nothing-left-behind "$LOGS/before" "$LOGS/after"
scenario_end
