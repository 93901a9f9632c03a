# Sourced by start-bench.sh and density-bench.sh: platform_bench_setup NAME GUEST checks that the distro jar and the
# test guest GUEST are built, makes bench/build/NAME afresh with a copy of the jar in it (measured, so that a
# rebuild meanwhile cannot swap it), and prints the run's header line. Sets root, guest and work.
platform_bench_setup() {
    local name=$1
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    guest=$root/platform.kvm/target/guests/$2.elf
    [[ -f $root/distro/target/bundlevisor.jar && -f $guest ]] || {
        echo "$name: build first (./bundlevisor build; make -C platform.kvm/src/guest OUT=\$PWD/platform.kvm/target/guests)" >&2
        exit 2
    }
    work=$root/bench/build/$name
    rm -rf "$work"
    mkdir -p "$work"
    cp "$root/distro/target/bundlevisor.jar" "$work/bundlevisor.jar"
    echo "$name: $(date -u +%FT%TZ), $(nproc) CPUs, tree $(git -C "$root" rev-parse --short HEAD)," \
        "$("$JAVA_HOME/bin/java" -version 2>&1 | head -n 1), $(qemu-system-x86_64 --version 2>/dev/null | head -n 1)," \
        "load $(cut -d' ' -f1-3 /proc/loadavg)"
}
