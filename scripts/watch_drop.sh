#!/usr/bin/env bash
# N files (default 10,000) dropped at once into a folder `hearth watch` follows: the time until
# every one is searchable, the updates the watch made, failures, and the watch's CPU and peak
# memory.   scripts/watch_drop.sh [N]   (needs `cargo build --workspace` and the models)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$( [ -d /var/cache/hearth-target ] && echo /var/cache/hearth-target || echo "$ROOT/target")}"
H="$TARGET/debug/hearth"
[ -x "$H" ] || { echo "no $H: run cargo build --workspace first" >&2; exit 2; }
N="${1:-10000}"
W=$(mktemp -d); D=$W/data; F=$W/watched
mkdir -p "$F"; echo "seed note about a lighthouse" > "$F/seed.md"
$H --data-dir "$D" watch "$F" --json > "$W/watch.log" 2> "$W/watch.err" &
pid=$!
until grep -q '"watching"' "$W/watch.log" 2>/dev/null; do sleep 0.2; done
start=$(date +%s.%N)
python3 - "$F/drop" "$N" <<'PY'
import os, sys
d = sys.argv[1]; os.makedirs(d)
for i in range(int(sys.argv[2])):
    with open(os.path.join(d, f"note-{i:05d}.md"), "w") as f:
        f.write(f"# Note {i}\n\nItem {i} of the drop: the word zq{i}x marks it.\n")
PY
created=$(date +%s.%N)
while true; do
  n=$($H --data-dir "$D" status --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["documents"])' || echo 0)
  [ "$n" -ge $((N + 1)) ] && break
  sleep 5
done
done_t=$(date +%s.%N)
probe="zq$((N * 9 / 10))x"
hit=$($H --data-dir "$D" search "$probe" --mode text --limit 1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["path"])')
cpu=$(ps -o times= -p $pid)
rss=$(grep VmHWM /proc/$pid/status | awk '{print $2}')
kill -INT $pid; wait $pid || true
python3 - "$W/watch.log" "$start" "$created" "$done_t" "$hit" "$cpu" "$rss" "$N" "$probe" <<'PY'
import json, sys
log, start, created, done, hit, cpu, rss, n, probe = sys.argv[1:]
ev = [json.loads(l) for l in open(log) if l.strip()]
applied = [e for e in ev if e.get("kind") == "applied"]
failed = sum(len(e.get("report", {}).get("failed", [])) for e in applied)
indexed = sum(e.get("report", {}).get("indexed", 0) for e in applied)
print(f"{int(n):,} files written in {float(created)-float(start):.1f} s; all {int(n) + 1:,} documents searchable {float(done)-float(start):.1f} s after the drop began")
print(f"updates applied: {len(applied)}, files indexed by them: {indexed}, failed: {failed}; spot check {probe} -> {hit.split('/')[-1]}")
print(f"watch process: {cpu.strip()} CPU s, peak RSS {int(rss)/1024:.0f} MB")
PY
tail -3 "$W/watch.err"
rm -rf "$W"
