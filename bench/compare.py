#!/usr/bin/env python3
"""Our VMM and QEMU's microvm on the same test guests, in one run: see bench/compare.sh for what it measures.

Every figure comes from the host's clock: the guest prints BENCH-BEGIN <name> and BENCH-END <name> n=N (or bytes=B)
on its serial port, and this program timestamps each line as it arrives on the VMM's stdout. The sides alternate
(their order rotates every repeat) and the median of the repeats is reported beside the other sides' medians.
"""
import argparse
import os
import select
import signal
import statistics
import subprocess
import sys
import time

from platform_shell import WarmVms


class GuestFailed(Exception):
    pass


def run_guest(argv, timeout, want_first_byte=False):
    """Runs one VMM process to its end; returns ({name: (seconds, count, unit)}, first_byte_s, exit_s, output)."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            bufsize=0, start_new_session=True)
    spans, begun, lines, err = {}, {}, [], b""
    pending, first = b"", None
    deadline = start + timeout
    streams = {proc.stdout.fileno(): "out", proc.stderr.fileno(): "err"}
    while streams:
        left = deadline - time.monotonic()
        if left <= 0:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise GuestFailed(f"no end after {timeout} s: {' '.join(argv[:3])} ...; last lines: {lines[-3:]}")
        ready, _, _ = select.select(list(streams), [], [], min(left, 1.0))
        for fd in ready:
            chunk = os.read(fd, 65536)
            now = time.monotonic()
            if not chunk:
                del streams[fd]
                continue
            if streams[fd] == "err":
                err += chunk
                continue
            if first is None:
                first = now - start
            pending += chunk
            while b"\n" in pending:
                raw, pending = pending.split(b"\n", 1)
                line = raw.decode(errors="replace").strip()
                lines.append(line)
                words = line.split()
                if len(words) >= 2 and words[0] == "BENCH-BEGIN":
                    begun[words[1]] = now
                elif len(words) >= 3 and words[0] == "BENCH-END" and words[1] in begun:
                    unit, count = words[2].split("=", 1)
                    spans[words[1]] = (now - begun[words[1]], int(count), unit)
    rc = proc.wait()
    end = time.monotonic() - start
    if rc != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-3:]
        raise GuestFailed(f"exit status {rc}: {' '.join(argv[:3])} ...: {tail or lines[-3:]}")
    if any("FAIL" in line or line.startswith("EXCEPTION") for line in lines):
        raise GuestFailed(f"the guest failed: {[line for line in lines if 'FAIL' in line or 'EXCEPTION' in line]}")
    return spans, first, end, lines


# The guest's side of the net figures; compare.sh gives the host's side 10.0.0.1 on the tap, a permanent neighbour
# entry for the guest and a UDP echo on port 7000.
GUEST_MAC = "52:54:00:12:34:56"
NET = "net.ip=10.0.0.2 net.host=10.0.0.1 net.port=7000"


class Sides:
    """How each side runs a guest ELF with a command line and (optionally) a disk image."""

    def __init__(self, args):
        self.args = args

    def netns(self, argv, net):
        return ["ip", "netns", "exec", self.args.netns] + argv if net else argv

    def ours(self, elf, cmdline="", disk=None, net=False):
        a = self.args
        argv = [a.java, "--sun-misc-unsafe-memory-access=allow", "--enable-native-access=ALL-UNNAMED",
                *a.ours_opts.split(), "-jar", a.jar, "run", "--kernel", elf, "--memory", "256M"]
        if cmdline:
            argv += ["--cmdline", cmdline]
        if disk:
            argv += ["--disk", f"{disk},readonly=on"]
        if net:
            argv += ["--net", f"tap={a.tap},mac={GUEST_MAC}"]
        return self.netns(argv, net)

    def qemu(self, elf, cmdline="", disk=None, net=False):
        argv = ["qemu-system-x86_64", "-M", "microvm", "-enable-kvm", "-m", "256M", "-smp", "1",
                "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio",
                "-global", "virtio-mmio.force-legacy=false", "-kernel", elf]
        if cmdline:
            argv += ["-append", cmdline]
        if disk:
            argv += ["-drive", f"id=d0,file={disk},format=raw,if=none,aio=io_uring,cache=none,readonly=on,"
                               "file.locking=off", "-device", "virtio-blk-device,drive=d0"]
        if net:
            # QEMU 7.2 leaves num_buffers 0 where virtio 1.2 5.1.6.4 says 1: the guest is told to accept it.
            argv[argv.index("-append") + 1] += " net.numbuf0=1"
            argv += ["-netdev", f"tap,id=n0,ifname={self.args.tap},script=no,downscript=no,vhost=off",
                     "-device", f"virtio-net-device,netdev=n0,mac={GUEST_MAC}"]
        return self.netns(argv, net)

    def qemu_memfd(self, elf, cmdline="", disk=None, net=False):
        """QEMU with its guest RAM on a memfd, as ours is (shared with vhost-user back-ends and snapshots): where the
        host gives shared memory no transparent huge pages, O_DIRECT pins 4 KiB pages on both."""
        argv = self.qemu(elf, cmdline, disk, net)
        at = argv.index("-nodefaults")
        return argv[:at] + ["-object", "memory-backend-memfd,id=ram0,size=256M", "-machine", "memory-backend=ram0"] \
            + argv[at:]

    def c_loop(self, elf, cmdline="", disk=None, net=False):
        assert disk is None and not net
        return [self.args.c_loop, elf, cmdline]


def rate(span):
    seconds, count, unit = span
    return count / seconds


FIGURES = {
    # name: (workload, span, unit, scale, sides, higher is better)
    "exits pio (CPL 0)": ("exits0", "pio", "k exits/s", 1e-3, ("ours", "qemu", "c_loop"), True),
    "exits mmio (CPL 0)": ("exits0", "mmio", "k exits/s", 1e-3, ("ours", "qemu", "c_loop"), True),
    "exits mmio (CPL 3)": ("exits3", "mmio", "k exits/s", 1e-3, ("ours", "qemu", "c_loop"), True),
    "start to first serial byte": ("start", "first", "ms", 1e3, ("ours", "qemu", "ours_warm"), False),
    "start to power-off (exit)": ("start", "exit", "ms", 1e3, ("ours", "qemu"), False),
    "blk 4 KiB randread QD1 (CPL 3)": ("blk3", "qd1", "k IOPS", 1e-3, ("ours", "qemu", "qemu_memfd"), True),
    "blk 4 KiB randread QD32 (CPL 3)": ("blk3", "qd32", "k IOPS", 1e-3, ("ours", "qemu", "qemu_memfd"), True),
    "blk 1 MiB seq read QD4 (CPL 3)": ("blk3", "seq", "MiB/s", 1 / 2**20, ("ours", "qemu", "qemu_memfd"), True),
    "net UDP 512 B round trips (CPL 3)": ("net3", "udp_rr", "k/s", 1e-3, ("ours", "qemu"), True),
    "blk 4 KiB randread QD1 (CPL 0)": ("blk0", "qd1", "k IOPS", 1e-3, ("ours", "qemu"), True),
    "blk 4 KiB randread QD32 (CPL 0)": ("blk0", "qd32", "k IOPS", 1e-3, ("ours", "qemu"), True),
}


def workloads(args, sides):
    g = args.guests
    n, w = args.exits, args.exits_warmup
    blk = f"blk.mode=bench blk.n={args.blk_n} blk.warmup={args.blk_warmup} blk.seqmb={args.seq_mb}"
    return {
        "exits0": lambda side: getattr(sides, side)(f"{g}/exits.elf", f"exits.n={n} exits.warmup={w} exits.cpl=0"),
        "exits3": lambda side: getattr(sides, side)(f"{g}/exits.elf", f"exits.n={n} exits.warmup={w} exits.cpl=3"),
        "start": lambda side: getattr(sides, side)(f"{g}/poweroff.elf"),
        "blk3": lambda side: getattr(sides, side)(f"{g}/blk.elf", blk + " blk.cpl=3", args.image),
        # Kernel mode is emulated on kvm_pvm (about 2 k IOPS either way): a quarter of the reads tell as much.
        "blk0": lambda side: getattr(sides, side)(f"{g}/blk.elf", f"blk.mode=bench blk.n={max(args.blk_n // 4, 1)} "
                                                  f"blk.warmup={max(args.blk_warmup // 10, 1)} blk.seqmb=8 blk.cpl=0",
                                                  args.image),
        "net3": lambda side: getattr(sides, side)(f"{g}/net.elf", f"{NET} net.bench={args.net_n} "
                                                  f"net.warmup={args.net_warmup} net.cpl=3", net=True),
    }


def measure(args):
    sides = Sides(args)
    loads = workloads(args, sides)
    wanted = [w for w in ("exits0", "exits3", "start", "blk3", "blk0", "net3") if w in args.only]
    if "net3" in wanted and not args.netns:
        print("compare: no network namespace (compare.sh makes one when run as root): no net figures", file=sys.stderr)
        wanted.remove("net3")
    results = {}  # (figure, side) -> [values]
    warm = None  # the warm side's running platform (`bundlevisor shell`) while its turn runs
    try:
        for rep in range(args.repeats):
            for w in wanted:
                names = sorted({s for f in FIGURES.values() if f[0] == w for s in f[4]})
                order = names[rep % len(names):] + names[:rep % len(names)]
                for side in order:
                    if side == "ours_warm":
                        # A platform of its own for this turn, closed after it, so that no idle platform sits
                        # beside the other figures.
                        warm = start_warm(args)
                        value = warm.run()[0] * 1e3
                        warm.close()
                        warm = None
                        results.setdefault(("start to first serial byte", side), []).append(value)
                        print(f"  run {rep + 1} {w:6} {side:6} start to first serial byte: {value:.2f} ms", flush=True)
                        continue
                    spans, first, end, _ = run_guest(loads[w](side), args.timeout)
                    record(rep, w, side, spans, first, end, results)
    finally:
        if warm is not None:
            warm.close()
    return results


def start_warm(args):
    """`bundlevisor shell` on the measured jar, its first VM (which loads the VM code) run and not counted."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, BUNDLEVISOR_JAR=args.jar, BUNDLEVISOR_AOT="off",
               JAVA_HOME=os.path.dirname(os.path.dirname(args.java)))
    work = os.path.join(os.path.dirname(args.jar), "warm")
    os.makedirs(work, exist_ok=True)
    warm = WarmVms(os.path.join(root, "bundlevisor"), env, f"{args.guests}/poweroff.elf", work, "256M")
    warm.run()
    return warm


