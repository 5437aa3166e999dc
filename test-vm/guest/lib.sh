# Sourced by every scenario in the guest (POSIX sh). Results go to the
# results serial port, one line per check (pass, fail and the line format are
# the test kit's, tests/lib/kit.sh, which test-vm/run puts on the test disk
# beside this file); logs go to the test disk.
#   T         the mounted test disk (bundle, scenarios, logs/)
#   SCENARIO  the scenario's name (set by scenario_begin)
#   SCENARIO_ID, PHASE  set by entry.sh: the scenario's file name, and which
#             boot of it this is (1, or what next_boot asked for)

# shellcheck source=tests/lib/kit.sh
. "$T/kit.sh"

BUNDLE=$T/floppies-installer.run
# test: built from stand-ins (stand-in k3s, faults obeyed); production: real k3s.
PROFILE=$(sh "$BUNDLE" --info 2> /dev/null | awk '$1 == "profile" {print $2}')
# The k3s this run has, as test-vm/run prints it: S the stand-in, K a k3s made
# of real parts (a test bundle too), R real k3s.
LEVEL=R
if [ "$PROFILE" = test ]; then
    LEVEL=S
    sh "$BUNDLE" --info 2> /dev/null | grep -q '^contents.*k3s .*MADE OF REAL PARTS' && LEVEL=K
fi
# shellcheck disable=SC2034 # used by the scenarios
K3S=/opt/floppies/current/k3s/k3s
RESULTS=${RESULTS:-/dev/ttyS1}
KIT_RESULTS=$RESULTS
KIT_ON_FAIL=dump_logs
STANDIN_CONF=/etc/floppies-standin.conf
# Changes a clean uninstall may leave, each harmless and not ours to undo:
# - the run lock (a flock on tmpfs), and the locks any iptables -w or ufw call makes;
# - empty built-in iptables tables (filter, nat, mangle: kube-proxy uses mangle)
#   with ACCEPT policies, as k3s-killall leaves
#   them (whatever rule is left still shows);
# - network-online.target, active once the k3s unit wanted it.
ALLOW_ALWAYS='^[-+]/run/(floppies|xtables|ufw)\.lock |^[-+](\*filter|\*nat|\*mangle|:[A-Z]+ ACCEPT \[-\]|COMMIT)$|^[-+]network-online\.target '
# Kernel settings that appear because k3s loaded their module (bridge
# netfilter, conntrack) were not there to record and stay until a reboot
# (docs/decisions.md); a setting that existed and changed shows a '-' line too.
ALLOW_ALWAYS="$ALLOW_ALWAYS|^\\+(net/bridge/|net/netfilter/nf_conntrack_|nf_conntrack hashsize )"
# The system's own timers fire on their schedule, whatever a scenario does:
# systemd-tmpfiles-clean 15 minutes after boot (a long VM's snapshots can
# catch its service running), dpkg-db-backup daily. Their units' states are
# not the installer's.
ALLOW_ALWAYS="$ALLOW_ALWAYS|^[-+](systemd-tmpfiles-clean|dpkg-db-backup)\\.(service|timer) "
# diagnose's 'timedatectl status' starts systemd-timedated over D-Bus; it
# stops by itself once idle (30 s), so a quick snapshot may still see it.
ALLOW_ALWAYS="$ALLOW_ALWAYS|^[-+]systemd-timedated\\.service "

# Starts scenario NAME: its log dir, and a count of its failures.
scenario_begin() {
    SCENARIO=$1
    # On a private network, each guest's checks carry its name.
    [ -n "${GUEST:-}" ] && SCENARIO=$1@$GUEST
    KIT_SUITE=$SCENARIO
    LOGS=$T/logs/$SCENARIO
    KIT_LOG=$LOGS/scenario.log
    mkdir -p "$LOGS"
    KIT_FAILED=0
    STEP=0
    cd /tmp || exit 1
    info "begin (phase ${PHASE:-1})"
}

