#!/bin/bash
# Builds kiln's default x86-64 guest (for the kvm backend) into build/guest-x86_64/, from the same
# sources as the riscv64 guest (guest/build.sh): Linux 6.1 from Debian's linux-source-6.1 with a
# microVM config (tinyconfig + guest/x86_64/kernel.config) as an ELF `vmlinux` (PVH entry note)
# and a `bzImage`; busybox from Debian's source (static); guest/tools/*.c (static, native gcc);
# the same init and scripts, packed as initramfs.cpio.gz and as the ext4 image rootfs.ext4.
# Each piece is cached in $KILN_CACHE (default ~/.cache/kiln) under a key made of its inputs.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE/../build/guest-x86_64}
CACHE=${KILN_CACHE:-$HOME/.cache/kiln}
JOBS=$(nproc)
mkdir -p "$OUT" "$CACHE"
OUT=$(cd "$OUT" && pwd)

say() { echo "[guest-x86_64] $*"; }
die() { echo "[guest-x86_64] error: $*" >&2; exit 1; }
command -v gcc >/dev/null || die "gcc missing: run 'make deps' first"
[ "$(uname -m)" = x86_64 ] || die "builds natively: needs an x86-64 host"

# one build at a time per cache (two `make guest` at once would share the kernel's build tree)
exec 9>"$CACHE/guest-x86_64.lock"
flock -n 9 || { say "waiting for another x86-64 guest build to finish"; flock 9; }
# run_with_progress, busybox_source, stage_root, pack_initramfs (shared with the other guest)
. "$HERE/lib/common.sh"

GVER=$(gcc --version | head -1)

# ---------------------------------------------------------------- kernel
LSRC_TAR=/usr/src/linux-source-6.1.tar.xz
[ -f $LSRC_TAR ] || die "$LSRC_TAR missing: run 'make deps' first"
LVER=$(dpkg-query -W -f='${Version}' linux-source-6.1)
KCONF=$HERE/x86_64/kernel.config
KKEY=$( (echo "x86_64 $LVER $GVER"; cat "$KCONF"; sed -n '/^# -- kernel/,/^# -- end kernel/p' "$0") | sha256sum | cut -c1-16)
KDIR=$CACHE/kernel-x86_64-$KKEY
KERNEL_FILES=1850   # files a full build compiles, for the progress estimate (not part of the key)
if [ -f "$KDIR/vmlinux" ] && [ -f "$KDIR/bzImage" ]; then
    say "kernel: cached ($KDIR)"
else
# -- kernel
    # the source tree is shared with guest/build.sh (builds go to separate O= trees)
    KSRC=$CACHE/linux-source-6.1
    KOBJ=$CACHE/linux-build-x86_64
    if [ ! -f "$KSRC/Makefile" ]; then
        say "kernel: unpacking $LSRC_TAR"
        rm -rf "$KSRC.tmp.$$" && mkdir -p "$KSRC.tmp.$$"
        tar -xf $LSRC_TAR -C "$KSRC.tmp.$$" --strip-components=1
        mv "$KSRC.tmp.$$" "$KSRC" 2>/dev/null || rm -rf "$KSRC.tmp.$$"   # lost a race: fine
    fi
    mkdir -p "$KOBJ"
    KMAKE=(make -C "$KSRC" O="$KOBJ" ARCH=x86_64)
    say "kernel: configuring (tinyconfig + guest/x86_64/kernel.config)"
    "${KMAKE[@]}" tinyconfig >"$CACHE/kconfig-x86_64.log" 2>&1
    (cd "$KOBJ" && "$KSRC/scripts/kconfig/merge_config.sh" -m -O "$KOBJ" .config "$KCONF") \
        >>"$CACHE/kconfig-x86_64.log" 2>&1
    "${KMAKE[@]}" olddefconfig >>"$CACHE/kconfig-x86_64.log" 2>&1
    # every =y in the fragment must survive olddefconfig, or the guest silently lacks a driver
    while IFS= read -r line; do
        case "$line" in CONFIG_*=y) grep -qx "$line" "$KOBJ/.config" || die "kernel config lost $line";; esac
    done < "$KCONF"
    say "kernel: compiling Linux $LVER for x86-64 with $JOBS jobs (about 8 min on 2 cores, once)"
    run_with_progress kernel "$CACHE/kernel-x86_64-build.log" $KERNEL_FILES "${KMAKE[@]}" -j"$JOBS" vmlinux bzImage
    rm -rf "$KDIR.tmp" && mkdir -p "$KDIR.tmp"
    cp "$KOBJ/vmlinux" "$KOBJ/arch/x86/boot/bzImage" "$KOBJ/.config" "$KDIR.tmp/"
    rm -rf "$KDIR" && mv "$KDIR.tmp" "$KDIR"
