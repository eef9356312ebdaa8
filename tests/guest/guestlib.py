"""guestlib.py — what every guest test file shares: paths, a test registry, boot helpers.

usage of a test file: test_X.py KILN GUEST_DIR [test-name ...]
"""
import os
import re
import sys
import time
import traceback

from kilnvm import PROMPT, GuestError, KilnVM

KILN = os.path.abspath(sys.argv[1])
GUEST = os.path.abspath(sys.argv[2])
IMAGE = os.path.join(GUEST, "Image")
INITRD = os.path.join(GUEST, "initramfs.cpio.gz")
ROOTFS = os.path.join(GUEST, "rootfs.ext4")
OPENSBI = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"
TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def check(cond, msg):
    if not cond:
        raise GuestError(msg)


class Skip(Exception):
    """Raised by a test that cannot run here (no rights, no device): counted as skipped."""


def skip(reason):
    raise Skip(reason)


def boot(extra=(), cpus=1, mem=256, cmdline="console=ttyS0", initrd=True):
    args = ["--kernel", IMAGE, "--cpus", str(cpus), "--mem", str(mem), "--cmdline", cmdline]
    if initrd:
        args += ["--initrd", INITRD]
    vm = KilnVM(KILN, args + list(extra))
    vm.expect(re.escape(PROMPT))
    return vm


def poweroff(vm):
    vm.send("poweroff -f")
    rc = vm.wait()
    check(rc == 0, f"kiln exited with {rc} after guest poweroff, expected 0")


def main():
    """Runs the selected tests; the last line, "N passed, M failed, K skipped", is what
    tests/guest/run.sh adds up. A skipped test is never counted as passed."""
    selected = sys.argv[3:]
    passed = failed = skipped = 0
    for fn in TESTS:
        if selected and fn.__name__ not in selected:
            continue
        t0 = time.monotonic()
        try:
            fn()
            passed += 1
            print(f"PASS {fn.__name__} ({time.monotonic() - t0:.1f}s)", flush=True)
        except Skip as e:
            skipped += 1
            print(f"SKIP {fn.__name__}: {e}", flush=True)
        except Exception:  # noqa: BLE001 - report every failure and go on
            failed += 1
            print(f"FAIL {fn.__name__} ({time.monotonic() - t0:.1f}s)", flush=True)
            traceback.print_exc()
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0
