#!/usr/bin/env bash
# Density (issue 17 §4): N idle test guests (idle.elf) in one platform beside N QEMU microvm processes.
#   bench/density-bench.sh [--quick]
# COUNTS (1,10,100; --quick 1,4) VMs of MEMORY MiB (32) each, added one by one to one `./bundlevisor shell` (stdin a
# pipe), measured at each count after 2 s of rest: the platform's RSS and its kinds (/proc/PID/status), PSS
# (smaps_rollup), threads, the guest RAM actually touched (the RSS of the guest-RAM memfd mappings in smaps), and how
# long the Nth VM took (vm:run to 'started', and to its 'idle: up' in its console file). Then the same count of QEMU
# microvm processes on the same ELF (summed; guest RAM touched: the RSS of each one's anonymous RAM mapping). Twice:
# idle (10 timer interrupts a second) and light IO (a console line per tick). QEMU=off skips QEMU. Needs /dev/kvm,
# python3, the distro jar and the test guests (idle.elf). Exit status 0 whatever the figures.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
counts=${COUNTS:-1,10,100}
[[ ${1:-} == --quick ]] && counts=${COUNTS:-1,4}
source "$root/bench/lib/platform-bench.sh"
platform_bench_setup density-bench idle
python3 "$root/bench/density-bench.py" --root "$root" --jar "$work/bundlevisor.jar" --guest "$guest" --work "$work" \
    --counts "$counts" --memory "${MEMORY:-32}" --qemu "${QEMU:-on}"
