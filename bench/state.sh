#!/bin/bash
# Snapshots and live migration, kiln vs QEMU: snapshot create, restore to a running guest,
# `run --rm -- true`, live migration of an idle and of a busy guest over a Unix socket.
#   usage: bench/state.sh [runs]  (default 3)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
exec python3 "$ROOT/bench/bench_state.py" --kiln "${KILN:-$ROOT/build/kiln}" \
    --guest "${KILN_GUEST_DIR:-$ROOT/build/guest}" --runs "${1:-3}"
