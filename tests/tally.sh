# tally.sh — sourced by the test runners (tests/*/run.sh): adds up what each test file reports
# as passed, failed and skipped, so the summary line says how many tests could not run here
# instead of counting them as passed. A file that dies before its summary counts as a failure.
T_PASSED=0
T_FAILED=0
T_SKIPPED=0

# tally_add PASSED FAILED SKIPPED
tally_add() {
    T_PASSED=$((T_PASSED + $1))
    T_FAILED=$((T_FAILED + $2))
    T_SKIPPED=$((T_SKIPPED + $3))
}

# tally_run KIND COMMAND...: runs one test file with its output shown and kept, then adds its
# counts. KIND says how it reports: guestlib ("N passed, M failed, K skipped"), unittest
# ("Ran N tests" and "OK (skipped=K)" / "FAILED (failures=F, errors=E, skipped=K)") or shell
# (one test: exit 0 passed, 77 skipped, anything else failed). Returns the command's status.
tally_run() {
    local kind=$1 log st p f s
    shift
    log=$(mktemp /tmp/kiln-tally.XXXXXX)
    "$@" 2>&1 | tee "$log"
    st=${PIPESTATUS[0]}
    case $kind in
        guestlib)
            read -r p f s < <(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?$/\1 \2 \4/p' "$log" |
                              tail -n 1)
            if [ -z "${p:-}" ]; then
                p=0 f=1 s=0
            fi
            s=${s:-0}
            ;;
        unittest)
            local ran failures errors unexpected
            ran=$(sed -nE 's/^Ran ([0-9]+) tests? in .*/\1/p' "$log" | tail -n 1)
            if [ -z "$ran" ]; then
                p=0 f=1 s=0
            else
                failures=$(grep -oE '^(OK|FAILED) \(.*' "$log" | tail -n 1)
                s=$(sed -nE 's/.*[(, ]skipped=([0-9]+).*/\1/p' <<<"$failures")
                f=$(( $(sed -nE 's/.*[(, ]failures=([0-9]+).*/\1/p' <<<"$failures" | grep . || echo 0) +
                      $(sed -nE 's/.*[(, ]errors=([0-9]+).*/\1/p' <<<"$failures" | grep . || echo 0) ))
                unexpected=$(sed -nE 's/.*unexpected successes=([0-9]+).*/\1/p' <<<"$failures")
                s=${s:-0}
                f=$((f + ${unexpected:-0}))
                p=$((ran - f - s))
                p=$((p < 0 ? 0 : p))     # a setUpClass error is counted but not run
            fi
            ;;
        shell)
            case $st in
                0) p=1 f=0 s=0 ;;
                77) p=0 f=0 s=1 ;;
                *) p=0 f=1 s=0 ;;
            esac
            ;;
        *)
            echo "tally_run: unknown kind '$kind'" >&2
            p=0 f=1 s=0
            ;;
    esac
    rm -f "$log"
    # a status that contradicts a clean summary (a crash after it) is a failure too
    if [ "$st" -ne 0 ] && [ "$f" -eq 0 ] && ! { [ "$kind" = shell ] && [ "$st" -eq 77 ]; }; then
        f=1
    fi
    tally_add "$p" "$f" "$s"
    if [ "$kind" = shell ] && [ "$st" -eq 77 ]; then
        return 0
    fi
    return "$st"
}

# tally_report LABEL: the summary line; returns 1 if anything failed
tally_report() {
    echo "$1: $T_PASSED passed, $T_FAILED failed, $T_SKIPPED skipped"
    [ "$T_FAILED" -eq 0 ]
}
