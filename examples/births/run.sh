#!/usr/bin/env bash
# Forecast daily US births one day ahead; the last 20 % of days are the test part (split by time).
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/setup.sh build >&2
out=${1:-build/births.safetensors}
data=../shared/data/timeseries/us-births-1969-1988.csv
time build/rnnkit train --task forecast --train "$data" --target births --features births \
  --future-features month,date_of_month,day_of_week --relative --window 56 --season 7 --test-fraction 0.2 \
  --output "$out" --hidden 64 --cell lstm --epochs 40 --patience 6 --batch-size 64 --lr 3e-3 --schedule plateau
# The next day after the data: append the row to forecast with its calendar and any births value.
(cat "$data"; echo "1989,1,1,7,0") > build/births-next.csv
build/rnnkit forecast --model "$out" --data build/births-next.csv
