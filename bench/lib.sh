# shellcheck shell=bash
# Shared by bench/run (the full report) and tests/bench/run (the CI asserts):
# makes the payload (bench/payload.sh: the upstream parts, or the /usr
# fallback), builds it as our .run, as a makeself archive and as the bare
# payload, and times them: every round of every case is one line of
# $SCRATCH/samples, which bench/figures.py turns into figures. Source it, then
# call bench_init WORK_DIR. Needs: the helper and the build tool (make
# helper), makeself, zstd, GNU tar, gzip, python3; perf for instruction counts.

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RELEASE=$BENCH_ROOT/target/x86_64-unknown-linux-gnu/release
HELPER=${HELPER:-$RELEASE/floppies}
BUILD_TOOL=${BUILD_TOOL:-$RELEASE/floppies-build}
ZSTD_LEVEL=${ZSTD_LEVEL:-12}
SPEC_DIR=$BENCH_ROOT/bench
MIB=$((1024 * 1024))
# Same bytes for the same file list: no times, owners or names from this machine.
TAR_DET=(--sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu)
# shellcheck source=bench/payload.sh
. "$BENCH_ROOT/bench/payload.sh"
# shellcheck source=tests/lib/kit.sh
. "$BENCH_ROOT/tests/lib/kit.sh"

# Sets the work paths under DIR, emptied first (a bench never reuses old files).
bench_init() {
    WORK=$1
    INPUTS=$WORK/inputs
    BUILT=$WORK/built
    SCRATCH=$WORK/scratch
    OURS=$BUILT/ours.run
    MAKESELF=$BUILT/makeself.run
    PAYLOAD=$BUILT/payload.tar.zst
    rm -rf "$WORK"
    mkdir -p "$INPUTS" "$BUILT" "$SCRATCH"
    : >"$SCRATCH/samples"
    : >"$SCRATCH/perf"
}

# Reports every tool the bench lacks at once.
check_bench_tools() {
    local missing=''
    need makeself zstd tar gzip sha256sum python3 taskset || missing=" $KIT_MISSING"
    if [ "${BENCH_CPU:-0}" != none ] && command -v taskset >/dev/null 2>&1 && ! taskset -c "${BENCH_CPU:-0}" true 2>/dev/null; then
        missing="$missing CPU ${BENCH_CPU:-0} to pin the cases to (BENCH_CPU: an online CPU, or none)"
    fi
    [ -x "$HELPER" ] && [ -x "$BUILD_TOOL" ] || missing="$missing $HELPER (run 'make helper')"
    if [ -n "$missing" ]; then
        echo "bench: missing:$missing (apt-get install makeself zstd python3)" >&2
        return 1
    fi
}

# Prints the wall time of a command in seconds (bash's microsecond clock).
wall() {
    local start=$EPOCHREALTIME
    "$@" || return
    awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.6f\n", b - a }'
}

# Runs a command with its output in LOG.
run_logged() {
    local log=$1
    shift
    "$@" >"$log" 2>&1
}

# Prints the median of the numbers on stdin.
median() {
    sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1; m = int((NR + 1) / 2); print (NR % 2) ? v[m] : (v[m] + v[m + 1]) / 2 }'
}

# Packs INPUTS (of PAYLOAD_KIND) and assembles our .run; sets BUILD_OURS_S.
build_ours() {
    local pack assemble
    pack=$(wall "$BUILD_TOOL" pack --set "$SPEC_DIR/spec-$PAYLOAD_KIND.json" --base "$INPUTS" --version 0.0.0-bench \
        --arch x86_64 --level "$ZSTD_LEVEL" --out "$PAYLOAD" 2>"$SCRATCH/pack.log") || { cat "$SCRATCH/pack.log" >&2; return 1; }
    assemble=$(wall "$BUILD_TOOL" assemble --stub "$BENCH_ROOT/stub.sh" --helper "$HELPER" --payload "$PAYLOAD" \
        --version 0.0.0-bench --profile bench --arch x86_64 --out "$OURS" 2>"$SCRATCH/assemble.log") \
        || { cat "$SCRATCH/assemble.log" >&2; return 1; }
    # shellcheck disable=SC2034 # read by the scripts that source this file
    BUILD_OURS_S=$(awk -v a="$pack" -v b="$assemble" 'BEGIN { printf "%.3f", a + b }')
}

# Packs the same files (our payload, unpacked) with makeself at the same zstd
# level, with sha256 as its only checksum (our integrity, its fastest way to
# get it); sets BUILD_MAKESELF_S.
build_makeself() {
    local tree=$SCRATCH/tree s
    rm -rf "$tree"
    mkdir -p "$tree"
    zstd -q -dc "$PAYLOAD" | tar -xf - -C "$tree"
    s=$(wall run_logged "$SCRATCH/makeself.log" makeself --zstd --complevel "$ZSTD_LEVEL" --sha256 --nomd5 \
        --nocrc --nox11 --tar-quietly "$tree" "$MAKESELF" "floppies bench" true) \
        || { cat "$SCRATCH/makeself.log" >&2; return 1; }
    # shellcheck disable=SC2034 # read by the scripts that source this file
    BUILD_MAKESELF_S=$(printf '%.3f' "$s")
    rm -rf "$tree"
}

# Prints the zstd window of the payload in bytes (from its frame header).
payload_window() {
    zstd -lv "$PAYLOAD" 2>/dev/null | awk '/Window Size:/ && !w { gsub(/[()]/, "", $(NF - 1)); w = $(NF - 1) } END { print w }'
}

