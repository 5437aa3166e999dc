#!/bin/sh
# 06 kill-at-steps: the installer is killed (SIGKILL) right after each install
# step, then after each uninstall step; every next run resumes from what the
# journal says, the install completes and serves the content, and the
# uninstall still leaves the host clean. (The kill comes from the helper
# itself, FLOPPIES_TEST_FAULT=kill-after:STEP, which only a test bundle obeys,
# so it lands exactly at the boundary.)
# timeout: 900
# shellcheck source=test-vm/guest/lib.sh
. "$T/lib.sh"
scenario_begin kill-at-steps
needs_test_bundle "the kills come from FLOPPIES_TEST_FAULT"
snapshot "$LOGS/before"

# The step names, in order, from the plan the installer prints.
installer plan install --dry-run
steps=$(awk '$1 ~ /^[0-9]+\.$/ {print $2}' "$OUT")
check plan-has-steps "the install plan lists no steps" test -n "$steps"
info "steps: $(echo "$steps" | tr '\n' ' ')"

for step in $steps; do
    run "install-killed-after-$step" env FLOPPIES_TEST_FAULT="kill-after:$step" sh "$BUNDLE" install --yes
    expect_rc "install-killed-after-$step" 137
    if [ -f /var/lib/floppies/state.json ]; then
        check "journal-has-$step" "state.json does not record $step" grep -q "\"name\": \"$step\"" /var/lib/floppies/state.json
    else
        # Nothing journalled yet, as after preflight (which only looks): then nothing may have changed.
        snapshot "$LOGS/after-$step"
        compare "killed-after-$step-changed-nothing" "$LOGS/before" "$LOGS/after-$step"
    fi
done
check journal-not-complete "state.json says complete although the last run was killed" \
    sh -c '! grep -q "\"complete\": true" /var/lib/floppies/state.json'

installer resume install --yes
expect_rc resume-exit-0 0
expect_out resume-changes-nothing 'unchanged'
http_equals floppy.gif http-after-resume
floppies status status
expect_rc status-healthy 0

for step in $(echo "$steps" | sed '1!G;h;$!d'); do
    run "uninstall-killed-after-$step" env FLOPPIES_TEST_FAULT="kill-after:$step" sh "$BUNDLE" uninstall --yes
    expect_rc "uninstall-killed-after-$step" 137
done
installer uninstall uninstall --yes
expect_rc uninstall-exit-0 0
snapshot "$LOGS/after"
compare nothing-left-behind "$LOGS/before" "$LOGS/after"

scenario_end
