#!/usr/bin/env bash
# Builds the Linux test-guest kit into <repo>/.guest-kit/ (gitignored), idempotently (Debian/Ubuntu host):
#   vmlinuz            Debian's cloud kernel (linux-image-cloud-amd64 resolves to linux-image-<version>-cloud-amd64)
#   vmlinux            the same kernel uncompressed (ELF), taken out of the bzImage payload
#   initramfs.cpio.gz  busybox-static, the virtio modules, scripts/guest-kit/init as /init and
#                      scripts/guest-kit/bv-blk-test (the virtio-blk checks) as /bin/bv-blk-test (cpio newc, gzip)
#   stamp              the package versions and input hashes the kit was built from
# A second run finds the stamp current and does nothing; --force rebuilds (to pick up a newer kernel).
# Prints the paths it produced, one a line; fails with one line on stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
kit=$root/.guest-kit
init_src=$here/guest-kit/init
blk_test_src=$here/guest-kit/bv-blk-test
meta=linux-image-cloud-amd64
# The drivers the VMM's devices need; their dependencies (virtio, virtio_ring, failover, ...) follow.
roots=(virtio_mmio virtio_pci virtio_blk virtio_net)

fail() {
    echo "guest-kit: $*" >&2
    exit 1
}

outputs() {
    printf '%s\n' "$kit/vmlinuz" "$kit/vmlinux" "$kit/initramfs.cpio.gz"
}

