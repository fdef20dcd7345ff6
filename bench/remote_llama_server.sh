#!/usr/bin/env bash
# Remote models against a real OpenAI-compatible server: llama.cpp's server (PyPI
# llama-cpp-python[server], built from source by bench/setup_llama_cpp.sh, ~10 min the first
# time) serves the default GGUF on loopback, and Hearth answers through `[llm] endpoint` — the
# retrieval, prompt and citation checks stay Hearth's. Each question is asked through the server
# and then with the same model in-process, side by side.
#
#   bash bench/remote_llama_server.sh                      # tests/data/corpus, three questions
#   CORPUS=DIR bash bench/remote_llama_server.sh "Q1" "Q2"  # your folder and questions
#
# Needs a built `hearth` (cargo build --workspace). Not run by CI (the build takes too long).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-/var/cache/hearth-bench/venv}"
HEARTH="${HEARTH_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/hearth}"
MODELS="${HEARTH_MODELS_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/hearth/models}"
GGUF="${GGUF:-$MODELS/qwen2.5-coder-0.5b-instruct-q4km/model.gguf}"
CORPUS="${CORPUS:-$ROOT/tests/data/corpus}"
PORT="${PORT:-8093}"
if [ $# -eq 0 ]; then
  set -- "When do the heron eggs hatch?" "How long should sourdough proof?" \
    "How often should I lubricate the bike chain?"
fi
VENV="$VENV" bash "$ROOT/bench/setup_llama_cpp.sh"
[ -f "$GGUF" ] || { echo "no model at $GGUF (scripts/setup.sh fetches it)" >&2; exit 1; }

tmp="$(mktemp -d)"
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
"$VENV/bin/python" -m llama_cpp.server --model "$GGUF" --model_alias qwen-0.5b \
  --host 127.0.0.1 --port "$PORT" --n_ctx 4096 --n_threads "$(nproc)" >"$tmp/server.log" 2>&1 &
server=$!
for _ in $(seq 120); do
  curl -sf "http://127.0.0.1:$PORT/v1/models" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$tmp/server.log"; exit 1; }
  sleep 1
done
echo "llama.cpp server (llama-cpp-python $("$VENV/bin/python" -c 'import llama_cpp; print(llama_cpp.__version__)')) on 127.0.0.1:$PORT serving $GGUF"

"$HEARTH" --data-dir "$tmp/data" ingest "$CORPUS" --json | python3 -c '
import json, sys
r = json.load(sys.stdin)
print("indexed %d files, %d chunks" % (r["indexed"], r["chunks"]))'
show() {
  python3 -c '
import json, sys
a = json.load(sys.stdin)
def where(c):
    name = c["path"].rsplit("/", 1)[-1]
    return "[%d] %s" % (c["n"], name + (" p%d" % c["page"] if c["page"] else ""))
cites = ", ".join(where(c) for c in a["citations"]) or "none"
print("  %-7s first token %6.0f ms | %r" % (sys.argv[1], a["timings"]["first_token_ms"], a["answer"].strip()[:160]))
print("  %-7s cites: %s%s" % ("", cites, " (declined)" if a["not_found"] else ""))
' "$1"
}
for q in "$@"; do
  echo "Q: $q"
  printf '[llm]\nendpoint = "http://127.0.0.1:%s/v1"\nendpoint_model = "qwen-0.5b"\n' "$PORT" >"$tmp/data/config.toml"
  "$HEARTH" --data-dir "$tmp/data" ask --json "$q" | show remote
  rm "$tmp/data/config.toml"
  "$HEARTH" --data-dir "$tmp/data" ask --json "$q" | show local
done
