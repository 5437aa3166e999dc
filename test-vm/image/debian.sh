#!/bin/sh
# Builds the base VM image: Debian bookworm with systemd, the firewall and
# network tools the installer drives, and a boot unit that runs the test disk.
# Usage: test-vm/image/debian.sh OUT_DIR MIRROR
# Writes OUT_DIR/base.qcow2, OUT_DIR/vmlinuz, OUT_DIR/initrd.img. The caller
# keys OUT_DIR by a hash of this file, so any change here makes a new image.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)

# What the installer and the scenarios need in the guest: ufw pulls in python3;
# busybox serves HTTP for the stand-in k3s and fetches with wget; zstd opens
# diagnose bundles; openssl makes the stand-in's CA, python3 serves its TLS
# supervisor on 6443, curl is what the installer (join's preflight) and the
# stand-in agent fetch /cacerts with. apparmor and systemd-resolved make the
# guest like an Ubuntu 22.04 server where k3s and containerd look (issue 15,
# item 16; the differences that remain are listed in test-vm/README.md).
PACKAGES="linux-image-amd64,systemd-sysv,udev,iproute2,iptables,nftables,ufw,kmod,e2fsprogs,procps,util-linux,busybox,zstd,tar,coreutils,openssl,curl,python3,apparmor,systemd-resolved"
# Room for what preflight asks under /opt and /var/lib (3 GiB + the images
# three times + the release), sparse on the host: at level K an upgrade asks
# for the parts bundle's 4.7 GiB while the older one's install still holds
# about 2.5 GiB (scenario 22).
DISK_SIZE=12G

say() {
    printf 'image: %s\n' "$*" >&2
}

# Bootstraps the root tree into DIR.
bootstrap_tree() {
    _dir=$1
    _mirror=$2
    say "mmdebstrap bookworm from $_mirror (about a minute)"
    # shellcheck disable=SC2016 # the hooks' $1 is mmdebstrap's, expanded by it
    mmdebstrap --quiet --variant=minbase --include="$PACKAGES" \
        --customize-hook='chroot "$1" systemctl disable apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer 2>/dev/null || true' \
        bookworm "$_dir" "$_mirror"
    # Under TCG a generic initramfs (every storage driver, udev coldplug of
    # each) costs a minute per boot; the guest needs virtio and ext4 only.
    printf 'MODULES=list\nCOMPRESS=gzip\n' > "$_dir/etc/initramfs-tools/conf.d/floppies-vm.conf"
    printf 'virtio_pci\nvirtio_blk\next4\ncrc32c_generic\n' >> "$_dir/etc/initramfs-tools/modules"
    chroot "$_dir" update-initramfs -u -k all > /dev/null
}

# The unit that mounts the test disk (/dev/vdb) and runs its entry script.
# It runs after boot is complete; the host bounds its time.
configure_tree() {
    _dir=$1
    echo floppies-vm > "$_dir/etc/hostname"
    printf '127.0.0.1 localhost\n127.0.1.1 floppies-vm\n::1 localhost ip6-localhost ip6-loopback\n' > "$_dir/etc/hosts"
    echo '/dev/vda / ext4 rw,errors=remount-ro 0 1' > "$_dir/etc/fstab"
    mkdir -p "$_dir/usr/lib/floppies-vm" "$_dir/mnt/test"
    install -m 755 "$HERE/boot-entry" "$_dir/usr/lib/floppies-vm/boot-entry"
    install -m 644 "$HERE/floppies-vm-test.service" "$_dir/etc/systemd/system/floppies-vm-test.service"
    ln -sf /etc/systemd/system/floppies-vm-test.service "$_dir/etc/systemd/system/multi-user.target.wants/floppies-vm-test.service"
    # Nobody logs in; and under TCG every unit that is not needed costs seconds.
    for _unit in serial-getty@ttyS0.service getty@.service getty-static.service e2scrub_reap.service \
        systemd-journal-flush.service systemd-update-utmp.service systemd-update-utmp-runlevel.service; do
        ln -sf /dev/null "$_dir/etc/systemd/system/$_unit"
    done
    like_ubuntu "$_dir"
    # The journal in memory only: the scenarios copy what they need to the test disk.
    mkdir -p "$_dir/etc/systemd/journald.conf.d"
    printf '[Journal]\nStorage=volatile\n' > "$_dir/etc/systemd/journald.conf.d/volatile.conf"
}

# What an Ubuntu 22.04 server has where k3s and containerd look, set
# explicitly so that a change in Debian's defaults cannot drift the guest:
# /etc/resolv.conf is systemd-resolved's stub (nameserver 127.0.0.53; the
# guest has no network, so resolved knows no upstream server, as on an
# air-gapped host), iptables and ip6tables are the nft variants, ufw is
# installed but off. AppArmor is on in Debian's kernel by default; the
# apparmor package loads its profiles at boot, as on Ubuntu.
like_ubuntu() {
    _dir=$1
    ln -sf ../run/systemd/resolve/stub-resolv.conf "$_dir/etc/resolv.conf"
    chroot "$_dir" update-alternatives --quiet --set iptables /usr/sbin/iptables-nft
    chroot "$_dir" update-alternatives --quiet --set ip6tables /usr/sbin/ip6tables-nft
    sed -i 's/^ENABLED=.*/ENABLED=no/' "$_dir/etc/ufw/ufw.conf"
}

main() {
    _out=$1
    _mirror=$2
    _work="$_out.tmp"
    rm -rf --one-file-system "$_work"
    mkdir -p "$_work"
    bootstrap_tree "$_work/root" "$_mirror"
    configure_tree "$_work/root"
    # shellcheck disable=SC2012 # Debian's kernel file names, the newest last
    cp "$(ls "$_work"/root/boot/vmlinuz-* | tail -n1)" "$_work/vmlinuz"
    # shellcheck disable=SC2012 # as above
    cp "$(ls "$_work"/root/boot/initrd.img-* | tail -n1)" "$_work/initrd.img"
    say "making the ext4 root disk ($DISK_SIZE, sparse)"
    mkfs.ext4 -q -F -L floppies-root -d "$_work/root" "$_work/base.raw" "$DISK_SIZE" > /dev/null
    qemu-img convert -O qcow2 "$_work/base.raw" "$_work/base.qcow2"
    rm -rf --one-file-system "$_work/root" "$_work/base.raw"
    chmod 444 "$_work/base.qcow2"
    rm -rf --one-file-system "$_out"
    mv "$_work" "$_out"
    say "built $_out"
}

main "$@"
