#!/usr/bin/env bash
# A device's queues on several worker threads (issue 18): 4 KiB random reads from the blk test guest's mqbench mode,
# vCPU k driving queue k at CPL 3 (kvm_pvm runs CPL 3 natively and emulates CPL 0, see platform.kvm/src/guest/
# user.c), two vCPUs in every VM. Three sides, alternating, medians:
#   q1       --disk IMG,queues=1: one queue, one worker, one vCPU reading (the other halts)
#   q2-w1    --disk IMG,queues=2 with -Dbundlevisor.virtio.workersPerDevice=1: two queues, both on one worker
#   q2-w2    --disk IMG,queues=2 with -Dbundlevisor.virtio.workersPerDevice=2: two queues, a worker each (the default
#            where the host has CPUs to spare beside the two vCPUs; not on a 2-CPU host, after this bench)
# Figures: total IOPS of all queues over the span from the first queue's start to the last one's end (guest TSC),
# and the ratio q2-w2 / q2-w1 (what a second worker buys) and q2-w2 / q1.
#
#   bench/mq-bench.sh [--quick|--smoke]
#
# Environment (defaults in brackets, --quick values in braces, --smoke values in parentheses):
#   REPEATS [5] {3} (1)               runs per side, the sides alternating (their order turns each round)
#   BLK_N [50000] {20000} (500)       measured reads per queue
#   BLK_WARMUP [20000] {10000} (200)  unmeasured reads per queue first (the JIT-compiled steady state is the figure)
#   BLK_QD [32]                       reads in flight per queue
#   BENCH_FILE [/tmp/bundlevisor-mq-1g.img] (/tmp/bundlevisor-mq-64m.img)  the image (1 GiB; 64 MiB for --smoke),
#                                     allocated and filled with random data once, then reused; the disk is opened
#                                     readonly with direct=off, so every read is served from the host's page cache
#                                     (the image is read once first to get it there): the device path is measured,
#                                     not the host's disk
#   BUNDLEVISOR_JAR [distro/target/bundlevisor.jar, built when missing]  the jar measured (a copy is taken first)
#   OURS_JAVA_OPTS []                 JVM options for every side (e.g. -Dbundlevisor.virtio.pollMicros=50)
# The exit status is 0 whatever the figures (a measurement), 1 if a side failed to boot or print its figure.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/bench/build
MODE=full
case "${1:-}" in
    --quick) MODE=quick ;;
    --smoke) MODE=smoke ;;
    "") ;;
    *) echo "usage: $0 [--quick|--smoke]" >&2; exit 2 ;;
esac
case $MODE in
    full) d=(5 50000 20000) ;;
    quick) d=(3 20000 10000) ;;
    smoke) d=(1 500 200) ;;
esac
REPEATS=${REPEATS:-${d[0]}} BLK_N=${BLK_N:-${d[1]}} BLK_WARMUP=${BLK_WARMUP:-${d[2]}} BLK_QD=${BLK_QD:-32}
if [[ $MODE == smoke ]]; then
    BENCH_FILE=${BENCH_FILE:-/tmp/bundlevisor-mq-64m.img} image_mib=64
else
    BENCH_FILE=${BENCH_FILE:-/tmp/bundlevisor-mq-1g.img} image_mib=1024
fi
for v in REPEATS BLK_N BLK_WARMUP BLK_QD; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "mq-bench: $v must be a positive whole number, got '${!v}'" >&2; exit 2; }
done
((BLK_QD <= 32)) || { echo "mq-bench: BLK_QD must be 1..32 (the guest driver's slots)" >&2; exit 2; }

log() { echo "== $*" >&2; }
die() { echo "mq-bench: $*" >&2; exit 1; }

