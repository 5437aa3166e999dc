# shellcheck shell=bash
# The test images upstream/images built from the real parts
# (out/upstream/images), for tests/parts/run: each rebuilt byte for byte,
# imported into Debian's containerd (started here on a private socket and
# root, stopped by its PID) under exactly its names, and run with ctr:
# minio and mc report their versions, the pause program exits 0 on TERM,
# coredns and helm report theirs, the klipper-helm-compatible image's entry
# installs, upgrades and deletes a chart on the suite's kube-apiserver as
# helm-controller's Job asks it to, and the s3www stand-in serves the
# bucket from the suite's real MinIO (in its network namespace).

IMAGES_DIR=$ROOT/out/upstream/images
CTR_PID=
CTR_SOCK=

ctr_() { ctr --address "$CTR_SOCK" -n k8s.io "$@"; }

start_containerd() {
    local dir=$WORK/containerd i
    CTR_SOCK=$dir/containerd.sock
    mkdir -p "$dir"
    cat >"$dir/config.toml" <<TOML
version = 2
root = "$dir/root"
state = "$dir/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$CTR_SOCK"
TOML
    containerd --config "$dir/config.toml" >"$WORK/logs/containerd.log" 2>&1 &
    CTR_PID=$!
    for i in $(seq 50); do [ -S "$CTR_SOCK" ] && ctr --address "$CTR_SOCK" version >/dev/null 2>&1 && return 0; sleep 0.2; done
    echo "containerd did not start:"
    tail -n 10 "$WORK/logs/containerd.log"
    return 1
}

stop_containerd() {
    [ -n "$CTR_PID" ] || return 0
    local id
    for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s KILL "$id" >/dev/null 2>&1; done
    sleep 0.5
    for id in $(ctr_ containers ls -q 2>/dev/null); do ctr_ tasks delete -f "$id" >/dev/null 2>&1; ctr_ containers delete "$id" >/dev/null 2>&1; done
    kill -TERM "$CTR_PID" 2>/dev/null && wait "$CTR_PID" 2>/dev/null
    CTR_PID=
    umount -R "$WORK/containerd/state" "$WORK/containerd/root" 2>/dev/null
    grep -F " $WORK/containerd/" /proc/self/mounts | awk '{ print $2 }' | sort -r | xargs -r -n1 umount -l 2>/dev/null
    true
}

# The names IMAGE's spec gives, sorted.
spec_names() {
    jq -r '.names[]' "$IMAGES_DIR/specs/$1.json" | sort
}

