"""The seed script (charts/floppies/files/seed.sh) against a fake `mc` over
a directory: idempotent by construction, never overwrites, never deletes."""

import os
import shutil
import subprocess
import tempfile

from report import check

# Behaves like mc (RELEASE.2025-08-13T08-35-41Z) for the subcommands seed.sh
# may use, and fails loudly on any that could overwrite or delete (an
# unconditional cp/put, rm, rb, mirror). Like mc, `alias set ALIAS URL` and
# `admin user add ALIAS` read the keys they are not given from stdin, a line
# each (mc's cmd/alias-set.go fetchAliasKeys, cmd/admin-user-add.go
# fetchUserKeys); here they must come that way. A secret (FAKE_SECRETS, one a
# line) anywhere on the command line is refused; the reader's access key
# (FAKE_READER_KEY) only as `admin policy attach --user`, mc's only way.
# Like mc's cmd/ready-main.go, `ready` polls until the server is healthy (no
# file FAKE_S3/down) and returns only then; sent TERM it dies of it (status
# 143), as the real mc built by `make upstream` did in the parts suite.
# FAKE_STAT_FAILS=1 makes every stat fail as a network error would.
FAKE_MC = r"""#!/bin/sh
set -eu
printf '%s\n' "$*" >>"$FAKE_S3/calls"
while IFS= read -r secret; do
  case "$*" in *"$secret"*) echo "a secret on mc's command line: $*" >&2; exit 94 ;; esac
done <<SECRETS
$FAKE_SECRETS
SECRETS
case "$*" in
  "admin policy attach local floppies-read --user $FAKE_READER_KEY") ;;
  *"$FAKE_READER_KEY"*) echo "the reader's access key on mc's command line: $*" >&2; exit 93 ;;
esac
obj() { printf '%s/%s' "$FAKE_S3" "${1#local/}"; }
case "$1" in
  alias) [ "$#" = 6 ] && [ "$5" = --api ] || { echo "alias set: want ALIAS URL --api S3v4, keys on stdin; a probe would fail while MinIO starts" >&2; exit 98; }
         read -r key; read -r secret; printf '%s\n%s\n' "$key" "$secret" >"$FAKE_S3/alias-$3" ;;
  ready) while [ -e "$FAKE_S3/down" ]; do sleep 0.2; done ;;
  mb) [ "$2" = --ignore-existing ] || exit 97; mkdir -p "$(obj "$3")" ;;
  stat) [ "${FAKE_STAT_FAILS:-0}" = 0 ] || { echo "connection refused" >&2; exit 1; }
        [ -f "$(obj "$2")" ] ;;
  put) [ "$2" = --quiet ] && shift
       [ "$2" = --if-not-exists ] || { echo "unconditional put" >&2; exit 99; }
       target=$(obj "$4")
       [ ! -e "$target" ] || { echo "PreconditionFailed" >&2; exit 1; }
       mkdir -p "$(dirname "$target")"; cp "$3" "$target" ;;
  admin)
    case "$2 $3" in
      "policy create") cp "$6" "$FAKE_S3/policy-$5" ;;
      "user add") [ "$#" = 4 ] || { echo "user add: keys must come on stdin" >&2; exit 95; }
                  read -r key; read -r secret; printf '%s' "$secret" >"$FAKE_S3/user-$key" ;;
      "user list") [ "$4" = --json ] || { echo "user list: want --json (the table cuts access keys at 20 characters)" >&2; exit 92; }
                   for user in "$FAKE_S3"/user-*; do
                     [ -e "$user" ] || continue
                     key=${user##*/user-}
                     printf '{\n "status": "success",\n "accessKey": "%s",\n' "$key"
                     [ ! -f "$FAKE_S3/attached-$key" ] || printf ' "policyName": "readwrite,%s",\n' "$(cat "$FAKE_S3/attached-$key")"
                     printf ' "userStatus": "enabled"\n}\n'
                   done ;;
      "policy attach") [ ! -f "$FAKE_S3/attached-$7" ] || { echo "already in effect" >&2; exit 1; }
                       printf '%s' "$5" >"$FAKE_S3/attached-$7" ;;
      *) echo "unexpected mc $*" >&2; exit 96 ;;
    esac ;;
  *) echo "seed must never call mc $1" >&2; exit 99 ;;
esac
"""

# Distinctive, so a leak into any command line is found by a plain search.
ROOT_PASSWORD, READER_KEY, READER_SECRET = "RootPw0Xq7Zk3", "ReaderAk4Ty8Qw1", "ReaderSk9Vb2Mn5"
CONTENT = {"floppy.gif": b"GIF89a one", "sub/page.html": b"<p>two</p>", ".hidden": b"three", "with space.txt": b"four"}


