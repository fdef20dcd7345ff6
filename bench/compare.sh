#!/usr/bin/env bash
# Prefill and decode speed of Hearth's engine against llama.cpp on the same GGUF files, same
# prompt length, same thread count, one after the other on an otherwise idle machine.
#   bench/compare.sh [PROMPT_TOKENS,...] [GEN_TOKENS] [MODEL_ID,...]
# Defaults: prompts of 128, 512 and 1,500 tokens, 32 decode steps, every installed instruct
# model of the catalog. Each cell is the median of three runs.
# Needs: the hearth binary built (scripts/demo.sh or cargo build --workspace) and
# bench/setup_llama_cpp.sh (run here if llama-cpp-python is missing).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROMPTS="${1:-128,512,1500}"; GEN="${2:-32}"
MODELS_IDS="${3:-smollm2-135m-instruct-q4_1,gemma3-270m-q4km,qwen2.5-coder-0.5b-instruct-q4km,qwen2.5-coder-1.5b-instruct-q4km}"
THREADS="$(nproc)"
VENV="${VENV:-/var/cache/hearth-bench/venv}"
HEARTH="${HEARTH:-${CARGO_TARGET_DIR:-/var/cache/hearth-target}/debug/hearth}"
MODELS="${HEARTH_MODELS_DIR:-$HOME/.local/share/hearth/models}"
[ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import llama_cpp' 2>/dev/null || bash "$ROOT/bench/setup_llama_cpp.sh"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)   threads: $THREADS   decode: $GEN   kernels: ${HEARTH_KERNELS:-auto}"
printf '%-36s %6s %10s %10s %10s %10s %6s %6s %9s\n' model prompt hearth_pp llama_pp hearth_tg llama_tg pp_x tg_x hearth_rss
for id in ${MODELS_IDS//,/ }; do
  gguf="$MODELS/$id/model.gguf"
  [ -f "$gguf" ] || { echo "skip $id (not fetched: hearth models fetch $id)"; continue; }
  for p in ${PROMPTS//,/ }; do
    if ! h=$("$HEARTH" bench llm --model "$id" --prompt-tokens "$p" --gen-tokens "$GEN" --repeat 3 2>/tmp/hearth-bench.err | tail -1) \
        || [ -z "$h" ]; then
      printf '%-36s %6s hearth failed: %s\n' "$id" "$p" "$(grep -m1 -i error /tmp/hearth-bench.err || echo '?')"
      continue
    fi
    l=$("$VENV/bin/python" "$ROOT/bench/llama_cpp_bench.py" --model "$gguf" --prompt-tokens "$p" \
        --gen-tokens "$GEN" --threads "$THREADS" --repeat 3 --json 2>/dev/null | tail -1)
    python3 - "$id" "$p" "$h" "$l" <<'PY'
import json, sys
i, p, h, l = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
print(f"{i:<36} {p:>6} {h['prefill_tok_s']:10.1f} {l['prefill_tok_s']:10.1f} {h['decode_tok_s']:10.1f} "
      f"{l['decode_tok_s']:10.1f} {h['prefill_tok_s']/l['prefill_tok_s']:6.2f} {h['decode_tok_s']/l['decode_tok_s']:6.2f} "
      f"{h['peak_rss_bytes']/2**20:7.0f}MB")
PY
  done
done
