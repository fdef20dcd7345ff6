#!/usr/bin/env bash
# Fetch the real-document evaluation corpus: manuals nobody at Hearth wrote, from Debian's doc
# packages (apt-get download + dpkg-deb -x; no root needed, nothing is installed).
#   eval/fetch-corpus.sh [DIR]     default DIR: ${XDG_DATA_HOME:-~/.local/share}/hearth/models/eval-real
# DIR gets bash/ (Bash Reference Manual, PDF), gnuplot/ (gnuplot 5.4 manual, PDF),
# postgresql/ (PostgreSQL 15 HTML pages) and debian-reference/ (Debian Reference HTML chapters).
# The questions in eval/real-questions.jsonl name files relative to DIR.
set -euo pipefail
DIR="${1:-${XDG_DATA_HOME:-$HOME/.local/share}/hearth/models/eval-real}"
PACKAGES=(bash-doc gnuplot-doc postgresql-doc-15 debian-reference-en)
PG_PAGES=(tutorial-accessdb tutorial-advanced-intro tutorial-agg tutorial-arch tutorial-concepts
  tutorial-createdb tutorial-delete tutorial-fk tutorial-inheritance tutorial-join
  tutorial-populate tutorial-select tutorial-table tutorial-transactions tutorial-update
  tutorial-views tutorial-window auth-pg-hba-conf backup-dump backup-file datatype-datetime
  datatype-json datatype-numeric ddl-partitioning functions-string indexes-types mvcc-intro
  queries-with routine-reindex routine-vacuuming runtime-config-resource sql-altertable
  sql-analyze sql-cluster sql-copy sql-createindex sql-createrole sql-explain sql-grant
  sql-reindex sql-truncate sql-vacuum textsearch-intro transaction-iso wal-intro)
DEBREF_CHAPTERS=(ch05 ch06 ch10)

if [ -f "$DIR/.complete" ]; then
  echo "eval corpus: $DIR (already there)" >&2
  exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(
  cd "$work"
  if ! apt-get download "${PACKAGES[@]}" >/dev/null 2>&1; then
    [ "$(id -u)" -eq 0 ] && apt-get update -qq
    apt-get download "${PACKAGES[@]}"
  fi
  for deb in *.deb; do dpkg-deb -x "$deb" root; done
  ls *.deb >versions.txt
)
r="$work/root/usr/share"
rm -rf "$DIR.tmp"
mkdir -p "$DIR.tmp"/{bash,gnuplot,postgresql,debian-reference}
cp "$r/doc/bash/bashref.pdf" "$DIR.tmp/bash/"
cp "$r/doc/gnuplot/gnuplot.pdf" "$DIR.tmp/gnuplot/"
for p in "${PG_PAGES[@]}"; do cp "$r/doc/postgresql-doc-15/html/$p.html" "$DIR.tmp/postgresql/"; done
for c in "${DEBREF_CHAPTERS[@]}"; do cp "$r/debian-reference/$c.en.html" "$DIR.tmp/debian-reference/"; done
cp "$work/versions.txt" "$DIR.tmp/versions.txt"
touch "$DIR.tmp/.complete"
rm -rf "$DIR"
mv "$DIR.tmp" "$DIR"
echo "eval corpus: $DIR ($(find "$DIR" -type f ! -name '.*' ! -name versions.txt | wc -l) files from $(tr '\n' ' ' <"$DIR/versions.txt"))" >&2
