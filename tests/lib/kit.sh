# shellcheck shell=sh
# The shell test kit, sourced by every shell suite (tests/*/run) and by
# test-vm's guest lib (test-vm/run copies it onto the test disk), so the
# result lines that tests/run and test-vm/run read are written in one place:
#   PASS SUITE CHECK
#   FAIL SUITE CHECK: REASON      (then the first and last lines of any logs)
#   SKIP SUITE CHECK: REASON
#   N passed, M failed[, K skipped]
# POSIX sh, as the guest has no bash. Settings, read at each call:
#   KIT_SUITE    the suite's name in every line (the guest: its scenario's)
#   KIT_RESULTS  where result lines go (default stdout; the guest: a serial port)
#   KIT_LOG      a file that gets each line too, timestamped (optional)
#   KIT_ON_FAIL  a command run with the check's name after each failure (optional)

KIT_PASSED=0
KIT_FAILED=0
KIT_SKIPPED=0

# kit_result KIND CHECK [REASON]: counts and writes one result line. Capped
# at 600 bytes: a reason holding a whole log must not flood the reader.
kit_result() {
    _kit_line="$1 ${KIT_SUITE:?KIT_SUITE is not set} $2${3:+: $3}"
    _kit_line=$(printf '%s' "$_kit_line" | head -c 600)
    case $1 in
        PASS) KIT_PASSED=$((KIT_PASSED + 1)) ;;
        FAIL) KIT_FAILED=$((KIT_FAILED + 1)) ;;
        SKIP) KIT_SKIPPED=$((KIT_SKIPPED + 1)) ;;
    esac
    if [ -n "${KIT_RESULTS:-}" ]; then
        printf '%s\n' "$_kit_line" >"$KIT_RESULTS"
    else
        printf '%s\n' "$_kit_line"
    fi
    [ -z "${KIT_LOG:-}" ] || printf '%s %s %s%s\n' "$(date +%T)" "$1" "$2" "${3:+: $3}" >>"$KIT_LOG"
}

# pass CHECK
pass() {
    kit_result PASS "$1"
}

# fail CHECK [REASON [LOG...]]: counts a failure and shows each LOG that exists.
fail() {
    _kit_check=$1
    kit_result FAIL "$1" "${2:-}"
    [ $# -gt 2 ] && shift 2 && dump "$@"
    [ -z "${KIT_ON_FAIL:-}" ] || "$KIT_ON_FAIL" "$_kit_check"
    return 0
}

# skip CHECK REASON: the check could not run here; counted apart.
skip() {
    kit_result SKIP "$1" "$2"
}

# dump LOG...: each LOG that exists, indented; its first and last 20 lines
# when longer (where a tool says what failed, and where it gives up).
dump() {
    for _kit_f in "$@"; do
        [ -f "$_kit_f" ] || continue
        awk -v n="$(wc -l <"$_kit_f")" 'NR <= 20 || NR > n - 20 { print "    " $0; next } NR == 21 { print "    ..." }' "$_kit_f"
    done
}

# finish: prints the count line and exits 1 if any check failed, else 0.
finish() {
    if [ "$KIT_SKIPPED" -gt 0 ]; then
        echo "$KIT_PASSED passed, $KIT_FAILED failed, $KIT_SKIPPED skipped"
    else
        echo "$KIT_PASSED passed, $KIT_FAILED failed"
    fi
    [ "$KIT_FAILED" -eq 0 ] || exit 1
    exit 0
}

# need TOOL...: succeeds if every TOOL is on PATH; else sets KIT_MISSING to
# all that are not (one message can name them all) and fails.
need() {
    KIT_MISSING=''
    for _kit_t in "$@"; do
        command -v "$_kit_t" >/dev/null 2>&1 || KIT_MISSING="${KIT_MISSING:+$KIT_MISSING }$_kit_t"
    done
    [ -z "$KIT_MISSING" ]
}

# work_dir NAME [CLEANUP]: a private scratch dir in WORK, removed at exit,
# after CLEANUP (a command for what must go first: a mount in it, a daemon).
work_dir() {
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/floppies-$1.XXXXXX") || exit 1
    KIT_CLEANUP=${2:-}
    trap kit_cleanup EXIT
}

# The EXIT trap of work_dir; the script's exit code stands.
kit_cleanup() {
    [ -z "$KIT_CLEANUP" ] || "$KIT_CLEANUP"
    rm -rf "$WORK"
}
