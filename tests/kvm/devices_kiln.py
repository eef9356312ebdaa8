"""devices_kiln.py — the x86-64 guest's virtio devices in the directions test_guest_kiln.sh
does not cover, in one boot on the kvm backend (initramfs, 1 vCPU):
  - a read-only disk: the guest sees /sys/block/vda/ro = 1, its write fails, it reads the
    image's bytes, and the host image is unchanged afterwards;
  - user-mode networking host -> guest: the host fetches a page from the guest's httpd through
    a hostfwd port forward;
  - vsock host -> guest: the host CONNECTs through the Unix socket to a guest listener and gets
    200 kB echoed back intact.
usage: devices_kiln.py KILN_BINARY GUEST_X86_DIR
"""
import hashlib
import os
import random
import socket
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "guest"))
from kilnvm import PROMPT, KilnVM, recv_until_eof, vsock_host_connect  # noqa: E402

KILN, GUEST = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
failures = 0


def check(name, cond, detail=""):
    global failures
    if cond:
        print(f"ok: {name}", flush=True)
    else:
        failures += 1
        print(f"FAIL: {name}: {detail}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch_forwarded(hport):
    """The guest's page through the port forward; else why the last try failed."""
    why = ""
    for _ in range(100):
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{hport}/", timeout=20).read().decode()
        except OSError as e:
            why = str(e)
            time.sleep(0.3)
    return why


def main():
    tmp = tempfile.mkdtemp(prefix="kiln-kvm-devices.")
    img = os.path.join(tmp, "ro.img")
    with open(img, "wb") as f:
        f.write(b"original-content" * 256)
        f.truncate(4 << 20)
    before = hashlib.sha256(open(img, "rb").read()).hexdigest()
    uds = os.path.join(tmp, "v.sock")
    hport = free_port()
    vm = KilnVM(KILN, ["--kernel", os.path.join(GUEST, "vmlinux"),
                       "--initrd", os.path.join(GUEST, "initramfs.cpio.gz"), "--mem", "256",
                       "--disk", img + ",readonly",
                       "--net", f"user,hostfwd=tcp:127.0.0.1:{hport}-:8080",
                       "--vsock", f"cid=3,uds={uds}"], timeout=240)
    try:
        vm.expect(PROMPT)
        ro = vm.run("cat /sys/block/vda/ro")
        check("read-only disk: the guest sees it read-only", ro == "1", f"/sys/block/vda/ro is {ro!r}")
        out = vm.run("dd if=/dev/zero of=/dev/vda bs=4096 count=1 conv=fsync 2>&1; echo rc=$?")
        check("read-only disk: a write fails", not out.endswith("rc=0"), repr(out))
        data = vm.run("dd if=/dev/vda bs=16 count=1 2>/dev/null")
        check("read-only disk: reads the image", data == "original-content", repr(data))

        token = f"kvm-page-{random.randint(0, 10**9)}"
        vm.run(f"mkdir -p /tmp/www && echo {token} > /tmp/www/index.html && httpd -p 8080 -h /tmp/www")
        body = fetch_forwarded(hport)
        diag = "" if body.strip() == token else vm.run(
            "ip -4 addr show eth0 2>&1 | grep inet; command -v httpd; netstat -ltn 2>&1 | grep 8080")
        check("net: the host fetches the guest's page through hostfwd", body.strip() == token,
              f"got {body!r}, expected {token}; in the guest: {diag!r}")

        vm.send("kiln-vsock listen 5000 >/dev/null 2>&1 &")
        s = vsock_host_connect(uds, 5000, attempts=100, delay=0.3, timeout=60)
        check("vsock: the host's CONNECT 5000 is accepted", s is not None)
        if s:
            payload = os.urandom(200000)
            threading.Thread(target=lambda: (s.sendall(payload), s.shutdown(socket.SHUT_WR)),
                             daemon=True).start()
            got = recv_until_eof(s, len(payload))
            s.close()
            check("vsock: 200 kB from the host echoed back intact", got == payload,
                  f"{len(got)} of {len(payload)} bytes, intact={got == payload}")
        vm.send("exit")   # init powers off through the finisher when its shell exits
        rc = vm.wait()
        check("power-off: status 0", rc == 0, f"kiln exited with {rc}")
    except Exception as e:  # noqa: BLE001 - report and fail, never hang
        check("the guest session", False, str(e))
    finally:
        vm.kill()
    after = hashlib.sha256(open(img, "rb").read()).hexdigest()
    check("read-only disk: the host image is unchanged", before == after)
    if failures:
        print("--- kiln stderr (tail):\n" + vm.err[-2000:])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
