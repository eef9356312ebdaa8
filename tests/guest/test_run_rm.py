#!/usr/bin/env python3
"""Guest tests of one-command sandboxes: `kiln run --rm [flags] -- CMD ARGS...` runs CMD in the
default guest, with its stdout on stdout, its stderr on stderr and its exit status as kiln's,
and leaves nothing behind.

usage: test_run_rm.py KILN GUEST_DIR [test-name ...]
"""
import hashlib
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guestlib import GUEST, KILN, check, main, test  # noqa: E402

TIMEOUT = 120


def run_rm(cmd, flags=(), stdin=b"", cwd=None, env=None, timeout=TIMEOUT):
    """Runs `kiln run --rm FLAGS -- CMD`; returns (status, stdout bytes, stderr bytes)."""
    e = dict(os.environ, KILN_GUEST_DIR=GUEST)
    e.update(env or {})
    r = subprocess.run([KILN, "run", "--rm", *flags, "--", *cmd], input=stdin, capture_output=True,
                       cwd=cwd, env=e, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def expect(cmd, status=0, out=b"", err=b"", **kw):
    rc, o, e = run_rm(cmd, **kw)
    check((rc, o, e) == (status, out, err),
          f"{cmd!r:.100}: expected status {status}, stdout {out!r}, stderr {err!r}; "
          f"got {rc}, {o[:300]!r}, {e[:300]!r}")


@test
def exit_statuses_pass_through():
    expect(["true"])
    expect(["sh", "-c", "exit 3"], status=3)
    expect(["sh", "-c", "exit 255"], status=255)
    expect(["false"], status=1)


@test
def missing_command_is_127_like_a_shell():
    rc, out, err = run_rm(["no-such-command-kiln", "x"])
    check(rc == 127, f"status {rc}, expected 127")
    check(out == b"", f"stdout {out!r}, expected nothing")
    check(b"no-such-command-kiln: not found" in err and err.endswith(b"\n") and err.count(b"\n") == 1,
          f"stderr {err!r}, expected the shell's one-line 'not found'")


@test
def stdout_and_stderr_are_separate_and_clean():
    # nothing but the command's bytes: no kernel messages, banner, boot time or \r
    expect(["sh", "-c", "echo out; echo err >&2"], out=b"out\n", err=b"err\n")
    expect(["sh", "-c", "printf 'a\\nb\\n\\n'; printf 'c\\n\\n' >&2; exit 7"], status=7,
           out=b"a\nb\n\n", err=b"c\n\n")


@test
def arguments_survive_exactly():
    args = ["a b", "c'd", "$HOME", "", "x\ny", '"q"', "`id`", "$(id)", "\\", "*", "-n", "é✓"]
    expected = "".join(a + "|" for a in args).encode()
    expect(["printf", "%s|", *args], out=expected)


@test
def large_output_arrives_complete():
    n = 5_000_000
    rc, out, err = run_rm(["sh", "-c", f"head -c {n} /dev/zero | tr '\\0' x"], timeout=600)
    check(rc == 0 and err == b"", f"status {rc}, stderr {err[:300]!r}")
    check(len(out) == n and out == b"x" * n, f"got {len(out)} bytes of {n} (or not all 'x')")
    # binary: every byte value, no newline translation
    rc, out, err = run_rm(["sh", "-c", "i=0; while [ $i -lt 256 ]; do printf \"\\\\$(printf %o $i)\"; "
                                       "i=$((i+1)); done"])
    check(rc == 0 and out == bytes(range(256)), f"binary output mangled: {out!r} {err!r}")


@test
def stdin_feeds_the_command():
    # input that is there from the start must not be echoed onto stdout or mangled
    expect(["head", "-n", "1"], stdin=b"hello from the host\nrest\n", out=b"hello from the host\n")
    data = bytes(range(256)) * 64 + b"\r\n\x03\x04"
    expect(["sh", "-c", f"head -c {len(data)} | md5sum"], stdin=data,
           out=hashlib.md5(data).hexdigest().encode() + b"  -\n")


@test
def the_command_sees_the_end_of_its_input():
    # kiln frames its input so that its end reaches the guest: commands that read to the end
    # of their input end, with every byte (0x00 and the frame bytes included) and no more
    data = bytes(range(256)) * 16 + b"\x00\x00\x01\x00\x02\x00"
    expect(["md5sum"], stdin=data, out=hashlib.md5(data).hexdigest().encode() + b"  -\n")
    expect(["wc", "-l"], stdin=b"a\nb\nc\n", out=b"3\n")
    expect(["cat"], stdin=b"", out=b"")
    # a cold boot (a disk: no template) the same
    with tempfile.NamedTemporaryFile() as disk:
        disk.truncate(1 << 20)
        disk.flush()
        expect(["wc", "-c"], stdin=b"x" * 5000, out=b"5000\n", flags=["--disk", disk.name])
    # a command that stops reading early still ends, with its own status
    expect(["sh", "-c", "head -c 3; exit 4"], stdin=b"y" * 200000, out=b"yyy", status=4)


@test
def disks_pass_through():
    with tempfile.TemporaryDirectory(prefix="kiln-rm-disk-") as d:
        img = os.path.join(d, "data.img")
        token = f"kiln-rm-{random.randint(0, 10**9)}".encode()
        with open(img, "wb") as f:
            f.write(token)
            f.truncate(1 << 20)
        expect(["head", "-c", str(len(token)), "/dev/vda"], flags=["--disk", img + ",readonly"], out=token)


@test
def nothing_is_left_behind():
    with tempfile.TemporaryDirectory(prefix="kiln-rm-cwd-") as cwd, \
            tempfile.TemporaryDirectory(prefix="kiln-rm-tmp-") as tmp:
        guest_files = sorted(os.listdir(GUEST))
        expect(["sh", "-c", "echo data > /tmp/f; mkdir /x; echo ok"], out=b"ok\n", cwd=cwd,
               env={"TMPDIR": tmp})
        check(os.listdir(cwd) == [], f"kiln left {os.listdir(cwd)} in its working directory")
        check(os.listdir(tmp) == [], f"kiln left {os.listdir(tmp)} in TMPDIR")
        check(sorted(os.listdir(GUEST)) == guest_files, "kiln changed the guest directory")
        # and the next sandbox starts fresh
        expect(["sh", "-c", "ls /x /tmp/f 2>/dev/null; echo fresh"], out=b"fresh\n", cwd=cwd)


@test
def usage_errors():
    for args, what in [(["--rm"], "needs a command"), (["--", "true"], "needs --rm"),
                       (["--rm", "--"], "needs a command"), (["--rm", "true"], "needs a command"),
                       (["--rm", "--", "echo", "x" * 1000], "too long"),
                       (["--rm", "--", "echo", " " * 300], "too long")]:
        r = subprocess.run([KILN, "run", *args], capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, KILN_GUEST_DIR=GUEST))
        check(r.returncode == 64 and what in r.stderr and r.stdout == "",
              f"kiln run {' '.join(args)[:40]}: status {r.returncode}, stderr {r.stderr!r}")
    # the longest command that fits still runs
    arg = "y" * 940
    expect(["echo", arg], out=arg.encode() + b"\n")


