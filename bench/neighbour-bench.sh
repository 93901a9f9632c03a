#!/usr/bin/env bash
# A hostile guest next to a good one (issue 16 §4): the good VM's virtio-blk IOPS alone and beside a neighbour VM in
# the same platform, the shell's answer time meanwhile, and the platform's footprint. bench/java/NeighbourBench.java
# runs the blk test guest's bench mode (4 KiB random reads at QD1 and QD32 on a read-only image of random data; the
# host times its BENCH-BEGIN/BENCH-END lines) three ways, rotating the order in each repeat:
#   alone     no neighbour: the reference, measured in the same run
#   spin      beside the hostile guest in hostile.mode=spin: its device set up and left alone, its vCPU busy (what
#             sharing the host's CPUs costs, with no abuse)
#   hostile   beside the hostile guest abusing its own device (platform.kvm/src/guest/hostile.c: notification
#             storms, rings rewritten under the device, maximal chains and loops, config and register floods, resets)
# During each good run a thread calls blk:list's and virtio:devices' implementations every 100 ms and times them.
#
#   bench/neighbour-bench.sh [--quick]
#
# Environment (defaults in brackets, --quick values in braces):
#   N [2000] {500}        random reads per queue depth in each good run
#   REPEATS [5] {1}       runs per condition; medians are reported
#   GOOD_MB [256]         size of the good VM's image (bench/build/neighbour-good.img, random data, written once)
# Targets (issue 16 §4): beside the hostile VM, IOPS >= 0.9x alone; every shell answer < 1 s; the footprint does not
# grow. A miss prints MISSED; the exit status stays 0 whatever the figures.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/bench/build
WORK=$BUILD/neighbour
QUICK=0
case "${1:-}" in
    --quick) QUICK=1 ;;
    "") ;;
    *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
esac
if ((QUICK)); then d_n=500 d_r=1; else d_n=2000 d_r=5; fi
N=${N:-$d_n}
REPEATS=${REPEATS:-$d_r}
GOOD_MB=${GOOD_MB:-256}
for v in N REPEATS GOOD_MB; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "neighbour-bench: $v must be a positive whole number, got '${!v}'" >&2; exit 2; }
done
log() { echo "== $*" >&2; }
die() { echo "neighbour-bench: $*" >&2; exit 1; }

[[ -r /dev/kvm && -w /dev/kvm ]] || die "/dev/kvm is missing or not ours"
command -v python3 >/dev/null || die "python3 is missing"
java=$(ls -d /usr/lib/jvm/*25*/bin/java 2>/dev/null | head -n 1)
[[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]] && java=$JAVA_HOME/bin/java
[[ -x ${java:-} ]] || die "no JDK 25 (set JAVA_HOME)"

cd "$ROOT"
jars=()
for m in platform.core platform.uring platform.kvm device.virtio-blk; do
    j=$(ls "$ROOT/$m/target/$m"-*.jar 2>/dev/null | grep -v -e sources -e tests | head -n 1 || true)
    [[ -n $j ]] || { ./bundlevisor build >&2; j=$(ls "$ROOT/$m/target/$m"-*.jar | grep -v -e sources -e tests | head -n 1); }
    jars+=("$j")
done
slf4j_version=$(sed -n 's:.*<slf4j.version>\(.*\)</slf4j.version>.*:\1:p' "$ROOT/pom.xml")
for a in slf4j-api slf4j-simple; do
    j=~/.m2/repository/org/slf4j/$a/$slf4j_version/$a-$slf4j_version.jar
    [[ -f $j ]] || die "no $j (build the project first)"
    jars+=("$j")
done
make -s -C platform.kvm/src/guest OUT="$ROOT/platform.kvm/target/guests" >&2
# Copies, so that a build beside the benchmark cannot change them under it.
rm -rf "$WORK"
mkdir -p "$WORK/lib" "$WORK/guests"
cp "${jars[@]}" "$WORK/lib/"
cp platform.kvm/target/guests/blk.elf platform.kvm/target/guests/hostile.elf "$WORK/guests/"
good=$BUILD/neighbour-good.img
if [[ ! -f $good || $(stat -c %s "$good") -ne $((GOOD_MB << 20)) ]]; then
    log "writing $good ($GOOD_MB MiB of random data, once)"
    head -c $((GOOD_MB << 20)) /dev/urandom >"$good.tmp" && mv "$good.tmp" "$good"
