#!/bin/sh
# floppies-installer: one file that installs the floppies application on an
# air-gapped host. This POSIX sh stub checks the file, unpacks the helper
# (a static binary that follows it) into a private temp dir after verifying
# its sha256, and hands the command to it. The payload (a zstd tarball at the
# end) is read only by the helper, which verifies it while unpacking.
#
# Layout: stub (STUB_SIZE bytes) | helper (HELPER_SIZE) | payload (PAYLOAD_SIZE).
# The helper as it runs is HELPER_RUN_SIZE bytes with HELPER_SHA256. HELPER_FORM
# says how this file holds it: raw (the part is the helper: every full file),
# gzip (the part is it gzip'd: an update file whose helper changed) or host
# (no part: an update file whose helper is the one its base, BASE_VERSION,
# installed at HELPER_FROM; the stub copies that and checks the copy).
# Build-time constants, filled in by floppies-build; never edit a built file.
FLOPPIES_VERSION='@FLOPPIES_VERSION@'
FLOPPIES_PROFILE='@FLOPPIES_PROFILE@'
FLOPPIES_ARCH='@FLOPPIES_ARCH@'
STUB_SIZE=@STUB_SIZE@
HELPER_SIZE=@HELPER_SIZE@
HELPER_SHA256='@HELPER_SHA256@'
HELPER_FORM='@HELPER_FORM@'
HELPER_RUN_SIZE=@HELPER_RUN_SIZE@
HELPER_FROM='@HELPER_FROM@'
BASE_VERSION='@BASE_VERSION@'
PAYLOAD_SIZE=@PAYLOAD_SIZE@
PAYLOAD_SHA256='@PAYLOAD_SHA256@'
TOTAL_SIZE=@TOTAL_SIZE@
@PADDING@
set -u

# Parts are aligned to this many bytes, so dd can cut them out by block.
BLOCK=4096
# Exit codes shared with the helper (floppies-format EXIT_CODES; see --help).
EXIT_FAILED=1
EXIT_USAGE=2
EXIT_DAMAGED=3
EXIT_PREFLIGHT=4

# Progress and notes, on stderr.
say() {
    printf '%s\n' "$*" >&2
}

# A warning, on stderr; highlighted only on a terminal.
warn() {
    if [ -t 2 ]; then
        printf '\033[1;33mwarning:\033[0m %s\n' "$*" >&2
    else
        printf 'warning: %s\n' "$*" >&2
    fi
}

# An error, on stderr; highlighted only on a terminal.
err() {
    if [ -t 2 ]; then
        printf '\033[1;31merror:\033[0m %s\n' "$*" >&2
    else
        printf 'error: %s\n' "$*" >&2
    fi
}

# The usage text, on stdout.
print_usage() {
    _name=${0##*/}
    cat <<EOF
floppies-installer ${FLOPPIES_VERSION} (${FLOPPIES_PROFILE} profile, ${FLOPPIES_ARCH})

Usage: sudo sh ${_name} COMMAND [OPTIONS]

Commands (run by the helper inside this file):
  install                 install k3s, the images and the application
  uninstall [--keep-data] remove everything; --keep-data keeps customer data
  status                  show what is installed and whether it is healthy
  diagnose                write one support bundle to send to the vendor
  preflight               check this host without changing it
  version                 print versions
  debug ...               tools for support engineers
Global options for those: --dry-run --json --yes --quiet (see: COMMAND --help)

Options answered by this file itself:
  --help        this text
  --version     the bundle version
  --info        version, arch, sizes, checksums and contents
  --check       verify the helper and the payload checksums
  --list        list the payload's contents
  --extract DIR verify and unpack the payload into DIR (new or empty)

@EXIT_CODES@
EOF
}

# The version line, on stdout.
print_version() {
    case "$FLOPPIES_PROFILE" in
        prod) printf 'floppies-installer %s\n' "$FLOPPIES_VERSION" ;;
        *) printf 'floppies-installer %s (%s profile: built from stand-ins, not a release)\n' \
            "$FLOPPIES_VERSION" "$FLOPPIES_PROFILE" ;;
    esac
}

# Refuses the unbuilt template.
check_built() {
    case "$STUB_SIZE$HELPER_SIZE$HELPER_RUN_SIZE$PAYLOAD_SIZE$TOTAL_SIZE" in
        *[!0-9]*)
            err "this is the stub template, not a built installer"
            say "help: build one with 'make' or 'make test-bundle'"
            return 1
            ;;
    esac
}

