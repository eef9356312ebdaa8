#!/bin/bash
# Builds kiln's default riscv64 guest into build/guest/: a Linux 6.1 Image (from Debian's
# linux-source-6.1, config = tinyconfig + guest/kernel.config) and a busybox initramfs (from
# Debian's busybox source, static). Each piece is cached in $KILN_CACHE (default
# ~/.cache/kiln) under a key made of its inputs, so a rebuild with the same inputs is instant.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE/../build/guest}
CACHE=${KILN_CACHE:-$HOME/.cache/kiln}
JOBS=$(nproc)
CROSS=riscv64-linux-gnu-
mkdir -p "$OUT" "$CACHE"
OUT=$(cd "$OUT" && pwd)

say() { echo "[guest] $*"; }
die() { echo "[guest] error: $*" >&2; exit 1; }
command -v ${CROSS}gcc >/dev/null || die "${CROSS}gcc missing: run 'make deps' first"

# Runs a long build command with its output in LOG, printing a progress line every 10 s:
# the number of files compiled so far against EXPECTED (an estimate from a full build).
run_with_progress() {
    local what=$1 log=$2 expected=$3; shift 3
    "$@" >"$log" 2>&1 &
    local pid=$! start=$SECONDS
    while kill -0 $pid 2>/dev/null; do
        sleep 10
        local n; n=$(grep -c '^ *\(CC\|AS\|LD\|AR\)' "$log" || true)
        local pct=$(( n * 100 / expected )); [ $pct -gt 99 ] && pct=99
        say "$what: $n files built (~$pct%), $((SECONDS - start)) s"
    done
    if ! wait $pid; then
        tail -30 "$log" >&2
        die "$what failed; full log: $log"
    fi
}

key_of() { cat "$@" | sha256sum | cut -c1-16; }

# ---------------------------------------------------------------- kernel
LSRC_TAR=/usr/src/linux-source-6.1.tar.xz
[ -f $LSRC_TAR ] || die "$LSRC_TAR missing: run 'make deps' first"
LVER=$(dpkg-query -W -f='${Version}' linux-source-6.1)
GVER=$(${CROSS}gcc --version | head -1)
KKEY=$( (echo "$LVER $GVER"; cat "$HERE/kernel.config"; sed -n '/^# -- kernel/,/^# -- end kernel/p' "$0") | sha256sum | cut -c1-16)
KIMG=$CACHE/kernel-$KKEY/Image
KERNEL_FILES=1300   # files a full build compiles, for the progress estimate (not part of the key)
if [ -f "$KIMG" ]; then
    say "kernel: cached ($KIMG)"
else
# -- kernel
    KSRC=$CACHE/linux-source-6.1
    KOBJ=$CACHE/linux-build
    if [ ! -f "$KSRC/Makefile" ]; then
        say "kernel: unpacking $LSRC_TAR"
        rm -rf "$KSRC.tmp" && mkdir -p "$KSRC.tmp"
        tar -xf $LSRC_TAR -C "$KSRC.tmp" --strip-components=1
        mv "$KSRC.tmp" "$KSRC"
    fi
    mkdir -p "$KOBJ"
    KMAKE=(make -C "$KSRC" O="$KOBJ" ARCH=riscv CROSS_COMPILE=$CROSS)
    say "kernel: configuring (tinyconfig + guest/kernel.config)"
    "${KMAKE[@]}" tinyconfig >"$CACHE/kconfig.log" 2>&1
    (cd "$KOBJ" && "$KSRC/scripts/kconfig/merge_config.sh" -m -O "$KOBJ" .config "$HERE/kernel.config") \
        >>"$CACHE/kconfig.log" 2>&1
    "${KMAKE[@]}" olddefconfig >>"$CACHE/kconfig.log" 2>&1
    # every =y in the fragment must survive olddefconfig, or the guest silently lacks a driver
    while IFS= read -r line; do
        case "$line" in CONFIG_*=y) grep -qx "$line" "$KOBJ/.config" || die "kernel config lost $line";; esac
    done < "$HERE/kernel.config"
    say "kernel: compiling Linux $LVER with $JOBS jobs (about 6 min on 2 cores, once)"
    run_with_progress kernel "$CACHE/kernel-build.log" $KERNEL_FILES "${KMAKE[@]}" -j"$JOBS" Image
    mkdir -p "$(dirname "$KIMG")"
    cp "$KOBJ/arch/riscv/boot/Image" "$KIMG.tmp" && mv "$KIMG.tmp" "$KIMG"
