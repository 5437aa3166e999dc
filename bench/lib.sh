# shellcheck shell=bash
# Shared by bench/run (the full report) and tests/bench/run (the CI asserts):
# makes a payload of production shape from this machine's /usr files, builds it
# as our .run, as a makeself archive and as the bare payload, and times them.
# Source it, then call bench_init WORK_DIR. Needs: the helper and the build
# tool (make helper), makeself, zstd, GNU tar, gzip, /usr/bin/time.

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RELEASE=$BENCH_ROOT/helper/target/x86_64-unknown-linux-gnu/release
HELPER=${HELPER:-$RELEASE/floppies}
BUILD_TOOL=${BUILD_TOOL:-$RELEASE/floppies-build}
ZSTD_LEVEL=${ZSTD_LEVEL:-12}
MIB=$((1024 * 1024))
# Same bytes for the same file list: no times, owners or names from this machine.
TAR_DET=(--sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu)

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
}

# Reports every tool the bench lacks at once.
check_bench_tools() {
    local missing='' tool
    for tool in makeself zstd tar gzip sha256sum /usr/bin/time; do
        command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
    done
    [ -x "$HELPER" ] && [ -x "$BUILD_TOOL" ] || missing="$missing $HELPER (run 'make helper')"
    if [ -n "$missing" ]; then
        echo "bench: missing:$missing (apt-get install makeself zstd time)" >&2
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

# Prints "size<TAB>path" of readable regular files under the given dirs, sorted by path.
usr_files() {
    find "$@" -xdev -type f -readable -size +0 -printf '%s\t%p\n' 2>/dev/null | LC_ALL=C sort -t"$(printf '\t')" -k2,2
}

# Writes a ~MIB MiB stand-in for a static binary: ELF files concatenated
# (a Go binary like k3s compresses about as well as these do).
make_binary() {
    local out=$1 bytes=$(($2 * MIB)) list=$SCRATCH/elf.list i
    mkdir -p "$(dirname "$out")"
    usr_files /usr/bin /usr/sbin /usr/libexec /usr/lib/x86_64-linux-gnu \
        | awk -F'\t' '$1 > 65536 { printf "%s%c", $2, 0 }' >"$list"
    # Cycled when the machine has fewer bytes of binaries than asked for.
    for i in 1 2 3 4 5 6 7 8; do
        xargs -0 cat <"$list" 2>/dev/null || true
        : "$i"
    done | head -c "$bytes" >"$out"
    [ "$(stat -c %s "$out")" -eq "$bytes" ] || { echo "bench: too few binaries under /usr for $2 MiB" >&2; return 1; }
}

# Writes NUL-separated lists of /usr files (relative to /), NPARTS of them, of
# about MIB MiB each, skipping the first SKIP MiB of files.
select_files() {
    local prefix=$1 nparts=$2 part_mib=$3 skip_mib=$4
    usr_files /usr/share /usr/lib | awk -F'\t' -v p="$prefix" -v n="$nparts" \
        -v per=$((part_mib * MIB)) -v skip=$((skip_mib * MIB)) '
        { if (seen < skip) { seen += $1; next }
          part = int(sum / per); if (part >= n) exit
          sum += $1; printf "%s%c", substr($2, 2), 0 > (p "." part) }'
    [ -s "$prefix.$((nparts - 1))" ] || { echo "bench: too few files under /usr for the layers" >&2; return 1; }
}

# Writes an image archive: NPARTS layer tars of about MIB MiB each, gzip'd
# when GZIP is 1 (like an OCI archive) or not (like 'docker save'), in one tar.
make_layers() {
    local out=$1 nparts=$2 part_mib=$3 skip_mib=$4 gz=$5 dir=$SCRATCH/layers i name
    rm -rf "$dir"
    mkdir -p "$dir/blobs" "$(dirname "$out")"
    select_files "$SCRATCH/sel" "$nparts" "$part_mib" "$skip_mib" || return
    for ((i = 0; i < nparts; i++)); do
        name=$dir/blobs/layer$i.tar
        if [ "$gz" = 1 ]; then
            tar "${TAR_DET[@]}" -C / --null -T "$SCRATCH/sel.$i" -cf - 2>/dev/null | gzip -n -1 >"$name.gz"
        else
            tar "${TAR_DET[@]}" -C / --null -T "$SCRATCH/sel.$i" -cf "$name" 2>/dev/null
        fi
    done
    printf '{"bench":"stand-in image archive: %s layers"}\n' "$nparts" >"$dir/index.json"
    tar "${TAR_DET[@]}" -C "$dir" -cf "$out" index.json blobs
    rm -rf "$dir" "$SCRATCH"/sel.*
}

# Fills INPUTS: the binary, two image archives, the chart and the GIF.
# Sizes in MiB: BINARY, LAYERS (uncompressed), GZ_RAW (before gzip).
make_inputs() {
    local binary=$1 layers=$2 gz_raw=$3
    make_binary "$INPUTS/k3s/k3s" "$binary" || return
    make_layers "$INPUTS/images/k3s-airgap-images.tar" 4 $((layers / 4)) 0 0 || return
    make_layers "$INPUTS/images/app-images.tar" 3 $((gz_raw / 3)) "$layers" 1 || return
    mkdir -p "$INPUTS/charts" "$INPUTS/content"
    cp -R "$BENCH_ROOT/charts/floppies" "$INPUTS/charts/"
    "$BUILD_TOOL" content --out "$INPUTS/content"
}

# Packs and assembles our .run; sets BUILD_OURS_S.
build_ours() {
    local pack assemble
    pack=$(wall "$BUILD_TOOL" pack --set "$BENCH_ROOT/bench/spec.json" --base "$INPUTS" --version 0.0.0-bench \
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
case_ours_check() { sh "$OURS" --check >/dev/null 2>/dev/null; }
case_ours_extract() { sh "$OURS" --extract "$TARGET" >/dev/null 2>/dev/null; }
case_makeself_check() { sh "$MAKESELF" --check >/dev/null 2>/dev/null; }
case_makeself_extract() { sh "$MAKESELF" --quiet --noexec --nox11 --target "$TARGET" >/dev/null 2>/dev/null; }
case_floor_extract() { mkdir -p "$TARGET" && zstd -q -dc "$PAYLOAD" | tar -xf - -C "$TARGET" 2>/dev/null; }
case_sha256sum() { sha256sum "$OURS" >/dev/null 2>/dev/null; }

# Runs one case once: appends "CASE SECONDS PEAK_RSS_KIB CPU_SECONDS" to
# $SCRATCH/samples, unless the second argument is "warm-up".
# /usr/bin/time gives the peak RSS of the largest process of the tree; the stub
# execs the helper, so for our .run that is the helper's.
sample() {
    local name=$1 secs rss user sys
    TARGET=$SCRATCH/target
    rm -rf "$TARGET"
    export OURS MAKESELF PAYLOAD TARGET
    export -f "case_$name"
    secs=$(wall /usr/bin/time -f '%M %U %S' -o "$SCRATCH/rusage" bash -c "case_$name") || {
        echo "bench: case $name failed" >&2
        return 1
    }
    read -r rss user sys <"$SCRATCH/rusage"
    rm -rf "$TARGET"
    [ "${2:-}" = warm-up ] && return
    echo "$name $secs $rss $(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" >>"$SCRATCH/samples"
}

# Runs CASES RUNS times each, interleaved (a, b, c, a, b, c, ...), after one
# untimed warm-up round. Samples add up until the next bench_init.
measure() {
    local runs=$1 i c
    shift
    for c in "$@"; do sample "$c" warm-up || return; done
    for ((i = 0; i < runs; i++)); do
        for c in "$@"; do sample "$c" || return; done
    done
}

# Prints the median wall seconds of CASE.
median_of() {
    awk -v c="$1" '$1 == c { print $2 }' "$SCRATCH/samples" | median
}

# Prints the median CPU seconds (user + system, all processes) of CASE.
median_cpu_of() {
    awk -v c="$1" '$1 == c { print $4 }' "$SCRATCH/samples" | median
}

# Prints the largest peak RSS of CASE in MiB.
peak_rss_mib() {
    awk -v c="$1" '$1 == c && $3 > m { m = $3 } END { printf "%.1f\n", m / 1024 }' "$SCRATCH/samples"
}

# Prints A / B to 3 decimals.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", a / b }'
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
