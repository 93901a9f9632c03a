#!/usr/bin/env bash
# Our VMM beside QEMU's microvm on the very same test-guest ELF files (the kit boots on both: our 64-bit entry,
# QEMU's PVH entry), and beside a bare C loop over the same KVM ioctls where that is the limit; all in one run,
# alternating, medians. See bench/README.md and BENCHMARKS.md.
#
#   bench/compare.sh [--quick|--smoke] [--only exits0,exits3,start,blk3,blk0]
#
# Figures (each printed beside its references with the ratio and the target):
#   exits0  exit round trips a second, the guest's loop in kernel mode: OUT to an unclaimed port, 4-byte stores to
#           an unclaimed address; ours (bundlevisor run), QEMU, and bench/c/kvm_exits.c (the least a VMM can do)
#   exits3  the MMIO loop at CPL 3 (port IO cannot run at CPL 3 on kvm_pvm: see platform.kvm/src/guest/exits.c)
#   start   exec to the guest's first serial byte, and to the VMM's exit after the guest's ACPI power-off (the
#           poweroff test guest): ours cold (a new JVM per VM) and QEMU
#   blk3    the blk bench guest's 4 KiB random reads at QD1 and QD32 and 1 MiB sequential reads at QD4, request loop
#           at CPL 3, on the same read-only image: ours (device.virtio-blk, O_DIRECT on io_uring) and QEMU's
#           virtio-blk-device (aio=io_uring, cache=none)
#   blk0    the same random reads with the request loop in kernel mode (emulated on kvm_pvm)
#
# Environment (defaults in brackets, --quick values in braces, --smoke values in parentheses):
#   REPEATS [5] {3} (1)       runs per side and workload, alternating; medians reported
#   EXITS [200000] {50000} (2000)      exits per loop
#   EXITS_WARMUP [20000] (1000)        unmeasured exits before each loop (the steady state is the figure)
#   BLK_N [20000] {5000} (200)         random reads per queue depth
#   BLK_WARMUP [20000] (200)           unmeasured random reads (32 in flight) first
#   SEQ_MB [512] {128} (8)             MiB read sequentially
#   BUNDLEVISOR_JAR [distro/target/bundlevisor.jar, built when missing]  the jar measured (a copy is taken first)
#   BENCH_FILE [bench/build/randread-1g.dat] (bench/build/compare/smoke-64m.dat)  the image of random data (1 GiB,
#                             shared with the other benches; 64 MiB for --smoke), written once and reused
# The exit status is 0 whatever the figures (a measurement), 1 if a side failed to run its guest: --smoke, which CI
# runs, checks that every side still boots every guest and prints every figure.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/bench/build
MODE=full ONLY=exits0,exits3,start,blk3,blk0
while (($#)); do
    case "$1" in
        --quick) MODE=quick ;;
        --smoke) MODE=smoke ;;
        --only) ONLY=${2:?--only needs a list}; shift ;;
        *) echo "usage: $0 [--quick|--smoke] [--only exits0,exits3,start,blk3,blk0]" >&2; exit 2 ;;
    esac
    shift
done
case $MODE in
    full) d=(5 200000 20000 512) ;;
    quick) d=(3 50000 5000 128) ;;
    smoke) d=(1 2000 200 8) ;;
esac
REPEATS=${REPEATS:-${d[0]}} EXITS=${EXITS:-${d[1]}} BLK_N=${BLK_N:-${d[2]}} SEQ_MB=${SEQ_MB:-${d[3]}}
EXITS_WARMUP=${EXITS_WARMUP:-$([[ $MODE == smoke ]] && echo 1000 || echo 20000)}
BLK_WARMUP=${BLK_WARMUP:-$([[ $MODE == smoke ]] && echo 200 || echo 20000)}
if [[ $MODE == smoke ]]; then
    BENCH_FILE=${BENCH_FILE:-$BUILD/compare/smoke-64m.dat} image_mib=64
else
    BENCH_FILE=${BENCH_FILE:-$BUILD/randread-1g.dat} image_mib=1024
fi
for v in REPEATS EXITS EXITS_WARMUP BLK_N BLK_WARMUP SEQ_MB; do
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
gcc -O2 -Wall -Wextra -Werror -o "$BUILD/compare/kvm_exits" bench/c/kvm_exits.c

if [[ ! -f "$BENCH_FILE" || $(stat -c %s "$BENCH_FILE") -ne $((image_mib << 20)) ]]; then
    log "writing $BENCH_FILE ($image_mib MiB of random data, once)"
    head -c $((image_mib << 20)) /dev/urandom > "$BENCH_FILE.tmp" && mv "$BENCH_FILE.tmp" "$BENCH_FILE"
fi

log "compare ($MODE): $REPEATS repeat(s), $EXITS exits, $BLK_N reads per depth, $SEQ_MB MiB sequential; $(nproc) CPUs"
log "$(qemu-system-x86_64 --version | head -n 1); $("$JAVA" -version 2>&1 | head -n 1); kernel $(uname -r)"
exec python3 bench/compare.py --java "$JAVA" --jar "$BUILD/compare/bundlevisor.jar" --guests "$BUILD/compare/guests" \
    --c-loop "$BUILD/compare/kvm_exits" --image "$BENCH_FILE" --repeats "$REPEATS" --exits "$EXITS" \
    --exits-warmup "$EXITS_WARMUP" --blk-warmup "$BLK_WARMUP" \
    --blk-n "$BLK_N" --seq-mb "$SEQ_MB" --only "$ONLY"
