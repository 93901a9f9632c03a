#!/usr/bin/env bash
# Does a device's worker next to its VP help? (issue 18: runOnTarget, a task driver's work next to its VP)
#
# One guest (blk.elf, 4 KiB random reads at CPL 3, queue depths 1 and 32, its VP pinned to the last CPU) on our VMM
# three ways, alternating, medians of the repeats:
#   near  --vp-affinity 0=LAST, -Dbundlevisor.virtio.nearVp=true: the device's worker pinned next to it
#   free  --vp-affinity 0=LAST: the worker left to the scheduler (the default)
#   none  no affinity at all (what a VM gets without --vp-affinity)
# QD1's mean completion latency is 1/IOPS: what the guest waits for each read, host side included.
#
#   bench/near-vp-bench.sh [--quick|--smoke]      BUNDLEVISOR_JAR=jar (default: distro/target/bundlevisor.jar)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/bench/build
MODE=full
case "${1:-}" in
    "") ;;
    --quick) MODE=quick ;;
    --smoke) MODE=smoke ;;
    *) echo "usage: $0 [--quick|--smoke]" >&2; exit 2 ;;
esac
case $MODE in
    full) d=(5 20000 20000) ;;
    quick) d=(3 5000 5000) ;;
    smoke) d=(1 200 200) ;;
esac
REPEATS=${REPEATS:-${d[0]}} BLK_N=${BLK_N:-${d[1]}} BLK_WARMUP=${BLK_WARMUP:-${d[2]}}
die() { echo "near-vp-bench: $*" >&2; exit 1; }
for v in REPEATS BLK_N BLK_WARMUP; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive whole number, got '${!v}'"
done
[[ -e /dev/kvm ]] || die "/dev/kvm is missing"
JAVA=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java
[[ -x $JAVA ]] || die "no java at $JAVA: set JAVA_HOME to a JDK >= 25"
cd "$ROOT"
JAR=${BUNDLEVISOR_JAR:-distro/target/bundlevisor.jar}
[[ -n ${BUNDLEVISOR_JAR:-} || -f $JAR ]] || ./bundlevisor build >&2
[[ -f $JAR ]] || die "no jar at $JAR"
mkdir -p "$BUILD/near-vp"
cp "$JAR" "$BUILD/near-vp/bundlevisor.jar"
make -s -C platform.kvm/src/guest OUT="$BUILD/near-vp/guests" >&2
if [[ $MODE == smoke ]]; then image=$BUILD/near-vp/smoke-64m.dat mib=64; else image=$BUILD/randread-1g.dat mib=1024; fi
if [[ ! -f $image || $(stat -c %s "$image") -ne $((mib << 20)) ]]; then
    echo "== writing $image ($mib MiB of random data, once)" >&2
    head -c $((mib << 20)) /dev/urandom > "$image.tmp" && mv "$image.tmp" "$image"
fi
echo "== near-vp ($MODE): $REPEATS repeat(s), $BLK_N reads per depth; $(nproc) CPUs; $("$JAVA" -version 2>&1 | head -n 1); kernel $(uname -r)" >&2
exec python3 bench/near-vp-bench.py --java "$JAVA" --jar "$BUILD/near-vp/bundlevisor.jar" \
    --elf "$BUILD/near-vp/guests/blk.elf" --image "$image" --repeats "$REPEATS" --n "$BLK_N" --warmup "$BLK_WARMUP" \
    "--ours-opts=${OURS_JAVA_OPTS:-}"
