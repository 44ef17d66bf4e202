#!/usr/bin/env bash
# Keeps what the fuzzing campaigns found: for each target, the smallest set of inputs from
# build-fuzz/corpus/<target>/ that covers every feature the corpus reaches beyond the seeds
# (libFuzzer's -set_cover_merge), packed into fuzz/saved/<target>.tar.xz, which scripts/fuzz.sh
# unpacks on a fresh checkout. Run it after scripts/fuzz.sh has built the targets.
# Usage: scripts/fuzz_save.sh [TARGET ...]
set -euo pipefail
cd "$(dirname "$0")/.."
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(model_file table fasttext jsonl conll numeric_csv audio request)
mkdir -p fuzz/saved
for t in "${targets[@]}"; do
  [ -x "build-fuzz/fuzz_$t" ] && [ -d "build-fuzz/corpus/$t" ] || { echo "$t: not built or no corpus, skipped" >&2; continue; }
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/seeds" "$work/kept"
  cp -r "fuzz/corpus/$t/." "$work/seeds/"
  # The seeds first, so that only inputs adding features beyond them are kept.
  "build-fuzz/fuzz_$t" -set_cover_merge=1 -rss_limit_mb=2048 -malloc_limit_mb=256 "$work/seeds" \
    "build-fuzz/corpus/$t" > "$work/merge.log" 2>&1 || { cat "$work/merge.log" >&2; exit 1; }
  # What the merge added to the seeds' folder is what to keep.
  for f in "$work/seeds"/*; do
    [ -e "fuzz/corpus/$t/$(basename "$f")" ] || mv "$f" "$work/kept/"
  done
  tar -cJf "fuzz/saved/$t.tar.xz" -C "$work/kept" .
  echo "$t: $(ls "$work/kept" | wc -l) inputs kept, $(stat -c %s "fuzz/saved/$t.tar.xz") bytes" \
       "($(grep -o '[0-9]* new coverage edges' "$work/merge.log" || true))"
  rm -rf "$work"
  trap - EXIT
done
