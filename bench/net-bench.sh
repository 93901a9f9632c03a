#!/usr/bin/env bash
# virtio-net benchmark under QEMU TCG: the same Linux guest (the guest kit's Debian kernel with iperf3:
# bench/net-kit.sh) on the same tap, in a network namespace this script makes, twice in the same run:
#   ours      our back-end (bundlevisor.serve --net: device.virtio-net over vhost-user) behind QEMU's vhost-user netdev
#   qemu      QEMU's own virtio-net on the tap (-netdev tap,vhost=off; this host has no /dev/vhost-net for vhost=on)
# iperf3 TCP for SECONDS each way: guest to host, and host to guest (-R). Both use INTx (vectors=0: QEMU 7.2 under
# TCG crashes starting vhost-user-net with MSI-X) and 1 vCPU. TCG emulates the guest, so both columns carry the
# same (large) guest cost: the ratio is what it shows. Runs alternate ours and qemu; medians are reported.
#
#   bench/net-bench.sh [--quick]
#
# Environment (defaults in brackets, --quick values in braces):
#   SECONDS_EACH [5] {2}   iperf3's time per direction
#   REPEATS [3] {1}        runs per side
# Target (issue 12): ours >= 1.0x qemu each way. A miss prints MISSED; the exit status stays 0.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QUICK=0
case "${1:-}" in
    --quick) QUICK=1 ;;
    "") ;;
    *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
esac
if ((QUICK)); then d_s=2 d_r=1; else d_s=5 d_r=3; fi
SECONDS_EACH=${SECONDS_EACH:-$d_s}
REPEATS=${REPEATS:-$d_r}
for v in SECONDS_EACH REPEATS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "net-bench: $v must be a positive whole number, got '${!v}'" >&2; exit 2; }
done
log() { echo "== $*" >&2; }
die() { echo "net-bench: $*" >&2; exit 1; }

((EUID == 0)) || die "needs root: it makes a network namespace and a tap"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 is missing (scripts/test-deps.sh installs it)"
kernel=$("$ROOT/scripts/guest-kit.sh" | grep 'vmlinuz$')
initrd=$("$ROOT/bench/net-kit.sh")
jar=$ROOT/distro/target/bundlevisor.jar
[[ -f $jar ]] || (cd "$ROOT" && ./bundlevisor build >&2)
java=$(ls -d /usr/lib/jvm/*25*/bin/java 2>/dev/null | head -n 1)
[[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]] && java=$JAVA_HOME/bin/java
[[ -x $java ]] || die "no JDK 25 (set JAVA_HOME)"

ns=bvbench-$$
tap=bvb0
work=$(mktemp -d)
serve_pid=
cleanup() {
    [[ -n $serve_pid ]] && kill "$serve_pid" 2>/dev/null
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
    ip netns del "$ns" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
ip netns exec "$ns" ip tuntap add "$tap" mode tap
ip netns exec "$ns" ip addr add 10.79.0.1/24 dev "$tap"
ip netns exec "$ns" ip link set "$tap" up
ip netns exec "$ns" iperf3 -s >/dev/null 2>&1 &

guest_test="ip link set eth0 up && ip addr add 10.79.0.2/24 dev eth0 && ping -c 1 10.79.0.1 >/dev/null"
guest_test+=" && /usr/bin/iperf3 -c 10.79.0.1 -t $SECONDS_EACH -f m | grep receiver"
guest_test+=" && /usr/bin/iperf3 -c 10.79.0.1 -t $SECONDS_EACH -f m -R | grep receiver"

# Boots the guest with the netdev arguments given; prints "UP DOWN" in Mbit/s.
run_guest() {
    local out=$work/guest.log
    "$@" -accel tcg -machine q35,memory-backend=mem -object memory-backend-memfd,id=mem,size=512M,share=on \
        -m 512M -smp 1 -nodefaults -no-user-config -display none -monitor none -serial stdio -no-reboot \
        -kernel "$kernel" -initrd "$initrd" -append "console=ttyS0 panic=-1 quiet bv.test=\"$guest_test\"" \
        >"$out" 2>&1 </dev/null || true
    grep -q 'BUNDLEVISOR-TEST-END rc=0' "$out" || { tail -20 "$out" >&2; die "the guest's iperf3 failed"; }
    awk '/receiver/ { for (i = 1; i < NF; i++) if ($(i + 1) == "Mbits/sec") v[n++] = $i } END { print v[0], v[1] }' "$out"
}

ours() {
    local sock=$work/net.sock
    rm -f "$sock"
    ip netns exec "$ns" "$java" --sun-misc-unsafe-memory-access=allow \
        "-Dbundlevisor.serve=--socket"$'\x1f'"$sock"$'\x1f'"--net"$'\x1f'"tap=$tap" \
        -Dgosh.args=--nointeractive -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -jar "$jar" >"$work/serve.log" 2>&1 &
    serve_pid=$!
    for _ in $(seq 150); do grep -q '^bundlevisor: serving' "$work/serve.log" && break; sleep 0.2; done
    grep -q '^bundlevisor: serving' "$work/serve.log" || { cat "$work/serve.log" >&2; die "our back-end did not start"; }
    run_guest qemu-system-x86_64 -chardev "socket,id=vn,path=$sock" -netdev vhost-user,id=n0,chardev=vn \
        -device virtio-net-pci,netdev=n0,vectors=0
    kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true
    serve_pid=
}

builtin() {
    run_guest ip netns exec "$ns" qemu-system-x86_64 \
        -netdev "tap,id=n0,ifname=$tap,script=no,downscript=no,vhost=off" -device virtio-net-pci,netdev=n0,vectors=0
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

: >"$work/ours" ; : >"$work/qemu"
for r in $(seq "$REPEATS"); do
    log "run $r/$REPEATS: ours"
    ours | tee -a "$work/ours" >&2
    log "run $r/$REPEATS: qemu (tap, vhost=off)"
    builtin | tee -a "$work/qemu" >&2
done
up_ours=$(cut -d' ' -f1 "$work/ours" | median); down_ours=$(cut -d' ' -f2 "$work/ours" | median)
up_qemu=$(cut -d' ' -f1 "$work/qemu" | median); down_qemu=$(cut -d' ' -f2 "$work/qemu" | median)
echo
echo "virtio-net under QEMU TCG, iperf3 TCP ${SECONDS_EACH} s each way, median of $REPEATS ($(date -u +%F), $(nproc) CPUs)"
printf '%-22s %12s %12s %8s %s\n' "direction" "ours Mbit/s" "qemu Mbit/s" "ratio" ""
for d in up down; do
    o=up_ours q=up_qemu label="guest -> host"
    [[ $d == down ]] && o=down_ours q=down_qemu label="host -> guest"
    ratio=$(awk -v a="${!o}" -v b="${!q}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
    verdict=$(awk -v r="$ratio" 'BEGIN { print (r >= 1.0 ? "met (>= 1.0x)" : "MISSED (< 1.0x)") }')
    printf '%-22s %12s %12s %8s %s\n' "$label" "${!o}" "${!q}" "${ratio}x" "$verdict"
done