# when the guest booted (host wall clock, s): the same in every sandbox restored from one template
BOOT_TIME = ["awk", "/^btime/ {print $2}", "/proc/stat"]


def template_files(cache):
    d = os.path.join(cache, "kiln", "run-rm")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


@test
def sandboxes_restore_one_pre_booted_guest():
    # the first run boots and saves a template; later runs restore it: the same boot, so the
    # same boot time (btime), while a configuration that cannot use a template (a disk) boots
    # anew, later
    with tempfile.TemporaryDirectory(prefix="kiln-rm-cache-") as cache:
        env = {"XDG_CACHE_HOME": cache}
        cmd = BOOT_TIME
        rc, first, err = run_rm(cmd, env=env)
        check(rc == 0 and first.strip().isdigit(), f"status {rc}, {first!r} {err!r}")
        files = template_files(cache)
        check(len(files) == 3 and any(f.endswith(".state") for f in files) and
              any(f.endswith(".mem") for f in files), f"template files: {files}")
        for _ in range(2):
            rc, again, err = run_rm(cmd, env=env)
            check(rc == 0 and abs(int(again) - int(first)) <= 1,
                  f"restored sandbox: status {rc}, boot time {again!r} vs {first!r}")
        time.sleep(3)
        with tempfile.NamedTemporaryFile() as disk:
            disk.truncate(1 << 20)
            disk.flush()
            rc, cold, err = run_rm(cmd, flags=["--disk", disk.name], env=env)
        check(rc == 0 and int(cold) - int(first) >= 2, f"a cold boot has its own boot time: {cold!r} vs {first!r}")
        # its clocks are right at once, though it was saved earlier
        rc, out, err = run_rm(["date", "+%s"], env=env)
        check(rc == 0 and abs(int(out) - time.time()) < 3, f"guest time {out!r}, host {time.time():.0f}")
        # the sandbox's writes never reach the template: the next one starts fresh
        expect(["sh", "-c", "echo x > /tmp/mark; echo ok"], out=b"ok\n", env=env)
        expect(["sh", "-c", "ls /tmp/mark 2>/dev/null; echo fresh"], out=b"fresh\n", env=env)


