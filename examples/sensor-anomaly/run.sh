#!/usr/bin/env bash
# Tag each reading of the single-hop sensor series as anomalous or not (many-to-many), split by time.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/setup.sh build >&2
out=${1:-build/sensor.safetensors}
for seed in 1 2 3; do
  build/rnnkit train --task tag --train ../shared/data/timeseries/sensor-single-hop.csv --target label \
    --features humidity,temperature,indoor --window 100 --output "$out" --hidden 32 --cell gru --bidirectional \
    --epochs 40 --patience 0 --keep-last --batch-size 16 --lr 3e-3 --seed "$seed" 2>/dev/null
done
