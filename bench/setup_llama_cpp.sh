#!/usr/bin/env bash
# Set up a llama.cpp reference engine (llama-cpp-python, built from source,
# CPU-only) for bench/llama_cpp_bench.py. Idempotent; run as root on Debian.
#
#   sudo bash bench/setup_llama_cpp.sh            # default venv location
#   VENV=/some/dir bash bench/setup_llama_cpp.sh  # custom location
set -euo pipefail

LLAMA_CPP_PYTHON_VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
VENV="${VENV:-/var/cache/hearth-bench/venv}"

missing=()
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
command -v cmake >/dev/null || missing+=(cmake)
command -v g++ >/dev/null || missing+=(g++)
if ((${#missing[@]})); then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
fi

[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"

# the server extra too: bench/remote_llama_server.sh runs llama.cpp's OpenAI-compatible server
installed="$("$VENV/bin/python" -c 'import llama_cpp, llama_cpp.server.app; print(llama_cpp.__version__)' 2>/dev/null || true)"
if [[ "$installed" == "$LLAMA_CPP_PYTHON_VERSION" ]]; then
  echo "llama-cpp-python $installed already installed in $VENV"
  exit 0
fi

# Portable AVX2/FMA/F16C build, no BLAS, no curl. nice -n 19 so that a
# concurrent build on the machine keeps priority.
start=$(date +%s)
CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BLAS=OFF -DLLAMA_CURL=OFF" \
  nice -n 19 "$VENV/bin/pip" install --no-cache-dir "llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION"
echo "built llama-cpp-python $LLAMA_CPP_PYTHON_VERSION in $(( $(date +%s) - start ))s"
