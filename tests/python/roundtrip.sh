#!/usr/bin/env bash
# rnnkit writes model files (test_io's ModelFileExport test); PyTorch reads them back and must agree.
# Usage: roundtrip.sh TEST_IO_BINARY PYTHON
set -euo pipefail
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
RNNKIT_EXPORT_DIR="$dir" "$1" --gtest_filter='ModelFileExport.*' >/dev/null
"$2" "$(dirname "$0")/check_rnnkit_file.py" "$dir"
