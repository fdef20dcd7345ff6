#!/usr/bin/env bash
# Set up everything and run the checks and the tests (what CI runs): the engine and CLI tests,
# the UI's unit tests, and end-to-end tests of the real desktop window under Xvfb.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Test tools: a virtual display, WebKit's WebDriver (driven through tauri-driver), a font, and
# Node.js for the UI's unit tests.
EXTRA_PACKAGES="xvfb xauth webkit2gtk-driver fonts-dejavu-core"
command -v node >/dev/null || EXTRA_PACKAGES+=" nodejs"
# The HTTP API and MCP tests: curl, and venvs for the official openai and mcp Python clients
# (from PyPI).
command -v curl >/dev/null || EXTRA_PACKAGES+=" curl"
# The kernel tests under memcheck (scripts/memcheck-kernels.sh).
command -v valgrind >/dev/null || EXTRA_PACKAGES+=" valgrind"
# Older processors (no AVX, no AVX2; Haswell) emulated by qemu's user mode: one binary runs on each.
command -v qemu-x86_64 >/dev/null || EXTRA_PACKAGES+=" qemu-user"
python3 -c "import ensurepip, venv" 2>/dev/null || EXTRA_PACKAGES+=" python3-venv"
export EXTRA_PACKAGES
source "$ROOT/scripts/setup.sh"
# The generation tests also run SmolLM2-135M (98 MB, fast) and Gemma 3 270M (253 MB, the gemma3
# architecture and a SentencePiece vocabulary); the int8 ONNX MiniLM (23 MB) is a user's own
# ONNX model on ONNX Runtime in the tests of that path.
python3 "$ROOT/models/fetch.py" ${HEARTH_MODELS_DIR:+--models-dir "$HEARTH_MODELS_DIR"} \
  smollm2-135m-instruct-q4_1 gemma3-270m-q4km all-minilm-l6-v2-int8
# Real third-party documents (Debian doc packages) for the tests that read real HTML and PDFs.
log "fetching the real-document corpus"
bash "$ROOT/eval/fetch-corpus.sh" \
  "${HEARTH_MODELS_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/hearth/models}/eval-real"
cd "$ROOT"
start=$(date +%s)

# tauri-driver bridges WebDriver to WebKitWebDriver for the desktop tests.
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v tauri-driver >/dev/null; then
  log "installing tauri-driver"
  cargo install tauri-driver --locked ${CARGO_TARGET_DIR:+--target-dir "$CARGO_TARGET_DIR/tools"}
fi

log "cargo fmt --check"
cargo fmt --all -- --check
# Clippy lints the workspace's own crates as they are compiled for the tests: its driver is
# their compiler from here on (what `cargo clippy` does, but in build mode), and any lint fails
# the build. `cargo clippy` would first check every dependency a second time in check mode
# (metadata only, which the build cannot reuse): about 22 of the 87 minutes of a cold run on 2
# cores (2026-12-07).
export RUSTC_WORKSPACE_WRAPPER="$(rustc --print sysroot)/bin/clippy-driver"
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
[ -x "$RUSTC_WORKSPACE_WRAPPER" ] || { echo "error: clippy is missing (rustup component add clippy)" >&2; exit 1; }
log "UI unit tests"
results="$(mktemp)"
node --test ui/tests 2>&1 | tee "$results" | grep -E '^(not ok|# (pass|fail))' || true
ui_passed=$(awk '/^# pass/ {print $3}' "$results")
ui_failed=$(awk '/^# fail/ {print $3}' "$results")
[ "${ui_failed:-1}" = "0" ] || { cat "$results"; echo "UI unit tests failed" >&2; exit 1; }
log "cargo build with clippy's lints (the desktop app is started by the end-to-end tests)"
# --workspace everywhere: one feature resolution, so the build and the tests share artifacts.
cargo build --workspace
log "cargo test with clippy's lints on the test code (desktop tests in a virtual X display)"
xvfb-run -a -s "-screen 0 1280x800x24" \
  cargo test --workspace --all-targets -- --test-threads=2 2>&1 | tee "$results"
passed=$(awk '/^test result:/ {for (i = 1; i <= NF; i++) if ($i ~ /^passed;?$/) s += $(i-1)} END {print s + 0}' "$results")
failed=$(awk '/^test result:/ {for (i = 1; i <= NF; i++) if ($i ~ /^failed;?$/) s += $(i-1)} END {print s + 0}' "$results")
rm -f "$results"
log "library tests on the portable kernels (HEARTH_AVX2=0, as on a processor without AVX2)"
HEARTH_AVX2=0 cargo test --workspace --lib -- --test-threads=2 2>&1 | tee "$results"
passed=$((passed + $(awk '/^test result:/ {for (i = 1; i <= NF; i++) if ($i ~ /^passed;?$/) s += $(i-1)} END {print s + 0}' "$results")))
rm -f "$results"
log "kernel tests under Valgrind's memcheck"
bash scripts/memcheck-kernels.sh
log "HTTP API tests (hearth serve with curl and the openai Python client)"
api_line="$(bash tests/api/run.sh | tee /dev/stderr | tail -1)"
api_passed=$(echo "$api_line" | awk '/^api tests:/ {print $3}')
[ -n "$api_passed" ] || { echo "HTTP API tests failed" >&2; exit 1; }
log "MCP tests (hearth mcp with the official MCP Python SDK)"
mcp_line="$(bash tests/mcp/run.sh | tee /dev/stderr | tail -1)"
mcp_passed=$(echo "$mcp_line" | awk '/^mcp tests:/ {print $3}')
[ -n "$mcp_passed" ] || { echo "MCP tests failed" >&2; exit 1; }
log "all checks passed in $(( $(date +%s) - start )) s (screenshots: ${CARGO_TARGET_DIR:-$ROOT/target}/e2e-screenshots)"
echo "tests: $((passed + ui_passed + api_passed + mcp_passed)) passed, $failed failed ($ui_passed of them UI unit tests, $api_passed HTTP API tests, $mcp_passed MCP tests)"