# next_boot HOW PHASE: the scenario goes on at PHASE in the next boot. HOW is
# reboot (a clean one) or powercut (the host kills the VM without shutdown as
# soon as it reads the line; the caller has something running that it cuts).
# Does not return: the boot ends under it.
next_boot() {
    echo "$SCENARIO_ID $2" > "$T/resume"
    sync
    info "next boot: $1, then phase $2"
    case $1 in
        reboot) echo REBOOT > "$RESULTS"; systemctl reboot ;;
        powercut) echo POWERCUT > "$RESULTS" ;;
    esac
    sleep 600
    fail next-boot "the boot did not end after '$1'"
    exit 1
}

# Ends the scenario; its exit code says whether any check failed.
scenario_end() {
    [ "$KIT_FAILED" -eq 0 ] && info "end: every check passed"
    [ "$KIT_FAILED" -eq 0 ]
}

# A line for the host that is neither PASS nor FAIL.
info() {
    printf 'INFO %s %s\n' "$SCENARIO" "$*" > "$RESULTS"
    printf '%s INFO %s\n' "$(date +%T)" "$*" >> "$LOGS/scenario.log"
}

# skip WHY: the scenario cannot run with this bundle; says so and ends it
# (in place of the kit's skip of one check).
skip() {
    kit_result SKIP whole-scenario "$1"
    exit 0
}

# needs_test_bundle WHY / needs_real_k3s WHY / needs_standin WHY: skip unless
# the bundle is of that kind.
needs_test_bundle() {
    [ "$PROFILE" = test ] || skip "$1 (needs a test bundle; this one is '$PROFILE')"
}
needs_standin() {
    [ "$LEVEL" = S ] || skip "$1 (needs the k3s stand-in; this run is level $LEVEL)"
}
needs_real_k3s() {
    [ "$PROFILE" != test ] || skip "$1 (needs real k3s; a test bundle carries the stand-in)"
}
needs_parts() {
    [ "$LEVEL" = K ] || skip "$1 (needs the k3s made of real parts, the parts bundle; this run is level $LEVEL)"
}

# check CHECK REASON COMMAND...: PASS if COMMAND succeeds, else FAIL with REASON.
check() {
    _name=$1 _why=$2
    shift 2
    if "$@" >> "$LOGS/scenario.log" 2>&1; then pass "$_name"; else fail "$_name" "$_why"; fi
}

# run NAME COMMAND...: runs it with its output in LOGS/NN-NAME.out; sets RC.
run() {
    STEP=$((STEP + 1))
    OUT=$LOGS/$(printf '%02d' "$STEP")-$1.out
    shift
    printf '$ %s\n' "$*" > "$OUT"
    "$@" >> "$OUT" 2>&1
    RC=$?
    printf '[exit %s]\n' "$RC" >> "$OUT"
    info "ran $* (exit $RC)"
    return 0
}

# installer NAME ARGS...: runs the test bundle through the stub, as a customer would.
installer() {
    _n=$1
    shift
    run "$_n" sh "$BUNDLE" "$@"
}

# floppies NAME ARGS...: the helper installed on PATH.
floppies() {
    _n=$1
    shift
    run "$_n" /usr/local/bin/floppies "$@"
}

# diagnose_ok CHECK DIR: diagnose wrote one bundle in DIR, mode 600, with index.json; extracted to DIR/x.
diagnose_ok() {
    # shellcheck disable=SC2012 # the one bundle diagnose wrote, a name of ours
    _f=$(ls "$2"/floppies-diagnose-*.tar.zst 2> /dev/null | head -n1)
    if [ -z "$_f" ]; then fail "$1-written" "no floppies-diagnose-*.tar.zst in $2"; return 1; fi
    pass "$1-written"
    check "$1-mode-600" "the bundle is mode $(stat -c %a "$_f")" test "$(stat -c %a "$_f")" = 600
    mkdir -p "$2/x"
    zstd -dc "$_f" | tar -xf - -C "$2/x"
    check "$1-index-json" "index.json is missing" sh -c "find '$2/x' -name index.json | grep -q ."
    cp "$_f" "$LOGS/"
}

# expect_rc CHECK WANT: the last command's exit code was WANT.
expect_rc() {
    if [ "$RC" = "$2" ]; then
        pass "$1"
    else
        fail "$1" "exit $RC, expected $2; last lines: $(tail -n 3 "$OUT" | tr '\n' ' ')"
    fi
}

