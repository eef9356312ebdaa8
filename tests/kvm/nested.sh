#!/bin/bash
# Runs a command where /dev/kvm works: directly when the host has a usable /dev/kvm, otherwise
# inside a nested VM that has one.
#
#   tests/kvm/nested.sh [-v] [--timeout SEC] [--cpus N] [--rw DIR]... [--console FILE] -- CMD [ARG]...
#   tests/kvm/nested.sh --fetch          # only download and prepare the nested VM (make deps)
#
# The nested VM: Debian's x86-64 kernel (linux-image-6.1.0-*-amd64, `apt-get download`ed and
# unpacked with `dpkg -x` into $KILN_CACHE/nested-kvm, never installed) under
# `qemu-system-x86_64 -machine q35 -cpu qemu64,+svm,+npt` (software emulation of AMD-V with
# nested paging), with a busybox initramfs that loads kvm-amd, mounts the host's root read-only
# over virtio-9p and chroots into it, so CMD runs the host's own binaries at the same paths, in
# the same working directory. Inside, /dev, /proc, /sys, /dev/pts and /dev/shm are the nested
# kernel's, /tmp and /run are empty tmpfs (a working directory there is shared read-only at
# its path), and everything else is read-only except the
# directories given with --rw (shared writable at the same path). CMD's stdin is /dev/null; its
# stdout and stderr (pipes, as on the host) stream back to the harness's stdout and stderr over
# two serial ports; its exit status is the harness's. The nested kernel's console goes to a log
# that is printed when the VM fails (--console FILE keeps it). -v prints the harness's timings.
#
# Exit status: CMD's; 124 when --timeout (default 900 s) expired; 125 when the nested VM could
# not be prepared or did not run CMD (its console log is printed).
# Environment: KILN_NESTED=1 forces the nested VM even with a usable /dev/kvm, KILN_NESTED=0
# forbids it; KILN_NESTED_CPUS (default 2) and KILN_NESTED_MEM (MiB, default 2048) size it;
# PATH, HOME, LANG, LC_ALL, TERM, CI, SANITIZE, ASAN_OPTIONS, UBSAN_OPTIONS and KILN_* reach CMD.
set -euo pipefail
CACHE=${KILN_CACHE:-$HOME/.cache/kiln}
NDIR=$CACHE/nested-kvm
TIMEOUT=900 VERBOSE=0 FETCH_ONLY=0
CPUS=${KILN_NESTED_CPUS:-2} MEM=${KILN_NESTED_MEM:-2048}
RW_DIRS=() CONSOLE_OUT=

say() { echo "[nested] $*" >&2; }
die() { echo "[nested] error: $*" >&2; exit 125; }
usage() { sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0" >&2; exit 125; }

while [ $# -gt 0 ]; do
    case "$1" in
        -v) VERBOSE=1 ;;
        --console) CONSOLE_OUT=${2:?}; shift ;;
        --timeout) TIMEOUT=${2:?}; shift ;;
        --cpus) CPUS=${2:?}; shift ;;
        --rw) RW_DIRS+=("$(cd "${2:?}" && pwd)") || die "--rw $2: no such directory"; shift ;;
        --fetch) FETCH_ONLY=1 ;;
        --) shift; break ;;
        -h|--help) usage ;;
        *) usage ;;
    esac
    shift
