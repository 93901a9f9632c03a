#!/usr/bin/env python3
"""The guest-visible IO stall of a device bundle update (bench/update-bench.sh runs this; see there).

For each device (blk, net) and each path, one back-end (the exported jar serving the device over vhost-user, its
Gogo shell on our pipe) and one QEMU TCG guest on it (chardev reconnect=1, which the old path needs):
  handover  `update ID JAR` with the default grace period: the device is handed over to the new bundle
  reset     `virtio:grace 0`, then `update ID JAR`: the device closes, QEMU loses the back-end and reconnects
JAR alternates between two copies of the device's jar with other Bundle-Versions, so each update installs a new
revision. Updates come every SPACING seconds while the guest does IO:
  blk  fio 4 KiB random reads at QD1, then at QD32 (bv-stall-bench): fio logs each completion; the stall of an
       update is the longest gap between two completions around it (fio's clock, 1 ms resolution; gaps under 2 ms
       are not reported by the guest and count as 2).
  net  the host pings the guest every PING_MS (ping -D, in the namespace): the stall of an update is the longest
       gap between two replies around it.
Prints p50 and p99 (nearest rank) of the stalls, and the handovers' own durations as the back-end logged them.
"""
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "bench", "build")
JAVA = os.environ["BV_JAVA"]
QEMU = os.environ["BV_QEMU"]
KERNEL = os.environ["BV_KERNEL"]
BLK_INITRD = os.environ["BV_BLK_INITRD"]
NET_INITRD = os.environ["BV_NET_INITRD"]
IMAGE = os.environ["BV_IMAGE"]
JAR = os.path.join(ROOT, "distro", "target", "bundlevisor.jar")
UPDATES = int(os.environ.get("UPDATES", "20"))
SPACING = float(os.environ.get("SPACING", "3"))
PING_MS = int(os.environ.get("PING_MS", "5"))
DEVICES = os.environ.get("DEVICES", "blk net").split()
NS = "bvupd"
TAP = "bvupd0"


def log(msg):
    print("== " + msg, file=sys.stderr, flush=True)


def die(msg):
    print("update-bench: " + msg, file=sys.stderr)
    sys.exit(1)


def versioned_jar(module, qualifier, into):
    """module's jar with Bundle-Version x.y.z.qualifier (a new revision for `update`)."""
    target = os.path.join(ROOT, module, "target")
    built = [f for f in os.listdir(target) if re.fullmatch(re.escape(module) + r"-[0-9][^-]*(-SNAPSHOT)?\.jar", f)]
    if not built:
        die(module + "'s jar is not built (./bundlevisor build)")
    out = os.path.join(into, f"{module}-{qualifier}.jar")
    with zipfile.ZipFile(os.path.join(target, built[0])) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "META-INF/MANIFEST.MF":
                text = data.decode("utf-8")
                version = re.search(r"^Bundle-Version: (\S+)", text, re.M).group(1)
                base = ".".join((version.split(".") + ["0", "0"])[:3])
                text = re.sub(r"^Bundle-Version: \S+", "Bundle-Version: " + base + "." + qualifier, text, flags=re.M)
                data = text.encode("utf-8")
            dst.writestr(item, data)
    return out


