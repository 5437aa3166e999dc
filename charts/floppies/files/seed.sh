#!/bin/sh
# Seeds the bucket from the bundled content, idempotently: creates the bucket
# if missing, uploads each file only if no object has its key yet (a file the
# customer changed or deleted in the bucket is left as they made it), and
# deletes nothing. Then makes s3www's read-only user.
# Every upload is a conditional PUT (If-None-Match: *, `mc put
# --if-not-exists`), so even a failed or stale existence check cannot
# overwrite an object: MinIO itself refuses.
# Runs in the MinIO image (which carries `mc`) with the shell's builtins,
# `mc` and `sleep` only: the image has no find or grep to rely on.
# No secret is ever an argument: a container's command lines show in the
# host's process list. mc reads keys it is not given as arguments from its
# standard input, one per line, and printf is a shell builtin.
# Environment: ENDPOINT BUCKET CONTENT_DIR ROOT_USER ROOT_PASSWORD
#              READER_KEY READER_SECRET POLICY_FILE MC_CONFIG_DIR
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

# Waits for the object store, bounded (the job's retries add more).
wait_for_minio() {
    _tries=0
    until mc ready local >/dev/null 2>&1; do
        _tries=$((_tries + 1))
        [ "$_tries" -lt 60 ] || { say "MinIO at $ENDPOINT is not ready after 120 s"; return 1; }
        sleep 2
    done
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

# The read-only user s3www serves with; re-running sets the same secret.
make_reader() {
    mc admin policy create local "$POLICY" "$POLICY_FILE" >/dev/null
    printf '%s\n%s\n' "$READER_KEY" "$READER_SECRET" | mc admin user add local >/dev/null
    case $(mc admin user info local "$READER_KEY") in
        *"$POLICY"*)
            say "reader $READER_KEY already has policy $POLICY" ;;
        *)
            mc admin policy attach local "$POLICY" --user "$READER_KEY" >/dev/null
            say "reader $READER_KEY attached to policy $POLICY" ;;
    esac
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
