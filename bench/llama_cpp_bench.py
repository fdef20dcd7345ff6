"""Measure llama.cpp prefill and decode speed on a GGUF model.

Reference numbers for our own engine: runs llama.cpp (through
llama-cpp-python, set up by bench/setup_llama_cpp.sh) on a deterministic
prompt of exactly --prompt-tokens tokens, timing the prefill (one batched
eval) and then --gen-tokens greedy decode steps (eval of one token plus
sampling), each repeat starting from an empty KV cache. Reports the median
over the repeats and the first (cold) run.

    /var/cache/hearth-bench/venv/bin/python bench/llama_cpp_bench.py \
        --model PATH/model.gguf --prompt-tokens 512 --gen-tokens 32 \
        --threads 2 --repeat 3 [--json]
"""

import argparse
import json
import statistics
import time

import llama_cpp

TEXT = (
    "The quick brown fox jumps over the lazy dog. A journey of a thousand "
    "miles begins with a single step. In the middle of difficulty lies "
    "opportunity. The library was quiet except for the rustle of pages and "
    "the distant hum of the old radiator by the window. "
)


def build_prompt(llm, n):
    """Exactly n tokens: BOS (if the model has one) + repeated fixed text."""
    bos = llm.token_bos()
    head = [bos] if bos >= 0 else []
    body = llm.tokenize(TEXT.encode(), add_bos=False)
    need = n - len(head)
    return head + (body * (need // len(body) + 1))[:need]


def run_once(llm, prompt, gen_tokens):
    """Return (prefill tok/s, decode tok/s) for one run from an empty cache."""
    llm.reset()  # n_tokens = 0; eval() then drops the whole KV cache
    t0 = time.perf_counter()
    llm.eval(prompt)
    prefill = len(prompt) / (time.perf_counter() - t0)
    token = llm.sample(temp=0.0)  # greedy pick from the prefill logits
    t0 = time.perf_counter()
    for _ in range(gen_tokens):
        llm.eval([token])
        token = llm.sample(temp=0.0)
    decode = gen_tokens / (time.perf_counter() - t0)
    return prefill, decode


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--gen-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true", help="also print one JSON object")
    args = ap.parse_args()

    llm = llama_cpp.Llama(
        model_path=args.model,
        n_ctx=args.prompt_tokens + args.gen_tokens + 16,
        n_threads=args.threads,
        n_threads_batch=args.threads,
        n_batch=max(512, args.prompt_tokens),
        verbose=False,
    )
    prompt = build_prompt(llm, args.prompt_tokens)
    runs = [run_once(llm, prompt, args.gen_tokens) for _ in range(args.repeat)]
    prefill = statistics.median(r[0] for r in runs)
    decode = statistics.median(r[1] for r in runs)

    print(
        f"llama.cpp {llama_cpp.__version__} {args.model}: "
        f"pp{args.prompt_tokens} {prefill:.1f} tok/s, tg{args.gen_tokens} {decode:.1f} tok/s "
        f"(median of {args.repeat}, threads={args.threads}; "
        f"first run {runs[0][0]:.1f} / {runs[0][1]:.1f} tok/s)"
    )
    if args.json:
        print(json.dumps({
            "engine": "llama.cpp",
            "version": llama_cpp.__version__,
            "model": args.model,
            "prompt_tokens": args.prompt_tokens,
            "gen_tokens": args.gen_tokens,
            "threads": args.threads,
            "prefill_tok_s": round(prefill, 2),
            "decode_tok_s": round(decode, 2),
            "first_prefill_tok_s": round(runs[0][0], 2),
            "first_decode_tok_s": round(runs[0][1], 2),
        }))


if __name__ == "__main__":
    main()