class Output:
    """A process's output lines, read in the background, each with the host time it arrived."""

    def __init__(self, proc, path):
        self.lines = []
        self.lock = threading.Condition()
        self.file = open(path, "w")
        self.proc = proc
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            with self.lock:
                self.lines.append((time.monotonic(), line))
                self.file.write(line + "\n")
                self.file.flush()
                self.lock.notify_all()

    def wait(self, pattern, timeout, start=0):
        """(time, match) of the first line from index start matching pattern."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.lock:
            i = start
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i][1])
                    if m:
                        return self.lines[i][0], m
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None and i >= len(self.lines):
                    die(f"no '{pattern}' in {self.file.name} (see there)")
                self.lock.wait(min(left, 0.5))

    def count(self):
        with self.lock:
            return len(self.lines)

    def all(self):
        with self.lock:
            return [l for _, l in self.lines]


def netns(*cmd):
    return ["ip", "netns", "exec", NS, *cmd]


def backend(device, path, tag):
    """Starts the back-end serving device; returns (proc, output, shell, bundle id)."""
    sock_dir = tempfile.mkdtemp(prefix="bv-update-bench.")
    sock = os.path.join(sock_dir, device + ".sock")
    serve = ["--socket", sock] + (["--disk", IMAGE + ",readonly,serial=bench"] if device == "blk" else ["--net", "tap=" + TAP])
    cmd = [JAVA, "--sun-misc-unsafe-memory-access=allow", "-Dbundlevisor.serve=" + "\x1f".join(serve),
           "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
           "-Dorg.slf4j.simpleLogger.log.io.bundlevisor.core.internal.virtio.BackendBinding=info",
           "-Dorg.slf4j.simpleLogger.log.io.bundlevisor.vhost=info", "-jar", JAR]
    if device == "net":
        cmd = netns(*cmd)
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = Output(proc, os.path.join(BUILD, f"update-bench-{tag}-backend.log"))
    out.wait(r"bundlevisor: serving virtio-" + device + " on ", 90)

    def shell(line):
        proc.stdin.write((line + "\n").encode())
        proc.stdin.flush()

    n = out.count()
    shell("lb -s virtio-" + device)
    _, m = out.wait(r"(\d+)\|Active\s*\|\s*\d+\|io\.bundlevisor\.device\.virtio-" + device + " ", 30, n)
    if path == "reset":
        n = out.count()
        shell("virtio:grace 0")
        out.wait(r"handover\.grace\.seconds=0", 30, n)
    return proc, out, shell, m.group(1), sock, sock_dir


def qemu(device, sock, test, tag):
    initrd = BLK_INITRD if device == "blk" else NET_INITRD
    dev = (["-chardev", f"socket,id=vu,path={sock},reconnect=1", "-device", "vhost-user-blk-pci,chardev=vu,num-queues=1"]
           if device == "blk" else
           ["-chardev", f"socket,id=vu,path={sock},reconnect=1", "-netdev", "vhost-user,id=n0,chardev=vu",
            "-device", "virtio-net-pci,netdev=n0,vectors=0,mac=52:54:00:12:34:56"])
    cmd = [QEMU, "-accel", "tcg", "-machine", "q35,memory-backend=mem", "-object",
           "memory-backend-memfd,id=mem,size=1G,share=on", "-m", "1G", "-smp", "1", "-nodefaults", "-no-user-config",
           "-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot", "-kernel", KERNEL, "-initrd", initrd,
           "-append", f'console=ttyS0 panic=-1 quiet bv.test="{test}"', *dev]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return proc, Output(proc, os.path.join(BUILD, f"update-bench-{tag}-guest.log"))


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def updates(shell, bundle, jars, t0):
    """UPDATES updates, SPACING apart from t0 + 2 s; their host times (monotonic)."""
    times = []
    for i in range(UPDATES):
        at = t0 + 2 + i * SPACING
        time.sleep(max(0.0, at - time.monotonic()))
        times.append(time.monotonic())
        shell(f"update {bundle} file:{jars[i % 2]}")
    return times


def window_max(gaps, u, fallback):
    """The longest gap (end, length) overlapping [u - 1 s, u + SPACING - 1 s], or fallback."""
    lo, hi = u - 1.0, u + SPACING - 1.0
    best = None
    for end, length in gaps:
        if end > lo and end - length < hi:
            best = length if best is None else max(best, length)
    return fallback if best is None else best


def run_blk(path, jars):
    tag = f"blk-{path}"
    proc, out, shell, bundle, sock, sock_dir = backend("blk", path, tag)
    seconds = int(2 + UPDATES * SPACING + 2)
    guest, gout = qemu("blk", sock, f"bv-stall-bench vda {seconds} 1 && bv-stall-bench vda {seconds} 32", tag)
    stalls = {}
    try:
        for qd in (1, 32):
            t0, _ = gout.wait(rf"BV-STALL-START qd{qd}\b", 180)
            times = updates(shell, bundle, jars, t0)
            gout.wait(rf"BV-STALL-END qd{qd} ", seconds + 120)
            lines = gout.all()
            if any("BV-FAIL" in l for l in lines):
                die(f"{tag}: the guest failed: " + next(l for l in lines if "BV-FAIL" in l))
            gaps = [(int(m.group(1)) / 1000.0, int(m.group(2)) / 1000.0)
                    for m in (re.search(rf"BV-GAP qd{qd} (\d+) (\d+)", l) for l in lines) if m]
            # fio's clock starts a little after BV-STALL-START: within the window's second of slack.
            stalls[qd] = [window_max(gaps, u - t0, 0.002) * 1000 for u in times]
        guest.wait(120)
    finally:
        stop(guest)
        stop(proc)
        shutil.rmtree(sock_dir, ignore_errors=True)
    return stalls, handover_ms(out)


def run_net(path, jars):
    tag = f"net-{path}"
    proc, out, shell, bundle, sock, sock_dir = backend("net", path, tag)
    guest, gout = qemu("net", sock, "ip link set eth0 up && ip addr add 10.80.0.2/24 dev eth0 && echo BV-NET-UP"
                       " && sleep 100000", tag)
    try:
        gout.wait(r"BV-NET-UP", 180)
        ping = subprocess.Popen(netns("ping", "-D", "-n", "-i", str(PING_MS / 1000), "10.80.0.2"),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        pout = Output(ping, os.path.join(BUILD, f"update-bench-{tag}-ping.log"))
        pout.wait(r"icmp_seq=\d+", 60)
        t0 = time.monotonic()
        times = updates(shell, bundle, jars, t0)
        time.sleep(SPACING)
        stop(ping)
        wall_minus_mono = time.time() - time.monotonic()
        replies = [float(m.group(1)) - wall_minus_mono
                   for m in (re.match(r"\[(\d+\.\d+)\] .*icmp_seq=", l) for l in pout.all()) if m]
        gaps = [(b, b - a) for a, b in zip(replies, replies[1:])]
        stalls = [window_max(gaps, u, PING_MS / 1000) * 1000 for u in times]
    finally:
        stop(guest)
        stop(proc)
        shutil.rmtree(sock_dir, ignore_errors=True)
    return stalls, handover_ms(out)


BREAKDOWN = re.compile(r"handed over to the next bundle in (\d+) ms \(quiesce and save (\d+) ms, the bundle's restart "
                       r"(\d+) ms, take-over (\d+) ms\)")


def handover_ms(out):
    """Each handover's (total, quiesce and save, bundle restart, take-over) in ms, as the back-end logged it."""
    return [tuple(int(g) for g in m.groups()) for m in (BREAKDOWN.search(l) for l in out.all()) if m]