[[ $# -eq 0 || $1 == --force ]] || fail "usage: scripts/guest-kit.sh [--force]"
inputs="inputs=$(cat "${BASH_SOURCE[0]}" "$init_src" "$blk_test_src" | sha256sum | cut -d' ' -f1)"
if [[ ${1:-} != --force && -f $kit/stamp && -f $kit/vmlinuz && -f $kit/vmlinux && -f $kit/initramfs.cpio.gz ]] \
    && grep -qxF "$inputs" "$kit/stamp"; then
    outputs
    exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log=$tmp/log

# Runs apt-get update once, and only when a lookup or download failed for lack of package lists.
updated=
apt_update() {
    [[ -z $updated ]] || return 1
    updated=1
    echo "guest-kit: updating the package lists" >&2
    apt-get update -qq >>"$log" 2>&1 || fail "apt-get update failed: $(tail -n1 "$log")"
}

# Installs a missing tool's package (as root), idempotently.
need_tool() {
    local tool=$1 package=$2
    command -v "$tool" >/dev/null 2>&1 && return 0
    [[ $(id -u) -eq 0 ]] || fail "$tool is missing; install it (sudo apt-get install $package)"
    echo "guest-kit: installing $package" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq "$package" >>"$log" 2>&1 || { apt_update && apt-get install -y -qq "$package" >>"$log" 2>&1; } \
        || fail "cannot install $package: $(tail -n1 "$log")"
}

command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1 || fail "needs a Debian or Ubuntu host (apt-get, dpkg-deb)"
need_tool cpio cpio
need_tool gzip gzip

# linux-image-cloud-amd64 is a metapackage; the image is the linux-image-<version>-cloud-amd64 it depends on.
resolve_kernel() {
    apt-cache depends "$meta" 2>/dev/null | awk '!found && $1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; found = 1 }'
}
package=$(resolve_kernel)
if [[ -z $package ]]; then
    apt_update || true
    package=$(resolve_kernel)
fi
[[ -n $package ]] || fail "apt-cache cannot resolve $meta to a kernel image package"
kver=${package#linux-image-}

mkdir -p "$tmp/debs"
# The download says what it fetches and how much (apt's "Get:" lines and its total), not silence until it is done.
download() {
    local size
    size=$(apt-cache show --no-all-versions "$package" busybox-static 2>/dev/null |
        awk '$1 == "Size:" { total += $2 } END { if (total) printf "%.1f MB", total / 1e6 }')
    echo "guest-kit: downloading $package and busybox-static${size:+ ($size)} with apt-get" >&2
    set +o pipefail
    (cd "$tmp/debs" && apt-get download "$package" busybox-static) 2>&1 | tee -a "$log" |
        grep --line-buffered -E '^(Get:|Fetched|E:)' | sed -u 's/^/guest-kit: /' >&2
    local rc=${PIPESTATUS[0]}
    set -o pipefail
    return "$rc"
}
if ! download; then
    apt_update || true
    download || fail "apt-get download $package busybox-static failed: $(grep -m1 '^E:' "$log" || tail -n1 "$log")"
fi
kdeb=$(echo "$tmp"/debs/linux-image-*.deb)
bdeb=$(echo "$tmp"/debs/busybox-static_*.deb)
[[ -f $kdeb && -f $bdeb ]] || fail "apt-get download did not produce both packages"
kernel_version=$(dpkg-deb -f "$kdeb" Version)
busybox_version=$(dpkg-deb -f "$bdeb" Version)
echo "guest-kit: $package $kernel_version, busybox-static $busybox_version" >&2

dpkg-deb -x "$kdeb" "$tmp/kernel" || fail "cannot extract $(basename "$kdeb")"
dpkg-deb -x "$bdeb" "$tmp/busybox" || fail "cannot extract $(basename "$bdeb")"
vmlinuz=$tmp/kernel/boot/vmlinuz-$kver
[[ -f $vmlinuz ]] || fail "$package has no boot/vmlinuz-$kver"
moddir=$tmp/kernel/lib/modules/$kver
[[ -d $moddir ]] || moddir=$tmp/kernel/usr/lib/modules/$kver
[[ -d $moddir ]] || fail "$package has no lib/modules/$kver"
[[ -x $tmp/busybox/bin/busybox ]] || fail "busybox-static has no bin/busybox"

# --- vmlinux: the bzImage's compressed payload, decompressed (the method of the kernel's extract-vmlinux, but
# located through the setup header rather than by scanning): Documentation/arch/x86/boot.rst, protocol 2.08+:
# payload_offset (0x248) and payload_length (0x24C) are relative to the protected-mode code, which starts at
# (setup_sects (0x1F1) + 1) * 512. The kernel's build appends the uncompressed size (32-bit little endian) to
# the payload (gzip's own trailer is the same), which checks the result.
le() { # le FILE OFFSET BYTES: an unsigned little-endian integer
    od -An -t "u$3" -j "$2" -N "$3" --endian=little "$1" | tr -d ' '
}
[[ $(od -An -c -j 0x202 -N 4 "$vmlinuz" | tr -d ' ') == HdrS ]] || fail "$(basename "$vmlinuz") is not a bzImage"
setup_sects=$(le "$vmlinuz" 0x1F1 1)
((setup_sects != 0)) || setup_sects=4
payload_offset=$(( (setup_sects + 1) * 512 + $(le "$vmlinuz" 0x248 4) ))
payload_length=$(le "$vmlinuz" 0x24C 4)
size=$(stat -c %s "$vmlinuz")
((payload_length > 4 && payload_offset + payload_length <= size)) || fail "vmlinuz payload lies outside the file"
dd if="$vmlinuz" of="$tmp/payload" bs=1M iflag=skip_bytes,count_bytes skip="$payload_offset" \
    count="$payload_length" status=none || fail "cannot read the vmlinuz payload"
magic=$(od -An -tx1 -N 6 "$tmp/payload" | tr -d ' ')
case $magic in
1f8b*) tool=gzip pkg=gzip format=gzip ;;
425a68*) tool=bzip2 pkg=bzip2 format=bzip2 ;;
5d0000*) tool=xz pkg=xz-utils format=lzma ;;
fd377a585a00) tool=xz pkg=xz-utils format=xz ;;
894c5a4f*) tool=lzop pkg=lzop format=lzo ;;
02214c18*) tool=lz4 pkg=lz4 format=lz4 ;;
28b52ffd*) tool=zstd pkg=zstd format=zstd ;;
*) fail "vmlinuz payload has an unknown compression (magic $magic)" ;;
esac
need_tool "$tool" "$pkg"
case $format in
lzma) decompress=(xz -dc --format=lzma) ;;
*) decompress=("$tool" -dc) ;;
esac
# The size trailer is trailing garbage to some decompressors: their status is ignored, the result is checked.
"${decompress[@]}" <"$tmp/payload" >"$tmp/vmlinux" 2>>"$log" || true
expected=$(le "$tmp/payload" $((payload_length - 4)) 4)
[[ $(od -An -c -N 4 "$tmp/vmlinux" | tr -d ' ') == 177ELF ]] || fail "the $format payload of vmlinuz is not an ELF"
(( $(stat -c %s "$tmp/vmlinux") % 4294967296 == expected )) \
    || fail "the $format payload of vmlinuz decompressed to the wrong size"