# The cases timed: each a function run in a fresh, empty target ($TARGET).
# ours_extract is install's own pass over the payload: --extract runs the
# unpack step's extract_release (one streamed pass, hashed, into a staging dir
# renamed into place only if the hash matches). Install reads only the
# manifest, the payload's first entry, besides.
case_ours_check() { sh "$OURS" --check >/dev/null 2>/dev/null; }
case_ours_extract() { sh "$OURS" --extract "$TARGET" >/dev/null 2>/dev/null; }
case_makeself_check() { sh "$MAKESELF" --check >/dev/null 2>/dev/null; }
case_makeself_extract() { sh "$MAKESELF" --quiet --noexec --nox11 --target "$TARGET" >/dev/null 2>/dev/null; }
case_floor_extract() { mkdir -p "$TARGET" && zstd -q -dc "$PAYLOAD" | tar -xf - -C "$TARGET" 2>/dev/null; }
case_sha256sum() { sha256sum "$OURS" >/dev/null 2>/dev/null; }

# Runs one case once, in ATTEMPT and ROUND (0: the warm-up), and appends
# "ATTEMPT ROUND CASE WALL_S USER_S SYS_S MAXRSS_KIB" to $SCRATCH/samples.
# bench/rusage takes them from wait4 on the child: CPU of the whole tree, the
# RSS of its largest process (for our .run the helper's, as the stub execs it).
sample() {
    local attempt=$1 round=$2 name=$3 wall user sys rss
    start_case "$name"
    pinned "$BENCH_ROOT/bench/rusage" "$SCRATCH/rusage" bash -c "case_$name" || {
        echo "bench: case $name failed" >&2
        return 1
    }
    read -r wall user sys rss <"$SCRATCH/rusage"
    rm -rf "$TARGET"
    echo "$attempt $round $name $wall $user $sys $rss" >>"$SCRATCH/samples"
}

# Runs a command on CPU $BENCH_CPU only (default 0; 'none': anywhere), and so
# every process of its tree. Let float on an otherwise idle machine, a
# pipeline's processes spread over the cores and its sys time grew 3-5 x
# (our --check: 0.44-0.66 s of sys against 0.12-0.14 s with the other core
# busy); held on one CPU it was 0.10-0.16 s either way. The wall figures are
# then those of one core, for every case alike.
pinned() {
    if [ "${BENCH_CPU:-0}" = none ]; then
        "$@"
    else
        taskset -c "${BENCH_CPU:-0}" "$@"
    fi
}

# An empty target and the case function, exported for its 'bash -c'.
start_case() {
    TARGET=$SCRATCH/target
    rm -rf "$TARGET"
    export OURS MAKESELF PAYLOAD TARGET
    export -f "case_$1"
}

# Runs CASES ROUNDS times each, interleaved (a, b, c, a, b, c, ...), after one
# warm-up round, as attempt ATTEMPT.
measure_attempt() {
    local attempt=$1 rounds=$2 i c
    shift 2
    for ((i = 0; i <= rounds; i++)); do
        for c in "$@"; do sample "$attempt" "$i" "$c" || return; done
    done
}

# Sets PERF_OK=1 when perf counts instructions here, else PERF_OK=0 and
# PERF_NOTE saying why (in a VM or container the PMU is often not there).
# shellcheck disable=SC2034 # read by the scripts that source this file
perf_status() {
    local first
    PERF_OK=0
    if ! command -v perf >/dev/null 2>&1; then
        PERF_NOTE="perf is not installed (apt-get install linux-perf)"
        return
    fi
    first=$(perf stat -x, -e instructions -- true 2>&1 >/dev/null | awk -F, 'NR == 1 { print $1 }')
    case $first in
        '' | *[!0-9]*) PERF_NOTE="'perf stat -e instructions' gives '${first:-nothing}' on this machine (no access to the CPU's counters)" ;;
        *) PERF_OK=1 PERF_NOTE="perf stat -e instructions, user and kernel, the whole process tree" ;;
    esac
}

# Appends "CASE ROUND INSTRUCTIONS" to $SCRATCH/perf for ROUNDS runs of each
# case, interleaved; separate from the timed rounds, as perf adds its own work.
count_instructions() {
    local rounds=$1 i c n
    shift
    for ((i = 1; i <= rounds; i++)); do
        for c in "$@"; do
            start_case "$c"
            pinned perf stat -x, -e instructions -o "$SCRATCH/perf.out" -- bash -c "case_$c" || return
            n=$(awk -F, '$3 ~ /^instructions/ { print $1 }' "$SCRATCH/perf.out")
            rm -rf "$TARGET"
            case $n in '' | *[!0-9]*) echo "bench: perf gave no count for $c" >&2; return 1 ;; esac
            echo "$c $i $n" >>"$SCRATCH/perf"
        done
    done
}

# Prints the median wall time in seconds of 'sh FILE ARG' over RUNS runs.
stub_median() {
    local file=$1 arg=$2 runs=$3 i
    for ((i = 0; i < runs; i++)); do
        wall run_logged /dev/null sh "$file" "$arg"
    done | median
}

# Assembles a .run whose payload is MIB MiB of zeros (a sparse file): real
# header and helper, for timing what the stub does before it reads the payload.
make_sized_run() {
    local out=$1 mib=$2
    truncate -s "${mib}M" "$SCRATCH/zeros-$mib"
    "$BUILD_TOOL" assemble --stub "$BENCH_ROOT/stub.sh" --helper "$HELPER" --payload "$SCRATCH/zeros-$mib" \
        --version 0.0.0-bench --profile bench --arch x86_64 --out "$out" 2>/dev/null
    rm -f "$SCRATCH/zeros-$mib"
}