# Refuses part sizes the shell's arithmetic could wrap (no bundle nears 10^15
# bytes), and a helper form this stub does not know or whose fields misfit it.
check_header_sizes() {
    case "$STUB_SIZE:$HELPER_SIZE:$HELPER_RUN_SIZE:$PAYLOAD_SIZE:$TOTAL_SIZE" in
        *[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]*)
            err "the installer's header is damaged: a part size is out of range (STUB_SIZE=$STUB_SIZE HELPER_SIZE=$HELPER_SIZE PAYLOAD_SIZE=$PAYLOAD_SIZE)"
            say "help: copy the installer again and compare its sha256 with the one the vendor published"
            return "$EXIT_DAMAGED"
            ;;
    esac
    case "$HELPER_FORM:$HELPER_SIZE:$HELPER_FROM" in
        raw:*: | gzip:*: | host:0:/*) ;;
        *)
            err "the installer's header is damaged: HELPER_FORM '$HELPER_FORM' does not fit HELPER_SIZE=$HELPER_SIZE HELPER_FROM='$HELPER_FROM'"
            say "help: copy the installer again and compare its sha256 with the one the vendor published"
            return "$EXIT_DAMAGED"
            ;;
    esac
}

# Sets _self to the absolute path of this file.
locate_self() {
    case "$0" in
        /*) _self=$0 ;;
        */*) _self="$(pwd)/$0" ;;
        *) if [ -f "$0" ]; then _self="$(pwd)/$0"; else _self=''; fi ;;
    esac
    if [ -z "$_self" ] || [ ! -f "$_self" ]; then
        err "cannot find the installer file itself (\$0 is '$0')"
        say "help: save it to a file and run 'sudo sh floppies-installer.run ...'"
        return 1
    fi
}

# Reports every missing tool at once.
check_tools() {
    _missing=''
    _tools='awk dd sha256sum mktemp ls chmod rm df uname id'
    [ "$HELPER_FORM" = gzip ] && _tools="$_tools gzip"
    for _tool in $_tools; do
        command -v "$_tool" >/dev/null 2>&1 || _missing="$_missing $_tool"
    done
    if [ -n "$_missing" ]; then
        err "this system lacks tools the installer needs:$_missing"
        say "help: install coreutils (or busybox) and run the installer again"
        return 1
    fi
}

# Refuses a truncated or extended file before anything else reads it.
verify_size() {
    _actual=$(file_size "$_self") || return 1
    if [ "$_actual" = "$TOTAL_SIZE" ]; then
        return 0
    fi
    # awk compares as doubles: exact far beyond any bundle size, unlike 32-bit shells.
    if awk -v a="$_actual" -v b="$TOTAL_SIZE" 'BEGIN { exit !(a + 0 < b + 0) }'; then
        if awk -v a="$_actual" -v b="$((STUB_SIZE + HELPER_SIZE))" 'BEGIN { exit !(a + 0 < b + 0) }'; then
            _part=helper
        else
            _part=payload
        fi
        err "the file is truncated: $_actual bytes of $TOTAL_SIZE; the $_part part is incomplete"
    else
        err "the file has unexpected bytes after the payload part: $_actual bytes, expected $TOTAL_SIZE"
    fi
    say "help: copy the installer again and compare its sha256 with the one the vendor published"
    return "$EXIT_DAMAGED"
}

# Prints a file's size from 'ls -ln' (no read of the file, no GNU-only flags).
file_size() {
    # shellcheck disable=SC2012 # ls -ln's fifth field is specified by POSIX
    _ls=$(ls -ln "$1" 2>/dev/null) || { err "cannot read '$1'"; return 1; }
    set -f
    # shellcheck disable=SC2086 # splitting the ls line into fields is the point
    set -- $_ls
    set +f
    printf '%s\n' "$5"
}

# Prints the sha256 of BLOCKS blocks of this file starting at block SKIP.
part_sha256() {
    _sum=$(dd if="$_self" bs="$BLOCK" skip="$1" count="$2" 2>/dev/null | sha256sum) || return 1
    printf '%s\n' "${_sum%% *}"
}

# Prints the sha256 of the payload part (everything after the helper).
payload_sha256() {
    _sum=$(dd if="$_self" bs="$BLOCK" skip="$(((STUB_SIZE + HELPER_SIZE) / BLOCK))" 2>/dev/null | sha256sum) || return 1
    printf '%s\n' "${_sum%% *}"
}