# shellcheck source=lib/find-java.sh
source "$ROOT/bench/lib/find-java.sh"
[[ -e /dev/kvm ]] || die "/dev/kvm is missing: every side needs KVM"
JAVA=$(find_java)
cd "$ROOT"
JAR=${BUNDLEVISOR_JAR:-distro/target/bundlevisor.jar}
[[ -n ${BUNDLEVISOR_JAR:-} || -f $JAR ]] || ./bundlevisor build >&2
[[ -f $JAR ]] || die "no jar at $JAR"
OUT=$BUILD/mq
mkdir -p "$OUT"
WORK=$(mktemp -d "$OUT/run.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# Measured copies, so that a build beside the run cannot swap them halfway.
cp "$JAR" "$WORK/bundlevisor.jar"
make -s -C platform.kvm/src/guest OUT="$OUT/guests" "$OUT/guests/blk.elf" >&2
cp "$OUT/guests/blk.elf" "$WORK/blk.elf"

if [[ ! -f "$BENCH_FILE" || $(stat -c %s "$BENCH_FILE") -ne $((image_mib << 20)) ]]; then
    log "writing $BENCH_FILE ($image_mib MiB of random data, once)"
    fallocate -l $((image_mib << 20)) "$BENCH_FILE.tmp"
    head -c $((image_mib << 20)) /dev/urandom | dd of="$BENCH_FILE.tmp" bs=1M iflag=fullblock conv=notrunc status=none
    mv "$BENCH_FILE.tmp" "$BENCH_FILE"
fi
cat "$BENCH_FILE" >/dev/null # into the page cache: direct=off reads are served from it

SIDES=(q1 q2-w1 q2-w2)
# ours SIDE REP: one VM; prints its total IOPS and the per-queue figures, or fails with the log's end.
ours() {
    local side=$1 rep=$2 queues=2 opts=() log=$OUT/$1-$2.log
    case $side in
        q1) queues=1 ;;
        q2-w1) opts=(-Dbundlevisor.virtio.workersPerDevice=1) ;;
        q2-w2) opts=(-Dbundlevisor.virtio.workersPerDevice=2) ;; # the default only with CPUs to spare
    esac
    # shellcheck disable=SC2086 # OURS_JAVA_OPTS is a list of options
    timeout 300 "$JAVA" --sun-misc-unsafe-memory-access=allow --enable-native-access=ALL-UNNAMED \
        -Djava.io.tmpdir="$WORK" ${OURS_JAVA_OPTS:-} "${opts[@]}" -jar "$WORK/bundlevisor.jar" run \
        --kernel "$WORK/blk.elf" --cpus 2 --memory 256M --no-reboot --console stdio \
        --cmdline "blk.mode=mqbench blk.queues=$queues blk.n=$BLK_N blk.qd=$BLK_QD blk.warmup=$BLK_WARMUP" \
        --disk "$BENCH_FILE,readonly,direct=off,queues=$queues" >"$log" 2>&1 || true
    local text total queue_iops
    text=$(tr -d '\r' <"$log")
    total=$(sed -n 's/^BLK-MQBENCH queues=.* iops=\([0-9]*\) .*/\1/p' <<<"$text")
    queue_iops=$(sed -n 's/^BLK-MQBENCH-QUEUE q=\([0-9]*\) .* iops=\([0-9]*\)$/q\1 \2/p' <<<"$text" | paste -sd' ')
    if [[ -z $total ]] || ! grep -q '^BLK-MQBENCH-OK' <<<"$text"; then
        tail -n 20 "$log" >&2
        die "side $side, run $rep: no figure (log: $log)"
    fi
    echo "$total $queue_iops"
}

log "mq-bench ($MODE): $REPEATS repeat(s), $BLK_N reads per queue after $BLK_WARMUP, QD$BLK_QD; $(nproc) CPUs"
log "$("$JAVA" -version 2>&1 | head -n 1); kernel $(uname -r); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A figures
for ((rep = 1; rep <= REPEATS; rep++)); do
    for ((i = 0; i < ${#SIDES[@]}; i++)); do
        side=${SIDES[$(((i + rep - 1) % ${#SIDES[@]}))]}
        read -r total rest < <(ours "$side" "$rep") || die "side $side, run $rep failed"
        log "run $rep/$REPEATS $side: $total IOPS ($rest)"
        figures[$side]+="$total "
    done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

echo
echo "mq bench ($MODE), $(date -u +%F), $(nproc) CPUs, kernel $(uname -r), load $load_after after, jar $JAR," \
    "guest from tree $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "4 KiB random reads, QD$BLK_QD per queue, $BLK_N per queue after $BLK_WARMUP, 2 vCPUs, page-cached image"
python3 - "${figures[q1]}" "${figures[q2-w1]}" "${figures[q2-w2]}" <<'EOF'
import statistics, sys
names = ["q1: 1 queue, 1 worker", "q2-w1: 2 queues, 1 worker", "q2-w2: 2 queues, 2 workers"]
runs = [[float(x) for x in s.split()] for s in sys.argv[1:4]]
med = [statistics.median(r) for r in runs]
print("| side | median kIOPS | runs (kIOPS) |")
print("| --- | --- | --- |")
for name, m, r in zip(names, med, runs):
    print(f"| {name} | {m / 1000:.1f} | {' '.join(f'{x / 1000:.1f}' for x in r)} |")
print(f"| ratio q2-w2 / q2-w1 (two workers / one) | {med[2] / med[1]:.2f} | |")
print(f"| ratio q2-w2 / q1 | {med[2] / med[0]:.2f} | |")
EOF
