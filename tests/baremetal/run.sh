#!/bin/bash
# Bare-metal tests: builds the test programs (tests/baremetal/Makefile, only what changed) into
# $BUILD_DIR (default build/baremetal) and runs each one alone on the virt board, the way
# `qemu-system-riscv64 -machine virt -bios X.elf` would: the program reports through the
# sifive,test1 finisher, so the exit status is 0 on pass and the failed check's code otherwise.
# Then negative tests: garbage firmware and a truncated ELF must make kiln fail (exit 1..127, with a
# message on stderr) within the timeout, and a missing firmware file must be reported.
#
# usage: tests/baremetal/run.sh KILN_BINARY [test ...]   run under kiln
#        tests/baremetal/run.sh --qemu [test ...]        run the same programs under QEMU
# env:   BUILD_DIR (default build/baremetal), BAREMETAL_TIMEOUT (seconds per test, default 30)
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
KILN=${1:?usage: run.sh KILN_BINARY|--qemu [test ...]}
shift
BUILD_DIR=${BUILD_DIR:-$ROOT/build/baremetal}
mkdir -p "$BUILD_DIR/logs"
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
TIMEOUT=${BAREMETAL_TIMEOUT:-30}
MEM=64

# name:harts
ALL=(int:1 atomic:1 fp:1 fpcvt:1 rvc:1 csr:2 trap:1 paging:1 irq:2 smp:4 smc:2 virtio:1)

# devices a test needs (kiln flags); virtio.c expects virtio-blk in slot 0 and virtio-rng in slot 1,
# which is kiln's slot order (QEMU fills its slots from the top, so that test is kiln-only)
device_args() {
    case $1 in
        virtio) truncate -s 1M "$BUILD_DIR/virtio.img"; echo "--disk $BUILD_DIR/virtio.img --rng" ;;
    esac
}

selected=()
if [ $# -gt 0 ]; then
    for want in "$@"; do
        found=0
        for t in "${ALL[@]}"; do
            if [ "${t%%:*}" = "$want" ]; then selected+=("$t"); found=1; fi
        done
        [ $found -eq 1 ] || { echo "run.sh: unknown test '$want'" >&2; exit 2; }
    done
else
    selected=("${ALL[@]}")
fi

if [ "$KILN" != "--qemu" ] && [ ! -x "$KILN" ]; then
    echo "run.sh: kiln binary '$KILN' not found (run make first)" >&2
    exit 2
fi
if ! command -v riscv64-linux-gnu-gcc >/dev/null; then
    echo "run.sh: riscv64-linux-gnu-gcc not found (make deps installs it)" >&2
    exit 2
fi

names=()
for t in "${selected[@]}"; do names+=("${t%%:*}"); done
if ! make -s -j"$(nproc)" -f "$HERE/Makefile" BUILD_DIR="$BUILD_DIR" TESTS="${names[*]}"; then
    echo "run.sh: building the bare-metal tests failed" >&2
    exit 2
fi

passed=0
failed=0
skipped=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
# a test that cannot run in this setup: counted apart, never as passed
skip() { echo "SKIP $1 ($2)"; skipped=$((skipped + 1)); }
fail() {
    echo "FAIL $1 ($2)"
    failed=$((failed + 1))
    if [ -n "${3:-}" ] && [ -s "$3" ]; then tail -n 8 "$3" | sed 's/^/    | /'; fi
}
describe() {   # exit status -> words
    case $1 in
        124) echo "exit 124: timed out after ${TIMEOUT}s" ;;
        137) echo "exit 137: killed after the timeout" ;;
        *) echo "exit $1" ;;
    esac
}

for t in "${selected[@]}"; do
    name=${t%%:*}
    harts=${t##*:}
    elf="$BUILD_DIR/$name.elf"
    log="$BUILD_DIR/logs/$name.log"
    if [ "$KILN" = "--qemu" ] && [ -n "$(device_args "$name")" ]; then
        skip "$name" "kiln's virtio slot layout"
        continue
    fi
    if [ "$KILN" = "--qemu" ]; then
        timeout -k 5 "$TIMEOUT" qemu-system-riscv64 -machine virt -nographic -bios "$elf" \
            -smp "$harts" -m "$MEM" </dev/null >"$log" 2>&1
    else
        # shellcheck disable=SC2046 # device_args is a list of flags
        timeout -k 5 "$TIMEOUT" "$KILN" run --firmware "$elf" --mem "$MEM" --cpus "$harts" \
            $(device_args "$name") </dev/null >"$log" 2>&1
    fi
    rc=$?
    if [ $rc -eq 0 ] && grep -q '^== all checks passed' "$log"; then
        pass "$name"
    elif [ $rc -eq 0 ]; then
        fail "$name" "exit 0 without the pass message" "$log"
    else
        fail "$name" "$(describe $rc)" "$log"
    fi
done

# ---- negative tests (kiln only) ----
# Each must exit with a status in 1..127 other than timeout's 124 and say something on stderr.
negative() {   # name, firmware path, wanted status description
    local name=$1 fw=$2 out="$BUILD_DIR/logs/$1.out" err="$BUILD_DIR/logs/$1.err" rc
    timeout -k 5 "$TIMEOUT" "$KILN" run --firmware "$fw" --mem "$MEM" --cpus 1 \
        </dev/null >"$out" 2>"$err"
    rc=$?
    if [ $rc -eq 0 ] || [ $rc -ge 124 ]; then
        fail "$name" "$(describe $rc), expected a failure status in 1..123" "$err"
    elif [ ! -s "$err" ]; then
        fail "$name" "exit $rc but nothing on stderr" "$out"
    else
        pass "$name"
        echo "    | exit $rc: $(head -c 300 "$err" | head -n 2 | tr '\n' ' ')"
    fi
}

if [ "$KILN" != "--qemu" ] && [ $# -eq 0 ]; then
    # 4096 deterministic pseudo-random bytes: a SHA-256 chain over a fixed seed
    garbage="$BUILD_DIR/garbage.bin"
    if [ ! -s "$garbage" ]; then
        for i in $(seq 0 127); do
            printf '%b' "$(printf 'kiln-garbage-%d' "$i" | sha256sum | cut -c1-64 |
                           sed 's/../\\x&/g')"
        done >"$garbage.tmp" && mv "$garbage.tmp" "$garbage"
    fi
    negative garbage-firmware "$garbage"
    # an ELF cut off inside its program headers
    head -c 100 "$BUILD_DIR/int.elf" >"$BUILD_DIR/truncated.elf"
    negative truncated-elf "$BUILD_DIR/truncated.elf"
    negative missing-firmware "$BUILD_DIR/no-such-firmware.elf"
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
