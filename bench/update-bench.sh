#!/usr/bin/env bash
# The guest-visible IO stall of a device bundle update (issue 13), for virtio-blk and virtio-net served over
# vhost-user to a QEMU TCG guest, on both paths in the same run:
#   handover  the device is handed over to the updated bundle (the default)
#   reset     the old path (virtio:grace 0): the device closes, QEMU loses the back-end and reconnects
# blk: fio 4 KiB random reads at QD1 and QD32 in the guest, the longest gap between completions around each update;
# net: the host pings the guest every PING_MS, the longest gap between replies around each update. p50 and p99 over
# UPDATES updates per figure. Details: bench/update-bench.py.
#
#   bench/update-bench.sh [--quick]
#
# Environment (defaults in brackets, --quick values in braces):
#   UPDATES [20] {3}      updates per figure
#   SPACING [3] {2.5}     seconds between updates (the old path needs QEMU's 1 s reconnect and a boot of its own)
#   PING_MS [5]           the host's ping interval for net
#   DEVICES [blk net]     which devices
# Target (issue 13): blk's p99 stall < 50 ms on the handover path. A miss prints MISSED; the exit status stays 0.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
case "${1:-}" in
    --quick) export UPDATES=${UPDATES:-3} SPACING=${SPACING:-2.5} ;;
    "") ;;
    *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
esac
die() { echo "update-bench: $*" >&2; exit 1; }
((EUID == 0)) || die "needs root: it makes a network namespace and a tap"
command -v python3 >/dev/null 2>&1 || die "needs python3"
"$ROOT/scripts/test-deps.sh" >&2 || die "scripts/test-deps.sh failed (it installs qemu-system-x86, iproute2 and the guest kit)"
BV_QEMU=$(command -v qemu-system-x86_64) || die "qemu-system-x86_64 is missing"
if ! ping -V >/dev/null 2>&1; then
    echo "== installing iputils-ping (the host's pinger: -D timestamps, intervals under 0.2 s)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q iputils-ping >&2 || die "cannot install iputils-ping"
fi
BV_KERNEL=$("$ROOT/scripts/guest-kit.sh" | grep 'vmlinuz$') || die "scripts/guest-kit.sh failed"
BV_BLK_INITRD=$("$ROOT/bench/vhost-blk-kit.sh") || die "bench/vhost-blk-kit.sh failed"
BV_NET_INITRD=$("$ROOT/scripts/guest-kit.sh" | grep 'initramfs.cpio.gz$') || die "scripts/guest-kit.sh failed"
BV_JAVA=
for j in ${JAVA_HOME:+$JAVA_HOME/bin/java} /usr/lib/jvm/*/bin/java; do
    v=$("$j" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p' | head -n 1)
    if [[ -n $v && $v -ge 25 ]]; then BV_JAVA=$j; break; fi
done
[[ -n $BV_JAVA ]] || die "no JDK 25 or later (set JAVA_HOME)"
cd "$ROOT"
if [[ ! -f distro/target/bundlevisor.jar ]] || ! ls device.virtio-blk/target/device.virtio-blk-*.jar >/dev/null 2>&1; then
    echo "== building (./bundlevisor build)" >&2
    ./bundlevisor build >&2
fi
mkdir -p bench/build
BV_IMAGE=${BENCH_FILE:-$ROOT/bench/build/randread-1g.dat}
if [[ ! -f $BV_IMAGE || $(stat -c %s "$BV_IMAGE") -ne $((1 << 30)) ]]; then
    echo "== writing $BV_IMAGE (1 GiB of random data, once)" >&2
    head -c $((1 << 30)) /dev/urandom >"$BV_IMAGE.tmp" && mv "$BV_IMAGE.tmp" "$BV_IMAGE"
fi
export BV_JAVA BV_QEMU BV_KERNEL BV_BLK_INITRD BV_NET_INITRD BV_IMAGE
exec python3 "$ROOT/bench/update-bench.py"
