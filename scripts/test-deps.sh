#!/usr/bin/env bash
# Installs what the tests need beyond the JDK and Maven, idempotently (Debian/Ubuntu):
#   acpica-tools: iasl, which disassembles our ACPI tables in the tests;
#   qemu-system-x86: qemu-system-x86_64, the frontend of the vhost-user tests (distro's VhostUserQemuIT, TCG);
#   iproute2 and busybox-static: the network tests make a namespace with a tap (ip) and talk to the guest from it
#   (busybox nc, sha256sum);
#   util-linux's script: the console and shell tests run the launcher in a pseudo terminal it makes;
#   curl: the API test replays Firecracker's getting-started curl --unix-socket lines;
#   gdb: the gdb stub's tests drive Debian's gdb in batch mode against a test guest;
#   libfuse3-dev and fuse3: virtio-blk's host-fault test compiles a small FUSE file system (the header and
#   pkg-config file) and unmounts it with fusermount3;
#   the guest kit (scripts/guest-kit.sh): Debian's cloud kernel and an initramfs, for the stock-kernel boot test;
#   where /dev/kvm is a software KVM (no VMX/SVM on the CPU), the minimal Linux of scripts/linux-kit.sh, which the
#   Linux-on-our-VMM tests boot there (built once per machine, about 5 minutes; cached outside the work tree).
set -euo pipefail

here=$(dirname "${BASH_SOURCE[0]}")
"$here/guest-kit.sh" >/dev/null
if [[ -e /dev/kvm ]] && ! grep -qwE 'vmx|svm' /proc/cpuinfo; then
    "$here/linux-kit.sh" >/dev/null
fi

need=()
command -v iasl >/dev/null 2>&1 || need+=(acpica-tools)
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v busybox >/dev/null 2>&1 || need+=(busybox-static)
command -v script >/dev/null 2>&1 || need+=(bsdutils)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v gdb >/dev/null 2>&1 || need+=(gdb)
[[ -e /usr/include/fuse3/fuse.h ]] || need+=(libfuse3-dev)
command -v fusermount3 >/dev/null 2>&1 || need+=(fuse3)
[[ ${#need[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
    echo "test-deps: missing ${need[*]}; install them (sudo apt-get install ${need[*]})" >&2
    exit 1
fi
echo "test-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 || {
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}