# --- initramfs
rootfs=$tmp/rootfs
mkdir -p "$rootfs"/{bin,dev,proc,sys,tmp,lib/modules}
cp "$tmp/busybox/bin/busybox" "$rootfs/bin/busybox"
ln -s busybox "$rootfs/bin/sh"
install -m 0755 "$init_src" "$rootfs/init"
install -m 0755 "$blk_test_src" "$rootfs/bin/bv-blk-test"
# A console node lets the kernel give /init its stdio; without root, /init reopens it after mounting devtmpfs.
mknod -m 0600 "$rootfs/dev/console" c 5 1 2>/dev/null || true

builtin=$moddir/modules.builtin
declare -A placed=()
order=()
# add_module NAME: copies the module (decompressed) after the modules it depends on (its modinfo "depends=").
add_module() {
    local name=${1//-/_} file dep deps
    [[ -z ${placed[$name]:-} ]] || return 0
    placed[$name]=1
    if [[ -f $builtin ]] && grep -qE "/(${name}|${name//_/-})\.ko\$" "$builtin"; then
        return 0 # built into the kernel
    fi
    file=$(find "$moddir/kernel" \( -name "$name.ko*" -o -name "${name//_/-}.ko*" \) -print -quit)
    [[ -n $file ]] || fail "$package has no module $name"
    case $file in
    *.ko) cp "$file" "$rootfs/lib/modules/$name.ko" ;;
    *.ko.xz) xz -dc "$file" >"$rootfs/lib/modules/$name.ko" ;;
    *.ko.zst) need_tool zstd zstd && zstd -qdc "$file" >"$rootfs/lib/modules/$name.ko" ;;
    *.ko.gz) gzip -dc "$file" >"$rootfs/lib/modules/$name.ko" ;;
    *) fail "module $file has an unknown compression" ;;
    esac
    deps=$(tr '\0' '\n' <"$rootfs/lib/modules/$name.ko" | awk '!found && /^depends=/ { sub(/^depends=/, ""); print; found = 1 }')
    for dep in ${deps//,/ }; do
        add_module "$dep"
    done
    order+=("$name")
}
for m in "${roots[@]}"; do
    add_module "$m"
done
printf '%s\n' "${order[@]}" >"$rootfs/lib/modules/load-order"

find "$rootfs" -exec touch -h -d @0 {} +
(cd "$rootfs" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --reproducible --quiet) \
    2>>"$log" | gzip -9n >"$tmp/initramfs.cpio.gz" || fail "cpio failed: $(tail -n1 "$log")"

# --- publish: outputs first, the stamp last, so an interrupted run rebuilds
mkdir -p "$kit"
rm -f "$kit/stamp"
cp "$vmlinuz" "$kit/vmlinuz.tmp" && mv "$kit/vmlinuz.tmp" "$kit/vmlinuz"
mv "$tmp/vmlinux" "$kit/vmlinux"
mv "$tmp/initramfs.cpio.gz" "$kit/initramfs.cpio.gz"
{
    echo "kernel-package=$package"
    echo "kernel-version=$kernel_version"
    echo "kernel-release=$kver"
    echo "kernel-compression=$format"
    echo "busybox-static=$busybox_version"
    echo "modules=${order[*]}"
    echo "$inputs"
} >"$kit/stamp"
outputs
