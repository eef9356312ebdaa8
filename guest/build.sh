#!/bin/bash
# Builds kiln's default riscv64 guest into build/guest/: a Linux 6.1 Image (from Debian's
# linux-source-6.1, config = tinyconfig + guest/kernel.config), and one root tree — busybox (from
# Debian's busybox source, static), guest/tools/*.c (static), init and scripts — packed twice:
# as initramfs.cpio.gz and as the ext4 disk image rootfs.ext4. Kernel, busybox and tools are
# cached in $KILN_CACHE (default ~/.cache/kiln) under a key made of their inputs, so a rebuild
# with the same inputs is instant.
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
# run_with_progress, busybox_source, stage_root, pack_initramfs (shared with the other guest)
. "$HERE/lib/common.sh"

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
busybox_source
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

# ---------------------------------------------------------------- guest tools
# small static C programs for the guest (e.g. kiln-vsock), one per guest/tools/NAME.c -> /bin/NAME
shopt -s nullglob; TOOL_SRCS=("$HERE"/tools/*.c); shopt -u nullglob
TKEY=$( (echo "$GVER"; for f in "${TOOL_SRCS[@]}"; do echo "== $(basename "$f")"; cat "$f"; done
         sed -n '/^# -- tools/,/^# -- end tools/p' "$0") | sha256sum | cut -c1-16)
TDIR=$CACHE/tools-$TKEY
if [ ${#TOOL_SRCS[@]} = 0 ]; then
    say "tools: none in guest/tools"
elif [ -d "$TDIR" ]; then
    say "tools: cached ($TDIR)"
else
# -- tools
    rm -rf "$TDIR.tmp" && mkdir -p "$TDIR.tmp"
    for f in "${TOOL_SRCS[@]}"; do
        name=$(basename "$f" .c)
        say "tools: compiling $name"
        ${CROSS}gcc -static -O2 -Wall -o "$TDIR.tmp/$name" "$f" >"$CACHE/tools-build.log" 2>&1 ||
            { cat "$CACHE/tools-build.log" >&2; die "compiling guest/tools/$name.c failed"; }
        ${CROSS}strip "$TDIR.tmp/$name"
    done
    mv "$TDIR.tmp" "$TDIR"
# -- end tools
fi

# ---------------------------------------------------------------- root tree
# one tree for both the initramfs (/init) and rootfs.ext4 (/sbin/init, the kernel's default
# init on a disk root, replacing busybox's init applet)
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
stage_root "$STAGE" "$BROOT" "$([ ${#TOOL_SRCS[@]} = 0 ] || echo "$TDIR")"

# ---------------------------------------------------------------- initramfs
pack_initramfs "$STAGE"

# ---------------------------------------------------------------- rootfs.ext4
# The image is rewritten only when the tree or this step changed, so what a guest writes to it
# survives the next `make run`; tests and benchmarks boot a copy. Delete it for a fresh one.
ROOTFS=$OUT/rootfs.ext4
ROOTFS_MIB=256
RKEY=$( ( (cd "$STAGE" && find . -printf '%p %y %m %l\n' | LC_ALL=C sort &&
           find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
         mkfs.ext4 -V 2>&1 | head -1; sed -n '/^# -- rootfs/,/^# -- end rootfs/p' "$0") |
       sha256sum | cut -c1-16)
if [ -f "$ROOTFS" ] && [ "$(cat "$ROOTFS.key" 2>/dev/null)" = "$RKEY" ]; then
    say "rootfs: up to date, kept with any changes a guest made ($ROOTFS; delete it for a fresh one)"
else
# -- rootfs
    say "rootfs: making a $ROOTFS_MIB MiB ext4 image (sparse)"
    rm -f "$ROOTFS.tmp"
    # mke2fs copies owners from the tree: files must belong to root in the guest
    AS_ROOT=(); [ "$(id -u)" = 0 ] || { command -v fakeroot >/dev/null && AS_ROOT=(fakeroot --); }
    "${AS_ROOT[@]}" sh -c 'chown -R 0:0 "$1" 2>/dev/null; mkfs.ext4 -q -F -d "$1" -L kilnroot "$2" "$3" >/dev/null' \
        sh "$STAGE" "$ROOTFS.tmp" "${ROOTFS_MIB}M" || die "mkfs.ext4 failed"
    mv "$ROOTFS.tmp" "$ROOTFS"
    echo "$RKEY" >"$ROOTFS.key"
# -- end rootfs
fi
say "done: $OUT/Image ($(du -h "$OUT/Image" | cut -f1)), $OUT/initramfs.cpio.gz ($(du -h "$OUT/initramfs.cpio.gz" | cut -f1)), $ROOTFS ($(du -h "$ROOTFS" | cut -f1) used of ${ROOTFS_MIB} MiB)"
