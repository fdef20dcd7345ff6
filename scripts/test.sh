#!/usr/bin/env bash
# Set up everything and run the checks and the tests (what CI runs).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
start=$(date +%s)
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
log "cargo test"
cargo test --workspace -- --test-threads=2
log "all checks passed in $(( $(date +%s) - start )) s"
