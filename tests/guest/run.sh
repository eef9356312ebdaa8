#!/bin/bash
# Guest tests: boot the default guest under kiln and check what it prints.
# usage: tests/guest/run.sh KILN_BINARY [test-name ...]
set -euo pipefail
KILN=${1:?usage: run.sh KILN_BINARY [test...]}
shift
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
GUEST=${KILN_GUEST_DIR:-$ROOT/build/guest}
rc=0
for t in test_guest.py test_devices.py test_run_rm.py; do
    echo "== tests/guest/$t"
    python3 "$ROOT/tests/guest/$t" "$KILN" "$GUEST" "$@" || rc=1
done
exit $rc
