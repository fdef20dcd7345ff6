#!/usr/bin/env bash
# Fetch a real-document evaluation corpus: manuals nobody at Hearth wrote, from Debian's doc
# packages (apt-get download + dpkg-deb -x; no root needed, nothing is installed).
#   eval/fetch-corpus.sh [DIR]            the development set (eval/real-questions.jsonl)
#   eval/fetch-corpus.sh --heldout [DIR]  the held-out set (eval/heldout-questions.jsonl)
# Default DIR: ${XDG_DATA_HOME:-~/.local/share}/hearth/models/eval-real (eval-heldout).
# Development set: bash/ (Bash Reference Manual, PDF), gnuplot/ (gnuplot 5.4 manual, PDF),
# postgresql/ (PostgreSQL 15 HTML pages) and debian-reference/ (Debian Reference HTML chapters).
# Held-out set, used only to check what was tuned on the development set: octave/ (GNU Octave
# manual, PDF, 1,158 pages), mnesia/ (Erlang/OTP Mnesia user's guide, PDF) and git/ (git's
# HTML manual pages). The questions name files relative to DIR.
set -euo pipefail
SET=dev
if [ "${1:-}" = "--heldout" ]; then SET=heldout; shift; fi
MODELS="${XDG_DATA_HOME:-$HOME/.local/share}/hearth/models"
if [ "$SET" = dev ]; then
  DIR="${1:-$MODELS/eval-real}"
  PACKAGES=(bash-doc gnuplot-doc postgresql-doc-15 debian-reference-en)
else
  DIR="${1:-$MODELS/eval-heldout}"
  PACKAGES=(octave-doc erlang-doc git-doc)
fi
PG_PAGES=(tutorial-accessdb tutorial-advanced-intro tutorial-agg tutorial-arch tutorial-concepts
  tutorial-createdb tutorial-delete tutorial-fk tutorial-inheritance tutorial-join
  tutorial-populate tutorial-select tutorial-table tutorial-transactions tutorial-update
  tutorial-views tutorial-window auth-pg-hba-conf backup-dump backup-file datatype-datetime
  datatype-json datatype-numeric ddl-partitioning functions-string indexes-types mvcc-intro
  queries-with routine-reindex routine-vacuuming runtime-config-resource sql-altertable
  sql-analyze sql-cluster sql-copy sql-createindex sql-createrole sql-explain sql-grant
  sql-reindex sql-truncate sql-vacuum textsearch-intro transaction-iso wal-intro)
DEBREF_CHAPTERS=(ch05 ch06 ch10)
GIT_PAGES=(git-bisect git-blame git-cherry-pick git-clean git-commit git-rebase git-reset
  git-revert git-stash git-tag git-worktree git-submodule git-clone git-push git-fetch
  git-merge gitignore gitattributes githooks gitfaq git-gc git-reflog git-grep git-archive
  git-maintenance)

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
if [ "$SET" = dev ]; then
  mkdir -p "$DIR.tmp"/{bash,gnuplot,postgresql,debian-reference}
  cp "$r/doc/bash/bashref.pdf" "$DIR.tmp/bash/"
  cp "$r/doc/gnuplot/gnuplot.pdf" "$DIR.tmp/gnuplot/"
  for p in "${PG_PAGES[@]}"; do cp "$r/doc/postgresql-doc-15/html/$p.html" "$DIR.tmp/postgresql/"; done
  for c in "${DEBREF_CHAPTERS[@]}"; do cp "$r/debian-reference/$c.en.html" "$DIR.tmp/debian-reference/"; done
else
  mkdir -p "$DIR.tmp"/{octave,mnesia,git}
  cp "$r/doc/octave/octave.pdf" "$DIR.tmp/octave/"
  cp "$r"/doc/erlang-doc/lib/mnesia-*/doc/pdf/mnesia-*.pdf "$DIR.tmp/mnesia/mnesia.pdf"
  for p in "${GIT_PAGES[@]}"; do cp "$r/doc/git-doc/$p.html" "$DIR.tmp/git/"; done
fi
cp "$work/versions.txt" "$DIR.tmp/versions.txt"
touch "$DIR.tmp/.complete"
rm -rf "$DIR"
mv "$DIR.tmp" "$DIR"
echo "eval corpus: $DIR ($(find "$DIR" -type f ! -name '.*' ! -name versions.txt | wc -l) files from $(tr '\n' ' ' <"$DIR/versions.txt"))" >&2
