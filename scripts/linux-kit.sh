#!/usr/bin/env bash
# Builds Bundlevisor's minimal Linux test guest for hosts whose /dev/kvm is a software KVM (kvm_pvm), where
# Debian's stock kernel takes many minutes to boot and cannot run userspace:
#   vmlinux         Linux from Debian's linux-source-6.1: `make tinyconfig` plus scripts/linux-kit/guest.config,
#                   patched with scripts/linux-kit/*.patch, built as an ELF (our loader enters it in 64-bit mode)
#   initramfs.cpio  busybox-static, scripts/guest-kit/init as /init and scripts/guest-kit/bv-blk-test, uncompressed
#                   (gzip costs the emulated kernel about 50 s)
# Both are cached outside the work tree, under ${BUNDLEVISOR_CACHE:-${XDG_CACHE_HOME:-~/.cache}/bundlevisor}/linux-kit,
# in folders named by the hash of what they are built from (the source package's version, the fragment, the
# patches; busybox's version, init and the test script), so another clone on the same machine finds them built.
# The work tree gets links to them in .guest-kit/linux-min/ (gitignored).
# Installs the Debian packages it needs (as root). The kernel takes about 5 minutes on 2 cores; progress is printed
# on stderr. Prints the two paths (the links), one a line; fails with one line on stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
kit_src=$here/linux-kit
fragment=$kit_src/guest.config
init_src=$here/guest-kit/init
blk_test_src=$here/guest-kit/bv-blk-test
cache=${BUNDLEVISOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bundlevisor}/linux-kit
links=$root/.guest-kit/linux-min
source_package=linux-source-6.1
source_tarball=/usr/src/$source_package.tar.xz

fail() {
    echo "linux-kit: $*" >&2
    exit 1
}
say() {
    echo "linux-kit: $*" >&2
}

