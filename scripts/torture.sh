#!/usr/bin/env bash
# Torture test of crash safety: kill -9 an ingest of a real mixed corpus N times at random
# moments, let the last run finish, and check that the recovered index equals a clean ingest's
# (same documents and content hashes, same chunk counts, same top hits for a set of queries) and
# that one more ingest embeds nothing.
#   scripts/torture.sh [N=20] [CORPUS=<models dir>/eval-real] [--reindex]
# With --reindex the victim is a library being rebuilt for new chunk sizes (`hearth reindex`):
# after every kill the old index must still be the one in use, a search loop in another process
# runs throughout and must never fail, and the finished rebuild must equal a clean ingest made
# with the new sizes.
# Needs the built CLI (cargo build --workspace) and the models (scripts/setup.sh). Takes a clean
# ingest, N runs killed 3 s to min(50 s, a quarter of a clean ingest) in, and a resumed one (~14 min for eval-real and N=15 on 2 cores).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODE=ingest
ARGS=()
for a in "$@"; do
  if [ "$a" = --reindex ]; then MODE=reindex; else ARGS+=("$a"); fi
done
N="${ARGS[0]:-20}"
MODELS="${HEARTH_MODELS_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/hearth/models}"
CORPUS="${ARGS[1]:-$MODELS/eval-real}"
# The rebuild's target: chunks other than the default 200/32.
NEW_CHUNKS='[chunking]
chunk_tokens = 128
overlap_tokens = 16
'
BATCHES='[ingest]
files_per_batch = 2
chunks_per_batch = 64
'
[ -d "$CORPUS" ] || { echo "no corpus at $CORPUS (run scripts/test.sh's fetch, or pass one)" >&2; exit 2; }
TARGET="${CARGO_TARGET_DIR:-$( [ -d /var/cache/hearth-target ] && echo /var/cache/hearth-target || echo "$ROOT/target")}"
HEARTH="$TARGET/debug/hearth"
[ -x "$HEARTH" ] || { echo "no $HEARTH: run cargo build --workspace first" >&2; exit 2; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
h() { "$HEARTH" --models-dir "$MODELS" "$@"; }

echo "corpus: $CORPUS (mode: $MODE)"
mkdir -p "$WORK/clean" "$WORK/victim"
[ "$MODE" = reindex ] && printf '%s' "$NEW_CHUNKS" > "$WORK/clean/config.toml"
start=$(date +%s)
h --data-dir "$WORK/clean" ingest "$CORPUS" --json > "$WORK/clean.json"
clean_s=$(( $(date +%s) - start ))
echo "clean ingest: ${clean_s} s: $(cat "$WORK/clean.json" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["indexed"], "indexed,", r["chunks"], "chunks,", len(r["failed"]), "failed")')"

# The victim commits small batches (2 files / 64 chunks: many commits for the kills to land in;
# batching does not change what is indexed). Kill moments are random over model loading,
# extraction, embedding, commits and index building; each run resumes what the previous one
# left (a file is committed whole, so a run killed before its big file is embedded adds
# nothing). Runs continue until N kills hit a run that was still working (at most 3N runs).
if [ "$MODE" = reindex ]; then
  # The library as it was, then the new sizes configured, and a reader in another process
  # searching until the end.
  h --data-dir "$WORK/victim" ingest "$CORPUS" --json > /dev/null
  old_index=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["index_dir"])' "$WORK/victim/meta.json")
  old_docs=$(h --data-dir "$WORK/victim" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["documents"])')
  printf '%s%s' "$NEW_CHUNKS" "$BATCHES" > "$WORK/victim/config.toml"
  touch "$WORK/reading"
  ( ok=0; failed=0
    while [ -f "$WORK/reading" ]; do
      if h --data-dir "$WORK/victim" search "how do I create a database role" --mode vector --limit 3 --json \
           > /dev/null 2>> "$WORK/reader.err"; then ok=$((ok + 1)); else failed=$((failed + 1)); fi
    done
    echo "$ok $failed" > "$WORK/reader.count" ) &
  reader=$!
  job=(reindex --json)
else
  printf '%s' "$BATCHES" > "$WORK/victim/config.toml"
  job=(ingest "$CORPUS" --json)
