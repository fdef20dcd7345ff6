#!/usr/bin/env bash
# Set up everything, index a folder (default: the sample corpus), search it and ask a question
# answered on this machine by the default language model, with citations.
#   scripts/demo.sh [FOLDER] [QUESTION]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
FOLDER="${1:-$ROOT/tests/data/corpus}"
QUERY="${2:-How thick did the ice get in February 2019?}"
cd "$ROOT"
log "building hearth"
cargo build --workspace  # the same feature resolution as the tests and the app
HEARTH="${CARGO_TARGET_DIR:-$ROOT/target}/debug/hearth"
export HEARTH_DATA_DIR="${HEARTH_DATA_DIR:-$ROOT/.hearth-demo}"
log "indexing $FOLDER into $HEARTH_DATA_DIR"
"$HEARTH" ingest "$FOLDER"
log "searching: $QUERY"
"$HEARTH" search "$QUERY" --limit 3
log "asking: $QUERY"
"$HEARTH" ask "$QUERY"
"$HEARTH" status
echo
echo "Try more:  $HEARTH ask \"your question\"  |  $HEARTH chat  |  $HEARTH summarize FILE"
echo "           (HEARTH_DATA_DIR=$HEARTH_DATA_DIR)"
