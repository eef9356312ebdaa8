#!/usr/bin/env python3
"""Snapshots and live migration, kiln against QEMU (TCG, Debian's QEMU 7.2 and OpenSBI), the
same guest under both (1 vCPU, 256 MiB, the default kernel and initramfs, idle at its prompt),
runs alternating so a noisy machine hurts both alike:

  (a) snapshot create (Full) of a paused guest: kiln's PUT /snapshot/create latency against
      QEMU's `migrate` to "exec:cat > FILE" (QEMU 7.2 has no "file:" URI), `stop`ped first,
      from the command to query-migrate reporting "completed" (kiln fdatasyncs both of its files
      before it answers; QEMU's `cat` does not sync);
  (b) restore to a running guest: kiln's PUT /snapshot/load latency (resume_vm true) against a
      fresh `QEMU -S -incoming defer`'s migrate-incoming "exec:cat FILE" until the state is loaded
      plus `cont` (QEMU 7.2 reports no total-time on the incoming side); and, for both, exec of
      the VMM to the guest running and to it answering a command on its console;
  (c) `kiln run --rm -- true` against QEMU booting the same guest to run `true`: the functions
      of bench/run_rm.py (which `make bench` runs on its own too), called here once per run;
  (d) live migration over a Unix socket of an idle guest and of a busy one (a background loop
      rewriting a tmpfs file with dd, KILN_STATE_DIRTY_MIB MiB per pass): total time and
      downtime as each VMM reports them (kiln: the send-migration reply; QEMU: query-migrate),
      with QEMU's downtime-limit set to kiln's default of 50 ms (QEMU's own default is 300 ms)
      and its max-bandwidth lifted (its default caps a migration at 128 MiB/s; kiln has no cap).

Every VMM process runs with a deadline and is killed on exit, error or Ctrl-C; the temporary
directory (snapshot files, sockets) is removed.
"""
import argparse
import atexit
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True        # importing run_rm must not leave bench/__pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_rm  # noqa: E402  (c) is bench/run_rm.py's measurement, reused as is

OPENSBI = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"
MEM_MIB = 256
DOWNTIME_MS = 50                      # kiln's default downtime budget; QEMU is set to the same
MIGRATE_TIMEOUT_S = int(os.environ.get("KILN_STATE_MIGRATE_TIMEOUT", "30"))
DIRTY_MIB = int(os.environ.get("KILN_STATE_DIRTY_MIB", "16"))
BOOT_TIMEOUT = 120
PROCS = []                            # every VMM started, killed at exit


class BenchError(Exception):
    pass


class GuestLost(BenchError):
    """The migration reported success but the guest does not answer at the destination."""


def cleanup():
    for p in PROCS:
        if p.poll() is None:
            p.kill()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass


def wait_path(path, proc, timeout, what):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc is not None and proc.poll() is not None:
            raise BenchError(f"{what} exited ({proc.returncode}) before creating {path}")
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: {path} never appeared")
        time.sleep(0.0005)


