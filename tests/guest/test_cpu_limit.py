#!/usr/bin/env python3
"""test_cpu_limit.py — per-VM CPU limits and vCPU priorities, measured from outside.

A guest spins a CPU loop; the test reads kiln's own CPU time (utime + stime of every thread, from
/proc/PID/stat) over a few seconds of wall time. Under `--cpu-limit 20000/100000` kiln may use
20 % of a CPU, plus a little for its other threads; unlimited it uses what the host gives it. The
limit set through the API while the VM runs (PUT /kiln/cpu-limit) takes effect at once, both
ways. The priorities are read back from /proc/PID/task/*/stat of the kiln-vcpuN threads.
"""
import http.client
import json
import os
import re
import shutil
import socket
import tempfile
import time

from guestlib import IMAGE, INITRD, KILN, PROMPT, boot, check, main, poweroff, test
from kilnvm import KilnVM

TICK = os.sysconf("SC_CLK_TCK")
WINDOW = 4.0          # seconds of wall time per measurement
LIMIT_SLACK = 0.10    # the other threads (console, timers) and one check interval of overshoot


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK   # utime, stime (fields 14, 15)


def cpu_share(pid, seconds=WINDOW):
    """kiln's CPU time over `seconds` of wall time, in CPUs."""
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - c0) / (time.monotonic() - t0)


def spin(vm):
    vm.send("while :; do :; done &")
    time.sleep(0.5)


def threads(pid):
    """{thread name: [(nice, policy)]} from /proc/PID/task/*/stat (fields 19 and 41)"""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                text = f.read()
        except FileNotFoundError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        out.setdefault(name, []).append((int(fields[16]), int(fields[38])))
    return out


class Api:
    def __init__(self, path):
        self.path = path

    def req(self, method, url, body=None):
        c = http.client.HTTPConnection("localhost", timeout=30)
        c.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.sock.connect(self.path)
        c.request(method, url, body=json.dumps(body) if body is not None else None)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, json.loads(data) if data else None


@test
def test_cli_limit_holds_against_unlimited():
    vm = boot(["--cpu-limit", "20000/100000"])
    try:
        spin(vm)
        limited = cpu_share(vm.proc.pid)
    finally:
        vm.kill()
    vm = boot()
    try:
        spin(vm)
        unlimited = cpu_share(vm.proc.pid)
    finally:
        vm.kill()
    print(f"  kiln's CPU use with a spinning guest: limited to 20 %: {limited:.2f} CPUs, "
          f"unlimited: {unlimited:.2f} CPUs")
    check(limited <= 0.20 + LIMIT_SLACK, f"kiln used {limited:.2f} CPUs under a 20 % limit")
    check(limited >= 0.05, f"the limited guest barely ran: {limited:.2f} CPUs")
    # the limit, not a busy host, held it down
    check(unlimited >= 1.5 * limited, f"unlimited {unlimited:.2f} CPUs vs limited {limited:.2f}")


@test
def test_percent_form_and_bad_values_on_the_command_line():
    vm = boot(["--cpu-limit", "10%"])
    try:
        spin(vm)
        share = cpu_share(vm.proc.pid)
    finally:
        vm.kill()
    check(share <= 0.10 + LIMIT_SLACK, f"kiln used {share:.2f} CPUs under --cpu-limit 10%")
    for args, want in ((["--cpu-limit", "20000/999"], "The CPU limit's period must be 1000..1000000 us, not 999."),
                       (["--cpu-limit", "500/100000"], "quota must be 0 (none) or 1000 us..1024 periods"),
                       (["--cpu-limit", "fast"], "'fast' is not a CPU limit"),
                       (["--vcpu-priority", "high"], "'high' is not a vCPU priority: normal, low or idle")):
        vm = KilnVM(KILN, ["--kernel", IMAGE, "--initrd", INITRD] + args)
        rc = vm.wait(30)
        lines = vm.err.strip().splitlines()
        check(rc == 64, f"{args}: exit {rc}, expected 64")
        check(len(lines) == 1 and want in lines[0] and lines[0].startswith("kiln: --"),
              f"{args}: stderr {vm.err!r}")


@test
def test_api_limit_changes_while_the_guest_runs():
    d = tempfile.mkdtemp(prefix="kiln-cpulimit-")
    sock = os.path.join(d, "api.sock")
    cfg = os.path.join(d, "vm.json")
    with open(cfg, "w") as f:
        json.dump({"boot-source": {"kernel_image_path": IMAGE, "initrd_path": INITRD, "boot_args": "console=ttyS0"},
                   "machine-config": {"vcpu_count": 1, "mem_size_mib": 256}}, f)
    vm = KilnVM(KILN, ["--api-sock", sock, "--config-file", cfg], command=())
    try:
        vm.expect(re.escape(PROMPT))
        api = Api(sock)
        spin(vm)
        before = cpu_share(vm.proc.pid)
        check(api.req("PUT", "/kiln/cpu-limit", {"quota_us": 20000, "period_us": 100000})[0] == 204, "PUT refused")
        time.sleep(0.3)
        limited = cpu_share(vm.proc.pid)
        status, st = api.req("GET", "/kiln/cpu-limit")
        check(status == 200 and st["quota_us"] == 20000 and st["stats"]["nr_throttled"] > 0, f"GET: {st}")
        check(api.req("PUT", "/kiln/cpu-limit", {"quota_us": 0})[0] == 204, "PUT 0 refused")
        time.sleep(0.3)
        after = cpu_share(vm.proc.pid)
        print(f"  kiln's CPU use: unlimited {before:.2f}, limited to 20 % {limited:.2f}, "
              f"lifted {after:.2f} CPUs")
        check(limited <= 0.20 + LIMIT_SLACK, f"kiln used {limited:.2f} CPUs after PUT 20 %")
        check(before >= 1.5 * limited, f"the limit did not bite: {before:.2f} -> {limited:.2f} CPUs")
        check(after >= 1.5 * limited, f"lifting the limit did not free the guest: {limited:.2f} -> {after:.2f}")
        vm.send("kill %1")
        poweroff(vm)
    finally:
        vm.kill()
        shutil.rmtree(d, ignore_errors=True)


@test
def test_vcpu_priority_applies_to_the_vcpu_threads_only():
    own_nice = os.getpriority(os.PRIO_PROCESS, 0)
    for prio, want in (("low", (19, 0)), ("idle", (own_nice, 5))):   # 5: SCHED_IDLE
        vm = boot(["--cpus", "2", "--vcpu-priority", prio], cpus=2)
        try:
            t = threads(vm.proc.pid)
            for name in ("kiln-vcpu0", "kiln-vcpu1"):
                check(t.get(name) == [want], f"{prio}: {name} runs at (nice, policy) {t.get(name)}, want {want}")
            others = [v for name, vs in t.items() if not name.startswith("kiln-vcpu") for v in vs]
            check(others and all(v == (own_nice, 0) for v in others), f"{prio}: other threads changed: {t}")
            check(vm.run("echo prio-$((6*7))") == "prio-42", f"{prio}: the guest does not answer")
            poweroff(vm)
        finally:
            vm.kill()


if __name__ == "__main__":
    raise SystemExit(main())
