#!/bin/bash
# Noisy neighbours: a latency-sensitive victim VM (guest/tools/kiln-reqlat.c) alone, then next to
# noisy kiln VMs saturating CPU and disk, without and with per-VM CPU limits (--cpu-limit through
# the API, and --vcpu-priority idle). Prints the victim's p50/p99 and the slowdown vs alone.
# usage: bench/noisy.sh [runs] (default 1: about 2 minutes)  NOISY_REQUESTS=N: requests per scenario
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
exec python3 "$ROOT/bench/bench_noisy.py" --kiln "${KILN:-$ROOT/build/kiln}" \
    --guest "${KILN_GUEST_DIR:-$ROOT/build/guest}" --runs "${1:-1}" --requests "${NOISY_REQUESTS:-500}"
