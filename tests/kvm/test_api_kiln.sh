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
. "$(dirname "$0")/lib.sh"
kvm_test_prelude curl
W=$(mktemp -d /tmp/kiln-kvm-api.XXXXXX)
trap 'kiln_stop_all; rm -rf "$W"' EXIT
fail=0

kiln_start k
touch "$W/metrics"
api k PUT /metrics "{\"metrics_path\": \"$W/metrics\"}"
api k PUT /boot-source "{\"kernel_image_path\": \"$G/vmlinux\", \"initrd_path\": \"$G/initramfs.cpio.gz\", \"boot_args\": \"console=ttyS0\"}"
api k PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 256}'
api k PUT /actions '{"action_type": "InstanceStart"}'
wait_for k "kiln guest ready"
type_in k 'echo api-$((6*7)); nproc'
wait_for k "api-42"
echo "ok: InstanceStart boots the guest to its shell"

api k PATCH /vm '{"state": "Paused"}'
call k GET / >/dev/null
check "GET / while paused" "$(grep -o '"state":"Paused"' "$W/k/resp")" '"state":"Paused"'
type_in k 'echo paused-$((7*7))'
sleep 2
check "no output while paused" "$(tr -d '\r' <"$W/k/out" | grep -c '^paused-49$')" 0
api k PATCH /vm '{"state": "Resumed"}'
wait_for k "paused-49"
echo "ok: resumed, the guest answers what was typed while paused"

code=$(call k PUT /snapshot/create "{\"snapshot_path\": \"$W/s\", \"mem_file_path\": \"$W/m\"}")
check "snapshot of a running VM refused: HTTP" "$code" 400
check "snapshot of a running VM refused: the reason" "$(grep -c 'pause it first' "$W/k/resp")" 1

api k PUT /actions '{"action_type": "FlushMetrics"}'
check "metrics count port I/O exits" \
    "$(python3 -c 'import json,sys; print(sum(json.loads(l)["vcpu"]["exit_io_out"] for l in open(sys.argv[1])) > 0)' "$W/metrics")" True

api k PUT /actions '{"action_type": "SendCtrlAltDel"}'
for _ in $(seq $((TIMEOUT * 10))); do kill -0 "${PID[k]}" 2>/dev/null || break; sleep 0.1; done
wait "${PID[k]}"; rc=$?
unset 'PID[k]'
check "SendCtrlAltDel: kiln exits" "$rc" 0
check "SendCtrlAltDel: the guest rebooted" "$(grep -c 'the guest asked for a reboot' "$W/k/stderr")" 1
[ $fail = 0 ] || show k
exit $fail
