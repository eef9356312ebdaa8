#!/usr/bin/env python3
"""kiln vs QEMU I/O throughput on the default guest booted from rootfs.ext4 with kiln.bench=io
(guest/kiln-bench-io):
(a) disk: O_DIRECT sequential write then read in 1 MiB blocks on a scratch raw image attached as
    a second virtio disk; timed by the guest's dd;
(b) net push, guest -> host: the guest pipes zeros into nc to a sink on the host's 127.0.0.1
    (10.0.2.2 in the guest, via user-mode networking); timed here, first byte to end of stream;
(c) net pull, host -> guest: a source on the host sends the same amount; timed by the guest's dd.
Runs alternate between the two VMMs so that a noisy machine hurts both alike; the table shows
medians in MiB/s and kiln/QEMU ratios (above 1 = kiln faster)."""
import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

OPENSBI = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"
MIB = 1 << 20


def commands(kiln, image, rootfs, scratch, mem, append):
    """The same machine for both VMMs: root disk, scratch disk, user-mode network. The host's
    sink and source listen on 127.0.0.1, which a kiln guest reaches only with host-loopback=on
    (QEMU's -netdev user allows it always)."""
    return {
        "kiln": [kiln, "run", "--kernel", image, "--mem", str(mem), "--disk", rootfs,
                 "--disk", scratch, "--net", "user,host-loopback=on", "--cmdline", append],
        "qemu": ["qemu-system-riscv64", "-machine", "virt", "-m", str(mem), "-nographic",
                 "-bios", OPENSBI, "-kernel", image, "-append", append,
                 "-drive", f"file={rootfs},if=none,id=d0,format=raw",
                 "-device", "virtio-blk-device,drive=d0",
                 "-drive", f"file={scratch},if=none,id=d1,format=raw",
                 "-device", "virtio-blk-device,drive=d1",
                 "-netdev", "user,id=n0", "-device", "virtio-net-device,netdev=n0"],
    }


def listen_pair():
    """Two listening sockets on consecutive 127.0.0.1 ports (sink on P, source on P+1): the
    guest only learns P from its command line."""
    for _ in range(50):
        sink = socket.socket()
        sink.bind(("127.0.0.1", 0))
        port = sink.getsockname()[1]
        source = socket.socket()
        try:
            source.bind(("127.0.0.1", port + 1))
        except OSError:
            sink.close()
            source.close()
            continue
        for s in (sink, source):
            s.listen(1)
            s.settimeout(600)
        return sink, source, port
    sys.exit("no two consecutive free TCP ports on 127.0.0.1")


class Peer(threading.Thread):
    """Serves one guest connection: as sink, reads to end of stream and times first byte to
    last; as source, sends nbytes and closes."""

    def __init__(self, listener, nbytes, send):
        super().__init__(daemon=True)
        self.listener, self.nbytes, self.send = listener, nbytes, send
        self.received, self.seconds, self.error = 0, None, None

    def run(self):
        try:
            conn, _ = self.listener.accept()
            with conn:
                if self.send:
                    block = bytes(MIB)
                    for _ in range(self.nbytes // MIB):
                        conn.sendall(block)
                    return
                first = None
                while True:
                    data = conn.recv(1 << 18)
                    if not data:
                        break
                    if first is None:
                        first = time.monotonic()
                    self.received += len(data)
                if first is not None:
                    self.seconds = time.monotonic() - first
        except OSError as e:
            self.error = e


def guest_results(out):
    """{what: (bytes, seconds)} from the guest's KILN-BENCH-IO lines."""
    return {m.group(1): (int(m.group(2)), float(m.group(3)))
            for m in re.finditer(r"KILN-BENCH-IO (\w+) bytes=(\d+) seconds=([0-9.]+)", out)}


def run_once(vmm, a, tmp):
    """One boot of `vmm` running the guest's I/O benchmark; returns {metric: MiB/s}."""
    disk_bytes, net_bytes = a.disk_mib * MIB, a.net_mib * MIB
    # fresh copies every run: the guest boots read-write and must not see an earlier run's disk
    rootfs, scratch = os.path.join(tmp, "rootfs.ext4"), os.path.join(tmp, "scratch.img")
    subprocess.run(["cp", "--sparse=always", os.path.join(a.guest, "rootfs.ext4"), rootfs], check=True)
    with open(scratch, "wb") as f:
        f.truncate(2 * disk_bytes)
    sink_sock, source_sock, port = listen_pair()
    sink, source = Peer(sink_sock, net_bytes, False), Peer(source_sock, net_bytes, True)
    sink.start()
    source.start()
    append = (f"console=ttyS0 quiet root=/dev/vda rw kiln.bench=io kiln.io.port={port} "
              f"kiln.io.disk_mib={a.disk_mib} kiln.io.net_mib={a.net_mib}")
    cmd = commands(a.kiln, os.path.join(a.guest, "Image"), rootfs, scratch, a.mem, append)[vmm]
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=900)
    finally:
        for s in (sink_sock, source_sock):
            try:
                s.shutdown(socket.SHUT_RDWR)  # wakes a peer still waiting in accept()
            except OSError:
                pass
            s.close()
    out = p.stdout
    res = guest_results(out)
    fail = None
    if p.returncode != 0 or "KILN-BENCH-IO done" not in out:
        fail = f"exit status {p.returncode}"
    elif "KILN-BENCH-IO error" in out:
        fail = "the guest reported an error"
    elif (set(res) != {"disk_write", "disk_read", "net_pull"} or res["net_pull"][0] != net_bytes
          or res["disk_write"][0] != disk_bytes or res["disk_read"][0] != disk_bytes):
        fail = f"incomplete guest results {res}"
    elif sink.received != net_bytes or not sink.seconds:
        fail = f"host sink got {sink.received} of {net_bytes} bytes ({sink.error})"
    if fail:
        sys.exit(f"{vmm}: benchmark run failed: {fail}\n{' '.join(cmd)}\n{out[-2000:]}\n{p.stderr[-1500:]}")
    res["net_push"] = (sink.received, sink.seconds)
    for k, (_, s) in res.items():
        SHORTEST[k] = min(SHORTEST.get(k, s), s)
    return {k: b / MIB / s for k, (b, s) in res.items()}


