"""A running `bundlevisor shell` driven through a pipe, for the benches that measure a platform kept running
(the warm side of start-bench.py and compare.py, density-bench.py)."""
import os
import select
import subprocess
import time


class PlatformShell:
    """One `bundlevisor shell` process; command() types a line and waits for a text in the output after it."""

    def __init__(self, launcher, env):
        self.p = subprocess.Popen([launcher, "shell"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, env=env)
        self.command("lb", b"g! ", timeout=120)

    def command(self, line, until, timeout=60.0):
        """Sends a line; returns (seconds until `until` appeared in the shell's output after it, that output)."""
        buf, start = b"", time.monotonic()
        self.p.stdin.write(line.encode() + b"\n")
        self.p.stdin.flush()
        while until not in buf:
            if time.monotonic() - start > timeout:
                raise RuntimeError(f"shell: no {until!r} after {line!r}: {buf[-500:]!r}")
            ready, _, _ = select.select([self.p.stdout], [], [], 0.5)
            if ready:
                data = os.read(self.p.stdout.fileno(), 65536)
                if not data:
                    raise RuntimeError(f"shell ended: {buf[-500:]!r}")
                buf += data
        return time.monotonic() - start, buf

    def close(self):
        try:
            self.p.stdin.close()
            self.p.wait(timeout=60)
        except Exception:
            self.p.kill()


class WarmVms(PlatformShell):
    """The platform shell, fed through a pipe; each `vm:run` gets its console on a FIFO of its own."""

    def __init__(self, launcher, env, guest, work, memory="32M"):
        self.guest, self.work, self.memory, self.n = guest, work, memory, 0
        super().__init__(launcher, env)

    def run(self):
        """vm:run of the guest: (seconds to its first console byte, seconds until the shell said it started)."""
        self.n += 1
        name = f"w{self.n}"
        fifo = os.path.join(self.work, name + ".fifo")
        os.mkfifo(fifo)
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        try:
            start = time.monotonic()
            self.p.stdin.write(f"vm:run {name} --kernel {self.guest} --memory {self.memory} --console file:{fifo}\n".encode())
            self.p.stdin.flush()
            first = None
            while first is None:
                if time.monotonic() - start > 30:
                    raise RuntimeError(f"{name}: no console byte in 30 s")
                ready, _, _ = select.select([reader], [], [], 0.5)
                if ready:
                    try:
                        if os.read(reader, 4096):
                            first = time.monotonic() - start
                    except BlockingIOError:
                        pass
            started = first + self.command("", b"g! ")[0]  # the prompt after 'started ...'
            self.command(f"vm:close {name}", b"closed " + name.encode())
            return first, started
        finally:
            os.close(reader)
            os.unlink(fifo)
