#!/usr/bin/env bash
# Installs what duet needs to build and test on Debian 12: compilers, CMake/Ninja, the
# libraries it links (PCRE2, xxHash, nlohmann-json, cpp-httplib, GoogleTest, Google Benchmark),
# clang for the fuzz targets, gnuplot for benchmark plots, the Python test clients, and the
# cudnn-frontend headers for the CUDA build.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake ninja-build pkg-config git clang clang-format libclang-rt-14-dev \
  libpcre2-dev libxxhash-dev nlohmann-json3-dev libcpp-httplib-dev libgtest-dev \
  libbenchmark-dev gnuplot-nox python3 python3-pip curl >/dev/null
# Test clients and oracles only (duet itself never runs Python).
python3 -m pip install -q --disable-pip-version-check openai httpx pytest numpy 2>/dev/null ||
  python3 -m pip install -q --disable-pip-version-check --break-system-packages openai httpx pytest
# Build-time headers for the CUDA backend's cuDNN prefill attention: header-only cudnn-frontend
# (CMake finds <site-packages>/include; without it the CUDA build keeps its own prefill kernel).
# --no-deps: only the headers are needed, not the package's Python dependencies.
python3 -m pip install -q --disable-pip-version-check --no-deps nvidia-cudnn-frontend 2>/dev/null ||
  python3 -m pip install -q --disable-pip-version-check --no-deps --break-system-packages \
    nvidia-cudnn-frontend
