#!/usr/bin/env bash
# `hearth serve` against real clients: the official `openai` Python package (from PyPI, in a
# venv made here) and curl, over a real library of tests/data/corpus. Needs a built `hearth`
# (`cargo build --workspace`); scripts/test.sh runs it after the Rust tests.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${HEARTH_API_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/hearth/api-venv}"
source "$ROOT/tests/serve_corpus.sh"
python_client "$VENV" openai "openai>=1.40,<3"
serve_corpus
token="$(cat "$tmp/data/api-token")"

passed=0
check() { # name, expected, actual
  if [ "$2" = "$3" ]; then passed=$((passed + 1)); else
    echo "FAILED: $1: expected '$2', got '$3'" >&2; cat "$tmp/serve.log" >&2; exit 1; fi
}
auth=(-H "Authorization: Bearer $token")
check "health without a token" 200 "$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/health")"
check "status without a token" 401 "$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/api/status")"
check "search" field-guide.pdf "$(curl -s "${auth[@]}" -d '{"query":"when do the heron eggs hatch","limit":1}' \
  "http://$addr/api/search" | python3 -c 'import json,sys,os; print(os.path.basename(json.load(sys.stdin)["hits"][0]["path"]))')"
check "documents" 6 "$(curl -s "${auth[@]}" "http://$addr/api/documents" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["documents"]))')"
summary="$(curl -sN "${auth[@]}" -d "{\"path\":\"$ROOT/tests/data/corpus/field-guide.pdf\"}" "http://$addr/api/summarize")"
check "summarize streams tokens then the summary" summary "$(printf '%s\n' "$summary" | sed -n 's/^data: //p' | tail -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["type"])')"
check "summarize outside the library" 400 "$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" -d '{"path":"/etc/passwd"}' "http://$addr/api/summarize")"
check "remove a document" 1 "$(curl -s -X DELETE "${auth[@]}" "http://$addr/api/documents?path=$ROOT/tests/data/corpus/notes/sourdough.md" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["removed"]))')"

results="$tmp/python.log"
if HEARTH_API_BASE="http://$addr/v1" HEARTH_API_TOKEN="$token" \
  "$VENV/bin/python" "$ROOT/tests/api/openai_client.py" >"$results" 2>&1; then
  py=$(grep -c ' ... ok$' "$results" || true)
  echo "api tests: $((passed + py)) passed (curl $passed, openai client $py)"
else
  cat "$results" >&2; cat "$tmp/serve.log" >&2; exit 1
fi