# expect_out CHECK PATTERN: the last command's output matches PATTERN (grep -E).
expect_out() {
    if grep -Eq -- "$2" "$OUT"; then pass "$1"; else fail "$1" "output lacks /$2/ (see ${OUT#"$T"/})"; fi
}

# Tells the stand-in k3s how to fail (or not, with no argument).
standin_mode() {
    if [ -n "${1:-}" ]; then
        printf 'FAIL_MODE=%s\nSLOW_SECONDS=%s\n' "$1" "${2:-30}" > "$STANDIN_CONF"
    else
        rm -f "$STANDIN_CONF"
    fi
}

# Copies what explains a failure into LOGS/dump-CHECK/ (the kit's KIT_ON_FAIL).
dump_logs() {
    _d=$LOGS/dump-$(printf '%s' "$1" | tr -c 'a-zA-Z0-9_-' _)
    mkdir -p "$_d"
    cp -r /var/log/floppies "$_d/" 2>/dev/null
    journalctl -b --no-pager -u floppies-k3s.service -u floppies-default-route.service > "$_d/journal-units.txt" 2>&1
    journalctl -b --no-pager -n 300 > "$_d/journal-tail.txt" 2>&1
    systemctl status --no-pager floppies-k3s.service > "$_d/systemctl-status.txt" 2>&1
    cat /var/lib/floppies/state.json > "$_d/state.json" 2>/dev/null
    ps -eo pid,ppid,args > "$_d/ps.txt" 2>&1
    return 0
}

# --- the host snapshot -------------------------------------------------------