@test
def a_damaged_template_is_replaced():
    with tempfile.TemporaryDirectory(prefix="kiln-rm-cache-") as cache:
        env = {"XDG_CACHE_HOME": cache}
        expect(["true"], env=env)
        d = os.path.join(cache, "kiln", "run-rm")
        state = [os.path.join(d, f) for f in os.listdir(d) if f.endswith(".state")][0]
        with open(state, "r+b") as f:
            f.seek(os.path.getsize(state) // 2)
            b = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([b[0] ^ 0x10]))
        # the run still gives the right answer (a cold boot makes a new template) ...
        expect(["sh", "-c", "echo $((6*7))"], out=b"42\n", env=env)
        # ... which the next run restores
        time.sleep(2)
        rc, a, _ = run_rm(BOOT_TIME, env=env)
        rc2, b2, _ = run_rm(BOOT_TIME, env=env)
        check(rc == rc2 == 0 and abs(int(a) - int(b2)) <= 1, f"boot times {a!r} {b2!r}")


@test
def old_templates_are_pruned():
    # every rebuilt kiln or kernel makes a new template; the cache keeps the 8 newest
    with tempfile.TemporaryDirectory(prefix="kiln-rm-cache-") as cache:
        d = os.path.join(cache, "kiln", "run-rm")
        os.makedirs(d)
        for i in range(10):
            for ext in ("state", "mem", "lock"):
                path = os.path.join(d, f"old{i:02d}.{ext}")
                with open(path, "wb") as f:
                    f.write(b"x")
                os.utime(path, (1000000 + i, 1000000 + i))
        expect(["true"], env={"XDG_CACHE_HOME": cache})
        states = sorted(f for f in os.listdir(d) if f.endswith(".state"))
        check(len(states) == 8, f"{len(states)} templates kept: {states}")
        check(not any(f.startswith(("old00", "old01", "old02")) for f in os.listdir(d)),
              f"the oldest are gone: {sorted(os.listdir(d))}")
        check(any(not f.startswith("old") for f in states), "the new template is kept")


