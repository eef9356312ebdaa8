#!/usr/bin/env python3
"""Noisy neighbours: how much do other VMs on the host slow a latency-sensitive one, with and
without kiln's per-VM CPU limits?

The victim is a kiln VM running kiln-reqlat (guest/tools/kiln-reqlat.c): a request arrives every
20 ms and needs about 2 ms of computation; its response time (arrival to answer, queueing
included) is what a user of that VM would feel. It runs alone, then next to noisy kiln VMs:
CPU hogs (2 vCPUs each spinning) and a disk hog (writing its disk with fsync and reading it back
with O_DIRECT, in a loop). The noisy VMs run once without limits, once with --cpu-limit (set
through the API while they run: PUT /kiln/cpu-limit), and once with the limit and the lowest
vCPU priority (SCHED_IDLE, from the config file's cpu-limit). Prints the victim's p50/p99 per
scenario and the slowdown against running alone (median over --runs rounds)."""
import argparse
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from vm_console import Console  # noqa: E402

PROMPT = b"~ # "
CMDLINE = "console=ttyS0 quiet"


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=30)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def api(sock, method, path, body=None):
    c = UnixHTTP(sock)
    c.request(method, path, body=json.dumps(body) if body is not None else None)
    r = c.getresponse()
    data = r.read()
    c.close()
    if r.status >= 300:
        sys.exit(f"noisy benchmark: {method} {path}: {r.status} {data!r}")
    return json.loads(data) if data else None


def kiln_run(kiln, guest, extra=(), cpus=1):
    return [kiln, "run", "--kernel", os.path.join(guest, "Image"), "--initrd",
            os.path.join(guest, "initramfs.cpio.gz"), "--cmdline", CMDLINE, "--cpus", str(cpus)] + list(extra)


class Noisy:
    """The neighbours: `cpu_vms` VMs with 2 vCPUs spinning and one VM hammering its disk, each a
    kiln in API mode (so the limit can be set while it runs)."""

    def __init__(self, kiln, guest, work, cpu_vms, limit, priority):
        self.vms = []
        for i in range(cpu_vms + 1):
            disk = i == cpu_vms
            sock = os.path.join(work, f"noisy{i}.sock")
            cfg = {"boot-source": {"kernel_image_path": os.path.join(guest, "Image"),
                                   "initrd_path": os.path.join(guest, "initramfs.cpio.gz"), "boot_args": CMDLINE},
                   "machine-config": {"vcpu_count": 1 if disk else 2, "mem_size_mib": 256}}
            if priority:
                cfg["cpu-limit"] = {"vcpu_priority": priority}
            if disk:
                img = os.path.join(work, "noisy-disk.img")
                with open(img, "wb") as f:
                    f.truncate(256 << 20)
                cfg["drives"] = [{"drive_id": "data", "path_on_host": img, "is_root_device": False,
                                  "is_read_only": False}]
            path = os.path.join(work, f"noisy{i}.json")
            with open(path, "w") as f:
                json.dump(cfg, f)
            vm = Console([kiln, "--api-sock", sock, "--config-file", path], f"noisy VM {i}")
            vm.sock, vm.disk = sock, disk
            self.vms.append(vm)
        for vm in self.vms:
            vm.expect(re.escape(PROMPT))
            if vm.disk:
                vm.send("while :; do dd if=/dev/zero of=/dev/vda bs=1M count=128 conv=fsync 2>/dev/null; "
                        "dd if=/dev/vda of=/dev/null bs=1M count=128 iflag=direct 2>/dev/null; done &")
            else:
                vm.send("while :; do :; done & while :; do :; done &")
            if limit:
                quota, period = limit
                api(vm.sock, "PUT", "/kiln/cpu-limit", {"quota_us": quota, "period_us": period})
        time.sleep(2.0)   # the load is on

    def stats(self):
        return [api(vm.sock, "GET", "/kiln/cpu-limit").get("stats", {}) for vm in self.vms]

    def close(self):
        for vm in self.vms:
            vm.close()