# snapshot DIR: what a clean uninstall must leave as it was before install.
snapshot() {
    _s=$1
    _t0=$(date +%s)
    mkdir -p "$_s"
    # Files (type, mode, owner, size; content hashes under /etc, /opt, /usr/local).
    find /etc /opt /var/lib /usr/local /run -xdev \
        \( -path /run/systemd -o -path /run/udev -o -path /run/log -o -path /run/user -o -path /run/mount \
           -o -path /var/lib/systemd/random-seed -o -path /var/lib/systemd/timers -o -path /var/lib/systemd/timesync \
           -o -path /var/lib/systemd/coredump -o -path /var/lib/systemd/catalog -o -path /run/utmp -o -path /etc/ld.so.cache \) -prune \
        -o -type f -printf '%p %y %m %U:%G %s\n' -o -printf '%p %y %m %U:%G\n' | sort > "$_s/files.txt"
    echo "files $(date +%s.%N)" >> "$_s/timing.log"
    find /etc /opt /usr/local -xdev -type f -exec sha256sum {} + 2>/dev/null | sort -k2 > "$_s/hashes.txt"
    echo "hashes $(date +%s.%N)" >> "$_s/timing.log"
    # Unit files and their enablement links are files under /etc (above): no
    # 'systemctl list-unit-files', which scans every unit dir and can outlast
    # systemctl's 25 s timeout under TCG. The loaded units' states, from systemd:
    if ! systemctl list-units --all --no-legend --no-pager --plain > "$_s/units.raw" 2>&1; then
        sleep 5
        systemctl list-units --all --no-legend --no-pager --plain > "$_s/units.raw" 2>&1 || info "systemctl list-units failed: $(tail -n1 "$_s/units.raw")"
    fi
    grep -v -e '^floppies-vm-test' -e '^session-' -e 'binfmt_misc' "$_s/units.raw" | awk '{print $1, $2, $3, $4}' | sort > "$_s/units.txt"
    echo "units $(date +%s.%N)" >> "$_s/timing.log"
    for _save in iptables-legacy-save iptables-nft-save ip6tables-legacy-save ip6tables-nft-save; do
        "$_save" 2>&1 | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]/[-]/' > "$_s/$_save.txt"
    done
    echo "iptables $(date +%s.%N)" >> "$_s/timing.log"
    ip -o link show | sed 's/^[0-9]*: //; s/ qlen [0-9]*//' | sort > "$_s/ip-link.txt"
    ip -o addr show | sed 's/^[0-9]*: //' | sort > "$_s/ip-addr.txt"
    { ip route show table all; ip -6 route show table all; ip rule; } > "$_s/ip-route.txt" 2>&1
    ip netns list > "$_s/ip-netns.txt" 2>&1
    echo "ip $(date +%s.%N)" >> "$_s/timing.log"
    # Native nftables tables; iptables-nft's own (filter, nat, mangle, raw,
    # security) are compared, normalised, in the *-nft-save files above.
    if command -v nft > /dev/null 2>&1; then
        nft list tables 2>&1 | while read -r _t _family _name; do
            case $_name in filter|nat|mangle|raw|security) continue ;; esac
            nft list table "$_family" "$_name"
        done > "$_s/nft.txt" 2>&1
    else
        echo "no nft" > "$_s/nft.txt"
    fi
    # The kernel settings k3s, the kubelet and kube-proxy change (the
    # installer's host-baseline step records and restores the same list).
    for _k in net/ipv4/conf/all/forwarding net/ipv4/conf/default/forwarding net/ipv6/conf/all/forwarding \
        net/ipv6/conf/default/forwarding net/core/devconf_inherit_init_net net/bridge/bridge-nf-call-iptables \
        net/bridge/bridge-nf-call-ip6tables net/netfilter/nf_conntrack_max net/netfilter/nf_conntrack_tcp_timeout_established \
        net/netfilter/nf_conntrack_tcp_timeout_close_wait net/netfilter/nf_conntrack_tcp_be_liberal \
        net/netfilter/nf_conntrack_udp_timeout net/netfilter/nf_conntrack_udp_timeout_stream net/ipv4/conf/all/route_localnet \
        vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys kernel/keys/root_maxbytes; do
        [ -r "/proc/sys/$_k" ] && echo "$_k $(cat "/proc/sys/$_k")"
    done > "$_s/sysctl.txt"
    [ -r /sys/module/nf_conntrack/parameters/hashsize ] && echo "nf_conntrack hashsize $(cat /sys/module/nf_conntrack/parameters/hashsize)" >> "$_s/sysctl.txt"
    # Pod logs the kubelet writes.
    find /var/log/pods /var/log/containers -printf '%p %y\n' 2>/dev/null | sort > "$_s/pod-logs.txt"
    echo "nft sysctl pod-logs $(date +%s.%N)" >> "$_s/timing.log"
    awk '$5 !~ /binfmt_misc/ {print $5, $9, $10}' /proc/self/mountinfo | sort > "$_s/mounts.txt"
    echo "mounts $(date +%s.%N)" >> "$_s/timing.log"
    # ufw's state without starting ufw (slow under TCG): its switch and rules
    # here, its chains in the iptables files above.
    { grep -h '^ENABLED' /etc/ufw/ufw.conf; grep -h '^### tuple' /etc/ufw/user.rules /etc/ufw/user6.rules; } > "$_s/ufw.txt" 2>&1
    echo "ufw $(date +%s.%N)" >> "$_s/timing.log"
    ss -ltnuH | awk '{print $1, $5}' | sort > "$_s/listening.txt"
    echo "ss $(date +%s.%N)" >> "$_s/timing.log"
    # Processes of k3s, its containers or the ingress, which uninstall must stop.
    ps -eo args= | grep -E '/k3s/|k3s server|containerd|kubelet|httpd' | grep -v -e grep -e 'ps -eo' | sort > "$_s/processes.txt"
    info "snapshot ${_s##*/} took $(( $(date +%s) - _t0 ))s"
}

# differences BEFORE AFTER [ALLOW_ERE]: prints each line in which the
# snapshots differ, as "FILE: -old" / "FILE: +new", except lines matching
# ALLOW_ERE (and ALLOW_ALWAYS).
differences() {
    _allow="$ALLOW_ALWAYS${3:+|$3}"
    for _f in "$1"/*.txt; do
        _n=${_f##*/}
        diff -U0 "$_f" "$2/$_n" | grep -E '^[-+]' | grep -Ev '^(\+\+\+|---) ' \
            | grep -Ev "$_allow" | sed "s|^|$_n: |"
    done
}

# compare CHECK BEFORE AFTER [ALLOW_ERE]: the snapshots match (see
# differences). The full diff is kept in the logs as CHECK.diff.
compare() {
    _diff=$LOGS/$1.diff
    differences "$2" "$3" "${4:-}" > "$_diff"
    if [ -s "$_diff" ]; then
        fail "$1" "$(wc -l < "$_diff") difference(s) left behind, e.g. $(head -n 3 "$_diff" | tr '\n' ';')"
    else
        pass "$1"
    fi
}

