#!/usr/bin/env bash
# Hearth's MCP server, over stdio (`hearth mcp`) and Streamable HTTP (`/mcp` in `hearth serve`),
# against the official MCP Python SDK (`mcp` from PyPI, in a venv made here) over a real library
# of tests/data/corpus and three real third-party pages (PostgreSQL's and the Debian Reference's
# HTML, from the real-document corpus scripts/test.sh fetches). Needs a built `hearth`;
# scripts/test.sh runs it after the Rust tests.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${HEARTH_MCP_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/hearth/mcp-venv}"
source "$ROOT/tests/serve_corpus.sh"
python_client "$VENV" mcp "mcp>=2.3,<3"
REAL="${HEARTH_MODELS_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/hearth/models}/eval-real"
[ -f "$REAL/postgresql/backup-dump.html" ] ||
  { echo "no real-document corpus at $REAL: run eval/fetch-corpus.sh $REAL" >&2; exit 1; }
serve_corpus "$REAL/postgresql/backup-dump.html" "$REAL/postgresql/auth-pg-hba-conf.html" \
  "$REAL/debian-reference/ch05.en.html"
results="$tmp/mcp.log"
if HEARTH_BIN="$HEARTH" HEARTH_DATA="$tmp/data" HEARTH_MCP_LOG="$tmp/server.log" \
  HEARTH_MCP_URL="http://$addr/mcp" HEARTH_TOKEN="$(cat "$tmp/data/api-token")" \
  HEARTH_SERVE_LOG="$tmp/serve.log" \
  "$VENV/bin/python" "$ROOT/tests/mcp/client.py" >"$results" 2>&1; then
  cat "$results"
  echo "mcp tests: $(grep -c ' ... ok$' "$results") passed"
else
  cat "$results" >&2; cat "$tmp/server.log" "$tmp/serve.log" >&2 2>/dev/null || true; exit 1
fi
