# Sourced by the KVM test scripts (tests/kvm/test_*.sh): what they share.
# check NAME GOT WANT: one "ok:" or "FAIL:" line; a failure sets fail=1 (the script's status).
check() { if [ "$2" = "$3" ]; then echo "ok: $1"; else echo "FAIL: $1: got '$2', expected '$3'"; fail=1; fi; }

# kvm_test_prelude [COMMAND...]: the start of every test that boots the x86-64 guest on KVM.
# Sets ROOT (the repository), G (the guest's directory, $KILN_GUEST_X86_DIR or
# build/guest-x86_64) and TIMEOUT (150 s); exits the script with 77 (skipped, as tests/kvm/run.sh
# and smoke.sh count it), with a SKIP line, when the guest's vmlinux or one of the COMMANDs is
# missing, or when the host has no usable /dev/kvm.
kvm_test_prelude() {
    local c
    ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    G=${KILN_GUEST_X86_DIR:-$ROOT/build/guest-x86_64}
    TIMEOUT=150
    [ -f "$G/vmlinux" ] || { echo "SKIP: no $G/vmlinux (make guest-x86_64)"; exit 77; }
    for c in "$@"; do
        command -v "$c" >/dev/null || { echo "SKIP: no $c"; exit 77; }
    done
    . "$ROOT/tests/kvm/kvm_usable.sh"
    kvm_usable || { echo "SKIP: no usable /dev/kvm (or no VT-x/AMD-V)"; exit 77; }
}

# Kilns driven through their console and API, each one an instance NAME: its files in $W/NAME
# (console FIFO in, console out, stderr, API socket sock, the last call's body resp), its pid
# ${PID[NAME]} and the fd that types on its console ${FD[NAME]}; KILN the binary, TIMEOUT in
# seconds. The scripts call kiln_stop_all when they exit.
declare -A PID FD
# kiln_start NAME [ARGS...]: kiln with ARGS, its console on a FIFO; without ARGS, kiln serving
# its API on $W/NAME/sock (waits for the socket)
kiln_start() {
    local k=$1 fd api=0
    shift
    mkdir -p "$W/$k"
    rm -f "$W/$k/in" && mkfifo "$W/$k/in"
    [ $# -gt 0 ] || { api=1; set -- --api-sock "$W/$k/sock"; }
    "$KILN" "$@" <"$W/$k/in" >"$W/$k/out" 2>"$W/$k/stderr" &
    PID[$k]=$!
    exec {fd}>"$W/$k/in"
    FD[$k]=$fd
    [ $api = 1 ] || return 0
    for _ in $(seq 200); do [ -S "$W/$k/sock" ] && return 0; sleep 0.05; done
    die "$k: API socket never appeared"
}
# kiln_stop NAME: closes its console, kills kiln NAME if it still runs and forgets it
kiln_stop() {
    [ -n "${FD[$1]:-}" ] && eval "exec ${FD[$1]}>&-" 2>/dev/null
    [ -n "${PID[$1]:-}" ] && kill "${PID[$1]}" 2>/dev/null && wait "${PID[$1]}" 2>/dev/null
    unset "PID[$1]" "FD[$1]"
}
kiln_stop_all() { local k; for k in "${!PID[@]}" "${!FD[@]}"; do kiln_stop "$k"; done; }
# type_in NAME TEXT: a line typed on NAME's console
type_in() { echo "$2" >&"${FD[$1]}"; }
# show NAME...: each one's console (tail) and stderr
show() {
    local k
    for k in "$@"; do
        echo "--- $k console:"; tail -20 "$W/$k/out" | tr -d '\r'; echo "--- $k stderr:"; cat "$W/$k/stderr"
    done
}
# die MESSAGE: fails the test at once, with the console and stderr of every kiln not stopped yet
die() { echo "FAIL: $*"; show "${!PID[@]}"; exit 1; }
# wait_for NAME TEXT: until TEXT is on NAME's console (die after TIMEOUT s, or when kiln exited)
wait_for() {
    local i
    for i in $(seq $((TIMEOUT * 10))); do
        tr -d '\r' <"$W/$1/out" | grep -q -- "$2" && return 0
        kill -0 "${PID[$1]}" 2>/dev/null || die "$1: kiln exited before '$2' appeared"
        sleep 0.1
    done
    die "$1: no '$2' on the console within ${TIMEOUT}s"
}
# call NAME METHOD PATH [JSON]: prints the HTTP code, the body goes to $W/NAME/resp
call() {
    curl -s -m 120 -o "$W/$1/resp" -w '%{http_code}' -X "$2" --unix-socket "$W/$1/sock" \
        -H 'Content-Type: application/json' ${4:+-d "$4"} "http://localhost$3"
}
# api NAME METHOD PATH [JSON]: a call that must answer 204
api() { local c; c=$(call "$@"); [ "$c" = 204 ] || die "$1: $2 $3: HTTP $c $(cat "$W/$1/resp")"; }
