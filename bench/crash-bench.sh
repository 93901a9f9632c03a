#!/usr/bin/env bash
# Crash consistency under SIGKILL (issue 16 §3):
#   bench/crash-bench.sh [ROUNDS]          (20 by default) the blk test guest's journal on our VMM, below
#   bench/crash-bench.sh serve [ROUNDS]    `bundlevisor serve` under Linux in QEMU (VhostUserQemuIT's kill test)
#   bench/crash-bench.sh linux [ROUNDS]    Linux on our VMM (LinuxGuestIT's kill test; 40-80 s a round here)
# The serve and linux modes run those distro tests for ROUNDS rounds (-Dbundlevisor.crash.rounds): each round kills
# the whole platform process right after a write Linux saw flushed (bv-blk-test acked), at a random point, checks
# the image holds every flushed write, and starts the next round on the same image (its lock must be free).
# Boots the blk test guest in its journal mode (platform.kvm/src/guest/blk_journal.c) with `bundlevisor run` (the
# distro jar) on one image, ROUNDS times. Each round waits for a random number of the guest's "BLK-FLUSHED k" lines
# (1..MAX_LINES) and then a random delay (none in about half the rounds, else 1..MAX_DELAY_MS), SIGKILLs the java
# process (the whole platform: there is no other), checks that nothing of it is left and nothing holds the image,
# and reads the image with bench/java/JournalCheck.java: every record the guest saw flushed must be there, intact.
# The image persists across rounds (a fresh one at the start): each round's run must open it again (the killed
# run's lock gone) and its guest goes on from the highest record it finds. Exit status 0 only if every round was
# consistent. SEED=N makes the kill points repeat (bash's $RANDOM); the guest's batches stay random.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ ${1:-} == serve || ${1:-} == linux ]]; then
    mode=$1
    rounds=${2:-20}
    [[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "usage: bench/crash-bench.sh serve|linux [ROUNDS]" >&2; exit 2; }
    test=$([[ $mode == serve ]] && echo 'VhostUserQemuIT#aKilledBackendKeepsEveryFlushedWrite' \
        || echo 'LinuxGuestIT#aKilledPlatformKeepsEveryWriteLinuxSawFlushed')
    echo "crash-bench: $(date -u +%F) $mode, $rounds rounds, $(nproc) CPUs, $(uname -r) ($test)"
    start=$(date +%s)
    cd "$root"
    mkdir -p bench/build
    status=0
    ./mvnw -B -ntp -o -q verify -pl distro -Dtest=none -Dsurefire.failIfNoSpecifiedTests=false -Dit.test="$test" \
        -Dbundlevisor.crash.rounds="$rounds" >"$root/bench/build/crash-bench-$mode.log" 2>&1 || status=$?
    report=$root/distro/target/failsafe-reports/TEST-io.bundlevisor.distro.${test%%#*}.xml
    grep -a -o 'crash round [0-9]* of [0-9]*: .*consistent' "$report" || true
    consistent=$(grep -a -c 'crash round [0-9]* of [0-9]*: .*consistent' "$report" || true)
    echo "crash-bench: $consistent of $rounds rounds consistent ($(($(date +%s) - start)) s; Maven's log:" \
        "bench/build/crash-bench-$mode.log)"
    ((status == 0 && consistent == rounds))
    exit
fi
rounds=${1:-20}
MAX_LINES=${MAX_LINES:-40}
MAX_DELAY_MS=${MAX_DELAY_MS:-100}
SEED=${SEED:-$$}
java_home=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
java=$java_home/bin/java
jar=$root/distro/target/bundlevisor.jar
guest=$root/platform.kvm/target/guests/blk.elf
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "usage: bench/crash-bench.sh [ROUNDS]" >&2; exit 2; }
if [[ ! -f $jar || ! -f $guest ]]; then
    echo "crash-bench: build first (./bundlevisor build, and the test guests)" >&2
    exit 2
fi
[[ -r /dev/kvm && -w /dev/kvm ]] || { echo "crash-bench: /dev/kvm is missing or not ours" >&2; exit 2; }

work=$root/bench/build/crash-bench
rm -rf "$work"
mkdir -p "$work/check"
img=$work/disk.img
truncate -s 2M "$img"
img=$(realpath "$img")
# Copies, so that a build beside the benchmark cannot change them under it.
cp "$jar" "$work/bundlevisor.jar"
cp "$guest" "$work/blk.elf"
jar=$work/bundlevisor.jar guest=$work/blk.elf
"$java_home/bin/javac" -d "$work/check" "$root/bench/java/JournalCheck.java"
export BUNDLEVISOR_CACHE=$work/cache # the killed runs' folders: each launch removes its predecessors'
RANDOM=$SEED

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# Processes with the image open (none may be left once the platform is killed).
holders() { { find /proc/[0-9]*/fd -lname "$img" 2>/dev/null || true; } | cut -d/ -f3 | sort -u | tr '\n' ' '; }
last_flushed() { { grep -a -o '^BLK-FLUSHED [0-9]*$' "$1" || true; } | tail -n 1 | cut -d' ' -f2; }

echo "crash-bench: $(date -u +%F) $rounds rounds, $(nproc) CPUs, $(uname -r), $("$java" -version 2>&1 | head -n 1)," \
    "seed $SEED, kill after 1..$MAX_LINES BLK-FLUSHED lines + 0..$MAX_DELAY_MS ms"
consistent=0
logs=()
start_all=$(now_ms)
for ((r = 1; r <= rounds; r++)); do
    log=$work/round-$r.console
    err=$work/round-$r.err
    logs+=("$log")
    lines=$((1 + RANDOM % MAX_LINES))
    delay=$((RANDOM % 2 ? 1 + RANDOM % MAX_DELAY_MS : 0))
    t0=$(now_ms)
    # As the bundlevisor script runs the jar: java's temporary files in its run folder; exec, so $! is java.
    (
        run_dir=$BUNDLEVISOR_CACHE/run/$BASHPID
        mkdir -p "$run_dir"
        exec "$java" --sun-misc-unsafe-memory-access=allow -Djava.io.tmpdir="$run_dir" -jar "$jar" run \
            --kernel "$guest" --cmdline "blk.mode=journal" --disk "path=$img" --memory 32M
    ) </dev/null >"$log" 2>"$err" &
    pid=$!
    verdict="" started="" t_start="" seen=0
    while :; do
        if [[ -z $started ]] && started=$(grep -a -m 1 '^BLK-JOURNAL-START ' "$log"); then
            t_start=$(now_ms)
        fi
        seen=$(grep -a -c '^BLK-FLUSHED [0-9]*$' "$log" || true)
        ((seen >= lines)) && break
        if ! kill -0 "$pid" 2>/dev/null || grep -a -q '^BLK-FAIL' "$log"; then
            verdict="the platform or guest ended first: $(grep -a -m 1 '^BLK-FAIL' "$log" || head -c 300 "$err")"
            break
        fi
        if (($(now_ms) - t0 > 90000)); then
            verdict="no $lines BLK-FLUSHED lines in 90 s"
            break
        fi
        sleep 0.01
    done
    k_seen=$(last_flushed "$log")
    if ((delay > 0)); then
        sleep "$(printf '0.%03d' "$delay")"
    fi
    t_kill=$(now_ms)
    kill -KILL "$pid" 2>/dev/null || true
    rc=0
    wait "$pid" 2>/dev/null || rc=$? # (bash would report the job as Killed)
    if [[ -z $verdict ]]; then
        left=$(holders)
        if [[ -e /proc/$pid ]]; then
            verdict="process $pid survived SIGKILL"
        elif [[ $rc != 137 ]]; then
            verdict="the platform exited $rc before the kill"
        elif [[ -n $left ]]; then
            verdict="the image is still open in process(es) $left"
        fi
    fi
    k_log=$(last_flushed "$log")
    if [[ -z $verdict ]]; then
        check=$("$java" -cp "$work/check" JournalCheck "$img" "${logs[@]}") && verdict=ok || verdict="$check"
    fi
    printf '%s; %s (%s; %s); %s\n' "round $r/$rounds: ${started:-no BLK-JOURNAL-START}" \
        "killed $delay ms after BLK-FLUSHED ${k_seen:-none}" "flushed line $seen" \
        "$((t_kill - t0)) ms after launch, $((t_kill - ${t_start:-$t0})) ms after the start line" \
        "console ended at ${k_log:-none}"
    if [[ $verdict == ok ]]; then
        consistent=$((consistent + 1))
        echo "  ${check#journal-check: "$img": }"
    else
        echo "  FAILED: $verdict"
        echo "  (console: $log, stderr: $err)"
    fi
done
echo "crash-bench: $consistent of $rounds rounds consistent ($(( ($(now_ms) - start_all) / 1000 )) s; image $img)"
((consistent == rounds))
