#!/bin/bash
# The x86-64 guest's devices in the other direction on kiln's kvm backend (see devices_kiln.py):
# a read-only disk, a host -> guest port forward, a host -> guest vsock connection.
# Skipped (77) without the guest, python3 or /dev/kvm.
# usage: tests/kvm/test_devices_kiln.sh KILN_BINARY
set -uo pipefail
KILN=${1:?usage: test_devices_kiln.sh KILN_BINARY}
. "$(dirname "$0")/lib.sh"
kvm_test_prelude python3
exec python3 "$ROOT/tests/kvm/devices_kiln.py" "$KILN" "$G"
