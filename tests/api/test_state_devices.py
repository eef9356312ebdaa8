#!/usr/bin/env python3
"""test_state_devices.py — a snapshot of a guest that uses every kind of virtio device, restored in
a new kiln: the disk keeps what was written and takes new writes, a port forward serves new
connections, vsock works both ways after its transport reset, the rng still feeds /dev/hwrng
(stdlib only).

usage: test_state_devices.py KILN [unittest args]
"""
import os
import random
import re
import socket
import sys
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_api  # noqa: E402
from test_api import IMAGE, INITRD, Kiln  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "guest"))
from kilnvm import recv_until_eof, vsock_host_connect  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(k, command, timeout=60):
    """Runs a shell command on the guest's console; returns its output between markers."""
    tag = f"T{random.randint(0, 10**9)}"
    k.send(f"echo {tag}''B; {command}; echo {tag}''E")
    m = k.expect(re.escape(tag) + r"B\r?\n(.*?)" + re.escape(tag) + "E", timeout)
    return m.group(1).replace("\r", "").strip()


def echo_server(path, ready):
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)
    ready.set()
    while True:
        conn, _ = srv.accept()
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                conn.sendall(data)


def vsock_to_guest(uds, port, payload):
    """CONNECT through kiln's hybrid vsock socket to a guest listener; returns what echoes back."""
    s = vsock_host_connect(uds, port)
    if s is None:
        return None
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    got = recv_until_eof(s)
    s.close()
    return got


def fetch(port):
    for _ in range(50):
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read().decode().strip()
        except OSError:
            time.sleep(0.2)
    return None


class TestSnapshotWithDevices(unittest.TestCase):
    def test_every_device_after_restore(self):
        k = Kiln()
        disk = os.path.join(k.dir, "disk.img")
        with open(disk, "wb") as f:
            f.truncate(1 << 20)
        hport = free_port()
        uds = os.path.join(k.dir, "v.sock")
        uds2 = os.path.join(k.dir, "v2.sock")
        ready = threading.Event()
        threading.Thread(target=echo_server, args=(uds2 + "_6000", ready), daemon=True).start()
        ready.wait(5)
        snap, mem = os.path.join(k.dir, "s"), os.path.join(k.dir, "m")
        k2 = None
        try:
            for path, body in [("/boot-source", {"kernel_image_path": IMAGE, "initrd_path": INITRD,
                                                 "boot_args": "console=ttyS0 quiet"}),
                               ("/machine-config", {"vcpu_count": 2, "mem_size_mib": 128}),
                               ("/drives/scratch", {"drive_id": "scratch", "path_on_host": disk,
                                                    "is_root_device": False, "is_read_only": False}),
                               ("/network-interfaces/eth0", {"iface_id": "eth0",
                                                             "host_dev_name": f"user,hostfwd=tcp::{hport}-:8080"}),
                               ("/vsock", {"guest_cid": 3, "uds_path": uds}),
                               ("/entropy", {}),
                               ("/actions", {"action_type": "InstanceStart"})]:
                self.assertEqual(k.req("PUT", path, body)[0], 204, path)
            k.expect("kiln guest ready")
            token = f"page-{random.randint(0, 10**9)}"
            run(k, f"mkdir -p /tmp/www && echo {token} > /tmp/www/index.html && httpd -p 8080 -h /tmp/www")
            self.assertEqual(fetch(hport), token)
            run(k, "echo before-snapshot | dd of=/dev/vda bs=512 count=1 conv=fsync 2>/dev/null")
            k.send("kiln-vsock listen 5000 >/dev/null 2>&1 &")
            self.assertEqual(vsock_to_guest(uds, 5000, b"ping-1"), b"ping-1")
            # a listener (one connection each) that is still waiting when the snapshot is taken
            k.send("kiln-vsock listen 5001 >/dev/null 2>&1 &")
            time.sleep(0.5)
            self.assertEqual(k.req("PATCH", "/vm", {"state": "Paused"})[0], 204)
            self.assertEqual(k.req("PUT", "/snapshot/create", {"snapshot_path": snap, "mem_file_path": mem})[0], 204)
            k.proc.kill()
            k.proc.wait()

            k2 = Kiln()
            st, body = k2.req("PUT", "/snapshot/load", {"snapshot_path": snap, "mem_file_path": mem,
                                                        "vsock_override": {"uds_path": uds2}, "resume_vm": True})
            self.assertEqual(st, 204, body)
            # the disk: what was written before, and new writes reach the image
            self.assertEqual(run(k2, "dd if=/dev/vda bs=512 count=1 2>/dev/null | head -n 1"), "before-snapshot")
            run(k2, "echo after-restore | dd of=/dev/vda bs=512 seek=1 count=1 conv=fsync 2>/dev/null")
            with open(disk, "rb") as f:
                image = f.read(1024)
            self.assertTrue(image.startswith(b"before-snapshot\n"), image[:32])
            self.assertTrue(image[512:].startswith(b"after-restore\n"), image[512:544])
            # a new connection through the port forward reaches the guest's server
            self.assertEqual(fetch(hport), token)
            # vsock: the guest's listener still listens; host -> guest and guest -> host work
            payload = os.urandom(100000)
            self.assertEqual(vsock_to_guest(uds2, 5001, payload), payload)
            self.assertEqual(run(k2, "echo to-host | kiln-vsock connect 2 6000"), "to-host")
            # entropy
            self.assertEqual(run(k2, "head -c 64 /dev/hwrng | wc -c"), "64")
            self.assertNotRegex(k2.out, r"BUG|Oops|panic")
        finally:
            k.stop()
            if k2:
                k2.stop()


if __name__ == "__main__":
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        test_api.KILN = os.path.abspath(sys.argv.pop(1))
    unittest.main()