# The bundle's content file and its sha256 (from the bundle's manifest).
# content_sha256 PATH [BUNDLE]: from BUNDLE's manifest (default: the one under test).
content_sha256() {
    sh "${2:-$BUNDLE}" --info 2>/dev/null | awk '$1 == "content" && $2 == "content/'"$1"'" {print $6}'
}

# http_sha256 PATH: the sha256 of what GET http://127.0.0.1/PATH returns.
http_sha256() {
    # (busybox 1.35's wget crashes with -T: timeout bounds it instead.)
    timeout 20 busybox wget -q -O - "http://127.0.0.1/$1" 2>/dev/null | sha256sum | cut -d' ' -f1
}

# http_equals PATH CHECK [BUNDLE]: GET http://127.0.0.1/PATH returns the content BUNDLE carries.
http_equals() {
    _want=$(content_sha256 "$1" "${3:-}")
    _got=$(http_sha256 "$1")
    if [ -n "$_want" ] && [ "$_got" = "$_want" ]; then
        pass "$2"
    else
        fail "$2" "GET /$1 has sha256 '$_got', the bundle's is '$_want'"
    fi
}

# --- the app on a real cluster (levels K and R) ---------------------------

# Every pod in the app's namespace is Ready, or a Job's and Succeeded; at
# least the MinIO and s3www ones exist. Prints the pods.
app_pods_ready() {
    "$K3S" kubectl -n floppies get pods -o json | python3 -c '
import json, sys
pods = json.load(sys.stdin)["items"]
def ready(p):
    conds = {c["type"]: c["status"] for c in p["status"].get("conditions", [])}
    return p["status"].get("phase") == "Succeeded" or conds.get("Ready") == "True"
names = [p["metadata"]["name"] for p in pods]
for p in pods:
    print(p["metadata"]["name"], p["status"].get("phase"), "ready" if ready(p) else "NOT READY", file=sys.stderr)
sys.exit(0 if all(map(ready, pods)) and any("minio" in n for n in names) and any("s3www" in n for n in names) else 1)'
}

# app_checks [PREFIX]: what only a real cluster shows: the app's namespace
# enforces restricted, every pod of the app Ready, the seed Job succeeded,
# CoreDNS Ready. PREFIX- starts each check's name.
app_checks() {
    _p=${1:+$1-}
    check "${_p}namespace-enforces-restricted" "the floppies namespace does not enforce restricted" \
        sh -c "'$K3S' kubectl get namespace floppies -o jsonpath='{.metadata.labels.pod-security\.kubernetes\.io/enforce}' | grep -qx restricted"
    check "${_p}app-pods-ready" "a pod of the app is not Ready (or there is none)" app_pods_ready
    check "${_p}seed-job-succeeded" "the seed Job has not succeeded" sh -c "'$K3S' kubectl -n floppies get jobs -o jsonpath='{.items[*].status.succeeded}' | grep -q 1"
    check "${_p}coredns-ready" "CoreDNS is not Ready" sh -c "'$K3S' kubectl -n kube-system get deployment coredns -o jsonpath='{.status.readyReplicas}' | grep -qx 1"
}

# minio_mc SCRIPT: runs SCRIPT with sh in the MinIO pod, where the real mc of
# the image reaches this MinIO as alias "local" with the pod's own root
# credentials (from its environment: never on a command line). Stdin is passed on.
minio_mc() {
    _deploy=$("$K3S" kubectl -n floppies get deployments -o name | grep -- '-minio$' | head -n1)
    [ -n "$_deploy" ] || { echo "no MinIO deployment in floppies" >&2; return 1; }
    # shellcheck disable=SC2016 # expanded by the pod's sh, from its environment
    "$K3S" kubectl -n floppies exec -i "$_deploy" -c minio -- sh -c \
        'export MC_HOST_local="http://$MINIO_ROOT_USER:$MINIO_ROOT_PASSWORD@127.0.0.1:9000"; '"$1"
}

