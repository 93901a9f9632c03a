#!/usr/bin/env python3
"""Start-up: from exec to a test guest's first serial byte, and to the process's exit, for our VMM started cold
without and with the JDK's AOT cache, for a VM started in an already running platform (`vm:run` in the shell), and
for QEMU's microvm on the same ELF file. See bench/start-bench.sh and bench/README.md."""
import argparse
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from platform_shell import WarmVms


def timed(argv, env=None, timeout=60.0, output=True):
    """Runs argv with stdin from /dev/null; returns (seconds to the first stdout byte, seconds to exit, status)."""
    start = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    first = None
    fds = [p.stdout, p.stderr]
    while fds:
        if time.monotonic() - start > timeout:
            p.kill()
            raise RuntimeError(f"{argv[0]}: no exit in {timeout} s")
        ready, _, _ = select.select(fds, [], [], 0.5)
        for f in ready:
            data = os.read(f.fileno(), 65536)
            if not data:
                fds.remove(f)
            elif f is p.stdout and first is None:
                first = time.monotonic() - start
    status = p.wait()
    end = time.monotonic() - start
    if first is None and output:
        raise RuntimeError(f"{' '.join(argv)}: exit {status} without a byte on stdout")
    return first, end, status


def median_ms(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) * 1e3 if xs else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--jar", required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--java", required=True)
    args = ap.parse_args()

    launcher = os.path.join(args.root, "bundlevisor")
    base = dict(os.environ, BUNDLEVISOR_JAR=args.jar, BUNDLEVISOR_CACHE=os.path.join(args.work, "cache"))
    shutil.rmtree(base["BUNDLEVISOR_CACHE"], ignore_errors=True)
    run = [launcher, "run", "--kernel", args.guest, "--memory", "32M"]
    qemu = ["qemu-system-x86_64", "-M", "microvm", "-enable-kvm", "-nodefaults", "-no-user-config", "-nographic",
            "-serial", "stdio", "-m", "32M", "-kernel", args.guest]

    # The AOT cache as a user gets it: the first run records, a background JVM creates the cache.
    t0 = time.monotonic()
    first, end, status = timed(run, base)
    aot_dir = os.path.join(base["BUNDLEVISOR_CACHE"], "aot")
    while not any(f.endswith(".aot") for f in os.listdir(aot_dir)):
        if time.monotonic() - t0 > 120:
            sys.exit("start-bench: no AOT cache after 120 s: " + " ".join(os.listdir(aot_dir)))
        time.sleep(0.1)
    created = time.monotonic() - t0
    print(f"training run (records the AOT configuration): first byte {first * 1e3:.0f} ms, exit {end * 1e3:.0f} ms; "
          f"cache ready {created:.1f} s after its start")

    qemu_ok = True
    try:
        timed(qemu)
    except Exception as e:  # noqa: BLE001 - report and go on without QEMU
        qemu_ok = False
        print(f"start-bench: QEMU microvm cannot boot {args.guest} here: {e}")

    sides = {
        "JVM alone (java -version)": lambda: timed([args.java, "-version"], output=False),
        "ours cold, no AOT cache": lambda: timed(run, dict(base, BUNDLEVISOR_AOT="off")),
        "ours cold, AOT cache": lambda: timed(run, base),
    }
    if qemu_ok:
        sides["QEMU microvm"] = lambda: timed(qemu)
    results = {k: ([], []) for k in sides}
    warm_first, warm_started = [], []
    for i in range(args.repeats):
        for name, f in sides.items():
            a, b, status = f()
            if status != 0 and not name.startswith("JVM"):
                print(f"start-bench: {name}: exit status {status}")
            results[name][0].append(a)
            results[name][1].append(b)
        print(f"repeat {i + 1} (first byte/exit ms): " + ", ".join(
            f"{k} {(v[0][-1] or 0) * 1e3:.0f}/{v[1][-1] * 1e3:.0f}" for k, v in results.items()), flush=True)

    warm = WarmVms(launcher, base, args.guest, args.work)
    try:
        warm.run()  # the first VM of a platform loads the VM code: not counted
        for _ in range(args.repeats):
            a, b = warm.run()
            warm_first.append(a)
            warm_started.append(b)
    finally:
        warm.close()
    print("warm vm:run, first byte ms: " + " ".join(f"{x * 1e3:.1f}" for x in warm_first))

    q = (median_ms(results["QEMU microvm"][0]), median_ms(results["QEMU microvm"][1])) if qemu_ok else (None, None)

    def cell(v, ref):
        if v is None:
            return "-", "-"
        return f"{v:.0f} ms" if v >= 10 else f"{v:.1f} ms", (f"{v / ref:.1f}x" if ref else "-")

    print()
    print(f"| side | first serial byte | ratio to QEMU | exit (power off) | ratio to QEMU |")
    print(f"|---|---|---|---|---|")
    rows = [(k, median_ms(v[0]), median_ms(v[1])) for k, v in results.items()]
    rows.insert(3, ("ours warm (vm:run in a running platform)", median_ms(warm_first), None))
    for name, a, b in rows:
        if name.startswith("JVM"):
            print(f"| {name} | - | - | {b:.0f} ms | - |")
            continue
        fa, ra = cell(a, q[0])
        fb, rb = cell(b, q[1])
        print(f"| {name} | {fa} | {ra} | {fb} | {rb} |")
    print(f"\nwarm: the shell's 'started' prompt after {median_ms(warm_started):.0f} ms (median); "
          f"its power off is not timed (the VM stays until vm:close)")
    target = median_ms(results["ours cold, AOT cache"][0])
    print(f"target: cold start to the first serial byte <= 500 ms: {target:.0f} ms, "
          + ("met" if target <= 500 else "MISSED"))


if __name__ == "__main__":
    main()
