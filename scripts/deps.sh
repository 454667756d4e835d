#!/usr/bin/env bash
# Installs what agpt needs to build and run on Debian: a C toolchain, OpenMP,
# OpenBLAS (the OpenMP build), PCRE2. With --test also the Python side of the
# test suite: Debian's torch and numpy, and a virtual environment in .venv that
# sees them and adds `tokenizers` and `safetensors` from PyPI, and clang with
# its sanitizer and libFuzzer runtimes and OpenMP library for `make sanitize`
# and `make fuzz`.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(build-essential bc libopenblas-openmp-dev libpcre2-dev)
if [ "${1:-}" = "--test" ]; then
  pkgs+=(python3 python3-venv python3-numpy python3-torch python3-pytest clang libclang-rt-dev libomp-dev)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}"
fi

if [ "${1:-}" = "--test" ]; then
  if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import torch, numpy, tokenizers, safetensors, pytest' 2>/dev/null; then
    echo "deps: preparing .venv (system torch/numpy + tokenizers, safetensors from PyPI)"
    rm -rf .venv
    /usr/bin/python3 -m venv --system-site-packages .venv
    .venv/bin/python -m pip install -q --disable-pip-version-check tokenizers safetensors
  fi
fi
