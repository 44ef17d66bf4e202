#!/usr/bin/env bash
# A character LSTM on Moby-Dick (last 10 % of the text as validation), then generated text.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/setup.sh build >&2
out=${1:-build/char-lm.safetensors}
build/rnnkit train --task lm --train ../shared/data/moby-dick.txt --output "$out" --embedding-dim 64 --hidden 256 \
  --layers 1 --seq-len 100 --batch-size 32 --lr 2e-3 --clip 5 --epochs 5 --steps-per-epoch 200 --patience 0
build/rnnkit generate --model "$out" --prime "Call me Ishmael. " --length 300 --temperature 0.7 --seed 1