# the shortest timed transfer per metric: a transfer over in a fraction of a second (128 MiB
# at over 1 GiB/s) is dominated by start-up and scheduling noise, which the table should say
SHORTEST = {}
SHORT_S = 1.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--mem", type=int, default=256)
    ap.add_argument("--disk-mib", type=int, default=128, help="MiB per disk transfer")
    ap.add_argument("--net-mib", type=int, default=32, help="MiB per network transfer")
    ap.add_argument("--only", choices=("kiln", "qemu"), help="run one VMM (no ratios)")
    a = ap.parse_args()
    if not os.path.exists(os.path.join(a.guest, "rootfs.ext4")):
        sys.exit(f"{a.guest}/rootfs.ext4 missing: run 'make guest'")

    vmms = (a.only,) if a.only else ("kiln", "qemu")
    rows = [(f"(a) disk sequential write, O_DIRECT, 1 MiB blocks, {a.disk_mib} MiB, MiB/s", "disk_write"),
            (f"(a) disk sequential read, O_DIRECT, 1 MiB blocks, {a.disk_mib} MiB, MiB/s", "disk_read"),
            (f"(b) net push guest -> host, TCP, {a.net_mib} MiB, MiB/s", "net_push"),
            (f"(c) net pull host -> guest, TCP, {a.net_mib} MiB, MiB/s", "net_pull")]
    res = {vmm: {key: [] for _, key in rows} for vmm in vmms}
    tmp = tempfile.mkdtemp(prefix="kiln-bench-io.")
    try:
        for i in range(a.runs):
            for vmm in vmms:
                r = run_once(vmm, a, tmp)
                for key in r:
                    res[vmm][key].append(r[key])
                print(f"run {i + 1}/{a.runs} {vmm}: " +
                      ", ".join(f"{key} {r[key]:.1f}" for _, key in rows) + " MiB/s", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    names = {"kiln": "kiln", "qemu": "QEMU"}
    print(f"| metric (median of {a.runs}) | " + " | ".join(names[v] for v in vmms) +
          (" | kiln/QEMU |" if len(vmms) == 2 else " |"))
    print("| --- " * (len(vmms) + 1 + (len(vmms) == 2)) + "|")
    for label, key in rows:
        med = [statistics.median(res[vmm][key]) for vmm in vmms]
        cells = [f"{m:.1f}" for m in med]
        if len(vmms) == 2:
            cells.append(f"{med[0] / med[1]:.2f}x" if med[1] > 0 else "-")
        print(f"| {label} | " + " | ".join(cells) + " |")
    short = [k for _, k in rows if SHORTEST.get(k, SHORT_S) < SHORT_S]
    if short:
        print(f"\nnote: some transfers took under {SHORT_S:.0f} s ("
              + ", ".join(f"{k} {SHORTEST[k]:.2f} s" for k in short)
              + "): too short to time reliably; raise KILN_IO_DISK_MIB / KILN_IO_NET_MIB")


if __name__ == "__main__":
    main()
