#!/bin/sh
# Seeds the bucket from the bundled content, idempotently: creates the bucket
# if missing, uploads each file only if no object has its key yet (a file the
# customer changed or deleted in the bucket is left as they made it), and
# deletes nothing. Then makes s3www's read-only user.
# Every upload is a conditional PUT (If-None-Match: *, `mc put
# --if-not-exists`), so even a failed or stale existence check cannot
# overwrite an object: MinIO itself refuses.
# Runs in the MinIO image (which carries `mc`) with the shell's builtins,
# `mc` and `sleep` only: the image has no find, grep or timeout to rely on.
# No secret is ever an argument: a container's command lines show in the
# host's process list. `mc alias set` and `mc admin user add` read the keys
# they are not given as arguments from standard input, one per line, and
# printf is a shell builtin. The one exception is the reader's access key (a
# user name, not its secret) on `mc admin policy attach --user`, which has
# no other way to take it; it runs once, when the policy is not attached yet.
# Environment: ENDPOINT BUCKET CONTENT_DIR ROOT_USER ROOT_PASSWORD
#              READER_KEY READER_SECRET POLICY_FILE MC_CONFIG_DIR
#              READY_TIMEOUT (seconds; default 120)
set -eu

POLICY=floppies-read

say() {
    printf 'seed: %s\n' "$*"
}

# Points the alias at MinIO without contacting it (--api skips mc's probe,
# which would fail while MinIO is still starting).
set_alias() {
    printf '%s\n%s\n' "$ROOT_USER" "$ROOT_PASSWORD" | mc alias set local "$ENDPOINT" --api S3v4 >/dev/null
}

# Waits for the object store, bounded (the job's retries add more). `mc
# ready` itself never gives up: it polls until MinIO is healthy and returns
# only then or when it is signalled. So it runs in the background, and is
# stopped when READY_TIMEOUT passes.
wait_for_minio() {
    _limit=${READY_TIMEOUT:-120}
    mc ready local >/dev/null 2>&1 &
    _pid=$!
    _waited=0
    while kill -0 "$_pid" 2>/dev/null; do
        if [ "$_waited" -ge "$_limit" ]; then
            kill "$_pid" 2>/dev/null
            # Its status is the signal's (143): under set -e that would end
            # the script here, before it says why.
            wait "$_pid" 2>/dev/null || true
            say "MinIO at $ENDPOINT is not ready after $_limit s"
            return 1
        fi
        sleep 1
        _waited=$((_waited + 1))
    done
    wait "$_pid" || { say "mc ready failed for $ENDPOINT"; return 1; }
}

# True if the bucket has an object named KEY.
object_exists() {
    mc stat "local/$BUCKET/$1" >/dev/null 2>&1
}

# Uploads FILE as KEY unless the bucket has KEY already.
upload_once() {
    if object_exists "$2"; then
        say "kept $2 (already in the bucket)"
    elif mc put --quiet --if-not-exists "$1" "local/$BUCKET/$2" >/dev/null 2>&1; then
        say "uploaded $2"
    elif object_exists "$2"; then
        # The conditional PUT lost to an object that appeared meanwhile.
        say "kept $2 (appeared while uploading)"
    else
        say "could not upload $2"
        return 1
    fi
}

# Walks DIR recursively; keys are paths relative to CONTENT_DIR.
upload_tree() {
    for _path in "$1"/* "$1"/.[!.]* "$1"/..?*; do
        [ -e "$_path" ] || continue
        if [ -d "$_path" ]; then
            upload_tree "$_path"
        elif [ -f "$_path" ]; then
            upload_once "$_path" "${_path#"$CONTENT_DIR"/}"
        fi
    done
}

# True if the reader already has POLICY. Reads `mc admin user list --json`
# (one indented JSON object a user, accessKey before policyName, a comma
# list) rather than `mc admin user info`, which takes the key as argument.
reader_has_policy() {
    mc admin user list --json local | {
        _key=
        while IFS= read -r _line; do
            case $_line in
                "{") _key= ;;
                *'"accessKey": "'*)
                    _key=${_line#*'"accessKey": "'}
                    _key=${_key%%'"'*} ;;
                *'"policyName": "'*)
                    _policies=${_line#*'"policyName": "'}
                    _policies=${_policies%%'"'*}
                    if [ "$_key" = "$READER_KEY" ]; then
                        case ",$_policies," in *",$POLICY,"*) exit 0 ;; esac
                    fi ;;
            esac
        done
        exit 1
    }
}

# The read-only user s3www serves with; re-running sets the same secret.
make_reader() {
    mc admin policy create local "$POLICY" "$POLICY_FILE" >/dev/null
    printf '%s\n%s\n' "$READER_KEY" "$READER_SECRET" | mc admin user add local >/dev/null
    if reader_has_policy; then
        say "the reader already has policy $POLICY"
    else
        mc admin policy attach local "$POLICY" --user "$READER_KEY" >/dev/null
        say "the reader is attached to policy $POLICY"
    fi
}

main() {
    set_alias
    wait_for_minio
    mc mb --ignore-existing "local/$BUCKET" >/dev/null
    upload_tree "$CONTENT_DIR"
    make_reader
    say "done"
}

main "$@"