class VMM:
    """A VMM process whose stdout is the guest console (stdin is the console's input)."""

    def __init__(self, name, cmd):
        self.name = name
        self.out = b""
        self.err = b""
        self.pos = 0
        self.cv = threading.Condition()
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        PROCS.append(self.proc)
        self.pumps = [threading.Thread(target=self._pump, args=(self.proc.stdout, "out"), daemon=True),
                      threading.Thread(target=self._pump, args=(self.proc.stderr, "err"), daemon=True)]
        for t in self.pumps:
            t.start()

    def _pump(self, stream, attr):
        while True:
            try:
                data = os.read(stream.fileno(), 65536)
            except OSError:
                data = b""
            with self.cv:
                if data:
                    setattr(self, attr, getattr(self, attr) + data)
                self.cv.notify_all()
            if not data:
                return

    def expect(self, pattern, timeout):
        rx = re.compile(pattern, re.S)
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                m = rx.search(self.out, self.pos)
                if m:
                    self.pos = m.end()
                    return time.monotonic()
                left = deadline - time.monotonic()
                if left <= 0 or not self.pumps[0].is_alive():
                    raise BenchError(f"{self.name}: no {pattern!r} on the console within {timeout:.0f} s "
                                     f"(exit {self.proc.poll()})\n--- console ---\n"
                                     f"{self.out[-6000:].decode(errors='replace')}\n--- stderr ---\n"
                                     f"{self.err[-6000:].decode(errors='replace')}")
                self.cv.wait(min(left, 0.1))

    def send(self, line):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def answers(self, timeout=30):
        """Sends `echo R<n>` (the shell computes n, so the tty's echo of the command line does not
        match) and returns the time the answer arrived."""
        n = random.randrange(10000, 99999)
        self.send(f"echo R$(({n} - 1))")
        return self.expect(rb"R%d\r?\n" % (n - 1), timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        for t in self.pumps:
            t.join(5)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass


# ---------------------------------------------------------------------------------------- kiln

class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class Kiln(VMM):
    def __init__(self, kiln, tmp, tag):
        self.sock = os.path.join(tmp, f"kiln-{tag}.sock")
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        super().__init__(f"kiln ({tag})", [kiln, "--api-sock", self.sock])
        deadline = time.monotonic() + 10
        while True:
            with socket.socket(socket.AF_UNIX) as s:
                try:
                    s.connect(self.sock)
                    break
                except OSError:
                    pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"{self.name}: API socket never ready: {self.err[-500:]!r}")
            time.sleep(0.0005)

    def req(self, method, path, body=None, timeout=30):
        """Returns (parsed reply or None, seconds the request took)."""
        c = UnixHTTPConnection(self.sock, timeout)
        t0 = time.monotonic()
        c.request(method, path, body=json.dumps(body) if body is not None else None,
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        dt = time.monotonic() - t0
        c.close()
        if r.status >= 300:
            raise BenchError(f"{self.name}: {method} /{path.lstrip('/')} -> {r.status} {data[:500]!r}\n"
                             f"stderr: {self.err[-800:].decode(errors='replace')}")
        return (json.loads(data) if data else None), dt


def kiln_boot(kiln, guest, tmp, tag):
    k = Kiln(kiln, tmp, tag)
    k.req("PUT", "/boot-source", {"kernel_image_path": os.path.join(guest, "Image"),
                                  "initrd_path": os.path.join(guest, "initramfs.cpio.gz"),
                                  "boot_args": "console=ttyS0"})
    k.req("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": MEM_MIB})
    k.req("PUT", "/actions", {"action_type": "InstanceStart"})
    k.expect(rb"kiln guest ready", BOOT_TIMEOUT)
    k.answers()
    return k


def kiln_migrate(src, kiln, tmp, tag):
    """Migrates src to a fresh kiln; returns (destination, stats, wall s)."""
    dst = Kiln(kiln, tmp, tag)
    url = "unix:" + os.path.join(tmp, f"mig-{tag}.sock")
    recv = {}

    def receive():
        try:
            recv["r"] = dst.req("PUT", "/vm.receive-migration", {"receiver_url": url},
                                timeout=MIGRATE_TIMEOUT_S + 30)
        except Exception as e:  # noqa: BLE001  reported by the caller
            recv["e"] = e

    t = threading.Thread(target=receive, daemon=True)
    t.start()
    try:
        st, wall = src.req("PUT", "/vm.send-migration", {"destination_url": url, "timeout_s": MIGRATE_TIMEOUT_S},
                           timeout=MIGRATE_TIMEOUT_S + 30)
    except BenchError:
        t.join(5)
        dst.stop()
        raise
    t.join(30)
    if "e" in recv or "r" not in recv:
        dst.stop()
        raise BenchError(f"{dst.name}: receive-migration: {recv.get('e', 'no reply')}")
    src.stop()                             # its guest ended with the hand-over
    try:
        dst.answers()
    except BenchError as e:
        dst.stop()
        raise GuestLost(f"migrated ({st}) but {e}") from None
    return dst, st, wall


