#!/usr/bin/env python3
"""test_api.py — kiln's Firecracker-compatible API end to end (stdlib only).

usage: test_api.py KILN [unittest args]      (or KILN=... python3 -m unittest test_api)

Each test starts its own kiln (API readiness takes milliseconds); the booted-guest tests share
one default guest (build/guest/Image + initramfs) whose console is kiln's stdout.
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KILN = os.environ.get("KILN", os.path.join(ROOT, "build", "kiln"))
IMAGE = os.path.join(ROOT, "build", "guest", "Image")
INITRD = os.path.join(ROOT, "build", "guest", "initramfs.cpio.gz")
BOOT_TIMEOUT = float(os.environ.get("KILN_BOOT_TIMEOUT", "120"))


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a Unix socket: only connect() differs."""

    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class Kiln:
    """A kiln process in API mode with its console on pipes."""

    def __init__(self, args=(), api=True, wait_ready=True):
        self.dir = tempfile.mkdtemp(prefix="kiln-api-")
        self.sock = os.path.join(self.dir, "api.sock")
        cmd = [KILN] + (["--api-sock", self.sock] if api else []) + list(args)
        self.out = ""
        self.err = ""
        self.pos = 0
        self.cv = threading.Condition()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.pumps = [threading.Thread(target=self._pump, args=(self.proc.stdout, "out"), daemon=True),
                      threading.Thread(target=self._pump, args=(self.proc.stderr, "err"), daemon=True)]
        for t in self.pumps:
            t.start()
        if api and wait_ready:
            self.wait_ready()

    def _pump(self, stream, name):
        while True:
            data = os.read(stream.fileno(), 65536)
            if not data:
                break
            with self.cv:
                setattr(self, name, getattr(self, name) + data.decode("utf-8", "replace"))
                self.cv.notify_all()
        with self.cv:
            self.cv.notify_all()

    def wait_ready(self, timeout=5):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"kiln exited ({self.proc.returncode}): {self.err}")
            with socket.socket(socket.AF_UNIX) as s:
                try:
                    s.connect(self.sock)
                    return
                except OSError:
                    pass
            time.sleep(0.005)
        raise AssertionError("API socket never became ready")

    def req(self, method, path, body=None, raw=None, timeout=30):
        """Returns (status, parsed JSON body or None)."""
        c = UnixHTTPConnection(self.sock, timeout=timeout)
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        headers = {"Content-Type": "application/json"} if data is not None else {}
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        text = r.read()
        c.close()
        return r.status, (json.loads(text) if text else None)

    def expect(self, pattern, timeout=BOOT_TIMEOUT):
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern, re.S)
        with self.cv:
            while True:
                m = rx.search(self.out, self.pos)
                if m:
                    self.pos = m.end()
                    return m
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None and not self.pumps[0].is_alive():
                    raise AssertionError(f"no {pattern!r} on the console; exit={self.proc.poll()}\n"
                                         f"--- stdout ---\n{self.out[-2000:]}\n--- stderr ---\n{self.err[-2000:]}")
                self.cv.wait(min(left, 0.2))

    def quiet_for(self, pattern, seconds):
        """True when pattern does not show up within seconds."""
        try:
            self.expect(pattern, timeout=seconds)
            return False
        except AssertionError:
            return True

    def send(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def wait(self, timeout=60):
        return self.proc.wait(timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for t in self.pumps:
            t.join(10)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)
        # under `make SANITIZE=1` a leak or memory error is reported on stderr at exit
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            assert marker not in self.err, self.err[-4000:]


def fault(resp):
    status, body = resp
    assert status == 400, resp
    assert isinstance(body, dict) and isinstance(body.get("fault_message"), str), resp
    return body["fault_message"]


class ApiTest(unittest.TestCase):
    def setUp(self):
        self.k = Kiln()
        self.file = os.path.join(self.k.dir, "disk.img")
        with open(self.file, "wb") as f:
            f.truncate(1 << 20)

    def tearDown(self):
        self.k.stop()

    def ok(self, method, path, body=None, status=204):
        resp = self.k.req(method, path, body)
        self.assertEqual(resp[0], status, resp)
        return resp[1]

    def bad(self, method, path, body=None, contains=None, raw=None):
        msg = fault(self.k.req(method, path, body, raw=raw))
        if contains:
            self.assertIn(contains, msg)
        return msg


class TestPreBoot(ApiTest):
    def test_instance_info_and_version(self):
        info = self.ok("GET", "/", status=200)
        self.assertEqual(info, {"id": "anonymous-instance", "state": "Not started",
                                "vmm_version": info["vmm_version"], "app_name": "kiln"})
        self.assertRegex(self.ok("GET", "/version", status=200)["firecracker_version"], r"^\d+\.\d+\.\d+")

    def test_machine_config(self):
        m = self.ok("GET", "/machine-config", status=200)
        self.assertEqual((m["vcpu_count"], m["mem_size_mib"], m["smt"]), (1, 128, False))
        self.ok("PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 256, "cpu_template": "None"})
        self.ok("PATCH", "/machine-config", {"mem_size_mib": 192})
        m = self.ok("GET", "/machine-config", status=200)
        self.assertEqual((m["vcpu_count"], m["mem_size_mib"]), (2, 192))
        self.ok("PATCH", "/machine-config", {"track_dirty_pages": True})
        self.assertTrue(self.ok("GET", "/machine-config", status=200)["track_dirty_pages"])
        self.bad("PUT", "/machine-config", {"vcpu_count": 2}, "missing field `mem_size_mib`")
        self.bad("PUT", "/machine-config", {"vcpu_count": "2", "mem_size_mib": 128}, "vcpu_count")
        self.bad("PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 128, "cpu_template": "T2"}, "cpu_template")
        self.bad("PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 128, "colour": 1}, "unknown field `colour`")
        self.bad("PUT", "/machine-config", {"vcpu_count": 0, "mem_size_mib": 128})
        self.bad("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 128, "smt": True})
        self.bad("PATCH", "/machine-config", {}, "Empty PATCH request.")
        self.bad("PUT", "/machine-config", {"vcpu_count": -1, "mem_size_mib": 128})
        # the failures changed nothing
        m = self.ok("GET", "/machine-config", status=200)
        self.assertEqual((m["vcpu_count"], m["mem_size_mib"]), (2, 192))

    def test_boot_source(self):
        self.ok("PUT", "/boot-source", {"kernel_image_path": IMAGE, "boot_args": "console=ttyS0"})
        self.bad("PUT", "/boot-source", {"boot_args": "x"}, "missing field `kernel_image_path`")
        self.bad("PUT", "/boot-source", {"kernel_image_path": "/nonexistent/Image"})
        self.bad("PUT", "/boot-source", {"kernel_image_path": IMAGE, "initrd_path": "/nonexistent/initrd"})
        self.bad("PUT", "/boot-source", {"kernel_image_path": 7}, "kernel_image_path")
        self.assertEqual(self.ok("GET", "/vm/config", status=200)["boot-source"],
                         {"kernel_image_path": IMAGE, "boot_args": "console=ttyS0"})

    def test_drives(self):
        rl = {"bandwidth": {"size": 1048576, "refill_time": 100}, "ops": {"size": 100, "one_time_burst": 10,
                                                                          "refill_time": 1000}}
        self.ok("PUT", "/drives/rootfs", {"drive_id": "rootfs", "path_on_host": self.file, "is_root_device": True,
                                          "is_read_only": False, "rate_limiter": rl})
        self.ok("PUT", "/drives/data_1", {"drive_id": "data_1", "path_on_host": self.file, "is_root_device": False,
                                          "is_read_only": True, "cache_type": "Unsafe", "io_engine": "Sync"})
        self.bad("PUT", "/drives/a", {"drive_id": "b", "path_on_host": self.file, "is_root_device": False},
                 "The id from the path does not match the id from the body!")
        self.bad("PUT", "/drives/a-b", {"drive_id": "a-b", "path_on_host": self.file, "is_root_device": False},
                 "alphanumeric characters and underscores")
        self.bad("PUT", "/drives", {"drive_id": "x", "path_on_host": self.file, "is_root_device": False},
                 "The ID cannot be empty.")
        self.bad("PUT", "/drives/x", {"drive_id": "x", "path_on_host": "/nonexistent", "is_root_device": False})
        self.bad("PUT", "/drives/x", {"drive_id": "x", "path_on_host": self.file}, "missing field `is_root_device`")
        self.bad("PUT", "/drives/x", {"drive_id": "x", "path_on_host": self.file, "is_root_device": False,
                                      "rate_limiter": {"bandwidth": {"size": 1}}}, "refill_time")
        self.bad("PATCH", "/drives/rootfs", {"drive_id": "rootfs", "path_on_host": self.file})
        drives = self.ok("GET", "/vm/config", status=200)["drives"]
        self.assertEqual([d["drive_id"] for d in drives], ["rootfs", "data_1"])
        self.assertEqual(drives[0]["rate_limiter"], {"bandwidth": {"size": 1048576, "one_time_burst": 0,
                                                                   "refill_time": 100},
                                                     "ops": {"size": 100, "one_time_burst": 10, "refill_time": 1000}})
        self.assertTrue(drives[1]["is_read_only"])

    def test_network_interfaces(self):
        self.ok("PUT", "/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": "user",
                                                     "guest_mac": "06:00:AC:10:00:02"})
        self.ok("PUT", "/network-interfaces/eth1", {"iface_id": "eth1", "host_dev_name": "user,hostfwd=tcp::8022-:22",
                                                     "tx_rate_limiter": {"ops": {"size": 10, "refill_time": 10}}})
        self.bad("PUT", "/network-interfaces/eth2", {"iface_id": "eth2", "host_dev_name": "user",
                                                      "guest_mac": "not-a-mac"}, "guest_mac")
        self.bad("PUT", "/network-interfaces/eth2", {"iface_id": "eth3", "host_dev_name": "user"},
                 "does not match")
        self.bad("PUT", "/network-interfaces/eth2", {"iface_id": "eth2"}, "missing field `host_dev_name`")
        self.bad("PATCH", "/network-interfaces/eth0", {"iface_id": "eth0", "rx_rate_limiter": {}})
        nets = self.ok("GET", "/vm/config", status=200)["network-interfaces"]
        self.assertEqual([(n["iface_id"], n["host_dev_name"]) for n in nets],
                         [("eth0", "user"), ("eth1", "user,hostfwd=tcp::8022-:22")])
        self.assertEqual(nets[0]["guest_mac"].lower(), "06:00:ac:10:00:02")

    def test_vsock_entropy_serial(self):
        self.ok("PUT", "/vsock", {"guest_cid": 3, "uds_path": os.path.join(self.k.dir, "v.sock")})
        self.bad("PUT", "/vsock", {"guest_cid": 3}, "missing field `uds_path`")
        self.bad("PUT", "/vsock", {"guest_cid": "3", "uds_path": "x"}, "guest_cid")
        self.ok("PUT", "/entropy", {})
        self.ok("PUT", "/entropy", {"rate_limiter": {"bandwidth": {"size": 1000, "refill_time": 100}}})
        self.bad("PUT", "/entropy", {"rate": 1}, "unknown field `rate`")
        self.ok("PUT", "/serial", {"serial_out_path": os.path.join(self.k.dir, "serial.log")})
        cfg = self.ok("GET", "/vm/config", status=200)
        self.assertEqual(cfg["vsock"]["guest_cid"], 3)
        self.assertEqual(cfg["entropy"]["rate_limiter"]["bandwidth"]["size"], 1000)

    def test_vsock_socket_problems_are_named(self):
        # PUT /vsock names a directory kiln cannot create the socket in ...
        self.bad("PUT", "/vsock", {"guest_cid": 3, "uds_path": os.path.join(self.k.dir, "no", "v.sock")},
                 f"cannot be created: {os.path.join(self.k.dir, 'no')}: No such file or directory")
        # ... and a failure at InstanceStart gives the client its cause, not "reason on kiln's
        # stderr" (issue 11): here the directory vanished after the PUT
        sub = os.path.join(self.k.dir, "socks")
        os.mkdir(sub)
        self.ok("PUT", "/vsock", {"guest_cid": 3, "uds_path": os.path.join(sub, "v.sock")})
        self.ok("PUT", "/boot-source", {"kernel_image_path": IMAGE, "initrd_path": INITRD})
        os.rmdir(sub)
        msg = self.bad("PUT", "/actions", {"action_type": "InstanceStart"},
                       f"Cannot start the microVM: vsock: cannot listen on {sub}/v.sock: No such file or directory")
        self.assertNotIn("kiln's stderr", msg)
        self.assertEqual(self.ok("GET", "/", status=200)["state"], "Not started")

    def test_balloon(self):
        self.bad("GET", "/balloon")
        self.ok("PUT", "/balloon", {"amount_mib": 0, "deflate_on_oom": True, "stats_polling_interval_s": 1})
        self.assertEqual(self.ok("GET", "/balloon", status=200),
                         {"amount_mib": 0, "deflate_on_oom": True, "stats_polling_interval_s": 1})
        self.bad("PUT", "/balloon", {"amount_mib": 0}, "missing field `deflate_on_oom`")
        self.bad("PATCH", "/balloon", {"amount_mib": 10})          # post-boot only
        self.bad("GET", "/balloon/statistics")
        self.bad("PATCH", "/balloon/statistics", {"stats_polling_interval_s": 1})
        self.assertEqual(self.ok("GET", "/vm/config", status=200)["balloon"]["amount_mib"], 0)

    def test_logger_and_metrics(self):
        log = os.path.join(self.k.dir, "kiln.log")
        met = os.path.join(self.k.dir, "metrics.json")
        self.bad("PUT", "/logger", {"log_path": log, "level": "Loud"}, "level")
        self.ok("PUT", "/logger", {"log_path": log, "level": "Info", "show_level": True, "show_log_origin": True})
        self.assertTrue(os.path.exists(log))
        self.bad("PUT", "/actions", {"action_type": "FlushMetrics"})   # no metrics configured yet
        self.bad("PUT", "/metrics", {}, "missing field `metrics_path`")
        self.ok("PUT", "/metrics", {"metrics_path": met})
        self.ok("PUT", "/actions", {"action_type": "FlushMetrics"})
        with open(met) as f:
            line = json.loads(f.readline())
        self.assertGreaterEqual(line["put_api_requests"]["metrics_count"], 1)
        self.assertGreaterEqual(line["put_api_requests"]["logger_fails"], 1)
        cfg = self.ok("GET", "/vm/config", status=200)
        self.assertEqual(cfg["logger"]["log_path"], log)
        self.assertEqual(cfg["metrics"], {"metrics_path": met})
        with open(log) as f:
            self.assertIn("API", f.read())

    def test_actions_and_vm_pre_boot(self):
        self.assertIn("not supported", self.bad("PUT", "/actions", {"action_type": "SendCtrlAltDel"}))
        self.bad("PUT", "/actions", {"action_type": "Reboot"}, "unknown variant `Reboot`")
        self.bad("PUT", "/actions", {"action_type": "InstanceStart"})       # no boot source yet
        self.bad("PATCH", "/vm", {"state": "Paused"}, "not supported before starting")
        self.bad("PATCH", "/vm", {"state": "Sleeping"}, "unknown variant")
        self.assertEqual(self.ok("GET", "/", status=200)["state"], "Not started")

    def test_cpu_limit_pre_boot(self):
        # kiln's own route: unlimited until set, and absent from GET /vm/config until then
        self.assertEqual(self.ok("GET", "/kiln/cpu-limit", status=200),
                         {"quota_us": 0, "period_us": 100000, "vcpu_priority": "normal"})
        self.assertNotIn("cpu-limit", self.ok("GET", "/vm/config", status=200))
        self.ok("PUT", "/kiln/cpu-limit", {"quota_us": 20000, "period_us": 100000, "vcpu_priority": "idle"})
        want = {"quota_us": 20000, "period_us": 100000, "vcpu_priority": "idle"}
        self.assertEqual(self.ok("GET", "/kiln/cpu-limit", status=200), want, "no stats before boot")
        self.assertEqual(self.ok("GET", "/vm/config", status=200)["cpu-limit"], want)
        # bad input: 400 with the reason, and nothing changes
        self.bad("PUT", "/kiln/cpu-limit", {"quota_us": 20000, "period_us": 999},
                 "The CPU limit's period must be 1000..1000000 us, not 999.")
        self.bad("PUT", "/kiln/cpu-limit", {"quota_us": 20000, "period_us": 2000000}, "period must be")
        self.bad("PUT", "/kiln/cpu-limit", {"quota_us": 999}, "quota must be 0 (none) or 1000 us..1024 periods, not 999")
        self.bad("PUT", "/kiln/cpu-limit", {"quota_us": 100000 * 1025}, "quota must be")
        self.bad("PUT", "/kiln/cpu-limit", {"quota_us": -1}, "invalid value for field `quota_us`")
        self.bad("PUT", "/kiln/cpu-limit", {"quota_us": "20000"}, "invalid type for field `quota_us`")
        self.bad("PUT", "/kiln/cpu-limit", {"quota_us": 20000, "vcpu_priority": "high"},
                 "'high' is not a vCPU priority: normal, low or idle")
        self.bad("PUT", "/kiln/cpu-limit", {"quota_us": 20000, "vcpu_priority": 5}, "vcpu_priority")
        self.bad("PUT", "/kiln/cpu-limit", {"quota": 20000}, "unknown field `quota`")
        self.bad("PUT", "/kiln/cpu-limit", None, "Empty PUT request.")
        self.bad("PATCH", "/kiln/cpu-limit", {"quota_us": 20000}, "Invalid request method and/or path")
        self.bad("PUT", "/kiln/cpu-limits", {"quota_us": 20000}, "Invalid request method and/or path")
        self.bad("GET", "/kiln", None, "Invalid request method and/or path")
        self.assertEqual(self.ok("GET", "/kiln/cpu-limit", status=200), want)
        # a PUT without vcpu_priority keeps it; {} removes the limit
        self.ok("PUT", "/kiln/cpu-limit", {"quota_us": 150000})
        self.assertEqual(self.ok("GET", "/kiln/cpu-limit", status=200),
                         {"quota_us": 150000, "period_us": 100000, "vcpu_priority": "idle"})
        self.ok("PUT", "/kiln/cpu-limit", {})
        self.assertEqual(self.ok("GET", "/kiln/cpu-limit", status=200)["quota_us"], 0)

    def test_request_errors(self):
        self.bad("GET", "/nothing", contains="Invalid request method and/or path: GET nothing.")
        self.bad("DELETE", "/", contains="Invalid request method and/or path: DELETE .")
        self.bad("POST", "/actions", {"action_type": "InstanceStart"}, "Invalid request method and/or path")
        self.bad("GET", "/vm", contains="Invalid request method and/or path")
        self.bad("PUT", "/version", {"x": 1}, "Invalid request method and/or path: PUT version.")
        self.bad("GET", "/", raw="{}", contains="GET request cannot have a body.")
        self.bad("PUT", "/boot-source", raw="", contains="Empty PUT request.")
        self.bad("PATCH", "/machine-config", raw="", contains="Empty PATCH request.")
        self.bad("PUT", "/boot-source", raw="{not json", contains="An error occurred when deserializing")
        self.bad("PUT", "/boot-source", raw="[1,2]", contains="expected struct BootSource")
        self.bad("PUT", "/boot-source", raw='{"kernel_image_path":"a","kernel_image_path":"b"}',
                 contains="deserializing")
        self.bad("PUT", "/boot-source", raw=b'{"kernel_image_path":"\xff\xfe"}', contains="deserializing")
        big = json.dumps({"kernel_image_path": "x" * 60000})
        self.bad("PUT", "/boot-source", raw=big,
                 contains=f"Request payload with size {len(big)} is larger than the limit of 51200 allowed by server.")
        self.assertEqual(self.ok("GET", "/", status=200)["state"], "Not started")

    def test_payload_limit_flag(self):
        k = Kiln(["--http-api-max-payload-size", "100", "--id", "small-1"])
        try:
            self.assertIn("larger than the limit of 100",
                          fault(k.req("PUT", "/boot-source", {"kernel_image_path": "y" * 200})))
            self.assertEqual(k.req("GET", "/")[1]["id"], "small-1")
        finally:
            k.stop()


class TestProcess(unittest.TestCase):
    def run_kiln(self, args, timeout=30):
        return subprocess.run([KILN] + args, capture_output=True, text=True, timeout=timeout)

    def test_flags(self):
        r = self.run_kiln(["--api-help"])
        self.assertEqual(r.returncode, 0)
        self.assertIn("--api-sock", r.stdout)
        r = self.run_kiln(["--api-sock", "/tmp/x.sock", "--version"])
        self.assertEqual(r.returncode, 0)
        self.assertIn("kiln", r.stdout)
        for args in (["--bogus"], ["--no-api"], ["--level", "Loud", "--api-sock", "/tmp/x"], ["--id", "bad id!",
                     "--api-sock", "/tmp/x"], ["--config-file"], ["--boot-timer"]):
            r = self.run_kiln(args)
            self.assertEqual(r.returncode, 64, (args, r.stderr))
            self.assertTrue(r.stderr.startswith("kiln: "), r.stderr)

    def test_socket_path_problems(self):
        d = tempfile.mkdtemp(prefix="kiln-api-")
        try:
            regular = os.path.join(d, "file")
            open(regular, "w").close()
            r = self.run_kiln(["--api-sock", regular])
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("not a socket", r.stderr)
            r = self.run_kiln(["--api-sock", os.path.join(d, "missing-dir", "s.sock")])
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("cannot bind", r.stderr)
            # a stale socket file (nobody listening) is replaced
            stale = os.path.join(d, "stale.sock")
            s = socket.socket(socket.AF_UNIX)
            s.bind(stale)
            s.close()
            p = subprocess.Popen([KILN, "--api-sock", stale], stderr=subprocess.PIPE)
            time.sleep(0.3)
            self.assertIsNone(p.poll())
            c = UnixHTTPConnection(stale)
            c.request("GET", "/")
            self.assertEqual(c.getresponse().status, 200)
            c.close()
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(10), 0)    # before InstanceStart a signal is a clean exit
            p.stderr.close()
            self.assertFalse(os.path.exists(stale))
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_ready_fast(self):
        t0 = time.monotonic()
        k = Kiln()
        try:
            self.assertLess(time.monotonic() - t0, 1.0)
        finally:
            k.stop()

    def config(self, d, boot_args, extra=None):
        cfg = {"boot-source": {"kernel_image_path": IMAGE, "initrd_path": INITRD, "boot_args": boot_args},
               "machine-config": {"vcpu_count": 1, "mem_size_mib": 128}, "drives": [],
               "network-interfaces": [], "entropy": {}}
        cfg.update(extra or {})
        path = os.path.join(d, "vm.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        return path

    def test_config_file_no_api_boot(self):
        d = tempfile.mkdtemp(prefix="kiln-api-")
        try:
            path = self.config(d, "console=ttyS0 kiln.poweroff")
            r = self.run_kiln(["--config-file", path, "--no-api"], timeout=BOOT_TIMEOUT)
            self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_config_file_errors(self):
        d = tempfile.mkdtemp(prefix="kiln-api-")
        try:
            path = self.config(d, "console=ttyS0", {"mmds-config": {"version": "V2"}})
            r = self.run_kiln(["--config-file", path, "--no-api"])
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("mmds-config", r.stderr)
            path = self.config(d, "console=ttyS0", {"bogus-key": 1})
            r = self.run_kiln(["--config-file", path, "--no-api"])
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("bogus-key", r.stderr)
            path = self.config(d, "console=ttyS0", {"drives": [{"drive_id": "d", "path_on_host": "/nonexistent",
                                                                 "is_root_device": False}]})
            r = self.run_kiln(["--config-file", path, "--no-api"])
            self.assertNotEqual(r.returncode, 0)
            self.assertIn('"drives"[0]', r.stderr)
            r = self.run_kiln(["--config-file", os.path.join(d, "missing.json"), "--no-api"])
            self.assertEqual(r.returncode, 66)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_config_file_cpu_limit(self):
        d = tempfile.mkdtemp(prefix="kiln-api-")
        try:
            # a bad limit: exit 64, one line naming the key
            path = self.config(d, "console=ttyS0", {"cpu-limit": {"quota_us": 500}})
            r = self.run_kiln(["--config-file", path, "--no-api"])
            self.assertEqual(r.returncode, 64, r.stderr)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
            self.assertIn('"cpu-limit": The CPU limit\'s quota must be 0 (none) or 1000 us..1024 periods, not 500.',
                          r.stderr)
            # a good one boots with it, and GET /vm/config gives it back
            path = self.config(d, "console=ttyS0", {"cpu-limit": {"quota_us": 50000, "period_us": 100000,
                                                                   "vcpu_priority": "low"}})
            k = Kiln(["--config-file", path])
            try:
                k.expect("kiln guest ready")
                self.assertEqual(k.req("GET", "/vm/config")[1]["cpu-limit"],
                                 {"quota_us": 50000, "period_us": 100000, "vcpu_priority": "low"})
                self.assertEqual(k.req("GET", "/kiln/cpu-limit")[1]["vcpu_priority"], "low")
            finally:
                k.stop()
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_config_file_with_api_and_vm_config_roundtrip(self):
        d = tempfile.mkdtemp(prefix="kiln-api-")
        path = self.config(d, "console=ttyS0", {"balloon": {"amount_mib": 0, "deflate_on_oom": False}})
        k = Kiln(["--config-file", path])
        try:
            k.expect("kiln guest ready")
            self.assertEqual(k.req("GET", "/")[1]["state"], "Running")
            cfg = k.req("GET", "/vm/config")[1]
            self.assertEqual(cfg["boot-source"]["initrd_path"], INITRD)
            self.assertEqual(cfg["balloon"]["amount_mib"], 0)
            self.assertIsNotNone(cfg["entropy"])
            # what GET /vm/config returns is a valid config file
            again = os.path.join(d, "again.json")
            cfg["boot-source"]["boot_args"] = "console=ttyS0 kiln.poweroff"
            with open(again, "w") as f:
                json.dump(cfg, f)
            r = self.run_kiln(["--config-file", again, "--no-api"], timeout=BOOT_TIMEOUT)
            self.assertEqual(r.returncode, 0, r.stderr[-2000:])
            # a signal stops a running guest: 128 + signal
            k.proc.send_signal(signal.SIGTERM)
            self.assertEqual(k.wait(30), 128 + signal.SIGTERM)
            self.assertFalse(os.path.exists(k.sock))
        finally:
            k.stop()
            shutil.rmtree(d, ignore_errors=True)


class TestFifoPaths(ApiTest):
    """A FIFO where a file belongs is refused at once: a plain open() of a FIFO waits for its
    other end, and once hung the API thread for good (issue 11). Every request has a short
    timeout, so a hang fails the test instead of stalling the suite."""

    def fifo(self, name):
        path = os.path.join(self.k.dir, name)
        os.mkfifo(path)
        return path

    def refused(self, method, path, body, contains):
        status, resp = self.k.req(method, path, body, timeout=10)
        self.assertEqual(status, 400, resp)
        self.assertIn(contains, resp["fault_message"])

    def test_fifo_paths_are_refused_without_waiting(self):
        f = self.fifo("f")
        not_file = "it is a FIFO, not a regular file"
        self.refused("PUT", "/boot-source", {"kernel_image_path": f}, not_file)
        self.refused("PUT", "/boot-source", {"kernel_image_path": IMAGE, "initrd_path": f}, not_file)
        for ro in (True, False):
            self.refused("PUT", "/drives/d", {"drive_id": "d", "path_on_host": f, "is_root_device": False,
                                              "is_read_only": ro}, not_file)
        self.refused("PUT", "/snapshot/load", {"snapshot_path": f, "mem_backend": {"backend_type": "File",
                                                                                  "backend_path": self.file}},
                     not_file)
        # logger and metrics take a FIFO (as Firecracker's do) and never wait for its reader
        self.assertEqual(self.k.req("PUT", "/logger", {"log_path": self.fifo("log")}, timeout=10)[0], 204)
        self.assertEqual(self.k.req("PUT", "/metrics", {"metrics_path": self.fifo("met")}, timeout=10)[0], 204)
        self.assertEqual(self.k.req("GET", "/", timeout=10)[1]["state"], "Not started")

    def test_serial_fifo_without_reader_fails_instance_start(self):
        # a FIFO is a valid serial output (Firecracker's "file or named pipe"), but with nobody
        # reading it the boot fails at once instead of waiting for a reader
        self.ok("PUT", "/boot-source", {"kernel_image_path": IMAGE, "initrd_path": INITRD})
        self.ok("PUT", "/serial", {"serial_out_path": self.fifo("serial")})
        self.refused("PUT", "/actions", {"action_type": "InstanceStart"}, "it is a FIFO with no reader")
        self.assertEqual(self.k.req("GET", "/", timeout=10)[1]["state"], "Not started")
        self.refused("PUT", "/serial", {"serial_out_path": "/dev/zero"}, "not a regular file or a FIFO")

    def test_patch_read_only_drive_with_fifo_after_boot(self):
        ro = os.path.join(self.k.dir, "ro.img")
        with open(ro, "wb") as f:
            f.truncate(1 << 20)
        self.ok("PUT", "/boot-source", {"kernel_image_path": IMAGE, "initrd_path": INITRD})
        self.ok("PUT", "/drives/ro", {"drive_id": "ro", "path_on_host": ro, "is_root_device": False,
                                      "is_read_only": True})
        self.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        self.refused("PATCH", "/drives/ro", {"drive_id": "ro", "path_on_host": self.fifo("swap")},
                     "it is a FIFO, not a regular file")
        self.assertEqual(self.k.req("GET", "/", timeout=10)[1]["state"], "Running")
        self.k.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.k.wait(30), 128 + signal.SIGTERM)


class TestBooted(unittest.TestCase):
    """One default guest booted through the API, shared by the tests below (run in name order)."""

    @classmethod
    def setUpClass(cls):
        cls.k = k = Kiln()
        cls.disk = os.path.join(k.dir, "data.img")
        cls.disk2 = os.path.join(k.dir, "data2.img")
        for p in (cls.disk, cls.disk2):
            with open(p, "wb") as f:
                f.truncate(4 << 20)
        steps = [
            ("PUT", "/boot-source", {"kernel_image_path": IMAGE, "initrd_path": INITRD, "boot_args": "console=ttyS0"}),
            ("PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 256}),
            ("PUT", "/drives/data", {"drive_id": "data", "path_on_host": cls.disk, "is_root_device": False,
                                     "is_read_only": False}),
            ("PUT", "/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": "user"}),
            ("PUT", "/balloon", {"amount_mib": 0, "deflate_on_oom": True, "stats_polling_interval_s": 1}),
            ("PUT", "/metrics", {"metrics_path": os.path.join(k.dir, "booted.metrics")}),
            ("PUT", "/actions", {"action_type": "InstanceStart"}),
        ]
        for method, path, body in steps:
            status, resp = k.req(method, path, body)
            if status != 204:
                k.stop()
                raise AssertionError(f"{method} {path}: {status} {resp}")
        k.expect("kiln guest ready")

    @classmethod
    def tearDownClass(cls):
        cls.k.stop()

    def run_cmd(self, cmd, timeout=30):
        tag = f"T{time.monotonic_ns() % 1000000}"
        self.k.send(f"echo {tag}''A; {cmd}; echo {tag}''B")
        return self.k.expect(re.escape(tag) + r"A\r?\n(.*?)" + re.escape(tag) + "B", timeout).group(1)

    def test_1_running_state_and_pre_boot_only(self):
        k = self.k
        self.assertEqual(k.req("GET", "/")[1]["state"], "Running")
        after = "not supported after starting"
        self.assertIn(after, fault(k.req("PUT", "/boot-source", {"kernel_image_path": IMAGE})))
        self.assertIn(after, fault(k.req("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 128})))
        self.assertIn(after, fault(k.req("PATCH", "/machine-config", {"vcpu_count": 1})))
        self.assertIn(after, fault(k.req("PUT", "/drives/d2", {"drive_id": "d2", "path_on_host": self.disk2,
                                                              "is_root_device": False})))
        self.assertIn(after, fault(k.req("PUT", "/network-interfaces/eth1", {"iface_id": "eth1",
                                                                            "host_dev_name": "user"})))
        self.assertIn(after, fault(k.req("PUT", "/logger", {"level": "Debug"})))
        self.assertIn(after, fault(k.req("PUT", "/metrics", {"metrics_path": os.path.join(k.dir, "m")})))
        self.assertIn(after, fault(k.req("PUT", "/entropy", {})))
        self.assertIn(after, fault(k.req("PUT", "/balloon", {"amount_mib": 1, "deflate_on_oom": True})))
        fault(k.req("PUT", "/actions", {"action_type": "InstanceStart"}))
        fault(k.req("PUT", "/actions", {"action_type": "SendCtrlAltDel"}))
        self.assertEqual(k.req("GET", "/machine-config")[1]["vcpu_count"], 2)
        self.assertIn("2", self.run_cmd("grep -c ^processor /proc/cpuinfo"))

    def test_2_post_boot_patches(self):
        k = self.k
        rl = {"bandwidth": {"size": 10485760, "refill_time": 100}}
        self.assertEqual(k.req("PATCH", "/drives/data", {"drive_id": "data", "rate_limiter": rl})[0], 204)
        self.assertEqual(k.req("PATCH", "/drives/data", {"drive_id": "data", "path_on_host": self.disk2})[0], 204)
        self.assertIn("does not match", fault(k.req("PATCH", "/drives/data", {"drive_id": "other"})))
        fault(k.req("PATCH", "/drives/nope", {"drive_id": "nope", "rate_limiter": rl}))
        self.assertEqual(k.req("PATCH", "/network-interfaces/eth0", {"iface_id": "eth0", "rx_rate_limiter": rl,
                                                                     "tx_rate_limiter": rl})[0], 204)
        fault(k.req("PATCH", "/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": "user"}))
        cfg = k.req("GET", "/vm/config")[1]
        self.assertEqual(cfg["drives"][0]["path_on_host"], self.disk2)
        self.assertEqual(cfg["drives"][0]["rate_limiter"]["bandwidth"]["size"], 10485760)
        self.assertEqual(cfg["network-interfaces"][0]["rx_rate_limiter"]["bandwidth"]["size"], 10485760)

    def test_3_balloon(self):
        k = self.k
        self.assertEqual(k.req("PATCH", "/balloon", {"amount_mib": 16})[0], 204)
        self.assertEqual(k.req("GET", "/balloon")[1]["amount_mib"], 16)
        fault(k.req("PATCH", "/balloon", {"amount_mib": "16"}))
        status, stats = k.req("GET", "/balloon/statistics")
        self.assertEqual(status, 200, stats)
        for key in ("target_pages", "actual_pages", "target_mib", "actual_mib"):
            self.assertIn(key, stats)
        self.assertEqual(stats["target_mib"], 16)
        self.assertEqual(k.req("PATCH", "/balloon/statistics", {"stats_polling_interval_s": 2})[0], 204)
        self.assertEqual(k.req("PATCH", "/balloon", {"amount_mib": 0})[0], 204)

    def test_4_pause_resume(self):
        k = self.k
        uptime_before = float(self.run_cmd("cut -d' ' -f1 /proc/uptime"))
        paused_at = time.monotonic()
        self.assertEqual(k.req("PATCH", "/vm", {"state": "Paused"})[0], 204)
        self.assertEqual(k.req("GET", "/")[1]["state"], "Paused")
        k.send("echo paused-$((40+2))")
        self.assertTrue(k.quiet_for("paused-42", 1.5), "the guest answered while paused")
        self.assertEqual(k.req("GET", "/machine-config")[0], 200)      # the API still serves
        self.assertEqual(k.req("PATCH", "/vm", {"state": "Resumed"})[0], 204)
        self.assertEqual(k.req("GET", "/")[1]["state"], "Running")
        k.expect("paused-42", timeout=30)
        self.assertEqual(self.run_cmd("echo alive").strip(), "alive")
        # the guest's clocks: monotonic time moved on by at least the pause (never backwards),
        # and the wall clock is right again at once
        uptime_after = float(self.run_cmd("cut -d' ' -f1 /proc/uptime"))
        self.assertGreaterEqual(uptime_after - uptime_before, 0.9 * (time.monotonic() - paused_at) - 0.5)
        guest_now = int(self.run_cmd("date +%s"))
        self.assertLessEqual(abs(guest_now - time.time()), 2, "guest wall clock is off after resume")

    def test_7_cpu_limit_at_runtime(self):
        k = self.k
        st = k.req("GET", "/kiln/cpu-limit")
        self.assertEqual(st[0], 200, st)
        self.assertEqual((st[1]["quota_us"], st[1]["vcpu_priority"]), (0, "normal"))
        self.assertEqual(st[1]["stats"]["nr_throttled"], 0, "an unlimited VM is never throttled")
        # a tight limit while a vCPU spins: the VM gets throttled
        self.assertEqual(k.req("PUT", "/kiln/cpu-limit", {"quota_us": 5000, "period_us": 50000})[0], 204)
        self.run_cmd("(i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done) && echo spun", timeout=120)
        st = k.req("GET", "/kiln/cpu-limit")[1]
        self.assertEqual((st["quota_us"], st["period_us"]), (5000, 50000))
        self.assertGreater(st["stats"]["nr_throttled"], 0, st)
        self.assertGreater(st["stats"]["throttled_us"], 0, st)
        self.assertEqual(k.req("GET", "/vm/config")[1]["cpu-limit"],
                         {"quota_us": 5000, "period_us": 50000, "vcpu_priority": "normal"})
        # and the metrics' cpu_limit group: the limit, and its counters as deltas
        self.assertEqual(k.req("PUT", "/actions", {"action_type": "FlushMetrics"})[0], 204)
        with open(os.path.join(k.dir, "booted.metrics")) as f:
            lines = [json.loads(line) for line in f if line.strip()]
        self.assertEqual((lines[-1]["cpu_limit"]["quota_us"], lines[-1]["cpu_limit"]["period_us"]), (5000, 50000))
        self.assertGreaterEqual(sum(m["cpu_limit"]["nr_throttled"] for m in lines), st["stats"]["nr_throttled"])
        # bad input after boot: 400 and the limit stays
        self.assertIn("period must be", fault(k.req("PUT", "/kiln/cpu-limit", {"quota_us": 5000, "period_us": 10})))
        self.assertIn("The vCPU priority cannot change after starting the microVM",
                      fault(k.req("PUT", "/kiln/cpu-limit", {"quota_us": 5000, "vcpu_priority": "idle"})))
        self.assertEqual(k.req("GET", "/kiln/cpu-limit")[1]["quota_us"], 5000)
        # the same priority is fine; 0 lifts the limit
        self.assertEqual(k.req("PUT", "/kiln/cpu-limit", {"quota_us": 0, "vcpu_priority": "normal"})[0], 204)
        self.assertEqual(k.req("GET", "/kiln/cpu-limit")[1]["quota_us"], 0)
        self.assertEqual(self.run_cmd("echo free-$((1+2))").strip(), "free-3")

    def test_6_metrics_count_device_io(self):
        k = self.k
        path = os.path.join(k.dir, "booted.metrics")
        out = self.run_cmd("dd if=/dev/vda of=/dev/null bs=4096 count=64 iflag=direct 2>&1 | tail -1")
        self.assertIn("262144 bytes", out)
        self.assertEqual(k.req("PUT", "/actions", {"action_type": "FlushMetrics"})[0], 204)
        with open(path) as f:
            lines = [json.loads(line) for line in f if line.strip()]
        total_read = sum(m["block_data"]["read_bytes"] for m in lines)    # deltas: sum every flush
        self.assertGreaterEqual(total_read, 262144)
        last = lines[-1]
        self.assertEqual(last["block"]["read_bytes"], last["block_data"]["read_bytes"])
        self.assertGreater(sum(m["vcpu"]["exit_mmio_write"] for m in lines), 0)
        self.assertIn("net_eth0", last)
        self.assertGreaterEqual(sum(m["put_api_requests"]["drive_count"] for m in lines), 1)

    def test_5_hostile_clients(self):
        k = self.k

        def raw(data, read=True, timeout=5):
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(timeout)
            s.connect(k.sock)
            try:
                s.sendall(data)
                if read:
                    try:
                        return s.recv(65536)
                    except (socket.timeout, ConnectionError):
                        return b""
            finally:
                s.close()

        # garbage and non-UTF-8 bytes instead of HTTP
        raw(b"\x00\xff\xfe garbage \r\n\r\n")
        raw(os.urandom(4096))
        # truncated requests: headers cut short, body shorter than Content-Length
        raw(b"PUT /drives/x HTTP/1.1\r\nContent-Len", read=False)
        raw(b"PUT /machine-config HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"vcpu", read=False)
        # non-UTF-8 in the path and the body
        resp = raw(b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(resp.startswith(b"HTTP/1.1 400"), resp)
        self.assertIn(b"fault_message", resp)
        self.assertIn("deserializing", fault(k.req("PATCH", "/vm", raw=b'{"state":"\xc3\x28"}')))
        # a 1 MiB body
        self.assertIn("larger than the limit", fault(k.req("PUT", "/drives/big", raw=b"{" + b" " * (1 << 20) + b"}")))

        # a slow client (a byte every 100 ms) does not hold up the others
        slow_result = {}

        def slow():
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(30)
            s.connect(k.sock)
            for b in b"GET / HTTP/1.1\r\nHost: x\r\n\r\n":
                s.send(bytes([b]))
                time.sleep(0.1)
            slow_result["resp"] = s.recv(65536)
            s.close()

        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        for _ in range(10):
            self.assertEqual(k.req("GET", "/")[0], 200)
        self.assertLess(time.monotonic() - t0, 2.0, "a slow client stalled the API")
        t.join(30)
        self.assertTrue(slow_result.get("resp", b"").startswith(b"HTTP/1.1 200"), slow_result)

        # 200 concurrent connections, all open at once, each answered
        socks = []
        for _ in range(200):
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(20)
            s.connect(k.sock)
            socks.append(s)
        for s in socks:
            s.sendall(b"GET /machine-config HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answered = 0
        for s in socks:
            data = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except socket.timeout:
                pass
            answered += data.startswith(b"HTTP/1.1 200")
            s.close()
        self.assertEqual(answered, 200)

        # the API and the guest carry on
        self.assertEqual(k.req("GET", "/")[1]["state"], "Running")
        self.assertEqual(self.run_cmd("echo still-$((1+1))").strip(), "still-2")

    def test_9_guest_poweroff_ends_kiln(self):
        k = self.k
        k.send("poweroff -f")
        self.assertEqual(k.wait(60), 0, k.err[-2000:])
        self.assertFalse(os.path.exists(k.sock))


if __name__ == "__main__":
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        KILN = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