# k3s_timeline: where the last start of k3s spent its time, as INFO lines
# (seconds since k3s started, from the unit's journal): the parts unpacked,
# each image archive imported, the API server and the node up.
k3s_timeline() {
    journalctl -b -u floppies-k3s.service -o short-monotonic --no-pager 2> /dev/null | awk '
        { match($0, /^\[ *[0-9.]+\]/); t = substr($0, 2, RLENGTH - 2) + 0; sub(/^\[ *[0-9.]+\] [^ ]+ [^ ]+ /, "") }
        /Starting k3s/ { t0 = t; n = 0 }
        t0 && /unpacked the parts|Imported images from|k3s of parts is up|Failed to import/ { line[++n] = sprintf("%5.0f s  %s", t - t0, substr($0, 1, 140)) }
        END { for (i = 1; i <= n; i++) print line[i] }' | while IFS= read -r _l; do info "k3s: $_l"; done
}

# k3s_cpu: where the guest's CPU time went since boot, as INFO lines (CPU
# seconds): the guest in all (busy and idle, from /proc/stat), the k3s unit's
# cgroup and each of its processes still running (what is left of the unit
# is its short-lived commands: kubectl, ctr, python), the pods, and this
# scenario's own waited-for commands (the installer and what it ran).
k3s_cpu() {
    _cg=/sys/fs/cgroup$(systemctl show -p ControlGroup --value floppies-k3s.service 2> /dev/null)
    _hz=$(getconf CLK_TCK)
    info "cpu: guest $(awk -v hz="$_hz" '/^cpu / { printf "busy %.0f s, idle %.0f s", ($2 + $3 + $4 + $7 + $8) / hz, ($5 + $6) / hz }' /proc/stat)"
    if [ -r "$_cg/cpu.stat" ]; then
        _unit=$(cgroup_cpu_seconds "$_cg")
        # shellcheck disable=SC2046 # one pid per word
        _live=$(ps -o times=,comm= -p $(paste -sd, "$_cg/cgroup.procs") 2> /dev/null | sort -rn)
        info "cpu: k3s unit $_unit s, of it short-lived commands $(printf '%s\n' "$_live" | awk -v u="$_unit" '{ s += $1 } END { print u - s }') s"
        printf '%s\n' "$_live" | awk '$1 >= 1 { printf "%s %s s\n", $2, $1 }' | while IFS= read -r _l; do info "cpu:   $_l"; done
    fi
    [ -r /sys/fs/cgroup/kubepods.slice/cpu.stat ] && info "cpu: pods $(cgroup_cpu_seconds /sys/fs/cgroup/kubepods.slice) s"
    # times (not in a pipe or $(...): a subshell has no children): this
    # shell's user and system time, then its children's.
    times > /tmp/k3s-cpu-times
    info "cpu: this scenario's commands $(sed -n 2p /tmp/k3s-cpu-times | awk '{ gsub(/[ms]/, " "); split($0, a, " "); printf "%.0f s", a[1] * 60 + a[2] + a[3] * 60 + a[4] }')"
}

# cgroup_cpu_seconds DIR: the CPU seconds the cgroup DIR has used, whole.
cgroup_cpu_seconds() {
    awk '/^usage_usec/ { printf "%.0f", $2 / 1e6 }' "$1/cpu.stat"
}

# diagnose_not_installed: diagnose with nothing installed writes a bundle
# whose summary says so.
diagnose_not_installed() {
    mkdir -p /tmp/diag-empty
    installer diagnose-empty diagnose --output /tmp/diag-empty
    expect_rc diagnose-empty-exit-0 0
    if diagnose_ok diagnose-empty /tmp/diag-empty; then
        check diagnose-empty-says-not-installed "summary.txt does not say the product is not installed" \
            sh -c "find /tmp/diag-empty/x -name summary.txt -exec cat {} + | grep -qi 'not installed'"
    fi
    rm -rf /tmp/diag-empty
}

# upgrade_asks_first OLD NEW: installing this bundle over OLD on a
# non-terminal without --yes asks for the upgrade to NEW (exit 8) and changes
# nothing: status still names OLD.
upgrade_asks_first() {
    run upgrade-unconfirmed sh "$BUNDLE" install < /dev/null
    expect_rc upgrade-unconfirmed-exit-8 8
    expect_out upgrade-asks "Upgrade to $2"
    floppies status-still-old status
    expect_out still-old-version "^floppies $1 "
}

