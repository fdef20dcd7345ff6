#!/usr/bin/env bash
# The language model's kernel tests (`src/llm`) under Valgrind's memcheck, once per kernel
# switch: reads and writes outside their buffers and reads of uninitialised memory are errors.
# Miri cannot run them (it would need the nightly toolchain's miri component, which cannot be
# fetched here, and it does not run most x86 SIMD intrinsics); memcheck runs the real AVX2
# code. HEARTH_VNNI=0 throughout: Valgrind 3.19 does not decode AVX-512 (the VNNI kernels are
# compared with the AVX2 ones by the same tests on a processor that has it).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
command -v valgrind >/dev/null || { echo "memcheck: valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
bin="$(cargo test --workspace --lib --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "hearth" \
            and m["profile"]["test"] and m.get("executable"):
        print(m["executable"])')"
[ -x "$bin" ] || { echo "memcheck: no engine test binary" >&2; exit 1; }
for switch in "" HEARTH_LANES=0 HEARTH_KQUANT=0 HEARTH_KERNELS=gemm; do
  echo "memcheck: src/llm tests${switch:+ with $switch}"
  # the routing test asserts the default choice, which a switch changes by design
  out="$(mktemp)"
  rc=0
  env HEARTH_VNNI=0 $switch valgrind --error-exitcode=9 --quiet "$bin" llm:: --test-threads=1 \
    ${switch:+--skip k_quants_decode_over_their_own_blocks_like_candle} >"$out" 2>&1 || rc=$?
  grep -E '^test result|^==' "$out" || true
  if [ "$rc" != 0 ]; then
    cat "$out" >&2
    echo "memcheck: errors or failures${switch:+ with $switch} (exit $rc)" >&2
    exit 1
  fi
  rm -f "$out"
done
echo "memcheck: clean"
