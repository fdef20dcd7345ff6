# Sourced by tests/api/run.sh and tests/mcp/run.sh (with ROOT set): the `hearth` binary they
# test (HEARTH), a venv holding a Python client from PyPI, and `hearth serve` over a fresh
# library of tests/data/corpus (and more).
HEARTH="${HEARTH_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/hearth}"

# python_client VENV MODULE SPEC: make VENV with SPEC installed, unless MODULE imports there.
python_client() {
  if ! "$1/bin/python" -c "import $2" 2>/dev/null; then
    python3 -m venv "$1"
    "$1/bin/python" -m pip install -q "$3"
  fi
}

# serve_corpus [PATH…]: index tests/data/corpus (and the PATHs) into $tmp/data and start
# `hearth serve` on a free loopback port; sets tmp, pid and addr (host:port); the server's
# stderr is $tmp/serve.log. Both go away when the script exits.
serve_corpus() {
  tmp="$(mktemp -d)"
  pid=""
  trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; fi; wait 2>/dev/null; rm -rf "$tmp"' EXIT
  # answers come from the catalog's default model, whatever this machine's measured speeds
  # would choose automatically (the 1.5B where it starts in time)
  mkdir -p "$tmp/data"
  printf '[llm]\nmodel = "qwen2.5-coder-0.5b-instruct-q4km"\n' >"$tmp/data/config.toml"
  "$HEARTH" --data-dir "$tmp/data" ingest "$ROOT/tests/data/corpus" "$@" --json >/dev/null
  "$HEARTH" --data-dir "$tmp/data" serve --listen 127.0.0.1:0 2>"$tmp/serve.log" &
  pid=$!
  for _ in $(seq 100); do grep -q "listening on" "$tmp/serve.log" 2>/dev/null && break; sleep 0.1; done
  addr="$(head -1 "$tmp/serve.log" | sed -n 's|.*listening on http://\([^ ]*\) .*|\1|p')"
  [ -n "$addr" ] || { cat "$tmp/serve.log"; echo "hearth serve did not start" >&2; exit 1; }
}
