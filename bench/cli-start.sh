#!/usr/bin/env bash
# How long the command line takes to answer, before and after the launcher parsed it ahead of the framework:
#   bench/cli-start.sh [OLD_JAR]
# Times, alternating and 5 runs each (medians in ms): the JVM's own start (java -version, the floor), a usage error
# (run --cpu 2: a misspelt option), run --help, and a whole run of the poweroff test guest (start to exit); with
# OLD_JAR (a distro jar built from an earlier commit, which parsed inside the running platform: its arguments go
# in -Dbundlevisor.run) the same beside it.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
java=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java
new=$root/distro/target/bundlevisor.jar
old=${1:-}
guest=$root/platform.kvm/target/guests/poweroff.elf
[[ -f $new && -f $guest ]] || { echo "cli-start: build first (./bundlevisor build, and the test guests)" >&2; exit 2; }

ms() {
    local s e
    s=$(date +%s%N)
    "$@" >/dev/null 2>&1 || true
    e=$(date +%s%N)
    echo $(((e - s) / 1000000))
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
old_run() { "$java" --sun-misc-unsafe-memory-access=allow "-Dbundlevisor.run=$(IFS=$'\x1f'; echo "$*")" \
    -Dgosh.args=--nointeractive -jar "$old"; }
new_run() { "$java" --sun-misc-unsafe-memory-access=allow -jar "$new" run "$@"; }

declare -A t
for i in 1 2 3 4 5; do
    t[floor]+=" $(ms "$java" -version)"
    for side in new old; do
        [[ $side == old && -z $old ]] && continue
        t[$side-error]+=" $(ms ${side}_run --cpu 2)"
        t[$side-help]+=" $(ms ${side}_run --help)"
        t[$side-boot]+=" $(ms ${side}_run --kernel "$guest" --memory 32M)"
    done
done
report() { printf '%-34s %6s ms   (runs:%s)\n' "$1" "$(tr ' ' '\n' <<<"${t[$2]}" | grep . | median)" "${t[$2]}"; }
echo "cli-start: $(date -u +%F) $(nproc) CPUs, $("$java" -version 2>&1 | head -n1)"
report "JVM start (java -version)" floor
report "usage error (run --cpu 2)" new-error
report "run --help" new-help
report "run of the poweroff guest" new-boot
if [[ -n $old ]]; then
    report "before: usage error" old-error
    report "before: run --help" old-help
    report "before: run of the poweroff guest" old-boot
fi
