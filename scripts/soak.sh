#!/usr/bin/env bash
# Soak: the release daemon against the built-in simulator.
#   scripts/soak.sh [PORTALS=100] [SECONDS=600]
# Prints RSS at start and end, passes and deletions by outcome, and every warning or
# error the daemon logged. Results are recorded in BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
cargo run --release --locked --example soak -- "${1:-100}" "${2:-600}"
