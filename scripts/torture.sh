#!/usr/bin/env bash
# Torture test of crash safety: kill -9 an ingest of a real mixed corpus N times at random
# moments, let the last run finish, and check that the recovered index equals a clean ingest's
# (same documents and content hashes, same chunk counts, same top hits for a set of queries) and
# that one more ingest embeds nothing.
#   scripts/torture.sh [N=20] [CORPUS=<models dir>/eval-real]
# Needs the built CLI (cargo build --workspace) and the models (scripts/setup.sh). Takes a clean
# ingest, N runs killed 3 s to min(50 s, a quarter of a clean ingest) in, and a resumed one (~14 min for eval-real and N=15 on 2 cores).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N="${1:-20}"
MODELS="${HEARTH_MODELS_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/hearth/models}"
CORPUS="${2:-$MODELS/eval-real}"
[ -d "$CORPUS" ] || { echo "no corpus at $CORPUS (run scripts/test.sh's fetch, or pass one)" >&2; exit 2; }
TARGET="${CARGO_TARGET_DIR:-$( [ -d /var/cache/hearth-target ] && echo /var/cache/hearth-target || echo "$ROOT/target")}"
HEARTH="$TARGET/debug/hearth"
[ -x "$HEARTH" ] || { echo "no $HEARTH: run cargo build --workspace first" >&2; exit 2; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
h() { "$HEARTH" --models-dir "$MODELS" "$@"; }

echo "corpus: $CORPUS"
start=$(date +%s)
h --data-dir "$WORK/clean" ingest "$CORPUS" --json > "$WORK/clean.json"
clean_s=$(( $(date +%s) - start ))
echo "clean ingest: ${clean_s} s: $(cat "$WORK/clean.json" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["indexed"], "indexed,", r["chunks"], "chunks,", len(r["failed"]), "failed")')"

# The victim commits small batches (2 files / 64 chunks: many commits for the kills to land in;
# batching does not change what is indexed). Kill moments are random over model loading,
# extraction, embedding, commits and index building; each run resumes what the previous one
# left (a file is committed whole, so a run killed before its big file is embedded adds
# nothing). Runs continue until N kills hit a run that was still working (at most 3N runs).
mkdir -p "$WORK/victim"
printf '[ingest]\nfiles_per_batch = 2\nchunks_per_batch = 64\n' > "$WORK/victim/config.toml"
kills=0; finished_early=0; i=0
while [ "$kills" -lt "$N" ] && [ "$i" -lt $((3 * N)) ]; do
  i=$((i + 1))
  delay=$(python3 -c "import random; print(round(random.uniform(3.0, max(5.0, min(50.0, $clean_s / 4))), 2))")
  # The binary itself in the background (not through a function: $! would be a subshell's pid
  # and kill -9 would miss the ingest).
  "$HEARTH" --models-dir "$MODELS" --data-dir "$WORK/victim" ingest "$CORPUS" --json \
    > "$WORK/run.json" 2>/dev/null &
  pid=$!
  sleep "$delay"
  if kill -9 "$pid" 2>/dev/null; then
    kills=$((kills + 1))
  else
    finished_early=$((finished_early + 1))
    wait "$pid" 2>/dev/null || true
    # A run that found nothing to do means the index is complete: no more kills can land.
    if python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r["indexed"] == 0 else 1)' "$WORK/run.json" 2>/dev/null; then
      echo "the index was complete after $kills kills"; break
    fi
  fi
  wait "$pid" 2>/dev/null || true
  if kill -0 "$pid" 2>/dev/null; then echo "FAIL: the ingest survived kill -9" >&2; exit 1; fi
  # The index must open and answer after every kill.
  h --data-dir "$WORK/victim" status --json > "$WORK/status.json" \
    || { echo "FAIL: the index does not open after kill $i" >&2; exit 1; }
  printf 'run %2d, kill at %5.2f s: %s documents, %s chunks\n' "$i" "$delay" \
    "$(python3 -c 'import json; s=json.load(open("'"$WORK"'/status.json")); print(s["documents"])')" \
    "$(python3 -c 'import json; s=json.load(open("'"$WORK"'/status.json")); print(s["chunks"])')"
done
h --data-dir "$WORK/victim" ingest "$CORPUS" --json > "$WORK/resume.json"
h --data-dir "$WORK/victim" ingest "$CORPUS" --json > "$WORK/again.json"

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
