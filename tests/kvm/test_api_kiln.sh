#!/bin/bash
# The Firecracker API driving an x86-64 microVM on kiln's kvm backend, with curl --unix-socket:
# boot source (the PVH vmlinux + initramfs), 2 vCPUs, InstanceStart; the guest reaches its shell
# and answers; PATCH /vm Paused (the guest's console stays silent while paused, GET / says
# Paused) and Resumed (it answers again); a snapshot of the running VM is refused with the reason
# (pause it first; snapshots themselves are test_state_kiln.sh's); metrics count port I/O exits; SendCtrlAltDel makes Linux reboot through
# the i8042, which stops the VM: kiln exits 0 and says the guest asked for a reboot.
# Skipped (77) without the guest, curl or /dev/kvm.
# usage: tests/kvm/test_api_kiln.sh KILN_BINARY
set -uo pipefail
KILN=${1:?usage: test_api_kiln.sh KILN_BINARY}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
G=${KILN_GUEST_X86_DIR:-$ROOT/build/guest-x86_64}
TIMEOUT=150
[ -f "$G/vmlinux" ] || { echo "SKIP: no $G/vmlinux (make guest-x86_64)"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: no curl"; exit 77; }
. "$ROOT/tests/kvm/kvm_usable.sh"
kvm_usable || { echo "SKIP: no usable /dev/kvm (or no VT-x/AMD-V)"; exit 77; }
W=$(mktemp -d /tmp/kiln-kvm-api.XXXXXX)
SOCK=$W/api.sock OUT=$W/console.out KPID=
cleanup() {
    exec 3>&- 2>/dev/null || true
    [ -n "$KPID" ] && kill "$KPID" 2>/dev/null && wait "$KPID" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
fail=0
. "$ROOT/tests/kvm/lib.sh"

mkfifo "$W/console.in"
"$KILN" --api-sock "$SOCK" <"$W/console.in" >"$OUT" 2>"$W/stderr" &
KPID=$!
exec 3>"$W/console.in"
for _ in $(seq 200); do [ -S "$SOCK" ] && break; sleep 0.05; done
[ -S "$SOCK" ] || die "API socket never appeared"


touch "$W/metrics"
api PUT /metrics "{\"metrics_path\": \"$W/metrics\"}"
api PUT /boot-source "{\"kernel_image_path\": \"$G/vmlinux\", \"initrd_path\": \"$G/initramfs.cpio.gz\", \"boot_args\": \"console=ttyS0\"}"
api PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 256}'
api PUT /actions '{"action_type": "InstanceStart"}'
wait_for "kiln guest ready"
echo 'echo api-$((6*7)); nproc' >&3
wait_for "api-42"
echo "ok: InstanceStart boots the guest to its shell"

api PATCH /vm '{"state": "Paused"}'
call GET / >/dev/null
check "GET / while paused" "$(grep -o '"state":"Paused"' "$W/resp")" '"state":"Paused"'
echo 'echo paused-$((7*7))' >&3
sleep 2
check "no output while paused" "$(tr -d '\r' <"$OUT" | grep -c '^paused-49$')" 0
api PATCH /vm '{"state": "Resumed"}'
wait_for "paused-49"
echo "ok: resumed, the guest answers what was typed while paused"

code=$(call PUT /snapshot/create "{\"snapshot_path\": \"$W/s\", \"mem_file_path\": \"$W/m\"}")
check "snapshot of a running VM refused: HTTP" "$code" 400
check "snapshot of a running VM refused: the reason" "$(grep -c 'pause it first' "$W/resp")" 1

api PUT /actions '{"action_type": "FlushMetrics"}'
check "metrics count port I/O exits" \
    "$(python3 -c 'import json,sys; print(sum(json.loads(l)["vcpu"]["exit_io_out"] for l in open(sys.argv[1])) > 0)' "$W/metrics")" True

api PUT /actions '{"action_type": "SendCtrlAltDel"}'
for _ in $(seq $((TIMEOUT * 10))); do kill -0 "$KPID" 2>/dev/null || break; sleep 0.1; done
wait "$KPID"; rc=$?
KPID=
check "SendCtrlAltDel: kiln exits" "$rc" 0
check "SendCtrlAltDel: the guest rebooted" "$(grep -c 'the guest asked for a reboot' "$W/stderr")" 1
[ $fail = 0 ] || { echo "--- console:"; tail -20 "$OUT" | tr -d '\r'; echo "--- stderr:"; cat "$W/stderr"; }
exit $fail
