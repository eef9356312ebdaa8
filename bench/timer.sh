#!/bin/bash
# Guest timer accuracy: kiln vs QEMU TCG vs the host itself, idle and under host + neighbour disk
# I/O (cyclictest's measure, by guest/tools/kiln-timerlat.c).
# usage: bench/timer.sh [runs] [--rt]  (default 3 runs; --rt: measured processes SCHED_FIFO)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=3
RT=()
for a in "$@"; do
    case "$a" in
        --rt) RT=(--rt) ;;
        *) RUNS=$a ;;
    esac
done
exec python3 "$ROOT/bench/bench_timer.py" --kiln "${KILN:-$ROOT/build/kiln}" \
    --guest "${KILN_GUEST_DIR:-$ROOT/build/guest}" --runs "$RUNS" "${RT[@]}"
