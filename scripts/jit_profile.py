#!/usr/bin/env python3
"""Where a kiln run spends its time, translated code included.

usage: KILN_JIT_PERFMAP=1 perf record -o perf.data -- build/kiln run ...
       scripts/jit_profile.py perf.data /tmp/perf-PID.map [--top N]

`perf report` shows the rv64 JIT's code only as addresses in "memfd:kiln-jit", since perf reads
/tmp/perf-PID.map for anonymous memory only. This sums the samples by C function, by shared stub
(epilogue, dispatch, slow paths) and by translated block (named by its guest physical address and
instruction count), using the map kiln wrote. A cache flush reuses addresses and the map's later
lines win, so per-block shares are exact only for runs without flushes (`--jit-cache-mb` large
enough; KILN_JIT_STATS=1 reports flushes); the stub and C totals are exact either way."""
import argparse
import bisect
import collections
import subprocess
import sys


def load_map(path):
    ranges = {}
    with open(path) as f:
        for line in f:
            start, size, name = line.split(None, 2)
            ranges[int(start, 16)] = (int(size, 16), name.strip())
    return sorted(ranges), ranges


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("map")
    ap.add_argument("--top", type=int, default=20)
    a = ap.parse_args()
    starts, ranges = load_map(a.map)
    out = subprocess.run(["perf", "script", "-i", a.data, "-F", "ip,sym,dso"],
                         capture_output=True, text=True, check=True).stdout
    where, blocks, total = collections.Counter(), collections.Counter(), 0
    for line in out.splitlines():
        parts = line.split(None, 1)
        if not parts:
            continue
        total += 1
        rest = parts[1].strip() if len(parts) > 1 else "?"
        if "kiln-jit" not in rest:
            where[rest] += 1
            continue
        ip = int(parts[0], 16)
        i = bisect.bisect_right(starts, ip) - 1
        if i < 0 or ip >= starts[i] + ranges[starts[i]][0]:
            where["jit: outside the map"] += 1
        elif " stub " in ranges[starts[i]][1]:
            where["jit " + ranges[starts[i]][1]] += 1
        else:
            where["jit: translated blocks"] += 1
            blocks[ranges[starts[i]][1]] += 1
    if not total:
        sys.exit("no samples")
    for name, n in where.most_common(a.top):
        print(f"{100 * n / total:6.2f}%  {name}")
    print(f"-- hottest translated blocks (of {total} samples)")
    for name, n in blocks.most_common(a.top):
        print(f"{100 * n / total:6.2f}%  {name}")


if __name__ == "__main__":
    main()
