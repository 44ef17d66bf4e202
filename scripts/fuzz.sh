#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (every library under ASan + UBSan, build-fuzz/) and runs each
# for SECONDS (default 60) from its seed corpus in fuzz/corpus/<target>/ and the corpus earlier
# campaigns kept (fuzz/saved/<target>.tar.xz, unpacked into an empty build-fuzz/corpus/<target>/). New
# corpus entries stay in build-fuzz/corpus/ (scripts/fuzz_save.sh keeps them); a crashing input lands
# in build-fuzz/crashes/<target>/ and the run fails; after the fix, copy it to fuzz/regressions/<target>/
# so that ctest (test_fuzz_regressions) keeps checking it.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET ...]
# FUZZ_TIMEOUT (seconds, default 10): an input running longer is a hang. libFuzzer measures it in wall
# time, so a campaign that is paused now and then (SIGSTOP, to free the cores for a benchmark) needs
# it longer than the longest pause.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(model_file table fasttext jsonl conll numeric_csv audio request)
scripts/setup.sh --deps-only >&2
if ! command -v clang++ > /dev/null; then
  sudo_cmd=; [ "$(id -u)" -eq 0 ] || sudo_cmd=sudo
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq clang > /dev/null
fi
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRNNKIT_FUZZ=ON \
  -DRNNKIT_BUILD_TESTS=OFF > /dev/null
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]/#/fuzz_}" > /dev/null
status=0
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$t" "build-fuzz/crashes/$t"
  # A fresh checkout continues from the corpus the last campaigns kept (scripts/fuzz_save.sh).
  if [ -z "$(ls -A "build-fuzz/corpus/$t")" ] && [ -f "fuzz/saved/$t.tar.xz" ]; then
    tar -xJf "fuzz/saved/$t.tar.xz" -C "build-fuzz/corpus/$t"
  fi
  log="build-fuzz/$t.log"
  # A huge allocation is a bug too (a hostile size must be refused before allocating): 256 MB cap.
  if ! "build-fuzz/fuzz_$t" "build-fuzz/corpus/$t" "fuzz/corpus/$t" -max_total_time="$seconds" -timeout="${FUZZ_TIMEOUT:-10}" \
      -rss_limit_mb=2048 -malloc_limit_mb=256 -artifact_prefix="build-fuzz/crashes/$t/" -print_final_stats=1 \
      > "$log" 2>&1; then
    status=1
    echo "$t: FAILED, see $log and build-fuzz/crashes/$t/" >&2
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)
  echo "$t: $runs inputs in ${seconds} s, coverage $cov edges, corpus $(ls "build-fuzz/corpus/$t" | wc -l) files"
done
exit $status
