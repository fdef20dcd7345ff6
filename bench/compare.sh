#!/usr/bin/env bash
# Prefill and decode speed of Hearth's engine against llama.cpp on the same GGUF files, same
# prompt length, same thread count, one after the other on an otherwise idle machine.
#   bench/compare.sh [PROMPT_TOKENS] [GEN_TOKENS]
# Needs: the hearth binary built (scripts/demo.sh or cargo build -p hearth-cli) and
# bench/setup_llama_cpp.sh (run here if llama-cpp-python is missing).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROMPT="${1:-512}"; GEN="${2:-32}"; THREADS="$(nproc)"
VENV="${VENV:-/var/cache/hearth-bench/venv}"
HEARTH="${HEARTH:-${CARGO_TARGET_DIR:-/var/cache/hearth-target}/debug/hearth}"
MODELS="${HEARTH_MODELS_DIR:-$HOME/.local/share/hearth/models}"
[ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import llama_cpp' 2>/dev/null || bash "$ROOT/bench/setup_llama_cpp.sh"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)   threads: $THREADS   prompt: $PROMPT   decode: $GEN"
printf '%-36s %12s %12s %12s %12s %7s %7s\n' model hearth_pp llamacpp_pp hearth_tg llamacpp_tg pp_x tg_x
for id in smollm2-135m-instruct-q4_1 qwen2.5-coder-0.5b-instruct-q4km; do
  gguf="$MODELS/$id/model.gguf"
  [ -f "$gguf" ] || { echo "skip $id (not fetched)"; continue; }
  h=$("$HEARTH" bench llm --model "$id" --prompt-tokens "$PROMPT" --gen-tokens "$GEN" --repeat 3 | tail -1)
  l=$("$VENV/bin/python" "$ROOT/bench/llama_cpp_bench.py" --model "$gguf" --prompt-tokens "$PROMPT" \
      --gen-tokens "$GEN" --threads "$THREADS" --repeat 3 --json | tail -1)
  python3 - "$id" "$h" "$l" <<'PY'
import json, sys
i, h, l = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
print(f"{i:<36} {h['prefill_tok_s']:12.1f} {l['prefill_tok_s']:12.1f} {h['decode_tok_s']:12.1f} "
      f"{l['decode_tok_s']:12.1f} {h['prefill_tok_s']/l['prefill_tok_s']:7.2f} {h['decode_tok_s']/l['decode_tok_s']:7.2f}")
PY
done
