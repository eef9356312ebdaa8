#!/bin/bash
# /dev/kvm runs guest code: API version 12, a VM and a vCPU, real-mode OUT and HLT exits, and
# the cost of one exit to user space (tests/kvm/kvm_probe.c, built by make as
# build/tests/kvm_probe next to KILN_BINARY's build directory).
# usage: tests/kvm/test_probe.sh KILN_BINARY
set -euo pipefail
KILN=${1:?usage: test_probe.sh KILN_BINARY}
PROBE=${KVM_PROBE:-$(dirname "$KILN")/tests/kvm_probe}
[ -x "$PROBE" ] || { echo "$PROBE missing: make $PROBE"; exit 1; }
exec "$PROBE"