# save_credentials, then credentials_kept: both credential files are
# byte-equal to the saved copies (/tmp/*.before) after the upgrade.
save_credentials() {
    cp /var/lib/floppies/credentials/minio-root.env /tmp/minio-root.env.before
    cp /var/lib/floppies/credentials/s3www-reader.env /tmp/s3www-reader.env.before
}
credentials_kept() {
    check minio-credentials-kept "the MinIO credentials changed in the upgrade" cmp -s /var/lib/floppies/credentials/minio-root.env /tmp/minio-root.env.before
    check reader-credentials-kept "the s3www credentials changed in the upgrade" cmp -s /var/lib/floppies/credentials/s3www-reader.env /tmp/s3www-reader.env.before
}

# diagnose_installed: diagnose on the installed host writes a bundle with the
# HelmChart manifest and k3s's resolv.conf for the kubelet, and without the
# MinIO password, the s3www reader's secret or the k3s token.
diagnose_installed() {
    _pw=$(sed -n 's/^MINIO_ROOT_PASSWORD=//p' /var/lib/floppies/credentials/minio-root.env)
    _secret=$(sed -n 's/^S3WWW_SECRET_KEY=//p' /var/lib/floppies/credentials/s3www-reader.env)
    _token=$(sed 's/.*://' /var/lib/rancher/k3s/server/token)
    mkdir -p /tmp/diag-installed
    floppies diagnose-installed diagnose --output /tmp/diag-installed
    expect_rc diagnose-installed-exit-0 0
    if diagnose_ok diagnose-installed /tmp/diag-installed; then
        check diagnose-has-manifest "the HelmChart manifest was not collected" sh -c "find /tmp/diag-installed/x -name 'k3s-manifest-floppies.yaml' | grep -q ."
        # The guest's resolv.conf is resolved's stub with no upstream server (00):
        # k3s, and so the stand-in, then writes the kubelet's own; support sees it.
        check diagnose-has-k3s-resolv-conf "the bundle lacks the resolv.conf k3s generated for the kubelet" \
            grep -rqx --include=k3s-resolv.conf.txt 'nameserver 8.8.8.8' /tmp/diag-installed/x
        check diagnose-no-minio-password "the MinIO password is in the bundle" sh -c "[ -n '$_pw' ] && ! grep -rqF -- '$_pw' /tmp/diag-installed/x"
        check diagnose-no-s3www-secret "the s3www secret is in the bundle" sh -c "[ -n '$_secret' ] && ! grep -rqF -- '$_secret' /tmp/diag-installed/x"
        check diagnose-no-k3s-token "the k3s token is in the bundle" sh -c "[ -n '$_token' ] && ! grep -rqF -- '$_token' /tmp/diag-installed/x"
    fi
    rm -rf /tmp/diag-installed
}

# --- guests on a private network (a scenario with "# guests: A B") ---------

# shellcheck source=/dev/null # written by the host (test-vm/run)
[ -f "$T/guest.env" ] && . "$T/guest.env"

# peer_ip NAME: the address of guest NAME.
peer_ip() {
    for _p in $GUEST_PEERS; do
        [ "${_p%%=*}" = "$1" ] && echo "${_p#*=}" && return 0
    done
    return 1
}

# mark NAME [FILE]: tells the other guests NAME has happened here (with FILE's content).
mark() {
    if [ -n "${2:-}" ]; then cp "$2" "/tmp/floppies-test-marks/$1.part"; else : > "/tmp/floppies-test-marks/$1.part"; fi
    mv "/tmp/floppies-test-marks/$1.part" "/tmp/floppies-test-marks/$1"
}

# wait_mark PEER NAME SECONDS [OUT]: waits for guest PEER's mark NAME (its content into OUT).
wait_mark() {
    wait_until "$3" curl -sf --max-time 5 -o "${4:-/dev/null}" "http://$(peer_ip "$1"):8000/$2"
}

# Waits up to SECONDS for COMMAND to succeed.
wait_until() {
    _secs=$1
    shift
    while [ "$_secs" -gt 0 ]; do
        "$@" > /dev/null 2>&1 && return 0
        sleep 1
        _secs=$((_secs - 1))
    done
    return 1
}