fi
kills=0; finished_early=0; i=0
while [ "$kills" -lt "$N" ] && [ "$i" -lt $((3 * N)) ]; do
  i=$((i + 1))
  # A rebuild is killed anywhere in its run (it takes about a clean ingest), so that some kills
  # land after commits and the next run must resume.
  if [ "$MODE" = reindex ]; then top="$clean_s * 0.9"; else top="min(50.0, $clean_s / 4)"; fi
  delay=$(python3 -c "import random; print(round(random.uniform(3.0, max(5.0, $top)), 2))")
  # The binary itself in the background (not through a function: $! would be a subshell's pid
  # and kill -9 would miss the ingest).
  "$HEARTH" --models-dir "$MODELS" --data-dir "$WORK/victim" "${job[@]}" \
    > "$WORK/run.json" 2>/dev/null &
  pid=$!
  sleep "$delay"
  if kill -9 "$pid" 2>/dev/null; then
    kills=$((kills + 1))
  else
    finished_early=$((finished_early + 1))
    wait "$pid" 2>/dev/null || true
    # A run that found nothing to do means the index is complete: no more kills can land.
    if python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); r=r.get("ingest", r); sys.exit(0 if r["indexed"] == 0 else 1)' "$WORK/run.json" 2>/dev/null; then
      echo "the index was complete after $kills kills"; break
    fi
  fi
  wait "$pid" 2>/dev/null || true
  if kill -0 "$pid" 2>/dev/null; then echo "FAIL: the ingest survived kill -9" >&2; exit 1; fi
  # The index must open and answer after every kill.
  h --data-dir "$WORK/victim" status --json > "$WORK/status.json" \
    || { echo "FAIL: the index does not open after kill $i" >&2; exit 1; }
  if [ "$MODE" = reindex ]; then
    if ! grep -q '"index_change": {' "$WORK/status.json"; then
      # The run switched before its kill: nothing more to kill.
      echo "the rebuild was complete after $kills kills"; break
    fi
    python3 - "$WORK" "$old_index" "$old_docs" <<'EOF' || exit 1
import json, sys
work, old_index, old_docs = sys.argv[1], sys.argv[2], int(sys.argv[3])
meta = json.load(open(f"{work}/victim/meta.json"))
status = json.load(open(f"{work}/status.json"))
if meta["index_dir"] != old_index or status["documents"] != old_docs:
    print(f"FAIL: after a killed rebuild the library uses {meta['index_dir']} with {status['documents']} documents, not {old_index} with {old_docs}")
    sys.exit(1)
EOF
  fi
  printf 'run %2d, kill at %5.2f s: %s documents, %s chunks\n' "$i" "$delay" \
    "$(python3 -c 'import json; s=json.load(open("'"$WORK"'/status.json")); print(s["documents"])')" \
    "$(python3 -c 'import json; s=json.load(open("'"$WORK"'/status.json")); print(s["chunks"])')"
done
h --data-dir "$WORK/victim" "${job[@]}" > "$WORK/resume.json"
h --data-dir "$WORK/victim" ingest "$CORPUS" --json > "$WORK/again.json"
if [ "$MODE" = reindex ]; then
  sleep 2; rm -f "$WORK/reading"; wait "$reader"
  read -r searched search_failed < "$WORK/reader.count"
  echo "reader: $searched searches in another process during the rebuilds, $search_failed failed"
  [ "$search_failed" = 0 ] || { echo "FAIL: searches failed during the rebuild:"; sort -u "$WORK/reader.err" | head -5; exit 1; }
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("final reindex: switched", r["switched"], "- re-indexed", r["ingest"]["indexed"], "kept from killed runs", r["ingest"]["skipped"])' "$WORK/resume.json"
  [ ! -d "$WORK/victim/$old_index" ] || { echo "FAIL: the old index folder is still there"; exit 1; }
fi

for d in clean victim; do
  h --data-dir "$WORK/$d" documents --json > "$WORK/$d-docs.json"
  for q in "how do I create a database role" "bash parameter expansion default value" \
           "gnuplot set logscale" "debian apt pinning priority" "vacuum full locks the table" \
           "plot data from a file with columns"; do
    for m in vector text; do
      h --data-dir "$WORK/$d" search "$q" --mode "$m" --limit 5 --json
    done
  done > "$WORK/$d-hits.json"
done

python3 - "$WORK" "$kills" "$finished_early" <<'EOF'
import json, sys
work, kills, early = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def docs(d):
    return {x["path"]: (x["hash"], x["chunks"], x["pages"], x["kind"]) for x in json.load(open(f"{work}/{d}-docs.json"))}
def hits(d):
    out = []
    for line in open(f"{work}/{d}-hits.json"):
        out.append([(h["path"], h["page"], h["text"]) for h in json.loads(line)])
    return out
clean, victim = docs("clean"), docs("victim")
again = json.load(open(f"{work}/again.json"))
problems = []
if clean != victim:
    missing = sorted(set(clean) - set(victim)); extra = sorted(set(victim) - set(clean))
    differ = sorted(p for p in set(clean) & set(victim) if clean[p] != victim[p])
    problems.append(f"documents differ: missing {missing[:5]}, extra {extra[:5]}, different {differ[:5]}")
if hits("clean") != hits("victim"):
    problems.append("top hits differ")
if again["indexed"] != 0 or again["removed"] != 0:
    problems.append(f"a further ingest embedded {again['indexed']} and removed {again['removed']}")
chunks = sum(v[1] for v in clean.values())
print(f"{kills} kill -9s ({early} runs had finished before their kill); "
      f"recovered index: {len(victim)} documents, {sum(v[1] for v in victim.values())} chunks "
      f"(clean: {len(clean)}, {chunks}); top-5 hits of 12 searches equal: {hits('clean') == hits('victim')}; "
      f"further ingest embedded {again['indexed']}")
if problems:
    print("FAIL: " + "; ".join(problems)); sys.exit(1)
print("PASS")
EOF
