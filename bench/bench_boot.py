#!/usr/bin/env python3
"""kiln vs QEMU: (a) boot-to-poweroff wall time, (b) in-guest CPU workload time,
(c) peak host RSS of the VMM process. Runs alternate between the two VMMs so that a noisy
machine hurts both alike; the table shows medians and kiln/QEMU ratios."""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

OPENSBI = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"


def commands(kiln, guest, mem, append):
    image, initrd = os.path.join(guest, "Image"), os.path.join(guest, "initramfs.cpio.gz")
    return {
        "kiln": [kiln, "run", "--kernel", image, "--initrd", initrd, "--mem", str(mem),
                 "--cmdline", append],
        "qemu": ["qemu-system-riscv64", "-machine", "virt", "-m", str(mem), "-nographic",
                 "-bios", OPENSBI, "-kernel", image, "-initrd", initrd, "-append", append],
    }


def measure(cmd, timeout):
    """Run cmd under GNU time; return (wall seconds, peak RSS KiB, stdout)."""
    t0 = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-f", "KILN-RSS %M"] + cmd, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=timeout)
    wall = time.monotonic() - t0
    m = re.search(r"KILN-RSS (\d+)", p.stderr)
    if p.returncode != 0 or not m:
        sys.exit(f"benchmark run failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout[-1500:]}\n{p.stderr[-1500:]}")
    return wall, int(m.group(1)), p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--mem", type=int, default=256)
    a = ap.parse_args()

    boot = commands(a.kiln, a.guest, a.mem, "console=ttyS0 quiet kiln.poweroff")
    cpu = commands(a.kiln, a.guest, a.mem, "console=ttyS0 quiet kiln.bench=cpu")
    res = {vmm: {"boot": [], "cpu": [], "rss": []} for vmm in ("kiln", "qemu")}
    for i in range(a.runs):
        for vmm in ("kiln", "qemu"):
            wall, _, _ = measure(boot[vmm], 300)
            res[vmm]["boot"].append(wall)
            _, rss, out = measure(cpu[vmm], 900)
            m = re.search(r"KILN-BENCH cpu_seconds=([0-9.]+)", out)
            if not m:
                sys.exit(f"{vmm}: no KILN-BENCH line in guest output:\n{out[-1500:]}")
            res[vmm]["cpu"].append(float(m.group(1)))
            res[vmm]["rss"].append(rss / 1024.0)
            print(f"run {i + 1}/{a.runs} {vmm}: boot {wall:.2f} s, cpu {float(m.group(1)):.2f} s, "
                  f"rss {rss / 1024.0:.1f} MiB", flush=True)

    rows = [("(a) boot to poweroff, wall s", "boot", 1.0),
            ("(b) CPU workload in guest, s", "cpu", 2.0),
            ("(c) peak VMM RSS, MiB", "rss", 0.5)]
    print()
    print(f"| metric (median of {a.runs}) | kiln | QEMU | kiln/QEMU | goal |")
    print("| --- | --- | --- | --- | --- |")
    for label, key, goal in rows:
        k, q = statistics.median(res["kiln"][key]), statistics.median(res["qemu"][key])
        print(f"| {label} | {k:.2f} | {q:.2f} | {k / q:.2f}x | <= {goal}x |")


if __name__ == "__main__":
    main()
