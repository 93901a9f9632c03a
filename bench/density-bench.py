#!/usr/bin/env python3
"""Density: N idle test guests in one platform beside N QEMU microvm processes. See bench/density-bench.sh."""
import argparse
import os
import select
import subprocess
import time

from platform_shell import PlatformShell

MIB = 1024 * 1024


def status(pid):
    """/proc/PID/status's VmRSS, RssAnon, RssFile, RssShmem (bytes) and Threads."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                out[k] = int(v.split()[0]) * 1024
            elif k == "Threads":
                out[k] = int(v)
    return out


def smaps(pid, guest_bytes):
    """(PSS of the whole process, RSS of the guest RAM mappings) in bytes, from /proc/PID/smaps_rollup and smaps.
    Guest RAM is our memfd ('/memfd:bundlevisor-guest-ram') or QEMU's anonymous mapping of the guest's size (QEMU
    maps RAM with a little alignment slack: an anonymous mapping of size .. size + 4 MiB)."""
    pss = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                pss = int(line.split()[1]) * 1024
    guest, current = 0, None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            first = line.split(None, 5)
            if "-" in first[0] and len(first) >= 5 and ":" in first[3]:
                lo, hi = (int(x, 16) for x in first[0].split("-"))
                name = first[5].strip() if len(first) > 5 else ""
                size = hi - lo
                current = ("bundlevisor-guest-ram" in name) or (
                    name == "" and guest_bytes <= size <= guest_bytes + 4 * MIB)
            elif line.startswith("Rss:") and current:
                guest += int(line.split()[1]) * 1024
    return pss, guest


def measure(pids, guest_bytes):
    """Sums over processes: rss, pss, guest RAM touched, threads."""
    rss = pss = guest = threads = 0
    for pid in pids:
        s = status(pid)
        p, g = smaps(pid, guest_bytes)
        rss += s["VmRSS"]
        pss += p
        guest += g
        threads += s["Threads"]
    return {"rss": rss, "pss": pss, "guest": guest, "threads": threads}


def wait_for(path, text, timeout=60.0):
    start = time.monotonic()
    while True:
        try:
            with open(path, "rb") as f:
                if text in f.read():
                    return time.monotonic() - start
        except FileNotFoundError:
            pass
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"{path}: no {text!r} in {timeout} s")
        time.sleep(0.002)


class Shell(PlatformShell):
    def __init__(self, launcher, env):
        super().__init__(launcher, env)
        self.pid = java_pid(self.p.pid)


def java_pid(launcher_pid):
    """The launcher script execs java in a subshell: the java process below it."""
    for _ in range(200):
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        stat = f.read()
                    with open(f"/proc/{entry}/comm") as f:
                        comm = f.read().strip()
                except OSError:
                    continue
                ppid = int(stat[stat.rindex(")") + 2:].split()[1])
                if ppid == launcher_pid and comm == "java":
                    return int(entry)
        time.sleep(0.05)
    raise RuntimeError("no java process under the launcher")


def settle():
    time.sleep(2.0)


def ours(args, counts, cmdline, work, label):
    env = dict(os.environ, BUNDLEVISOR_JAR=args.jar, BUNDLEVISOR_CACHE=os.path.join(work, "cache"))
    shell = Shell(os.path.join(args.root, "bundlevisor"), env)
    rows = []
    try:
        settle()
        base = measure([shell.pid], args.memory * MIB)
        rows.append((0, base, None, None))
        n = 0
        for target in counts:
            while n < target:
                n += 1
                log = os.path.join(work, f"{label}-{n}.log")
                t, _ = shell.command(f"vm:run {label}{n} --kernel {args.guest} --memory {args.memory}M "
                                     f"--cmdline \"{cmdline}\" --console file:{log}", b"started " + f"{label}{n}".encode())
                up = t + wait_for(log, b"idle: up")
            settle()
            rows.append((n, measure([shell.pid], args.memory * MIB), t, up))
            print(f"  ours {label} N={n}: {fmt(rows[-1], base)}", flush=True)
        for i in range(1, n + 1):
            shell.command(f"vm:close {label}{i}", b"closed ")
    finally:
        shell.close()
    return rows


def qemu(args, counts, cmdline, work, label):
    procs, rows = [], [(0, {"rss": 0, "pss": 0, "guest": 0, "threads": 0}, None, None)]
    try:
        n = 0
        for target in counts:
            while n < target:
                n += 1
                log = os.path.join(work, f"q{label}-{n}.log")
                start = time.monotonic()
                procs.append(subprocess.Popen(
                    ["qemu-system-x86_64", "-M", "microvm", "-enable-kvm", "-nodefaults", "-no-user-config",
                     "-nographic", "-m", f"{args.memory}M", "-serial", f"file:{log}", "-kernel", args.guest,
                     "-append", cmdline], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL))
                up = time.monotonic() - start + wait_for(log, b"idle: up")
            settle()
            rows.append((n, measure([p.pid for p in procs], args.memory * MIB), None, up))
            print(f"  QEMU {label} N={n}: {fmt(rows[-1], rows[0][1])}", flush=True)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
    return rows


def fmt(row, base):
    n, m, t, up = row
    per = lambda k: (m[k] - base[k]) / max(n, 1) / MIB
    return (f"RSS {m['rss'] / MIB:.1f} MiB, PSS {m['pss'] / MIB:.1f} MiB, guest RAM touched {m['guest'] / MIB:.1f} MiB,"
            f" threads {m['threads']}; per added VM: RSS {per('rss'):.2f}, PSS {per('pss'):.2f}, "
            f"overhead {(per('rss') - per('guest')):.2f} MiB, threads {(m['threads'] - base['threads']) / max(n, 1):.1f}"
            + (f"; the Nth VM: started {t * 1e3:.0f} ms" if t is not None else "")
            + (f", first byte {up * 1e3:.0f} ms" if up is not None else ""))


def table(title, ours_rows, qemu_rows):
    base = ours_rows[0][1]
    print(f"\n{title}\n")
    print("| N | ours RSS | ours PSS | ours per added VM: RSS / PSS / VMM overhead | threads per VM | Nth VM started "
          "/ first byte | QEMU RSS (sum) | QEMU PSS (sum) | QEMU per VM: RSS / PSS / VMM overhead | QEMU threads "
          "per VM | ours/QEMU overhead per VM | ours RSS / overhead per VM since the previous N |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    qmap = {r[0]: r for r in qemu_rows}
    prev = ours_rows[0]
    for n, m, t, up in ours_rows[1:]:
        per = {k: (m[k] - base[k]) / n / MIB for k in ("rss", "pss", "guest")}
        over = per["rss"] - per["guest"]
        dn = n - prev[0]
        d_rss = (m["rss"] - prev[1]["rss"]) / dn / MIB
        d_over = d_rss - (m["guest"] - prev[1]["guest"]) / dn / MIB
        marginal = f" {d_rss:.2f} / {d_over:.2f} MiB |"
        prev = (n, m)
        line = (f"| {n} | {m['rss'] / MIB:.1f} MiB | {m['pss'] / MIB:.1f} MiB | {per['rss']:.2f} / {per['pss']:.2f} / "
                f"{over:.2f} MiB | {(m['threads'] - base['threads']) / n:.1f} | {t * 1e3:.0f} / {up * 1e3:.0f} ms |")
        q = qmap.get(n)
        if q:
            qm = q[1]
            qper = {k: qm[k] / n / MIB for k in ("rss", "pss", "guest")}
            qover = qper["rss"] - qper["guest"]
            line += (f" {qm['rss'] / MIB:.1f} MiB | {qm['pss'] / MIB:.1f} MiB | {qper['rss']:.2f} / {qper['pss']:.2f} / "
                     f"{qover:.2f} MiB | {qm['threads'] / n:.1f} | {over / qover:.2f}x |")
        else:
            line += " - | - | - | - | - |"
        line += marginal
        print(line)
    print(f"\nours with no VM: RSS {base['rss'] / MIB:.1f} MiB, PSS {base['pss'] / MIB:.1f} MiB, "
          f"{base['threads']} threads")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--jar", required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--counts", default="1,10,100")
    ap.add_argument("--memory", type=int, default=32)
    ap.add_argument("--qemu", default="on")
    args = ap.parse_args()
    counts = [int(x) for x in args.counts.split(",")]
    results = {}
    for label, cmdline in (("idle", "idle.hz=10"), ("io", "idle.hz=10 idle.io=1")):
        print(f"{label}: {cmdline}", flush=True)
        r_ours = ours(args, counts, cmdline, args.work, label)
        r_qemu = qemu(args, counts, cmdline, args.work, label) if args.qemu == "on" else [(0, {}, None, None)]
        results[label] = (r_ours, r_qemu)
    table("Idle guests (idle.hz=10: 10 timer interrupts a second, halted in between)", *results["idle"])
    table("Light IO (idle.hz=10 idle.io=1: a console line per tick, 10 a second per VM)", *results["io"])
    r_ours, r_qemu = results["idle"]
    n, m, _, _ = r_ours[-1]
    base = r_ours[0][1]
    over = ((m["rss"] - base["rss"]) - (m["guest"] - base["guest"])) / n / MIB
    q = {r[0]: r for r in r_qemu}.get(n)
    verdict = f"target < 5 MiB VMM overhead per added VM (idle, N={n}): {over:.2f} MiB, " + ("met" if over < 5 else "MISSED")
    if q:
        qover = (q[1]["rss"] - q[1]["guest"]) / n / MIB
        verdict += (f"; target < 1/10 of a QEMU microvm process's ({qover:.2f} MiB): {over / qover:.2f}x, "
                    + ("met" if over < qover / 10 else "MISSED"))
    print("\n" + verdict)


if __name__ == "__main__":
    main()