def reqlat(victim, requests, work):
    victim.send(f"kiln-reqlat -i 20000 -n {requests} -w {work}")
    m = victim.expect(rb"reqlat: requests=\d+ interval_us=\d+ work=\d+ p50_us=([\d.]+) p99_us=([\d.]+) "
                      rb"max_us=([\d.]+)", timeout=requests * 0.02 * 20 + 120)
    return tuple(float(x) / 1000.0 for x in m.groups())   # ms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--requests", type=int, default=500, help="per scenario, one every 20 ms")
    ap.add_argument("--cpu-vms", type=int, default=2, help="noisy VMs spinning 2 vCPUs each (plus one disk VM)")
    ap.add_argument("--limit", default="20000/100000", help="the noisy VMs' --cpu-limit, QUOTA_US/PERIOD_US")
    a = ap.parse_args()
    quota, period = (int(x) for x in a.limit.split("/"))
    scenarios = [("alone", None, None, None),
                 ("noisy, no limits", (), None, None),
                 (f"noisy, --cpu-limit {quota // 1000} ms/{period // 1000} ms", (), (quota, period), None),
                 (f"noisy, --cpu-limit {quota // 1000} ms/{period // 1000} ms + --vcpu-priority idle", (),
                  (quota, period), "idle")]
    res = {s[0]: [] for s in scenarios}
    work = tempfile.mkdtemp(prefix="kiln-bench-noisy-")
    victim = Console(kiln_run(a.kiln, a.guest), "the victim VM")
    throttled = {}
    try:
        victim.expect(re.escape(PROMPT))
        time.sleep(1.0)
        victim.send("kiln-reqlat -c 2000")
        w = int(victim.expect(rb"reqlat: work=(\d+) for_us=2000").group(1))
        print(f"victim: {w} rounds of work per request (about 2 ms of its vCPU alone)", flush=True)
        for r in range(a.runs):
            for name, noisy, limit, prio in scenarios:
                n = Noisy(a.kiln, a.guest, work, a.cpu_vms, limit, prio) if noisy is not None else None
                try:
                    res[name].append(reqlat(victim, a.requests, w))
                    if n and limit:
                        throttled[name] = sum(s.get("nr_throttled", 0) for s in n.stats())
                finally:
                    if n:
                        n.close()
                p50, p99, mx = res[name][-1]
                print(f"run {r + 1}: {name}: p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {mx:.2f} ms", flush=True)
    finally:
        victim.close()
        shutil.rmtree(work, ignore_errors=True)

    base50 = statistics.median(x[0] for x in res["alone"])
    base99 = statistics.median(x[1] for x in res["alone"])
    ncpu = os.cpu_count()
    load = os.getloadavg()[0]
    print(f"\nVictim response time (request every 20 ms, ~2 ms of CPU each; {a.requests} requests per "
          f"scenario, median of {a.runs} run(s)); noisy: {a.cpu_vms} VMs x 2 spinning vCPUs + 1 VM "
          f"writing/reading its disk; host: {ncpu} CPUs, load average {load:.1f} at the end")
    print("| scenario | p50 (ms) | p99 (ms) | p50 slowdown | p99 slowdown |")
    print("| --- | --- | --- | --- | --- |")
    for name, *_ in scenarios:
        p50 = statistics.median(x[0] for x in res[name])
        p99 = statistics.median(x[1] for x in res[name])
        print(f"| {name} | {p50:.2f} | {p99:.2f} | {p50 / base50:.2f}x | {p99 / base99:.2f}x |")
    print("Goal (issue 11): <= 1.2x with limits; Queiroz et al. 2023 measured 1.9-5.2x without.")
    for name, t in throttled.items():
        print(f"({name}: the noisy VMs were throttled {t} times)")


if __name__ == "__main__":
    main()
