#!/usr/bin/env python3
"""Guest tests: boot the real default guest under kiln and check what it prints.

usage: test_guest.py KILN GUEST_DIR [test-name ...]
"""
import math
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kilnvm import PROMPT, GuestError, KilnVM  # noqa: E402,F401

from guestlib import (INITRD, IMAGE, KILN, OPENSBI, boot, check,  # noqa: E402
                      main, poweroff, test)


def common_checks(vm, cpus):
    n = vm.run("grep -c ^processor /proc/cpuinfo")
    check(n == str(cpus), f"/proc/cpuinfo lists {n!r} harts, expected {cpus}")
    check(vm.run("echo $((6*7 + 1000000007 % 97))") == str(6 * 7 + 1000000007 % 97),
          "shell arithmetic is wrong")
    fp = vm.run("awk 'BEGIN { printf \"%.6f\\n\", sqrt(2) * 3.25 + 1/3 }'")
    want = f"{math.sqrt(2) * 3.25 + 1 / 3:.6f}"  # 4.929527
    check(fp == want, f"floating point result {fp!r}, expected {want}")
    data = "kiln-%d" % random.randint(0, 10**9)
    out = vm.run(f"echo {data} > /tmp/f && sync && cat /tmp/f && wc -c < /tmp/f")
    check(out.split() == [data, str(len(data) + 1)], f"tmpfs round trip gave {out!r}")


@test
def boot_one_cpu():
    vm = boot(cpus=1)
    try:
        common_checks(vm, 1)
        check(re.search(r"guest boot time: \d+ us", vm.err) is not None,
              "no 'guest boot time' line on stderr")
        poweroff(vm)
    finally:
        vm.kill()


@test
def boot_four_cpus_uses_all():
    vm = boot(cpus=4, mem=512)
    try:
        common_checks(vm, 4)
        check(vm.run("cat /sys/devices/system/cpu/online") == "0-3", "not all 4 harts online")
        # four busy processes; the scheduler spreads them, and every hart must accumulate user time
        before = vm.run("grep '^cpu[0-9]' /proc/stat")
        vm.run("for i in 1 2 3 4; do (i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done) & done; wait")
        after = vm.run("grep '^cpu[0-9]' /proc/stat")
        b = {l.split()[0]: int(l.split()[1]) for l in before.splitlines()}
        a = {l.split()[0]: int(l.split()[1]) for l in after.splitlines()}
        busy = [c for c in a if a[c] > b.get(c, 0)]
        check(len(busy) == 4, f"only {busy} gained user time: before={b} after={a}")
        poweroff(vm)
    finally:
        vm.kill()


@test
def boot_through_opensbi_firmware():
    vm = boot(extra=["--firmware", OPENSBI], cpus=2)
    try:
        check("OpenSBI" in vm.out, "OpenSBI banner missing")
        common_checks(vm, 2)
        poweroff(vm)
    finally:
        vm.kill()


@test
def finisher_failure_code_is_exit_status():
    vm = boot()
    try:
        vm.send("devmem 0x100000 32 0x00053333")
        rc = vm.wait()
        check(rc == 5, f"exit status {rc}, expected 5 from the finisher")
    finally:
        vm.kill()
    # code 256: an exit status keeps 8 bits, and it once read as a clean power-off (0)
    vm = boot()
    try:
        vm.send("devmem 0x100000 32 0x01003333")
        rc = vm.wait()
        check(rc == 1, f"failure code 256 gave exit status {rc}, expected 1")
    finally:
        vm.kill()


@test
def end_of_stdin_keeps_guest_running():
    p = subprocess.Popen([KILN, "run", "--kernel", IMAGE, "--initrd", INITRD],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        out = b""
        os.set_blocking(p.stdout.fileno(), False)
        while PROMPT.encode() not in out and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.2)
            try:
                out += p.stdout.read() or b""
            except (BlockingIOError, TypeError):
                pass
        check(PROMPT.encode() in out, "guest did not reach its shell with stdin at EOF")
        time.sleep(1)
        check(p.poll() is None, f"kiln exited ({p.poll()}) after stdin reached EOF")
        p.send_signal(signal.SIGTERM)
        rc = p.wait(30)
        check(rc == 128 + signal.SIGTERM, f"SIGTERM gave exit status {rc}, expected 143")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def run_kiln(args, timeout=60):
    return subprocess.run([KILN, "run"] + args, stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=timeout, text=True)


