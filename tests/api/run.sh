#!/bin/bash
# run.sh KILN — the API tests: the Python suite (every route, errors, state rules, booted guest,
# hostile clients, --config-file), snapshots and live migration (test_state.py) and Firecracker's
# getting-started flow with curl.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
KILN=$(realpath "${1:-$HERE/../../build/kiln}")
fail=0
echo "== API: test_api.py"
python3 "$HERE/test_api.py" "$KILN" || fail=1
echo "== API: test_api_limits.py (connection and memory limits against hostile clients)"
python3 "$HERE/test_api_limits.py" "$KILN" || fail=1
echo "== API: test_state.py (snapshots, live migration)"
python3 "$HERE/test_state.py" "$KILN" || fail=1
echo "== API: test_state_devices.py (snapshot of a guest using disk, net, vsock, rng)"
python3 "$HERE/test_state_devices.py" "$KILN" || fail=1
echo "== API: test_state_cli.py (kiln snapshot/restore/migrate/receive)"
python3 "$HERE/test_state_cli.py" "$KILN" || fail=1
echo "== API: getting_started.sh"
bash "$HERE/getting_started.sh" "$KILN" || fail=1
exit $fail