# Prints the sha256 of the helper as this file holds it (gzip'd: unpacked).
helper_part_sha256() {
    if [ "$HELPER_FORM" = gzip ]; then
        _sum=$(dd if="$_self" bs="$BLOCK" skip="$((STUB_SIZE / BLOCK))" count="$((HELPER_SIZE / BLOCK))" 2>/dev/null \
            | gzip -dc 2>/dev/null | sha256sum) || return 1
        printf '%s\n' "${_sum%% *}"
    else
        part_sha256 "$((STUB_SIZE / BLOCK))" "$((HELPER_SIZE / BLOCK))"
    fi
}

# Sets _host_state to what HELPER_FROM is on this host: ok, absent, link, or
# other SHA256 (hashing reads it; nothing runs it).
check_host_helper() {
    if [ -L "$HELPER_FROM" ]; then
        _host_state='link'
    elif [ ! -f "$HELPER_FROM" ]; then
        _host_state=absent
    else
        _sum=$(dd if="$HELPER_FROM" bs="$BLOCK" count="$((HELPER_RUN_SIZE / BLOCK + 1))" 2>/dev/null | sha256sum) || _sum=unreadable
        _sum=${_sum%% *}
        if [ "$_sum" = "$HELPER_SHA256" ]; then _host_state=ok; else _host_state="other $_sum"; fi
    fi
}

# Says why the helper HELPER_FROM on this host will not do (state in $1), and how to go on.
refuse_host_helper() {
    case "$1" in
        absent) _found="this host has no '$HELPER_FROM' (is floppies $BASE_VERSION installed?)" ;;
        link) _found="'$HELPER_FROM' on this host is a symbolic link, not the file floppies installs" ;;
        other*) _found="'$HELPER_FROM' on this host is another helper (sha256 ${1#other }), not floppies ${BASE_VERSION}'s" ;;
        *) _found="'$HELPER_FROM' could not be read" ;;
    esac
    err "this update file (floppies $BASE_VERSION to $FLOPPIES_VERSION) does not carry its helper: it runs the one floppies $BASE_VERSION installed at '$HELPER_FROM' (sha256 $HELPER_SHA256), and $_found; nothing was changed"
    say "help: use the full installer file of floppies $FLOPPIES_VERSION instead: it works on any host"
}

# --check: verifies both parts and names every damaged one; for a helper
# taken from the host, checks that one too.
check_parts() {
    _bad=''
    _host_state=ok
    say "Checking $_self ..."
    if [ "$HELPER_FORM" = host ]; then
        check_host_helper
        case "$_host_state" in
            ok) printf 'helper:  OK (not in this file: %s on this host, sha256 %s)\n' "$HELPER_FROM" "$HELPER_SHA256" ;;
            *) printf 'helper:  NOT ON THIS HOST (not in this file: %s is %s; needs sha256 %s)\n' "$HELPER_FROM" "$_host_state" "$HELPER_SHA256" ;;
        esac
    else
        _got=$(helper_part_sha256)
        if [ "$_got" = "$HELPER_SHA256" ]; then
            printf 'helper:  OK (sha256 %s)\n' "$_got"
        else
            printf 'helper:  DAMAGED (sha256 %s, expected %s)\n' "$_got" "$HELPER_SHA256"
            _bad="$_bad helper"
        fi
    fi
    _got=$(payload_sha256)
    if [ "$_got" = "$PAYLOAD_SHA256" ]; then
        printf 'payload: OK (sha256 %s)\n' "$_got"
    else
        printf 'payload: DAMAGED (sha256 %s, expected %s)\n' "$_got" "$PAYLOAD_SHA256"
        _bad="$_bad payload"
    fi
    if [ -n "$_bad" ]; then
        err "the installer is damaged; damaged part(s):$_bad"
        say "help: copy the installer again and compare its sha256 with the one the vendor published"
        return "$EXIT_DAMAGED"
    fi
    if [ "$_host_state" != ok ]; then
        refuse_host_helper "$_host_state"
        return "$EXIT_PREFLIGHT"
    fi
}

