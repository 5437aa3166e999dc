#!/bin/sh
# Prepares the Ubuntu 22.04 base VM image from a cloud image file, so that
# test-vm/run boots it exactly like the Debian one.
# Usage: test-vm/image/ubuntu.sh OUT_DIR CLOUD_IMAGE
#   CLOUD_IMAGE  ubuntu-22.04-server-cloudimg-amd64.img (qcow2) from
#                https://cloud-images.ubuntu.com/releases/22.04/release/; only read
# Writes OUT_DIR/base.qcow2 (read-only), vmlinuz, initrd.img, boot.env, and the
# preparation boot's logs (prep-*). The caller keys OUT_DIR by this file and the image.
#
# How: a copy of the image, grown to 10G, boots once under qemu with no network
# device and a NoCloud seed disk (vfat labelled CIDATA). cloud-init grows the
# root filesystem, writes the boot unit and boot-entry, masks what would slow or
# disturb a test boot, disables itself, writes the kernel, the initrd and the
# files it wrote as a tar onto a third (raw) disk, reports on the second serial
# port and powers off. The host then checks the report and compares the files.
#
# Boot choice: boot.env says BOOT_KERNEL=1. test-vm/run boots the kernel and
# initrd taken from the prepared disk directly (-kernel/-initrd/-append
# KERNEL_APPEND), as for Debian: one known kernel command line for every boot
# (console on ttyS0, panic=-1 so a panic ends the VM instead of hanging it),
# no GRUB menu or initrd-less first try in the way, and run's KVM probe keeps
# using OUT_DIR/vmlinuz. The image's own GRUB boots the preparation only.
#
# Knobs (environment):
#   FLOPPIES_VM_ACCEL  kvm or tcg (default: kvm if /dev/kvm is writable, else tcg)
# Host tools: qemu-system-x86_64 (qemu-system-x86), qemu-img (qemu-utils),
# mkfs.vfat (dosfstools), mcopy (mtools), tar, base64, timeout.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)

# Room for what preflight asks (3 GiB + the images three times + the release;
# an upgrade at level K needs more: image/debian.sh), sparse on the host.
DISK_SIZE=14G
DISK_BYTES=15032385536
# Every cloud image labels its root filesystem so. rw and fsck.mode=skip: no fsck
# of the root or of /boot/efi (each overlay is a fresh copy of a cleanly shut
# down image), so no systemd-fsckd still running when a scenario's "before"
# snapshot is taken and gone by the "after" one.
KERNEL_APPEND='root=LABEL=cloudimg-rootfs rw fsck.mode=skip console=ttyS0 quiet systemd.show_status=1 panic=-1'
# The first boot seeds snaps and waits for a network that never comes
# (systemd-networkd-wait-online gives up after 2 minutes); TCG is ~10x slower.
PREP_TIMEOUT_KVM=900
PREP_TIMEOUT_TCG=3600
# A kernel that boots prints on the console well within this; an image that is
# not bootable leaves it empty.
SILENT_LIMIT=180
PREP_MEMORY=2048
QEMU_PID=''

say() {
    printf 'image: %s\n' "$*" >&2
}

# Prints an error and a help line, then exits.
die() {
    printf 'error: %s\n' "$1" >&2
    [ -z "${2:-}" ] || printf 'help: %s\n' "$2" >&2
    exit 1
}

# Checks the arguments and FLOPPIES_VM_ACCEL; sets ACCEL.
check_args() {
    [ $# -eq 2 ] || die "usage: test-vm/image/ubuntu.sh OUT_DIR CLOUD_IMAGE" \
        "CLOUD_IMAGE is ubuntu-22.04-server-cloudimg-amd64.img from https://cloud-images.ubuntu.com/releases/22.04/release/"
    [ -n "$1" ] || die "OUT_DIR is empty"
    if [ ! -f "$2" ] || [ ! -r "$2" ]; then
        die "no readable cloud image at '$2'" \
            "download ubuntu-22.04-server-cloudimg-amd64.img from https://cloud-images.ubuntu.com/releases/22.04/release/ where there is internet and copy it here"
    fi
    case ${FLOPPIES_VM_ACCEL:-} in
        kvm|tcg) ACCEL=$FLOPPIES_VM_ACCEL ;;
        '') if [ -w /dev/kvm ]; then ACCEL=kvm; else ACCEL=tcg; fi ;;
        *) die "FLOPPIES_VM_ACCEL must be kvm or tcg, not '$FLOPPIES_VM_ACCEL'" ;;
    esac
}

