#!/bin/bash
# Installs the Debian 12 packages kiln needs to build, test and benchmark.
# Idempotent: does nothing (quickly) when everything is already present.
#
# usage: install-deps.sh              install what is missing (and the deb-src entry)
#        install-deps.sh --src-only   only make sure the deb-src entry exists (no apt-get)
#        install-deps.sh --print-src  print the deb-src entry it would write, change nothing
# env (for tests): KILN_APT_ETC (default /etc/apt), KILN_OS_RELEASE (default /etc/os-release)
set -euo pipefail

PKGS=(build-essential pkg-config libfdt-dev libcriterion-dev libslirp-dev libglib2.0-dev libjansson-dev libseccomp-dev zlib1g-dev curl
      gcc-riscv64-linux-gnu libc6-dev-riscv64-cross binutils-riscv64-linux-gnu
      linux-source-6.1 flex bison bc cpio e2fsprogs xz-utils dpkg-dev
      qemu-system-misc opensbi python3 time
      libelf-dev qemu-system-x86 busybox-static
      clang libclang-rt-14-dev llvm)   # fuzz/: clang's libFuzzer and sanitizer runtimes, llvm-symbolizer

APT_ETC=${KILN_APT_ETC:-/etc/apt}
OS_RELEASE=${KILN_OS_RELEASE:-/etc/os-release}
KILN_SRC=$APT_ETC/sources.list.d/kiln-src.sources
MODE=${1:-install}
case $MODE in
    install|--src-only|--print-src) ;;
    *) echo "usage: $0 [--src-only|--print-src]" >&2; exit 64 ;;
esac

CODENAME=$(. "$OS_RELEASE" 2>/dev/null && echo "${VERSION_CODENAME:-}")
CODENAME=${CODENAME:-bookworm}

# deb822 files other than ours, then one-line files: busybox's source must come from where this
# machine already gets its binary packages (a mirror, a proxy, a snapshot), not a fixed archive.
sources_files() { ls "$APT_ETC"/sources.list.d/*.sources 2>/dev/null | grep -vx "$KILN_SRC" || true; }
list_files() { ls "$APT_ETC"/sources.list "$APT_ETC"/sources.list.d/*.list 2>/dev/null || true; }

# The deb-src stanza for CODENAME main, from the first enabled binary entry that carries it
# (its first URI and its Signed-By, inline keys included). Empty when there is none.
derive_src() {
    local f
    for f in $(sources_files); do
        awk -v want="$CODENAME" '
            function has(list, word,   n, i, a) { n = split(list, a, /[ \t]+/); for (i = 1; i <= n; i++) if (a[i] == word) return 1; return 0 }
            function flush() {
                if (has(types, "deb") && has(suites, want) && has(comps, "main") && tolower(enabled) != "no" && uris != "") {
                    split(uris, u, /[ \t]+/)
                    printf "Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\n", u[1], want
                    if (signed != "") printf "Signed-By:%s\n", signed
                    found = 1; exit
                }
                types = uris = suites = comps = enabled = signed = ""; field = ""
            }
            /^#/ { next }
            /^[ \t]*$/ { flush(); next }
            /^[ \t]/ { if (field == "signed-by") signed = signed "\n" $0; next }
            {
                key = tolower(substr($0, 1, index($0, ":") - 1)); val = substr($0, index($0, ":") + 1)
                field = key; sub(/^[ \t]+/, "", val); sub(/[ \t]+$/, "", val)
                if (key == "types") types = val; else if (key == "uris") uris = val
                else if (key == "suites") suites = val; else if (key == "components") comps = val
                else if (key == "enabled") enabled = val
                else if (key == "signed-by") signed = (val == "" ? "" : " " val)
            }
            END { if (!found) flush() }' "$f" | grep . && return 0
    done
    for f in $(list_files); do
        # deb [opt=v ...] URI SUITE COMPONENT...
        awk -v want="$CODENAME" '
            /^[ \t]*deb[ \t]/ {
                line = $0; sub(/^[ \t]*deb[ \t]+/, "", line); signed = ""
                if (line ~ /^\[/) {
                    opts = substr(line, 2, index(line, "]") - 2); line = substr(line, index(line, "]") + 1)
                    n = split(opts, o, /[ \t]+/)
                    for (i = 1; i <= n; i++) if (o[i] ~ /^signed-by=/) signed = substr(o[i], 11)
                }
                n = split(line, w, /[ \t]+/); k = (w[1] == "" ? 1 : 0)
                if (w[k + 2] != want) next
                for (i = k + 3; i <= n; i++) if (w[i] == "main") {
                    printf "Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\n", w[k + 1], want
                    if (signed != "") printf "Signed-By: %s\n", signed
                    exit
                }
            }' "$f" | grep . && return 0
    done
    return 0
}

# Someone (the image, the admin) already gave this machine a deb-src entry of its own.
have_own_src() {
    local f
    for f in $(sources_files); do
        grep -qiE '^Types:.*deb-src' "$f" && return 0
    done
    for f in $(list_files); do
        grep -qE '^[[:space:]]*deb-src[[:space:]]' "$f" && return 0
    done
    return 1
}

# Writes kiln-src.sources when no deb-src entry exists and ours is missing or stale (the binary
# entry moved to another mirror). Prints what it did; returns 0 if it changed anything.
ensure_src() {
    if have_own_src; then
        return 1
    fi
    local want
    want=$(derive_src)
    if [ -z "$want" ]; then
        echo "[deps] no binary source for '$CODENAME main' in $APT_ETC/sources.list{,.d}: add a deb-src entry" \
             "for it by hand (busybox is built from Debian's source package)" >&2
        exit 1
    fi
    if [ -f "$KILN_SRC" ] && [ "$(cat "$KILN_SRC")" = "$want" ]; then
        return 1
    fi
    echo "[deps] adding deb-src entry for $CODENAME main ($(echo "$want" | sed -n 's/^URIs: //p'))"
    local sudo=""
    [ -w "$(dirname "$KILN_SRC")" ] || sudo="sudo"
    printf '%s\n' "$want" | $sudo tee "$KILN_SRC" >/dev/null
    return 0
}

if [ "$MODE" = "--print-src" ]; then
    derive_src
    exit 0
fi

src_changed=0
ensure_src && src_changed=1
[ "$MODE" = "--src-only" ] && exit 0

# the KVM tests' nested VM (tests/kvm/nested.sh): Debian's x86-64 kernel package, downloaded and
# unpacked into the cache, never installed (quick when it is already there). Not in the
# --print-src/--src-only modes: they only look at the apt sources.
bash "$(dirname "$0")/../tests/kvm/nested.sh" --fetch ||
    echo "[deps] warning: the nested-KVM VM could not be prepared (make kvm-test will retry)" >&2

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ] && [ $src_changed -eq 0 ]; then
    exit 0
fi

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "[deps] installing: ${missing[*]:-(none, refreshing sources)}"
$SUDO apt-get update -q
if [ ${#missing[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