def pct(values, p):
    """Nearest-rank percentile."""
    v = sorted(values)
    return v[max(0, min(len(v) - 1, -(-p * len(v) // 100) - 1))]


def fmt(values):
    return f"{pct(values, 50):.0f} / {pct(values, 99):.0f} ms" if values else "-"


def main():
    os.makedirs(BUILD, exist_ok=True)
    jar_dir = tempfile.mkdtemp(prefix="bv-update-jars.")
    rows = []
    try:
        if "net" in DEVICES:
            subprocess.run(["ip", "netns", "del", NS], stderr=subprocess.DEVNULL)
            subprocess.run(["ip", "netns", "add", NS], check=True)
            for c in (["ip", "link", "set", "lo", "up"], ["ip", "tuntap", "add", TAP, "mode", "tap"],
                      ["ip", "addr", "add", "10.80.0.1/24", "dev", TAP], ["ip", "link", "set", TAP, "up"]):
                subprocess.run(netns(*c), check=True)
        for device in DEVICES:
            module = "device.virtio-" + device
            jars = [versioned_jar(module, "bench1", jar_dir), versioned_jar(module, "bench2", jar_dir)]
            results = {}
            # Alternate the paths: handover, reset.
            for path in ("handover", "reset"):
                log(f"{device}, {path}: {UPDATES} updates {SPACING} s apart")
                results[path] = run_blk(path, jars) if device == "blk" else run_net(path, jars)
            if device == "blk":
                for qd in (1, 32):
                    h, r = results["handover"][0][qd], results["reset"][0][qd]
                    rows.append((f"blk, fio randread 4 KiB QD{qd}", h, r))
            else:
                rows.append((f"net, ping every {PING_MS} ms", results["handover"][0], results["reset"][0]))
            logged = results["handover"][1]
            rows.append((f"{device}: handover as the back-end logged it", [t[0] for t in logged], []))
            for i, part in ((1, "quiesce and save"), (2, "the bundle's restart"), (3, "take-over")):
                rows.append((f"{device}: of which {part}", [t[i] for t in logged], []))
    finally:
        shutil.rmtree(jar_dir, ignore_errors=True)
        if "net" in DEVICES:
            subprocess.run(["ip", "netns", "del", NS], stderr=subprocess.DEVNULL)
    print()
    print(f"device bundle update stall, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {UPDATES} updates "
          f"{SPACING:g} s apart per figure, QEMU TCG guest over vhost-user, tree "
          + subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip())
    print("| figure | handover p50 / p99 | old path (reset, QEMU reconnect) p50 / p99 | target |")
    print("| --- | --- | --- | --- |")
    for name, h, r in rows:
        target = ""
        if name.startswith("blk, fio"):
            target = "p99 < 50 ms: " + ("met" if h and pct(h, 99) < 50 else "MISSED")
        print(f"| {name} | {fmt(h)} | {fmt(r)} | {target} |")
    for name, h, r in rows:
        print(f"  {name}: handover {' '.join(f'{x:.0f}' for x in h)}" + (f"; old path {' '.join(f'{x:.0f}' for x in r)}" if r else ""))


if __name__ == "__main__":
    main()
