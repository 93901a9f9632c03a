#!/usr/bin/env bash
# Start-up (issue 17 §4): time from exec to a test guest's first serial byte and to the process's exit.
#   bench/start-bench.sh [--quick]
# Sides, alternating, REPEATS times (7; --quick 2), medians: `./bundlevisor run` cold without the AOT cache
# (BUNDLEVISOR_AOT=off), cold with it (created as a user gets it: a first run records, a background JVM creates),
# `vm:run` in an already running `./bundlevisor shell` (stdin a pipe; the console on a FIFO), QEMU's microvm on the
# same ELF (needs the PVH note the test guests carry), and `java -version` as the JVM's floor. Each beside QEMU, with
# the ratio. It measures a copy of the distro jar taken at the start (BUNDLEVISOR_JAR), with its own cache folder.
# GUEST=name picks another test guest that prints and powers off (poweroff). Needs /dev/kvm, python3, the distro jar
# and the test guests. Exit status 0 whatever the figures.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
repeats=${REPEATS:-7}
[[ ${1:-} == --quick ]] && repeats=${REPEATS:-2}
source "$root/bench/lib/platform-bench.sh"
platform_bench_setup start-bench "${GUEST:-poweroff}"
python3 "$root/bench/start-bench.py" --root "$root" --jar "$work/bundlevisor.jar" --guest "$guest" --work "$work" \
    --repeats "$repeats" --java "$JAVA_HOME/bin/java"
