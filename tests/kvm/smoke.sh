#!/bin/bash
# The kvm backend's part of `make test`, bounded: tests/kvm/test_host.sh on the host (the
# no-/dev/kvm path), then tests/kvm/test_guest_kiln.sh and test_state_kiln.sh (snapshots and
# migration) where /dev/kvm works (one boot of the nested VM when the host has none,
# KILN_KVM_SMOKE_TIMEOUT seconds at most, default 480; a run
# that fails or times out is retried up to twice, with a FLAKY line when a retry passes).
# Skipped, with a SKIP line, when qemu-system-x86_64 or the x86-64 guest is missing or the nested
# VM cannot run (nested.sh's status 125). `make kvm-test` runs every KVM test.
# usage: tests/kvm/smoke.sh KILN_BINARY
set -uo pipefail
KILN=${1:?usage: smoke.sh KILN_BINARY}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$ROOT/tests/tally.sh"
echo "== tests/kvm/test_host.sh"
tally_run shell bash "$HERE/test_host.sh" "$KILN"

echo "== tests/kvm/test_guest_kiln.sh (nested KVM smoke)"
. "$HERE/kvm_usable.sh"
if [ ! -f "$ROOT/build/guest-x86_64/vmlinux" ]; then
    echo "SKIP kvm smoke: no build/guest-x86_64 (make guest-x86_64)"
    tally_add 0 0 1
elif ! kvm_usable && ! command -v qemu-system-x86_64 >/dev/null; then
    echo "SKIP kvm smoke: no /dev/kvm and no qemu-system-x86_64 for the nested VM"
    tally_add 0 0 1
else
    cd "$ROOT"
    # The nested VM (software-emulated AMD-V) is not fully reliable: it has stalled as a whole
    # (its kernel reporting soft lockups; even `timeout` inside it stops), under QEMU's microvm
    # as under kiln, and now and then a boot under kiln ends in a triple fault early in the
    # kernel (2 vCPUs and, on 2026-12-05 in CI, twice running a 1-vCPU bzImage boot; README: the
    # kvm backend). A failed or timed-out run is retried, up to twice, each in a fresh nested VM;
    # a pass after a failure says FLAKY in the log so that it is not silently forgotten.
    failed=
    for attempt in 1 2 3; do
        bash "$HERE/nested.sh" -v --timeout "${KILN_KVM_SMOKE_TIMEOUT:-480}" -- \
            bash -c 'bash "$1/test_guest_kiln.sh" "$2" && echo "== tests/kvm/test_state_kiln.sh" &&
                     bash "$1/test_state_kiln.sh" "$2"' smoke "$HERE" "$KILN"
        st=$?
        case $st in 0|77|125) break ;; esac
        failed="$failed $st"
        [ $attempt = 3 ] && break
        echo "kvm smoke: attempt $attempt failed (status $st); retrying in a fresh nested VM"
    done
    [ $st = 0 ] && [ -n "$failed" ] &&
        echo "FLAKY kvm smoke: attempts failed first (status$failed), then one passed"
    case $st in
        0) tally_add 1 0 0 ;;
        77) echo "SKIP kvm smoke: no usable /dev/kvm in the nested VM"; tally_add 0 0 1 ;;
        125) echo "SKIP kvm smoke: the nested VM cannot run here (see its log above)"; tally_add 0 0 1 ;;
        *) tally_add 0 1 0 ;;
    esac
fi
tally_report "kvm smoke"
