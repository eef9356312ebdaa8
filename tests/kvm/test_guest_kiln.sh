#!/bin/bash
# The default x86-64 guest (build/guest-x86_64) on kiln's kvm backend, picked from the kernel
# (no --accel):
#  1. the PVH vmlinux with 2 vCPUs from the initramfs to init's shell, commands through the
#     8250 console (arithmetic, nproc, uname -m, the CMOS RTC's date), the boot timer's line on
#     stderr, power-off through the finisher when the shell exits: status 0;
#  2. the bzImage (64-bit boot protocol), 1 vCPU, root on a copy of rootfs.ext4 (virtio-blk
#     /dev/vda) plus a scratch disk /dev/vdb, --net user, --rng, --vsock and a 64 MiB balloon: a
#     file written on the root and bytes written raw to the scratch disk are read back in the
#     guest after dropping its caches and found in the host images after exit; eth0 got
#     10.0.2.15 by DHCP; /dev/hwrng gives bytes; the guest's vsock connection to the host (CID
#     2, port 6000: a Unix socket echo server) echoes; MemTotal is 64 MiB (+-8) below the first
#     boot's; `reboot` goes out through the i8042 reset line (status 0, kiln's message);
#  3. a kernel that executes an invalid instruction with no IDT (triple fault): status 70 and one
#     line with the vCPU's registers (on AMD, KVM resets the vCPU on a shutdown: they read as the
#     reset state there); a kernel that is not one: status 65; a `--rm` sandbox (the guest side
#     is RISC-V's so far): status 64.
# Skipped (77) without the guest or /dev/kvm.
# usage: tests/kvm/test_guest_kiln.sh KILN_BINARY
set -uo pipefail
trap "" PIPE   # a kiln that exited early must not kill the test before it reports
KILN=${1:?usage: test_guest_kiln.sh KILN_BINARY}
. "$(dirname "$0")/lib.sh"
kvm_test_prelude
W=$(mktemp -d /tmp/kiln-kvm-guest.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail=0

# boot NAME TIMEOUT COMMANDS KILN-ARGS...: waits for init's banner, types COMMANDS, collects the
# console until kiln exits; status in $W/NAME.status, console in $W/NAME.txt, stderr $W/NAME.err
boot() {
    local name=$1 limit=$2 cmds=$3 line ready=0 st
    shift 3
    coproc K { exec timeout -k 5 "$limit" "$KILN" run "$@" 2>"$W/$name.err"; }
    exec 3>&"${K[1]}" 4<&"${K[0]}"
    local kpid=$K_PID
    : >"$W/$name.log"
    while IFS= read -r -t "$limit" line <&4; do
        printf '%s\n' "$line" >>"$W/$name.log"
        case $line in *"kiln guest ready"*) ready=1; break ;; esac
    done
    check "$name: boot reaches init's shell" "$ready" 1
    printf '%s\n' "$cmds" >&3
    cat <&4 >>"$W/$name.log"
    wait "$kpid"; st=$?
    exec 3>&- 4<&-
    echo "$st" >"$W/$name.status"
    tr -d '\r' <"$W/$name.log" >"$W/$name.txt"
}
show() {
    echo "--- $1 console (tail):"; tail -25 "$W/$1.txt"
    echo "--- $1 stderr:"; cat "$W/$1.err"
}

# 1. initramfs, 2 vCPUs, the PVH entry
t0=$(date +%s%N)
boot smp 150 'echo A$((6*7))Z; nproc; uname -m; echo R$(cat /sys/class/rtc/rtc0/date);
echo M$(sed -n "s/^MemTotal: *\([0-9]*\) kB/\1/p" /proc/meminfo); exit' \
    --kernel "$G/vmlinux" --initrd "$G/initramfs.cpio.gz" --cpus 2 --mem 256
t1=$(date +%s%N)
check "smp: power-off when the shell exits: status" "$(cat "$W/smp.status")" 0
check "smp: shell arithmetic" "$(grep -c '^A42Z$' "$W/smp.txt")" 1
check "smp: 2 vCPUs online" "$(grep -xE '[0-9]+' "$W/smp.txt" | tail -1)" 2
check "smp: uname -m" "$(grep -c '^x86_64$' "$W/smp.txt")" 1
check "smp: the CMOS RTC has the host's date" "$(grep -c "^R$(date -u +%Y-%m-%d)\$" "$W/smp.txt")" 1
check "smp: boot timer line on stderr" "$(grep -c '^guest boot time: [0-9]* us$' "$W/smp.err")" 1
check "smp: the MP table's CPUs came up" "$(grep -c 'smpboot: Total of 2 processors' "$W/smp.txt")" 1
echo "kiln kvm, initramfs, 2 vCPUs, exec -> power-off (with typing): $(( (t1 - t0) / 1000000 )) ms"
[ $fail = 0 ] || show smp

# 2. bzImage, disk root + scratch disk, network, rng; reboot through the i8042
f2=0
cp --sparse=always "$G/rootfs.ext4" "$W/root.ext4"
truncate -s 8M "$W/scratch.img"
# the host side of vsock port 6000: an echo server on the Unix socket PATH_6000
python3 - "$W/v.sock_6000" <<'EOF' &
import socket, sys
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(sys.argv[1]); srv.listen(1); srv.settimeout(200)
conn, _ = srv.accept()
while True:
    data = conn.recv(65536)
    if not data:
        break
    conn.sendall(data)
