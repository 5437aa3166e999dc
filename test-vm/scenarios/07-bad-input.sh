#!/bin/sh
# 07 bad-input: a corrupted file, a truncated one, a user who is not root,
# port 80 taken, a foreign k3s unit: each refused with a clear error and a
# remedy before anything on the host changes.
# timeout: 420
# shellcheck source=test-vm/guest/lib.sh
. "$T/lib.sh"
scenario_begin bad-input
snapshot "$LOGS/before"

# unchanged CHECK: the host is as the "before" snapshot says.
unchanged() {
    snapshot "$LOGS/after-$1"
    compare "$1-changed-nothing" "$LOGS/before" "$LOGS/after-$1"
}

size=$(stat -c %s "$BUNDLE")
cp "$BUNDLE" /tmp/corrupt.run
printf 'X' | dd of=/tmp/corrupt.run bs=1 seek=$((size - 100)) conv=notrunc 2> /dev/null
run corrupt sh /tmp/corrupt.run install --yes
expect_rc corrupt-exit-3 3
expect_out corrupt-says-damaged 'damaged|checksum|sha256'
rm -f /tmp/corrupt.run
unchanged corrupt

head -c $((size - 4096)) "$BUNDLE" > /tmp/truncated.run
run truncated sh /tmp/truncated.run install --yes
if [ "$RC" -ne 0 ]; then pass truncated-refused; else fail truncated-refused "a truncated file installed"; fi
expect_out truncated-says-truncated 'truncated'
rm -f /tmp/truncated.run
unchanged truncated

run not-root setpriv --reuid=65534 --regid=65534 --clear-groups sh "$BUNDLE" install --yes
expect_rc not-root-exit-4 4
expect_out not-root-says-root 'must run as root'
expect_out not-root-help-sudo '^help: .*sudo'
unchanged not-root

mkdir -p /tmp/www
busybox httpd -p 80 -h /tmp/www
installer port-80-taken install --yes
expect_rc port-80-exit-4 4
expect_out port-80-named '\b80\b'
pkill -f 'busybox httpd -p 80 -h /tmp/www'
wait_until 10 sh -c '! ss -ltnH "sport = :80" | grep -q .'
rm -rf /tmp/www
unchanged port-80

printf '[Unit]\nDescription=a k3s someone else installed\n[Service]\nExecStart=/bin/true\n' > /etc/systemd/system/k3s.service
installer foreign-k3s install --yes
expect_rc foreign-k3s-exit-4 4
expect_out foreign-k3s-named 'k3s\.service'
rm -f /etc/systemd/system/k3s.service
unchanged foreign-k3s
scenario_end