done
[ $FETCH_ONLY = 1 ] || [ $# -gt 0 ] || usage

# a usable /dev/kvm, and not PVM's (kvm_pvm, KVM without VT-x/AMD-V): that one runs only
# PVM-aware guest kernels; a stock one stops with a KVM internal error at its first xrstor
kvm_usable() { [ -c /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ] && { : <>/dev/kvm; } 2>/dev/null; }
if [ $FETCH_ONLY = 0 ] && [ "${KILN_NESTED:-auto}" != 1 ] && kvm_usable; then
    exec "$@"
fi
[ "${KILN_NESTED:-auto}" != 0 ] || die "no usable /dev/kvm on this host and KILN_NESTED=0"

# ---------------------------------------------------------------- the nested VM's kernel
mkdir -p "$NDIR"
# one preparation at a time per cache
exec 8>"$NDIR/.lock"
flock 8
# the newest linux-image-6.1.0-N-amd64 .deb already downloaded, else the one linux-image-amd64
# depends on now (KILN_NESTED_KERNEL_DEB=FILE picks another)
DEB=${KILN_NESTED_KERNEL_DEB:-}
if [ -z "$DEB" ]; then
    DEB=$(ls "$NDIR"/linux-image-6.1.0-*-amd64_*.deb 2>/dev/null | sort -V | tail -1 || true)
fi
if [ -z "$DEB" ]; then
    pkg_name() { apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-6\.1\.0-[0-9]*-amd64\)$/\1/p' | head -1; }
    PKG=$(pkg_name)
    [ -n "$PKG" ] || { apt-get update -q >/dev/null 2>&1 || true; PKG=$(pkg_name); }
    [ -n "$PKG" ] || die "no linux-image-6.1.0-*-amd64 package known to apt"
    say "downloading $PKG (the nested VM's kernel; not installed)"
    (cd "$NDIR" && apt-get download -q "$PKG") >"$NDIR/download.log" 2>&1 ||
        { cat "$NDIR/download.log" >&2; die "apt-get download $PKG failed"; }
    DEB=$(ls "$NDIR"/"$PKG"_*.deb | sort -V | tail -1)
fi
[ -f "$DEB" ] || die "$DEB: no such file"
KROOT=$NDIR/$(basename "$DEB" .deb)
if [ ! -d "$KROOT/boot" ]; then
    rm -rf "$KROOT.tmp" && dpkg -x "$DEB" "$KROOT.tmp" && mv "$KROOT.tmp" "$KROOT"
fi
KVER=$(ls "$KROOT/lib/modules" | head -1)
VMLINUZ=$KROOT/boot/vmlinuz-$KVER
[ -f "$VMLINUZ" ] || die "$VMLINUZ missing from $DEB"
# the uncompressed ELF vmlinux, booted through its PVH entry: the bzImage's own xz decompression
# would take seconds under emulation
VMLINUX=$KROOT/vmlinux
if [ ! -f "$VMLINUX" ]; then
    off=$(LC_ALL=C grep -obUaP -m1 '\xFD7zXZ\x00' "$VMLINUZ" | head -1 | cut -d: -f1 || true)
    [ -n "$off" ] || die "$VMLINUZ: no xz payload"
    # (xz stops at the end of its stream, before the end of the file)
    (set +o pipefail; tail -c +$((off + 1)) "$VMLINUZ" | xz -dc 2>/dev/null) >"$VMLINUX.tmp" || true
    notes=$(readelf -n "$VMLINUX.tmp" 2>/dev/null || true)
    [[ $notes == *"(0x00000012)"* ]] || die "$VMLINUZ: no PVH entry in its vmlinux"
    mv "$VMLINUX.tmp" "$VMLINUX"
fi

# ---------------------------------------------------------------- its initramfs
# The nested VM's /init (busybox sh). The run share (tag "run") holds cmd (a bash script run in
# the chroot) and rw (tag and path of each writable share); init writes started and status there.
init_script() { cat <<'EOF_INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
fail() { echo "KILN-NESTED-FAIL: $*"; poweroff -f; }
mark() { read -r up _ </proc/uptime; echo "kiln-nested: $* at ${up}s"; }
mark init
for m in $(cat /modules.order); do insmod /lib/modules/$m.ko || fail "insmod $m"; done
mark modules loaded
[ -c /dev/kvm ] || fail "no /dev/kvm after loading kvm-amd"
P9=trans=virtio,version=9p2000.L,msize=262144
mount -t 9p -o $P9 run /run9p || fail "mount run share"
mount -t 9p -o $P9,ro,cache=loose host /host || fail "mount host root"
mount -t devtmpfs dev /host/dev
mkdir -p /host/dev/pts /host/dev/shm
ln -s /proc/self/fd /host/dev/fd
ln -s fd/0 /host/dev/stdin; ln -s fd/1 /host/dev/stdout; ln -s fd/2 /host/dev/stderr
mount -t devpts -o newinstance,ptmxmode=0666 devpts /host/dev/pts
mount -t tmpfs shm /host/dev/shm
mount -t proc proc /host/proc
mount -t sysfs sys /host/sys
mount -t tmpfs tmp /host/tmp
chmod 1777 /host/tmp
mount -t tmpfs run /host/run
while read -r tag path opt; do
  mkdir -p "/host$path" 2>/dev/null   # (in the new /tmp; elsewhere it is there, read-only)
  mount -t 9p -o $P9${opt:+,$opt} "$tag" "/host$path" || fail "mount $path"
done </run9p/rw
stty -F /dev/ttyS1 raw -echo
stty -F /dev/ttyS2 raw -echo
mkfifo /err
cp /run9p/cmd /host/tmp/.kiln-nested-cmd
mark command starts
echo >/run9p/started
cat /err >/dev/ttyS2 &
{ chroot /host /bin/bash /tmp/.kiln-nested-cmd </dev/null 2>/err; echo $? >/run9p/status; } | cat >/dev/ttyS1
wait
mark command done
sync
poweroff -f
EOF_INIT
}

# modules in load order: KVM for AMD (ccp: kvm-amd's SEV helper), virtio over PCI, 9p
MODULES="irqbypass ccp kvm kvm-amd virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev
virtio_pci netfs fscache 9pnet 9pnet_virtio 9p"
INIT_SCRIPT=$(init_script)
BBVER=$(dpkg-query -W -f='${Version}' busybox-static)
IKEY=$( (basename "$DEB"; echo "$BBVER $MODULES"; echo "$INIT_SCRIPT"; sed -n '/^# -- initramfs/,/^# -- end initramfs/p' "$0") |
       sha256sum | cut -c1-16)
INITRD=$NDIR/initramfs-$IKEY.cpio.gz
have_busybox() { [ -x /bin/busybox ] && [[ $(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null) == *"ok installed"* ]]; }
if [ $FETCH_ONLY = 1 ] && ! have_busybox; then
    say "kernel ready ($VMLINUX); the initramfs is made on first use (needs busybox-static)"
    exit 0
fi
if [ ! -f "$INITRD" ]; then
    have_busybox || die "busybox-static missing: run 'make deps'"
# -- initramfs
    say "building the nested VM's initramfs ($KVER)"
    ST=$(mktemp -d)
    mkdir -p "$ST"/{bin,dev,proc,sys,host,run9p,lib/modules}
    cp /bin/busybox "$ST/bin/busybox"
    for m in $MODULES; do
        f=$(find "$KROOT/lib/modules/$KVER" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" |
            head -1)
        [ -n "$f" ] || { rm -rf "$ST"; die "module $m not in $DEB"; }
        case "$f" in
            *.xz) xz -dc "$f" ;;
            *.zst) zstd -qdc "$f" ;;
            *) cat "$f" ;;
        esac >"$ST/lib/modules/$m.ko"
    done
    echo "$MODULES" | tr ' ' '\n' | sed '/^$/d' >"$ST/modules.order"
    printf '%s\n' "$INIT_SCRIPT" >"$ST/init" && chmod 755 "$ST/init"
    (cd "$ST" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 | gzip -1 -n) >"$INITRD.tmp"
    rm -rf "$ST"
    mv "$INITRD.tmp" "$INITRD"