# Each archive, rebuilt from its spec into the scratch dir, is byte-identical.
check_images_rebuild() {
    local i out differ=()
    for i in $(jq -r '.[].image' "$IMAGES_DIR/manifest.json"); do
        if ! out=$(cd "$ROOT" && "$FLOPPIES_BUILD" image --spec "$IMAGES_DIR/specs/$i.json" --out "$WORK/rebuilt-$i.tar" 2>&1) \
            || ! cmp -s "$WORK/rebuilt-$i.tar" "$IMAGES_DIR/$i.tar" \
            || [ "$out" != "$(jq -r --arg i "$i" '.[] | select(.image == $i) | .digest' "$IMAGES_DIR/manifest.json")" ]; then
            differ+=("$i")
        fi
        rm -f "$WORK/rebuilt-$i.tar"
    done
    if [ ${#differ[@]} -eq 0 ]; then
        pass "images: each of the $(jq length "$IMAGES_DIR/manifest.json") archives, built again from its spec, is byte-identical (same manifest digest)"
    else
        fail "images: built again from their specs, byte-identical" "differ: ${differ[*]}"
    fi
}

# Each archive adds exactly its spec's names to containerd's k8s.io namespace.
check_images_import() {
    local i before after added
    for i in $(jq -r '.[].image' "$IMAGES_DIR/manifest.json"); do
        before=$(ctr_ images ls -q | sort)
        if ! out=$(ctr_ images import "$IMAGES_DIR/$i.tar" 2>&1); then
            fail "images: $i.tar imports into containerd" "$out"
            continue
        fi
        after=$(ctr_ images ls -q | sort)
        added=$(comm -13 <(printf '%s\n' "$before") <(printf '%s\n' "$after") | sed '/^$/d')
        if [ "$added" = "$(spec_names "$i")" ]; then
            pass "images: $i.tar imports into containerd $(containerd --version | awk '{ print $3 }') as exactly $(tr '\n' ' ' <<<"$added")"
        else
            fail "images: $i.tar imports as exactly its names" "added: ${added:-nothing}; want: $(spec_names "$i" | tr '\n' ' ')"
        fi
    done
}

# Runs IMAGE (a name) to its end with ctr, bounded; prints its output.
ctr_run() {
    local image=$1 id=$2
    shift 2
    timeout 60 ctr --address "$CTR_SOCK" -n k8s.io run --rm "$image" "$id" "$@" 2>&1
}

check_images_run() {
    local minio_ref out want
    minio_ref=$(spec_names minio | head -n1)
    want=$(jq -r '.[] | select(.name == "minio") | .version' "$MANIFEST")
    out=$(ctr_run "$minio_ref" t-minio minio --version)
    if grep -q '^minio version' <<<"$out"; then
        pass "images: ctr run of the MinIO image: $(head -n1 <<<"$out")"
    else
        fail "images: ctr run of the MinIO image runs minio --version" "$out"
    fi
    # The binaries inside are the ones upstream/build made (its manifest's sha256).
    out=$(ctr_run "$minio_ref" t-sum /usr/bin/busybox sha256sum /usr/bin/minio /usr/bin/mc | awk '{ print $1 }')
    want=$(jq -r '.[] | select(.name == "minio" or .name == "mc") | .sha256' "$MANIFEST" | sort)
    if [ "$(sort <<<"$out")" = "$want" ]; then
        pass "images: the MinIO image's minio and mc are upstream/build's $(jq -r '.[] | select(.name == "minio") | .version' "$MANIFEST") and $(jq -r '.[] | select(.name == "mc") | .version' "$MANIFEST") (sha256)"
    else
        fail "images: the MinIO image carries upstream/build's minio and mc" "in the image: $out; built: $want"
    fi
    out=$(ctr_run "$minio_ref" t-mc mc --version)
    if grep -q '^mc version' <<<"$out"; then
        pass "images: ctr run of the MinIO image: $(head -n1 <<<"$out")"
    else
        fail "images: ctr run of the MinIO image runs mc --version" "$out"
    fi
    # shellcheck disable=SC2016 # expanded by the container's sh
    out=$(ctr_run "$minio_ref" t-sh /bin/sh -c 'echo "sh: $(readlink /bin/sh)"; minio --version >/dev/null && echo ok')
    if [ "$out" = "$(printf 'sh: /usr/bin/busybox\nok')" ]; then
        pass "images: the MinIO image has a /bin/sh (busybox-static) that runs minio"
    else
        fail "images: the MinIO image has a working /bin/sh" "$out"
    fi
    out=$(ctr_run "$(spec_names coredns)" t-coredns /coredns -version)
    want=$(jq -r '.[] | select(.name == "coredns") | .version' "$MANIFEST")
    if grep -q "^CoreDNS-${want#v}" <<<"$out"; then
        pass "images: ctr run of the CoreDNS image: $(head -n1 <<<"$out")"
    else
        fail "images: ctr run of the CoreDNS image runs coredns -version ($want)" "$out"
    fi
    check_pause
    check_pause_reaps
}

# The pause image's process runs until TERM, then exits 0 within a second.
check_pause() {
    local ref pid i rc start
    ref=$(spec_names pause | head -n1)
    ctr --address "$CTR_SOCK" -n k8s.io run --rm "$ref" t-pause >"$WORK/logs/pause.log" 2>&1 &
    pid=$!
    for i in $(seq 50); do
        ctr_ tasks ls 2>/dev/null | awk '$1 == "t-pause" && $3 == "RUNNING" { f = 1 } END { exit !f }' && break
        sleep 0.2
    done
    sleep 1
    if ! kill -0 "$pid" 2>/dev/null; then
        fail "images: the pause image runs until TERM" "it exited by itself: $(cat "$WORK/logs/pause.log")"
        return
    fi
    start=$(date +%s%N)
    ctr_ tasks kill -s TERM t-pause >/dev/null 2>&1
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        ctr_ tasks kill -s KILL t-pause >/dev/null 2>&1
        wait "$pid"
        fail "images: the pause image exits on TERM" "still running 5 s after TERM"
        return
    fi
    wait "$pid"
    rc=$?
    if [ "$rc" -eq 0 ] && grep -q 'shutting down on signal' "$WORK/logs/pause.log"; then
        pass "images: the pause image runs (as PID 1) until TERM, then exits 0 in $((($(date +%s%N) - start) / 1000000)) ms"
    else
        fail "images: the pause image exits 0 on TERM" "exit $rc; $(cat "$WORK/logs/pause.log")"
    fi
}

# The pause program (the image's /pause) as PID 1 of a PID namespace reaps
# an orphan re-parented to it: no zombie is left once the orphan exits.
check_pause_reaps() {
    local pid child i zombies left
    unshare --pid --fork --kill-child "$BIN/pause" >"$WORK/logs/pause-reap.log" 2>&1 &
    pid=$!
    for i in $(seq 50); do child=$(pgrep -P "$pid" -x pause) && break; sleep 0.1; done
    if [ -z "$child" ]; then
        fail "images: the pause program reaps orphans" "it did not start: $(cat "$WORK/logs/pause-reap.log")"
        return
    fi
    # sh starts in the namespace, leaves a short sleep behind and exits: the sleep is re-parented to pause.
    nsenter -t "$child" -p -- sh -c 'sleep 0.5 & exit 0'
    sleep 0.2
    left=$(ps --ppid "$child" -o comm= | tr '\n' ' ')
    sleep 1.3
    zombies=$(ps --ppid "$child" -o stat=,comm= | awk '$1 ~ /^Z/ { print $2 }' | tr '\n' ' ')
    kill -TERM "$child"
    wait "$pid" 2>/dev/null
    if [ "$left" = "sleep " ] && [ -z "$zombies" ]; then
        pass "images: the pause program as PID 1 of a PID namespace reaps an orphan re-parented to it (no zombie left)"
    else
        fail "images: the pause program reaps orphans" "children of pause while the orphan ran: '${left}'; zombies after: '${zombies}'"
    fi
}

# The klipper-helm-compatible image, run as helm-controller v0.17.9's Job
# runs it (args `install --namespace NS --create-namespace` and `delete`;
# NAME, CHART, TARGET_NAMESPACE...; values in /config, the chart as
# /chart/NAME.tgz.base64), on the suite's kube-apiserver (host network).
check_klipper_helm() {
    local ref d=$WORK/klipper out name=parts-klipper ns=parts-klipper want
    ref=$(spec_names klipper-helm)
    want=$(jq -r '.[] | select(.name == "helm") | .version' "$MANIFEST")
    out=$(ctr_run "$ref" t-helm helm version --short)
    if grep -q "^$want" <<<"$out"; then
        pass "images: ctr run of the klipper-helm-compatible image: helm $out"
    else
        fail "images: the klipper-helm-compatible image has Helm $want" "$out"
    fi
    mkdir -p "$d/chart/templates" "$d/config" "$d/content"
    printf 'apiVersion: v2\nname: %s\nversion: 0.1.0\n' "$name" >"$d/chart/Chart.yaml"
    printf 'greeting: from-chart\n' >"$d/chart/values.yaml"
    # shellcheck disable=SC2016 # a Helm template
    printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata:\n  greeting: {{ .Values.greeting | quote }}\n' "$name" \
        >"$d/chart/templates/cm.yaml"
    "$BIN/helm" package "$d/chart" -d "$d" >/dev/null
    base64 -w0 "$d/$name-0.1.0.tgz" >"$d/content/$name.tgz.base64"
    printf 'greeting: from-values\n' >"$d/config/values-0-000-HelmChart-ValuesContent.yaml"
    # Self-contained (the suite's throwaway CA and admin key inline), readable by the Job's uid 1000.
    kc config view --raw --flatten >"$d/kubeconfig"
    chmod -R a+rX "$d"
    local mounts=(--mount "type=bind,src=$d/config,dst=/config,options=rbind:ro"
        --mount "type=bind,src=$d/content,dst=/chart,options=rbind:ro"
        --mount "type=bind,src=$d/kubeconfig,dst=/kubeconfig,options=rbind:ro")
    local env=(--env "NAME=$name" --env "CHART=" --env CHART_NAMESPACE=kube-system --env "TARGET_NAMESPACE=$ns"
        --env HELM_DRIVER=secret --env KUBECONFIG=/kubeconfig --env FAILURE_POLICY=reinstall)
    local extra=()
    job() { timeout 90 ctr --address "$CTR_SOCK" -n k8s.io run --rm --net-host "${mounts[@]}" "${env[@]}" "${extra[@]}" "$ref" "t-job-$1" entry "${@:2}"; }
    release() { "$BIN/helm" status "$name" -n "$ns" -o json 2>/dev/null | jq -r '"\(.info.status) \(.version)"'; }
    out=$(job 1 install --namespace "$ns" --create-namespace 2>&1)
    if [ "$(release)" = "deployed 1" ] && [ "$(kc -n "$ns" get configmap "$name" -o jsonpath='{.data.greeting}')" = from-values ]; then
        pass "images: klipper-helm entry, Job args 'install --namespace NS --create-namespace': installs the chart from /chart with /config's values"
    else
        fail "images: klipper-helm entry installs the chart from /chart with /config's values" "release: $(release); $out"
    fi
    printf 'greeting: changed\n' >"$d/config/values-0-000-HelmChart-ValuesContent.yaml"
    out=$(job 2 install --namespace "$ns" --create-namespace 2>&1)
    if [ "$(release)" = "deployed 2" ] && [ "$(kc -n "$ns" get configmap "$name" -o jsonpath='{.data.greeting}')" = changed ]; then
        pass "images: klipper-helm entry, the same Job on a deployed release: upgrades it (revision 2)"
    else
        fail "images: klipper-helm entry upgrades a deployed release" "release: $(release); $out"
    fi
    # A Job made for revision 1 finds revision 2: it changes nothing and succeeds.
    printf 'greeting: stale\n' >"$d/config/values-0-000-HelmChart-ValuesContent.yaml"
    extra=(--env EXPECTED_RELEASE_REVISION=1)
    if out=$(job 3 install --namespace "$ns" --create-namespace 2>&1) && [ "$(release)" = "deployed 2" ] \
        && [ "$(kc -n "$ns" get configmap "$name" -o jsonpath='{.data.greeting}')" = changed ]; then
        pass "images: klipper-helm entry, a Job for an older revision (EXPECTED_RELEASE_REVISION=1 on revision 2): exits 0, release unchanged"
    else
        fail "images: klipper-helm entry leaves a release that moved on" "release: $(release); $out"
    fi
    extra=()
    out=$(job 4 delete 2>&1)
    if [ -z "$(release)" ] && ! kc -n "$ns" get configmap "$name" >/dev/null 2>&1; then
        pass "images: klipper-helm entry, Job args 'delete': uninstalls the release"
    else
        fail "images: klipper-helm entry uninstalls on 'delete'" "release: $(release); $out"
    fi
    unset -f job release
}

# The s3www stand-in's image, joined to the network namespace of the
# suite's MinIO, reading the reader key from files (S3WWW_*_KEY_FILE).
check_s3www_image() {
    local d=$WORK/s3www-image out port=8081 i
    if [ -z "${NETNS:-}" ] || [ -z "${MINIO_PID:-}" ] || ! kill -0 "$MINIO_PID" 2>/dev/null; then
        fail "images: ctr run of the s3www stand-in serves the bucket" "MinIO is not running (see the minio checks)"
        return
    fi
    mkdir -p "$d"
    (umask 077 && printf '%s\n' "$SECRET_READER_KEY" >"$d/access" && printf '%s\n' "$SECRET_READER_SECRET" >"$d/secret")
    chmod 0444 "$d/access" "$d/secret" # the image runs as root; the host copy is in a 0711 dir
    out=$(ctr_run "$(spec_names s3www)" t-s3www-version /s3www -version)
    if grep -q 'stand-in' <<<"$out"; then
        pass "images: the s3www image says it is a stand-in: $out"
    else
        fail "images: the s3www image says it is a stand-in" "$out"
    fi
    ctr --address "$CTR_SOCK" -n k8s.io run --rm --with-ns "network:/run/netns/$NETNS" \
        --mount "type=bind,src=$d,dst=/keys,options=rbind:ro" \
        --env S3WWW_ACCESS_KEY_FILE=/keys/access --env S3WWW_SECRET_KEY_FILE=/keys/secret \
        "$(spec_names s3www)" t-s3www /s3www -endpoint http://127.0.0.1:9000 -bucket "$(bucket)" -address "127.0.0.1:$port" \
        >"$WORK/logs/s3www-image.log" 2>&1 &
    local pid=$!
    for i in $(seq 50); do ip netns exec "$NETNS" curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done
    out=$(ip netns exec "$NETNS" curl -fsS "http://127.0.0.1:$port/sub/page.txt" 2>&1)
    if [ "$out" = nested ]; then
        pass "images: ctr run of the s3www stand-in (keys from S3WWW_ACCESS_KEY_FILE, S3WWW_SECRET_KEY_FILE) serves an object of the real MinIO"
    else
        fail "images: ctr run of the s3www stand-in serves an object of the real MinIO" "$out; $(tail -n 5 "$WORK/logs/s3www-image.log")"
    fi
    ctr_ tasks kill -s TERM t-s3www >/dev/null 2>&1
    for i in $(seq 25); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && ctr_ tasks kill -s KILL t-s3www >/dev/null 2>&1
    wait "$pid" 2>/dev/null || true # ended by the signal
}

check_images() {
    local out
    FLOPPIES_BUILD=${FLOPPIES_BUILD:-$ROOT/target/x86_64-unknown-linux-gnu/release/floppies-build}
    if [ ! -f "$IMAGES_DIR/manifest.json" ] || [ ! -x "$FLOPPIES_BUILD" ]; then
        fail "images: built (out/upstream/images/manifest.json, $FLOPPIES_BUILD)" "help: run 'make parts-images'"
        return
    fi
    check_images_rebuild
    # Not in a subshell: it records containerd's pid to stop.
    if ! start_containerd >"$WORK/logs/containerd-start.log" 2>&1; then
        fail "images: containerd starts on a private socket" "$(cat "$WORK/logs/containerd-start.log")"
        return
    fi
    check_images_import
    check_images_run
    check_klipper_helm
    check_s3www_image
}
