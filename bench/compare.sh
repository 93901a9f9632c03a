#!/usr/bin/env bash
# Our VMM beside QEMU's microvm on the very same test-guest ELF files (the kit boots on both: our 64-bit entry,
# QEMU's PVH entry), and beside a bare C loop over the same KVM ioctls where that is the limit; all in one run,
# alternating, medians. See bench/README.md and BENCHMARKS.md.
#
#   bench/compare.sh [--quick|--smoke] [--only exits0,exits3,start,blk3,blk0,net3]
#
# Figures (each printed beside its references with the ratio and the target):
#   exits0  exit round trips a second, the guest's loop in kernel mode: OUT to an unclaimed port, 4-byte stores to
#           an unclaimed address; ours (bundlevisor run), QEMU, and bench/c/kvm_exits.c (the least a VMM can do)
#   exits3  the MMIO loop at CPL 3 (port IO cannot run at CPL 3 on kvm_pvm: see platform.kvm/src/guest/exits.c)
#   start   exec to the guest's first serial byte, and to the VMM's exit after the guest's ACPI power-off (the
#           poweroff test guest): ours cold (a new JVM per VM), QEMU, and to the first byte ours warm (vm:run typed
#           into a running `bundlevisor shell`, one started for each turn; its first VM is not counted)
#   blk3    the blk bench guest's 4 KiB random reads at QD1 and QD32 and 1 MiB sequential reads at QD4, request loop
#           at CPL 3, on the same read-only image: ours (device.virtio-blk, O_DIRECT on io_uring) and QEMU's
#           virtio-blk-device (aio=io_uring, cache=none)
#   blk0    the same random reads with the request loop in kernel mode (emulated on kvm_pvm)
#   net3    virtio-net: UDP round trips of 512 bytes from the net test guest (loop at CPL 3) through a tap to a C echo
#           on the host (bench/c/udp_echo.c), in a network namespace of its own (root only): ours (device.virtio-net)
#           and QEMU's virtio-net-device (vhost=off: this kernel has no /dev/vhost-net)
#
# Environment (defaults in brackets, --quick values in braces, --smoke values in parentheses):
#   REPEATS [5] {3} (1)       runs per side and workload, alternating; medians reported
#   EXITS [200000] {50000} (2000)      exits per loop
#   EXITS_WARMUP [20000] (1000)        unmeasured exits before each loop (the steady state is the figure)
#   BLK_N [20000] {5000} (200)         random reads per queue depth
#   BLK_WARMUP [20000] (200)           unmeasured random reads (32 in flight) first
#   NET_N [20000] {5000} (200)         UDP round trips measured, NET_WARMUP [20000] (100) before them
#   SEQ_MB [512] {128} (8)             MiB read sequentially
#   BUNDLEVISOR_JAR [distro/target/bundlevisor.jar, built when missing]  the jar measured (a copy is taken first)
#   OURS_JAVA_OPTS []          JVM options for our side (e.g. -Dbundlevisor.virtio.notifyInFlight=true)
#   BENCH_FILE [bench/build/randread-1g.dat] (bench/build/compare/smoke-64m.dat)  the image of random data (1 GiB,
#                             shared with the other benches; 64 MiB for --smoke), written once and reused
# The exit status is 0 whatever the figures (a measurement), 1 if a side failed to run its guest: --smoke, which CI
# runs, checks that every side still boots every guest and prints every figure.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/bench/build
MODE=full ONLY=exits0,exits3,start,blk3,blk0,net3
while (($#)); do
    case "$1" in
        --quick) MODE=quick ;;
        --smoke) MODE=smoke ;;
        --only) ONLY=${2:?--only needs a list}; shift ;;
        *) echo "usage: $0 [--quick|--smoke] [--only exits0,exits3,start,blk3,blk0,net3]" >&2; exit 2 ;;
    esac
    shift
done
case $MODE in
    full) d=(5 200000 20000 512 20000) ;;
    quick) d=(3 50000 5000 128 5000) ;;
    smoke) d=(1 2000 200 8 200) ;;
esac
REPEATS=${REPEATS:-${d[0]}} EXITS=${EXITS:-${d[1]}} BLK_N=${BLK_N:-${d[2]}} SEQ_MB=${SEQ_MB:-${d[3]}}
NET_N=${NET_N:-${d[4]}} NET_WARMUP=${NET_WARMUP:-$([[ $MODE == smoke ]] && echo 100 || echo 20000)}
EXITS_WARMUP=${EXITS_WARMUP:-$([[ $MODE == smoke ]] && echo 1000 || echo 20000)}
BLK_WARMUP=${BLK_WARMUP:-$([[ $MODE == smoke ]] && echo 200 || echo 20000)}
if [[ $MODE == smoke ]]; then
    BENCH_FILE=${BENCH_FILE:-$BUILD/compare/smoke-64m.dat} image_mib=64