EOF
echo_pid=$!
# Python starts slowly in the nested VM (its files come over 9p): wait until it listens
for _ in $(seq 600); do [ -S "$W/v.sock_6000" ] && break; sleep 0.1; done
fail_before=$fail
boot disk 200 'echo kvm-root-$((6*7)) >/root/kvmfile; printf KVMDISK42 >/dev/vdb; sync;
echo 3 >/proc/sys/vm/drop_caches; cat /root/kvmfile; head -c 9 /dev/vdb; echo;
ip -4 addr show eth0 | grep -o "inet 10.0.2.15"; head -c 16 /dev/hwrng | wc -c;
echo vsock-$((6*7)) | kiln-vsock connect 2 6000;
for i in 1 2 3 4 5 6 7 8 9 10; do m=$(sed -n "s/^MemTotal: *\([0-9]*\) kB/\1/p" /proc/meminfo);
[ $m -lt 190000 ] && break; sleep 1; done; echo M$m; reboot -f' \
    --kernel "$G/bzImage" --cmdline "console=ttyS0 root=/dev/vda rw" \
    --disk "$W/root.ext4" --disk "$W/scratch.img" --net user --rng \
    --vsock "cid=3,uds=$W/v.sock" --balloon=size=64
kill $echo_pid 2>/dev/null
check "disk: reboot stops the VM: status" "$(cat "$W/disk.status")" 0
check "disk: kiln says the guest asked for a reboot" \
    "$(grep -c 'the guest asked for a reboot' "$W/disk.err")" 1
check "disk: ext4 root on /dev/vda" "$(grep -c 'EXT4-fs (vda): mounted' "$W/disk.txt")" 1
check "disk: root file read back" "$(grep -c '^kvm-root-42$' "$W/disk.txt")" 1
check "disk: scratch disk read back" "$(grep -c '^KVMDISK42$' "$W/disk.txt")" 1
check "disk: scratch bytes in the host image" "$(head -c 9 "$W/scratch.img")" KVMDISK42
if command -v debugfs >/dev/null; then
    check "disk: root file in the host image" \
        "$(debugfs -R 'cat /root/kvmfile' "$W/root.ext4" 2>/dev/null)" kvm-root-42
fi
check "net: DHCP lease 10.0.2.15" "$(grep -c '^inet 10.0.2.15$' "$W/disk.txt")" 1
check "rng: 16 bytes from /dev/hwrng" "$(grep -xE ' *16' "$W/disk.txt" | tr -d ' ' | tail -1)" 16
check "vsock: the guest's connection to the host echoes" "$(grep -c '^vsock-42$' "$W/disk.txt")" 1
plain=$(sed -n 's/^M\([0-9]*\)$/\1/p' "$W/smp.txt")
ballooned=$(sed -n 's/^M\([0-9]*\)$/\1/p' "$W/disk.txt")
drop=$(( (${plain:-0} - ${ballooned:-0}) / 1024 ))
check "balloon: MemTotal ${plain:-?} -> ${ballooned:-?} KiB, 64 MiB (+-8) less" \
    "$([ "$drop" -ge 56 ] && [ "$drop" -le 72 ] && echo yes)" yes
[ $fail = "$fail_before" ] || show disk

# 3. a kernel that triple-faults at once: an x86-64 ELF (64-bit boot protocol, e_entry) whose
#    code is ud2 with an empty IDT; and a file that is no kernel
python3 - "$W/ud2.elf" <<'EOF'
import struct, sys
code = b"\x0f\x0b" * 8                       # ud2: #UD, no IDT -> #DF -> triple fault
paddr = 0x1000000
ehdr = struct.pack("<4sBBBBB7xHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 0, 2, 62, 1,
                   paddr, 64, 0, 0, 64, 56, 1, 0, 0, 0)
phdr = struct.pack("<IIQQQQQQ", 1, 5, 120, paddr, paddr, len(code), len(code), 0x1000)
open(sys.argv[1], "wb").write(ehdr + phdr + code)
EOF
timeout -k 5 60 "$KILN" run --kernel "$W/ud2.elf" </dev/null >"$W/crash.out" 2>"$W/crash.err"
check "triple fault: status 70" "$?" 70
check "triple fault: one line with the registers" \
    "$(grep -c "vCPU 0: triple fault (KVM_EXIT_SHUTDOWN): rip=0x[0-9a-f]* .*cr0=" "$W/crash.err")" 1
head -c 4096 /dev/urandom >"$W/garbage"
printf '\x7fELF\x02\x01\x01' | dd of="$W/garbage" conv=notrunc status=none
printf '\x3e\x00' | dd of="$W/garbage" bs=1 seek=18 conv=notrunc status=none
timeout -k 5 60 "$KILN" run --accel kvm --kernel "$W/garbage" </dev/null >/dev/null 2>"$W/bad.err"
check "bad kernel: status 65" "$?" 65
check "bad kernel: one line" "$(wc -l <"$W/bad.err")" 1
# a --rm sandbox needs the RISC-V guest's sandbox console: refused, not left to hang
timeout -k 5 60 "$KILN" run --rm --kernel "$G/vmlinux" --initrd "$G/initramfs.cpio.gz" -- true \
    </dev/null >/dev/null 2>"$W/rm.err"
check "--rm with the x86-64 guest: status 64" "$?" 64
check "--rm with the x86-64 guest: says why" "$(grep -c 'sandboxes need a RISC-V guest' "$W/rm.err")" 1
[ $fail = 0 ] || { echo "--- crash:"; cat "$W/crash.err"; echo "--- bad:"; cat "$W/bad.err";
                   echo "--- rm:"; cat "$W/rm.err"; }
exit $fail
