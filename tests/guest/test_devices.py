#!/usr/bin/env python3
"""Guest tests of the virtio devices: a real guest uses disks, network, vsock, rng and balloon,
and the host checks what arrived.

usage: test_devices.py KILN GUEST_DIR [test-name ...]
"""
import hashlib
import http.server
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guestlib import (ROOTFS, boot, check, main, poweroff, skip, test)  # noqa: E402
from kilnvm import PROMPT, KilnVM, recv_until_eof, vsock_host_connect  # noqa: E402,F401

TMP = tempfile.mkdtemp(prefix="kiln-devtest-")


def scratch_image(name, mib=16, ext4=False):
    path = os.path.join(TMP, name)
    with open(path, "wb") as f:
        f.truncate(mib << 20)
    if ext4:
        subprocess.run(["mkfs.ext4", "-q", "-F", path], check=True)
    return path


def debugfs_cat(image, path):
    r = subprocess.run(["debugfs", "-R", f"cat {path}", image], capture_output=True, text=True)
    return r.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@test
def disk_writes_reach_the_image():
    img = scratch_image("data.img", ext4=True)
    token = f"kiln-disk-{random.randint(0, 10**9)}"
    vm = boot(["--disk", img])
    try:
        out = vm.run(f"mkdir -p /mnt && mount /dev/vda /mnt && echo {token} > /mnt/hello && sync "
                     f"&& umount /mnt && echo mounted-ok")
        check(out.endswith("mounted-ok"), f"mounting and writing /dev/vda failed: {out!r}")
        poweroff(vm)
    finally:
        vm.kill()
    got = debugfs_cat(img, "/hello").strip()
    check(got == token, f"the host sees {got!r} in the image, expected {token!r}")


@test
def readonly_disk_refuses_writes():
    img = scratch_image("ro.img", mib=4)
    with open(img, "r+b") as f:
        f.write(b"original-content" * 256)
    before = hashlib.sha256(open(img, "rb").read()).hexdigest()
    vm = boot(["--disk", img + ",readonly"])
    try:
        ro = vm.run("cat /sys/block/vda/ro")
        check(ro == "1", f"/sys/block/vda/ro is {ro!r}, expected 1")
        out = vm.run("dd if=/dev/zero of=/dev/vda bs=4096 count=1 conv=fsync 2>&1; echo rc=$?")
        check(not out.endswith("rc=0"), f"a write to the read-only disk succeeded: {out!r}")
        data = vm.run("dd if=/dev/vda bs=16 count=1 2>/dev/null")
        check(data == "original-content", f"reading the read-only disk gave {data!r}")
        poweroff(vm)
    finally:
        vm.kill()
    after = hashlib.sha256(open(img, "rb").read()).hexdigest()
    check(before == after, "the read-only image changed on the host")


@test
def synced_data_survives_kill_9():
    img = scratch_image("kill.img", mib=8)
    token = f"survives-{random.randint(0, 10**9)}"
    vm = boot(["--disk", img])
    try:
        out = vm.run(f"echo {token} | dd of=/dev/vda bs=512 seek=100 conv=sync 2>/dev/null; sync; echo synced")
        check(out.endswith("synced"), f"guest write failed: {out!r}")
        vm.proc.kill()   # SIGKILL: no chance to flush anything more
        vm.proc.wait()
    finally:
        vm.kill()
    with open(img, "rb") as f:
        f.seek(100 * 512)
        got = f.read(len(token))
    check(got == token.encode(), f"after kill -9 the image holds {got!r} at sector 100")


@test
def boots_from_ext4_root_disk():
    root = os.path.join(TMP, "root.ext4")
    shutil.copyfile(ROOTFS, root)
    token = f"rootfs-{random.randint(0, 10**9)}"
    vm = boot(["--disk", root], initrd=False, cmdline="console=ttyS0 root=/dev/vda rw")
    try:
        src = vm.run("awk '$2 == \"/\" {print $1, $3}' /proc/mounts | tail -1")
        check(src == "/dev/root ext4", f"/ is {src!r}, expected the ext4 disk")
        vm.run(f"echo {token} > /root/token && sync")
        poweroff(vm)
    finally:
        vm.kill()
    got = debugfs_cat(root, "/root/token").strip()
    check(got == token, f"the root image holds {got!r}, expected {token!r}")


