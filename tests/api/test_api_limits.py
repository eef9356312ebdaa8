#!/usr/bin/env python3
"""test_api_limits.py — the API server under clients that hold connections and memory (issue 11).

usage: test_api_limits.py KILN [unittest args]

A local user who may open the API socket must not be able to lock other clients out or make
kiln hold unbounded memory: at the connection limit a new client evicts the connection idle
longest, and large unfinished bodies share one budget (docs/api.md, "Limits").
"""
import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_api  # noqa: E402
from test_api import Kiln  # noqa: E402

CONNECTION_LIMIT = 512               # HTTP_CONNECTION_LIMIT
MAX_HEAD = 8192                      # HTTP_MAX_HEAD
MAX_PAYLOAD = 64 << 20               # the largest --http-api-max-payload-size
SMALL = 16384                        # what any connection may buffer outside the budget


def budget(max_payload):
    """http_server_buffer_budget: what docs/api.md promises."""
    return max(2 * (MAX_HEAD + max_payload), 16 << 20)


def vm_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def connect(path):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(path)
    return s


def closed_by_server(s):
    """True when the server has closed s (EOF or reset), False while it is still open."""
    s.setblocking(False)
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


class TestConnectionLimit(unittest.TestCase):
    def test_full_house_of_idle_and_slow_clients_does_not_lock_out_a_normal_one(self):
        k = Kiln()
        socks = []
        try:
            for _ in range(CONNECTION_LIMIT):
                socks.append(connect(k.sock))            # idle: send nothing
            slow = []
            for _ in range(4):                           # a body that never finishes
                s = connect(k.sock)
                s.sendall(b"PUT /machine-config HTTP/1.1\r\nContent-Length: 1000\r\n\r\n{\"vcpu")
                slow.append(s)
            time.sleep(0.5)                              # let kiln accept them all
            for attempt in range(3):
                t0 = time.monotonic()
                status, body = k.req("GET", "/", timeout=5)
                took = time.monotonic() - t0
                self.assertEqual(status, 200, f"attempt {attempt}")
                self.assertIn("state", body)
                self.assertLess(took, 2.0, f"GET / took {took:.2f}s with the connection table full")
            # the room came from the connection idle longest, not from a recent one
            self.assertTrue(closed_by_server(socks[0]), "the oldest idle connection is still open")
            self.assertFalse(closed_by_server(socks[-1]), "the newest idle connection was closed")
            # a connection that got in still works
            s = socks[-1]
            s.setblocking(True)
            s.sendall(b"GET / HTTP/1.1\r\n\r\n")
            self.assertTrue(s.recv(4096).startswith(b"HTTP/1.1 200"))
            for s in slow:
                s.close()
        finally:
            for s in socks:
                s.close()
            k.stop()


class TestMemoryBudget(unittest.TestCase):
    def test_unfinished_large_bodies_share_one_budget(self):
        k = Kiln(["--http-api-max-payload-size", str(MAX_PAYLOAD)])
        n, length, sent = 8, 60_000_000, 40 << 20
        answers = [b""] * n
        socks = []
        try:
            base = vm_rss(k.proc.pid)

            def hostile(i):
                s = connect(k.sock)
                s.settimeout(30)
                socks.append(s)
                s.sendall(f"PUT /drives/d{i} HTTP/1.1\r\nContent-Length: {length}\r\n\r\n".encode())
                chunk = b"x" * (1 << 20)
                for _ in range(sent // len(chunk)):
                    s.sendall(chunk)
                s.setblocking(False)
                try:
                    answers[i] = s.recv(4096)
                except BlockingIOError:
                    pass

            threads = [threading.Thread(target=hostile, args=(i,), daemon=True) for i in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
                self.assertFalse(t.is_alive(), "a client could not send its body")
            time.sleep(0.3)
            grown = vm_rss(k.proc.pid) - base
            limit = budget(MAX_PAYLOAD) + n * SMALL + (16 << 20)     # slack: allocator, sanitizers
            self.assertLess(grown, limit, f"kiln's RSS grew by {grown >> 20} MiB with {n} unfinished bodies "
                                          f"(bound {limit >> 20} MiB)")
            refused = [a for a in answers if a.startswith(b"HTTP/1.1 503")]
            self.assertEqual(len(refused), n - budget(MAX_PAYLOAD) // (length + MAX_HEAD), answers)
            self.assertIn(b"retry later", refused[0])
            # ordinary requests do not need the budget
            self.assertEqual(k.req("GET", "/", timeout=5)[0], 200)
            # the budget comes back when the holders go
            for s in socks:
                s.close()
            time.sleep(0.3)
            status, body = k.req("PUT", "/drives/d", raw=b" " * (20 << 20) + b"{}", timeout=30)
            self.assertEqual(status, 400, body)
            self.assertIn("missing field", body["fault_message"])
        finally:
            for s in socks:
                s.close()
            k.stop()


if __name__ == "__main__":
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        test_api.KILN = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
