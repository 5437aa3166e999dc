#!/bin/sh
# Runs in the guest (from the test disk, by the base image's boot unit): each
# scenario named in scenarios.list, in order, each bounded by the timeout its
# header declares ("# timeout: SECONDS"). Ends with a DONE line.
# A scenario may span boots (lib.sh's next_boot): it leaves "ID PHASE" in
# $T/resume, and on the next boot runs again with PHASE set; the scenarios it
# finished are in $T/logs/.done.
set -u
T=$(cd "$(dirname "$0")" && pwd)
RESULTS=/dev/ttyS1
export T RESULTS
# shellcheck source=tests/lib/kit.sh
. "$T/kit.sh"
KIT_RESULTS=$RESULTS

# The "# timeout: N" header of scenario file FILE (300 if absent).
scenario_timeout() {
    _t=$(sed -n 's/^# timeout: *\([0-9][0-9]*\).*/\1/p' "$1" | head -n1)
    echo "${_t:-300}"
}

# Runs scenario ID at PHASE, bounded; records it as done unless it asked for another boot.
run_scenario() {
    _id=$1
    _file=$T/scenarios/$_id.sh
    _limit=$(scenario_timeout "$_file")
    mkdir -p "$T/logs/$_id"
    _started=$(cut -d. -f1 /proc/uptime)
    SCENARIO_ID=$_id PHASE=$2 timeout -k 10 "$_limit" sh "$_file" >> "$T/logs/$_id/stdout.txt" 2>&1
    _rc=$?
    # This boot's part of the scenario's time (the host adds up the boots).
    printf 'TIME %s%s %s\n' "${_id#*-}" "${GUEST:+@$GUEST}" "$(( $(cut -d. -f1 /proc/uptime) - _started ))" > "$RESULTS"
    if [ -f "$T/resume" ]; then
        # It asked for another boot, which is ending this one (and killed it).
        sleep 600
        return 0
    fi
    if [ "$_rc" -eq 124 ] || [ "$_rc" -eq 137 ]; then
        KIT_SUITE=$_id
        fail timeout "not finished within ${_limit}s (phase $2)"
        journalctl -b --no-pager -n 300 > "$T/logs/$_id/journal-at-timeout.txt" 2>&1
        ps -eo pid,ppid,args > "$T/logs/$_id/ps-at-timeout.txt" 2>&1
    fi
    echo "$_id" >> "$T/logs/.done"
    sync
}

# On a private network (guest.env from the host): this guest's name and
# address, a default route to an address no one holds (the network has no way
# out), and a small HTTP server for the marks the guests of a scenario wait
# for each other with (lib.sh's mark, wait_mark). All before any scenario
# takes its first snapshot.
join_network() {
    [ -f "$T/guest.env" ] || return 0
    # shellcheck source=/dev/null # written by the host (test-vm/run)
    . "$T/guest.env"
    hostname "$GUEST"
    # The NIC's driver may still be loading and udev renaming it (eth0 -> ens2).
    udevadm settle -t 30 2>/dev/null
    _i=0
    while :; do
        _if=$(ip -o link show | awk -F': ' '$2 != "lo" {print $2; exit}')
        [ -n "$_if" ] && [ "${_if#eth}" = "$_if" ] && break
        [ "$_i" -ge 30 ] && break
        sleep 1
        _i=$((_i + 1))
    done
    ip link set "$_if" up
    ip addr add "$GUEST_IP/24" dev "$_if"
    ip route add default via 10.77.0.254 dev "$_if"
    mkdir -p /tmp/floppies-test-marks
    busybox httpd -p "$GUEST_IP:8000" -h /tmp/floppies-test-marks
    printf 'INFO guest %s is %s on %s\n' "$GUEST" "$GUEST_IP" "$_if" > "$RESULTS"
}

main() {
    mkdir -p "$T/logs"
    join_network
    printf 'INFO vm booted in %ss; cpu %s\n' "$(cut -d' ' -f1 /proc/uptime)" \
        "$(/lib64/ld-linux-x86-64.so.2 --help 2>/dev/null | grep -o 'x86-64-v[0-9] (supported, searched)' | tail -n1)" > "$RESULTS"
    _resume=$(cat "$T/resume" 2>/dev/null)
    rm -f "$T/resume"
    sync
    while read -r _id; do
        [ -n "$_id" ] || continue
        grep -qx "$_id" "$T/logs/.done" 2>/dev/null && continue
        _phase=1
        case $_resume in "$_id "*) _phase=${_resume#* } ;; esac
        run_scenario "$_id" "$_phase"
    done < "$T/scenarios.list"
    # shellcheck disable=SC2012 # counting our own journal-boot-N.txt files
    journalctl -b --no-pager -o short-monotonic > "$T/logs/journal-boot-$(ls "$T"/logs/journal-boot-* 2>/dev/null | wc -l).txt" 2>&1
    echo DONE > "$RESULTS"
}

main "$@"
