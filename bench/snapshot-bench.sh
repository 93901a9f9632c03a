#!/usr/bin/env bash
# Snapshot and restore of Linux guests of 256 MiB and 2 GiB, ours beside QEMU's, in the same run: bench/snapshot-bench.py.
#   bench/snapshot-bench.sh            (RUNS=3, SIZES="256 2048" by default)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$ROOT/scripts/test-deps.sh" >&2
[[ -f "$ROOT/distro/target/bundlevisor.jar" ]] || "$ROOT/bundlevisor" build
exec python3 "$ROOT/bench/snapshot-bench.py"
