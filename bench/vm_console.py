"""A VM on pipes for the benchmark scripts: wait for text on its console, send lines."""
import os
import re
import subprocess
import sys
import threading
import time


class Console:
    def __init__(self, cmd, name="the guest", timeout=600):
        self.name, self.timeout = name, timeout
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.buf = b""
        self.lock = threading.Condition()
        threading.Thread(target=self._pump, daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()

    def _pump(self):
        while True:
            data = os.read(self.p.stdout.fileno(), 65536)
            with self.lock:
                self.buf += data
                self.lock.notify_all()
            if not data:
                return

    def _drain_stderr(self):
        # kept (the last 4 KiB) for the error message; read so the VM never blocks on it
        self.err = b""
        while True:
            data = os.read(self.p.stderr.fileno(), 65536)
            if not data:
                return
            self.err = (self.err + data)[-4096:]

    def expect(self, rx, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        with self.lock:
            while True:
                m = re.search(rx, self.buf)
                if m:
                    self.buf = self.buf[m.end():]
                    return m
                if time.monotonic() > deadline or self.p.poll() is not None:
                    err = getattr(self, "err", b"").decode(errors="replace")
                    sys.exit(f"{os.path.basename(sys.argv[0])}: no {rx!r} from {self.name}; "
                             f"got {self.buf[-500:]!r} {err}")
                self.lock.wait(0.5)

    def send(self, line):
        self.p.stdin.write(line.encode() + b"\n")
        self.p.stdin.flush()

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()
