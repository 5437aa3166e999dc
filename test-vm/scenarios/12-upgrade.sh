#!/bin/sh
# 12 upgrade: an older bundle is installed and data written; installing this
# bundle asks first (and without --yes on a non-terminal, changes nothing),
# then with --yes upgrades (uninstall --keep-data of the old version, install
# of the new): data and credentials carry over, status names the new
# version, the content is served; uninstall leaves the host clean.
# timeout: 600
# shellcheck source=test-vm/guest/lib.sh
. "$T/lib.sh"
scenario_begin upgrade
PREVIOUS=$T/previous.run
[ -f "$PREVIOUS" ] || skip "no older bundle was given (test-vm/run --previous FILE)"
snapshot "$LOGS/before"

old=$(sh "$PREVIOUS" --version | awk '{print $2}')
new=$(sh "$BUNDLE" --version | awk '{print $2}')
info "upgrade from $old to $new"
check versions-differ "the older bundle has the same version ($old)" test "$old" != "$new"

run install-previous sh "$PREVIOUS" install --yes
expect_rc install-previous-exit-0 0
marker=/var/lib/floppies/data/minio/customer-marker
echo "customer data $$" > "$marker"
save_credentials

upgrade_asks_first "$old" "$new"

installer upgrade install --yes
expect_rc upgrade-exit-0 0
floppies status-new status
expect_rc status-healthy 0
expect_out status-names-new-version "^floppies $new "
check marker-kept "the customer's file in the data dir is gone after the upgrade" grep -q "customer data" "$marker"
credentials_kept
check old-release-gone "the old release is still under /opt/floppies/releases" test ! -e "/opt/floppies/releases/$old"
http_equals floppy.gif http-after-upgrade
rm -f /tmp/minio-root.env.before /tmp/s3www-reader.env.before

installer uninstall uninstall --yes
expect_rc uninstall-exit-0 0
snapshot "$LOGS/after"
compare nothing-left-behind "$LOGS/before" "$LOGS/after"
scenario_end
