#!/bin/bash
# Firecracker-style figures: API readiness, InstanceStart -> init, VMM memory overhead,
# `kiln run --rm -- true`.   usage: bench/api.sh [runs]  (default 5)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
exec python3 "$ROOT/bench/bench_api.py" --kiln "${KILN:-$ROOT/build/kiln}" \
    --guest "${KILN_GUEST_DIR:-$ROOT/build/guest}" --runs "${1:-5}"