# -- end kernel
fi
# the PVH entry point is an ELF note (XEN_ELFNOTE_PHYS32_ENTRY, type 18, owner "Xen")
notes=$(readelf -n "$KDIR/vmlinux" 2>/dev/null || true)
[[ $notes == *"(0x00000012)"* ]] || die "$KDIR/vmlinux has no PVH entry note (CONFIG_PVH)"
cp "$KDIR/vmlinux" "$KDIR/bzImage" "$OUT/"
cp "$KDIR/.config" "$OUT/kernel.config"

# ---------------------------------------------------------------- busybox
# the source package guest/build.sh fetched (the same directory; fetched here if missing)
busybox_source
BKEY=$( (echo "x86_64 $BVER $GVER"; sed -n '/^# -- busybox/,/^# -- end busybox/p' "$0") | sha256sum | cut -c1-16)
BROOT=$CACHE/busybox-x86_64-$BKEY/root
BUSYBOX_FILES=640   # for the progress estimate (not part of the key)
if [ -x "$BROOT/bin/busybox" ]; then
    say "busybox: cached ($BROOT)"
else
# -- busybox
    BOBJ=$CACHE/busybox-build-x86_64
    rm -rf "$BOBJ" && mkdir -p "$BOBJ"
    BMAKE=(make -C "$BBSRC" O="$BOBJ")
    "${BMAKE[@]}" defconfig >"$CACHE/busybox-x86_64-config.log" 2>&1
    # static, so the initramfs needs no libc; tc does not build against 6.1 uapi headers
    sed -i -e 's/^# CONFIG_STATIC is not set/CONFIG_STATIC=y/' -e 's/^CONFIG_TC=y/# CONFIG_TC is not set/' \
        "$BOBJ/.config"
    say "busybox: compiling $BVER (about 2 min, once)"
    run_with_progress busybox "$CACHE/busybox-x86_64-build.log" $BUSYBOX_FILES "${BMAKE[@]}" -j"$JOBS"
    rm -rf "$BROOT.tmp"
    "${BMAKE[@]}" install CONFIG_PREFIX="$BROOT.tmp" >>"$CACHE/busybox-x86_64-build.log" 2>&1
    mv "$BROOT.tmp" "$BROOT"
# -- end busybox
fi

# ---------------------------------------------------------------- guest tools
# the same guest/tools/NAME.c as the riscv64 guest, compiled natively -> /bin/NAME
shopt -s nullglob; TOOL_SRCS=("$HERE"/tools/*.c); shopt -u nullglob
TKEY=$( (echo "x86_64 $GVER"; for f in "${TOOL_SRCS[@]}"; do echo "== $(basename "$f")"; cat "$f"; done
         sed -n '/^# -- tools/,/^# -- end tools/p' "$0") | sha256sum | cut -c1-16)
TDIR=$CACHE/tools-x86_64-$TKEY
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
        gcc -static -O2 -Wall -o "$TDIR.tmp/$name" "$f" >"$CACHE/tools-x86_64-build.log" 2>&1 ||
            { cat "$CACHE/tools-x86_64-build.log" >&2; die "compiling guest/tools/$name.c failed"; }
        strip "$TDIR.tmp/$name"
    done
    mv "$TDIR.tmp" "$TDIR"
# -- end tools
fi

# ---------------------------------------------------------------- root tree
# the riscv64 guest's tree: /init and /sbin/init, benchmark scripts, DHCP script
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
stage_root "$STAGE" "$BROOT" "$([ ${#TOOL_SRCS[@]} = 0 ] || echo "$TDIR")"

# ---------------------------------------------------------------- initramfs
pack_initramfs "$STAGE"

# ---------------------------------------------------------------- rootfs.ext4
# Rewritten only when the tree or this step changed, so what a guest wrote to it survives the
# next build (as for build/guest/rootfs.ext4); tests boot a copy. Delete it for a fresh one.
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
    AS_ROOT=(); [ "$(id -u)" = 0 ] || { command -v fakeroot >/dev/null && AS_ROOT=(fakeroot --); }
    "${AS_ROOT[@]}" sh -c 'chown -R 0:0 "$1" 2>/dev/null; mkfs.ext4 -q -F -d "$1" -L kilnroot "$2" "$3" >/dev/null' \
        sh "$STAGE" "$ROOTFS.tmp" "${ROOTFS_MIB}M" || die "mkfs.ext4 failed"
    mv "$ROOTFS.tmp" "$ROOTFS"
    echo "$RKEY" >"$ROOTFS.key"
# -- end rootfs
fi
say "done: $OUT/vmlinux ($(du -h "$OUT/vmlinux" | cut -f1)), $OUT/bzImage ($(du -h "$OUT/bzImage" | cut -f1)), $OUT/initramfs.cpio.gz ($(du -h "$OUT/initramfs.cpio.gz" | cut -f1)), $ROOTFS ($(du -h "$ROOTFS" | cut -f1) used of ${ROOTFS_MIB} MiB)"
