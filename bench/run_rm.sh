#!/bin/bash
# One-command sandbox benchmark: median wall time of `kiln run --rm -- true` and exec-to-first-
# output of `kiln run --rm -- echo hi`, alongside QEMU with the same kernel, initramfs and guest
# command (pass --no-qemu to skip it).   usage: bench/run_rm.sh [runs] [--no-qemu]  (default 10)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-10}
QEMU=--qemu; [ "${2:-}" = --no-qemu ] && QEMU=
exec python3 "$ROOT/bench/run_rm.py" --kiln "${KILN:-$ROOT/build/kiln}" \
    --guest "${KILN_GUEST_DIR:-$ROOT/build/guest}" --runs "$RUNS" $QEMU