[[ $# -eq 0 ]] || fail "usage: scripts/linux-kit.sh"
command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
    || fail "needs a Debian or Ubuntu host (apt-get, dpkg)"

# --- packages: the kernel source and its build tools, busybox
packages=("$source_package" busybox-static flex bison bc libelf-dev gcc make libc6-dev cpio xz-utils patch)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    [[ $(id -u) -eq 0 ]] || fail "missing ${missing[*]}; install them (sudo apt-get install ${missing[*]})"
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    log=$(mktemp)
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1 || {
        apt-get update -qq >>"$log" 2>&1
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$log" 2>&1
    } || fail "cannot install ${missing[*]}: $(grep -m1 '^E:' "$log" || tail -n1 "$log")"
    rm -f "$log"
fi
[[ -f $source_tarball ]] || fail "$source_package is installed but $source_tarball is missing"
source_version=$(dpkg-query -W -f='${Version}' "$source_package")
busybox=$(dpkg-query -L busybox-static | grep -m1 -E '/s?bin/busybox$') || fail "busybox-static has no bin/busybox"
busybox_version=$(dpkg-query -W -f='${Version}' busybox-static)

patches=("$kit_src"/*.patch)
kernel_key=$({ echo "$source_package $source_version"; cat "$fragment" "${patches[@]}"; } | sha256sum | cut -c1-16)
initramfs_key=$({ echo "busybox-static $busybox_version"; cat "$init_src" "$blk_test_src" "${BASH_SOURCE[0]}"; } \
    | sha256sum | cut -c1-16)
kernel_dir=$cache/kernel-$kernel_key
initramfs_dir=$cache/initramfs-$initramfs_key
mkdir -p "$cache"

# One build at a time per cache (two clones testing at once wait for each other).
exec 9>"$cache/.lock"
flock 9

# --- the kernel
if [[ ! -f $kernel_dir/vmlinux ]]; then
    build=$cache/build-$kernel_key
    rm -rf "$build"
    mkdir -p "$build"
    trap 'rm -rf "$build"' EXIT
    say "building Linux $source_version (tinyconfig + guest.config, $(basename -a "${patches[@]}" | paste -sd ' '))" \
        "into $kernel_dir; about 5 minutes on 2 cores, once per machine"
    say "extracting $source_tarball"
    tar -xf "$source_tarball" -C "$build" || fail "cannot extract $source_tarball"
    src=$(echo "$build"/linux-source-*)
    [[ -d $src ]] || fail "$source_tarball has no linux-source-* folder"
    for p in "${patches[@]}"; do
        patch -d "$src" -p1 -s <"$p" >"$build/patch.log" 2>&1 || fail "$(basename "$p") does not apply: $(tail -n1 "$build/patch.log")"
    done
    out=$build/out
    make -s -C "$src" O="$out" tinyconfig >"$build/config.log" 2>&1 || fail "make tinyconfig failed: $(tail -n1 "$build/config.log")"
    "$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "$fragment" >>"$build/config.log" 2>&1 \
        || fail "merging guest.config failed: $(tail -n1 "$build/config.log")"
    make -s -C "$src" O="$out" olddefconfig >>"$build/config.log" 2>&1 || fail "make olddefconfig failed"
    # Every option of the fragment must have survived the dependencies: a silently dropped one is a broken guest.
    while read -r line; do
        case $line in
        CONFIG_*=*) grep -qxF "$line" "$out/.config" || fail "guest.config: $line did not take (a dependency is missing)" ;;
        "# CONFIG_"*" is not set")
            option=${line#\# }
            option=${option%% *}
            ! grep -q "^$option=" "$out/.config" || fail "guest.config: $option is still set"
            ;;
        esac
    done <"$fragment"
    jobs=$(nproc)
    say "compiling with $jobs jobs"
    # Progress: a line every 200 objects (the whole build is about 1,200).
    set +e
    make -C "$src" O="$out" -j"$jobs" vmlinux 2>"$build/errors.log" | {
        n=0
        while IFS= read -r line; do
            case $line in
            "  CC "* | "  AS "* | "  AR "* | "  LD "*)
                n=$((n + 1))
                ((n % 200 != 0)) || say "$n objects built"
                ;;
            esac
        done
        say "$n objects built"
    }
    status=${PIPESTATUS[0]}
    set -e
    [[ $status -eq 0 && -f $out/vmlinux ]] || fail "the kernel build failed: $(grep -m1 -E 'error|Error' "$build/errors.log" || tail -n1 "$build/errors.log")"
    mkdir -p "$kernel_dir.tmp"
    cp "$out/vmlinux" "$out/.config" "$kernel_dir.tmp/"
    echo "$source_package $source_version" >"$kernel_dir.tmp/source"
    rm -rf "$kernel_dir"
    mv "$kernel_dir.tmp" "$kernel_dir"
    rm -rf "$build"
    trap - EXIT
    say "built $kernel_dir/vmlinux"
fi

# --- the initramfs
if [[ ! -f $initramfs_dir/initramfs.cpio ]]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    rootfs=$tmp/rootfs
    mkdir -p "$rootfs"/{bin,dev,proc,sys,tmp,lib/modules}
    cp "$busybox" "$rootfs/bin/busybox"
    # The applet links, made here: /init would make them with a system call each, slow on a software KVM.
    for applet in $("$busybox" --list); do
        [[ -e $rootfs/bin/$applet ]] || ln -s busybox "$rootfs/bin/$applet"
    done
    install -m 0755 "$init_src" "$rootfs/init"
    install -m 0755 "$blk_test_src" "$rootfs/bin/bv-blk-test"
    : >"$rootfs/lib/modules/load-order" # everything is built in
    mknod -m 0600 "$rootfs/dev/console" c 5 1 2>/dev/null || true
    find "$rootfs" -exec touch -h -d @0 {} +
    (cd "$rootfs" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --reproducible --quiet) \
        >"$tmp/initramfs.cpio" || fail "cpio failed"
    mkdir -p "$initramfs_dir.tmp"
    mv "$tmp/initramfs.cpio" "$initramfs_dir.tmp/"
    echo "busybox-static $busybox_version" >"$initramfs_dir.tmp/source"
    rm -rf "$initramfs_dir"
    mv "$initramfs_dir.tmp" "$initramfs_dir"
    rm -rf "$tmp"
    trap - EXIT
fi

mkdir -p "$links"
ln -sfn "$kernel_dir/vmlinux" "$links/vmlinux"
ln -sfn "$initramfs_dir/initramfs.cpio" "$links/initramfs.cpio"
printf '%s\n' "$links/vmlinux" "$links/initramfs.cpio"
