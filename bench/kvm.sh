#!/bin/bash
# The kvm backend against QEMU's microvm with KVM (qemu-system-x86_64 -M microvm -accel kvm, the
# closest peer Debian ships), on the same kernel and disk: the PVH vmlinux, 1 vCPU, 256 MiB,
# root on a copy of build/guest-x86_64/rootfs.ext4, init powering off at once (kiln.poweroff).
# Measured: exec -> exit (the whole boot and power-off) and each process's peak RSS (the guest
# RAM it touched included, so the difference is the VMMs' own overhead, roughly).
# Alternating runs, medians, kiln/QEMU ratio. Without a usable /dev/kvm it runs itself inside
# the nested VM (tests/kvm/nested.sh), where both run under the same software-emulated AMD-V:
# the ratios mean something there, the absolute times do not.
# usage: bench/kvm.sh [runs]   (default 5)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-5}
KILN=${KILN:-$ROOT/build/kiln}
G=${KILN_GUEST_X86_DIR:-$ROOT/build/guest-x86_64}
. "$ROOT/tests/kvm/kvm_usable.sh"
if ! kvm_usable; then
    [ "${KILN_NESTED_INSIDE:-}" = 1 ] && { echo "bench/kvm.sh: no usable /dev/kvm" >&2; exit 1; }
    cd "$ROOT"
    exec bash "$ROOT/tests/kvm/nested.sh" -v --timeout 1500 -- env KILN="$KILN" bash "$0" "$RUNS"
fi
W=$(mktemp -d /tmp/kiln-bench-kvm.XXXXXX)
trap 'rm -rf "$W"' EXIT
cp --sparse=always "$G/rootfs.ext4" "$W/root.ext4"
ARGS="console=ttyS0 root=/dev/vda rw kiln.poweroff"

# one NAME CMD...: appends "ms peak_rss_kib" to $W/NAME
one() {
    local name=$1 t0 t1
    shift
    t0=$(date +%s%N)
    /usr/bin/time -f "%M" -o "$W/rss" "$@" </dev/null >"$W/out" 2>&1
    local st=$?
    t1=$(date +%s%N)
    [ $st = 0 ] || { echo "$name failed ($st):"; tail -5 "$W/out"; exit 1; }
    echo "$(( (t1 - t0) / 1000000 )) $(cat "$W/rss")" >>"$W/$name"
}
for i in $(seq "$RUNS"); do
    one kiln "$KILN" run --kernel "$G/vmlinux" --mem 256 --disk "$W/root.ext4" --cmdline "$ARGS"
    one qemu qemu-system-x86_64 -M microvm -accel kvm -cpu host -m 256 -smp 1 -nodefaults \
        -no-user-config -display none -no-reboot -serial stdio -kernel "$G/vmlinux" \
        -drive id=root,file="$W/root.ext4",format=raw,if=none -device virtio-blk-device,drive=root \
        -append "$ARGS"
done
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
km=$(cut -d' ' -f1 "$W/kiln" | median) qm=$(cut -d' ' -f1 "$W/qemu" | median)
kr=$(cut -d' ' -f2 "$W/kiln" | median) qr=$(cut -d' ' -f2 "$W/qemu" | median)
echo "exec -> power-off, disk root, $RUNS runs each$([ "${KILN_NESTED_INSIDE:-}" = 1 ] && echo ', in the nested VM'):"
printf '  %-24s %8s ms   peak RSS %7s KiB\n' "kiln (kvm backend)" "$km" "$kr" "QEMU microvm -accel kvm" "$qm" "$qr"
awk -v k="$km" -v q="$qm" -v kr="$kr" -v qr="$qr" \
    'BEGIN { printf "  kiln/QEMU: boot %.2f, peak RSS %.2f\n", k / q, kr / qr }'
