# Sourced by the KVM test scripts (tests/kvm/test_*.sh): what they share.
# check NAME GOT WANT: one "ok:" or "FAIL:" line; a failure sets fail=1 (the script's status).
check() { if [ "$2" = "$3" ]; then echo "ok: $1"; else echo "FAIL: $1: got '$2', expected '$3'"; fail=1; fi; }

# For the scripts that drive one kiln at a time through its console ($OUT, fd 3), its stderr
# ($W/stderr) and, with an API, its socket ($SOCK); pid $KPID; TIMEOUT in seconds.
# die MESSAGE: fails the test at once, with the console's tail and kiln's stderr.
die() { echo "FAIL: $*"; echo "--- console:"; tail -20 "$OUT" | tr -d '\r'; echo "--- stderr:"; cat "$W/stderr"; exit 1; }
# wait_for TEXT: until TEXT is on the console (die after TIMEOUT s, or when kiln exited)
wait_for() {
    local i
    for i in $(seq $((TIMEOUT * 10))); do
        tr -d '\r' <"$OUT" | grep -q -- "$1" && return 0
        kill -0 "$KPID" 2>/dev/null || die "kiln exited before '$1' appeared"
        sleep 0.1
    done
    die "no '$1' on the console within ${TIMEOUT}s"
}
# call METHOD PATH [JSON]: prints the HTTP code, the body goes to $W/resp
call() {
    curl -s -o "$W/resp" -w '%{http_code}' -X "$1" --unix-socket "$SOCK" -H 'Content-Type: application/json' \
        ${3:+-d "$3"} "http://localhost$2"
}
# api METHOD PATH [JSON]: a call that must answer 204
api() { local c; c=$(call "$@"); [ "$c" = 204 ] || die "$1 $2: HTTP $c $(cat "$W/resp")"; }
