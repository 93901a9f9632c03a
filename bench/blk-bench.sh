#!/usr/bin/env bash
# virtio-blk benchmark: our device (device.virtio-blk on the shared io_uring worker) driven by the freestanding
# bench guest on KVM, beside fio with io_uring and O_DIRECT on the same image on the host (the physical limit),
# measured in the same run. See BENCHMARKS.md.
#
#   bench/blk-bench.sh [--quick]
#
# Environment (defaults in brackets, --quick values in braces):
#   BENCH_FILE [bench/build/randread-1g.dat]  the 1 GiB image of random data (written once, reused)
#   GUEST_N [20000] {3000}     4 KiB random reads per queue depth in the guest
#   SEQ_MB [1024] {256}        MiB the guest reads sequentially in 1 MiB requests, SEQ_QD [4] of them in flight
#   FIO_SECONDS [5] {2}        fio's measured time per figure (after a 1 s ramp)
#   REPEATS [3] {1}            runs per figure, alternating ours and fio; the median is reported
# Targets (issue 4): QD32 >= 0.8x fio, sequential >= 0.9x fio. A miss prints MISSED; the exit status stays 0.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/bench/build
QUICK=0
case "${1:-}" in
    --quick) QUICK=1 ;;
    "") ;;
    *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
esac
if ((QUICK)); then d_n=3000 d_mb=256 d_s=2 d_r=1; else d_n=20000 d_mb=1024 d_s=5 d_r=3; fi
BENCH_FILE=${BENCH_FILE:-$BUILD/randread-1g.dat}
GUEST_N=${GUEST_N:-$d_n}
SEQ_MB=${SEQ_MB:-$d_mb}
SEQ_QD=${SEQ_QD:-4}
FIO_SECONDS=${FIO_SECONDS:-$d_s}
REPEATS=${REPEATS:-$d_r}
for v in GUEST_N SEQ_MB SEQ_QD FIO_SECONDS REPEATS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "blk-bench: $v must be a positive whole number, got '${!v}'" >&2; exit 2; }
done

log() { echo "== $*" >&2; }
die() { echo "blk-bench: $*" >&2; exit 1; }

ensure_packages() {
    local missing=() p
    for p in fio python3; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    local sudo=()
    ((EUID == 0)) || sudo=(sudo)
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q "${missing[@]}" >&2
}

[[ -e /dev/kvm ]] || die "/dev/kvm is missing: the guest side needs KVM"
ensure_packages
mkdir -p "$BUILD"
cd "$ROOT"
./bundlevisor build >&2
make -s -C platform.kvm/src/guest OUT="$ROOT/platform.kvm/target/guests" >&2
GUEST=$ROOT/platform.kvm/target/guests/blk.elf

if [[ ! -f "$BENCH_FILE" || $(stat -c %s "$BENCH_FILE") -ne $((1 << 30)) ]]; then
    log "writing $BENCH_FILE (1 GiB of random data, once)"
    head -c $((1 << 30)) /dev/urandom >"$BENCH_FILE.tmp" && mv "$BENCH_FILE.tmp" "$BENCH_FILE"
fi
sync

# fio on the host: QD -> IOPS (4 KiB random reads); "seq" -> bytes/s (1 MiB sequential reads at SEQ_QD).
fio_run() {
    local rw=randread bs=4k qd=$1
    if [[ $1 == seq ]]; then rw=read bs=1M qd=$SEQ_QD; fi
    fio --name=ref --ioengine=io_uring --direct=1 --rw=$rw --bs=$bs --iodepth="$qd" --norandommap \
        --filename="$BENCH_FILE" --ramp_time=1 --runtime="$FIO_SECONDS" --time_based --output-format=json |
        python3 -c 'import json, sys; j = json.load(sys.stdin)["jobs"][0]["read"]; print(j["iops"] if sys.argv[1] != "seq" else j["bw_bytes"])' "$1"
}

# Our side: the bench guest on a read-only disk; the host timestamps the guest's BEGIN/END console markers.
ours_run() {
    local out=$BUILD/blk-bench-guest.log
    ./bundlevisor run --kernel "$GUEST" --cpus 1 --memory 256M --no-reboot --console stdio \
        --cmdline "blk.mode=bench blk.n=$GUEST_N blk.seqmb=$SEQ_MB blk.seqqd=$SEQ_QD" \
        --disk "$BENCH_FILE,readonly" |
        while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done >"$out"
    python3 - "$out" <<'EOF'
import re, sys
begin, figures = {}, {}
for line in open(sys.argv[1]):
    stamp, _, text = line.rstrip("\n").partition(" ")
    m = re.match(r"BENCH-BEGIN (\w+)", text)
    if m:
        begin[m.group(1)] = float(stamp)
    m = re.match(r"BENCH-END (\w+) (n|bytes)=(\d+)", text)
    if m:
        figures[m.group(1)] = int(m.group(3)) / (float(stamp) - begin[m.group(1)])
    if text.startswith("BLK-FAIL"):
        sys.exit("guest: " + text)
if set(figures) != {"qd1", "qd32", "seq"}:
    sys.exit("the guest did not finish: " + open(sys.argv[1]).read()[-2000:])
print(figures["qd1"], figures["qd32"], figures["seq"])
EOF
}

median() { python3 -c 'import statistics, sys; print(statistics.median(map(float, sys.argv[1:])))' "$@"; }

declare -a o1 o32 oseq f1 f32 fseq
for ((rep = 1; rep <= REPEATS; rep++)); do
    log "run $rep/$REPEATS: ours (bench guest on KVM)"
    read -r a b c < <(ours_run) || die "our run failed (see $BUILD/blk-bench-guest.log)"
    o1+=("$a") o32+=("$b") oseq+=("$c")
    log "run $rep/$REPEATS: fio"
    f1+=("$(fio_run 1)") f32+=("$(fio_run 32)") fseq+=("$(fio_run seq)")
done

report() { # name ours-values fio-values unit scale target
    python3 - "$@" <<'EOF'
import statistics, sys
name, ours, ref, unit, scale, target = sys.argv[1:7]
o = statistics.median(map(float, ours.split())) / float(scale)
r = statistics.median(map(float, ref.split())) / float(scale)
ratio = o / r
t = float(target) if target != "-" else None
verdict = "(information)" if t is None else (f">= {t} - met" if ratio >= t else f">= {t} - MISSED")
runs_o = " ".join(f"{float(x) / float(scale):.1f}" for x in ours.split())
runs_r = " ".join(f"{float(x) / float(scale):.1f}" for x in ref.split())
print(f"| {name} | {o:.1f} {unit} | {r:.1f} {unit} | {ratio:.2f} | {verdict} |   ours: {runs_o}; fio: {runs_r}")
EOF
}

echo
echo "virtio-blk bench, $(date -u +%F), $(nproc) CPUs, kernel $(uname -r), $(fio --version), tree $(git rev-parse --short HEAD)"
echo "| figure | ours (guest on KVM) | fio on the host | ratio | target |"
echo "| --- | --- | --- | --- | --- |"
report "4 KiB randread QD1" "${o1[*]}" "${f1[*]}" kIOPS 1000 -
report "4 KiB randread QD32" "${o32[*]}" "${f32[*]}" kIOPS 1000 0.8
report "1 MiB sequential read, QD$SEQ_QD" "${oseq[*]}" "${fseq[*]}" MiB/s 1048576 0.9
