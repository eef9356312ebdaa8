#!/bin/bash
# Snapshots and live migration of an x86-64 guest on kiln's kvm backend, through the API with
# curl --unix-socket. Kiln A boots the PVH vmlinux + initramfs (2 vCPUs, dirty-page tracking);
# the guest stores a value in a file in RAM and starts a counter that ticks every 0.2 s. Then:
#   - A paused: a Full snapshot; A resumed, another file written, paused: a Diff snapshot whose
#     memory file is much smaller than the Full one;
#   - kiln B loads the Full snapshot: the value is there, the file written after it is not, the
#     counter goes on from where it was and keeps increasing, the guest's CLOCK_MONOTONIC moved
#     on by the host time since the snapshot (README: guest time), and the guest answers;
#   - kiln C loads the Diff (its memory merged over the Full one with `kiln snapshot merge`):
#     both files are there;
#   - C migrates live to kiln D over a Unix socket (Cloud Hypervisor's API): C's call answers 200
#     with the migration's figures and C exits 0; on D the files are there, the counter goes on
#     and keeps increasing, and the guest answers;
#   - a snapshot whose state file has one bit flipped is refused (400, checksum) by a fresh kiln,
#     and so is the x86-64 state relabelled riscv64 with a valid checksum (the rv64 backend finds
#     KVM's sections where its own belong);
#   - no kiln reported a sanitizer error (when KILN_BINARY is an ASan build).
# Skipped (77) without the guest, curl or /dev/kvm.
# usage: tests/kvm/test_state_kiln.sh KILN_BINARY
set -uo pipefail
KILN=${1:?usage: test_state_kiln.sh KILN_BINARY}
. "$(dirname "$0")/lib.sh"
kvm_test_prelude curl
W=$(mktemp -d /tmp/kiln-kvm-state.XXXXXX)
trap 'kiln_stop_all; rm -rf "$W"' EXIT
fail=0

# last NAME PREFIX: the last number printed as PREFIX<number> on NAME's console
last() { tr -d '\r' <"$W/$1/out" | grep -o -- "$2[0-9.]*" | tail -1 | sed "s/^$2//"; }
now() { date +%s.%N; }
# ask NAME TAG: the counter and the guest's uptime now, as TAG-c<n> and TAG-u<seconds>
ask() {
    type_in "$1" "echo $2-c\$(cat /tmp/c) $2-u\$(cut -d' ' -f1 /proc/uptime)"
    wait_for "$1" "$2-u[0-9]"
}
# alive NAME TAG: the counter moves on within a second and the guest computes
alive() {
    type_in "$1" "a=\$(cat /tmp/c); sleep 1; b=\$(cat /tmp/c); echo $2-more-\$((b > a)) $2-sum-\$((6 * 7))"
    wait_for "$1" "$2-sum-42"
    check "$1: the counter keeps increasing" "$(last "$1" "$2-more-")" 1
}
ge() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 >= b + 0) ? 1 : 0 }'; }

# ---- A: boot, state in RAM, Full and Diff snapshots
kiln_start A
api A PUT /boot-source "{\"kernel_image_path\": \"$G/vmlinux\", \"initrd_path\": \"$G/initramfs.cpio.gz\", \"boot_args\": \"console=ttyS0\"}"
api A PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 128, "track_dirty_pages": true}'
api A PUT /actions '{"action_type": "InstanceStart"}'
wait_for A "kiln guest ready"
type_in A 'echo s$((6*7)) >/tmp/v; (i=0; while :; do i=$((i+1)); echo $i >/tmp/c; sleep 0.2; done) & sleep 1; echo started-$((2*3))'
wait_for A "started-6"
# the guest clock's rate against the host's over 5 s (in the nested VM, the L2 guest's kvmclock
# is scaled by the L1 kernel's TSC calibration, which can be off by several per cent)
ask A r0
t_r0=$(now) r0_u=$(last A r0-u)
sleep 5
ask A pre
t_pre=$(now)
pre_c=$(last A pre-c) pre_u=$(last A pre-u)
rate=$(awk -v u="$pre_u" -v v="$r0_u" -v t="$t_pre" -v s="$t_r0" 'BEGIN { print (u - v) / (t - s) }')
api A PATCH /vm '{"state": "Paused"}'
t_snap=$(now)
api A PUT /snapshot/create "{\"snapshot_type\": \"Full\", \"snapshot_path\": \"$W/full.snap\", \"mem_file_path\": \"$W/full.mem\"}"
echo "ok: Full snapshot of the paused x86-64 VM"
api A PATCH /vm '{"state": "Resumed"}'
type_in A 'echo d$((7*11)) >/tmp/d; echo wrote-$((3*3))'
wait_for A "wrote-9"
api A PATCH /vm '{"state": "Paused"}'
api A PUT /snapshot/create "{\"snapshot_type\": \"Diff\", \"snapshot_path\": \"$W/diff.snap\", \"mem_file_path\": \"$W/diff.mem\"}"
full_kb=$(du -k "$W/full.mem" | cut -f1) diff_kb=$(du -k "$W/diff.mem" | cut -f1)
echo "memory files: Full ${full_kb} KiB, Diff ${diff_kb} KiB"
check "the Diff holds pages" "$([ "$diff_kb" -gt 0 ] && echo yes)" yes
check "the Diff is much smaller than the Full" "$([ $((diff_kb * 4)) -lt "$full_kb" ] && echo yes)" yes
kiln_stop A
sleep 2   # host time passes before the restore: the guest's clock must count it

