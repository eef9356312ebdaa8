#!/bin/bash
# Guest tests: boot the default guest under kiln and check what it prints.
# usage: tests/guest/run.sh KILN_BINARY [test-name ...]
set -euo pipefail
KILN=${1:?usage: run.sh KILN_BINARY [test...]}
shift
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
exec python3 "$ROOT/tests/guest/test_guest.py" "$KILN" "${KILN_GUEST_DIR:-$ROOT/build/guest}" "$@"
