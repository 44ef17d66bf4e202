#!/usr/bin/env bash
# The main job: install what is missing, build, train a character LSTM on the first pages of
# Moby-Dick (examples/quickstart/data), save and reload the model, and show a prediction.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build >&2
exec build/rnnkit_quickstart examples/quickstart/data/loomings.txt build/quickstart.safetensors "$@"
