#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (C++ unit, gradient, PyTorch-parity and I/O
# tests; the Python converter checks when python3-torch is present).
# Usage: scripts/test.sh [--sanitize | --tsan]
#   --sanitize: every test in a separate ASan + UBSan build (build-asan)
#   --tsan: the thread pool's and the threaded GEMM's tests (test_core), the recurrent layers' at 2
#           and 3 threads (test_layers), the optimizers' (test_optim), the server's and the
#           Predictor's (test_server), the streams' (test_stream) and the text pipeline's fitting
#           and encoding on 3 threads (test_data) under ThreadSanitizer (build-tsan; those six
#           targets alone: about 5 minutes to build on two cores)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--tsan" ]; then
  scripts/setup.sh --deps-only
  [ -f build-tsan/CMakeCache.txt ] ||
    cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRNNKIT_TSAN=ON >/dev/null
  cmake --build build-tsan --target test_core test_layers test_optim test_server test_stream test_data \
    -j "$(nproc)" >&2
  # repeated: the hand-over's and the server's interleavings differ from run to run
  build-tsan/tests/test_core --gtest_filter='Parallel.*:Gemm.*Thread*:Gemm.Split*' --gtest_repeat=10 \
    --gtest_brief=1
  build-tsan/tests/test_layers --gtest_filter='*ThreadCount*' --gtest_brief=1
  build-tsan/tests/test_optim --gtest_brief=1
  build-tsan/tests/test_server --gtest_repeat=3 --gtest_brief=1
  build-tsan/tests/test_data --gtest_filter='TextPreprocessor.*' --gtest_repeat=3 --gtest_brief=1
  exec build-tsan/tests/test_stream --gtest_brief=1
fi
if [ "${1:-}" = "--sanitize" ]; then
  scripts/setup.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DRNNKIT_SANITIZE=ON >&2
  cd build-asan
else
  scripts/setup.sh build >&2
  cd build
fi
ctest --output-on-failure -j "$(nproc)"