def signalled_sandbox(flags, env, sig):
    """Starts `run --rm FLAGS -- ...` whose command says 'ready' and sleeps, sends sig once it
    runs; returns (status, stderr)."""
    e = dict(os.environ, KILN_GUEST_DIR=GUEST, **env)
    p = subprocess.Popen([KILN, "run", "--rm", *flags, "--", "sh", "-c", "echo ready; sleep 60"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e)
    try:
        line = p.stdout.readline()   # the sandbox's own stdout: 'ready' once the command runs
        check(line == b"ready\n", f"sandbox printed {line!r} before its command ran")
        p.send_signal(sig)
        _, err = p.communicate(timeout=30)
        return p.returncode, err
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


@test
def stop_signals_end_a_sandbox_with_128_plus_n():
    # cold with a disk, the template's first boot, and a restored template (its rng device's
    # thread is created before the guest runs): each ends by the documented status and line
    with tempfile.TemporaryDirectory(prefix="kiln-rm-cache-") as cache, \
            tempfile.NamedTemporaryFile() as disk:
        disk.truncate(1 << 20)
        disk.flush()
        env = {"XDG_CACHE_HOME": cache}
        for flags, sig in ((["--disk", disk.name], signal.SIGTERM), (["--rng"], signal.SIGHUP),
                           (["--rng"], signal.SIGINT)):
            rc, err = signalled_sandbox(flags, env, sig)
            check(rc == 128 + sig, f"{flags} {sig.name}: status {rc}, expected {128 + sig}; stderr={err!r}")
            check(f"kiln: stopped by signal {int(sig)} (".encode() in err,
                  f"{flags} {sig.name}: no 'stopped by signal' line: {err!r}")



@test
def ctrl_d_on_a_terminal_ends_the_input():
    # a terminal is raw under kiln (Ctrl-D is a byte): in a sandbox, Ctrl-D is the end of input
    import pty
    master, slave = pty.openpty()
    p = subprocess.Popen([KILN, "run", "--rm", "--", "sh", "-c", "echo ready >&2; wc -l"], stdin=slave,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True,
                         env=dict(os.environ, KILN_GUEST_DIR=GUEST))
    try:
        check(p.stderr.readline() == b"ready\n", "the sandbox did not start")
        os.write(master, b"one\rtwo\r\x04")   # raw: Enter is \r, so no newlines: 0 lines
        os.write(master, b"ignored after the end\n")
        out, err = p.communicate(timeout=60)
        check(p.returncode == 0 and out == b"0\n", f"status {p.returncode}, {out!r} {err!r}")
        # and with newlines
        p = subprocess.Popen([KILN, "run", "--rm", "--", "sh", "-c", "echo ready >&2; wc -l"], stdin=slave,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True,
                             env=dict(os.environ, KILN_GUEST_DIR=GUEST))
        check(p.stderr.readline() == b"ready\n", "the sandbox did not start")
        os.write(master, b"one\ntwo\n\x04")
        out, err = p.communicate(timeout=60)
        check(p.returncode == 0 and out == b"2\n", f"status {p.returncode}, {out!r} {err!r}")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
        os.close(slave)

@test
def timer_latency_tool_measures_as_cyclictest_does():
    # bench/timer.sh's guest tool: 200 absolute 1 ms sleeps on a SCHED_FIFO thread (root in the
    # guest may), percentiles in order; every sample is a real sleep, so 200 of them take >= 0.2 s
    # of guest time, and none can be early
    rc, out, err = run_rm(["sh", "-c", "s=$(cut -d' ' -f1 /proc/uptime); kiln-timerlat -i 1000 -n 200; "
                                       "echo uptime $s $(cut -d' ' -f1 /proc/uptime)"])
    m = re.match(rb"timerlat: samples=200 interval_us=1000 p50_us=([\d.]+) p99_us=([\d.]+) max_us=([\d.]+) "
                 rb"fifo=1\nuptime ([\d.]+) ([\d.]+)\n$", out)
    check(rc == 0 and m, f"status {rc}, {out!r} {err!r}")
    p50, p99, mx, t0, t1 = (float(x) for x in m.groups())
    check(0 <= p50 <= p99 <= mx < 1e6, f"percentiles out of order: {p50} {p99} {mx}")
    check(float(t1) - float(t0) >= 0.2, f"200 sleeps of 1 ms took {t1 - t0:.2f} s of guest time")
    rc, out, err = run_rm(["kiln-timerlat", "-n", "0"])
    check(rc == 2 and b"must be positive" in err, f"bad argument: status {rc}, {err!r}")

if __name__ == "__main__":
    sys.exit(main())
