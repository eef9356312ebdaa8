#!/bin/bash
# The nested-KVM harness's contract (tests/kvm/nested.sh): CMD runs in the same directory with
# the host's files read-only, a writable /tmp and --rw directories, its environment, stdout and
# stderr apart, and its exit status back. One boot of the nested VM (~10 s).
# usage: tests/kvm/selftest.sh
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d /tmp/kiln-nested-selftest.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail=0
check() { if [ "$2" = "$3" ]; then echo "ok: $1"; else echo "FAIL: $1: got '$2', expected '$3'"; fail=1; fi; }

mkdir "$W/rw"
echo "host file" >"$W/rw/in"
cd "$HERE"
KILN_SELFTEST_VAR='a b$c' KILN_NESTED=1 bash "$HERE/nested.sh" --timeout 300 --rw "$W/rw" -- bash -c '
    echo "cwd=$PWD"
    echo "var=$KILN_SELFTEST_VAR"
    echo "kvm=$([ -c /dev/kvm ] && echo yes)"
    echo "stdout-pipe=$([ -p /dev/stdout ] && echo yes)"
    cat '"$W"'/rw/in
    echo "written inside" >'"$W"'/rw/out
    touch /etc/kiln-selftest 2>/dev/null && echo "root writable" || echo "root read-only"
    echo tmp >/tmp/x && echo "tmp=$(cat /tmp/x)"
    echo "to stderr" >&2
    exit 7' >"$W/stdout" 2>"$W/stderr"
check "exit status" "$?" 7
check "stdout" "$(cat "$W/stdout")" "cwd=$HERE
var=a b\$c
kvm=yes
stdout-pipe=yes
host file
root read-only
tmp=tmp"
check "stderr" "$(grep -v '^\[nested\]' "$W/stderr")" "to stderr"
check "--rw share written" "$(cat "$W/rw/out" 2>&1)" "written inside"
check "missing command" "$(KILN_NESTED=1 bash "$HERE/nested.sh" -- /nonexistent/cmd 2>/dev/null; echo $?)" 127
[ $fail = 0 ] && echo "nested harness: all checks passed" || echo "nested harness: FAILED"
exit $fail
