#!/bin/sh
# 14 update-file: an update file from the older bundle (0.0.1) to this one.
# Its helper is the older bundle's, so it is not carried: the stub runs the
# one the base installed (/opt/floppies/bin/floppies), and refuses, running
# nothing, when that is absent (nothing installed) or tampered with.
# Refused, changing nothing, with nothing installed, over another version or
# build (the journal's version or build altered), with a base artifact
# missing or damaged, and when the update file itself is damaged. Over the
# older bundle with customer data: --info, --check and --dry-run say what it
# is; install rebuilds the release from the host and upgrades; data and
# credentials are kept, the content served, every installed artifact is
# byte-identical to the full bundle's, the host's recorded build is the full
# bundle's (installing the full bundle then is "unchanged"); uninstall
# leaves the host as found. An update install killed after it staged the
# rebuilt release, then uninstalled: the staging dir goes too.
# timeout: 900
# on-request: make test must fit CI's time on 2 cores (a clean clone's run took 86 min with it); 'make test-vm-all' or 'test-vm/run --all' runs it
# shellcheck source=test-vm/guest/lib.sh
. "$T/lib.sh"
scenario_begin update-file
PREVIOUS=$T/previous.run
UPDATE=$T/update.run
[ -f "$PREVIOUS" ] || skip "no older bundle was given (test-vm/run --previous FILE)"
[ -f "$UPDATE" ] || skip "no update file was given (test-vm/run --update FILE)"
snapshot "$LOGS/before"
old=$(sh "$PREVIOUS" --version | awk '{print $2}')
new=$(sh "$BUNDLE" --version | awk '{print $2}')
info "update from $old to $new"

check update-carries-no-helper "the update file carries a helper, though the base's is the same" \
    sh -c "sed -n '1,40p' '$UPDATE' | grep -qx \"HELPER_FORM='host'\" && sed -n '1,40p' '$UPDATE' | grep -qx 'HELPER_SIZE=0'"
run refused-nothing-installed sh "$UPDATE" install --yes
expect_rc refused-nothing-installed-exit-4 4
expect_out names-no-helper "does not carry its helper"
expect_out names-nothing-installed "this host has no '/opt/floppies/bin/floppies'"
expect_out names-the-base "update file \\(floppies $old to $new\\)"
expect_out points-at-full-file "full installer file of floppies $new"
check nothing-installed-after-refusal "the refused update left /opt/floppies or the journal" \
    sh -c '! test -e /opt/floppies && ! test -e /var/lib/floppies/state.json && ! test -e /var/lib/floppies/update-staging'

run install-previous sh "$PREVIOUS" install --yes
expect_rc install-previous-exit-0 0
marker=/var/lib/floppies/data/minio/customer-marker
echo "customer data $$" > "$marker"
cp /var/lib/floppies/credentials/minio-root.env /tmp/minio-root.env.before
cp /var/lib/floppies/credentials/s3www-reader.env /tmp/s3www-reader.env.before

# The base's helper tampered with: refused before anything runs.
helper=/opt/floppies/bin/floppies
cp "$helper" /tmp/helper.aside
printf 'x' >> "$helper"
run refused-tampered-helper sh "$UPDATE" install --yes
expect_rc refused-tampered-helper-exit-4 4
expect_out names-tampered-helper "'$helper' on this host is another helper"
cp /tmp/helper.aside "$helper"
rm -f /tmp/helper.aside
check helper-refusal-changed-nothing "the refused update changed the installed release" sh -c 'test -e /opt/floppies/releases/'"$old"'/manifest.json && ! test -e /var/lib/floppies/update-staging'

run info sh "$UPDATE" --info
expect_rc info-exit-0 0
expect_out info-names-host-helper "helper +not in this file: the one floppies $old installed at $helper"
expect_out info-says-update "UPDATE file from floppies $old"
expect_out info-says-rebuilt "images/app-images.tar +rebuilt from the installed"
expect_out info-says-taken "k3s/k3s +taken from the installed"
run check-file sh "$UPDATE" --check
expect_rc check-exit-0 0
expect_out check-says-update "UPDATE file from floppies $old"
expect_out check-host-helper-ok "^helper:  OK \\(not in this file: $helper on this host"
run dry-run sh "$UPDATE" install --dry-run
expect_rc dry-run-exit-0 0
expect_out dry-run-says-update "UPDATE file from floppies $old"
expect_out dry-run-base-ok "the installed floppies $old is this file's base"

# Another build, then another version, as the journal records them.
state=/var/lib/floppies/state.json
cp "$state" /tmp/state.json.before
sed -i 's/"build": *"[0-9a-f]*"/"build": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"/' "$state"
run refused-other-build sh "$UPDATE" install --yes
expect_rc refused-other-build-exit-4 4
expect_out names-other-build "another build of floppies $old \\(build 0123456789ab\\)"
cp /tmp/state.json.before "$state"
sed -i "s/\"version\": *\"$old\"/\"version\": \"0.0.0-test\"/" "$state"
run refused-other-version sh "$UPDATE" install --yes
expect_rc refused-other-version-exit-4 4
expect_out names-other-version "this host has floppies 0.0.0-test"
cp /tmp/state.json.before "$state"

