#!/usr/bin/env bash
# Spam or ham: a bidirectional GRU, averaged over each e-mail's tokens, on the SpamAssassin e-mails (one
# folder per class), with a seeded, stratified 20 % test hold-out evaluated at the end.
# Usage: examples/spam/run.sh [MODEL [extra train flags, e.g. --seed 2]]
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/setup.sh build >&2
out=${1:-build/spam.safetensors}
time build/rnnkit train --task classify --train ../shared/data/spamassassin --test-fraction 0.2 --output "$out" \
  --max-length 800 --embedding-dim 32 --hidden 64 --cell gru --bidirectional --output-mode mean --epochs 12 \
  --patience 4 --batch-size 32 --lr 3e-3 --output-dropout 0.5 --weight-decay 1e-5 --strip-html --vocab-size 30000 \
  --min-count 2 --threads "${THREADS:-2}" "${@:2}"