# Names every missing host tool at once.
check_tools() {
    _missing=''
    for _t in qemu-system-x86_64 qemu-img mkfs.vfat mcopy tar base64 timeout; do
        command -v "$_t" > /dev/null 2>&1 || _missing="$_missing $_t"
    done
    [ -z "$_missing" ] || die "missing tools:$_missing" \
        "run tests/install-deps as root (qemu-system-x86 qemu-utils dosfstools mtools)"
}

# Copies CLOUD_IMAGE to a new qcow2 at DST, grown to DISK_SIZE; the source is only read.
copy_image() {
    _info=$(qemu-img info "$1") || die "qemu-img cannot read '$1'" "is it a cloud image (qcow2)?"
    _format=$(printf '%s\n' "$_info" | sed -n 's/^file format: //p' | head -n1)
    [ "$_format" = qcow2 ] || die "'$1' is not a qcow2 image (qemu-img says '$_format'), so not a cloud image" \
        "use ubuntu-22.04-server-cloudimg-amd64.img from https://cloud-images.ubuntu.com/releases/22.04/release/"
    _size=$(printf '%s\n' "$_info" | sed -n 's/^virtual size: .*(\([0-9]*\) bytes).*/\1/p' | head -n1)
    say "copying $1 and growing it to $DISK_SIZE (sparse)"
    qemu-img convert -f qcow2 -O qcow2 "$1" "$2"
    if [ "${_size:-0}" -lt "$DISK_BYTES" ]; then
        qemu-img resize -q "$2" "$DISK_SIZE"
    fi
}

# The files the image gets (compared afterwards with what the guest wrote) and
# the script the preparation boot runs, into DIR.
write_guest_files() {
    _dir=$1
    mkdir -p "$_dir"
    # The same boot-entry and unit as the Debian image gets.
    cp "$HERE/boot-entry" "$HERE/floppies-vm-test.service" "$_dir/"
    cat > "$_dir/prep" <<'PREP'
#!/bin/sh
# Runs once, from cloud-init's runcmd, in the preparation boot. Each finding
# goes to the second serial port as "FAIL ..." or "MISSING ..."; the last line
# is PREP-DONE. The host reads them, and the tar this writes on the export disk.
set -u
REPORT=/dev/ttyS1
EXPORT=/dev/disk/by-id/virtio-floppies-export
# Nobody logs in; no network (hence nothing to wait for or update from); and
# under TCG every unit or timer that is not needed costs seconds.
MASK="systemd-networkd-wait-online.service snapd.service snapd.socket snapd.seeded.service
unattended-upgrades.service apt-daily.service apt-daily.timer apt-daily-upgrade.service apt-daily-upgrade.timer
serial-getty@ttyS0.service getty@.service getty-static.service e2scrub_reap.service
systemd-journal-flush.service systemd-update-utmp.service systemd-update-utmp-runlevel.service
motd-news.timer man-db.timer fwupd-refresh.timer e2scrub_all.timer fstrim.timer logrotate.timer
dpkg-db-backup.timer ua-timer.timer update-notifier-download.timer update-notifier-motd.timer"
# command:package, for what the installer and the scenarios run in the guest.
NEEDED="busybox:busybox-static ufw:ufw iptables:iptables ip6tables:iptables
iptables-legacy-save:iptables iptables-nft-save:iptables ip:iproute2 ss:iproute2
zstd:zstd tar:tar ps:procps timeout:coreutils sha256sum:coreutils stat:coreutils
awk:mawk find:findutils mount:mount journalctl:systemd systemctl:systemd"

report() {
    echo "$*" > "$REPORT"
}

# Hostname, the boot unit, the masks, a volatile journal, cloud-init off.
configure_system() {
    echo floppies-vm > /etc/hostname
    hostname floppies-vm
    printf '127.0.0.1 localhost\n127.0.1.1 floppies-vm\n::1 localhost ip6-localhost ip6-loopback\n' > /etc/hosts
    mkdir -p /mnt/test /etc/systemd/journald.conf.d
    printf '[Journal]\nStorage=volatile\n' > /etc/systemd/journald.conf.d/volatile.conf
    systemctl enable floppies-vm-test.service || report "FAIL systemctl enable floppies-vm-test.service"
    # shellcheck disable=SC2086 # one word per unit
    systemctl mask $MASK > /dev/null || report "FAIL systemctl mask"
    touch /etc/cloud/cloud-init.disabled || report "FAIL touch /etc/cloud/cloud-init.disabled"
}

# Reports each command, busybox applet or amount of disk the tests need and lack.
check_contents() {
    for _pair in $NEEDED; do
        command -v "${_pair%%:*}" > /dev/null 2>&1 || report "MISSING command ${_pair%%:*} (package ${_pair#*:})"
    done
    for _applet in httpd wget; do
        busybox --list 2>/dev/null | grep -qx "$_applet" || report "MISSING busybox applet $_applet (package busybox-static)"
    done
    _kb=$(df -Pk / | awk 'NR == 2 { print $2 }')
    [ "${_kb:-0}" -ge 9000000 ] || report "FAIL the root filesystem has ${_kb:-?} KiB, not about 10 GiB (cloud-init's growpart did not grow it)"
}

# Writes the kernel, the initrd and the files set up here as one tar on the export disk.
export_files() {
    _i=0
    while [ ! -b "$EXPORT" ] && [ "$_i" -lt 30 ]; do sleep 1; _i=$((_i + 1)); done
    [ -b "$EXPORT" ] || { report "FAIL no export disk at $EXPORT"; return; }
    tar -chf "$EXPORT" -C / boot/vmlinuz boot/initrd.img usr/lib/floppies-vm/boot-entry \
        etc/systemd/system/floppies-vm-test.service \
        etc/systemd/system/multi-user.target.wants/floppies-vm-test.service \
        etc/cloud/cloud-init.disabled || report "FAIL tar onto the export disk"
}

main() {
    configure_system
    check_contents
    export_files
    sync
    report PREP-DONE
}

main "$@"
PREP
}

