#!/usr/bin/env python3
"""kiln (JIT, the default) vs kiln --jit off (the interpreter) vs QEMU: (a) boot-to-poweroff wall time, (b) in-guest CPU workload time,
(b') in-guest floating-point workload time, (c) peak host RSS of the VMM process, (d) host CPU used by an idle guest. Runs alternate between the VMMs so that a noisy
machine hurts all alike; the table shows medians and ratios to QEMU."""
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
        "kiln-interp": [kiln, "run", "--jit", "off", "--kernel", image, "--initrd", initrd,
                        "--mem", str(mem), "--cmdline", append],
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


def idle_cpu_percent(cmd, seconds=5.0):
    """Boot to the shell, let the guest sit idle, and return the VMM's host CPU use in % of
    one core over `seconds` (from /proc/PID/stat utime+stime)."""
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        out, deadline = b"", time.monotonic() + 300
        os.set_blocking(p.stdout.fileno(), False)
        while b"kiln guest ready" not in out and time.monotonic() < deadline:
            time.sleep(0.2)
            out += p.stdout.read() or b""
        if b"kiln guest ready" not in out:
            sys.exit(f"idle benchmark: guest did not boot: {' '.join(cmd)}")
        time.sleep(2.0)  # let boot-time work settle

        def ticks():
            with open(f"/proc/{p.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return int(fields[11]) + int(fields[12])
        t0, c0 = time.monotonic(), ticks()
        time.sleep(seconds)
        t1, c1 = time.monotonic(), ticks()
        return 100.0 * (c1 - c0) / os.sysconf("SC_CLK_TCK") / (t1 - t0)
    finally:
        p.kill()
        p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--mem", type=int, default=256)
    a = ap.parse_args()

    boot = commands(a.kiln, a.guest, a.mem, "console=ttyS0 quiet kiln.poweroff")
    cpu = commands(a.kiln, a.guest, a.mem, "console=ttyS0 quiet kiln.bench=cpu")
    fp = commands(a.kiln, a.guest, a.mem, "console=ttyS0 quiet kiln.bench=fp")
    idle = commands(a.kiln, a.guest, a.mem, "console=ttyS0 quiet")
    vmms = ("kiln", "kiln-interp", "qemu")
    res = {vmm: {"boot": [], "cpu": [], "fp": [], "rss_boot": [], "rss": [], "idle": []} for vmm in vmms}
    for i in range(a.runs):
        for vmm in vmms:
            wall, rss_boot, _ = measure(boot[vmm], 300)
            res[vmm]["boot"].append(wall)
            res[vmm]["rss_boot"].append(rss_boot / 1024.0)
            _, rss, out = measure(cpu[vmm], 900)
            m = re.search(r"KILN-BENCH .*cpu_seconds=([0-9.]+)", out)
            if not m:
                sys.exit(f"{vmm}: no KILN-BENCH line in guest output:\n{out[-1500:]}")
            res[vmm]["cpu"].append(float(m.group(1)))
            res[vmm]["rss"].append(rss / 1024.0)
            _, _, fout = measure(fp[vmm], 900)
            f = re.search(r"KILN-BENCH .*fp_seconds=([0-9.]+)", fout)
            if not f:
                sys.exit(f"{vmm}: no KILN-BENCH fp line in guest output:\n{fout[-1500:]}")
            res[vmm]["fp"].append(float(f.group(1)))
            res[vmm]["idle"].append(idle_cpu_percent(idle[vmm]))
            print(f"run {i + 1}/{a.runs} {vmm}: boot {wall:.2f} s, cpu {float(m.group(1)):.2f} s, "
                  f"fp {float(f.group(1)):.2f} s, rss {rss / 1024.0:.1f} MiB, idle {res[vmm]['idle'][-1]:.2f}% "
                  f"({m.group(0)}; {f.group(0)})", flush=True)

    rows = [("(a) boot to poweroff, wall s", "boot", 0.6),
            ("(b) CPU workload in guest, s", "cpu", 0.67),
            ("(b') FP workload in guest (awk: sqrt, log, division), s", "fp", 0.67),
            ("(c) peak VMM RSS, boot to poweroff, MiB", "rss_boot", 0.5),
            ("(c) peak VMM RSS, CPU workload (guest data included), MiB", "rss", 0.5),
            ("(d) idle guest, host CPU % of one core", "idle", None)]
    print()
    print(f"| metric (median of {a.runs}) | kiln (JIT) | kiln --jit off | QEMU | kiln/QEMU | "
          f"--jit off/QEMU | goal |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for label, key, goal in rows:
        k, i, q = (statistics.median(res[v][key]) for v in vmms)
        ratio = f"{k / q:.2f}x" if q > 0 else "-"
        iratio = f"{i / q:.2f}x" if q > 0 else "-"
        print(f"| {label} | {k:.2f} | {i:.2f} | {q:.2f} | {ratio} | {iratio} | "
              f"{f'<= {goal}x' if goal else 'kiln < 2%'} |")


if __name__ == "__main__":
    main()
