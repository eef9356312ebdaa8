#!/bin/bash
# getting_started.sh KILN — Firecracker's getting-started flow, driven with curl --unix-socket as
# its guide does: logger, boot source, machine config, a root drive (a scratch copy of
# build/guest/rootfs.ext4), a network interface (kiln's user-mode networking instead of a TAP),
# InstanceStart; then the guest must reach its prompt, answer a command and power off cleanly.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
KILN=$(realpath "${1:-$ROOT/build/kiln}")
KERNEL=$ROOT/build/guest/Image
TIMEOUT=${KILN_BOOT_TIMEOUT:-120}

die() { echo "getting_started: FAIL: $*" >&2; [ -f "${OUT:-}" ] && tail -20 "$OUT" >&2; exit 1; }
[ -x "$KILN" ] || die "no kiln binary at $KILN"
[ -f "$KERNEL" ] && [ -f "$ROOT/build/guest/rootfs.ext4" ] || die "default guest missing: run 'make guest'"

WORK=$(mktemp -d /tmp/kiln-gs.XXXXXX)
API_SOCKET=$WORK/firecracker.socket
LOGFILE=$WORK/firecracker.log
ROOTFS=$WORK/rootfs.ext4
OUT=$WORK/console.out
KPID=
cleanup() {
    exec 3>&- 2>/dev/null || true
    [ -n "$KPID" ] && kill "$KPID" 2>/dev/null && wait "$KPID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
cp "$ROOT/build/guest/rootfs.ext4" "$ROOTFS"
touch "$LOGFILE"

# the guest's console is kiln's stdio: stdout to a file, stdin from a FIFO we keep open
mkfifo "$WORK/console.in"
"$KILN" --api-sock "$API_SOCKET" <"$WORK/console.in" >"$OUT" 2>"$WORK/stderr" &
KPID=$!
exec 3>"$WORK/console.in"

for _ in $(seq 100); do [ -S "$API_SOCKET" ] && break; sleep 0.02; done
[ -S "$API_SOCKET" ] || die "API socket never appeared"

# put PATH JSON: a Firecracker API call that must answer 204 No Content
api() {
    local method=$1 path=$2 data=$3 code
    code=$(curl -s -o "$WORK/resp" -w '%{http_code}' -X "$method" --unix-socket "$API_SOCKET" \
        -H 'Accept: application/json' -H 'Content-Type: application/json' -d "$data" "http://localhost$path")
    [ "$code" = 204 ] || die "$method $path: HTTP $code $(cat "$WORK/resp")"
}

api PUT /logger "{\"log_path\": \"$LOGFILE\", \"level\": \"Debug\", \"show_level\": true, \"show_log_origin\": true}"
api PUT /boot-source "{\"kernel_image_path\": \"$KERNEL\", \"boot_args\": \"console=ttyS0 root=/dev/vda rw\"}"
api PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 256}'
api PUT /drives/rootfs "{\"drive_id\": \"rootfs\", \"path_on_host\": \"$ROOTFS\", \"is_root_device\": true, \"is_read_only\": false}"
api PUT /network-interfaces/net1 '{"iface_id": "net1", "guest_mac": "06:00:AC:10:00:02", "host_dev_name": "user"}'
api PUT /actions '{"action_type": "InstanceStart"}'

state=$(curl -s --unix-socket "$API_SOCKET" http://localhost/)
case "$state" in *'"state":"Running"'*) ;; *) die "GET / after InstanceStart: $state" ;; esac

wait_for() {
    local pattern=$1 i
    for i in $(seq $((TIMEOUT * 10))); do
        grep -q -- "$pattern" "$OUT" && return 0
        kill -0 "$KPID" 2>/dev/null || die "kiln exited before '$pattern' appeared"
        sleep 0.1
    done
    die "no '$pattern' on the console within ${TIMEOUT}s"
}
wait_for "kiln guest ready"
echo 'echo gs-$((6*7))' >&3
wait_for "gs-42"

# exiting the shell makes init sync, remount / read-only and power off: kiln exits 0 with it
echo 'exit' >&3
for _ in $(seq $((TIMEOUT * 10))); do kill -0 "$KPID" 2>/dev/null || break; sleep 0.1; done
set +e
wait "$KPID"
rc=$?
set -e
KPID=
[ "$rc" = 0 ] || die "kiln exited with $rc: $(tail -5 "$WORK/stderr")"
[ -e "$API_SOCKET" ] && die "API socket left behind"
grep -q "API" "$LOGFILE" || die "nothing logged to the PUT /logger file"
echo "getting_started: OK"