def record(rep, w, side, spans, first, end, results):
    for fig, (load, span, unit, scale, fig_sides, _) in FIGURES.items():
        if load != w or side not in fig_sides:
            continue
        if span == "first":
            value = first * scale
        elif span == "exit":
            value = end * scale
        elif span == "seq":
            seconds, count, _ = spans[span]
            value = count / seconds * scale
        else:
            if span not in spans:
                raise GuestFailed(f"{side} gave no {span} span for {fig}")
            value = rate(spans[span]) * scale
        results.setdefault((fig, side), []).append(value)
        print(f"  run {rep + 1} {w:6} {side:6} {fig}: {value:.2f} {unit}", flush=True)


def report(args, results):
    print()
    print(f"| figure | ours | QEMU microvm | third side | ours/QEMU | ours/third | target |")
    print(f"| --- | --- | --- | --- | --- | --- | --- |")
    missed = 0
    for fig, (load, span, unit, scale, fig_sides, higher) in FIGURES.items():
        if (fig, "ours") not in results:
            continue
        med = {s: statistics.median(results[(fig, s)]) for s in fig_sides if (fig, s) in results}
        ours, qemu = med.get("ours"), med.get("qemu")
        third = next((t for t in ("c_loop", "qemu_memfd", "ours_warm") if t in fig_sides), None)
        c = med.get(third)
        q_ratio = (ours / qemu if higher else qemu / ours) if qemu else None
        c_ratio = (ours / c if higher else c / ours) if c and third != "ours_warm" else None
        verdicts = []
        if q_ratio is not None:
            verdicts.append(">= 1.0x QEMU " + ("met" if q_ratio >= 1.0 else "MISSED"))
        if c_ratio is not None and third == "c_loop":
            verdicts.append(">= 0.97x C " + ("met" if c_ratio >= 0.97 else "MISSED"))
        if fig == "start to first serial byte":
            verdicts.append("<= 500 ms " + ("met" if ours <= 500 else "MISSED"))
            if c is not None and qemu:
                verdicts.append(f"warm: {qemu / c:.2f}x QEMU")
        missed += sum("MISSED" in v for v in verdicts)
        fmt = lambda v: "-" if v is None else f"{v:.2f} {unit}"
        rfmt = lambda v: "-" if v is None else f"{v:.2f}"
        label = {"c_loop": "C loop: ", "qemu_memfd": "QEMU, RAM on memfd: ",
                 "ours_warm": "ours warm (vm:run): "}[third] if c is not None else ""
        print(f"| {fig} | {fmt(ours)} | {fmt(qemu)} | {label}{fmt(c)} | {rfmt(q_ratio)} | {rfmt(c_ratio)} | "
              f"{'; '.join(verdicts)} |")
    print()
    print("Ratios are 'how many times as good as the reference': rates ours/theirs, times theirs/ours. Medians of "
          f"{args.repeats} alternating run(s). {missed} target(s) missed.")


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--java", required=True)
    p.add_argument("--jar", required=True)
    p.add_argument("--guests", required=True)
    p.add_argument("--c-loop", required=True)
    p.add_argument("--image", required=True)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--exits", type=int, default=100000)
    p.add_argument("--exits-warmup", type=int, default=20000)
    p.add_argument("--blk-n", type=int, default=20000)
    p.add_argument("--blk-warmup", type=int, default=20000)
    p.add_argument("--seq-mb", type=int, default=512)
    p.add_argument("--net-n", type=int, default=20000)
    p.add_argument("--net-warmup", type=int, default=5000)
    p.add_argument("--ours-opts", default="", help="JVM options for our side (OURS_JAVA_OPTS)")
    p.add_argument("--netns", default="")
    p.add_argument("--tap", default="")
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--only", default="exits0,exits3,start,blk3,blk0,net3")
    args = p.parse_args()
    args.only = args.only.split(",")
    try:
        results = measure(args)
    except GuestFailed as e:
        print(f"compare: {e}", file=sys.stderr)
        return 1
    report(args, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
