#!/usr/bin/env bash
# Writes the man page and shell completions that memanalyzer generates from its clap definition
# (`memanalyzer --generate WHAT`) into man/ and completions/. Run it after changing a flag or its
# help, and commit the result; `cargo test` fails while the committed files are stale.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --bin memanalyzer
bin=target/debug/memanalyzer
"$bin" --generate man > man/memanalyzer.1
for shell in bash zsh fish; do
    "$bin" --generate "$shell" > "completions/memanalyzer.$shell"
done
"$bin" --generate powershell > completions/memanalyzer.ps1
echo "wrote man/memanalyzer.1 and completions/memanalyzer.{bash,zsh,fish,ps1}"