# A base artifact missing, then damaged (one byte appended).
images=/var/lib/rancher/k3s/agent/images
mv "$images/floppies-app-images.tar" /tmp/app-images.tar.aside
run refused-missing-artifact sh "$UPDATE" install --yes
expect_rc refused-missing-artifact-exit-4 4
expect_out names-missing-artifact "floppies-app-images.tar"
mv /tmp/app-images.tar.aside "$images/floppies-app-images.tar"
chart=/var/lib/rancher/k3s/server/static/charts/floppies.tgz
cp "$chart" /tmp/chart.aside
printf 'x' >> "$chart"
run refused-damaged-artifact sh "$UPDATE" install --yes
expect_rc refused-damaged-artifact-exit-4 4
expect_out names-damaged-artifact "floppies.tgz"
cp /tmp/chart.aside "$chart"

# A damaged update file: one byte of its payload flipped.
cp "$UPDATE" /tmp/damaged-update.run
size=$(wc -c < /tmp/damaged-update.run)
printf '\377' | dd of=/tmp/damaged-update.run bs=1 seek=$((size - 100)) conv=notrunc 2>/dev/null
run refused-damaged-file sh /tmp/damaged-update.run install --yes
expect_rc refused-damaged-file-exit-3 3
rm -f /tmp/damaged-update.run /tmp/chart.aside /tmp/state.json.before
floppies status-still-old status
expect_out still-old-version "^floppies $old "
check staging-gone-after-refusals "a refused update left its staging directory" test ! -e /var/lib/floppies/update-staging

# Killed once the rebuilt release is staged and the old one partly removed,
# then uninstalled (keeping data): the staging dir goes too. Then the base again.
run update-killed env FLOPPIES_TEST_FAULT=kill-after:floppies-on-path sh "$UPDATE" install --yes
expect_rc update-killed-exit-137 137
check staging-left-by-kill "the killed update left no staging dir (the kill came too early or late)" test -d /var/lib/floppies/update-staging
run uninstall-after-kill sh "$PREVIOUS" uninstall --keep-data --yes
expect_rc uninstall-after-kill-exit-0 0
check staging-removed-by-uninstall "uninstall left the killed update's staging dir" test ! -e /var/lib/floppies/update-staging
check marker-kept-by-uninstall "uninstall --keep-data lost the customer's file" grep -q "customer data" "$marker"
run reinstall-previous sh "$PREVIOUS" install --yes
expect_rc reinstall-previous-exit-0 0

run update sh "$UPDATE" install --yes
expect_rc update-exit-0 0
floppies status-new status
expect_rc status-healthy 0
expect_out status-names-new-version "^floppies $new "
check marker-kept "the customer's file in the data dir is gone after the update" grep -q "customer data" "$marker"
check minio-credentials-kept "the MinIO credentials changed in the update" cmp -s /var/lib/floppies/credentials/minio-root.env /tmp/minio-root.env.before
check reader-credentials-kept "the s3www credentials changed in the update" cmp -s /var/lib/floppies/credentials/s3www-reader.env /tmp/s3www-reader.env.before
check staging-removed "the update's staging directory is still there" test ! -e /var/lib/floppies/update-staging
http_equals floppy.gif http-after-update
rm -f /tmp/minio-root.env.before /tmp/s3www-reader.env.before

# Every installed artifact is the full bundle's, byte for byte.
full=/tmp/full-release
rm -rf "$full"
sh "$BUNDLE" --extract "$full" > /dev/null 2>&1
release=/opt/floppies/releases/$new
check release-equals-full "the release dir differs from the full bundle's" \
    sh -c "cd '$full' && find . -type f ! -path './images/*' ! -path './charts/*' | sort | while read -r f; do cmp \"\$f\" '$release'/\"\$f\" || exit 1; done"
check release-has-nothing-else "the release dir holds files the full bundle does not" \
    sh -c "test \"\$(cd '$release' && find . -type f | sort)\" = \"\$(cd '$full' && find . -type f ! -path './images/*' ! -path './charts/*' | sort)\""
check app-images-equal "the rebuilt app image archive differs from the full bundle's" cmp "$full/images/app-images.tar" "$images/floppies-app-images.tar"
check k3s-images-equal "the k3s image archive differs from the full bundle's" cmp "$full/images/k3s-airgap-images.tar" "$images/floppies-k3s-airgap-images.tar"
check chart-equal "the chart differs from the full bundle's" cmp "$full/charts/floppies.tgz" "$chart"
rm -rf "$full"
installer full-after-update install --yes
expect_rc full-after-update-exit-0 0
expect_out full-after-update-unchanged "unchanged"

installer uninstall uninstall --yes
expect_rc uninstall-exit-0 0
snapshot "$LOGS/after"
compare nothing-left-behind "$LOGS/before" "$LOGS/after"
scenario_end