class _Page(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def _loopback_page_server():
    """An HTTP server on the host's 127.0.0.1 only: what a guest must not reach unless allowed."""
    _Page.body = f"host-page-{random.randint(0, 10**9)}\n".encode()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _fetch_forwarded(hport):
    """The page the guest's httpd (port 8080) serves, fetched through the host port forward."""
    for _ in range(50):
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{hport}/", timeout=10).read().decode()
        except OSError:
            time.sleep(0.2)
    return ""


@test
def network_user_mode_both_directions():
    server = _loopback_page_server()
    hport = free_port()
    vm = boot(["--net", f"user,hostfwd=tcp:127.0.0.1:{hport}-:8080,host-loopback=on"])
    try:
        ip = vm.run("ip -4 addr show eth0 | awk '/inet /{print $2}'")
        check(ip == "10.0.2.15/24", f"eth0 has {ip!r}, expected the DHCP address 10.0.2.15/24")
        page = vm.run(f"wget -q -O - http://10.0.2.2:{server.server_port}/")
        check(page == _Page.body.decode().strip(), f"guest fetched {page!r} from the host")
        token = f"guest-page-{random.randint(0, 10**9)}"
        vm.run(f"mkdir -p /tmp/www && echo {token} > /tmp/www/index.html && httpd -p 8080 -h /tmp/www")
        body = _fetch_forwarded(hport)
        check(body.strip() == token, f"host fetched {body!r} through the port forward, expected {token}")
        poweroff(vm)
    finally:
        vm.kill()
        server.shutdown()


@test
def network_user_mode_host_loopback_refused_by_default():
    # issue 11: without host-loopback=on, 10.0.2.2 must not lead to the host's 127.0.0.1
    server = _loopback_page_server()
    hport = free_port()
    vm = boot(["--net", f"user,hostfwd=tcp:127.0.0.1:{hport}-:8080"])
    try:
        t0 = time.monotonic()
        out = vm.run(f"wget -q -T 10 -O - http://10.0.2.2:{server.server_port}/ 2>&1; echo rc=$?")
        took = time.monotonic() - t0
        check(_Page.body.decode().strip() not in out, f"guest fetched the host's loopback-only page: {out!r}")
        # slirp answers the SYN with an ICMP "network unreachable" (or a reset): either way at once
        check(out.endswith("rc=1") and ("unreachable" in out or "refused" in out),
              f"wget to the host's loopback: {out!r}, expected unreachable or refused")
        check(took < 8, f"the refusal took {took:.1f}s: the guest should be told at once, not time out")
        # the other direction (host port forwards) is not affected
        token = f"guest-page-{random.randint(0, 10**9)}"
        vm.run(f"mkdir -p /tmp/www && echo {token} > /tmp/www/index.html && httpd -p 8080 -h /tmp/www")
        body = _fetch_forwarded(hport)
        check(body.strip() == token, f"host fetched {body!r} through the port forward, expected {token}")
        poweroff(vm)
    finally:
        vm.kill()
        server.shutdown()


@test
def network_tap_when_available():
    tap = f"kilntap{os.getpid() % 1000}"
    r = subprocess.run(["ip", "tuntap", "add", tap, "mode", "tap"], capture_output=True, text=True)
    if r.returncode != 0:
        skip(f"cannot create a TAP device here ({r.stderr.strip()})")
    try:
        subprocess.run(["ip", "addr", "add", "192.168.213.1/24", "dev", tap], check=True)
        subprocess.run(["ip", "link", "set", tap, "up"], check=True)
        vm = boot(["--net", f"tap={tap},mac=06:00:c0:a8:d5:02"])
        try:
            mac = vm.run("cat /sys/class/net/eth0/address")
            check(mac == "06:00:c0:a8:d5:02", f"guest MAC is {mac!r}")
            out = vm.run("ip addr add 192.168.213.2/24 dev eth0; ip link set eth0 up; "
                         "ping -c 2 -W 5 192.168.213.1 >/dev/null && echo ping-ok")
            check(out.endswith("ping-ok"), f"guest cannot ping the host over TAP: {out!r}")
            poweroff(vm)
        finally:
            vm.kill()
    finally:
        subprocess.run(["ip", "link", "del", tap], capture_output=True)


def _vsock_echo_server(path, ready):
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    ready.set()
    conn, _ = srv.accept()
    with conn:
        while True:
            data = conn.recv(65536)
            if not data:
                break
            conn.sendall(data)
    srv.close()


@test
def vsock_echo_both_directions():
    uds = os.path.join(TMP, "v.sock")
    ready = threading.Event()
    threading.Thread(target=_vsock_echo_server, args=(uds + "_6000", ready), daemon=True).start()
    ready.wait(5)
    vm = boot(["--vsock", f"cid=3,uds={uds}"])
    try:
        # guest → host: the host's echo server listens on <uds>_6000
        token = f"to-host-{random.randint(0, 10**9)}"
        out = vm.run(f"echo {token} | kiln-vsock connect 2 6000")
        check(out == token, f"guest→host vsock echo returned {out!r}")
        # host → guest: CONNECT through the Unix socket to a guest echo listener
        vm.send("kiln-vsock listen 5000 >/dev/null 2>&1 &")
        payload = os.urandom(200000)
        s = vsock_host_connect(uds, 5000)
        check(s is not None, "CONNECT 5000 was never answered OK")
        threading.Thread(target=lambda: (s.sendall(payload), s.shutdown(socket.SHUT_WR)), daemon=True).start()
        s.settimeout(60)
        got = recv_until_eof(s, len(payload))
        s.close()
        check(got == payload, f"host→guest vsock echo returned {len(got)} of {len(payload)} bytes intact={got == payload}")
        poweroff(vm)
    finally:
        vm.kill()


@test
def disk_rate_limit_is_honoured():
    rate = 1 << 20   # 1 MiB/s, in a bucket of 0.1 s so the initial full bucket barely counts
    img = scratch_image("slow.img", mib=8)
    vm = boot(["--disk", f"{img},bw={rate // 10}/100"])
    try:
        out = vm.run("dd if=/dev/vda of=/dev/null bs=64k count=64 iflag=direct 2>&1 | tail -1")
        m = re.search(r"copied, ([\d.]+) seconds", out)
        check(m is not None, f"unexpected dd output {out!r}")
        secs = float(m.group(1))
        measured = (64 * 65536 - rate // 10) / secs
        check(abs(measured - rate) <= 0.10 * rate,
              f"read {measured / 1e6:.3f} MB/s through a {rate / 1e6:.3f} MB/s limit (dd: {out!r})")
        poweroff(vm)
    finally:
        vm.kill()


@test
def entropy_device_feeds_the_guest():
    vm = boot(["--rng"])
    try:
        cur = vm.run("cat /sys/class/misc/hw_random/rng_current")
        check(cur.startswith("virtio_rng"), f"hw_random uses {cur!r}, expected virtio_rng")
        a = vm.run("dd if=/dev/hwrng bs=32 count=1 2>/dev/null | od -An -tx1 | tr -d ' \\n'")
        b = vm.run("dd if=/dev/hwrng bs=32 count=1 2>/dev/null | od -An -tx1 | tr -d ' \\n'")
        check(len(a) == 64 and len(b) == 64 and a != b, f"hwrng gave {a!r} then {b!r}")
        poweroff(vm)
    finally:
        vm.kill()


def mem_total_kib(vm):
    return int(vm.run("awk '/MemTotal/{print $2}' /proc/meminfo"))


@test
def balloon_takes_memory_from_the_guest():
    vm = boot(mem=256)
    try:
        plain = mem_total_kib(vm)
        poweroff(vm)
    finally:
        vm.kill()
    vm = boot(["--balloon=size=64"], mem=256)
    try:
        total = plain
        for _ in range(100):
            total = mem_total_kib(vm)
            if plain - total >= 60 * 1024:
                break
            time.sleep(0.2)
        check(60 * 1024 <= plain - total <= 68 * 1024,
              f"MemTotal went from {plain} to {total} KiB with a 64 MiB balloon")
        poweroff(vm)
    finally:
        vm.kill()


@test
def stop_signals_end_kiln_cleanly_with_devices():
    """SIGTERM, SIGHUP and SIGINT stop a VM with every kind of device attached the documented
    way: status 128+N, one 'stopped by signal' line, the vsock socket removed. (The devices' I/O
    threads once took the signal and the process died by it.)"""
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        uds = os.path.join(TMP, f"sig{int(sig)}.sock")
        disk = scratch_image(f"sig{int(sig)}.img")
        vm = boot(["--disk", disk, "--net", "user", "--rng", "--vsock", f"cid=3,uds={uds}",
                   "--balloon=size=16"])
        try:
            check(os.path.exists(uds), f"no vsock socket {uds} while the VM runs")
            vm.proc.send_signal(sig)
            rc = vm.wait(30)
            check(rc == 128 + sig, f"{sig.name}: exit status {rc}, expected {128 + sig}; stderr={vm.err!r}")
            vm.t_err.join(5)
            line = f"kiln: stopped by signal {int(sig)} ("
            check(vm.err.count(line) == 1, f"{sig.name}: stderr lacks one {line!r}: {vm.err!r}")
            check(not os.path.exists(uds), f"{sig.name}: the vsock socket {uds} was left behind")
        finally:
            vm.kill()


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
