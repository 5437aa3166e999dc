# shellcheck shell=bash
# Runs containers of the installed release as processes, exactly as the API
# server stores them (command, args, env with Secrets resolved, uid/gid,
# volumes, read-only root), on the real minio and mc binaries and the s3www
# stand-in (upstream/images builds it: the proxy refuses s3www), for
# tests/parts/run. Each runs under bubblewrap in a network namespace of this
# test's own: `--tmpfs /` with /usr and /etc read-only and the /bin, /lib
# links, then the pod's volumes (configMap and secret as files, emptyDir as
# tmpfs, a PVC as a directory standing in for its PV's host path), then the
# root remounted read-only. The Service name resolves to 127.0.0.1 (both
# pods share the namespace, as if on one node). Not modelled: image
# filesystems (the host's /usr stands in), cgroups, seccomp, probes.

PROC_PIDS=()
NETNS=
SAMPLER_PID=

# Prints the JSON of a pod template's spec: Deployment or Job NAME.
pod_spec() {
    kc -n "$NS" get "$1" -o json | jq '.spec.template.spec'
}

# Prints the environment of CONTAINER in SPEC as NUL-separated name, value
# pairs, Secrets and ConfigMaps resolved through the API.
container_env() {
    local spec=$1 container=$2 name value ref
    # Unit separators, not tabs: read would merge empty tab-separated fields.
    while IFS=$'\x1f' read -r name value ref; do
        case $ref in
            secret:*)
                ref=${ref#secret:}
                value=$(kc -n "$NS" get secret "${ref%%/*}" -o json | jq -r --arg k "${ref#*/}" '.data[$k] | @base64d') ;;
            configmap:*)
                ref=${ref#configmap:}
                value=$(kc -n "$NS" get configmap "${ref%%/*}" -o json | jq -r --arg k "${ref#*/}" '.data[$k]') ;;
        esac
        printf '%s\0%s\0' "$name" "$value"
    done < <(jq -r --arg c "$container" '.containers[] | select(.name == $c) | .env // [] | .[]
        | [.name, (.value // ""),
           (if .valueFrom.secretKeyRef then "secret:\(.valueFrom.secretKeyRef.name)/\(.valueFrom.secretKeyRef.key)"
            elif .valueFrom.configMapKeyRef then "configmap:\(.valueFrom.configMapKeyRef.name)/\(.valueFrom.configMapKeyRef.key)"
            else "" end)] | join("\u001f")' <<<"$spec")
}

# Prints bwrap arguments for CONTAINER's volume mounts; fills WORK/vol/POD.
volume_args() {
    local spec=$1 container=$2 pod=$3 vname mpath ro kind src dir key pvc pv
    while IFS=$'\t' read -r vname mpath ro; do
        kind=$(jq -r --arg v "$vname" '.volumes[] | select(.name == $v) | keys_unsorted - ["name"] | .[0]' <<<"$spec")
        dir=$WORK/vol/$pod/$vname
        case $kind in
            configMap|secret)
                src=$(jq -r --arg v "$vname" '.volumes[] | select(.name == $v) | (.configMap.name // .secret.secretName)' <<<"$spec")
                mkdir -p "$dir"
                if [ "$kind" = configMap ]; then
                    for key in $(kc -n "$NS" get configmap "$src" -o json | jq -r '.data | keys[]'); do
                        kc -n "$NS" get configmap "$src" -o json | jq -j --arg k "$key" '.data[$k]' >"$dir/$key"
                    done
                else
                    for key in $(kc -n "$NS" get secret "$src" -o json | jq -r '.data | keys[]'); do
                        kc -n "$NS" get secret "$src" -o json | jq -j --arg k "$key" '.data[$k] | @base64d' >"$dir/$key"
                    done
                fi
                chmod -R a+rX "$dir"
                printf '%s\0' --ro-bind "$dir" "$mpath" ;;
            emptyDir)
                printf '%s\0' --tmpfs "$mpath" ;;
            persistentVolumeClaim)
                pvc=$(jq -r --arg v "$vname" '.volumes[] | select(.name == $v) | .persistentVolumeClaim.claimName' <<<"$spec")
                pv=$(kc -n "$NS" get pvc "$pvc" -o jsonpath='{.spec.volumeName}')
                src=$WORK/host$(kc get pv "$pv" -o jsonpath='{.spec.hostPath.path}')
                mkdir -p "$src"
                if [ "$ro" = true ]; then printf '%s\0' --ro-bind "$src" "$mpath"; else printf '%s\0' --bind "$src" "$mpath"; fi ;;
            *)
                echo "volume $vname of kind '$kind' is not modelled" >&2
                return 1 ;;
        esac
    done < <(jq -r --arg c "$container" '.containers[] | select(.name == $c) | .volumeMounts // [] | .[]
        | [.name, .mountPath, (.readOnly // false | tostring)] | @tsv' <<<"$spec")
}

# Starts CONTAINER of the workload RESOURCE (e.g. deployment/x) in the
# background as POD; its log is WORK/logs/POD.log, its pid in PROC_PID.
start_container() {
    local resource=$1 container=$2 pod=$3 spec uid gid ro cmd=() vols=() a
    spec=$(pod_spec "$resource") || return 1
    uid=$(jq -r --arg c "$container" '(.containers[] | select(.name == $c) | .securityContext.runAsUser) // .securityContext.runAsUser // 0' <<<"$spec")
    gid=$(jq -r --arg c "$container" '(.containers[] | select(.name == $c) | .securityContext.runAsGroup) // .securityContext.runAsGroup // 0' <<<"$spec")
    ro=$(jq -r --arg c "$container" '.containers[] | select(.name == $c) | .securityContext.readOnlyRootFilesystem // false' <<<"$spec")
    # No command: the image's entrypoint (MinIO's runs minio with the args; s3www's is /s3www).
    while IFS= read -r -d '' a; do cmd+=("$a"); done < <(jq -j --arg c "$container" \
        '.containers[] | select(.name == $c) | ((.command // (if $c == "s3www" then ["/s3www"] else ["minio"] end)) + (.args // []))
         | map(. + "\u0000") | add' <<<"$spec")
    while IFS= read -r -d '' a; do vols+=("$a"); done < <(volume_args "$spec" "$container" "$pod")
    [ "${#vols[@]}" -gt 0 ] || return 1
    local remount=()
    [ "$ro" = true ] && remount=(--remount-ro /)
    printf '127.0.0.1 localhost %s\n' "$(minio_host)" >"$WORK/hosts"
    (
        # The environment goes through exec, never a command line (bwrap's
        # --setenv would be one): export builtins only.
        local pairs i overrides=${ENV_OVERRIDES:-}
        mapfile -d '' pairs < <(container_env "$spec" "$container")
        while read -r a; do unset "$a"; done < <(compgen -e)
        export PATH=/parts/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/tmp
        for ((i = 0; i + 1 < ${#pairs[@]}; i += 2)); do export "${pairs[$i]}=${pairs[$((i + 1))]}"; done
        # A check may shorten a rendered bound (NAME=VALUE words) to stay fast.
        for a in $overrides; do export "${a?}"; done
        exec ip netns exec "$NETNS" setpriv --reuid "$uid" --regid "$gid" --clear-groups \
            bwrap --unshare-user --unshare-pid --unshare-ipc --die-with-parent \
            --tmpfs / --ro-bind /usr /usr --ro-bind /etc /etc --ro-bind "$WORK/hosts" /etc/hosts \
            --symlink usr/bin /bin --symlink usr/sbin /sbin --symlink usr/lib /lib --symlink usr/lib64 /lib64 \
            --proc /proc --dev /dev --dir /parts/bin --ro-bind "$BIN/minio" /parts/bin/minio --ro-bind "$BIN/mc" /parts/bin/mc \
            --ro-bind "$BIN/s3www-stand-in" /s3www \
            "${vols[@]}" "${remount[@]}" -- "${cmd[@]}"
    ) >"$WORK/logs/$pod.log" 2>&1 &
    PROC_PID=$!
    PROC_PIDS+=("$PROC_PID")
}

minio_host() {
    kc -n "$NS" get job -o json | jq -r '.items[0].spec.template.spec.containers[0].env[] | select(.name == "ENDPOINT") | .value' \
        | sed 's#^http://##; s#:.*##'
}

# Runs the seed Job's container to its end (bounded by SECONDS_MAX); prints its exit code.
run_seed() {
    local limit=$1 t=0
    start_container "job/$SEED_JOB" seed "seed-$2" || { echo 255; return; }
    while kill -0 "$PROC_PID" 2>/dev/null && [ "$t" -lt $((limit * 4)) ]; do sleep 0.25; t=$((t + 1)); done
    if kill -0 "$PROC_PID" 2>/dev/null; then kill -TERM "$PROC_PID"; wait "$PROC_PID" 2>/dev/null; echo timeout; return; fi
    wait "$PROC_PID"
    echo $?
}

# mc as the admin or the reader, from the host side of the namespace; keys
# reach it through MC_HOST_*, an environment variable, not an argument.
mc_as() {
    local who=$1 user password
    shift
    case $who in
        admin) user=$SECRET_ROOT_USER password=$SECRET_ROOT_PASSWORD ;;
        reader) user=$SECRET_READER_KEY password=$SECRET_READER_SECRET ;;
    esac
    MC_HOST_t="http://$user:$password@127.0.0.1:9000" MC_CONFIG_DIR=$WORK/mc-$who \
        ip netns exec "$NETNS" "$BIN/mc" --no-color "$@"
}

# Records every command line on the host until WORK/sampler.stop exists
# (one ps a tenth of a second: short-lived ones can be missed, so the
# check also counts the seed's mc commands it saw).
sample_command_lines() {
    while [ ! -e "$WORK/sampler.stop" ]; do
        ps -ww -eo args=
        sleep 0.1
    done | sort -u >"$WORK/cmdlines"
}

minio_ready() {
    local i
    for i in $(seq 1 60); do
        ip netns exec "$NETNS" curl -fsS -o /dev/null http://127.0.0.1:9000/minio/health/ready 2>/dev/null && return 0
        kill -0 "$MINIO_PID" 2>/dev/null || { echo "minio exited:"; tail -n 20 "$WORK/logs/minio.log"; return 1; }
        sleep 0.5
    done
    echo "not ready after 30 s:"
    tail -n 20 "$WORK/logs/minio.log"
    return 1
}

# The `mc ready` processes still running, 0 if none.
mc_ready_count() {
    ps -eo args= | awk '$1 == "mc" && $2 == "ready" { n++ } END { print n + 0 }'
}

# With MinIO down the seed gives up after READY_TIMEOUT (the rendered 120 s,
# shortened here to 6 s), fails, and leaves no `mc ready` behind: mc ready
# alone retries until the server is healthy and would never return.
check_seed_minio_down() {
    local limit=6 start took rc
    start=$(date +%s)
    rc=$(ENV_OVERRIDES="READY_TIMEOUT=$limit" run_seed $((limit + 20)) down)
    took=$(($(date +%s) - start))
    if [ "$rc" = timeout ]; then
        fail "seed with MinIO down: gives up within its stated bound (READY_TIMEOUT)" \
            "still running after $((limit + 20)) s: $(tail -n 5 "$WORK/logs/seed-down.log")"
    elif [ "$rc" -eq 0 ]; then
        fail "seed with MinIO down: gives up with an error" "exit 0; $(tail -n 5 "$WORK/logs/seed-down.log")"
    elif ! grep -q "is not ready after $limit s" "$WORK/logs/seed-down.log" || [ "$(mc_ready_count)" -ne 0 ]; then
        fail "seed with MinIO down: says why and stops mc ready" "exit $rc after ${took}s; log: $(tail -n 5 "$WORK/logs/seed-down.log"); mc ready left: $(mc_ready_count)"
    else
        pass "seed with MinIO down: gives up after READY_TIMEOUT=$limit s (in ${took}s, exit $rc), saying so, no mc ready left"
    fi
}

check_processes() {
    local out rc
    SEED_JOB=$(kc -n "$NS" get job -o jsonpath='{.items[0].metadata.name}')
    NETNS=floppies-parts-$$
    ip netns add "$NETNS" && ip netns exec "$NETNS" ip link set lo up
    # The content the installer unpacks (a subdirectory and a dot file too).
    local content
    content=$WORK/host$(kc get pv -o json | jq -r '.items[] | select(.spec.claimRef.name | endswith("-content")) | .spec.hostPath.path')
    mkdir -p "$content/sub" "$WORK/host"
    printf 'index\n' >"$content/index.html"
    printf 'nested\n' >"$content/sub/page.txt"
    printf 'dot\n' >"$content/.well-known"
    chmod -R a+rX "$WORK/host"
    sample_command_lines &
    SAMPLER_PID=$!

    check_seed_minio_down

    # The installer makes MinIO's data directory, owned by its uid.
    local data want_uid pid uid rootopts
    data=$WORK/host$(kc get pv -o json | jq -r '.items[] | select(.spec.claimRef.name | endswith("-minio-data")) | .spec.hostPath.path')
    want_uid=$(pod_spec deployment/"$RELEASE"-minio | jq -r '.securityContext.runAsUser')
    mkdir -p "$data"
    chown "$want_uid:$(pod_spec deployment/"$RELEASE"-minio | jq -r '.securityContext.runAsGroup // .securityContext.runAsUser')" "$data"
    start_container deployment/"$RELEASE"-minio minio minio || { fail "minio: container starts" "see logs"; return; }
    MINIO_PID=$PROC_PID
    if out=$(minio_ready); then
        pid=$(pgrep -o -f '^minio server ')
        uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
        rootopts=$(awk '$5 == "/" { print $6 }' "/proc/$pid/mountinfo" | tail -n1)
        if [ "$uid" = "$want_uid" ] && [ "${rootopts%%,*}" = ro ]; then
            pass "minio: ready as rendered (uid $uid, read-only root, PVC as a directory, /tmp a tmpfs)"
        else
            fail "minio: runs as uid $want_uid on a read-only root" "uid $uid, root mounted $rootopts"
        fi
    else
        fail "minio: ready as rendered" "$out"
        return
    fi

    rc=$(run_seed 60 1)
    if [ "$rc" = 0 ] && [ "$(mc_as admin cat t/"$(bucket)"/sub/page.txt 2>&1)" = nested ] \
        && mc_as admin stat t/"$(bucket)"/.well-known >/dev/null 2>&1; then
        pass "seed: uploads the content tree (subdirectory and dot file) and exits 0"
    else
        fail "seed: uploads the content tree and exits 0" "exit $rc; $(tail -n 8 "$WORK/logs/seed-1.log")"
    fi

    printf 'changed by the customer\n' | mc_as admin pipe t/"$(bucket)"/index.html >/dev/null 2>&1
    rc=$(run_seed 60 2)
    out=$(mc_as admin cat t/"$(bucket)"/index.html 2>&1)
    if [ "$rc" = 0 ] && [ "$out" = "changed by the customer" ]; then
        pass "seed, second run: keeps an object the customer changed"
    else
        fail "seed, second run: keeps an object the customer changed" "exit $rc; object now: $out"
    fi

    if [ "$(mc_as reader cat t/"$(bucket)"/sub/page.txt 2>&1)" = nested ]; then
        pass "reader key: can read the bucket"
    else
        fail "reader key: can read the bucket" "$(mc_as reader cat t/"$(bucket)"/sub/page.txt 2>&1)"
    fi
    if ! printf 'x\n' | mc_as reader pipe t/"$(bucket)"/new.txt >/dev/null 2>&1 \
        && ! mc_as reader rm t/"$(bucket)"/sub/page.txt >/dev/null 2>&1 \
        && [ "$(mc_as admin cat t/"$(bucket)"/sub/page.txt 2>&1)" = nested ] \
        && ! mc_as admin stat t/"$(bucket)"/new.txt >/dev/null 2>&1; then
        pass "reader key: cannot write or delete"
    else
        fail "reader key: cannot write or delete" "an upload or delete as the reader went through"
    fi

    check_s3www "$content"

    stop_sampler
    local secrets=$WORK/secrets
    (umask 077 && printf '%s\n' "$SECRET_ROOT_USER" "$SECRET_ROOT_PASSWORD" "$SECRET_READER_SECRET" >"$secrets")
    local seen_mc seen_s3www
    seen_mc=$(grep -c '^mc ' "$WORK/cmdlines")
    seen_s3www=$(grep -c '^/s3www ' "$WORK/cmdlines")
    if grep -qF -f "$secrets" "$WORK/cmdlines"; then
        fail "no secret on any command line (root user, root password, reader secret)" \
            "$(grep -F -f "$secrets" "$WORK/cmdlines" | sed 's/[0-9a-f]\{12,\}/<secret>/g' | head -n 5)"
    elif [ "$seen_mc" -lt 5 ] || [ "$seen_s3www" -lt 1 ]; then
        fail "no secret on any command line: the sampler saw the seed's mc commands and s3www's" "only $seen_mc mc and $seen_s3www s3www command lines seen"
    else
        pass "no secret on any command line ($(wc -l <"$WORK/cmdlines") distinct ones read from /proc, $seen_mc of them mc's, $seen_s3www s3www's)"
    fi
}

# Fetches PATH from the s3www container in the namespace into FILE; prints the HTTP status.
s3www_get() {
    ip netns exec "$NETNS" curl -sS -o "$2" -w '%{http_code}' "http://127.0.0.1:8080$1" 2>&1
}

# The rendered s3www container on the stand-in, reading with the reader key
# from S3WWW_ACCESS_KEY/S3WWW_SECRET_KEY: index.html at /, objects byte for
# byte, 404 for a missing key. CONTENT is the tree the seed uploaded.
check_s3www() {
    local content=$1 want_uid i pid uid code
    want_uid=$(pod_spec deployment/"$RELEASE"-s3www | jq -r '.securityContext.runAsUser')
    start_container deployment/"$RELEASE"-s3www s3www s3www || { fail "s3www (stand-in): container starts" "see logs"; return; }
    S3WWW_PID=$PROC_PID
    for i in $(seq 40); do
        ip netns exec "$NETNS" curl -s -o /dev/null http://127.0.0.1:8080/ && break
        kill -0 "$S3WWW_PID" 2>/dev/null || break
        sleep 0.25
    done
    pid=$(pgrep -o -f '^/s3www ')
    uid=$(awk '/^Uid:/ { print $2 }' "/proc/${pid:-0}/status" 2>/dev/null)
    if [ -n "$pid" ] && [ "$uid" = "$want_uid" ]; then
        pass "s3www (stand-in): runs as rendered (uid $uid, read-only root, args $(tr '\0' ' ' <"/proc/$pid/cmdline" | cut -d' ' -f2-))"
    else
        fail "s3www (stand-in): runs as rendered (uid $want_uid)" "pid ${pid:-none}, uid ${uid:-none}; $(tail -n 5 "$WORK/logs/s3www.log")"
        return
    fi
    mc_as admin cat t/"$(bucket)"/index.html >"$WORK/want-index" 2>&1
    code=$(s3www_get / "$WORK/got-index")
    if [ "$code" = 200 ] && cmp -s "$WORK/want-index" "$WORK/got-index" && [ -s "$WORK/got-index" ]; then
        pass "s3www (stand-in): / serves the object index.html byte for byte"
    else
        fail "s3www (stand-in): / serves the object index.html" "HTTP $code: $(head -c 200 "$WORK/got-index")"
    fi
    head -c 300000 /dev/urandom >"$WORK/blob.bin"
    mc_as admin pipe t/"$(bucket)"/sub/blob.bin <"$WORK/blob.bin" >/dev/null 2>&1
    code=$(s3www_get /sub/blob.bin "$WORK/got-blob")
    if [ "$code" = 200 ] && cmp -s "$WORK/blob.bin" "$WORK/got-blob" && [ "$(s3www_get /sub/page.txt "$WORK/got-page")" = 200 ] \
        && cmp -s "$content/sub/page.txt" "$WORK/got-page"; then
        pass "s3www (stand-in): objects served byte for byte (a 300 kB binary, a seeded page in a subdirectory)"
    else
        fail "s3www (stand-in): objects served byte for byte" "blob: HTTP $code, $(wc -c <"$WORK/got-blob") bytes"
    fi
    code=$(s3www_get /no-such-key.txt "$WORK/got-missing")
    if [ "$code" = 404 ]; then
        pass "s3www (stand-in): a missing key is 404"
    else
        fail "s3www (stand-in): a missing key is 404" "HTTP $code: $(head -c 200 "$WORK/got-missing")"
    fi
}

bucket() {
    "$BIN/helm" get values "$RELEASE" -n "$NS" --all -o json | jq -r .bucket
}

stop_sampler() {
    [ -n "$SAMPLER_PID" ] || return 0
    touch "$WORK/sampler.stop"
    wait "$SAMPLER_PID"
    SAMPLER_PID=
}

stop_processes() {
    local pid
    stop_sampler
    for pid in "${PROC_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    PROC_PIDS=()
    [ -n "$NETNS" ] && ip netns del "$NETNS" 2>/dev/null
    NETNS=
}
