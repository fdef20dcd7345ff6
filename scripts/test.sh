#!/usr/bin/env bash
# Set up everything and run the checks and the tests (what CI runs).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
# The generation tests also run SmolLM2-135M (98 MB, fast) and Gemma 3 270M (253 MB, the gemma3
# architecture and a SentencePiece vocabulary).
python3 "$ROOT/models/fetch.py" ${HEARTH_MODELS_DIR:+--models-dir "$HEARTH_MODELS_DIR"} \
  smollm2-135m-instruct-q4_1 gemma3-270m-q4km
cd "$ROOT"
start=$(date +%s)
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
log "cargo test"
results="$(mktemp)"
cargo test --workspace --all-targets -- --test-threads=2 2>&1 | tee "$results"
passed=$(awk '/^test result:/ {for (i = 1; i <= NF; i++) if ($i ~ /^passed;?$/) s += $(i-1)} END {print s + 0}' "$results")
failed=$(awk '/^test result:/ {for (i = 1; i <= NF; i++) if ($i ~ /^failed;?$/) s += $(i-1)} END {print s + 0}' "$results")
rm -f "$results"
log "all checks passed in $(( $(date +%s) - start )) s"
echo "tests: $passed passed, $failed failed"
