#!/bin/sh
# 00 like-ubuntu: the guest is like an Ubuntu 22.04 server where k3s,
# containerd and the installer look (issue 15, item 16), so every later
# scenario runs on such a host: AppArmor on with its profiles loaded,
# /etc/resolv.conf is systemd-resolved's stub (127.0.0.53) and resolved knows
# no upstream server (air-gapped), iptables and ip6tables on the nft backend,
# ufw installed but inactive, cgroup v2. Installs nothing; with --image ubuntu
# it checks a real Ubuntu the same way. What still differs from Ubuntu is
# listed in test-vm/README.md.
# timeout: 120
# shellcheck source=test-vm/guest/lib.sh
. "$T/lib.sh"
scenario_begin like-ubuntu

check apparmor-enabled "the kernel's AppArmor is not enabled" \
    grep -qx Y /sys/module/apparmor/parameters/enabled
check apparmor-parser "apparmor_parser is missing (containerd only applies its profile when the host can load one)" \
    test -x /sbin/apparmor_parser
check apparmor-service-active "apparmor.service is not active" systemctl is-active --quiet apparmor.service
# securityfs reports every file as empty (size 0): read it.
check apparmor-profiles-loaded "no AppArmor profile is loaded" grep -q . /sys/kernel/security/apparmor/profiles
check resolved-active "systemd-resolved is not active" systemctl is-active --quiet systemd-resolved.service
check resolv-conf-is-stub "/etc/resolv.conf is not resolved's stub" \
    test "$(readlink -f /etc/resolv.conf)" = /run/systemd/resolve/stub-resolv.conf
check resolv-conf-127-0-0-53 "/etc/resolv.conf does not name 127.0.0.53" \
    grep -qx 'nameserver 127.0.0.53' /etc/resolv.conf
check no-upstream-nameserver "resolved knows an upstream nameserver (the guest should be air-gapped)" \
    sh -c '! grep -q "^nameserver" /run/systemd/resolve/resolv.conf'
check iptables-nft "iptables is not the nft variant" sh -c 'iptables -V | grep -q nf_tables'
check ip6tables-nft "ip6tables is not the nft variant" sh -c 'ip6tables -V | grep -q nf_tables'
check ufw-installed "ufw is not installed" command -v ufw
check ufw-inactive "ufw is active" sh -c 'ufw status | grep -qx "Status: inactive"'
check cgroup-v2 "the unified cgroup hierarchy (v2) is not mounted" \
    sh -c 'stat -fc %T /sys/fs/cgroup | grep -qx cgroup2fs'
check systemd-pid-1 "PID 1 is not systemd" test "$(cat /proc/1/comm)" = systemd
scenario_end
