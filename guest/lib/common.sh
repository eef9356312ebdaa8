# guest/lib/common.sh — what guest/build.sh (riscv64) and guest/build-x86_64.sh share, sourced
# by both after they define say, die, HERE, CACHE and OUT. The kernel, busybox and tools keys
# hash the scripts' own `# -- NAME` sections (and the inputs those name), not this file: moving
# code here changed no key. rootfs.ext4's key hashes the staged tree, so stage_root's output
# (not its text) decides whether the image is rewritten.

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

# Debian's busybox source package, fetched once into $CACHE/busybox-src for both guests.
# Sets BBSRC (the unpacked tree) and BVER (the package version, part of the busybox keys).
busybox_source() {
    local dir=$CACHE/busybox-src
    if ! ls "$dir"/busybox_*.dsc >/dev/null 2>&1; then
        say "busybox: fetching Debian source package"
        rm -rf "$dir" && mkdir -p "$dir"
        (cd "$dir" && apt-get source busybox) >"$CACHE/busybox-src.log" 2>&1 ||
            { tail "$CACHE/busybox-src.log" >&2; die "apt-get source busybox failed (needs a deb-src entry: make deps)"; }
    fi
    BBSRC=$(ls -d "$dir"/busybox-*/ | head -1)
    BVER=$(basename "$(ls "$dir"/busybox_*.dsc)" .dsc)
}

# The root tree in STAGE, one for both the initramfs (/init) and rootfs.ext4 (/sbin/init, the
# kernel's default init on a disk root, replacing busybox's init applet): busybox from BROOT,
# the tools in TDIR (when any), init, the benchmark scripts and the DHCP script.
stage_root() {
    local stage=$1 broot=$2 tdir=$3
    cp -a "$broot/." "$stage/"
    mkdir -p "$stage"/{proc,sys,dev,tmp,root,etc}
    install -m 755 "$HERE/init" "$stage/init"
    rm -f "$stage/sbin/init" && install -m 755 "$HERE/init" "$stage/sbin/init"
    install -m 755 "$HERE/kiln-bench-cpu" "$HERE/kiln-bench-fp" "$HERE/kiln-bench-io" "$stage/bin/"
    [ -z "$tdir" ] || install -m 755 "$tdir"/* "$stage/bin/"
    install -m 755 "$HERE/udhcpc.script" "$stage/etc/udhcpc.script"
    # udhcpc.script writes the resolver config to tmpfs, so a read-only root works too
    ln -s /tmp/resolv.conf "$stage/etc/resolv.conf"
    echo 'export PS1="~ # "' > "$stage/etc/profile"
}

# STAGE packed as $OUT/initramfs.cpio.gz (sorted, every file owned by root)
pack_initramfs() {
    say "initramfs: packing"
    (cd "$1" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 | gzip -9 -n) >"$OUT/initramfs.cpio.gz.tmp"
    mv "$OUT/initramfs.cpio.gz.tmp" "$OUT/initramfs.cpio.gz"
}
