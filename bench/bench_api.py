#!/usr/bin/env python3
"""kiln as a Firecracker-style microVM monitor, measured against Firecracker's published
specification (docs/SPECIFICATION.md: API server ready within 8 CPU ms of process start; boot
from InstanceStart to guest init <= 125 ms; VMM memory overhead <= 5 MiB) and, where the same
quantity exists, against QEMU:

  (a) exec -> API socket accepting connections: wall ms and CPU ms used by kiln by then;
  (b) PUT /actions InstanceStart -> guest init running (the boot-timer line on stderr);
  (c) VMM memory overhead: RSS of the VMM process minus what the guest's RAM mapping holds,
      with the default guest idle at its prompt (QEMU measured the same way);
  (d) `kiln run --rm -- true` wall time (boot, run a command, power off).
"""
import argparse
import http.client
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

OPENSBI = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def api(sock, method, path, body=None):
    c = UnixHTTPConnection(sock)
    c.request(method, path, body=json.dumps(body) if body is not None else None,
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    if r.status >= 300:
        sys.exit(f"{method} {path} -> {r.status} {data!r}")
    return data


def cpu_ns(pid):
    """CPU time of every thread of pid so far, in ns (schedstat has ns resolution)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total


def api_ready(kiln, tmp):
    """Wall ms from exec to the socket accepting, and the CPU ms kiln had used when its API
    server became ready (its own process_startup_time_cpu_us metric, Firecracker's measure)."""
    sock, metrics = os.path.join(tmp, "ready.sock"), os.path.join(tmp, "ready.metrics")
    for f in (sock, metrics):
        if os.path.exists(f):
            os.unlink(f)
    t0 = time.monotonic()
    p = subprocess.Popen([kiln, "--api-sock", sock, "--metrics-path", metrics], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(sock)
                wall = time.monotonic() - t0
                s.close()
                break
            except OSError:
                s.close()
                if p.poll() is not None:
                    sys.exit(f"kiln --api-sock exited: {p.stderr.read()!r}")
                if time.monotonic() - t0 > 10:
                    sys.exit("API socket never became ready")
                time.sleep(0.0002)
        api(sock, "PUT", "/actions", {"action_type": "FlushMetrics"})
        with open(metrics) as f:
            cpu_us = json.loads(f.readline())["api_server"]["process_startup_time_cpu_us"]
        return wall * 1e3, cpu_us / 1e3
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(10)


BASELINE_C = r"""
#include <stdio.h>
#include <time.h>
int main(void) { struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
                 printf("%ld\n", t.tv_sec * 1000000L + t.tv_nsec / 1000); return 0; }
"""


def baseline_cpu_ms(tmp):
    """CPU a do-nothing dynamically linked C program has used when main() starts: the cost of
    exec and the dynamic loader on this machine, which every process pays before its code runs."""
    exe = os.path.join(tmp, "cpu-at-main")
    if not os.path.exists(exe):
        src = exe + ".c"
        with open(src, "w") as f:
            f.write(BASELINE_C)
        subprocess.run(["cc", "-O2", "-o", exe, src], check=True)
    return int(subprocess.run([exe], capture_output=True, text=True, check=True).stdout) / 1e3


def start_to_init(kiln, guest, tmp, mem):
    sock = os.path.join(tmp, "start.sock")
    if os.path.exists(sock):
        os.unlink(sock)
    p = subprocess.Popen([kiln, "--api-sock", sock], stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = threading.Event()
    when = {}

    def watch():
        buf = b""
        for chunk in iter(lambda: os.read(p.stderr.fileno(), 4096), b""):
            buf += chunk
            if b"guest boot time" in buf and not seen.is_set():
                when["t"] = time.monotonic()
                seen.set()

    threading.Thread(target=watch, daemon=True).start()
    try:
        # the socket file appears at bind(), a moment before listen(): wait until it accepts
        for _ in range(5000):
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.connect(sock)
                break
            except OSError:
                time.sleep(0.001)
        api(sock, "PUT", "/boot-source", {"kernel_image_path": os.path.join(guest, "Image"),
                                          "initrd_path": os.path.join(guest, "initramfs.cpio.gz"),
                                          "boot_args": "console=ttyS0 quiet"})
        api(sock, "PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": mem})
        t0 = time.monotonic()
        api(sock, "PUT", "/actions", {"action_type": "InstanceStart"})
        if not seen.wait(120):
            sys.exit("the guest never reached init")
        return (when["t"] - t0) * 1e3
    finally:
        p.kill()
        p.wait()


def guest_ram_rss_kib(pid, mem_mib):
    """Rss of the largest anonymous mapping at least mem_mib large: the guest's RAM."""
    best, cur_size, cur_anon = 0, 0, False
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                parts = line.split()
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                cur_size = (hi - lo) >> 10
                cur_anon = len(parts) < 6
            elif line.startswith("Rss:") and cur_anon and cur_size >= mem_mib * 1024:
                best = max(best, int(line.split()[1]))
    return best


def overhead_mib(cmd, mem_mib, ready=b"kiln guest ready"):
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        out, deadline = b"", time.monotonic() + 300
        os.set_blocking(p.stdout.fileno(), False)
        while ready not in out and time.monotonic() < deadline:
            time.sleep(0.1)
            out += p.stdout.read() or b""
        if ready not in out:
            sys.exit(f"memory benchmark: guest did not boot: {' '.join(cmd)}")
        time.sleep(2.0)
        with open(f"/proc/{p.pid}/status") as f:
            rss = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
        return (rss - guest_ram_rss_kib(p.pid, mem_mib)) / 1024.0
    finally:
        p.kill()
        p.wait()


def run_rm_true(kiln):
    t0 = time.monotonic()
    r = subprocess.run([kiln, "run", "--rm", "--", "true"], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=120)
    if r.returncode != 0:
        sys.exit(f"kiln run --rm -- true failed ({r.returncode}): {r.stderr[-500:]!r}")
    return (time.monotonic() - t0) * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--mem", type=int, default=128)
    a = ap.parse_args()
    image, initrd = os.path.join(a.guest, "Image"), os.path.join(a.guest, "initramfs.cpio.gz")
    kiln_cmd = [a.kiln, "run", "--kernel", image, "--initrd", initrd, "--mem", str(a.mem)]
    qemu_cmd = ["qemu-system-riscv64", "-machine", "virt", "-m", str(a.mem), "-nographic",
                "-bios", OPENSBI, "-kernel", image, "-initrd", initrd, "-append", "console=ttyS0"]
    res = {k: [] for k in ("ready_wall", "ready_cpu", "baseline_cpu", "start_init", "ovh_kiln", "ovh_qemu",
                           "rm_true")}
    with tempfile.TemporaryDirectory(prefix="kiln-bench-api-") as tmp:
        for i in range(a.runs):
            w, c = api_ready(a.kiln, tmp)
            res["ready_wall"].append(w)
            res["ready_cpu"].append(c)
            res["baseline_cpu"].append(baseline_cpu_ms(tmp))
            res["start_init"].append(start_to_init(a.kiln, a.guest, tmp, a.mem))
            res["ovh_kiln"].append(overhead_mib(kiln_cmd, a.mem))
            res["ovh_qemu"].append(overhead_mib(qemu_cmd, a.mem))
            res["rm_true"].append(run_rm_true(a.kiln))
            print(f"run {i + 1}/{a.runs}: ready {w:.2f} ms wall / {c:.2f} ms CPU, "
                  f"InstanceStart->init {res['start_init'][-1]:.0f} ms, overhead kiln "
                  f"{res['ovh_kiln'][-1]:.1f} MiB / QEMU {res['ovh_qemu'][-1]:.1f} MiB, "
                  f"run --rm true {res['rm_true'][-1]:.0f} ms", flush=True)
    med = {k: statistics.median(v) for k, v in res.items()}
    print()
    print(f"| metric (median of {a.runs}) | kiln | Firecracker's published target | QEMU |")
    print("| --- | --- | --- | --- |")
    print(f"| (a) exec -> API socket ready, CPU ms | {med['ready_cpu']:.2f} | <= 8 CPU ms | - |")
    print(f"| (a) of which any program pays before main() here (exec, loader) | {med['baseline_cpu']:.2f} | - | - |")
    print(f"| (a) exec -> API socket ready, wall ms | {med['ready_wall']:.2f} | - | - |")
    print(f"| (b) InstanceStart -> guest init, ms | {med['start_init']:.0f} | <= 125 ms | - |")
    print(f"| (c) VMM memory overhead ({a.mem} MiB guest, idle), MiB | {med['ovh_kiln']:.1f} | <= 5 MiB | "
          f"{med['ovh_qemu']:.1f} |")
    print(f"| (d) `kiln run --rm -- true`, wall ms | {med['rm_true']:.0f} | - | - |")


if __name__ == "__main__":
    main()
