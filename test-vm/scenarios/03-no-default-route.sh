#!/bin/sh
# 03 no-default-route: the guest has no network device, hence no default
# route: preflight calls it fixable, install adds the dummy floppies0 route
# and its unit, both survive a reboot (and k3s starts again), uninstall
# removes both.
# timeout: 360
# shellcheck source=test-vm/guest/lib.sh
. "$T/lib.sh"
scenario_begin no-default-route

if [ "$PHASE" = 1 ]; then
    check no-route-before "the guest already has a default route" sh -c '! ip route show default | grep -q .'
    snapshot "$LOGS/before"
    installer preflight preflight
    expect_rc preflight-passes 0
    expect_out preflight-route-fixable 'default-route.*(fix|add)'
    installer install install --yes
    expect_rc install-exit-0 0
    check route-via-floppies0 "no default route via floppies0" sh -c 'ip route show default | grep -q "dev floppies0"'
    check route-unit-enabled "floppies-default-route.service is not enabled" systemctl is-enabled --quiet floppies-default-route.service
    next_boot reboot 2
fi

check route-after-reboot "no default route via floppies0 after the reboot" sh -c 'ip route show default | grep -q "dev floppies0"'
check k3s-after-reboot "the k3s unit did not start again after the reboot" wait_until 120 systemctl is-active --quiet floppies-k3s.service
check status-healthy-after-reboot "status did not say healthy within 120s of the reboot" wait_until 120 /usr/local/bin/floppies status
http_equals floppy.gif http-after-reboot

installer uninstall uninstall --yes
expect_rc uninstall-exit-0 0
check route-gone "a default route is left" sh -c '! ip route show default | grep -q .'
check floppies0-gone "floppies0 is left" test ! -e /sys/class/net/floppies0
check route-unit-gone "the route unit is left" test ! -e /etc/systemd/system/floppies-default-route.service
snapshot "$LOGS/after"
compare nothing-left-behind "$LOGS/before" "$LOGS/after"
scenario_end
