#!/bin/bash
# Guest tests: boot the default guest under kiln and check what it prints.
# usage: tests/guest/run.sh KILN_BINARY [test-name ...]
# Ends with the totals: passed, failed, and skipped (tests that cannot run here, e.g. TAP
# without the rights to create one), never counting a skipped test as passed.
set -uo pipefail
KILN=${1:?usage: run.sh KILN_BINARY [test...]}
shift
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
GUEST=${KILN_GUEST_DIR:-$ROOT/build/guest}
. "$ROOT/tests/tally.sh"
for t in test_guest.py test_devices.py test_run_rm.py test_sandbox.py test_jail.py test_cpu_limit.py; do
    echo "== tests/guest/$t"
    tally_run guestlib python3 "$ROOT/tests/guest/$t" "$KILN" "$GUEST" "$@"
done
tally_report "guest tests"