# -- end initramfs
fi
flock -u 8 && exec 8>&-
[ $FETCH_ONLY = 0 ] || { say "ready: $VMLINUX, $INITRD"; exit 0; }
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing: run 'make deps'"


# ---------------------------------------------------------------- run CMD in the nested VM
RUN=$(mktemp -d /tmp/kiln-nested.XXXXXX)
CAT_PIDS=()
cleanup() {
    [ -z "${QPID:-}" ] || kill "$QPID" 2>/dev/null || true
    for p in "${CAT_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
{
    echo "cd $(printf %q "$PWD") || exit 125"
    for v in PATH HOME LANG LC_ALL TERM CI SANITIZE ASAN_OPTIONS UBSAN_OPTIONS $(compgen -e | grep '^KILN_' || true); do
        [ -z "${!v+x}" ] || echo "export $v=$(printf %q "${!v}")"
    done
    echo "export KILN_NESTED_INSIDE=1"
    printf 'exec'; printf ' %q' "$@"; echo
} >"$RUN/cmd"
VIRTFS=(-virtfs "local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap"
        -virtfs "local,path=$RUN,mount_tag=run,security_model=none,multidevs=remap")
: >"$RUN/rw"
i=0
for d in "${RW_DIRS[@]}"; do
    VIRTFS+=(-virtfs "local,path=$d,mount_tag=rw$i,security_model=none,multidevs=remap")
    echo "rw$i $d" >>"$RUN/rw"
    i=$((i + 1))
done
# a working directory under /tmp or /run (e.g. a checkout in /tmp) would be hidden by the nested
# VM's empty tmpfs there: share it read-only at its path, unless it is writable already
case "$PWD/" in
    /tmp/*|/run/*)
        shared=0
        for d in "${RW_DIRS[@]}"; do case "$PWD/" in "$d"/*) shared=1 ;; esac; done
        if [ $shared = 0 ]; then
            VIRTFS+=(-virtfs "local,path=$PWD,mount_tag=cwd,security_model=none,readonly=on,multidevs=remap")
            echo "cwd $PWD ro" >>"$RUN/rw"
        fi ;;
esac
mkfifo "$RUN/out" "$RUN/err"
cat "$RUN/out" & CAT_PIDS+=($!)
cat "$RUN/err" >&2 & CAT_PIDS+=($!)
# hold a write end of each pipe (an O_RDWR open does not block) so the cats start even if QEMU
# never opens them; dropped after QEMU is gone, which gives the cats their end of file
exec 5<>"$RUN/out" 6<>"$RUN/err"
T0=$(date +%s.%N)
set +e
timeout -k 5 "$TIMEOUT" qemu-system-x86_64 -machine q35 -accel tcg,thread=multi \
    -cpu qemu64,+svm,+npt -smp "$CPUS" -m "$MEM" \
    -nodefaults -no-user-config -display none -no-reboot \
    -kernel "$VMLINUX" -initrd "$INITRD" \
    -append "console=ttyS0 rdinit=/init panic=-1 quiet loglevel=4 ${KILN_NESTED_APPEND:-}" \
    -chardev file,id=con,path="$RUN/console.log" -serial chardev:con \
    -chardev file,id=out,path="$RUN/out" -serial chardev:out \
    -chardev file,id=err,path="$RUN/err" -serial chardev:err \
    "${VIRTFS[@]}" </dev/null 2>"$RUN/qemu.log" 5>&- 6>&- &
QPID=$!
wait $QPID
QRC=$?
QPID=
exec 5>&- 6>&-
set -e
T1=$(date +%s.%N)
[ -z "$CONSOLE_OUT" ] || cp "$RUN/console.log" "$CONSOLE_OUT"
for p in "${CAT_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
CAT_PIDS=()
if [ $QRC = 124 ]; then
    say "timed out after $TIMEOUT s; the nested VM's console:"
    tail -40 "$RUN/console.log" >&2 2>/dev/null || true
    exit 124
fi
if [ ! -f "$RUN/status" ]; then
    say "the nested VM did not run the command (qemu status $QRC); its console:"
    tail -40 "$RUN/console.log" >&2 2>/dev/null || true
    [ ! -s "$RUN/qemu.log" ] || { say "qemu:"; cat "$RUN/qemu.log" >&2; }
    exit 125
fi
STATUS=$(cat "$RUN/status")
if [ $VERBOSE = 1 ]; then
    TS=$(stat -c %.9Y "$RUN/started") TE=$(stat -c %.9Y "$RUN/status")
    say "$(awk -v t0="$T0" -v ts="$TS" -v te="$TE" -v t1="$T1" 'BEGIN {
        printf "boot to command %.1f s, command %.1f s, power-off %.1f s", ts - t0, te - ts, t1 - te }') (exit status $STATUS)"
fi
exit "$STATUS"
