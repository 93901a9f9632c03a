#!/usr/bin/env bash
# virtio-net's data path at full speed, without a guest or TCG: bench/java/NetPathBench.java drives device.virtio-net
# as a backend over memory it owns (the platform's worker, split queue and io_uring, the device bundle, the tap).
#   transmit  ours keeps 256 frames in flight; the reference (bench/c/net_tap_bench.c) writes the same frames from
#             as many buffers to the same tap with write(2) in C: the tap's own limit on this host. The frames go to
#             a MAC nobody has, so the host's stack drops them on arrival, the same for both.
#   receive   net_tap_bench -p sends frames out of a second tap through an AF_PACKET socket (the packet source, the
#             same for both; what the tap cannot queue it drops); ours keeps 256 buffers of 2 KiB posted, the
#             reference (bench/c/net_tap_read.c) reads the tap into as many buffers with read(2). On 2 CPUs the
#             source's CPU is the reader's too.
# Alternating runs, medians.
#
#   bench/net-path-bench.sh [--quick]
#
# Environment (defaults in brackets, --quick values in braces):
#   SECONDS_EACH [3] {1}   measured time per run (after half a second of warm-up)
#   REPEATS [3] {1}        runs per side and frame size
#   SIZES ["64 1500 65536"]  frame bytes (65536: a 64 KiB TCP TSO frame)
# Target (issue 12): ours >= 0.8x the C program. A miss prints MISSED; the exit status stays 0.
#   RX_SIZES ["64 1500"]   frame bytes for the receive path
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/bench/build
QUICK=0
case "${1:-}" in
    --quick) QUICK=1 ;;
    "") ;;
    *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
esac
if ((QUICK)); then d_s=1 d_r=1; else d_s=3 d_r=3; fi
SECONDS_EACH=${SECONDS_EACH:-$d_s}
REPEATS=${REPEATS:-$d_r}
SIZES=${SIZES:-64 1500 65536}
RX_SIZES=${RX_SIZES:-64 1500}
log() { echo "== $*" >&2; }
die() { echo "net-path-bench: $*" >&2; exit 1; }
((EUID == 0)) || die "needs root: it makes a network namespace and a tap"
command -v gcc >/dev/null || die "gcc is missing"

java=$(ls -d /usr/lib/jvm/*25*/bin/java 2>/dev/null | head -n 1)
[[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]] && java=$JAVA_HOME/bin/java
[[ -x ${java:-} ]] || die "no JDK 25 (set JAVA_HOME)"
jars=()
for m in platform.core platform.uring device.virtio-net; do
    j=$(ls "$ROOT/$m/target/$m"-*.jar 2>/dev/null | grep -v sources | head -n 1 || true)
    [[ -n $j ]] || { (cd "$ROOT" && ./bundlevisor build >&2); j=$(ls "$ROOT/$m/target/$m"-*.jar | head -n 1); }
    jars+=("$j")
done
slf4j=$(ls ~/.m2/repository/org/slf4j/slf4j-api/2.*/slf4j-api-2.*.jar 2>/dev/null | sort -V | tail -n 1)
[[ -n $slf4j ]] || die "no slf4j-api in ~/.m2 (build the project first)"
mkdir -p "$BUILD/lib"
cp "${jars[@]}" "$slf4j" "$BUILD/lib/"
cp_line=$(printf '%s:' "$BUILD"/lib/platform.core-*.jar "$BUILD"/lib/platform.uring-*.jar \
    "$BUILD"/lib/device.virtio-net-*.jar "$BUILD"/lib/slf4j-api-*.jar)
gcc -O2 -Wall -o "$BUILD/net_tap_bench" "$ROOT/bench/c/net_tap_bench.c"
gcc -O2 -Wall -o "$BUILD/net_tap_read" "$ROOT/bench/c/net_tap_read.c"

ns=bvpath-$$
tap=bvp0
trap 'ip netns del "$ns" 2>/dev/null' EXIT
ip netns add "$ns"
ip netns exec "$ns" ip tuntap add "$tap" mode tap
ip netns exec "$ns" ip link set "$tap" up
# The receive path's tap: frames sent out of it (AF_PACKET) reach whoever reads it.
ip netns exec "$ns" ip tuntap add bvr0 mode tap
ip netns exec "$ns" ip link set bvr0 up

