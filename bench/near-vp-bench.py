#!/usr/bin/env python3
"""The near/free/none sides of bench/near-vp-bench.sh: the blk bench guest at CPL 3, timed on the host's clock as
bench/compare.py times it (BENCH-BEGIN/BENCH-END lines), the sides' order rotating every repeat."""
import argparse
import os
import statistics
import sys

from compare import GuestFailed, run_guest


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--java", required=True)
    p.add_argument("--jar", required=True)
    p.add_argument("--elf", required=True)
    p.add_argument("--image", required=True)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--warmup", type=int, default=20000)
    p.add_argument("--ours-opts", default="")
    a = p.parse_args()
    last = str(os.cpu_count() - 1)
    sides = {
        "near": (["--vp-affinity", f"0={last}"], ["-Dbundlevisor.virtio.nearVp=true"]),
        "free": (["--vp-affinity", f"0={last}"], []),
        "none": ([], []),
    }
    # Two guests: one that polls for its completions at CPL 3 (its VP never sleeps), and one that waits for the
    # device's interrupt in HLT at CPL 0 (its VP sleeps in KVM, as a Linux guest's does on a synchronous read;
    # kernel mode is emulated here, so a quarter of the reads).
    kinds = {
        "poll": f"blk.mode=bench blk.cpl=3 blk.n={a.n} blk.warmup={a.warmup} blk.seqmb=1",
        "halt": f"blk.mode=bench blk.irq=1 blk.n={max(1, a.n // 4)} blk.warmup={max(1, a.warmup // 4)} blk.seqmb=1",
    }
    results = {(k, s): {"qd1": [], "qd32": []} for k in kinds for s in sides}
    runs = [(k, s) for k in kinds for s in sides]
    for r in range(a.repeats):
        for kind, side in runs[r % len(runs):] + runs[:r % len(runs)]:
            run_args, jvm = sides[side]
            cmdline = kinds[kind]
            argv = [a.java, "--sun-misc-unsafe-memory-access=allow", "--enable-native-access=ALL-UNNAMED",
                    *a.ours_opts.split(), *jvm, "-jar", a.jar, "run", "--kernel", a.elf, "--memory", "256M",
                    "--cmdline", cmdline, "--disk", f"{a.image},readonly=on", *run_args]
            try:
                spans, _, _, _ = run_guest(argv, timeout=600)
            except GuestFailed as e:
                print(f"near-vp-bench: {kind} {side}: {e}", file=sys.stderr)
                return 1
            for name in ("qd1", "qd32"):
                if name not in spans:
                    print(f"near-vp-bench: {kind} {side}: no {name} figure", file=sys.stderr)
                    return 1
                seconds, count, _ = spans[name]
                results[(kind, side)][name].append(count / seconds)
            got = results[(kind, side)]
            print(f"   repeat {r + 1} {kind} {side}: qd1 {got['qd1'][-1]:.0f} IOPS, qd32 {got['qd32'][-1]:.0f} IOPS",
                  file=sys.stderr)
    med = {ks: {k: statistics.median(v) for k, v in results[ks].items()} for ks in results}
    print("| guest | side | QD1 IOPS | QD1 latency | QD32 IOPS | QD1 vs free | QD1 vs none |")
    print("|---|---|---|---|---|---|---|")
    for kind, side in runs:
        q1 = med[(kind, side)]["qd1"]
        print(f"| {kind} | {side} | {q1 / 1000:.2f} k | {1e6 / q1:.1f} us | {med[(kind, side)]['qd32'] / 1000:.2f} k "
              f"| {q1 / med[(kind, 'free')]['qd1']:.2f} | {q1 / med[(kind, 'none')]['qd1']:.2f} |")
    for kind, side in runs:
        got = results[(kind, side)]
        print(f"   {kind} {side} per run: qd1 {' '.join(f'{x:.0f}' for x in got['qd1'])}; "
              f"qd32 {' '.join(f'{x:.0f}' for x in got['qd32'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
