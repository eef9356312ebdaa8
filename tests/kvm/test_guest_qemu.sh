#!/bin/bash
# The default x86-64 guest (build/guest-x86_64, guest/build-x86_64.sh) on KVM under QEMU's
# microvm machine, the peer the kvm backend is measured against: the PVH vmlinux boots with
# 2 vCPUs from the initramfs to init's shell, runs commands on the 8250 console and powers off
# (ACPI) when the shell exits; then it boots from a copy of rootfs.ext4 on a virtio-mmio disk
# announced on the command line and powers off at once (kiln.poweroff), timed (exec -> exit).
# Skipped (77) without the guest, QEMU or /dev/kvm.
# usage: tests/kvm/test_guest_qemu.sh KILN_BINARY   (KILN_BINARY unused: QEMU only)
set -uo pipefail
. "$(dirname "$0")/lib.sh"
kvm_test_prelude qemu-system-x86_64
W=$(mktemp -d /tmp/kiln-kvm-qemu.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail=0
QEMU=(qemu-system-x86_64 -M microvm -accel kvm -cpu host -m 256 -nodefaults -no-user-config
      -display none -no-reboot -serial stdio -kernel "$G/vmlinux")

# 1. initramfs, 2 vCPUs: wait for init's banner, then drive the shell
coproc Q { exec timeout -k 5 120 "${QEMU[@]}" -smp 2 -initrd "$G/initramfs.cpio.gz" \
    -append "console=ttyS0 panic=-1" 2>&1; }
exec 3>&"${Q[1]}" 4<&"${Q[0]}"
qpid=$Q_PID
: >"$W/console"
ready=0
while IFS= read -r -t 120 line <&4; do
    printf '%s\n' "$line" >>"$W/console"
    case $line in *"kiln guest ready"*) ready=1; break ;; esac
done
check "initramfs boot reaches init's shell" "$ready" 1
printf 'echo A$((6*7))Z; nproc; uname -m; exit\n' >&3
cat <&4 >>"$W/console"
wait "$qpid"; st=$?
exec 3>&- 4<&-
tr -d '\r' <"$W/console" >"$W/console.txt"
check "poweroff when the shell exits: QEMU's status" "$st" 0
check "shell arithmetic" "$(grep -c '^A42Z$' "$W/console.txt")" 1
check "2 vCPUs online" "$(grep -xE '[0-9]+' "$W/console.txt" | tail -1)" 2
check "uname -m" "$(grep -c '^x86_64$' "$W/console.txt")" 1
[ $fail = 0 ] || { echo "--- console:"; tail -30 "$W/console.txt"; }

# 2. root on a virtio-mmio disk (QEMU adds virtio_mmio.device= to the command line), power off
cp --sparse=always "$G/rootfs.ext4" "$W/root.ext4"
t0=$(date +%s%N)
timeout -k 5 120 "${QEMU[@]}" -smp 1 \
    -drive id=root,file="$W/root.ext4",format=raw,if=none -device virtio-blk-device,drive=root \
    -append "console=ttyS0 root=/dev/vda rw panic=-1 kiln.poweroff" </dev/null >"$W/disk" 2>&1
st=$?
t1=$(date +%s%N)
check "disk boot with kiln.poweroff: QEMU's status" "$st" 0
check "ext4 root on /dev/vda" "$(grep -c 'EXT4-fs (vda): mounted' "$W/disk")" 1
[ $st = 0 ] && echo "QEMU microvm, disk root, exec -> power-off: $(( (t1 - t0) / 1000000 )) ms"
[ $fail = 0 ] || { echo "--- console:"; tail -30 "$W/disk"; }
exit $fail