ours() {
    ip netns exec "$ns" "$java" --enable-native-access=ALL-UNNAMED -Dslf4j.internal.verbosity=ERROR \
        -cp "$cp_line" "$ROOT/bench/java/NetPathBench.java" "$tap" "$1" "$SECONDS_EACH" 2>/dev/null |
        awk '$1 == "frames" { printf "%.0f\n", $2 / $4 }'
}
reference() {
    ip netns exec "$ns" "$BUILD/net_tap_bench" "$tap" "$1" "$SECONDS_EACH" | awk '$1 == "frames" { printf "%.0f\n", $2 / $4 }'
}
# Receive runs: the source sends $1-byte frames out of bvr0 while the reader takes them from it.
receive() {
    local size=$1 reader=$2
    ip netns exec "$ns" "$BUILD/net_tap_bench" -p bvr0 "$size" "$((SECONDS_EACH + 3))" >/dev/null &
    local source=$!
    if [[ $reader == ours ]]; then
        ip netns exec "$ns" "$java" --enable-native-access=ALL-UNNAMED -Dslf4j.internal.verbosity=ERROR \
            -cp "$cp_line" "$ROOT/bench/java/NetPathBench.java" rx bvr0 "$SECONDS_EACH" 2>/dev/null
    else
        ip netns exec "$ns" "$BUILD/net_tap_read" bvr0 "$SECONDS_EACH"
    fi | awk '$1 == "frames" { printf "%.0f\n", $2 / $4 }'
    kill "$source" 2>/dev/null || true
    wait "$source" 2>/dev/null || true
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A o c
for s in $SIZES; do
    : >"$BUILD/path-ours-$s"; : >"$BUILD/path-c-$s"
    for r in $(seq "$REPEATS"); do
        log "$s-byte frames, run $r/$REPEATS: ours"
        ours "$s" | tee -a "$BUILD/path-ours-$s" >&2
        log "$s-byte frames, run $r/$REPEATS: C"
        reference "$s" | tee -a "$BUILD/path-c-$s" >&2
    done
    o[$s]=$(median <"$BUILD/path-ours-$s")
    c[$s]=$(median <"$BUILD/path-c-$s")
done
declare -A ro rc
for s in $RX_SIZES; do
    : >"$BUILD/path-rx-ours-$s"; : >"$BUILD/path-rx-c-$s"
    for r in $(seq "$REPEATS"); do
        log "receive $s-byte frames, run $r/$REPEATS: ours"
        receive "$s" ours | tee -a "$BUILD/path-rx-ours-$s" >&2
        log "receive $s-byte frames, run $r/$REPEATS: C"
        receive "$s" c | tee -a "$BUILD/path-rx-c-$s" >&2
    done
    ro[$s]=$(median <"$BUILD/path-rx-ours-$s")
    rc[$s]=$(median <"$BUILD/path-rx-c-$s")
done
echo
echo "virtio-net transmit path at full speed, frames/s into a tap, median of $REPEATS x ${SECONDS_EACH} s ($(date -u +%F), $(nproc) CPUs)"
printf '%-12s %14s %10s %14s %10s %8s %s\n' "frame" "ours frames/s" "Gbit/s" "C frames/s" "Gbit/s" "ratio" ""
for s in $SIZES; do
    awk -v s="$s" -v a="${o[$s]}" -v b="${c[$s]}" 'BEGIN {
        r = b > 0 ? a / b : 0
        printf "%-12s %14.0f %10.2f %14.0f %10.2f %7.2fx %s\n", (s > 1514 ? "64 KiB TSO" : s " B"), a, a * s * 8 / 1e9,
            b, b * s * 8 / 1e9, r, (r >= 0.8 ? "met (>= 0.8x)" : "MISSED (< 0.8x)") }'
done
echo
echo "virtio-net receive path, frames/s out of a tap (source: C sending through AF_PACKET), median of $REPEATS x ${SECONDS_EACH} s"
printf '%-12s %14s %10s %14s %10s %8s %s\n' "frame" "ours frames/s" "Gbit/s" "C frames/s" "Gbit/s" "ratio" ""
for s in $RX_SIZES; do
    awk -v s="$s" -v a="${ro[$s]}" -v b="${rc[$s]}" 'BEGIN {
        r = b > 0 ? a / b : 0
        printf "%-12s %14.0f %10.2f %14.0f %10.2f %7.2fx %s\n", s " B", a, a * s * 8 / 1e9, b, b * s * 8 / 1e9, r,
            (r >= 0.8 ? "met (>= 0.8x)" : "MISSED (< 0.8x)") }'
done
