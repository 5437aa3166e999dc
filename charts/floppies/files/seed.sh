#!/bin/sh
# Seeds the bucket from the bundled content, idempotently: creates the bucket
# if missing, uploads each file only if no object has its key yet (a file the
# customer changed or deleted in the bucket is left as they made it), and
# deletes nothing. Then makes s3www's read-only user.
# Runs in the MinIO image (which carries `mc`), with POSIX sh only: no find.
# Environment: ENDPOINT BUCKET CONTENT_DIR ROOT_USER ROOT_PASSWORD
#              READER_KEY READER_SECRET POLICY_FILE MC_CONFIG_DIR
set -eu

say() {
    printf 'seed: %s\n' "$*"
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

# Uploads FILE as KEY unless the bucket has KEY already.
upload_once() {
    if mc stat "local/$BUCKET/$2" >/dev/null 2>&1; then
        say "kept $2 (already in the bucket)"
    else
        mc cp --quiet "$1" "local/$BUCKET/$2" >/dev/null
        say "uploaded $2"
    fi
}

# Walks DIR recursively; keys are paths relative to CONTENT_DIR.
upload_tree() {
    for _path in "$1"/* "$1"/.[!.]*; do
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
    mc admin policy create local floppies-read "$POLICY_FILE" >/dev/null
    mc admin user add local "$READER_KEY" "$READER_SECRET" >/dev/null
    if mc admin user info local "$READER_KEY" 2>/dev/null | grep -q 'floppies-read'; then
        say "reader $READER_KEY already has policy floppies-read"
    else
        mc admin policy attach local floppies-read --user "$READER_KEY" >/dev/null
        say "reader $READER_KEY attached to policy floppies-read"
    fi
}

main() {
    mc alias set local "$ENDPOINT" "$ROOT_USER" "$ROOT_PASSWORD" >/dev/null
    wait_for_minio
    mc mb --ignore-existing "local/$BUCKET" >/dev/null
    upload_tree "$CONTENT_DIR"
    make_reader
    say "done"
}

main "$@"
