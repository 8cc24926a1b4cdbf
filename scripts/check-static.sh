#!/usr/bin/env bash
# Builds memanalyzer as a fully static binary (for copying into pods and distroless images) and
# checks that it has no dynamic dependencies and runs with an empty environment and in an empty
# chroot. Usage: bash scripts/check-static.sh   (prints the binary's path and size on success)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

target=x86_64-unknown-linux-gnu
RUSTFLAGS='-C target-feature=+crt-static' cargo build --locked --release --bin memanalyzer --target "$target"
binary="target/$target/release/memanalyzer"

echo "== static: $binary ($(stat -c %s "$binary") bytes)"
ldd_says=$(ldd "$binary" 2>&1 || true)
if echo "$ldd_says" | grep -Eq "not a dynamic executable|statically linked"; then
    echo "ldd: $(echo "$ldd_says" | tr -d '\t')"
else
    echo "FAIL: $binary has dynamic dependencies:" >&2
    echo "$ldd_says" >&2
    exit 1
fi
if readelf -l "$binary" | grep -q INTERP; then
    echo "FAIL: $binary asks for a program interpreter (dynamic loader)" >&2
    exit 1
fi

# An empty environment: no PATH, no HOME, no locale.
env -i "$binary" --version
env -i "$binary" -pid $$ | grep -q "RSS (Resident):"
echo "env -i: runs"

# An empty root, as in a distroless image: only the binary, no /proc, no /etc, no libraries.
if [ "$(id -u)" = 0 ] && command -v chroot >/dev/null; then
    root=$(mktemp -d)
    trap 'rm -rf "$root"' EXIT
    cp "$binary" "$root/memanalyzer"
    chroot "$root" /memanalyzer --version
    # Without /proc inside, a capture on stdin is the way in.
    cat /proc/$$/smaps | chroot "$root" /memanalyzer -file - | grep -q "RSS (Resident):"
    # And a live -pid must say it needs /proc, not crash.
    if chroot "$root" /memanalyzer -pid 1 2>"$root/err"; then
        echo "FAIL: -pid without /proc succeeded" >&2
        exit 1
    fi
    grep -q "needs Linux's /proc" "$root/err"
    echo "empty chroot: runs (-file -, and -pid explains it needs /proc)"
else
    echo "empty chroot: skipped (needs root and chroot)"
fi
echo "== static binary OK"
