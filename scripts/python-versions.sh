#!/usr/bin/env bash
# The CPython arenas line against each interpreter's own figure, for every CPython found here:
# `python3` on PATH, Debian's /usr/bin/python3, and pyenv's builds (~/.pyenv/versions/3.*),
# each running fixtures/sources/python/objects.py (1.3 million small objects, a 30 MiB
# bytearray). For each: the version, pymalloc's arenas as sys._debugmallocstats() counts them
# (arenas × arena size), and memanalyzer's `python.arenas` line with the pool headers read (the
# default) and by layout alone (-no-memory-reads), as a ratio to that figure. Prints a Markdown
# table (the README's CPython section quotes it).
#
# The live tests (tests/it/python.rs) check the `python3` that CI installs; this script covers
# the versions that cannot be installed everywhere (pyenv builds from source).
#
# Usage: bash scripts/python-versions.sh   (builds the release binary first)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release --quiet
BIN=$PWD/target/release/memanalyzer
TMP=$(mktemp -d "${TMPDIR:-/tmp}/memanalyzer-python-versions.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

main() {
    local pythons=() candidate real python
    for candidate in "$(command -v python3 || true)" /usr/bin/python3 "$HOME"/.pyenv/versions/3.*/bin/python3; do
        [[ -x $candidate ]] || continue
        # The interpreter itself, not a launcher script (pyenv's shims) or a symbolic link.
        real=$("$candidate" -c 'import os, sys; print(os.path.realpath(sys.executable))') || continue
        [[ " ${pythons[*]-} " == *" $real "* ]] || pythons+=("$real")
    done
    echo "| CPython | executable | pymalloc's arenas | headers read | layout alone |"
    echo "|---|---|---|---|---|"
    for python in "${pythons[@]}"; do
        analyze "$python"
    done | sort -t '|' -k 2,2V
}

# analyze PYTHON: its row of the table.
analyze() {
    local python=$1 fifo pid writer
    fifo=$TMP/in
    rm -f "$fifo"
    mkfifo "$fifo"
    "$python" fixtures/sources/python/objects.py <"$fifo" >"$TMP/out" 2>"$TMP/err" &
    pid=$!
    exec {writer}>"$fifo"
    for _ in $(seq 300); do grep -q '^READY' "$TMP/out" && break; sleep 0.1; done
    if ! grep -q '^READY' "$TMP/out"; then
        echo "| $python | (did not start: $(tail -n 1 "$TMP/err")) | | | |"
        exec {writer}>&-
        wait "$pid" || true
        return
    fi
    "$BIN" -pid "$pid" -format json >"$TMP/read.json"
    "$BIN" -pid "$pid" -format json -no-memory-reads >"$TMP/layout.json"
    exec {writer}>&-
    wait "$pid" || true
    python3 - "$python" "$TMP/out" "$TMP/read.json" "$TMP/layout.json" <<'EOF'
import json, sys

python, out, read, layout = sys.argv[1:]
lines = open(out).read().splitlines()
version = next(l.split("=", 1)[1] for l in lines if l.startswith("python.version="))
count, rest = next(l.split(" arenas * ") for l in lines if " arenas * " in l)
truth = int(count) * int(rest.split()[0])


def arenas(path):
    doc = json.load(open(path))
    for section in doc["sections"]:
        for category in section["categories"]:
            if category["id"] == "python.arenas":
                return category["size_bytes"], category["evidence"]
    return 0, "-"


(with_reads, evidence), (by_layout, _) = arenas(read), arenas(layout)
print(f"| {version} | `{python}` | {truth / 2**20:.0f} MiB | {with_reads / truth:.3f} ({evidence})"
      f" | {by_layout / truth:.3f} |")
EOF
}

main