# ---- B: the Full snapshot
kiln_start B
api B PUT /snapshot/load "{\"snapshot_path\": \"$W/full.snap\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$W/full.mem\"}, \"resume_vm\": true}"
type_in B 'echo B-v$(cat /tmp/v) B-d$(cat /tmp/d 2>/dev/null || echo none)'
wait_for B "B-d[a-z]"
check "B: the value stored before the snapshot" "$(tr -d '\r' <"$W/B/out" | grep -o 'B-vs[0-9]*' | tail -1)" B-vs42
check "B: the file written after the Full snapshot is not there" "$(tr -d '\r' <"$W/B/out" | grep -o 'B-d[a-z0-9]*' | tail -1)" B-dnone
ask B post
t_post=$(now)
post_c=$(last B post-c) post_u=$(last B post-u)
check "B: the counter went on from the snapshot's ($pre_c -> $post_c)" "$(ge "$post_c" "$pre_c")" 1
# Between the two readings, CLOCK_MONOTONIC moved on by at least the host time from the
# snapshot to the second reading (the VM did not exist for most of it, README: guest time) and
# by at most the host time from the first reading to the second, both at the guest clock's
# measured rate, with 10 % and 1 s for the console polling. Without the advance it would have
# moved by the few seconds before the snapshot only; counted twice, by twice the time.
since_snap=$(awk -v a="$t_post" -v b="$t_snap" 'BEGIN { print a - b }')
since_pre=$(awk -v a="$t_post" -v b="$t_pre" 'BEGIN { print a - b }')
moved=$(awk -v a="$post_u" -v b="$pre_u" 'BEGIN { print a - b }')
echo "guest uptime moved ${moved}s; host time: ${since_snap}s since the snapshot, ${since_pre}s since the first reading; guest clock rate ${rate}"
low=$(awk -v e="$since_snap" -v r="$rate" 'BEGIN { print e * (r < 1 ? r : 1) * 0.9 - 1 }')
high=$(awk -v e="$since_pre" -v r="$rate" 'BEGIN { print e * (r > 1 ? r : 1) * 1.1 + 1 }')
check "B: guest time counts the time the VM was saved (>= ${low}s)" "$(ge "$moved" "$low")" 1
check "B: guest time does not run ahead of the host's (<= ${high}s)" "$(ge "$high" "$moved")" 1
alive B B

# ---- C: the Diff snapshot over its base
cp --sparse=always "$W/full.mem" "$W/merged.mem"
"$KILN" snapshot merge "$W/merged.mem" "$W/diff.mem" || die "kiln snapshot merge failed"
kiln_start C
api C PUT /snapshot/load "{\"snapshot_path\": \"$W/diff.snap\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$W/merged.mem\"}, \"resume_vm\": true}"
type_in C 'echo C-v$(cat /tmp/v) C-d$(cat /tmp/d 2>/dev/null || echo none)'
wait_for C "C-d[a-z]"
check "C (Diff): the value stored before the Full snapshot" "$(tr -d '\r' <"$W/C/out" | grep -o 'C-vs[0-9]*' | tail -1)" C-vs42
check "C (Diff): the file written before the Diff snapshot" "$(tr -d '\r' <"$W/C/out" | grep -o 'C-d[a-z0-9]*' | tail -1)" C-dd77
alive C C

