#!/usr/bin/env bash
# The vhost-user-blk device path without a guest (issue 17 §3): our back-end (bundlevisor serve --disk, the exported
# jar) beside qemu-storage-daemon's vhost-user-blk export, on the same read-only image, both driven by the same
# front-end at full speed: bench/java/BlkPathBench.java (a vhost-user front-end in Java that owns the "guest" memory,
# keeps QD 4 KiB random reads in flight with indirect descriptors and EVENT_IDX, and sleeps on its call eventfd as a
# VMM's irqfd would). Figures: IOPS at each QD, host CPU per IO of the back-end process (utime+stime from
# /proc/PID/stat) and of the front-end's driving thread. The back-ends alternate, each repeat a fresh process;
# medians are reported beside the reference with the ratio and the target (ours >= 1.0x the IOPS at no more CPU
# per IO); a miss prints MISSED, the exit status stays 0.
#
#   bench/vhost-blk-path-bench.sh [--quick | --smoke]
#
# --quick: one repeat of 1 s per QD (about 25 s; the numbers are not meaningful); --smoke: the same, for CI: it
# fails (exit 1) only if a back-end cannot be driven (no IO, an IO error, wrong data in the first 64 reads).
#
# Environment (defaults in brackets, --quick values in braces):
#   REPEATS [5] {1}        runs per back-end, alternating (the first back-end alternates too)
#   SECONDS_EACH [5] {1}   measured seconds per QD
#   RAMP [1] {0.5}         seconds per QD before measuring (not counted)
#   WARMUP [3] {1}         seconds at QD 32 first, not counted (the JIT of our back-end), the first 64 reads checked
#   DEPTHS ["1 32 128"]    queue depths
#   BENCH_FILE [bench/build/randread-1g.dat]  the 1 GiB file of random data (written once, reused; as uring-bench.sh)
#   JFR [off]              on: record our back-end with JDK Flight Recorder in each run
#                          (bench/build/blk-path/ours-RUN.jfr; it costs a little CPU)
#   OURS_JAVA_OPTS []      extra JVM options for our back-end (e.g. -Dbundlevisor.virtio.pollMicros=50)
#   OURS_B_OPTS []         when set, a third back-end "oursb" alternates with the two: ours with these JVM options
#                          (e.g. -Dbundlevisor.virtio.notifyInFlight=true), compared with qemu-storage-daemon too
#   QSD_OPTS []            extra options for the --export of qemu-storage-daemon (e.g. ",iothread=io0" with
#                          "--object iothread,id=io0" in QSD_ARGS)
#   QSD_ARGS []            extra qemu-storage-daemon arguments
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/bench/build
OUT=$BUILD/blk-path
QUICK=0 SMOKE=0
case "${1:-}" in
    --quick) QUICK=1 ;;
    --smoke) QUICK=1 SMOKE=1 ;;
    "") ;;
    *) echo "usage: $0 [--quick | --smoke]" >&2; exit 2 ;;
esac
if ((QUICK)); then d_r=1 d_s=1 d_ramp=0.5 d_w=1; else d_r=5 d_s=5 d_ramp=1 d_w=3; fi
REPEATS=${REPEATS:-$d_r}
SECONDS_EACH=${SECONDS_EACH:-$d_s}
RAMP=${RAMP:-$d_ramp}
WARMUP=${WARMUP:-$d_w}
DEPTHS=${DEPTHS:-1 32 128}
BENCH_FILE=${BENCH_FILE:-$BUILD/randread-1g.dat}
JFR=${JFR:-off}
QSD_OPTS=${QSD_OPTS:-}
OURS_JAVA_OPTS=${OURS_JAVA_OPTS:-}
OURS_B_OPTS=${OURS_B_OPTS:-}
SIDES=(ours qsd)
[[ -z $OURS_B_OPTS ]] || SIDES=(ours qsd oursb)
QSD_ARGS=${QSD_ARGS:-}
FILE_MIB=1024
[[ $REPEATS =~ ^[1-9][0-9]*$ ]] || { echo "vhost-blk-path-bench: REPEATS must be a positive whole number" >&2; exit 2; }

log() { echo "== $*" >&2; }
die() { echo "vhost-blk-path-bench: $*" >&2; exit 1; }

source "$ROOT/bench/lib/find-java.sh"
source "$ROOT/bench/lib/distro-jar.sh"

QSD=$(command -v qemu-storage-daemon) || die "qemu-storage-daemon is missing (Debian: apt-get install qemu-system-x86)"
JAVA=$(find_java)
JAR=$ROOT/distro/target/bundlevisor.jar
cd "$ROOT"
ensure_vhost_jar
mkdir -p "$OUT/lib"
# The front-end is compiled against a copy of the module jars taken now (others may rebuild them meanwhile).
for m in platform.core platform.uring; do
    j=$(ls "$ROOT/$m/target/$m"-*.jar 2>/dev/null | grep -v sources | head -n 1 || true)
    [[ -n $j ]] || { ./bundlevisor build >&2; j=$(ls "$ROOT/$m/target/$m"-*.jar | grep -v sources | head -n 1); }
    cp "$j" "$OUT/lib/$m.jar"