def read(path):
    """The file's bytes, or None if it does not exist."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def objects(bucket):
    return sorted(os.path.relpath(os.path.join(d, f), bucket) for d, _, fs in os.walk(bucket) for f in fs)


def run_checks(chart):
    script = os.path.join(chart, "files", "seed.sh")
    with tempfile.TemporaryDirectory() as tmp:
        bindir, content, s3 = (os.path.join(tmp, d) for d in ("bin", "content", "s3"))
        bucket = os.path.join(s3, "floppies")
        write(os.path.join(bindir, "mc"), FAKE_MC.encode())
        os.chmod(os.path.join(bindir, "mc"), 0o755)
        for rel, data in CONTENT.items():
            write(os.path.join(content, rel), data)
        policy = os.path.join(tmp, "policy.json")
        write(policy, b"{}")
        # The customer already has their own floppy.gif before the first run.
        write(os.path.join(bucket, "floppy.gif"), b"customer's own")
        env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}", FAKE_S3=s3, ENDPOINT="http://minio:9000",
                   BUCKET="floppies", CONTENT_DIR=content, ROOT_USER="root", ROOT_PASSWORD=ROOT_PASSWORD,
                   READER_KEY=READER_KEY, READER_SECRET=READER_SECRET, POLICY_FILE=policy, MC_CONFIG_DIR=os.path.join(tmp, "mc"),
                   FAKE_SECRETS=f"{ROOT_PASSWORD}\n{READER_SECRET}", FAKE_READER_KEY=READER_KEY)

        all_calls = []

        def run(timeout=60, **extra):
            write(os.path.join(s3, "calls"), b"")
            proc = subprocess.run(["sh", script], env=dict(env, **extra), capture_output=True, text=True, timeout=timeout)
            calls = (read(os.path.join(s3, "calls")) or b"").decode().splitlines()
            all_calls.extend(calls)
            return proc, calls

        first, _ = run()
        check("seed uploads every content file (subdirectories, dotfiles, spaces)",
              first.returncode == 0 and objects(bucket) == sorted(CONTENT), f"{objects(bucket)} {first.stderr[-300:]}")
        check("seed gives mc the root credentials on stdin",
              read(os.path.join(s3, "alias-local")) == f"root\n{ROOT_PASSWORD}\n".encode(), first.stderr[-300:])
        check("seed keeps an object the customer had before the first run",
              read(os.path.join(bucket, "floppy.gif")) == b"customer's own")
        check("seed creates the reader with the read-only policy",
              read(os.path.join(s3, f"user-{READER_KEY}")) == READER_SECRET.encode()
              and read(os.path.join(s3, f"attached-{READER_KEY}")) == b"floppies-read", first.stderr[-300:])

        second, calls = run()
        check("a second run uploads nothing and changes nothing",
              second.returncode == 0 and not [c for c in calls if c.startswith("put ")]
              and read(os.path.join(bucket, "floppy.gif")) == b"customer's own", str(calls))
        check("a second run does not attach the policy again", not [c for c in calls if c.startswith("admin policy attach")])

        # The customer edits one object and deletes another; the job runs again.
        write(os.path.join(bucket, "sub/page.html"), b"customer's edit")
        os.remove(os.path.join(bucket, ".hidden"))
        third, calls = run()
        puts = [c for c in calls if c.startswith("put ")]
        check("a re-run restores only what is missing, and keeps the customer's edit",
              third.returncode == 0 and len(puts) == 1 and puts[0].endswith("local/floppies/.hidden")
              and read(os.path.join(bucket, "sub/page.html")) == b"customer's edit", str(puts))

        # Existence checks that fail (MinIO hiccup): the conditional PUT
        # still refuses to overwrite, and nothing is lost.
        write(os.path.join(bucket, "sub/page.html"), b"customer's second edit")
        fourth, _ = run(FAKE_STAT_FAILS="1")
        check("with every existence check failing, nothing is overwritten",
              read(os.path.join(bucket, "sub/page.html")) == b"customer's second edit"
              and read(os.path.join(bucket, "floppy.gif")) == b"customer's own" and objects(bucket) == sorted(CONTENT),
              fourth.stderr[-300:])
        check("a seed run that cannot tell what exists fails (the Job retries) rather than guess",
              fourth.returncode != 0, fourth.stdout[-300:])

        # MinIO down for good: mc ready never returns, so the run must end
        # by its own bound, failing (the Job retries, within its deadline).
        write(os.path.join(s3, "down"), b"")
        try:
            hung, _ = run(timeout=30, READY_TIMEOUT="3")
            check("with MinIO never ready, a seed run gives up after READY_TIMEOUT and fails",
                  hung.returncode != 0 and "not ready after 3 s" in hung.stdout, hung.stdout[-300:] + hung.stderr[-300:])
        except subprocess.TimeoutExpired:
            check("with MinIO never ready, a seed run gives up after READY_TIMEOUT and fails", False, "still running after 30 s")
        # MinIO comes up while the run waits: it goes on.
        late = subprocess.Popen(["sh", "-c", f"sleep 2; rm -f '{os.path.join(s3, 'down')}'"])
        slow, _ = run(timeout=30, READY_TIMEOUT="20")
        late.wait()
        check("a seed run waits for a MinIO that becomes ready, then goes on", slow.returncode == 0, slow.stderr[-300:])

        leaks = [c for c in all_calls if ROOT_PASSWORD in c or READER_SECRET in c]
        check("no secret is ever on an mc command line (the host's process list shows them)",
              all_calls and not leaks, str(leaks))
        key_calls = [c for c in all_calls if READER_KEY in c]
        check("the reader's access key is on an mc command line only once, to attach its policy on the first run",
              key_calls == [f"admin policy attach local floppies-read --user {READER_KEY}"], str(key_calls))
        risky = [c for c in all_calls if c.split()[0] in ("rm", "rb", "mirror", "cp", "mv")
                 or (c.startswith("put ") and "--if-not-exists" not in c.split())]
        check("across all runs, seed never deletes and never writes unconditionally", not risky, str(risky))

        if shutil.which("shellcheck"):
            lint = subprocess.run(["shellcheck", "-s", "sh", script], capture_output=True, text=True)
            check("seed.sh passes shellcheck -s sh", lint.returncode == 0, lint.stdout[:400])
        else:
            check("shellcheck is installed (tests/install-deps)", False)