# -- end kernel
fi
cp "$KIMG" "$OUT/Image"

# ---------------------------------------------------------------- busybox
BBDIR=$CACHE/busybox-src
if ! ls "$BBDIR"/busybox_*.dsc >/dev/null 2>&1; then
    say "busybox: fetching Debian source package"
    rm -rf "$BBDIR" && mkdir -p "$BBDIR"
    (cd "$BBDIR" && apt-get source busybox) >"$CACHE/busybox-src.log" 2>&1 ||
        { tail "$CACHE/busybox-src.log" >&2; die "apt-get source busybox failed (needs a deb-src entry: make deps)"; }
fi
BBSRC=$(ls -d "$BBDIR"/busybox-*/ | head -1)
BVER=$(basename "$(ls "$BBDIR"/busybox_*.dsc)" .dsc)
BKEY=$( (echo "$BVER $GVER"; sed -n '/^# -- busybox/,/^# -- end busybox/p' "$0") | sha256sum | cut -c1-16)
BROOT=$CACHE/busybox-$BKEY/root
BUSYBOX_FILES=640   # for the progress estimate (not part of the key)
if [ -x "$BROOT/bin/busybox" ]; then
    say "busybox: cached ($BROOT)"
else
# -- busybox
    BOBJ=$CACHE/busybox-build
    rm -rf "$BOBJ" && mkdir -p "$BOBJ"
    BMAKE=(make -C "$BBSRC" O="$BOBJ" CROSS_COMPILE=$CROSS)
    "${BMAKE[@]}" defconfig >"$CACHE/busybox-config.log" 2>&1
    # static, so the initramfs needs no libc; tc does not build against 6.1 uapi headers
    sed -i -e 's/^# CONFIG_STATIC is not set/CONFIG_STATIC=y/' -e 's/^CONFIG_TC=y/# CONFIG_TC is not set/' \
        "$BOBJ/.config"
    say "busybox: compiling $BVER (about 2 min, once)"
    run_with_progress busybox "$CACHE/busybox-build.log" $BUSYBOX_FILES "${BMAKE[@]}" -j"$JOBS"
    rm -rf "$BROOT.tmp"
    "${BMAKE[@]}" install CONFIG_PREFIX="$BROOT.tmp" >>"$CACHE/busybox-build.log" 2>&1
    mv "$BROOT.tmp" "$BROOT"
# -- end busybox
fi

# ---------------------------------------------------------------- initramfs
say "initramfs: packing"
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
cp -a "$BROOT/." "$STAGE/"
mkdir -p "$STAGE"/{proc,sys,dev,tmp,root,etc}
install -m 755 "$HERE/init" "$STAGE/init"
install -m 755 "$HERE/kiln-bench-cpu" "$STAGE/bin/kiln-bench-cpu"
echo 'export PS1="~ # "' > "$STAGE/etc/profile"
(cd "$STAGE" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 | gzip -9 -n) >"$OUT/initramfs.cpio.gz.tmp"
mv "$OUT/initramfs.cpio.gz.tmp" "$OUT/initramfs.cpio.gz"
say "done: $OUT/Image ($(du -h "$OUT/Image" | cut -f1)), $OUT/initramfs.cpio.gz ($(du -h "$OUT/initramfs.cpio.gz" | cut -f1))"
