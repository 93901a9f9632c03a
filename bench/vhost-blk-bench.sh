#!/usr/bin/env bash
# vhost-user-blk benchmark: the same Linux guest (the guest kit's Debian kernel, with fio: bench/vhost-blk-kit.sh)
# under qemu-system-x86_64 with TCG, twice on the same image, in the same run:
#   ours      our backend (bundlevisor.serve: the exported jar serving virtio-blk over vhost-user) behind QEMU's
#             vhost-user-blk-pci
#   built-in  QEMU's own virtio-blk-pci (aio=io_uring, cache=none)
# fio in the guest (io_uring, O_DIRECT): 4 KiB random reads at QD1 and QD32, 1 MiB sequential reads at SEQ_QD.
# TCG emulates the guest's CPU, so both columns carry the same (large) guest cost: the ratio is what it shows.
#
#   bench/vhost-blk-bench.sh [--quick]
#
# Environment (defaults in brackets, --quick values in braces):
#   BENCH_FILE [bench/build/randread-1g.dat]  the 1 GiB image of random data (shared with blk-bench.sh; written
#                                             once, reused), served read-only to both
#   FIO_SECONDS [10] {3}   fio's measured time per figure (after a 2 s ramp)
#   SEQ_QD [4]             1 MiB sequential reads in flight
#   CPUS [1]               guest vCPUs (and request queues)
#   REPEATS [1]            runs per side, alternating ours and built-in; the median is reported
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/bench/build
QUICK=0
case "${1:-}" in
    --quick) QUICK=1 ;;
    "") ;;
    *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
esac
if ((QUICK)); then d_s=3; else d_s=10; fi
BENCH_FILE=${BENCH_FILE:-$BUILD/randread-1g.dat}
FIO_SECONDS=${FIO_SECONDS:-$d_s}
SEQ_QD=${SEQ_QD:-4}
CPUS=${CPUS:-1}
REPEATS=${REPEATS:-1}
for v in FIO_SECONDS SEQ_QD CPUS REPEATS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "vhost-blk-bench: $v must be a positive whole number, got '${!v}'" >&2; exit 2; }
done

log() { echo "== $*" >&2; }
die() { echo "vhost-blk-bench: $*" >&2; exit 1; }

source "$ROOT/bench/lib/find-java.sh"
source "$ROOT/bench/lib/distro-jar.sh"

command -v python3 >/dev/null 2>&1 || die "needs python3"
"$ROOT/scripts/test-deps.sh" || die "scripts/test-deps.sh failed (it installs qemu-system-x86 and the guest kit)"
QEMU=$(command -v qemu-system-x86_64) || die "qemu-system-x86_64 is missing (scripts/test-deps.sh installs it)"
INITRD=$("$ROOT/bench/vhost-blk-kit.sh") || die "bench/vhost-blk-kit.sh failed"
KERNEL=$ROOT/.guest-kit/vmlinuz
JAVA=$(find_java)
JAR=$ROOT/distro/target/bundlevisor.jar
cd "$ROOT"
ensure_vhost_jar
mkdir -p "$BUILD"
if [[ ! -f "$BENCH_FILE" || $(stat -c %s "$BENCH_FILE") -ne $((1 << 30)) ]]; then
    log "writing $BENCH_FILE (1 GiB of random data, once)"
    head -c $((1 << 30)) /dev/urandom >"$BENCH_FILE.tmp" && mv "$BENCH_FILE.tmp" "$BENCH_FILE"
fi
sync

SOCKDIR=$(mktemp -d /tmp/bv-vhost-bench.XXXXXX)
SOCKET=$SOCKDIR/blk.sock
BACKEND_PID=
cleanup() {
    [[ -z $BACKEND_PID ]] || { kill "$BACKEND_PID" 2>/dev/null; wait "$BACKEND_PID" 2>/dev/null; } || true
    rm -rf "$SOCKDIR"
}
trap cleanup EXIT

# Our backend on the image, read-only; returns once it listens.
start_backend() {
    local out=$BUILD/vhost-bench-backend.log i
    rm -f "$SOCKET"
    "$JAVA" --sun-misc-unsafe-memory-access=allow \
        "-Dbundlevisor.serve=--socket"$'\x1f'"$SOCKET"$'\x1f'"--disk"$'\x1f'"$BENCH_FILE,readonly,serial=bench,queues=$CPUS" \
        -Dgosh.args=--nointeractive -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -jar "$JAR" \
        </dev/null >"$out" 2>&1 &
    BACKEND_PID=$!
    for ((i = 0; i < 600; i++)); do
        grep -qF "bundlevisor: serving virtio-blk on $SOCKET (vhost-user)" "$out" && return 0
        kill -0 "$BACKEND_PID" 2>/dev/null || die "the backend exited: $(tail -n 5 "$out")"
        sleep 0.1
    done
    die "the backend does not listen after 60 s: $(tail -n 5 "$out")"
}
stop_backend() {
    kill "$BACKEND_PID" 2>/dev/null || true
    wait "$BACKEND_PID" 2>/dev/null || true
    BACKEND_PID=
}