done
slf4j=$(ls ~/.m2/repository/org/slf4j/slf4j-api/2.*/slf4j-api-2.*.jar 2>/dev/null | sort -V | tail -n 1)
[[ -n $slf4j ]] || die "no slf4j-api in ~/.m2 (build the project first)"
cp "$slf4j" "$OUT/lib/slf4j-api.jar"
cp "$JAR" "$OUT/lib/bundlevisor.jar"
CP=$OUT/lib/platform.core.jar:$OUT/lib/platform.uring.jar:$OUT/lib/slf4j-api.jar
if [[ ! -f $BENCH_FILE || $(stat -c %s "$BENCH_FILE") -ne $((FILE_MIB << 20)) ]]; then
    log "writing $FILE_MIB MiB of random data to $BENCH_FILE"
    dd if=/dev/urandom of="$BENCH_FILE.tmp" bs=1M count=$FILE_MIB oflag=direct status=none
    mv "$BENCH_FILE.tmp" "$BENCH_FILE"
fi
CLK_TCK=$(getconf CLK_TCK)

SOCKDIR=$(mktemp -d /tmp/bv-blk-path.XXXXXX)
SOCKET=$SOCKDIR/blk.sock
BACKEND_PID=
stop_backend() {
    [[ -z $BACKEND_PID ]] || { kill "$BACKEND_PID" 2>/dev/null; wait "$BACKEND_PID" 2>/dev/null; } || true
    BACKEND_PID=
}
trap 'stop_backend; rm -rf "$SOCKDIR"' EXIT

# start_backend ours|qsd RUN: starts the back-end on $SOCKET and returns once it listens.
start_backend() {
    local side=$1 run=$2 log=$OUT/$1-backend.log i jfr=() opts=$OURS_JAVA_OPTS
    rm -f "$SOCKET"
    if [[ $side == ours* ]]; then
        [[ $side != oursb ]] || opts="$OURS_JAVA_OPTS $OURS_B_OPTS"
        [[ $JFR != on ]] || jfr=("-XX:StartFlightRecording=filename=$OUT/$side-$run.jfr,settings=profile")
        # shellcheck disable=SC2086
        "$JAVA" --sun-misc-unsafe-memory-access=allow $opts "${jfr[@]}" -jar "$OUT/lib/bundlevisor.jar" serve \
            --socket "$SOCKET" --disk "$BENCH_FILE,readonly,serial=bench,queues=1" </dev/null >"$log" 2>&1 &
    else
        # locking=off: QEMU's image locks are byte-range locks that any other reader's whole-file OFD read lock
        # (ours, or a VM of ours on the same image run by someone else) refuses; they cost nothing per IO.
        # shellcheck disable=SC2086
        "$QSD" $QSD_ARGS \
            --blockdev "driver=file,node-name=disk,filename=$BENCH_FILE,aio=io_uring,cache.direct=on,read-only=on,locking=off" \
            --export "type=vhost-user-blk,id=exp,node-name=disk,addr.type=unix,addr.path=$SOCKET,writable=off,num-queues=1$QSD_OPTS" \
            </dev/null >"$log" 2>&1 &
    fi
    BACKEND_PID=$!
    for ((i = 0; i < 600; i++)); do
        [[ -S $SOCKET ]] && { [[ $side != ours* ]] || grep -qF "serving virtio-blk on $SOCKET" "$log"; } && return 0
        kill -0 "$BACKEND_PID" 2>/dev/null || die "$side's back-end exited: $(tail -n 5 "$log")"
        sleep 0.1
    done
    die "$side's back-end does not listen after 60 s: $(tail -n 5 "$log")"
}

# drive SIDE RUN: one run of the front-end against a fresh back-end; appends its lines to $OUT/SIDE.runs.
drive() {
    local side=$1 run=$2 out
    start_backend "$side" "$run"
    # shellcheck disable=SC2086
    out=$(timeout $((60 + 10 * SECONDS_EACH)) "$JAVA" --enable-native-access=ALL-UNNAMED \
        -Dslf4j.internal.verbosity=ERROR -Dbench.clkTck="$CLK_TCK" -cp "$CP" "$ROOT/bench/java/BlkPathBench.java" \
        "$SOCKET" "$BENCH_FILE" "$BACKEND_PID" "$WARMUP" "$RAMP" "$SECONDS_EACH" $DEPTHS 2>"$OUT/$side-frontend.err") ||
        die "the front-end failed against $side: $(tail -n 5 "$OUT/$side-frontend.err")"
    stop_backend
    [[ -n $out ]] || die "no figures from the front-end against $side"
    if grep -q 'errors [1-9]' <<<"$out"; then die "IO errors from $side: $out"; fi
    sed "s/^/run $run /" <<<"$out" >>"$OUT/$side.runs"
    awk -v s="$side" '{ printf "  %-5s qd %4d  %8.0f IOPS  back-end %6.0f ns/IO  front-end %6.0f ns/IO\n", s, $2, $4, $12, $10 }' \
        <<<"$out" >&2
}

