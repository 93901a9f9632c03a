#!/usr/bin/env bash
# Builds the bench initramfs of bench/vhost-blk-bench.sh, idempotently, into bench/build/vhost-kit/ (gitignored):
#   initramfs.cpio   the guest kit's initramfs.cpio.gz (scripts/guest-kit.sh) followed by an uncompressed cpio
#                    with the host's /usr/bin/fio, every shared library ldd names for it (~80 MB: Debian's fio
#                    links librbd, glusterfs, ...) and /bin/bv-fio-bench (below). The kernel unpacks both.
#   stamp            what it was built from; a second run with the same inputs does nothing
# Installs fio (Debian package) when it is missing. Prints the initramfs's path.
#
# /bin/bv-fio-bench DEV SECONDS SEQ_QD runs fio (io_uring, O_DIRECT, read-only) on /dev/DEV: 4 KiB random reads
# at QD1 and QD32, 1 MiB sequential reads at SEQ_QD, each SECONDS after a 2 s ramp, and prints one line each:
#   BV-FIO <qd1|qd32|seq> <IOPS> <KiB/s>
# then BV-OK fio (or BV-FAIL <reason>).
# /bin/bv-stall-bench DEV SECONDS QD (for bench/update-bench.sh) prints BV-STALL-START qdQD, runs fio's 4 KiB random
# reads at QD for SECONDS logging each completion, then prints each gap of 2 ms or more between completions:
#   BV-GAP qdQD <end, ms from fio's start> <gap ms>
# and BV-STALL-END qdQD ios=N first=MS last=MS.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/bench/build/vhost-kit
fail() {
    echo "vhost-blk-kit: $*" >&2
    exit 1
}

if ! command -v fio >/dev/null 2>&1; then
    sudo=()
    ((EUID == 0)) || sudo=(sudo)
    echo "vhost-blk-kit: installing fio" >&2
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q fio >&2 ||
        fail "cannot install fio (apt-get install fio)"
fi
fio=$(command -v fio)
base=$("$ROOT/scripts/guest-kit.sh" | grep 'initramfs.cpio.gz$') || fail "scripts/guest-kit.sh failed"

# The guest-side bench script, kept here so that the kit's stamp covers it.
read -r -d '' bench_script <<'EOF' || true
#!/bin/sh
# bv-fio-bench DEV SECONDS SEQ_QD (see bench/vhost-blk-kit.sh)
[ $# -eq 3 ] || { echo "BV-FAIL usage: bv-fio-bench DEV SECONDS SEQ_QD"; exit 1; }
dev=/dev/$1 seconds=$2 seqqd=$3
[ -b "$dev" ] || { echo "BV-FAIL no block device $dev"; exit 1; }
run() {
    name=$1
    shift
    out=$(/usr/bin/fio --name="$name" --filename="$dev" --thread --readonly --direct=1 --ioengine=io_uring --norandommap \
        --ramp_time=2 --runtime="$seconds" --time_based --minimal "$@" 2>/tmp/fio.err) \
        || { echo "BV-FAIL fio $name: $(tr '\n' ' ' </tmp/fio.err)"; exit 1; }
    # terse v3: 7 read KiB/s, 8 read IOPS
    echo "$out" | awk -F';' -v name="$name" 'NR == 1 { printf "BV-FIO %s %s %s\n", name, $8, $7 }'
}
run qd1 --rw=randread --bs=4k --iodepth=1
run qd32 --rw=randread --bs=4k --iodepth=32 --iodepth_batch_submit=8 --iodepth_batch_complete_min=1
run seq --rw=read --bs=1M --iodepth="$seqqd"
echo "BV-OK fio"
EOF

# The guest side of bench/update-bench.sh: fio at one queue depth with a per-IO completion log, then every gap of
# 2 ms or more between two completions (fio's clock, ms from the job's start).
read -r -d '' stall_script <<'EOF2' || true
#!/bin/sh
# bv-stall-bench DEV SECONDS QD (see bench/vhost-blk-kit.sh)
[ $# -eq 3 ] || { echo "BV-FAIL usage: bv-stall-bench DEV SECONDS QD"; exit 1; }
dev=/dev/$1 seconds=$2 qd=$3
[ -b "$dev" ] || { echo "BV-FAIL no block device $dev"; exit 1; }
rm -f /tmp/stall_*.log
echo "BV-STALL-START qd$qd"
/usr/bin/fio --name=stall --filename="$dev" --thread --readonly --direct=1 --ioengine=io_uring --norandommap \
    --rw=randread --bs=4k --iodepth="$qd" --iodepth_batch_complete_min=1 --runtime="$seconds" --time_based \
    --write_lat_log=/tmp/stall --log_avg_msec=0 --minimal >/dev/null 2>/tmp/fio.err \
    || { echo "BV-FAIL fio: $(tr '\n' ' ' </tmp/fio.err)"; exit 1; }
# fio's log: completion time (ms from the job's start), latency (ns), direction, size, offset
awk -F', *' -v qd="$qd" '{ t = $1 + 0; if (n > 0 && t - prev >= 2) printf "BV-GAP qd%s %d %d\n", qd, t, t - prev;
    if (n == 0) first = t; prev = t; n++ }
    END { printf "BV-STALL-END qd%s ios=%d first=%d last=%d\n", qd, n, first, prev }' /tmp/stall_clat.1.log
EOF2

libs=$(ldd "$fio" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
[[ -n $libs ]] || fail "ldd $fio names no libraries"
inputs=$({
    sha256sum "${BASH_SOURCE[0]}" "$base" "$fio"
    for l in $libs; do
        sha256sum "$(readlink -f "$l")"
    done
} | sha256sum | cut -d' ' -f1)
if [[ -f $OUT/stamp && -f $OUT/initramfs.cpio ]] && grep -qxF "inputs=$inputs" "$OUT/stamp"; then
    echo "$OUT/initramfs.cpio"
    exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rootfs=$tmp/rootfs
mkdir -p "$rootfs/usr/bin" "$rootfs/bin"
cp -L "$fio" "$rootfs/usr/bin/fio"
for l in $libs; do
    mkdir -p "$rootfs$(dirname "$l")"
    cp -L "$l" "$rootfs$l"
done
printf '%s\n' "$bench_script" >"$rootfs/bin/bv-fio-bench"
printf '%s\n' "$stall_script" >"$rootfs/bin/bv-stall-bench"
chmod 0755 "$rootfs/bin/bv-fio-bench" "$rootfs/bin/bv-stall-bench"
find "$rootfs" -exec touch -h -d @0 {} +
cp "$base" "$tmp/initramfs.cpio"
# The kernel takes an uncompressed archive after a compressed one only at a 4-byte boundary; zeros pad up to it.
head -c $(((4 - $(stat -c %s "$base") % 4) % 4)) /dev/zero >>"$tmp/initramfs.cpio"
(cd "$rootfs" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --reproducible --quiet) \
    >>"$tmp/initramfs.cpio" || fail "cpio failed"
mkdir -p "$OUT"
rm -f "$OUT/stamp"
mv "$tmp/initramfs.cpio" "$OUT/initramfs.cpio"
{
    echo "fio=$("$fio" --version)"
    echo "libraries=$(echo "$libs" | wc -l)"
    echo "inputs=$inputs"
} >"$OUT/stamp"
echo "$OUT/initramfs.cpio"
