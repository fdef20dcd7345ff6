#!/usr/bin/env bash
# Regenerate the test corpus in tests/data/ from the sources in tests/data/src/.
#
#   corpus/field-guide.pdf   <- src/field-guide.ps (ghostscript pdfwrite)
#   corpus/notes/*, web/*, code/*  <- copied from src/
#   bad/encrypted.pdf        <- corpus/field-guide.pdf encrypted with qpdf (AES-256,
#                               user and owner password "secret")
#   bad/scanned.pdf          <- page 1 of field-guide.pdf rendered at 50 dpi by
#                               ghostscript, wrapped as an image-only PDF by
#                               src/make_scanned_pdf.py
#
# Needs only: gs, qpdf, python3 (stdlib). Optional checks use pdftotext/pdfinfo.
# Everything except bad/encrypted.pdf is byte-for-byte reproducible
# (AES encryption uses a random salt/IV by design).
#
# Usage: tests/data/make-fixtures.sh     (from any directory)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$here/src"
corpus="$here/corpus"
bad="$here/bad"

# Fixed timestamp for the PDF Info dictionary (2024-01-01T00:00:00Z).
export SOURCE_DATE_EPOCH=1704067200

for tool in gs qpdf python3; do
  command -v "$tool" >/dev/null || { echo "error: $tool not found" >&2; exit 1; }
done

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$corpus/notes" "$corpus/web" "$corpus/code" "$bad"

echo "== corpus/field-guide.pdf"
gs -q -dNOPAUSE -dBATCH -dSAFER -dOmitXMP -dOmitID \
   -sDEVICE=pdfwrite -dCompatibilityLevel=1.7 \
   -sOutputFile="$tmp/field-guide.pdf" "$src/field-guide.ps"
# Add a /ID derived from the file contents (deterministic, unlike gs's own).
qpdf --deterministic-id "$tmp/field-guide.pdf" "$corpus/field-guide.pdf"

echo "== corpus text files"
install -m 0644 "$src/notes/sourdough.md"          "$corpus/notes/sourdough.md"
install -m 0644 "$src/notes/bike-maintenance.md"   "$corpus/notes/bike-maintenance.md"
install -m 0644 "$src/notes/meeting-2024-03-14.txt" "$corpus/notes/meeting-2024-03-14.txt"
install -m 0644 "$src/web/pasta-recipe.html"       "$corpus/web/pasta-recipe.html"
install -m 0644 "$src/code/retry.rs"               "$corpus/code/retry.rs"

echo "== bad/encrypted.pdf"
rm -f "$bad/encrypted.pdf"
qpdf --encrypt secret secret 256 -- "$corpus/field-guide.pdf" "$bad/encrypted.pdf"

echo "== bad/scanned.pdf"
gs -q -dNOPAUSE -dBATCH -dSAFER -sDEVICE=ppmraw -r50 \
   -dTextAlphaBits=4 -dGraphicsAlphaBits=4 -dFirstPage=1 -dLastPage=1 \
   -sOutputFile="$tmp/scan.ppm" "$corpus/field-guide.pdf"
python3 "$src/make_scanned_pdf.py" "$tmp/scan.ppm" "$bad/scanned.pdf" 595 842

# Sanity checks (skipped if poppler-utils is not installed).
if command -v pdftotext >/dev/null && command -v pdfinfo >/dev/null; then
  echo "== checks"
  fail=0
  check() { # page needle
    if pdftotext -layout -f "$1" -l "$1" "$corpus/field-guide.pdf" - | grep -qF -- "$2"; then
      echo "ok   field-guide.pdf p$1: $2"
    else
      echo "FAIL field-guide.pdf p$1: $2" >&2; fail=1
    fi
  }
  check 1 "founded in 1987"
  check 2 "only from alder twigs"
  check 2 "hatch after 26 days"
  check 3 "ice reached 71 centimetres"
  check 3 "February 2019"
  check 4 "14 panels"
  check 4 "9.2 kWh"
  [ "$(pdfinfo "$corpus/field-guide.pdf" | awk '/^Pages:/{print $2}')" = 4 ] \
    && echo "ok   field-guide.pdf has 4 pages" || { echo "FAIL page count" >&2; fail=1; }
  if pdfinfo "$bad/encrypted.pdf" >/dev/null 2>&1; then
    echo "FAIL encrypted.pdf opens without a password" >&2; fail=1
  else
    echo "ok   encrypted.pdf needs a password"
  fi
  if [ -z "$(pdftotext "$bad/scanned.pdf" - | tr -d '[:space:]')" ]; then
    echo "ok   scanned.pdf has no text layer"
  else
    echo "FAIL scanned.pdf has extractable text" >&2; fail=1
  fi
  [ "$(pdfinfo "$bad/scanned.pdf" | awk '/^Pages:/{print $2}')" = 1 ] \
    && echo "ok   scanned.pdf has 1 page" || { echo "FAIL scanned page count" >&2; fail=1; }
  exit "$fail"
fi
