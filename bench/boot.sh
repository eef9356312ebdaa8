#!/bin/bash
# Boot, CPU and FP benchmark: kiln (JIT, the default) vs kiln --jit off (the interpreter) vs QEMU (TCG,
# Debian's OpenSBI) on the same kernel and initramfs, alternating runs, medians and ratios to QEMU.
# usage: bench/boot.sh [runs]  (default 5)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
exec python3 "$ROOT/bench/bench_boot.py" --kiln "${KILN:-$ROOT/build/kiln}" \
    --guest "${KILN_GUEST_DIR:-$ROOT/build/guest}" --runs "${1:-5}"
