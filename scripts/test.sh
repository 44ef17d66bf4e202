#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (C++ unit, gradient, PyTorch-parity and I/O
# tests; the Python converter checks when python3-torch is present).
# Usage: scripts/test.sh [--sanitize]   (--sanitize: a separate ASan + UBSan build in build-asan)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--sanitize" ]; then
  scripts/setup.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DRNNKIT_SANITIZE=ON >&2
  cd build-asan
else
  scripts/setup.sh build >&2
  cd build
fi
ctest --output-on-failure -j "$(nproc)"