: >"$OUT/ours.runs"; : >"$OUT/qsd.runs"; : >"$OUT/oursb.runs"
started=$(date +%s)
n=${#SIDES[@]}
for ((r = 1; r <= REPEATS; r++)); do
    # The order rotates from one repeat to the next: each back-end goes first as often as the others.
    order=()
    for ((i = 0; i < n; i++)); do order+=("${SIDES[(i + r - 1) % n]}"); done
    for side in "${order[@]}"; do
        log "run $r/$REPEATS: $side"
        drive "$side" "$r"
    done
done
elapsed=$(($(date +%s) - started))
if ((SMOKE)); then
    echo "vhost-blk-path-bench --smoke: both back-ends driven at QD $DEPTHS, no IO errors, data checked (${elapsed} s)"
fi

# median FILE QD FIELD: the median of a field over the runs at one QD.
median() {
    awk -v qd="$2" -v f="$3" '$4 == qd { print $f }' "$1" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
echo
echo "vhost-user-blk back-ends, 4 KiB random reads driven by bench/java/BlkPathBench.java, median of $REPEATS x" \
    "${SECONDS_EACH} s per QD ($(date -u +%F), $(nproc) CPUs, $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo "ours: bundlevisor serve --disk (distro jar); reference: qemu-storage-daemon $("$QSD" --version | head -n 1 | awk '{ print $3 }') (aio=io_uring, cache.direct=on)"
table() { # table OURS-SIDE LABEL
    echo "$2 vs qemu-storage-daemon:"
    printf '%-6s %12s %12s %7s  %12s %12s %7s  %12s %12s  %s\n' "QD" "ours IOPS" "qsd IOPS" "ratio" \
        "ours ns/IO" "qsd ns/IO" "ratio" "FE ns/IO o" "FE ns/IO q" "target: >= 1.0x IOPS at <= CPU/IO"
    for qd in $DEPTHS; do
        # Fields of a run line: run R qd Q iops N ios N seconds S fe_ns_per_io N be_ns_per_io N kicks_per_io N ...
        oi=$(median "$OUT/$1.runs" "$qd" 6) qi=$(median "$OUT/qsd.runs" "$qd" 6)
        oc=$(median "$OUT/$1.runs" "$qd" 14) qc=$(median "$OUT/qsd.runs" "$qd" 14)
        of=$(median "$OUT/$1.runs" "$qd" 12) qf=$(median "$OUT/qsd.runs" "$qd" 12)
        awk -v qd="$qd" -v oi="$oi" -v qi="$qi" -v oc="$oc" -v qc="$qc" -v of="$of" -v qf="$qf" 'BEGIN {
            ri = qi > 0 ? oi / qi : 0; rc = qc > 0 ? oc / qc : 0
            v = (ri >= 1.0 ? "IOPS met" : "IOPS MISSED") ", " (oc <= qc ? "CPU met" : "CPU MISSED")
            printf "%-6s %12.0f %12.0f %6.2fx  %12.0f %12.0f %6.2fx  %12.0f %12.0f  %s\n", qd, oi, qi, ri, oc, qc, rc, of, qf, v }'
    done
}
table ours "ours (bundlevisor serve${OURS_JAVA_OPTS:+ $OURS_JAVA_OPTS})"
[[ -z $OURS_B_OPTS ]] || { echo; table oursb "oursb (bundlevisor serve $OURS_JAVA_OPTS $OURS_B_OPTS)"; }
echo
echo "per run (IOPS / back-end ns per IO / kicks per IO / calls per IO):"
for side in "${SIDES[@]}"; do
    for qd in $DEPTHS; do
        printf '  %-5s qd %-4s %s\n' "$side" "$qd" "$(awk -v qd="$qd" '$4 == qd { printf "%s%.0f/%.0f/%.3f/%.3f", sep, $6, $14, $16, $18; sep = "  " }' "$OUT/$side.runs")"
    done
done
echo "(back-end ns/IO: the back-end process's utime+stime over the measured time, divided by IOs; FE: the front-end's"
echo " driving thread. Logs and raw lines in $OUT; $elapsed s of runs.)"
