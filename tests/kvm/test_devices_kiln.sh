#!/bin/bash
# The x86-64 guest's devices in the other direction on kiln's kvm backend (see devices_kiln.py):
# a read-only disk, a host -> guest port forward, a host -> guest vsock connection.
# Skipped (77) without the guest, python3 or /dev/kvm.
# usage: tests/kvm/test_devices_kiln.sh KILN_BINARY
set -uo pipefail
KILN=${1:?usage: test_devices_kiln.sh KILN_BINARY}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
G=${KILN_GUEST_X86_DIR:-$ROOT/build/guest-x86_64}
[ -f "$G/vmlinux" ] || { echo "SKIP: no $G/vmlinux (make guest-x86_64)"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }
. "$ROOT/tests/kvm/kvm_usable.sh"
kvm_usable || { echo "SKIP: no usable /dev/kvm (or no VT-x/AMD-V)"; exit 77; }
exec python3 "$ROOT/tests/kvm/devices_kiln.py" "$KILN" "$G"