# --info: the constants; the helper then prints the contents.
print_info() {
    print_version
    printf '  file      %s (%s bytes)\n' "$_self" "$TOTAL_SIZE"
    printf '  profile   %s\n' "$FLOPPIES_PROFILE"
    printf '  arch      %s\n' "$FLOPPIES_ARCH"
    printf '  stub      %s bytes\n' "$STUB_SIZE"
    case "$HELPER_FORM" in
        raw) printf '  helper    %s bytes  sha256 %s\n' "$HELPER_SIZE" "$HELPER_SHA256" ;;
        gzip) printf '  helper    %s bytes gzip'"'"'d (%s bytes unpacked)  sha256 %s\n' "$HELPER_SIZE" "$HELPER_RUN_SIZE" "$HELPER_SHA256" ;;
        host) printf '  helper    not in this file: the one floppies %s installed at %s (%s bytes)  sha256 %s\n' \
            "$BASE_VERSION" "$HELPER_FROM" "$HELPER_RUN_SIZE" "$HELPER_SHA256" ;;
    esac
    [ -z "$BASE_VERSION" ] || printf '  update    from floppies %s only (the full installer file works anywhere)\n' "$BASE_VERSION"
    printf '  payload   %s bytes  sha256 %s\n' "$PAYLOAD_SIZE" "$PAYLOAD_SHA256"
}

# Refuses to run the helper on a machine of another architecture.
check_arch() {
    _machine=$(uname -m)
    case "$_machine" in
        amd64) _machine=x86_64 ;;
        arm64) _machine=aarch64 ;;
    esac
    if [ "$_machine" != "$FLOPPIES_ARCH" ]; then
        err "this installer is for $FLOPPIES_ARCH, but this machine is $_machine"
        say "help: ask the vendor for the $_machine installer"
        return 1
    fi
}

# Prints the KiB available on the filesystem holding DIR (df -P: one line per fs).
free_kib() {
    df -Pk "$1" 2>/dev/null | {
        read -r _header || exit 1
        read -r _fs _blocks _used _avail _rest || exit 1
        printf '%s\n' "$_avail"
    }
}

# True if DIR and every parent of it is owned by root (or us) and, if
# others can write to it, sticky: no one else can swap our temp dir for their
# own between its check and the exec.
safe_base() {
    _dir=$(cd "$1" 2>/dev/null && pwd -P) || return 1
    _uid=$(id -u) || return 1
    while :; do
        # shellcheck disable=SC2012 # ls -ldn's fields are specified by POSIX
        _ls=$(ls -ldn "$_dir" 2>/dev/null) || return 1
        set -f
        # shellcheck disable=SC2086 # splitting the ls line into fields is the point
        set -- $_ls
        set +f
        if [ "$3" != 0 ] && [ "$3" != "$_uid" ]; then
            return 1
        fi
        # drwxrwxrwt: group write is the 6th character, others' write the 9th, sticky the 10th.
        case "$1" in
            ?????w* | ????????w*)
                case "$1" in
                    ?????????[tT]*) ;;
                    *) return 1 ;;
                esac
                ;;
        esac
        [ "$_dir" = / ] && return 0
        _dir=${_dir%/*}
        [ -n "$_dir" ] || _dir=/
    done
}

# Sets _tmp to a new private dir (0700) on a filesystem that allows exec.
make_tmpdir() {
    _need_kib=$((HELPER_RUN_SIZE / 1024 + 64))
    for _base in "${TMPDIR:-}" /tmp /var/tmp /dev/shm; do
        if [ -z "$_base" ] || [ ! -d "$_base" ] || [ ! -w "$_base" ]; then
            continue
        fi
        if ! safe_base "$_base"; then
            warn "$_base (or a parent) can be changed by another user and is not sticky; trying the next place"
            continue
        fi
        _free=$(free_kib "$_base") || continue
        if [ "$_free" -lt "$_need_kib" ]; then
            warn "$_base has ${_free} KiB free, the helper needs ${_need_kib} KiB; trying the next place"
            continue
        fi
        _tmp=$(umask 077 && mktemp -d "$_base/floppies.XXXXXX" 2>/dev/null) || continue
        chmod 700 "$_tmp" || { remove_tmpdir; continue; }
        printf '#!/bin/sh\nexit 0\n' >"$_tmp/exec-probe" && chmod 700 "$_tmp/exec-probe"
        if "$_tmp/exec-probe" 2>/dev/null; then
            rm -f "$_tmp/exec-probe"
            return 0
        fi
        warn "$_base does not allow running programs (noexec?); trying the next place"
        remove_tmpdir
    done
    err "found no writable temp directory that allows running programs"
    say "help: set TMPDIR to a directory on an exec-capable filesystem, e.g. 'sudo TMPDIR=/root sh floppies-installer.run ...'"
    return 1
}

# Removes our temp dir, and only ours.
remove_tmpdir() {
    case "${_tmp:-}" in
        */floppies.*) rm -rf "$_tmp" ;;
    esac
    _tmp=''
}

