#!/usr/bin/env bash
# Builds the Debian package: the release binary (once; skipped when it is newer than
# every source), the man page and completions the binary prints, then `cargo deb`.
# Prints the path of the .deb. Needs cargo-deb (`cargo install cargo-deb --locked`).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
bin=target/release/docspace-retention
mkdir -p target/assets
"$bin" man | gzip -9n > target/assets/docspace-retention.1.gz
"$bin" completions bash > target/assets/docspace-retention.bash
"$bin" completions zsh > target/assets/_docspace-retention
"$bin" completions fish > target/assets/docspace-retention.fish
log=target/assets/cargo-deb.log
cargo deb --no-build --locked --no-strip > "$log" 2>&1 || { cat "$log" >&2; exit 1; }
tail -1 "$log"
