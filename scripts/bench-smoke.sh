#!/usr/bin/env bash
# Every side-by-side benchmark once, briefly, so that none of them rots: each must still build, start every side,
# run every guest and print every figure (the figures themselves are not judged: a smoke run on a busy CI host
# measures nothing). ./bundlevisor test runs it after the tests (BUNDLEVISOR_BENCH_SMOKE=0 skips it); it needs
# /dev/kvm and root for the benches that make taps or namespaces, and fails with the first bench that fails.
#   scripts/bench-smoke.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# smoke NAME COMMAND...: runs it with its output in bench/build/smoke-NAME.log, shown only when it fails.
smoke() {
    local name=$1 start=$SECONDS
    shift
    echo "bench-smoke: $name: $*" >&2
    if ! "$@" > "bench/build/smoke-$name.log" 2>&1; then
        echo "bench-smoke: $name failed; the end of its output (bench/build/smoke-$name.log):" >&2
        tail -n 40 "bench/build/smoke-$name.log" >&2
        exit 1
    fi
    echo "bench-smoke: $name ran in $((SECONDS - start)) s" >&2
}
mkdir -p bench/build
smoke compare bench/compare.sh --smoke
smoke start env REPEATS=1 bench/start-bench.sh --quick
smoke density env COUNTS=1,2 bench/density-bench.sh --quick
smoke vhost-blk-path bench/vhost-blk-path-bench.sh --smoke
smoke mq bench/mq-bench.sh --smoke
smoke near-vp bench/near-vp-bench.sh --smoke
