"""A running `bundlevisor shell` driven through a pipe, for the benches that measure a platform kept running
(start-bench.py's warm side, density-bench.py)."""
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
