#!/usr/bin/env bash
# Writes the data-preparation fixtures that need other tools (run by hand; the outputs are checked in):
#   vectors.vec      fastText skipgram vectors (Debian fasttext) of the quick-start excerpt, dim 8
#   vectors.bin      the same vectors in word2vec binary format, vectors.glove.txt in GloVe format
#   tone.wav, tone.expected.safetensors   a test signal and torchaudio's log-mel and MFCC of it
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tr 'A-Z' 'a-z' < ../../examples/quickstart/data/loomings.txt | sed 's/[^a-z ]/ /g' > "$tmp/corpus.txt"
fasttext skipgram -input "$tmp/corpus.txt" -output "$tmp/vectors" -dim 8 -minCount 3 -epoch 5 -thread 1 \
  -seed 1 -verbose 0
cp "$tmp/vectors.vec" fixtures/vectors.vec
/usr/bin/python3 gen/make_fixtures.py