@test
def bad_input_is_rejected_cleanly():
    with tempfile.TemporaryDirectory() as d:
        garbage = os.path.join(d, "garbage")
        with open(garbage, "wb") as f:
            # fixed bytes, not os.urandom: random code can legitimately loop forever (a backward
            # branch, an mtvec pointing into itself), and a test must not hang by chance; these
            # trap to address 0 at once under the JIT and the interpreter
            f.write(random.Random(20261205).randbytes(8192))
        huge = os.path.join(d, "huge")
        with open(huge, "wb") as f:
            f.truncate(40 << 20)
        cases = [
            (["--bogus"], 64, "unknown option"),
            (["--cpus", "0"], 64, "--cpus"),
            (["--cpus", "100000"], 64, "--cpus"),
            (["--mem", "0"], 64, "--mem"),
            (["--mem", "99999999"], 64, "--mem"),
            (["--mem", "12abc"], 64, "--mem"),
            (["--kernel", os.path.join(d, "missing")], 66, "cannot open"),
            (["--kernel", garbage], 65, "neither a RISC-V Linux Image"),
            (["--kernel", huge, "--mem", "32"], 65, "larger than guest RAM"),
            (["--kernel", IMAGE, "--initrd", os.path.join(d, "missing")], 66, "cannot open"),
            (["--firmware", garbage, "--mem", "32"], 70, "guest crashed"),
            # a balloon larger than the guest's RAM (the default 256 MiB too): once accepted,
            # the guest panicked and kiln ran on (issue 11)
            (["--kernel", IMAGE, "--balloon=size=300", "--mem", "256"], 64, "Amount of pages requested is too large"),
            (["--kernel", IMAGE, "--balloon=size=257"], 64, "the guest has 256 MiB"),
            # a vsock socket kiln cannot create is a file problem (66), named once: it was 71
            # ("host refused memory or threads") with a doubled "vsock: vsock:" (issue 11)
            (["--kernel", IMAGE, "--vsock", f"cid=3,uds={d}/missing/v.sock"], 66,
             f"--vsock: The vsock uds_path '{d}/missing/v.sock' cannot be created: {d}/missing: No such file"),
            (["--kernel", IMAGE, "--vsock", f"cid=3,uds={d}/{'s' * 120}"], 66, "longer than a Unix socket path"),
        ]
        for args, want, text in cases:
            r = run_kiln(args)
            check(r.returncode == want, f"{args}: exit {r.returncode}, expected {want}; stderr={r.stderr!r}")
            check(text in r.stderr, f"{args}: stderr {r.stderr!r} lacks {text!r}")
            check(len(r.stderr.strip().splitlines()) == 1 or want == 70,
                  f"{args}: expected a one-line message, got {r.stderr!r}")


@test
def fifo_paths_are_refused_not_waited_on():
    """A FIFO named as the kernel, initrd, firmware or a disk is refused at once with the
    documented status 66: opening it plainly would wait for a writer forever (issue 11)."""
    with tempfile.TemporaryDirectory() as d:
        fifo = os.path.join(d, "fifo")
        os.mkfifo(fifo)
        cases = [["--kernel", fifo], ["--kernel", IMAGE, "--initrd", fifo], ["--firmware", fifo],
                 ["--kernel", IMAGE, "--disk", f"{fifo},readonly"], ["--kernel", IMAGE, "--disk", fifo]]
        for args in cases:
            try:
                r = run_kiln(args, timeout=20)
            except subprocess.TimeoutExpired:
                raise GuestError(f"{args}: kiln hung on the FIFO")
            check(r.returncode == 66, f"{args}: exit {r.returncode}, expected 66; stderr={r.stderr!r}")
            check("it is a FIFO, not a regular file" in r.stderr and len(r.stderr.strip().splitlines()) == 1,
                  f"{args}: expected one line naming the FIFO, got {r.stderr!r}")


