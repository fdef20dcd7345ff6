#!/usr/bin/env bash
# `hearth mcp` (stdio) against the official MCP Python SDK (`mcp` from PyPI, in a venv made
# here) over a real library of tests/data/corpus. Needs a built `hearth`; scripts/test.sh runs
# it after the Rust tests.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HEARTH="${HEARTH_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/hearth}"
VENV="${HEARTH_MCP_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/hearth/mcp-venv}"
if ! "$VENV/bin/python" -c "import mcp" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q "mcp>=2.3,<3"
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$HEARTH" --data-dir "$tmp/data" ingest "$ROOT/tests/data/corpus" --json >/dev/null
results="$tmp/mcp.log"
if HEARTH_BIN="$HEARTH" HEARTH_DATA="$tmp/data" HEARTH_MCP_LOG="$tmp/server.log" \
  "$VENV/bin/python" "$ROOT/tests/mcp/client.py" >"$results" 2>&1; then
  cat "$results"
  echo "mcp tests: $(grep -c ' ... ok$' "$results") passed"
else
  cat "$results" >&2; cat "$tmp/server.log" >&2 2>/dev/null || true; exit 1
fi