# The NoCloud seed disk SEED (vfat labelled CIDATA) from the files in DIR. No
# mounting: mkfs.vfat (dosfstools) makes it, mcopy (mtools) fills it.
write_seed() {
    _dir=$1
    _seed=$2
    {
        echo '#cloud-config'
        echo '# test-vm/image/ubuntu.sh: the one preparation boot of the floppies test-vm base image.'
        echo 'preserve_hostname: false'
        echo 'hostname: floppies-vm'
        echo 'write_files:'
        write_file_entry "$_dir/boot-entry" /usr/lib/floppies-vm/boot-entry 0755
        write_file_entry "$_dir/floppies-vm-test.service" /etc/systemd/system/floppies-vm-test.service 0644
        write_file_entry "$_dir/prep" /run/floppies-vm-prep 0755
        echo 'runcmd:'
        echo '  - [sh, /run/floppies-vm-prep]'
        echo 'power_state:'
        echo '  mode: poweroff'
        echo '  message: floppies test-vm image prepared'
        echo '  timeout: 60'
        echo '  condition: true'
    } > "$_dir/user-data"
    printf 'instance-id: floppies-vm-prep\nlocal-hostname: floppies-vm\n' > "$_dir/meta-data"
    rm -f "$_seed"
    mkfs.vfat -n CIDATA -C "$_seed" 2048 > /dev/null
    mcopy -i "$_seed" "$_dir/user-data" "$_dir/meta-data" ::
}

# One write_files entry: FILE's bytes (base64, one line) to PATH with MODE.
write_file_entry() {
    printf '  - path: %s\n    permissions: %s\n    encoding: b64\n    content: %s\n' \
        "$2" "'$3'" "$(base64 -w0 < "$1")"
}

# Boots the copy once with the seed and the export disk, bounded; returns qemu's
# exit code, timeout's (124) or 125 if the console stayed empty (nothing booted).
boot_prep() {
    _work=$1
    case $ACCEL in
        kvm) _limit=$PREP_TIMEOUT_KVM ;;
        *) _limit=$PREP_TIMEOUT_TCG ;;
    esac
    truncate -s 1G "$_work/export.raw"
    say "preparation boot ($ACCEL, at most ${_limit}s; about 3 minutes under KVM): console in $_work/prep-console.log"
    # No -no-reboot: if GRUB's initrd-less first try fails, its fallback reboots once.
    timeout -k 10 "$_limit" qemu-system-x86_64 -accel "$ACCEL" -cpu max -smp 2 -m "$PREP_MEMORY" \
        -nodefaults -display none -nic none \
        -drive "file=$_work/base.qcow2,if=none,id=root,format=qcow2" -device virtio-blk-pci,drive=root,bootindex=1 \
        -drive "file=$_work/seed.img,if=virtio,format=raw,readonly=on" \
        -drive "file=$_work/export.raw,if=none,id=export,format=raw" -device virtio-blk-pci,drive=export,serial=floppies-export \
        -serial "file:$_work/prep-console.log" -serial "file:$_work/prep-report.txt" \
        > "$_work/prep-qemu.log" 2>&1 &
    QEMU_PID=$!
    trap 'kill "$QEMU_PID" 2>/dev/null; exit 130' INT TERM
    _started=$(date +%s)
    while kill -0 "$QEMU_PID" 2>/dev/null; do
        if [ ! -s "$_work/prep-console.log" ] && [ $(($(date +%s) - _started)) -ge "$SILENT_LIMIT" ]; then
            kill "$QEMU_PID" 2>/dev/null
            wait "$QEMU_PID" 2>/dev/null || true
            trap - INT TERM
            return 125
        fi
        sleep 2
    done
    _rc=0
    wait "$QEMU_PID" || _rc=$?
    trap - INT TERM
    return "$_rc"
}

