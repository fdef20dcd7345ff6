#!/usr/bin/env bash
# Scanned copies of corpus/field-guide.pdf for the OCR tests: its pages rendered to 1-bit images
# at 150 dpi (as a cheap office scanner makes them) and put back together without a text layer.
# Needs poppler-utils (pdftoppm), img2pdf, qpdf and libtiff-tools (tiffcp).
#   field-guide-scanned.pdf  all 4 pages as images (no text layer at all)
#   field-guide-mixed.pdf    pages 1-2 with their text layer, pages 3-4 scanned
#   field-guide-p4.png       page 4 as a PNG image
#   field-guide-p2-3.tif     pages 2 and 3 as one multi-page TIFF (CCITT G4)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
SRC="$HERE/../corpus/field-guide.pdf"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
pdftoppm -r 150 -mono -tiff -tiffcompression ccittfax4 "$SRC" "$TMP/p"
img2pdf "$TMP"/p-1.tif "$TMP"/p-2.tif "$TMP"/p-3.tif "$TMP"/p-4.tif -o "$HERE/field-guide-scanned.pdf"
qpdf --empty --pages "$SRC" 1-2 "$HERE/field-guide-scanned.pdf" 3-4 -- "$HERE/field-guide-mixed.pdf"
pdftoppm -r 150 -mono -png -f 4 -l 4 -singlefile "$SRC" "$HERE/field-guide-p4"
tiffcp -c g4 "$TMP"/p-2.tif "$TMP"/p-3.tif "$HERE/field-guide-p2-3.tif"
ls -l "$HERE"/field-guide-*
