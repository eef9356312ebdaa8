"""kilnvm.py — drive a kiln VM through its console pipe (stdlib only).

A tiny 'expect': kiln runs with stdin/stdout as pipes, a reader thread collects the guest's
output, and tests wait for text to appear or send command lines.
"""
import os
import re
import socket
import subprocess
import threading
import time

PROMPT = "~ # "


class GuestError(AssertionError):
    pass


class KilnVM:
    def __init__(self, kiln, args, timeout=180, env=None, command=("run",), pass_fds=()):
        self.kiln = kiln
        self.args = args
        self.timeout = timeout
        self.out = ""
        self.err = ""
        self.pos = 0
        self.lock = threading.Condition()
        self.proc = subprocess.Popen([kiln] + list(command) + args, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env, pass_fds=pass_fds)
        self.t_out = threading.Thread(target=self._pump, args=(self.proc.stdout, "out"), daemon=True)
        self.t_err = threading.Thread(target=self._pump, args=(self.proc.stderr, "err"), daemon=True)
        self.t_out.start()
        self.t_err.start()

    def _pump(self, stream, name):
        while True:
            data = os.read(stream.fileno(), 65536)
            if not data:
                break
            text = data.decode("utf-8", "replace")
            with self.lock:
                if name == "out":
                    self.out += text
                else:
                    self.err += text
                self.lock.notify_all()
        with self.lock:
            self.lock.notify_all()

    def expect(self, pattern, timeout=None):
        """Wait until regex `pattern` appears in output after the last match; return the match."""
        deadline = time.monotonic() + (timeout or self.timeout)
        rx = re.compile(pattern, re.S)
        with self.lock:
            while True:
                m = rx.search(self.out, self.pos)
                if m:
                    self.pos = m.end()
                    return m
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self.t_out.is_alive()):
                    tail = self.out[-2000:]
                    raise GuestError(f"timed out waiting for {pattern!r}; exit={self.proc.poll()}\n"
                                     f"--- output tail ---\n{tail}\n--- stderr ---\n{self.err[-2000:]}")
                self.lock.wait(min(left, 0.5))

    def send(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def run(self, command, timeout=None):
        """Run a shell command in the guest and return its output (between markers)."""
        tag = f"K{int(time.monotonic() * 1000) % 100000}"
        # the marker is split so that the echoed command line itself never matches
        self.send(f"echo {tag}''BEGIN; {command}; echo {tag}''END")
        m = self.expect(re.escape(tag) + r"BEGIN\r?\n(.*?)" + re.escape(tag) + r"END", timeout)
        return m.group(1).replace("\r", "").strip()

    def wait(self, timeout=None):
        try:
            rc = self.proc.wait(timeout or self.timeout)
            # the pumps may not have read the last output yet: a caller that looks at out/err
            # right after the exit must see all of it (they end at EOF, which the exit gives)
            self.t_out.join(10)
            self.t_err.join(10)
            return rc
        except subprocess.TimeoutExpired:
            self.kill()
            raise GuestError(f"kiln did not exit in time\n--- output tail ---\n{self.out[-2000:]}")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close_stdin(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass


def vsock_host_connect(uds, port, attempts=50, delay=0.2, timeout=30):
    """A host-initiated vsock connection through kiln's hybrid vsock Unix socket (Firecracker's
    `CONNECT port` handshake), retried while the guest's listener is not up yet; the connected
    socket, or None when kiln never answered OK."""
    for _ in range(attempts):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(uds)
        s.sendall(f"CONNECT {port}\n".encode())
        line = b""
        while not line.endswith(b"\n"):
            c = s.recv(1)
            if not c:
                break
            line += c
        if line.startswith(b"OK "):
            return s
        s.close()
        time.sleep(delay)
    return None


def recv_until_eof(s, limit=None):
    """What socket `s` receives until the peer shuts its side (EOF) or, with `limit`, until at
    least `limit` bytes came (an echo of that many bytes: the caller compares them); the socket's
    own timeout bounds each read."""
    got = bytearray()
    while limit is None or len(got) < limit:
        c = s.recv(65536)
        if not c:
            break
        got += c
    return bytes(got)