def garbage_image(path, seed):
    """A file with a valid RISC-V Linux Image header (so the loader accepts it) and random code."""
    rnd = random.Random(seed)
    body = bytearray(rnd.getrandbits(8) for _ in range(64 * 1024))
    body[0:64] = bytes(64)
    body[0:4] = bytes([0x6f, 0x00, 0x00, 0x04])  # j +64: jump over the header into the garbage
    body[16:24] = (len(body)).to_bytes(8, "little")  # image_size
    body[48:56] = b"RISCV\0\0\0"
    body[56:60] = b"RSC\x05"
    with open(path, "wb") as f:
        f.write(body)


@test
def kernel_executing_garbage_stops_cleanly():
    """A guest kernel that executes random bytes crashes itself, never kiln: kiln reports the
    guest's state and exits with its guest-crash status (70)."""
    with tempfile.TemporaryDirectory() as d:
        for seed in range(3):
            img = os.path.join(d, f"garbage{seed}")
            garbage_image(img, seed)
            r = run_kiln(["--kernel", img, "--mem", "64"], timeout=60)
            check(r.returncode == 70, f"seed {seed}: exit {r.returncode}, expected 70; stderr={r.stderr!r}")
            check("guest crashed" in r.stderr and "pc=" in r.stderr,
                  f"seed {seed}: no crash report with the guest state: {r.stderr!r}")


@test
def user_program_executing_garbage_only_kills_itself():
    vm = boot()
    try:
        # an ELF whose code is garbage: the kernel kills the process, the guest carries on
        out = vm.run("cp /bin/busybox /tmp/bad && dd if=/dev/urandom of=/tmp/bad bs=1 seek=4096 "
                     "count=65536 conv=notrunc 2>/dev/null; /tmp/bad; echo rc=$?")
        check(re.search(r"rc=(13[0-9]|1[0-9][0-9])", out) is not None, f"unexpected result {out!r}")
        check(vm.run("echo alive") == "alive", "guest shell did not survive")
        poweroff(vm)
    finally:
        vm.kill()


@test
def terminal_console_is_raw_and_escape_quits():
    """On a terminal the console is raw (the guest sees Ctrl-C), Ctrl-A x quits kiln and the
    terminal settings are restored."""
    import pty
    import termios
    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    p = subprocess.Popen([KILN, "run", "--kernel", IMAGE, "--initrd", INITRD], stdin=slave,
                         stdout=slave, stderr=slave, close_fds=True)
    try:
        out = b""
        deadline = time.monotonic() + 120
        while PROMPT.encode() not in out and time.monotonic() < deadline:
            r = os.read(master, 65536) if select_readable(master, 1.0) else b""
            out += r
        check(PROMPT.encode() in out, f"no prompt on the terminal: {out[-500:]!r}")
        during = termios.tcgetattr(slave)
        check(not (during[3] & termios.ICANON) and not (during[3] & termios.ECHO),
              "terminal is not in raw mode while the guest runs")
        os.write(master, b"sleep 30\r")
        time.sleep(0.5)
        os.write(master, b"\x03")  # Ctrl-C goes to the guest and interrupts sleep
        os.write(master, b"echo after-ctrl-c\r")
        out = b""
        deadline = time.monotonic() + 20
        done = re.compile(rb"\nafter-ctrl-c\r*\n")  # the output, not the echoed command
        while not done.search(out) and time.monotonic() < deadline:
            out += os.read(master, 65536) if select_readable(master, 1.0) else b""
        check(done.search(out) is not None, f"Ctrl-C did not reach the guest shell: {out[-300:]!r}")
        check(p.poll() is None, "kiln exited on Ctrl-C")
        os.write(master, b"\x01x")
        rc = p.wait(30)
        check(rc == 0, f"Ctrl-A x gave exit status {rc}, expected 0")
        check(termios.tcgetattr(slave) == before, "terminal settings not restored after exit")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
        os.close(slave)


def select_readable(fd, timeout):
    import select
    return bool(select.select([fd], [], [], timeout)[0])


@test
def help_documents_every_flag():
    r = subprocess.run([KILN, "run", "--help"], capture_output=True, text=True)
    check(r.returncode == 0, "--help failed")
    for flag in ["--kernel", "--initrd", "--cmdline", "--firmware", "--cpus", "--mem"]:
        check(flag in r.stdout, f"--help does not mention {flag}")


if __name__ == "__main__":
    sys.exit(main())
