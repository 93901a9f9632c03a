#!/usr/bin/env bash
# Every side-by-side benchmark once, briefly, so that none of them rots: each must still build, start every side,
# run every guest and print every figure (the figures themselves are not judged: a smoke run on a busy CI host
# measures nothing). ./bundlevisor test runs it after the tests (BUNDLEVISOR_BENCH_SMOKE=0 skips it); it needs
# /dev/kvm and root for the benches that make taps or namespaces, and fails with the first bench that fails.
#   scripts/bench-smoke.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
smoke() {
    local start=$SECONDS
    echo "bench-smoke: $*" >&2
    if ! "$@" > "bench/build/smoke-$(basename "$1" .sh).log" 2>&1; then
        echo "bench-smoke: $* failed; its output:" >&2
        tail -n 40 "bench/build/smoke-$(basename "$1" .sh).log" >&2
        exit 1
    fi
    echo "bench-smoke: $1 ran in $((SECONDS - start)) s" >&2
}
mkdir -p bench/build
smoke bench/compare.sh --smoke
