#!/usr/bin/env bash
# Coverage-guided fuzzing (Jazzer) of every @FuzzTest in the workspace, each for SECONDS (default 30):
#   scripts/fuzz.sh [SECONDS]
# Run after a build (./bundlevisor test runs it with BUNDLEVISOR_FUZZ_SECONDS, 20 by default; 0 skips it). Without
# JAZZER_FUZZ the same tests only replay their committed seeds (MODULE/src/test/resources/.../CLASSInputs/METHOD/),
# as every unit-test run does. A finding fails this script and is written among those seeds as crash-* (or timeout-*:
# an input that ran past its @Timeout, which Jazzer hands to libFuzzer as -timeout; JUnit's own timing of the whole
# run is turned off here): commit it (renamed for what it shows) and it stays a regression test. The corpus grows in MODULE/.cifuzz-corpus/
# (gitignored); copy new entries worth keeping into the seeds.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
seconds=${1:-30}
[[ $seconds =~ ^[0-9]+$ ]] || { echo "fuzz: SECONDS must be a whole number, not '$seconds'" >&2; exit 64; }
status=0
while IFS= read -r file; do
    module=${file%%/src/test/java/*}
    class=$(basename "$file" .java)
    for method in $(grep -A2 '@FuzzTest' "$file" | grep -oE 'void [A-Za-z0-9_]+' | cut -d' ' -f2); do
        # Jazzer writes a finding into the seeds folder only if it exists.
        package_dir=$(dirname "${file#*/src/test/java/}")
        mkdir -p "$module/src/test/resources/$package_dir/${class}Inputs/$method"
        echo "fuzz: $module $class#$method for ${seconds} s" >&2
        if ! JAZZER_FUZZ=1 ./mvnw -B -ntp -q surefire:test -pl "$module" -Dtest="$class#$method" \
            -Djazzer.max_duration="${seconds}s" -Djazzer.instrument='io.bundlevisor.**' \
            -Djunit.jupiter.execution.timeout.mode=disabled \
            -Dsurefire.failIfNoSpecifiedTests=false; then
            echo "fuzz: $class#$method found something: see its crash-* or timeout-* input among the seeds" >&2
            status=1
        fi
    done
done < <(grep -rl --include='*.java' '@FuzzTest' ./*/src/test/java | sed 's|^\./||' | sort)
exit $status
