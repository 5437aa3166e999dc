#!/bin/sh
# 10 broken-uninstall-caught: the harness catches a broken uninstall. With
# the iptables cleanup skipped (FLOPPIES_TEST_FAULT=skip-iptables-cleanup, a
# test bundle only), the nothing-left-behind comparison must find and name
# k3s's leftover chains; 'debug iptables-cleanup' then removes them and the
# host compares clean again.
# timeout: 360
# on-request: make test must fit CI's time on 2 cores (a clean clone's run took 86 min with it); 'make test-vm-all' or 'test-vm/run --all' runs it
# shellcheck source=test-vm/guest/lib.sh
. "$T/lib.sh"
scenario_begin broken-uninstall-caught
needs_test_bundle "the broken uninstall comes from FLOPPIES_TEST_FAULT"
snapshot "$LOGS/before"

installer install install --yes
expect_rc install-exit-0 0
run broken-uninstall env FLOPPIES_TEST_FAULT=skip-iptables-cleanup sh "$BUNDLE" uninstall --yes
expect_rc broken-uninstall-exit-0 0
snapshot "$LOGS/after-broken"
differences "$LOGS/before" "$LOGS/after-broken" > "$LOGS/broken.diff"
check leftovers-found "the comparison found nothing after a broken uninstall" test -s "$LOGS/broken.diff"
for chain in KUBE-FIREWALL KUBE-ROUTER-INPUT FLANNEL-FWD KUBE-SERVICES CNI-HOSTPORT-DNAT; do
    check "leftover-$chain-named" "the comparison does not name $chain" grep -q -- "$chain" "$LOGS/broken.diff"
done
check leftovers-in-both-families "the comparison does not name ip6tables leftovers" grep -q '^ip6tables' "$LOGS/broken.diff"

installer iptables-cleanup debug iptables-cleanup
expect_rc iptables-cleanup-exit-0 0
snapshot "$LOGS/after"
compare clean-after-iptables-cleanup "$LOGS/before" "$LOGS/after"
scenario_end
