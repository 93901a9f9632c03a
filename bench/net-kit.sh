#!/usr/bin/env bash
# Builds bench/build/net-kit/initramfs.cpio (gitignored), idempotently: the guest kit's initramfs followed by a
# second, uncompressed archive with the host's /usr/bin/iperf3 and every shared library ldd names for it (Debian's
# iperf3; installed when missing). The kernel unpacks both. Prints the initramfs's path. Used by bench/net-bench.sh.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/bench/build/net-kit
fail() {
    echo "net-kit: $*" >&2
    exit 1
}

if ! command -v iperf3 >/dev/null 2>&1; then
    sudo=()
    ((EUID == 0)) || sudo=(sudo)
    echo "net-kit: installing iperf3" >&2
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q iperf3 >&2 ||
        fail "cannot install iperf3 (apt-get install iperf3)"
fi
tool=$(command -v iperf3)
base=$("$ROOT/scripts/guest-kit.sh" | grep 'initramfs.cpio.gz$') || fail "scripts/guest-kit.sh failed"
libs=$(ldd "$tool" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
[[ -n $libs ]] || fail "ldd $tool names no libraries"
stamp="inputs=$({
    sha256sum "${BASH_SOURCE[0]}" "$base" "$tool"
    for l in $libs; do sha256sum "$(readlink -f "$l")"; done
} | sha256sum | cut -d' ' -f1)"
if [[ -f $OUT/initramfs.cpio ]] && grep -qxF "$stamp" "$OUT/stamp" 2>/dev/null; then
    echo "$OUT/initramfs.cpio"
    exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/rootfs/usr/bin"
cp -L "$tool" "$tmp/rootfs/usr/bin/iperf3"
for l in $libs; do
    mkdir -p "$tmp/rootfs$(dirname "$l")"
    cp -L "$l" "$tmp/rootfs$l"
done
find "$tmp/rootfs" -exec touch -h -d @0 {} +
cp "$base" "$tmp/initramfs.cpio"
# An uncompressed archive after a compressed one must start at a 4-byte boundary.
head -c $(((4 - $(stat -c %s "$base") % 4) % 4)) /dev/zero >>"$tmp/initramfs.cpio"
(cd "$tmp/rootfs" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --reproducible --quiet) \
    >>"$tmp/initramfs.cpio" || fail "cpio failed"
mkdir -p "$OUT"
mv "$tmp/initramfs.cpio" "$OUT/initramfs.cpio"
printf '%s\n' "iperf3=$("$tool" --version | head -n 1)" "$stamp" >"$OUT/stamp"
echo "$OUT/initramfs.cpio"