def kiln_run(a, tmp, res, log):
    snap, mem = os.path.join(tmp, "kiln.snap"), os.path.join(tmp, "kiln.mem")
    for f in (snap, mem):
        if os.path.exists(f):
            os.unlink(f)
    vms = []
    try:
        k = kiln_boot(a.kiln, a.guest, tmp, "src")
        vms.append(k)
        time.sleep(1.0)                    # let the just-booted guest settle at its prompt
        k.req("PATCH", "/vm", {"state": "Paused"})
        _, dt = k.req("PUT", "/snapshot/create", {"snapshot_type": "Full", "snapshot_path": snap,
                                                  "mem_file_path": mem}, timeout=120)
        res["create"].append(dt * 1e3)
        size = sum(os.stat(f).st_blocks * 512 for f in (snap, mem)) / 2**20
        res["size"].append(size)
        k.req("PATCH", "/vm", {"state": "Resumed"})
        k.answers()
        log.append(f"create {dt * 1e3:.1f} ms ({size:.1f} MiB on disk)")

        # (d) idle, then busy on the destination
        try:
            d1, st, wall = kiln_migrate(k, a.kiln, tmp, "dst1")
            vms.append(d1)
            res["idle_total"].append(st["total_ms"])
            res["idle_down"].append(st["downtime_ms"])
            log.append(f"idle migration {st['total_ms']} ms, downtime {st['downtime_ms']:.1f} ms, "
                       f"{st['rounds']} rounds, {st['pages_sent'] * 4 // 1024} MiB sent")
            busy(d1)
            try:
                d2, st, wall = kiln_migrate(d1, a.kiln, tmp, "dst2")
                vms.append(d2)
                res["busy_total"].append(st["total_ms"])
                res["busy_down"].append(st["downtime_ms"])
                log.append(f"busy migration {st['total_ms']} ms, downtime {st['downtime_ms']:.1f} ms, "
                           f"{st['rounds']} rounds, {st['pages_sent'] * 4 // 1024} MiB sent")
            except BenchError as e:
                fail(res, log, "busy", e)
        except BenchError as e:
            fail(res, log, "idle", e)
    finally:
        for v in vms:
            v.stop()

    # (b) restore into a fresh kiln
    r = Kiln(a.kiln, tmp, "restore")
    try:
        _, dt = r.req("PUT", "/snapshot/load", {"snapshot_path": snap,
                                                "mem_backend": {"backend_type": "File", "backend_path": mem},
                                                "resume_vm": True})
        running = time.monotonic() - r.t0
        answered = r.answers() - r.t0
        res["load"].append(dt * 1e3)
        res["to_running"].append(running * 1e3)
        res["to_answer"].append(answered * 1e3)
        log.append(f"load {dt * 1e3:.2f} ms, exec->running {running * 1e3:.1f} ms, "
                   f"exec->answer {answered * 1e3:.1f} ms")
    finally:
        r.stop()


def fail(res, log, kind, e):
    """A migration that failed, or whose guest was dead at the destination: counted, not timed."""
    res[f"{kind}_{'lost' if isinstance(e, GuestLost) else 'fail'}"] += 1
    first = str(e).splitlines()[0][:300]
    log.append(f"{kind} migration FAILED: {first}")
    if isinstance(e, GuestLost) and "--- console ---" in str(e):
        tail = [ln for ln in str(e).split("--- console ---")[1].splitlines() if ln.strip()]
        oops = [ln for ln in tail if re.search(r"Oops|panic|Unable to handle|epc :|BUG", ln)]
        log.append("guest console: " + " / ".join((oops or tail[-3:])[:4]))


def busy(vm):
    """Starts the memory-dirtying loop in the background on vm's guest and lets it get going."""
    vm.send(f"dd if=/dev/zero of=/tmp/dirty bs=1M count={DIRTY_MIB} 2>/dev/null; "
            f"(while :; do dd if=/dev/zero of=/tmp/dirty bs=1M count={DIRTY_MIB} conv=notrunc 2>/dev/null; "
            f"done) & echo B$((6 * 7))")
    vm.expect(rb"B42\r?\n", 30)
    time.sleep(1.0)


