#!/bin/bash
# Installs the Debian 12 packages kiln needs to build, test and benchmark.
# Idempotent: does nothing (quickly) when everything is already present.
set -euo pipefail

PKGS=(build-essential pkg-config libfdt-dev libcriterion-dev libslirp-dev libglib2.0-dev libjansson-dev zlib1g-dev curl
      gcc-riscv64-linux-gnu libc6-dev-riscv64-cross binutils-riscv64-linux-gnu
      linux-source-6.1 flex bison bc cpio e2fsprogs xz-utils dpkg-dev
      qemu-system-misc opensbi python3 time)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done

need_src=0
if ! ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1 || \
   ! grep -qs "deb-src" /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null; then
    need_src=1
fi

if [ ${#missing[@]} -eq 0 ] && [ $need_src -eq 0 ]; then
    exit 0
fi

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

if [ $need_src -eq 1 ]; then
    # busybox is built from Debian's source package: add a deb-src entry for bookworm main
    # with the same URI and keyring as the binary entry.
    echo "[deps] adding deb-src entry for bookworm main"
    $SUDO tee /etc/apt/sources.list.d/kiln-src.sources >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

echo "[deps] installing: ${missing[*]:-(none, refreshing sources)}"
$SUDO apt-get update -q
if [ ${#missing[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
