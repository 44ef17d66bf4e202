#!/usr/bin/env bash
# A character LSTM on Moby-Dick (last 10 % of the text as validation), then generated text. The
# hyper-parameters are those of the PyTorch reference in ../shared/data/README.md (embedding 64,
# 2 x 256 LSTM, batch 64, 100-character windows, Adam 2e-3, clip 5); examples/char-lm/torch_reference.py
# trains the same model on the same windows in PyTorch, for a side-by-side comparison.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/setup.sh build >&2
out=${1:-build/char-lm.safetensors}
build/rnnkit train --task lm --train ../shared/data/moby-dick.txt --output "$out" --embedding-dim 64 --hidden 256 \
  --layers 2 --seq-len 100 --batch-size 64 --lr 2e-3 --clip 5 --epochs 8 --steps-per-epoch 100 --patience 0 \
  --threads "${THREADS:-2}"
build/rnnkit generate --model "$out" --prime "Call me Ishmael. " --length 300 --temperature 0.7 --seed 1
