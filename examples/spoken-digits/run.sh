#!/usr/bin/env bash
# Spoken digits: espeak-ng says "zero" .. "nine" in 10 voices x 3 speeds x 3 pitches
# (scripts/make_spoken_digits.sh, 900 clips); both Caribbean-English voices (en-029, en-029+f4) are
# held out whole for testing, so the test set is speakers the model never heard. A bidirectional GRU
# reads 40 log-mel energies per 10 ms frame and averages over the clip.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/setup.sh build >&2
data=${DATA:-build/spoken-digits}
out=${1:-build/spoken-digits.safetensors}
if [ ! -d "$data/train" ]; then
  rm -rf "$data"
  scripts/make_spoken_digits.sh "$data/all"
  for d in "$data"/all/*/; do
    digit=$(basename "$d")
    mkdir -p "$data/train/$digit" "$data/test/$digit"
    for f in "$d"*.wav; do
      case $(basename "$f") in
        en-029*) mv "$f" "$data/test/$digit/" ;;
        *) mv "$f" "$data/train/$digit/" ;;
      esac
    done
  done
  rm -rf "$data/all"
fi
time build/rnnkit train --task classify --train "$data/train" --test "$data/test" --output "$out" \
  --audio-features logmel --n-mels 40 --cell gru --hidden 64 --bidirectional --output-mode mean \
  --epochs 30 --patience 5 --batch-size 16 --lr 3e-3 --seed "${SEED:-1}"
build/rnnkit eval --model "$out" --data "$data/test"
# (to a file, then its first lines: piped into head, predict would be cut off by SIGPIPE and, with
# pipefail, the script would exit with 141)
build/rnnkit predict --model "$out" --data "$data/test/7" --top-k 2 > "$data/predictions-7.tsv"
head -3 "$data/predictions-7.tsv"
