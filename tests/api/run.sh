#!/bin/bash
# run.sh KILN — the API tests: the Python suite (every route, errors, state rules, booted guest,
# hostile clients, --config-file), snapshots and live migration (test_state.py) and Firecracker's
# getting-started flow with curl. Ends with the totals: passed, failed, and skipped (tests that
# cannot run here), never counting a skipped test as passed.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
KILN=$(realpath "${1:-$HERE/../../build/kiln}")
. "$HERE/../tally.sh"
echo "== API: test_api.py"
tally_run unittest python3 "$HERE/test_api.py" "$KILN"
echo "== API: test_api_limits.py (connection and memory limits against hostile clients)"
tally_run unittest python3 "$HERE/test_api_limits.py" "$KILN"
echo "== API: test_state.py (snapshots, live migration)"
tally_run unittest python3 "$HERE/test_state.py" "$KILN"
echo "== API: test_state_devices.py (snapshot of a guest using disk, net, vsock, rng)"
tally_run unittest python3 "$HERE/test_state_devices.py" "$KILN"
echo "== API: test_state_cli.py (kiln snapshot/restore/migrate/receive)"
tally_run unittest python3 "$HERE/test_state_cli.py" "$KILN"
echo "== API: getting_started.sh"
tally_run shell bash "$HERE/getting_started.sh" "$KILN"
tally_report "API tests"
