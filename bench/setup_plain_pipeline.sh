#!/usr/bin/env bash
# The venv `hearth bench ingest --compare` runs the plain Python pipeline in
# (bench/plain_pipeline.py): sentence-transformers on torch (fp32, CPU), pypdf, BeautifulSoup
# and LanceDB, all from PyPI. About 6 GB (torch's PyPI wheel brings its CUDA libraries).
#   bench/setup_plain_pipeline.sh            # venv at $HEARTH_BENCH_VENV or /var/cache/hearth-bench/venv
set -euo pipefail
VENV="${HEARTH_BENCH_VENV:-/var/cache/hearth-bench/venv}"
python3 -c "import ensurepip, venv" 2>/dev/null || apt-get install -y --no-install-recommends python3-venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check \
  "sentence-transformers==${ST_VERSION:-6.3.0}" "pypdf==${PYPDF_VERSION:-7.1.1}" \
  "lancedb==${LANCEDB_VERSION:-0.40.0}" "beautifulsoup4==${BS4_VERSION:-4.15.0}"
"$VENV/bin/python" -c 'import sentence_transformers, pypdf, lancedb, bs4, torch; print("plain pipeline venv:", torch.__version__)'