fi
truncate -s 16M "$WORK/hostile.img"

log "$REPEATS repeats of alone / spin / hostile, $N reads per queue depth (log: $WORK/bench.log, $WORK/bench.err)"
"$java" --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow -Dslf4j.internal.verbosity=WARN \
    -cp "$(printf '%s:' "$WORK"/lib/*.jar)" "$ROOT/bench/java/NeighbourBench.java" \
    "$WORK/guests" "$good" "$WORK/hostile.img" "$N" "$REPEATS" 2>"$WORK/bench.err" | tee "$WORK/bench.log" |
    grep -v '^RESULT' >&2 || die "the benchmark failed (see $WORK/bench.err)"

echo
echo "neighbour bench, $(date -u +%F), $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1))," \
    "kernel $(uname -r), $("$java" -version 2>&1 | head -n 1), tree $(git rev-parse --short HEAD), N=$N, $REPEATS repeats"
python3 - "$WORK/bench.log" <<'PY'
import statistics, sys
r = {}
for line in open(sys.argv[1]):
    if line.startswith("RESULT "):
        _, key, *vals = line.split()
        r.setdefault(key, []).append([float(v) for v in vals])
def values(key):
    return r[key][0]
med = lambda key: statistics.median(values(key))
runs = lambda key, f="{:.0f}": " ".join(f.format(v) for v in values(key))
print("| figure | alone | beside a spinning VM | beside the hostile VM | hostile / alone | target |")
print("| --- | --- | --- | --- | --- | --- |")
for q in ("qd1", "qd32"):
    a, s, h = med("alone." + q), med("spin." + q), med("hostile." + q)
    verdict = "met" if h / a >= 0.9 else "MISSED"
    print(f"| 4 KiB randread {q.upper()}, IOPS | {a:.0f} | {s:.0f} ({s / a:.3f}x) | {h:.0f} ({h / s:.3f}x the spin figure) | "
          f"{h / a:.3f} | >= 0.90 - {verdict} |")
print()
for q in ("qd1", "qd32"):
    print(f"runs {q}: alone {runs('alone.' + q)}; spin {runs('spin.' + q)}; hostile {runs('hostile.' + q)}")
print("host CPUs busy during the good runs (median, all processes): " + ", ".join(
    f"{c} {100 * med(c + '.busy'):.0f} %" for c in ("alone", "spin", "hostile")))
print()
print("| shell command (answer time, ms) | alone: median / max | beside the hostile VM: median / max | calls | target |")
print("| --- | --- | --- | --- | --- |")
for key, name in (("blklist", "blk:list"), ("devices", "virtio:devices")):
    a, h = values("alone." + key), values("hostile." + key)
    worst = max(h)
    print(f"| {name} | {statistics.median(a):.2f} / {max(a):.2f} | {statistics.median(h):.2f} / {worst:.2f} | {len(h)} | "
          f"< 1000 - {'met' if worst < 1000 else 'MISSED'} |")
print()
mib = lambda b: f"{b / 1048576:.1f} MiB"
b, d0, d1, a = r["memory.before"][0], r["memory.during"][0], r["memory.during"][-1], r["memory.after"][0]
print("| footprint (heap after GC, threads, fds) | heap | threads | fds |")
print("| --- | --- | --- | --- |")
for name, m in (("before (no VM)", b), ("beside the hostile VM, first repeat", d0), ("beside the hostile VM, last repeat", d1),
                ("after (every VM closed)", a)):
    print(f"| {name} | {mib(m[0])} | {m[1]:.0f} | {m[2]:.0f} |")
grew = a[0] - b[0] > 4 * 1048576 or a[1] > b[1] or a[2] > b[2] or d1[1] > d0[1] or d1[2] > d0[2]
print(f"footprint: {'MISSED (grew)' if grew else 'met (heap within 4 MiB, no thread or fd left)'}; "
      f"system calls refused on confined threads: {values('refusals')[0]:.0f}")
PY
