#!/bin/sh
# 05 cpu-level: in a VM of each CPU model, the level preflight reports equals
# glibc's own verdict (the guest's ld.so --help), and install deploys the
# cpuv1 MinIO variant exactly when the level is below x86-64-v2 (the
# stand-in's default MinIO crashes there, as the real one would).
# cpus: qemu64 Nehalem
# timeout: 420
# shellcheck source=test-vm/guest/lib.sh
. "$T/lib.sh"
scenario_begin cpu-level
snapshot "$LOGS/before"

# glibc's verdict: the highest level its loader says is supported.
oracle=$(/lib64/ld-linux-x86-64.so.2 --help | sed -n 's/.*\(x86-64-v[1-4]\) (supported, searched).*/\1/p' | sort | tail -n1)
oracle=${oracle:-x86-64-v1}
info "ld.so says $oracle"
installer cpu-level debug cpu-level
expect_out cpu-level-equals-ld.so "^$oracle( |$)"
installer preflight preflight
expect_out preflight-names-level "$oracle"
[ "$oracle" = x86-64-v1 ] && expect_out preflight-picks-cpuv1 'cpuv1'

installer install install --yes
expect_rc install-exit-0 0
if grep -o 'imageVariant[^,]*' /var/lib/rancher/k3s/server/manifests/floppies.yaml | grep -q cpuv1; then variant=cpuv1; else variant=default; fi
if [ "$oracle" = x86-64-v1 ]; then want=cpuv1; else want=default; fi
check "variant-$want" "the HelmChart asks for the $variant MinIO variant on $oracle" test "$variant" = "$want"
http_equals floppy.gif http-content-matches

installer uninstall uninstall --yes
expect_rc uninstall-exit-0 0
snapshot "$LOGS/after"
compare nothing-left-behind "$LOGS/before" "$LOGS/after"
scenario_end