# guest SIDE DISK-ARGS...: boots the guest, runs fio, prints "qd1-IOPS qd32-IOPS seq-bytes/s".
guest() {
    local side=$1 out=$BUILD/vhost-bench-$1.log
    shift
    timeout $((60 + 3 * (FIO_SECONDS + 5))) "$QEMU" -accel tcg -machine q35,memory-backend=mem \
        -object memory-backend-memfd,id=mem,size=1G,share=on -m 1G -smp "$CPUS" \
        -nodefaults -no-user-config -display none -monitor none -serial stdio -no-reboot \
        -kernel "$KERNEL" -initrd "$INITRD" \
        -append "console=ttyS0 panic=-1 quiet bv.test=\"bv-fio-bench vda $FIO_SECONDS $SEQ_QD\"" \
        "$@" </dev/null >"$out" 2>&1 || die "$side: QEMU failed (see $out): $(tail -n 3 "$out")"
    python3 - "$out" <<'EOF'
import re, sys
text = open(sys.argv[1], errors="replace").read()
fail = re.search(r"BV-FAIL.*", text)
if fail:
    sys.exit("guest: " + fail.group(0))
f = {m.group(1): (float(m.group(2)), float(m.group(3)) * 1024) for m in re.finditer(r"BV-FIO (\w+) ([\d.]+) ([\d.]+)", text)}
if set(f) != {"qd1", "qd32", "seq"} or "BV-OK fio" not in text:
    sys.exit("the guest did not finish: " + text[-2000:])
print(f["qd1"][0], f["qd32"][0], f["seq"][1])
EOF
}

declare -a o1 o32 oseq b1 b32 bseq
for ((rep = 1; rep <= REPEATS; rep++)); do
    log "run $rep/$REPEATS: ours (vhost-user-blk-pci, our backend)"
    start_backend
    read -r a b c < <(guest ours -chardev "socket,id=vu,path=$SOCKET" \
        -device "vhost-user-blk-pci,chardev=vu,num-queues=$CPUS") || die "our run failed (see $BUILD/vhost-bench-ours.log)"
    stop_backend
    o1+=("$a") o32+=("$b") oseq+=("$c")
    log "run $rep/$REPEATS: QEMU built-in (virtio-blk-pci, aio=io_uring, cache=none)"
    read -r a b c < <(guest builtin \
        -drive "file=$BENCH_FILE,if=none,id=d,format=raw,cache=none,aio=io_uring,readonly=on" \
        -device "virtio-blk-pci,drive=d,serial=bench,num-queues=$CPUS") || die "the built-in run failed (see $BUILD/vhost-bench-builtin.log)"
    b1+=("$a") b32+=("$b") bseq+=("$c")
done

report() { # name ours-values builtin-values unit scale
    python3 - "$@" <<'EOF'
import statistics, sys
name, ours, ref, unit, scale = sys.argv[1:6]
o = statistics.median(map(float, ours.split())) / float(scale)
r = statistics.median(map(float, ref.split())) / float(scale)
runs = ""
if len(ours.split()) > 1:
    runs = "   ours: " + " ".join(f"{float(x) / float(scale):.2f}" for x in ours.split()) + \
        "; built-in: " + " ".join(f"{float(x) / float(scale):.2f}" for x in ref.split())
print(f"| {name} | {o:.2f} {unit} | {r:.2f} {unit} | {o / r:.2f} |{runs}")
EOF
}

echo
echo "vhost-user-blk bench, $(date -u '+%F %H:%M UTC'), $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) host CPUs, kernel $(uname -r)"
echo "$("$QEMU" --version | head -n 1), TCG, guest: $CPUS vCPU(s), 1 GiB, $(sed -n 's/^kernel-release=//p' "$ROOT/.guest-kit/stamp"), $(sed -n 's/^fio=//p' "$BUILD/vhost-kit/stamp") (io_uring, O_DIRECT, ${FIO_SECONDS} s each), tree $(git rev-parse --short HEAD)"
echo "| test | ours (vhost-user) | QEMU built-in | ratio |"
echo "| --- | --- | --- | --- |"
report "4 KiB randread QD1" "${o1[*]}" "${b1[*]}" kIOPS 1000
report "4 KiB randread QD32" "${o32[*]}" "${b32[*]}" kIOPS 1000
report "1 MiB sequential read, QD$SEQ_QD" "${oseq[*]}" "${bseq[*]}" MiB/s 1048576
