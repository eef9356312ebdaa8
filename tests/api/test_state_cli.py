#!/usr/bin/env python3
"""test_state_cli.py — snapshots and migration from the command line: kiln snapshot create,
kiln restore, kiln snapshot merge, kiln receive and kiln migrate (stdlib only).

usage: test_state_cli.py KILN [unittest args]
"""
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_api  # noqa: E402
from test_api import IMAGE, INITRD, Kiln  # noqa: E402


def booted_guest(mem=128, track=False):
    k = Kiln()
    k.req("PUT", "/boot-source", {"kernel_image_path": IMAGE, "initrd_path": INITRD, "boot_args": "console=ttyS0 quiet"})
    k.req("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": mem, "track_dirty_pages": track})
    assert k.req("PUT", "/actions", {"action_type": "InstanceStart"})[0] == 204
    k.expect("kiln guest ready")
    return k


def cli(*args, timeout=60):
    return subprocess.run([test_api.KILN, *args], capture_output=True, text=True, timeout=timeout)


class TestStateCli(unittest.TestCase):
    def test_snapshot_create_then_restore_on_the_console(self):
        k = booted_guest()
        try:
            k.send("echo remember-$((40+2)) > /tmp/note")
            snap, mem = os.path.join(k.dir, "vm.snap"), os.path.join(k.dir, "vm.mem")
            time.sleep(0.5)
            r = cli("snapshot", "create", "--api-sock", k.sock, "--snapshot", snap, "--mem", mem, "--resume")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("the VM runs on", r.stdout)
            self.assertEqual(k.req("GET", "/")[1]["state"], "Running")
            # `kiln restore` runs the snapshot with its console on stdio, like `kiln run`
            p = subprocess.Popen([test_api.KILN, "restore", "--snapshot", snap, "--mem", mem],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = p.communicate(b"cat /tmp/note; poweroff -f\n", timeout=60)
            self.assertEqual(p.returncode, 0, err)
            self.assertIn(b"remember-42", out)
        finally:
            k.stop()

    def test_usage_and_bad_input(self):
        r = cli("snapshot", "create", "--snapshot", "x")
        self.assertEqual(r.returncode, 64)
        self.assertIn("needs --api-sock", r.stderr)
        r = cli("restore", "--snapshot", "/nonexistent/s", "--mem", "/nonexistent/m")
        self.assertEqual(r.returncode, 66, r.stderr)
        self.assertIn("/nonexistent/s", r.stderr)
        with open(os.path.join("/tmp", f"kiln-garbage-{os.getpid()}"), "wb") as f:
            f.write(b"KILNSNAP" + os.urandom(100))
        try:
            r = cli("restore", "--snapshot", f.name, "--mem", f.name)
            self.assertEqual(r.returncode, 65, r.stderr)
            self.assertRegex(r.stderr, "corrupt|version|truncated")
        finally:
            os.unlink(f.name)
        r = cli("migrate", "--api-sock", "/nonexistent.sock", "--to", "unix:/tmp/x")
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot connect", r.stderr)
        r = cli("snapshot", "merge", "/nonexistent/a", "/nonexistent/b")
        self.assertEqual(r.returncode, 1)

    def test_receive_and_migrate(self):
        src = booted_guest()
        sock = os.path.join(src.dir, "mig.sock")
        dst = subprocess.Popen([test_api.KILN, "receive", "--from", "unix:" + sock],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            # data that must arrive intact, and memory the guest keeps clearing and refilling
            # while it moves (dirty pages that are zero travel as zero-page runs)
            src.send("dd if=/dev/urandom of=/tmp/rand bs=64k count=64 2>/dev/null; md5sum /tmp/rand")
            md5 = src.expect(r"([0-9a-f]{32})  /tmp/rand").group(1)
            # in the background, so the shell takes the command that stops it after the move (a
            # Ctrl-C would make the tty drop input typed right behind it)
            src.send("(n=0; while [ ! -e /tmp/stop ]; do n=$((n+1)); echo count $n; "
                     "dd if=/dev/zero of=/tmp/z bs=64k count=32 2>/dev/null; "
                     "dd if=/dev/urandom of=/tmp/y bs=64k count=8 2>/dev/null; sleep 0.05; done) &")
            src.expect(r"count 3\r?\n")
            r = cli("migrate", "--api-sock", src.sock, "--to", "unix:" + sock, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertRegex(r.stdout, r"migrated to unix:.*guest paused [0-9.]+ ms")
            self.assertEqual(src.wait(20), 0)
            last = int(re.findall(r"count (\d+)", src.out)[-1])
            time.sleep(1)
            dst.stdin.write(b"touch /tmp/stop; wait; md5sum /tmp/rand; "
                            b"echo zero-bytes-$(tr -d '\\000' < /tmp/z | wc -c); poweroff -f\n")
            dst.stdin.flush()
            out, err = dst.communicate(timeout=60)
            self.assertEqual(dst.returncode, 0, err)
            counts = [int(c) for c in re.findall(rb"count (\d+)", out)]
            self.assertTrue(counts, out[-500:])
            self.assertEqual(counts[0], last + 1, (last, counts[:5]))
            self.assertEqual(counts, list(range(last + 1, last + 1 + len(counts))))
            self.assertIn(f"{md5}  /tmp/rand".encode(), out)
            self.assertIn(b"zero-bytes-0", out)
        finally:
            if dst.poll() is None:
                dst.kill()
                dst.communicate()
            src.stop()


if __name__ == "__main__":
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        test_api.KILN = os.path.abspath(sys.argv.pop(1))
    unittest.main()