# Fails unless the guest reported PREP-DONE and nothing missing, and the files
# it exported are the ones asked for; then moves the kernel and initrd into WORK.
check_prep() {
    _work=$1
    _report=$_work/prep-report.txt
    tr -d '\r' < "$_report" > "$_report.clean"
    _problems=$(grep -E '^(FAIL|MISSING) ' "$_report.clean" || true)
    [ -z "$_problems" ] || die "the prepared Ubuntu image is not usable: $(printf '%s\n' "$_problems" | tr '\n' ';')" \
        "a missing package cannot be installed (the guest has no network): use an Ubuntu 22.04 *server* cloud image; details in $_work/prep-console.log"
    grep -qx PREP-DONE "$_report.clean" || die "the preparation boot powered off without finishing (no PREP-DONE on its report port)" \
        "see $_work/prep-console.log: cloud-init may not have found the seed disk (label CIDATA), or the image is not Ubuntu 22.04"
    mkdir -p "$_work/export"
    tar -xf "$_work/export.raw" -C "$_work/export" 2>/dev/null || true
    for _f in boot/vmlinuz boot/initrd.img etc/cloud/cloud-init.disabled \
        etc/systemd/system/multi-user.target.wants/floppies-vm-test.service; do
        [ -f "$_work/export/$_f" ] || die "the preparation boot did not export /$_f" "see $_work/prep-console.log"
    done
    cmp -s "$_work/files/boot-entry" "$_work/export/usr/lib/floppies-vm/boot-entry" \
        || die "/usr/lib/floppies-vm/boot-entry in the image is not the one written" "see $_work/prep-console.log"
    cmp -s "$_work/files/floppies-vm-test.service" "$_work/export/etc/systemd/system/floppies-vm-test.service" \
        || die "floppies-vm-test.service in the image is not the one written" "see $_work/prep-console.log"
    mv "$_work/export/boot/vmlinuz" "$_work/vmlinuz"
    mv "$_work/export/boot/initrd.img" "$_work/initrd.img"
    # Ubuntu keeps kernels mode 0600; qemu only reads them.
    chmod 644 "$_work/vmlinuz" "$_work/initrd.img"
}

main() {
    check_args "$@"
    check_tools
    _out=$1
    _image=$2
    _work="$_out.tmp"
    rm -rf --one-file-system "$_work"
    mkdir -p "$_work"
    copy_image "$_image" "$_work/base.qcow2"
    write_guest_files "$_work/files"
    write_seed "$_work/files" "$_work/seed.img"
    _rc=0
    boot_prep "$_work" || _rc=$?
    case $_rc in
        0) ;;
        125) die "nothing booted from '$_image': the console stayed empty for ${SILENT_LIMIT}s" \
            "is it an Ubuntu 22.04 server cloud image for amd64? see $_work/prep-qemu.log" ;;
        124|137) die "the preparation boot did not power off within its time limit" \
            "see $_work/prep-console.log; if the VM hung under KVM (nested virtualisation), try FLOPPIES_VM_ACCEL=tcg" ;;
        *) die "qemu failed (exit $_rc) in the preparation boot" "see $_work/prep-qemu.log and $_work/prep-console.log" ;;
    esac
    check_prep "$_work"
    printf 'BOOT_KERNEL=1\nKERNEL_APPEND=%s\n' "'$KERNEL_APPEND'" > "$_work/boot.env"
    rm -rf "$_work/export" "$_work/export.raw" "$_work/seed.img" "$_work/files" "$_work/prep-report.txt.clean"
    chmod 444 "$_work/base.qcow2"
    rm -rf --one-file-system "$_out"
    mv "$_work" "$_out"
    say "prepared $_out"
}

main "$@"
