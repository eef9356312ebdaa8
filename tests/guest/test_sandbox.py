#!/usr/bin/env python3
"""test_sandbox.py — kiln's seccomp filters: on by default on every thread, fatal when broken.

The forbidden-syscall probe (KILN_DEBUG_FORBIDDEN_SYSCALL=KIND makes a thread of that kind call
execve, which no allowlist has) proves the filter is really loaded on each kind of thread; the
/proc check proves the vCPU and device threads stack their own, narrower list on the main one.
"""
import os
import re
import signal
import subprocess
import time

from guestlib import IMAGE, INITRD, KILN, PROMPT, ROOTFS, boot, check, main, poweroff, test


def probe(kind, extra=()):
    env = dict(os.environ, KILN_DEBUG_FORBIDDEN_SYSCALL=kind)
    p = subprocess.run([KILN, "run", "--kernel", IMAGE, "--initrd", INITRD, "--rng"] + list(extra),
                       stdin=subprocess.DEVNULL, capture_output=True, env=env, timeout=120)
    return p.returncode, p.stderr.decode(errors="replace")


@test
def test_forbidden_syscall_kills_with_sigsys():
    for kind in ("main", "vcpu", "device"):
        rc, err = probe(kind)
        check(rc == -signal.SIGSYS, f"{kind}: kiln ended with {rc}, expected death by SIGSYS\n{err}")
        check(re.search(r"kiln: seccomp: thread '[^']*' made syscall 59\b", err),
              f"{kind}: no seccomp line naming execve (59) on stderr:\n{err}")


@test
def test_no_seccomp_flag_turns_filters_off():
    # the same probe under --no-seccomp is not even attempted: the guest boots and powers off
    env = dict(os.environ, KILN_DEBUG_FORBIDDEN_SYSCALL="vcpu")
    p = subprocess.run([KILN, "run", "--no-seccomp", "--kernel", IMAGE, "--initrd", INITRD,
                        "--rm", "--", "echo", "unfiltered"],
                       capture_output=True, env=env, timeout=120)
    check(p.returncode == 0, f"run --rm under --no-seccomp exited {p.returncode}: {p.stderr!r}")
    check(p.stdout.decode().strip() == "unfiltered", f"stdout was {p.stdout!r}")


def thread_filters(pid):
    """{thread name: [Seccomp_filters of each thread with that name]}"""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                status = f.read()
        except FileNotFoundError:
            continue
        m = re.search(r"^Seccomp_filters:\s+(\d+)", status, re.M)
        mode = re.search(r"^Seccomp:\s+(\d+)", status, re.M)
        out.setdefault(name, []).append((int(mode.group(1)), int(m.group(1)) if m else -1))
    return out


@test
def test_every_thread_runs_filtered():
    disk = f"/tmp/kiln-sandbox-{os.getpid()}.img"
    subprocess.run(["cp", "--sparse=always", ROOTFS, disk], check=True)
    try:
        vm = boot(["--disk", disk, "--rng", "--net", "user", "--cpus", "2"], cpus=2)
        threads = thread_filters(vm.proc.pid)
        entries = [e for v in threads.values() for e in v]
        # mode 2 = SECCOMP_MODE_FILTER on every thread
        check(all(mode == 2 for mode, _ in entries), f"a thread runs without a filter: {threads}")
        # the vCPUs and the device I/O threads (disk, entropy, network) stack a list of their own
        check(len(threads.get("kiln-vcpu0", [])) == 1 and len(threads.get("kiln-vcpu1", [])) == 1,
              f"expected threads kiln-vcpu0 and kiln-vcpu1: {threads}")
        own = sum(1 for _, n in entries if n >= 2)
        check(own >= 2 + 3, f"expected >= 5 threads with their own list, got {own}: {threads}")
        check(threads["kiln-vcpu0"][0][1] >= 2, f"vCPU thread without its own list: {threads}")
        poweroff(vm)
    finally:
        os.unlink(disk)


if __name__ == "__main__":
    main()