else
    BENCH_FILE=${BENCH_FILE:-$BUILD/randread-1g.dat} image_mib=1024
fi
for v in REPEATS EXITS EXITS_WARMUP BLK_N BLK_WARMUP SEQ_MB NET_N NET_WARMUP; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "compare: $v must be a positive whole number, got '${!v}'" >&2; exit 2; }
done

log() { echo "== $*" >&2; }
die() { echo "compare: $*" >&2; exit 1; }

[[ -e /dev/kvm ]] || die "/dev/kvm is missing: every side needs KVM"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 is missing (scripts/test-deps.sh installs it)"
JAVA=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java
[[ -x $JAVA ]] || die "no java at $JAVA: set JAVA_HOME to a JDK >= 25"
cd "$ROOT"
JAR=${BUNDLEVISOR_JAR:-distro/target/bundlevisor.jar}
[[ -n ${BUNDLEVISOR_JAR:-} || -f $JAR ]] || ./bundlevisor build >&2
[[ -f $JAR ]] || die "no jar at $JAR"
mkdir -p "$BUILD/compare"
# Measured copies, so that a build beside the run cannot swap them halfway.
cp "$JAR" "$BUILD/compare/bundlevisor.jar"
make -s -C platform.kvm/src/guest OUT="$BUILD/compare/guests" >&2
gcc -O2 -Wall -Wextra -Werror -o "$BUILD/compare/kvm_exits" bench/c/kvm_exits.c -lpthread
gcc -O2 -Wall -Wextra -Werror -o "$BUILD/compare/udp_echo" bench/c/udp_echo.c

# The net figures' host side: a namespace of our own with the tap, the host's address, a permanent neighbour entry
# for the guest (so no ARP request the guest would leave unanswered stalls a round trip) and the echo.
NETNS="" TAP=bvcmp0 ECHO=""
cleanup() {
    [[ -z $ECHO ]] || kill "$ECHO" 2>/dev/null || true
    [[ -z $NETNS ]] || ip netns del "$NETNS" 2>/dev/null || true
}
trap cleanup EXIT
if [[ ,$ONLY, == *,net3,* ]]; then
    if ((EUID == 0)); then
        NETNS=bvcompare-$$
        ip netns add "$NETNS"
        ip -n "$NETNS" link set lo up
        ip -n "$NETNS" tuntap add dev "$TAP" mode tap
        ip -n "$NETNS" addr add 10.0.0.1/24 dev "$TAP"
        ip -n "$NETNS" link set "$TAP" up
        ip -n "$NETNS" neigh replace 10.0.0.2 lladdr 52:54:00:12:34:56 dev "$TAP" nud permanent
        ip netns exec "$NETNS" "$BUILD/compare/udp_echo" 7000 &
        ECHO=$!
    else
        log "not root: no network namespace and tap, so no net figures"
    fi
fi

if [[ ! -f "$BENCH_FILE" || $(stat -c %s "$BENCH_FILE") -ne $((image_mib << 20)) ]]; then
    log "writing $BENCH_FILE ($image_mib MiB of random data, once)"
    head -c $((image_mib << 20)) /dev/urandom > "$BENCH_FILE.tmp" && mv "$BENCH_FILE.tmp" "$BENCH_FILE"
fi

log "compare ($MODE): $REPEATS repeat(s), $EXITS exits, $BLK_N reads per depth, $SEQ_MB MiB sequential; $(nproc) CPUs"
log "$(qemu-system-x86_64 --version | head -n 1); $("$JAVA" -version 2>&1 | head -n 1); kernel $(uname -r)"
python3 bench/compare.py --java "$JAVA" --jar "$BUILD/compare/bundlevisor.jar" --guests "$BUILD/compare/guests" \
    --c-loop "$BUILD/compare/kvm_exits" --image "$BENCH_FILE" --repeats "$REPEATS" --exits "$EXITS" \
    --exits-warmup "$EXITS_WARMUP" --blk-warmup "$BLK_WARMUP" \
    --blk-n "$BLK_N" --seq-mb "$SEQ_MB" --net-n "$NET_N" --net-warmup "$NET_WARMUP" --netns "$NETNS" --tap "$TAP" \
    "--ours-opts=${OURS_JAVA_OPTS:-}" --only "$ONLY"
