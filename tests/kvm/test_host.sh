#!/bin/bash
# Runs on the host, no KVM needed (make test): an x86-64 kernel where KVM cannot be used. kiln
# picks the kvm backend from the kernel (or --accel kvm forces it), and without a usable
# /dev/kvm says so in one line on stderr, writes nothing to stdout and exits with 69 before it
# takes any guest RAM. On a host that has /dev/kvm, $KILN_KVM_DEVICE points kiln at a device
# that is missing or is not KVM instead. Also: --accel with an unknown name (64).
# usage: tests/kvm/test_host.sh KILN_BINARY
set -uo pipefail
KILN=${1:?usage: test_host.sh KILN_BINARY}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
W=$(mktemp -d /tmp/kiln-kvm-host.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail=0
. "$ROOT/tests/kvm/lib.sh"

# an x86-64 ELF header is all the backend choice needs: the host check comes before the load
python3 - "$W/vmlinux" <<'PY'
import struct, sys
open(sys.argv[1], "wb").write(struct.pack("<4sBBBBB7xHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 0,
                                          2, 62, 1, 0x1000000, 64, 0, 0, 64, 56, 0, 0, 0, 0))
PY
if [ -e /dev/kvm ]; then
    export KILN_KVM_DEVICE=/nonexistent/kvm
    dev=/nonexistent/kvm
else
    unset KILN_KVM_DEVICE
    dev=/dev/kvm
fi

run() {   # NAME ARGS...: status, stdout and stderr of kiln run ARGS
    local name=$1
    shift
    timeout -k 5 30 "$KILN" run "$@" </dev/null >"$W/$name.out" 2>"$W/$name.err"
    echo $? >"$W/$name.status"
}
for how in auto forced; do
    if [ $how = auto ]; then run $how --kernel "$W/vmlinux"; else run $how --accel kvm --kernel "$W/vmlinux"; fi
    check "$how: status 69" "$(cat "$W/$how.status")" 69
    check "$how: one line on stderr" "$(wc -l <"$W/$how.err")" 1
    check "$how: it names the device" "$(grep -c "^kiln: $dev does not exist: this host has no KVM" "$W/$how.err")" 1
    check "$how: nothing on stdout" "$(wc -c <"$W/$how.out")" 0
done
# the default guest (RISC-V) is not affected; --accel kvm with it is refused the same way
if [ -f "$ROOT/build/guest/Image" ]; then
    run rv --accel kvm --kernel "$ROOT/build/guest/Image"
    check "--accel kvm with a RISC-V kernel: status 69" "$(cat "$W/rv.status")" 69
fi
KILN_KVM_DEVICE=/dev/null run notkvm --accel kvm --kernel "$W/vmlinux"
check "not a KVM device: status 69" "$(cat "$W/notkvm.status")" 69
check "not a KVM device: says so" "$(grep -c '^kiln: /dev/null is not a KVM device' "$W/notkvm.err")" 1
# a KVM without VT-x/AMD-V (kvm_pvm in cloud VMs) opens and answers, but cannot boot an
# unmodified kernel: refused up front (checked where the host is such a machine)
if [ -c /dev/kvm ] && { : <>/dev/kvm; } 2>/dev/null && ! grep -qwE 'vmx|svm' /proc/cpuinfo; then
    KILN_KVM_DEVICE=/dev/kvm run softkvm --accel kvm --kernel "$W/vmlinux"
    check "KVM without VT-x/AMD-V: status 69" "$(cat "$W/softkvm.status")" 69
    check "KVM without VT-x/AMD-V: says so" \
        "$(grep -c '^kiln: /dev/kvm is KVM without hardware virtualization' "$W/softkvm.err")" 1
fi
run unknown --accel hvf --kernel "$W/vmlinux"
check "unknown accelerator: status 64" "$(cat "$W/unknown.status")" 64
check "unknown accelerator: lists kvm" "$(grep -c 'auto, rv64, kvm' "$W/unknown.err")" 1
[ $fail = 0 ] || for f in "$W"/*.err; do echo "--- $f"; cat "$f"; done
exit $fail
