#!/usr/bin/env python3
"""One-command sandboxes: host wall time of `kiln run --rm -- true` (exec to exit) and time to
first output of `kiln run --rm -- echo hi` (exec to "hi" on stdout), medians over N runs.
With --qemu, the same guest command under QEMU (TCG, Debian's OpenSBI, same kernel and
initramfs, the same kiln.run= command line that kiln builds), runs alternating so a noisy
machine hurts both alike."""
import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time

OPENSBI = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"


PLAIN = set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./,:=+@%")


def kiln_run_param(argv):
    """kiln.run= as src/vm/run_cmd.c writes it: a shell command line, other bytes as \\xHH."""
    line = " ".join(shlex.quote(a) for a in argv).encode()
    return "".join(chr(c) if c in PLAIN else f"\\x{c:02x}" for c in line)


def qemu_cmd(guest, argv):
    run = kiln_run_param(argv)
    return ["qemu-system-riscv64", "-machine", "virt", "-m", "256", "-nographic", "-bios", OPENSBI,
            "-kernel", os.path.join(guest, "Image"), "-initrd", os.path.join(guest, "initramfs.cpio.gz"),
            "-append", f"console=hvc0 quiet loglevel=0 pty.legacy_count=0 kiln.run={run}"]


def kiln_cmd(kiln, argv):
    return [kiln, "run", "--rm", "--", *argv]


def timed(cmd, marker=None, timeout=120):
    """Seconds from exec to exit, and from exec to the first stdout bytes ending with marker
    (QEMU prints OpenSBI's banner first, so "first output" means the command's own)."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first, out = None, b""
    while True:
        chunk = os.read(p.stdout.fileno(), 65536)
        if not chunk:
            break
        out += chunk
        if first is None and marker and marker in out:
            first = time.monotonic() - t0
    err = p.stderr.read()
    rc = p.wait(timeout)
    wall = time.monotonic() - t0
    if rc != 0 or (marker and first is None):
        sys.exit(f"run failed ({rc}): {' '.join(cmd)[:200]}\nstdout {out[-500:]!r}\nstderr {err[-500:]!r}")
    return wall, first, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--qemu", action="store_true")
    a = ap.parse_args()
    os.environ["KILN_GUEST_DIR"] = a.guest
    vmms = {"kiln": lambda argv: kiln_cmd(a.kiln, argv)}
    if a.qemu:
        if shutil.which("qemu-system-riscv64") and os.path.exists(OPENSBI):
            vmms["qemu"] = lambda argv: qemu_cmd(a.guest, argv)
        else:
            print("(qemu-system-riscv64 or OpenSBI missing: kiln only)")
    true_s = {k: [] for k in vmms}
    hi_s = {k: [] for k in vmms}
    for _ in range(a.runs):
        for name, cmd in vmms.items():
            true_s[name].append(timed(cmd(["true"]))[0])
            _, first, out = timed(cmd(["echo", "hi"]), marker=b"hi\n")
            if name == "kiln" and out != b"hi\n":
                sys.exit(f"kiln run --rm -- echo hi printed {out!r}")
            hi_s[name].append(first)
    print(f"{a.runs} runs each, medians (min-max), seconds; host: {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"{'':8} {'run --rm -- true (wall)':>28} {'echo hi: exec to first output':>32}")
    for name in vmms:
        t, h = true_s[name], hi_s[name]
        print(f"{name:8} {statistics.median(t):>10.3f} ({min(t):.3f}-{max(t):.3f})"
              f"{statistics.median(h):>20.3f} ({min(h):.3f}-{max(h):.3f})")
    if "qemu" in vmms:
        print(f"kiln/qemu {statistics.median(true_s['kiln']) / statistics.median(true_s['qemu']):>13.2f}"
              f"{statistics.median(hi_s['kiln']) / statistics.median(hi_s['qemu']):>31.2f}")


if __name__ == "__main__":
    main()