# ---- C migrates to D over a Unix socket
kiln_stop B
kiln_start D
call D PUT /vm.receive-migration "{\"receiver_url\": \"unix:$W/mig.sock\"}" >"$W/D/code" &
recv=$!
for _ in $(seq 200); do [ -S "$W/mig.sock" ] && break; sleep 0.05; done
ask C mig
mig_c=$(last C mig-c)
code=$(call C PUT /vm.send-migration "{\"destination_url\": \"unix:$W/mig.sock\"}")
check "send-migration: HTTP" "$code" 200
check "send-migration: the figures" "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(all(k in d for k in ("total_ms","downtime_ms","rounds","pages_sent")) and d["pages_sent"] > 0)' "$W/C/resp" 2>&1)" True
cat "$W/C/resp"; echo
wait "$recv"
check "receive-migration: HTTP" "$(cat "$W/D/code")" 204
for _ in $(seq 100); do kill -0 "${PID[C]}" 2>/dev/null || break; sleep 0.1; done
wait "${PID[C]}"; rc=$?
unset 'PID[C]'
check "the source exits 0 once the VM moved" "$rc" 0
type_in D 'echo D-v$(cat /tmp/v) D-d$(cat /tmp/d 2>/dev/null || echo none)'
wait_for D "D-d[a-z]"
check "D (migrated): the value" "$(tr -d '\r' <"$W/D/out" | grep -o 'D-vs[0-9]*' | tail -1)" D-vs42
check "D (migrated): the file" "$(tr -d '\r' <"$W/D/out" | grep -o 'D-d[a-z0-9]*' | tail -1)" D-dd77
ask D moved
check "D: the counter went on from the source's ($mig_c -> $(last D moved-c))" "$(ge "$(last D moved-c)" "$mig_c")" 1
alive D D

# ---- a corrupt snapshot is refused
cp "$W/full.snap" "$W/bad.snap"
python3 - "$W/bad.snap" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
b[len(b) // 2] ^= 0x10
open(p, 'wb').write(b)
EOF
kiln_start E
code=$(call E PUT /snapshot/load "{\"snapshot_path\": \"$W/bad.snap\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$W/full.mem\"}, \"resume_vm\": true}")
check "a bit flip in the state file: HTTP" "$code" 400
check "a bit flip in the state file: the reason" "$(grep -ci 'checksum\|crc' "$W/E/resp")" 1
check "kiln E still serves its API" "$(call E GET / >/dev/null; grep -c '"state"' "$W/E/resp")" 1

# ---- the x86-64 state relabelled as a RISC-V one (valid checksum): refused by the rv64 backend
python3 - "$W/full.snap" "$W/rv.snap" <<'EOF'
import struct, sys, zlib
b = open(sys.argv[1], 'rb').read()
body = b[24:-4]
# the first section, snapshot-info: name (32), version (u32), length (u64), then the arch blob
name, ver, n = body[:32], body[32:36], struct.unpack_from('<Q', body, 36)[0]
payload = body[44:44 + n]
alen = struct.unpack_from('<I', payload, 0)[0]
assert payload[4:4 + alen] == b'x86_64', payload[4:4 + alen]
payload = struct.pack('<I', 7) + b'riscv64' + payload[4 + alen:]
body = name + ver + struct.pack('<Q', len(payload)) + payload + body[44 + n:]
head = b[:16] + struct.pack('<Q', len(body))
open(sys.argv[2], 'wb').write(head + body + struct.pack('<I', zlib.crc32(head + body)))
EOF
kiln_start F
code=$(call F PUT /snapshot/load "{\"snapshot_path\": \"$W/rv.snap\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$W/full.mem\"}, \"resume_vm\": true}")
check "x86-64 state labelled riscv64: HTTP" "$code" 400
check "x86-64 state labelled riscv64: the reason" "$(grep -c "expected the state of 'rv64-machine', found 'kvm-vm'" "$W/F/resp")" 1
cat "$W/F/resp"; echo

# every kiln stopped: none reported a sanitizer error (an ASan build's)
kiln_stop_all
check "no sanitizer report from any kiln" "$(cat "$W"/*/stderr | grep -c 'Sanitizer\|runtime error')" 0
[ $fail = 0 ] || show A B C D E F
exit $fail
