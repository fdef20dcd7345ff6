#!/usr/bin/env bash
# This build of hearth (baseline x86-64, kernels chosen at run time) against another build of
# it, e.g. one made with RUSTFLAGS="-C target-cpu=x86-64-v3" (what Hearth shipped before):
# prefill and decode of a language model (`hearth bench llm`) and the encoder's speed
# (`hearth bench embed`), the two binaries alternating, ROUNDS rounds; prints each run, then
# the medians and their ratio (this build / the other).
#   bench/dispatch.sh OTHER_HEARTH [ROUNDS] [MODEL_ID] [PROMPT_TOKENS]
# Defaults: 3 rounds, qwen2.5-coder-1.5b-instruct-q4km, 400 prompt tokens (the answerer and
# prompt size the automatic choice takes on a 2-core machine), 32 decode steps.
set -euo pipefail
OTHER="${1:?usage: bench/dispatch.sh OTHER_HEARTH [ROUNDS] [MODEL_ID] [PROMPT_TOKENS]}"
ROUNDS="${2:-3}"
MODEL="${3:-qwen2.5-coder-1.5b-instruct-q4km}"
PROMPT="${4:-400}"
HEARTH="${HEARTH:-${CARGO_TARGET_DIR:-/var/cache/hearth-target}/debug/hearth}"
[ -x "$OTHER" ] || { echo "error: $OTHER is not an executable" >&2; exit 2; }
[ -x "$HEARTH" ] || { echo "error: $HEARTH is not built (cargo build --workspace)" >&2; exit 2; }
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
echo "this build: $HEARTH"
echo "other:      $OTHER"
# (the whole list read: grep -m1 would stop it with SIGPIPE, a failure under pipefail)
echo "kernels here: $("$HEARTH" models list 2>/dev/null | grep -o 'kernels: .*' | head -1)"
run() { # run NAME BINARY
  local llm embed
  llm="$("$2" bench llm --model "$MODEL" --prompt-tokens "$PROMPT" --gen-tokens 32 --repeat 3 | tail -1)"
  embed="$("$2" bench embed | awk '/hearth int8/ {print $3; exit}')"
  python3 - "$1" "$llm" "${embed:-0}" <<'PY' | tee -a "$out"
import json, sys
name, llm, embed = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3])
print(f"{name} {llm['prefill_tok_s']:.1f} {llm['decode_tok_s']:.1f} {embed:.0f}")
PY
}
echo "run: build prefill_tok/s decode_tok/s encoder_tokens/s"
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then run this "$HEARTH"; run other "$OTHER"; else run other "$OTHER"; run this "$HEARTH"; fi
done
python3 - "$out" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
med = {n: [statistics.median(float(r[i]) for r in rows if r[0] == n) for i in (1, 2, 3)] for n in ("this", "other")}
# each round's two runs are neighbours in time: their ratio is free of the machine's drift
# over the rounds, so the median of the per-round ratios is the steadier comparison
this = [r for r in rows if r[0] == "this"]
other = [r for r in rows if r[0] == "other"]
for i, what in enumerate(("prefill tok/s", "decode tok/s", "encoder tokens/s"), start=1):
    a, b = med["this"][i - 1], med["other"][i - 1]
    paired = [float(x[i]) / float(y[i]) for x, y in zip(this, other) if float(y[i])]
    print(f"{what:<18} this {a:9.1f}   other {b:9.1f}   this/other {a / b if b else float('nan'):.3f}"
          f"   per-round ratios median {statistics.median(paired) if paired else float('nan'):.3f}"
          f" (min {min(paired, default=float('nan')):.3f}, max {max(paired, default=float('nan')):.3f})")
PY