# Copies the helper out of this file (or, form host, from the host) into our
# temp dir and verifies the copy, which alone is run: a host file swapped
# after the copy changes nothing.
extract_helper() {
    case "$HELPER_FORM" in
        raw) dd if="$_self" of="$_tmp/floppies" bs="$BLOCK" skip="$((STUB_SIZE / BLOCK))" \
            count="$((HELPER_SIZE / BLOCK))" 2>/dev/null ;;
        gzip) dd if="$_self" bs="$BLOCK" skip="$((STUB_SIZE / BLOCK))" count="$((HELPER_SIZE / BLOCK))" 2>/dev/null \
            | gzip -dc >"$_tmp/floppies" 2>/dev/null ;;
        host) copy_host_helper ;;
    esac || {
        _rc=$?
        [ "$HELPER_FORM" = host ] && return "$_rc"
        err "could not copy the helper into '$_tmp'"
        [ "$HELPER_FORM" = gzip ] || return 1
        say "help: if '$_tmp' has room, the helper part is damaged: copy the installer again; 'sh $0 --check' shows which parts are damaged"
        return "$EXIT_DAMAGED"
    }
    _got=$(sha256sum "$_tmp/floppies") || return 1
    _got=${_got%% *}
    if [ "$HELPER_FORM" = host ] && [ "$_got" != "$HELPER_SHA256" ]; then
        refuse_host_helper "other $_got"
        return "$EXIT_PREFLIGHT"
    fi
    if [ "$_got" != "$HELPER_SHA256" ]; then
        err "the helper part of the installer is damaged (sha256 $_got, expected $HELPER_SHA256)"
        say "help: copy the installer again; 'sh $0 --check' shows which parts are damaged"
        return "$EXIT_DAMAGED"
    fi
    chmod 700 "$_tmp/floppies"
}

# Copies HELPER_FROM into our temp dir, refusing a link or a missing file;
# at most one block more than the helper is read.
copy_host_helper() {
    if [ -L "$HELPER_FROM" ]; then
        refuse_host_helper link
        return "$EXIT_PREFLIGHT"
    fi
    if [ ! -f "$HELPER_FROM" ]; then
        refuse_host_helper absent
        return "$EXIT_PREFLIGHT"
    fi
    if ! dd if="$HELPER_FROM" of="$_tmp/floppies" bs="$BLOCK" count="$((HELPER_RUN_SIZE / BLOCK + 1))" 2>/dev/null; then
        refuse_host_helper unreadable
        return "$EXIT_PREFLIGHT"
    fi
}

# Hands the command to the verified helper, which removes the temp dir itself.
run_helper() {
    check_arch || return
    trap remove_tmpdir EXIT
    trap 'remove_tmpdir; exit 130' INT
    trap 'remove_tmpdir; exit 143' TERM
    make_tmpdir || return
    extract_helper || return
    FLOPPIES_BUNDLE=$_self
    FLOPPIES_STUB_TMPDIR=$_tmp
    export FLOPPIES_BUNDLE FLOPPIES_STUB_TMPDIR
    exec "$_tmp/floppies" "$@"
}

# Reads the command line: answers --help/--version/... itself, else runs the helper.
main() {
    _tmp=''
    case "${1:-}" in
        -h|--help) print_usage; return 0 ;;
        --version) print_version; return 0 ;;
        '') print_usage >&2; return "$EXIT_USAGE" ;;
    esac
    check_built || return "$EXIT_FAILED"
    check_header_sizes || return
    locate_self || return "$EXIT_FAILED"
    check_tools || return "$EXIT_FAILED"
    verify_size || return
    case "$1" in
        --check) check_parts && run_helper debug update-of ;;
        --info) print_info && run_helper debug manifest ;;
        --list) run_helper debug payload-list ;;
        --extract)
            if [ $# -ne 2 ] || [ -z "$2" ]; then
                err "--extract needs one directory: --extract DIR"
                return "$EXIT_USAGE"
            fi
            run_helper debug payload-extract "$2"
            ;;
        *) run_helper "$@" ;;
    esac
}

main "$@"; exit
