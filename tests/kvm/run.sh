#!/bin/bash
# KVM tests: every tests/kvm/test_*.sh, run with KILN_BINARY as its argument, where /dev/kvm
# works: directly on a host with a usable /dev/kvm, otherwise all of them in one boot of the
# nested VM (tests/kvm/nested.sh), which saves ~10 s of boot per test. A test passes with status
# 0, is skipped with 77, fails otherwise or after KILN_KVM_TEST_TIMEOUT seconds (default 300);
# the whole run is bounded by KILN_KVM_SUITE_TIMEOUT (default 1800). On a nested run, the
# harness's own contract (tests/kvm/selftest.sh) is checked first.
# usage: tests/kvm/run.sh KILN_BINARY [test-name ...]     (test-name: probe for test_probe.sh)
set -uo pipefail
KILN=${1:?usage: run.sh KILN_BINARY [test-name ...]}
shift
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
KILN=$(cd "$(dirname "$KILN")" && pwd)/$(basename "$KILN")

if [ "${KILN_KVM_TESTS_INSIDE:-}" != 1 ]; then
    # a usable /dev/kvm, and not PVM's (kvm_pvm, KVM without VT-x/AMD-V): that one runs only
    # PVM-aware guest kernels; a stock one stops with a KVM internal error at its first xrstor
    kvm_usable() { [ -c /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ] && { : <>/dev/kvm; } 2>/dev/null; }
    if [ "${KILN_NESTED:-auto}" = 1 ] || ! kvm_usable; then
        bash "$HERE/selftest.sh" || { echo "kvm tests: the nested-KVM harness is broken"; echo "0 passed, 1 failed"; exit 1; }
    fi
    cd "$ROOT"
    exec bash "$HERE/nested.sh" -v --timeout "${KILN_KVM_SUITE_TIMEOUT:-1800}" -- \
        env KILN_KVM_TESTS_INSIDE=1 bash "$HERE/run.sh" "$KILN" "$@"
fi

. "$ROOT/tests/tally.sh"
tests=()
if [ $# -gt 0 ]; then
    for name in "$@"; do tests+=("$HERE/test_$name.sh"); done
else
    tests=("$HERE"/test_*.sh)
fi
echo "== kvm tests on $(uname -r)$([ "${KILN_NESTED_INSIDE:-}" = 1 ] && echo ' (nested VM)')"
for t in "${tests[@]}"; do
    echo "== tests/kvm/$(basename "$t")"
    tally_run shell timeout -k 5 "${KILN_KVM_TEST_TIMEOUT:-300}" bash "$t" "$KILN"
done
tally_report "kvm tests"
