#!/usr/bin/env bash
# The headline example: "The food is good" -> positive. A bidirectional GRU, averaged over each
# sentence's words, trained on the 200 labelled sentences of data/train.txt (fastText lines), tested on
# the 60 other sentences of data/test.txt, then asked about new sentences.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/setup.sh build >&2
out=${1:-build/sentiment.safetensors}
time build/rnnkit train --task classify --train examples/sentiment/data/train.txt \
  --test examples/sentiment/data/test.txt --output "$out" --embedding-dim 32 --hidden 32 --cell gru \
  --bidirectional --output-mode mean --epochs 30 --patience 0 --keep-last --batch-size 8 --lr 2e-3 \
  --valid-fraction 0.1
echo "The food is good" | build/rnnkit predict --model "$out"
printf '%s\n' "The waiter was rude and the soup was cold" "What a lovely little hotel" |
  build/rnnkit predict --model "$out" --top-k 2
