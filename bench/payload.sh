# shellcheck shell=bash
# The bench payload, sourced by bench/lib.sh. Two kinds, and every result
# says which it used (PAYLOAD_KIND, PAYLOAD_WHY):
#   upstream  the parts `make upstream` builds, from $UPSTREAM_DIR/bin:
#             k3s/k3s                       the Kubernetes binaries concatenated
#             images/k3s-airgap-images.tar  CoreDNS and Helm 3 as images, plain layers
#             images/app-images.tar         MinIO and mc as images, gzip'd layers
#   usr       the fallback when those parts are not built: a stand-in of the
#             same shape made from this machine's /usr files.
# Both add the real chart (charts/floppies) and the default content (the GIF).

UPSTREAM_DIR=${UPSTREAM_DIR:-$BENCH_ROOT/out/upstream}
# Binaries of $UPSTREAM_DIR/bin, and the images made of them (REF=BINARY[,BINARY...]).
K3S_BINARIES=${BENCH_K3S_BINARIES:-kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl}
K3S_IMAGES=${BENCH_K3S_IMAGES:-docker.io/rancher/mirrored-coredns-coredns:bench=coredns docker.io/rancher/klipper-helm:bench=helm}
APP_IMAGES=${BENCH_APP_IMAGES:-quay.io/minio/minio:bench=minio quay.io/minio/mc:bench=mc}

# Prints the binaries the upstream payload takes from $UPSTREAM_DIR/bin, one a line.
upstream_binaries() {
    local spec
    # shellcheck disable=SC2086 # one word per binary
    printf '%s\n' $K3S_BINARIES
    for spec in $K3S_IMAGES $APP_IMAGES; do
        printf '%s\n' "${spec#*=}" | tr ',' '\n'
    done
}

# Prints the upstream binaries that are not there (nothing when all are).
upstream_missing() {
    local b
    for b in $(upstream_binaries); do
        [ -f "$UPSTREAM_DIR/bin/$b" ] || printf ' %s' "$b"
    done
}

# Sets PAYLOAD_KIND (upstream or usr) and PAYLOAD_WHY for a choice of auto,
# upstream or usr: auto takes the upstream parts when all are built.
# shellcheck disable=SC2034 # read by the scripts that source this file
choose_payload() {
    local missing
    case $1 in
        usr) PAYLOAD_KIND=usr PAYLOAD_WHY="asked for (BENCH_PAYLOAD=usr)" ;;
        upstream | auto)
            missing=$(upstream_missing)
            if [ -z "$missing" ]; then
                PAYLOAD_KIND=upstream PAYLOAD_WHY="the parts of $UPSTREAM_DIR/bin"
            elif [ "$1" = upstream ]; then
                echo "bench: BENCH_PAYLOAD=upstream, but $UPSTREAM_DIR/bin lacks:$missing (run 'make upstream')" >&2
                return 1
            else
                PAYLOAD_KIND=usr PAYLOAD_WHY="fallback: $UPSTREAM_DIR/bin lacks:$missing (run 'make upstream')"
            fi
            ;;
        *) echo "bench: BENCH_PAYLOAD must be auto, upstream or usr, not '$1'" >&2; return 2 ;;
    esac
}

# Turns REF=NAME[,NAME...] words into REF=PATH[,PATH...] arguments of bench/oci-archive.
image_args() {
    local spec
    for spec in "$@"; do
        printf '%s=%s\n' "${spec%%=*}" "$(printf '%s' "${spec#*=}" | sed "s|[^,]*|$UPSTREAM_DIR/bin/&|g")"
    done
}

# Fills INPUTS from the upstream parts.
make_inputs_upstream() {
    local b
    local -a k3s_images app_images
    mkdir -p "$INPUTS/k3s" "$INPUTS/images"
    for b in $K3S_BINARIES; do
        cat "$UPSTREAM_DIR/bin/$b" || return
    done >"$INPUTS/k3s/k3s"
    # shellcheck disable=SC2086 # one word per image
    mapfile -t k3s_images < <(image_args $K3S_IMAGES)
    # shellcheck disable=SC2086 # one word per image
    mapfile -t app_images < <(image_args $APP_IMAGES)
    "$BENCH_ROOT/bench/oci-archive" "$INPUTS/images/k3s-airgap-images.tar" plain "${k3s_images[@]}" || return
    "$BENCH_ROOT/bench/oci-archive" "$INPUTS/images/app-images.tar" gzip "${app_images[@]}" || return
    add_chart_and_content
}

# Prints a JSON list of the upstream binaries used: name, sha256 and, where
# $UPSTREAM_DIR/manifest.json lists it, its part, module and version.
upstream_parts_json() {
    # shellcheck disable=SC2046 # one word per binary
    python3 - "$UPSTREAM_DIR" $(upstream_binaries) <<'PY'
import hashlib, json, os, sys
root, names = sys.argv[1], sys.argv[2:]
try:
    with open(os.path.join(root, "manifest.json")) as f:
        known = {m["name"]: m for m in json.load(f)}
except (OSError, ValueError):
    known = {}
out = []
for n in dict.fromkeys(names):
    h = hashlib.sha256()
    with open(os.path.join(root, "bin", n), "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    m = known.get(n, {})
    out.append({"name": n, "sha256": h.hexdigest(), "part": m.get("part"), "module": m.get("module"), "version": m.get("version")})
print(json.dumps(out))
PY
}

# The real chart and the default content, for either kind.
add_chart_and_content() {
    mkdir -p "$INPUTS/charts" "$INPUTS/content"
    cp -R "$BENCH_ROOT/charts/floppies" "$INPUTS/charts/"
    "$BUILD_TOOL" content --out "$INPUTS/content"
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
# about MIB MiB each, skipping the first SKIP MiB of files; a file larger than
# a part is left out (it would leave a part empty).
select_files() {
    local prefix=$1 nparts=$2 part_mib=$3 skip_mib=$4
    usr_files /usr/share /usr/lib | awk -F'\t' -v p="$prefix" -v n="$nparts" \
        -v per=$((part_mib * MIB)) -v skip=$((skip_mib * MIB)) '
        $1 > per { next }
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

# Fills INPUTS with the /usr stand-in: the binary, two image archives, the chart and the GIF.
# Sizes in MiB: BINARY, LAYERS (uncompressed), GZ_RAW (before gzip).
make_inputs_usr() {
    local binary=$1 layers=$2 gz_raw=$3
    make_binary "$INPUTS/k3s/k3s" "$binary" || return
    make_layers "$INPUTS/images/k3s-airgap-images.tar" 4 $((layers / 4)) 0 0 || return
    make_layers "$INPUTS/images/app-images.tar" 3 $((gz_raw / 3)) "$layers" 1 || return
    add_chart_and_content
}
