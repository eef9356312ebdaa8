#!/bin/bash
# test_tally.sh — the test runners count a test that cannot run as skipped, never as passed:
# tests/tally.sh on made-up test files of each kind (guestlib, unittest, shell), and guestlib's
# own skip(). No kiln or guest needed.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d /tmp/kiln-tally-test-XXXXXX)
trap 'rm -rf "$TMP"' EXIT

passed=0
failed=0
ok() { echo "PASS $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/    | /'; failed=$((failed + 1)); }
expect() {   # name, got, wanted
    if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "got '$2', wanted '$3'"; fi
}

# a guestlib test file: one pass, one skip (as the TAP test without rights), one failure.
# guestlib reads KILN and GUEST_DIR from argv: any paths do for tests that boot nothing.
cat >"$TMP/test_fake_guest.py" <<EOF
import sys
sys.path.insert(0, "$ROOT/tests/guest")
from guestlib import check, main, skip, test

@test
def works():
    check(True, "")

@test
def needs_a_tap():
    skip("cannot create a TAP device here (Operation not permitted)")

@test
def breaks():
    check(False, "broken on purpose")

sys.exit(main())
EOF
out=$(python3 "$TMP/test_fake_guest.py" /bin/true "$TMP" 2>&1)
expect "guestlib: a skipped test prints SKIP" "$(grep -c '^SKIP needs_a_tap: cannot create a TAP' <<<"$out")" 1
expect "guestlib: the summary counts it as skipped" "$(tail -n 1 <<<"$out")" "1 passed, 1 failed, 1 skipped"

cat >"$TMP/test_fake_unit.py" <<'EOF'
import unittest

class T(unittest.TestCase):
    def test_a(self):
        pass

    def test_b(self):
        self.skipTest("no rights here")

    def test_c(self):
        self.skipTest("no device here")

    def test_d(self):
        self.fail("on purpose")

    def test_e(self):
        raise RuntimeError("on purpose")

unittest.main(verbosity=2)
EOF
printf 'exit 77\n' >"$TMP/skips.sh"
printf 'exit 0\n' >"$TMP/passes.sh"
printf 'exit 3\n' >"$TMP/fails.sh"
printf 'print("dies before its summary")\nraise SystemExit(2)\n' >"$TMP/test_dies.py"

# shellcheck source=../tally.sh
. "$ROOT/tests/tally.sh"
tally_run guestlib python3 "$TMP/test_fake_guest.py" /bin/true "$TMP" >/dev/null
expect "tally: guestlib file" "$T_PASSED $T_FAILED $T_SKIPPED" "1 1 1"
T_PASSED=0 T_FAILED=0 T_SKIPPED=0
tally_run unittest python3 "$TMP/test_fake_unit.py" >/dev/null
expect "tally: unittest file (2 skipped, a failure and an error)" "$T_PASSED $T_FAILED $T_SKIPPED" "1 2 2"
T_PASSED=0 T_FAILED=0 T_SKIPPED=0
tally_run shell bash "$TMP/skips.sh" >/dev/null
st=$?
tally_run shell bash "$TMP/passes.sh" >/dev/null
tally_run shell bash "$TMP/fails.sh" >/dev/null
expect "tally: shell tests, exit 77 is a skip" "$T_PASSED $T_FAILED $T_SKIPPED" "1 1 1"
expect "tally: a skip is not a failing status" "$st" 0
T_PASSED=0 T_FAILED=0 T_SKIPPED=0
tally_run guestlib python3 "$TMP/test_dies.py" >/dev/null
expect "tally: a file without a summary is a failure" "$T_PASSED $T_FAILED $T_SKIPPED" "0 1 0"
T_PASSED=3 T_FAILED=0 T_SKIPPED=2
expect "tally: the report line" "$(tally_report "guest tests")" "guest tests: 3 passed, 0 failed, 2 skipped"

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