# ---------------------------------------------------------------------------------------- QEMU

class QMP:
    def __init__(self, path, proc, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                break
            except OSError:
                s.close()
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise BenchError(f"QMP socket {path} never ready (QEMU exit {proc.poll()})")
                time.sleep(0.001)
        s.settimeout(timeout)
        self.s = s
        self.f = s.makefile("rwb")
        self.f.readline()                 # greeting
        self.cmd("qmp_capabilities")

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.f.write(json.dumps(msg).encode() + b"\n")
        self.f.flush()
        while True:
            line = self.f.readline()
            if not line:
                raise BenchError(f"QMP {name}: connection closed")
            r = json.loads(line)
            if "event" in r:
                continue
            if "error" in r:
                raise BenchError(f"QMP {name} {args}: {r['error'].get('desc')}")
            return r["return"]

    def wait_migration(self, timeout):
        """Polls query-migrate until it completes; returns its reply."""
        deadline = time.monotonic() + timeout
        while True:
            r = self.cmd("query-migrate")
            st = r.get("status")
            if st == "completed":
                return r
            if st in ("failed", "cancelled"):
                raise BenchError(f"QEMU migration {st}: {r.get('error-desc', '')}")
            if time.monotonic() > deadline:
                try:
                    self.cmd("migrate_cancel")
                except BenchError:
                    pass
                raise BenchError(f"QEMU migration did not complete within {timeout} s "
                                 f"(downtime-limit {DOWNTIME_MS} ms; last status {st}, "
                                 f"dirty rate {r.get('ram', {}).get('dirty-pages-rate')} pages/s)")
            time.sleep(0.001)

    def set_params(self):
        self.cmd("migrate-set-parameters", **{"downtime-limit": DOWNTIME_MS, "max-bandwidth": 1 << 40})

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


class Qemu(VMM):
    def __init__(self, guest, tmp, tag, extra=()):
        self.qmp_path = os.path.join(tmp, f"qmp-{tag}.sock")
        if os.path.exists(self.qmp_path):
            os.unlink(self.qmp_path)
        cmd = ["qemu-system-riscv64", "-machine", "virt", "-bios", OPENSBI,
               "-kernel", os.path.join(guest, "Image"), "-initrd", os.path.join(guest, "initramfs.cpio.gz"),
               "-append", "console=ttyS0", "-smp", "1", "-m", str(MEM_MIB), "-nographic",
               "-qmp", f"unix:{self.qmp_path},server=on,wait=off", *extra]
        super().__init__(f"QEMU ({tag})", cmd)
        self.qmp = QMP(self.qmp_path, self.proc)

    def stop(self):
        self.qmp.close()
        super().stop()


def qemu_migrate(src, guest, tmp, tag):
    """Live-migrates src to a fresh QEMU over a Unix socket; returns (destination, query-migrate)."""
    path = os.path.join(tmp, f"qmig-{tag}.sock")
    if os.path.exists(path):
        os.unlink(path)
    dst = Qemu(guest, tmp, tag, ["-incoming", f"unix:{path}"])
    try:
        wait_path(path, dst.proc, 10, dst.name)
        src.qmp.cmd("migrate", uri=f"unix:{path}")
        r = src.qmp.wait_migration(MIGRATE_TIMEOUT_S)
        deadline = time.monotonic() + 30
        while dst.qmp.cmd("query-status")["status"] != "running":
            if time.monotonic() > deadline:
                raise BenchError(f"{dst.name}: not running after the migration")
            time.sleep(0.005)
    except BenchError:
        dst.stop()
        raise
    src.stop()
    try:
        dst.answers()
    except BenchError as e:
        dst.stop()
        raise GuestLost(f"migrated (total {r.get('total-time')} ms) but {e}") from None
    dst.qmp.set_params()
    return dst, r


def qemu_run(a, tmp, res, log):
    snap = os.path.join(tmp, "qemu.state")
    if os.path.exists(snap):
        os.unlink(snap)
    vms = []
    try:
        q = Qemu(a.guest, tmp, "src")
        vms.append(q)
        q.expect(rb"kiln guest ready", BOOT_TIMEOUT)
        q.answers()
        q.qmp.set_params()
        time.sleep(1.0)
        q.qmp.cmd("stop")
        t0 = time.monotonic()
        q.qmp.cmd("migrate", uri=f"exec:cat > {snap}")
        r = q.qmp.wait_migration(120)
        dt = time.monotonic() - t0
        res["create"].append(dt * 1e3)
        size = os.stat(snap).st_blocks * 512 / 2**20
        res["size"].append(size)
        q.qmp.cmd("cont")
        q.answers()
        log.append(f"create {dt * 1e3:.1f} ms (QEMU total-time {r.get('total-time')} ms, {size:.1f} MiB on disk)")

        try:
            d1, r = qemu_migrate(q, a.guest, tmp, "dst1")
            vms.append(d1)
            res["idle_total"].append(r["total-time"])
            res["idle_down"].append(r["downtime"])
            log.append(f"idle migration {r['total-time']} ms, downtime {r['downtime']} ms, "
                       f"{r['ram']['dirty-sync-count']} dirty syncs, {r['ram']['transferred'] >> 20} MiB sent")
            busy(d1)
            try:
                d2, r = qemu_migrate(d1, a.guest, tmp, "dst2")
                vms.append(d2)
                res["busy_total"].append(r["total-time"])
                res["busy_down"].append(r["downtime"])
                log.append(f"busy migration {r['total-time']} ms, downtime {r['downtime']} ms, "
                           f"{r['ram']['dirty-sync-count']} dirty syncs, {r['ram']['transferred'] >> 20} MiB sent")
            except BenchError as e:
                fail(res, log, "busy", e)
        except BenchError as e:
            fail(res, log, "idle", e)
    finally:
        for v in vms:
            v.stop()

    # (b) restore: a fresh QEMU paused (-S) with -incoming defer, then, like kiln's one load call,
    # migrate-incoming from the file until the state is in, and `cont`
    r = Qemu(a.guest, tmp, "restore", ["-S", "-incoming", "defer"])
    try:
        t1 = time.monotonic()
        r.qmp.cmd("migrate-incoming", uri=f"exec:cat {snap}")
        deadline = time.monotonic() + 60
        while True:
            st = r.qmp.cmd("query-status")["status"]
            if st == "paused":
                break
            if st not in ("inmigrate", "prelaunch") or time.monotonic() > deadline:
                raise BenchError(f"{r.name}: status {st} while loading the state")
            time.sleep(0.0005)
        r.qmp.cmd("cont")
        t2 = time.monotonic()
        answered = r.answers() - r.t0
        res["load"].append((t2 - t1) * 1e3)
        res["to_running"].append((t2 - r.t0) * 1e3)
        res["to_answer"].append(answered * 1e3)
        log.append(f"migrate-incoming + cont {(t2 - t1) * 1e3:.1f} ms, "
                   f"exec->running {(t2 - r.t0) * 1e3:.1f} ms, exec->answer {answered * 1e3:.1f} ms")
    finally:
        r.stop()


# ---------------------------------------------------------------------------------------- main

def med(v):
    v = [x for x in v if x == x]
    return statistics.median(v) if v else None


def fmt(x, nd):
    return "-" if x is None else f"{x:.{nd}f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    for f in (a.kiln, os.path.join(a.guest, "Image"), os.path.join(a.guest, "initramfs.cpio.gz")):
        if not os.path.exists(f):
            sys.exit(f"bench_state: {f} is missing (make build/kiln guest)")
    if not shutil.which("qemu-system-riscv64") or not os.path.exists(OPENSBI):
        sys.exit("bench_state: qemu-system-riscv64 or OpenSBI's fw_dynamic.bin is missing: run "
                 "scripts/install-deps.sh (Debian packages qemu-system-misc and opensbi)")
    ver = subprocess.run(["qemu-system-riscv64", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    atexit.register(cleanup)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda s, f: sys.exit(128 + s))
    keys = ("create", "size", "load", "to_running", "to_answer", "rm_true",
            "idle_total", "idle_down", "busy_total", "busy_down")
    counts = {"idle_fail": 0, "busy_fail": 0, "idle_lost": 0, "busy_lost": 0}
    res = {v: {k: [] for k in keys} | counts for v in ("kiln", "qemu")}
    runners = {"kiln": kiln_run, "qemu": qemu_run}
    os.environ["KILN_GUEST_DIR"] = a.guest
    t_start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kiln-bench-state-") as tmp:
        try:
            for i in range(a.runs):
                order = ("kiln", "qemu") if i % 2 == 0 else ("qemu", "kiln")
                for vmm in order:
                    log = []
                    runners[vmm](a, tmp, res[vmm], log)
                    cmd = (run_rm.kiln_cmd(a.kiln, ["true"]) if vmm == "kiln"
                           else run_rm.qemu_cmd(a.guest, ["true"]))
                    wall = run_rm.timed(cmd)[0] * 1e3
                    res[vmm]["rm_true"].append(wall)
                    log.append(f"run --rm true {wall:.0f} ms")
                    print(f"run {i + 1}/{a.runs} {vmm}: " + "; ".join(log), flush=True)
        except BenchError as e:
            sys.exit(f"bench_state: {e}")
        finally:
            cleanup()
    m = {v: {k: med(res[v][k]) for k in keys} for v in res}

    def row(label, key, nd, target="-"):
        k, q = m["kiln"][key], m["qemu"][key]
        ratio = f"{k / q:.2f}x" if k is not None and q else "-"
        print(f"| {label} | {fmt(k, nd)} | {fmt(q, nd)} | {ratio} | {target} |")

    def fails(key):
        out = [f"{v}: {res[v][key + '_fail']}/{a.runs} did not complete" for v in res if res[v][key + "_fail"]]
        out += [f"{v}: guest dead at the destination {res[v][key + '_lost']}/{a.runs}, not counted"
                for v in res if res[v][key + "_lost"]]
        return f" ({'; '.join(out)})" if out else ""

    print()
    print(f"{ver}; {a.runs} runs in {time.monotonic() - t_start:.0f} s; QEMU downtime-limit set to "
          f"{DOWNTIME_MS} ms (its default: 300 ms) = kiln's default, QEMU max-bandwidth uncapped; "
          f"busy guest rewrites a {DIRTY_MIB} MiB tmpfs file with dd in a loop; kiln's snapshot create "
          f"includes fdatasync of its files, QEMU's exec:cat does not sync")
    print()
    print(f"| metric (median of {a.runs}) | kiln | QEMU | kiln/QEMU | Firecracker's target |")
    print("| --- | --- | --- | --- | --- |")
    row("(a) snapshot create (Full), paused guest, ms", "create", 1)
    row("(a) snapshot size on disk, MiB (kiln: state + sparse memory file)", "size", 1)
    row("(b) restore: kiln PUT /snapshot/load (resume_vm) / QEMU migrate-incoming + `cont`, ms",
        "load", 2, "< 5 ms")
    row("(b) restore: exec -> guest running, ms", "to_running", 1)
    row("(b) restore: exec -> guest answers on its console, ms", "to_answer", 1)
    row("(c) `run --rm -- true`, wall ms (as bench/run_rm.sh)", "rm_true", 0)
    row("(d) live migration, idle guest, total ms" + fails("idle"), "idle_total", 1)
    row("(d) live migration, idle guest, downtime ms", "idle_down", 1)
    row(f"(d) live migration, busy guest ({DIRTY_MIB} MiB dirtied in a loop), total ms" + fails("busy"),
        "busy_total", 1)
    row("(d) live migration, busy guest, downtime ms", "busy_down", 1)


if __name__ == "__main__":
    main()
