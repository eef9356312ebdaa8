#!/bin/bash
# I/O benchmark: kiln vs QEMU (TCG, Debian's OpenSBI) on the same kernel and rootfs.ext4 —
# O_DIRECT sequential disk write/read on a scratch virtio disk, and guest<->host TCP throughput
# through user-mode networking; alternating runs, medians and kiln/QEMU ratios.
# usage: bench/io.sh [runs]  (default 5); KILN_IO_DISK_MIB / KILN_IO_NET_MIB set the transfer
# sizes (default 128 MiB on disk, 32 MiB over the network)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
exec python3 "$ROOT/bench/bench_io.py" --kiln "${KILN:-$ROOT/build/kiln}" \
    --guest "${KILN_GUEST_DIR:-$ROOT/build/guest}" --runs "${1:-5}" \
    --disk-mib "${KILN_IO_DISK_MIB:-128}" --net-mib "${KILN_IO_NET_MIB:-32}"
