#!/bin/sh
# 04 ufw-active: with ufw on (default deny incoming) and a rule of the
# customer's, install adds its tagged rules; uninstall removes exactly those,
# leaving ufw on with the customer's rule.
# timeout: 420
# shellcheck source=test-vm/guest/lib.sh
. "$T/lib.sh"
scenario_begin ufw-active

# ufw's chains outlive 'ufw disable' until a reboot: remove them, to leave the
# VM as this scenario found it for the scenarios after it (08 compares across a boot).
drop_ufw_chains() {
    for _t in iptables-legacy ip6tables-legacy iptables-nft ip6tables-nft; do
        "$_t-save" | grep -v -e '^:ufw' -e '^-A ufw' -e ' -j ufw' > "/tmp/$_t.rules"
        # restore replaces each table it is given, so chains not in it go.
        [ -s "/tmp/$_t.rules" ] && "$_t-restore" < "/tmp/$_t.rules"
        rm -f "/tmp/$_t.rules"
    done
}
run ufw-default-deny ufw default deny incoming
run ufw-customer-rule ufw allow 2222/tcp comment customer
run ufw-enable ufw --force enable
expect_rc ufw-enabled 0
snapshot "$LOGS/before"

installer install install --yes
expect_rc install-exit-0 0
run ufw-after-install ufw status
for port in 6443/tcp 80/tcp 443/tcp 10.42.0.0/16 10.43.0.0/16; do
    check "rule-$port-added" "ufw has no floppies rule for $port" sh -c "ufw show added | grep -F -- '$port' | grep -q floppies"
done
http_equals floppy.gif http-through-ufw

installer uninstall uninstall --yes
expect_rc uninstall-exit-0 0
check ufw-still-active "ufw is no longer active" sh -c 'ufw status | grep -q "Status: active"'
check customer-rule-kept "the customer's 2222/tcp rule is gone" sh -c 'ufw show added | grep -q 2222/tcp'
check floppies-rules-gone "floppies rules are left in ufw" sh -c '! ufw show added | grep -q floppies'
snapshot "$LOGS/after"
compare nothing-left-behind "$LOGS/before" "$LOGS/after"
run ufw-disable ufw --force disable
run ufw-delete-customer ufw delete allow 2222/tcp
drop_ufw_chains
# shellcheck disable=SC2016 # expanded by the inner sh
check ufw-chains-dropped "ufw chains are left after the scenario's own cleanup" \
    sh -c 'for t in iptables-legacy ip6tables-legacy iptables-nft ip6tables-nft; do "$t-save" | grep -q ufw && exit 1; done; exit 0'
scenario_end
