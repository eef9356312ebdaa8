#!/bin/bash
# fuzz/run.sh — builds and runs kiln's libFuzzer harnesses (fuzz/fuzz_<target>.c).
#
#   fuzz/run.sh build            build every harness into build/fuzz/ (clang, ASan + UBSan)
#   fuzz/run.sh test [T...]      replay fuzz/regressions/T and fuzz/corpus/T, then fuzz each target
#                                from its seeds for FUZZ_RUNS inputs (100000) or FUZZ_TEST_SECONDS
#                                (60), whichever ends first, with libFuzzer's seed FUZZ_SEED (1): the
#                                same inputs every run, so `make test` does not pass or fail by luck
#                                (`make fuzz` explores). What `make test` runs.
#   fuzz/run.sh replay [T...]    only the replay part (what `make test SANITIZE=1` runs)
#   fuzz/run.sh long [T...]      FUZZ_SECONDS (600) per target, corpus kept in build/fuzz/corpus/T
#                                (what `make fuzz` runs); FUZZ_JOBS parallel jobs per target (1)
#
# A failing input is written to build/fuzz/crashes/T/ and the run fails, printing libFuzzer's
# report. Fix the bug, then check the input in as fuzz/regressions/T/NAME so every later
# `make test` replays it. Reproduce one: build/fuzz/fuzz_T FILE.
set -uo pipefail
cd "$(dirname "$0")/.."

mode=${1:-test}
shift || true
FUZZ_RUNS=${FUZZ_RUNS:-100000}
FUZZ_TEST_SECONDS=${FUZZ_TEST_SECONDS:-60}
FUZZ_SECONDS=${FUZZ_SECONDS:-600}
FUZZ_JOBS=${FUZZ_JOBS:-1}
B=build/fuzz

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in fuzz/fuzz_*.c; do t=${f#fuzz/fuzz_}; targets+=("${t%.c}"); done
fi

if ! command -v "${FUZZ_CC:-clang}" >/dev/null; then
    echo "fuzz: clang not found (make deps installs it)" >&2
    exit 1
fi
nice -n 10 make --no-print-directory -s -f fuzz/fuzz.mk -j"$(nproc)" \
    $(printf "$B/fuzz_%s " "${targets[@]}") || { echo "fuzz: build failed" >&2; exit 1; }
[ "$mode" = build ] && exit 0

# a small quarantine: with ASan's default 256 MiB every allocation lands on fresh pages, and the
# page faults made the routes harness (160 KiB configurations per input) 1.5x slower
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:allocator_may_return_null=1:quarantine_size_mb=16}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
COMMON=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1)

passed=0 failed=0
fail() { echo "FAIL: $1"; failed=$((failed + 1)); }

for t in "${targets[@]}"; do
    bin=$B/fuzz_$t
    log=$B/logs/$t.log
    mkdir -p "$B/logs" "$B/crashes/$t"
    dict=()
    [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
    # 1. every regression input and every seed, once
    inputs=()
    while IFS= read -r -d '' f; do inputs+=("$f"); done < <(find "fuzz/regressions/$t" "fuzz/corpus/$t" -type f -print0 2>/dev/null | sort -z)
    if [ ${#inputs[@]} -gt 0 ]; then
        if ! nice -n 10 "$bin" "${COMMON[@]}" "${inputs[@]}" >"$log" 2>&1; then
            fail "$t: a checked-in input fails (replay)"; tail -n 40 "$log"; continue
        fi
    fi
    if [ "$mode" = replay ]; then
        echo "fuzz $t: replayed ${#inputs[@]} inputs"; passed=$((passed + 1)); continue
    fi
    # 2. fuzzing from the seeds; new inputs go to the first (scratch) corpus directory
    if [ "$mode" = long ]; then
        work=$B/corpus/$t
        limits=(-max_total_time="$FUZZ_SECONDS")
        [ "$FUZZ_JOBS" -gt 1 ] && limits+=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS")
    else
        work=$B/test-corpus/$t
        rm -rf "$work"
        limits=(-seed="${FUZZ_SEED:-1}" -runs="$FUZZ_RUNS" -max_total_time="$FUZZ_TEST_SECONDS")
    fi
    mkdir -p "$work"
    seeds=()
    [ -d "fuzz/corpus/$t" ] && seeds=("fuzz/corpus/$t")
    start=$(date +%s.%N)
    nice -n 10 "$bin" "${COMMON[@]}" "${limits[@]}" "${dict[@]}" -artifact_prefix="$B/crashes/$t/" \
        "$work" "${seeds[@]}" >"$log" 2>&1
    rc=$?
    secs=$(echo "$(date +%s.%N) - $start" | bc)
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
    if [ $rc -ne 0 ]; then
        fail "$t (libFuzzer status $rc; input in $B/crashes/$t/)"; grep -v '^#' "$log" | tail -n 60; continue
    fi
    printf 'fuzz %-14s %8s inputs in %5.1f s (%6.0f/s), %s\n' "$t" "${runs:-?}" "$secs" \
        "$(echo "${runs:-0} / $secs" | bc -l)" "${cov:-cov: ?}"
    passed=$((passed + 1))
done
echo "fuzz: $passed passed, $failed failed"
[ $failed -eq 0 ]
