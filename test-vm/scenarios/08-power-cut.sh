#!/bin/sh
# 08 power-cut: the VM loses power (qemu is killed, no shutdown) while install
# runs; after the boot, a re-run of install completes, serves the content,
# and uninstall leaves the host clean.
# timeout: 420
# shellcheck source=test-vm/guest/lib.sh
. "$T/lib.sh"
scenario_begin power-cut

if [ "$PHASE" = 1 ]; then
    snapshot "$LOGS/before"
    # A slow k3s start keeps the install busy past the k3s-service step.
    standin_mode slow 60
    sh "$BUNDLE" install --yes > "$LOGS/install-cut.out" 2>&1 &
    if wait_until 240 grep -q '"name": "k3s-service"' /var/lib/floppies/state.json; then
        pass install-reached-k3s-service
    else
        fail install-reached-k3s-service "install did not journal k3s-service within 240s (see install-cut.out)"
    fi
    # Remove the slow start for the next boot, then cut the power mid-install.
    standin_mode
    sync
    next_boot powercut 2
fi

check journal-survived "state.json is missing or unreadable after the power cut" \
    sh -c 'grep -q "\"steps\"" /var/lib/floppies/state.json'
check journal-not-complete "state.json says complete although install was cut" \
    sh -c '! grep -q "\"complete\": true" /var/lib/floppies/state.json'
installer rerun install --yes
expect_rc rerun-exit-0 0
http_equals floppy.gif http-after-rerun
floppies status status
expect_rc status-healthy 0

installer uninstall uninstall --yes
expect_rc uninstall-exit-0 0
snapshot "$LOGS/after"
compare nothing-left-behind "$LOGS/before" "$LOGS/after"
scenario_end
