#!/bin/bash
# test_install_deps.sh — scripts/install-deps.sh derives its deb-src entry from the machine's own
# binary source entry (mirrors, one-line sources.list, signed-by) and is idempotent. Runs on
# fake /etc/apt trees (KILN_APT_ETC): never touches the real one, needs no root or network.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SCRIPT=$ROOT/scripts/install-deps.sh
TMP=$(mktemp -d /tmp/kiln-deps-test-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
printf 'ID=debian\nVERSION_CODENAME=bookworm\n' >"$TMP/os-release"
export KILN_OS_RELEASE=$TMP/os-release

passed=0
failed=0
ok() { echo "PASS $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/    | /'; failed=$((failed + 1)); }

etc() {   # a fresh fake /etc/apt named $1
    rm -rf "${TMP:?}/$1"
    mkdir -p "$TMP/$1/sources.list.d"
    echo "$TMP/$1"
}

expect_src() {   # name, apt etc dir, wanted stanza
    local got
    got=$(KILN_APT_ETC=$2 bash "$SCRIPT" --print-src 2>&1)
    if [ "$got" = "$3" ]; then ok "$1"; else bad "$1" "got:
$got
wanted:
$3"; fi
}

# 1. a mirror in deb822, after a security stanza and a disabled one, with comments
E=$(etc mirror)
cat >"$E/sources.list.d/debian.sources" <<'EOF'
# the security archive comes first: it is not bookworm main
Types: deb
URIs: http://security.example.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://disabled.example.org/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb
# URIs: http://deb.debian.org/debian
URIs: http://mirror.example.org/debian http://second.example.org/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /etc/apt/keyrings/mirror.gpg
EOF
expect_src "deb822 mirror: its URI and key, not deb.debian.org" "$E" "Types: deb-src
URIs: http://mirror.example.org/debian
Suites: bookworm
Components: main
Signed-By: /etc/apt/keyrings/mirror.gpg"

# 2. a one-line sources.list with options
E=$(etc oneline)
cat >"$E/sources.list" <<'EOF'
# deb http://commented.example.org/debian bookworm main
deb http://ftp.example.net/debian bookworm-updates main
deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://ftp.example.net/debian bookworm contrib main
EOF
expect_src "one-line sources.list with signed-by" "$E" "Types: deb-src
URIs: http://ftp.example.net/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/x.gpg"

# 3. an inline key block in Signed-By is carried over whole
E=$(etc inline)
printf 'Types: deb\nURIs: http://m.example.org/debian\nSuites: bookworm\nComponents: main\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n abc\n -----END PGP PUBLIC KEY BLOCK-----\n' \
    >"$E/sources.list.d/d.sources"
expect_src "inline Signed-By key block" "$E" "Types: deb-src
URIs: http://m.example.org/debian
Suites: bookworm
Components: main
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 abc
 -----END PGP PUBLIC KEY BLOCK-----"

# 4. --src-only writes the entry once; a second run changes nothing; a new mirror rewrites it
E=$(etc idempotent)
printf 'Types: deb\nURIs: http://one.example.org/debian\nSuites: bookworm\nComponents: main\n' >"$E/sources.list.d/debian.sources"
out1=$(KILN_APT_ETC=$E bash "$SCRIPT" --src-only 2>&1)
first=$(cat "$E/sources.list.d/kiln-src.sources" 2>/dev/null)
if [[ $out1 == *"adding deb-src entry"* ]] && [[ $first == *"URIs: http://one.example.org/debian"* ]]; then
    ok "--src-only writes kiln-src.sources from the binary entry"
else
    bad "--src-only writes kiln-src.sources from the binary entry" "output: $out1
file: $first"
fi
touch -d '2020-01-01' "$E/sources.list.d/kiln-src.sources"
out2=$(KILN_APT_ETC=$E bash "$SCRIPT" --src-only 2>&1)
if [ -z "$out2" ] && [ "$(stat -c %Y "$E/sources.list.d/kiln-src.sources")" = "$(date -d 2020-01-01 +%s)" ]; then
    ok "a second run changes nothing"
else
    bad "a second run changes nothing" "output: $out2"
fi
sed -i 's/one.example.org/two.example.org/' "$E/sources.list.d/debian.sources"
KILN_APT_ETC=$E bash "$SCRIPT" --src-only >/dev/null 2>&1
if grep -q "URIs: http://two.example.org/debian" "$E/sources.list.d/kiln-src.sources"; then
    ok "a moved binary entry updates ours"
else
    bad "a moved binary entry updates ours" "$(cat "$E/sources.list.d/kiln-src.sources")"
fi

# 5. a deb-src entry of the machine's own: nothing written
E=$(etc own)
printf 'deb http://a.example.org/debian bookworm main\ndeb-src http://a.example.org/debian bookworm main\n' >"$E/sources.list"
KILN_APT_ETC=$E bash "$SCRIPT" --src-only >/dev/null 2>&1
if [ ! -e "$E/sources.list.d/kiln-src.sources" ]; then ok "an existing deb-src entry is left alone"
else bad "an existing deb-src entry is left alone"; fi

# 6. nothing to derive from: a clear error, not a guessed URI
E=$(etc none)
printf 'Types: deb\nURIs: http://s.example.org/debian-security\nSuites: bookworm-security\nComponents: main\n' \
    >"$E/sources.list.d/debian.sources"
out=$(KILN_APT_ETC=$E bash "$SCRIPT" --src-only 2>&1)
rc=$?
if [ $rc -ne 0 ] && [[ $out == *"no binary source for 'bookworm main'"* ]] && [ ! -e "$E/sources.list.d/kiln-src.sources" ]; then
    ok "no binary entry: an error naming what is missing"
else
    bad "no binary entry: an error naming what is missing" "exit $rc: $out"
fi

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
