#!/bin/bash
# Guest timer accuracy: kiln vs QEMU TCG, idle and under host + neighbour disk I/O (cyclictest's
# measure, by guest/tools/kiln-timerlat.c).   usage: bench/timer.sh [runs]  (default 3)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
exec python3 "$ROOT/bench/bench_timer.py" --kiln "${KILN:-$ROOT/build/kiln}" \
    --guest "${KILN_GUEST_DIR:-$ROOT/build/guest}" --runs "${1:-3}"
