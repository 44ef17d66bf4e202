#!/usr/bin/env bash
# Training killed with SIGKILL at random moments: whatever is on disk must load (the best model and
# the checkpoint are written atomically), and --resume must finish with exactly the model of an
# uninterrupted run (predictions compared byte for byte).
# Usage: test_kill_resume.sh RNNKIT_BINARY [TRIALS]
set -euo pipefail
rnnkit=$1
trials=${2:-4}
here=$(cd "$(dirname "$0")" && pwd)
data="$here/../../examples/sentiment/data"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

flags=(--task classify --train "$data/train.txt" --valid "$data/test.txt" --embedding-dim 32 --hidden 64 --cell gru
       --bidirectional --output-mode mean --epochs 12 --patience 0 --batch-size 8 --lr 2e-3 --seed 5)
"$rnnkit" train "${flags[@]}" --output "$tmp/straight.safetensors" > /dev/null 2>&1 || fail "straight run"
"$rnnkit" predict --model "$tmp/straight.safetensors" --top-k 2 < "$data/test.txt" > "$tmp/want"

RANDOM=7  # reproducible kill times
for trial in $(seq 1 "$trials"); do
  out="$tmp/run$trial.safetensors"
  delay=$(printf '0.%03d' $((RANDOM % 1000)))  # 0 - 1 s: before, during and between epochs
  "$rnnkit" train "${flags[@]}" --output "$out" > /dev/null 2>&1 &
  pid=$!
  sleep "$delay"
  kill -9 "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
  # The best model so far must load; the checkpoint is loaded (and validated) by --resume below.
  if [ -e "$out" ]; then
    "$rnnkit" info --model "$out" > /dev/null 2> "$tmp/err" \
      || fail "trial $trial (killed after ${delay} s): the model does not load: $(cat "$tmp/err")"
  fi
  resume=(--resume)
  [ -e "$out.ckpt.safetensors" ] || resume=()  # killed before the first epoch ended: start again
  "$rnnkit" train "${flags[@]}" --output "$out" "${resume[@]}" > /dev/null 2> "$tmp/err" \
    || fail "trial $trial: resume after a kill at ${delay} s failed: $(cat "$tmp/err")"
  "$rnnkit" predict --model "$out" --top-k 2 < "$data/test.txt" > "$tmp/got"
  cmp -s "$tmp/want" "$tmp/got" || fail "trial $trial: the model resumed after a kill at ${delay} s differs from the straight run"
  echo "trial $trial: killed after ${delay} s, $( [ ${#resume[@]} -gt 0 ] && echo resumed || echo restarted ), same model"
done
echo "kill-resume: all $trials trials passed"
