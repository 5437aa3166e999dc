#!/bin/sh
# 13 rebuilt-content: content in the bucket is the customer's once served.
# The customer changes a bundled file in the bucket; installing again is
# "unchanged" (not a failed check). A rebuild of the same version with other
# content is noticed as another build and replaces the installation (keeping
# data): its new file is served, the customer's copy is kept, never
# overwritten. Uninstall leaves the host clean. With the stand-in, the
# bucket is a directory in MinIO's data dir, seeded as the chart's job does.
# timeout: 600
# on-request: make test must fit CI's time on 2 cores (a clean clone's run took 86 min with it); 'make test-vm-all' or 'test-vm/run --all' runs it
# shellcheck source=test-vm/guest/lib.sh
. "$T/lib.sh"
scenario_begin rebuilt-content
needs_standin "the stand-in's bucket is a directory the scenario can edit"
REBUILT=$T/rebuilt.run
[ -f "$REBUILT" ] || skip "no rebuilt bundle was given (test-vm/run --rebuilt FILE)"
snapshot "$LOGS/before"

ver=$(sh "$BUNDLE" --version | awk '{print $2}')
check same-version "the rebuilt bundle's version differs from $ver" test "$(sh "$REBUILT" --version | awk '{print $2}')" = "$ver"
check other-gif "the rebuilt bundle's floppy.gif is the same as the bundle's" \
    test "$(content_sha256 floppy.gif "$REBUILT")" != "$(content_sha256 floppy.gif)"

installer install install --yes
expect_rc install-exit-0 0
http_equals floppy.gif http-bundle-content

bucket=/var/lib/floppies/data/minio/floppies
printf 'the customer replaced this file %s\n' "$$" > "$bucket/floppy.gif"
customer=$(sha256sum < "$bucket/floppy.gif" | cut -d' ' -f1)
installer install-again install --yes
expect_rc install-again-exit-0 0
expect_out install-again-unchanged "unchanged"

run install-rebuilt-unconfirmed sh "$REBUILT" install < /dev/null
expect_rc install-rebuilt-unconfirmed-exit-8 8
expect_out names-another-build "Another build of floppies $ver"
run install-rebuilt sh "$REBUILT" install --yes
expect_rc install-rebuilt-exit-0 0
expect_out says-kept "Kept the bucket's own copy of 1 file"
http_equals notes.txt http-new-file-served "$REBUILT"
got=$(http_sha256 floppy.gif)
check customer-copy-kept "floppy.gif is no longer the customer's copy (sha256 $got)" test "$got" = "$customer"
run install-rebuilt-again sh "$REBUILT" install --yes
expect_rc install-rebuilt-again-exit-0 0
expect_out install-rebuilt-again-unchanged "unchanged"
floppies status status
expect_rc status-healthy 0

run uninstall sh "$REBUILT" uninstall --yes
expect_rc uninstall-exit-0 0
snapshot "$LOGS/after"
compare nothing-left-behind "$LOGS/before" "$LOGS/after"
scenario_end
