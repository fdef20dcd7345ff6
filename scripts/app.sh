#!/usr/bin/env bash
# Set up everything (system packages, the default models, the build) and start the Hearth
# desktop app on the default models.
#   scripts/app.sh            # your library in the OS data dir (shared with the `hearth` CLI)
#   scripts/app.sh --sample   # also index the sample corpus first, to try it at once
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SAMPLE=0
[ "${1:-}" = "--sample" ] && { SAMPLE=1; shift; }
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
log "building Hearth (the first build takes a while: LanceDB, candle and Tauri)"
# --workspace: the same feature resolution as the tests, so both share one build.
cargo build --workspace
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug"
if [ "$SAMPLE" = 1 ]; then
  log "indexing the sample corpus"
  "$BIN/hearth" ingest "$ROOT/tests/data/corpus"
fi
if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  echo "No display found. On a desktop session run this again; on a server try:" >&2
  echo "  xvfb-run -a $BIN/hearth-desktop      (or use the CLI: scripts/demo.sh)" >&2
  exit 1
fi
log "starting the desktop app"
exec "$BIN/hearth-desktop" "$@"
