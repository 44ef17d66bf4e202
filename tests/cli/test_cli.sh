#!/usr/bin/env bash
# The whole command-line workflow on tiny fixtures: train, info, eval (text and JSON), predict
# (stdin, --top-k, --json), generate, and clear errors with exit code 1 on bad input.
# Usage: test_cli.sh RNNKIT_BINARY
# (With pipefail, a pipe whose reader stops early, such as `tail | head`, fails when the writer is
# still writing: SIGPIPE. Under load that happens now and then, and set -e then ends the script
# without a word; such pipes are written without an early-exiting reader here.)
set -euo pipefail
rnnkit=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# A separable sentiment set: 120 fastText lines.
for i in $(seq 1 30); do
  echo "__label__pos great lovely food $i excellent"; echo "__label__pos good staff $i wonderful"
  echo "__label__neg awful rude service $i terrible"; echo "__label__neg bad cold food $i horrible"
done > "$tmp/train.ft"
"$rnnkit" train --task classify --train "$tmp/train.ft" --output "$tmp/s.safetensors" --embedding-dim 8 \
  --hidden 8 --epochs 6 --patience 0 --lr 0.02 --batch-size 16 --seed 3 2> "$tmp/train.err" \
  || { cat "$tmp/train.err"; fail "train"; }
grep -q "best so far: saved" "$tmp/train.err" || fail "no checkpoint line"
[ -s "$tmp/s.safetensors.log.jsonl" ] || fail "no JSON-lines log"
[ "$(wc -l < "$tmp/s.safetensors.log.jsonl")" -eq 6 ] || fail "log should have 6 epochs"
grep -q "<svg" "$tmp/s.safetensors.curve.svg" || fail "no learning curve"
grep -q '"metric":"accuracy","seconds".*"valid_metric":' "$tmp/s.safetensors.log.jsonl" || fail "no validation metric in the log"
grep -q "validation accuracy (green" "$tmp/s.safetensors.curve.svg" || fail "no validation metric on the curve"

# Resume: 2 epochs, then --resume to 5, must give the same model as 5 epochs straight.
common=(--task classify --train "$tmp/train.ft" --embedding-dim 8 --hidden 8 --patience 0 --lr 0.02 --batch-size 16
        --seed 4 --output-dropout 0.1)
"$rnnkit" train "${common[@]}" --epochs 5 --output "$tmp/straight.safetensors" 2> /dev/null || fail "straight run"
"$rnnkit" train "${common[@]}" --epochs 2 --output "$tmp/resumed.safetensors" 2> /dev/null || fail "first part"
[ -s "$tmp/resumed.safetensors.ckpt.safetensors" ] || fail "no checkpoint written"
"$rnnkit" train "${common[@]}" --epochs 5 --output "$tmp/resumed.safetensors" --resume 2> "$tmp/resume.err" \
  || { cat "$tmp/resume.err"; fail "resume"; }
grep -q "resuming after epoch 2" "$tmp/resume.err" || fail "resume did not say where it continued"
cut -d' ' -f2- "$tmp/train.ft" | "$rnnkit" predict --model "$tmp/straight.safetensors" --top-k 2 > "$tmp/p1"
cut -d' ' -f2- "$tmp/train.ft" | "$rnnkit" predict --model "$tmp/resumed.safetensors" --top-k 2 > "$tmp/p2"
cmp -s "$tmp/p1" "$tmp/p2" || fail "the resumed model differs from the straight run"
# predict --data answers a file's lines in batches of alike length (stdin: a line at a time): the same
# answers in the same order, over more lines than one chunk of 1024 holds.
for _ in 1 2 3 4 5 6 7 8 9 10 11 12; do cut -d' ' -f2- "$tmp/train.ft"; done > "$tmp/lines"
"$rnnkit" predict --model "$tmp/straight.safetensors" --top-k 2 < "$tmp/lines" > "$tmp/p3"
"$rnnkit" predict --model "$tmp/straight.safetensors" --top-k 2 --data "$tmp/lines" > "$tmp/p4"
[ "$(wc -l < "$tmp/p4")" -eq "$(wc -l < "$tmp/lines")" ] && [ "$(wc -l < "$tmp/lines")" -gt 1024 ] \
  || fail "predict --data answered $(wc -l < "$tmp/p4") of $(wc -l < "$tmp/lines") lines"
paste -d' ' "$tmp/p3" "$tmp/p4" | awk '{ d2 = $2 - $6; d4 = $4 - $8
  if ($1 != $5 || $3 != $7 || d2 * d2 > 4e-8 || d4 * d4 > 4e-8) { print "line " NR ": " $0; bad++ } }
  END { exit bad > 0 }' || fail "predict --data differs from predicting line by line"
# on two threads (texts encoded on both, the model's slices too): the same answers
"$rnnkit" predict --model "$tmp/straight.safetensors" --top-k 2 --data "$tmp/lines" --threads 2 > "$tmp/p5"
paste -d' ' "$tmp/p4" "$tmp/p5" | awk '{ d2 = $2 - $6; d4 = $4 - $8
  if ($1 != $5 || $3 != $7 || d2 * d2 > 4e-8 || d4 * d4 > 4e-8) { print "line " NR ": " $0; bad++ } }
  END { exit bad > 0 }' || fail "predict --data --threads 2 differs from one thread"
[ "$(wc -l < "$tmp/resumed.safetensors.log.jsonl")" -eq 5 ] || fail "the resumed log should hold 5 epochs"
expect_error0() { if "$@" > /dev/null 2> "$tmp/err"; then fail "succeeded: $*"; fi; }
expect_error0 "$rnnkit" train "${common[@]}" --epochs 5 --layers 2 --output "$tmp/resumed.safetensors" --resume
grep -q "architecture differs" "$tmp/err" || fail "resume with other flags: $(cat "$tmp/err")"

"$rnnkit" info --model "$tmp/s.safetensors" > "$tmp/info.out"
grep -q "labels neg pos" "$tmp/info.out" || fail "info lacks labels"
grep -q "history (6 epochs)" "$tmp/info.out" || fail "info lacks history"

"$rnnkit" eval --model "$tmp/s.safetensors" --data "$tmp/train.ft" --json > "$tmp/eval.json"
grep -q '"accuracy":1.0' "$tmp/eval.json" || fail "eval accuracy is not 1.0: $(cat "$tmp/eval.json")"
grep -q '"macro_f1"' "$tmp/eval.json" || fail "eval lacks macro_f1"
loss=$(sed 's/.*"loss":\([-0-9.e]*\).*/\1/' "$tmp/eval.json")
awk -v l="$loss" 'BEGIN { exit !(l > 0 && l < 0.2) }' || fail "eval loss $loss: the model fits its training lines"
"$rnnkit" eval --model "$tmp/s.safetensors" --data "$tmp/train.ft" | grep "confusion" > /dev/null || fail "eval text report"
"$rnnkit" eval --model "$tmp/s.safetensors" --data "$tmp/train.ft" --json --threads 2 > "$tmp/eval2.json"
loss2=$(sed 's/.*"loss":\([-0-9.e]*\).*/\1/' "$tmp/eval2.json")
sed 's/"loss":[-0-9.e]*//' "$tmp/eval.json" | cmp -s - <(sed 's/"loss":[-0-9.e]*//' "$tmp/eval2.json") &&
  awk -v a="$loss" -v b="$loss2" 'BEGIN { exit !((a - b) ^ 2 < 1e-12) }' || fail "eval --threads 2: $(cat "$tmp/eval2.json")"

printf 'lovely food excellent\nrude cold service horrible\n' | "$rnnkit" predict --model "$tmp/s.safetensors" > "$tmp/pred.out"
[ "$(sed -n 1p "$tmp/pred.out" | cut -d' ' -f1)" = pos ] || fail "predicted $(sed -n 1p "$tmp/pred.out") for a positive line"
[ "$(sed -n 2p "$tmp/pred.out" | cut -d' ' -f1)" = neg ] || fail "predicted $(sed -n 2p "$tmp/pred.out") for a negative line"
echo "great" | "$rnnkit" predict --model "$tmp/s.safetensors" --top-k 2 --json | grep '"predictions":\[{"label":"pos"' > /dev/null \
  || fail "predict --json --top-k"

# A character language model on the quick-start text; generation from a prime.
"$rnnkit" train --task lm --train "$here/../../examples/quickstart/data/loomings.txt" --output "$tmp/lm.safetensors" \
  --embedding-dim 16 --hidden 32 --seq-len 32 --epochs 2 --batch-size 16 --patience 0 2> "$tmp/lm.err" \
  || { cat "$tmp/lm.err"; fail "lm train"; }
"$rnnkit" eval --model "$tmp/lm.safetensors" --data "$here/../../examples/quickstart/data/loomings.txt" --json \
  | grep '"bits_per_char"' > /dev/null || fail "lm eval lacks bits_per_char"
out=$("$rnnkit" generate --model "$tmp/lm.safetensors" --prime "Call me" --length 40 --seed 5)
[ "${#out}" -ge 47 ] || fail "generated too little: '$out'"
[ "$out" = "$("$rnnkit" generate --model "$tmp/lm.safetensors" --prime "Call me" --length 40 --seed 5)" ] \
  || fail "generation is not reproducible with a seed"

# Forecasting a weekly series with a trend; the model must beat the seasonal-naive forecast.
{ echo "day,dow,value"; for i in $(seq 0 419); do
    echo "$i,$((i % 7)),$(( 100 + i / 4 + (i % 7) * 10 + ((i * 7919) % 13) ))"; done; } > "$tmp/series.csv"
"$rnnkit" train --task forecast --train "$tmp/series.csv" --target value --features value --future-features dow \
  --relative --window 21 --output "$tmp/f.safetensors" --hidden 16 --epochs 25 --patience 0 --lr 0.01 \
  --batch-size 32 > "$tmp/f.out" 2> "$tmp/f.err" || { cat "$tmp/f.err"; fail "forecast train"; }
grep -q "test: .* forecasts: RMSE" "$tmp/f.out" || fail "forecast train reports no test figures"
"$rnnkit" eval --model "$tmp/f.safetensors" --data "$tmp/series.csv" --json > "$tmp/f.json"
/usr/bin/env python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['rmse'] < j['naive_rmse'], j" \
  "$tmp/f.json" || fail "forecast does not beat the seasonal-naive baseline: $(cat "$tmp/f.json")"
echo "420,0,0" >> "$tmp/series.csv"
"$rnnkit" forecast --model "$tmp/f.safetensors" --data "$tmp/series.csv" | grep "^1," > /dev/null || fail "forecast output"
expect_error() {  # expect_error FRAGMENT COMMAND...
  local fragment=$1; shift
  if "$@" > /dev/null 2> "$tmp/err"; then fail "succeeded: $*"; fi
  grep -q -- "$fragment" "$tmp/err" || fail "error for '$*' lacks '$fragment': $(cat "$tmp/err")"
}
# Two weeks ahead with a one-step model: recursive, each forecast an input of the next window; the
# last 14 rows carry the known-ahead weekday. Every forecast must stay near the series' own pattern.
for i in $(seq 421 433); do echo "$i,$((i % 7)),0"; done >> "$tmp/series.csv"
"$rnnkit" forecast --model "$tmp/f.safetensors" --data "$tmp/series.csv" --horizon 14 > "$tmp/f14.csv"
[ "$(grep -c '^[0-9]' "$tmp/f14.csv")" -eq 14 ] || fail "14 forecasts expected: $(cat "$tmp/f14.csv")"
awk -F, 'NR > 1 { i = 419 + $1; want = 100 + int(i / 4) + (i % 7) * 10 + 6;
  if ($2 < want - 25 || $2 > want + 25) { print "step " $1 ": " $2 " vs about " want; bad = 1 } }
  END { exit bad }' "$tmp/f14.csv" || fail "recursive forecasts drift from the series"
expect_error "must be positive" "$rnnkit" forecast --model "$tmp/f.safetensors" --data "$tmp/series.csv" --horizon -2
expect_error "threads" "$rnnkit" train --task forecast --train "$tmp/series.csv" --output "$tmp/x.safetensors" \
  --threads 5000
expect_error "threads" "$rnnkit" serve --model "$tmp/f.safetensors" --threads 0
expect_error "no column named 'nope'" "$rnnkit" train --task forecast --train "$tmp/series.csv" --target nope \
  --output "$tmp/x.safetensors"

# Per-step tagging of a numeric series: spikes (every 37 rows, so at varying places in the windows) are tagged 1.
{ echo "t,x,label"; for i in $(seq 0 599); do
    if [ $((i % 37)) -ge 33 ]; then echo "$i,$((20 + i % 3)),1"; else echo "$i,$((i % 3)),0"; fi; done; } > "$tmp/tags.csv"
"$rnnkit" train --task tag --train "$tmp/tags.csv" --target label --features x --window 25 --output "$tmp/t.safetensors" \
  --hidden 8 --epochs 100 --patience 0 --keep-last --lr 0.02 --batch-size 8 > "$tmp/t.out" 2> "$tmp/t.err" \
  || { cat "$tmp/t.err"; fail "tag train"; }
grep -q "tag 1: precision 1.0000, recall 1.0000" "$tmp/t.out" || fail "tagging spikes: $(cat "$tmp/t.out")"
"$rnnkit" eval --model "$tmp/t.safetensors" --data "$tmp/tags.csv" --json | grep '"accuracy":1.0' > /dev/null || fail "tag eval"
# predict tags every row (601 rows: windows of 25, the last aligned to the end) and finds the spikes.
"$rnnkit" predict --model "$tmp/t.safetensors" --data "$tmp/tags.csv" > "$tmp/t.pred"
[ "$(grep -c '^[0-9]' "$tmp/t.pred")" -eq 600 ] || fail "one tag per row expected"
paste -d, <(tail -n +2 "$tmp/tags.csv" | cut -d, -f3) <(tail -n +2 "$tmp/t.pred" | cut -d, -f2) |
  awk -F, '$1 != $2 { bad++ } END { exit bad > 0 }' || fail "predicted tags differ from the labels"

# Regression from text: the target is 0.3 x the number of "great" in the text.
{ echo "text,label"; for i in $(seq 0 299); do
    g=$((i % 5)); words=""; for j in $(seq 1 $g); do words="$words great"; done
    echo "the food was$words fine $((i % 7)),$(( g * 3 ))e-1"; done; } > "$tmp/reg.csv"
"$rnnkit" train --task regress --train "$tmp/reg.csv" --test-fraction 0.2 --output "$tmp/r.safetensors" \
  --embedding-dim 8 --hidden 16 --epochs 20 --patience 0 --lr 0.01 --batch-size 16 > "$tmp/r.out" 2> "$tmp/r.err" \
  || { cat "$tmp/r.err"; fail "regress train"; }
grep -q "predicting the training mean" "$tmp/r.out" || fail "regress reports no test figures"
"$rnnkit" eval --model "$tmp/r.safetensors" --data "$tmp/reg.csv" --json > "$tmp/r.json"
/usr/bin/env python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['rmse'] < 0.3 * j['baseline_rmse'], j" \
  "$tmp/r.json" || fail "regression does not beat the mean: $(cat "$tmp/r.json")"
echo "the food was great great fine 3" | "$rnnkit" predict --model "$tmp/r.safetensors" > "$tmp/r.pred"
/usr/bin/env python3 -c "import sys; v=float(open(sys.argv[1]).read()); assert abs(v - 0.6) < 0.1, v" "$tmp/r.pred" \
  || fail "regress predict: $(cat "$tmp/r.pred")"

# Tagging tokens of CoNLL sentences: names are B-PER, cities B-LOC, the rest O.
names=(alice bob carol dave erin); cities=(paris rome oslo lima cairo); verbs=(met saw visited left)
for i in $(seq 0 149); do
  n=${names[$((i % 5))]}; c=${cities[$(((i / 5) % 5))]}; v=${verbs[$((i % 4))]}
  printf '%s NNP B-PER\n%s VBD O\nthem PRP O\nin IN O\n%s NNP B-LOC\n\n' "${n^}" "$v" "${c^}"
done > "$tmp/ner.conll"
"$rnnkit" train --task tag --train "$tmp/ner.conll" --test-fraction 0.2 --output "$tmp/ner.safetensors" \
  --embedding-dim 8 --hidden 8 --bidirectional --epochs 15 --patience 0 --lr 0.02 --batch-size 8 \
  > "$tmp/ner.out" 2> "$tmp/ner.err" || { cat "$tmp/ner.err"; fail "text tag train"; }
grep -q "tag B-PER: precision 1.0000, recall 1.0000" "$tmp/ner.out" || fail "text tagging: $(cat "$tmp/ner.out")"
"$rnnkit" eval --model "$tmp/ner.safetensors" --data "$tmp/ner.conll" --json | grep '"accuracy":1.0' > /dev/null || fail "text tag eval"
echo "Bob visited them in Oslo" | "$rnnkit" predict --model "$tmp/ner.safetensors" |
  grep -qx "Bob/B-PER visited/O them/O in/O Oslo/B-LOC" || fail "text tag predict"
printf 'Oslo\nBob visited them in Oslo\nthem in Oslo\n' > "$tmp/ner.lines"
"$rnnkit" predict --model "$tmp/ner.safetensors" --data "$tmp/ner.lines" > "$tmp/ner.batched"
"$rnnkit" predict --model "$tmp/ner.safetensors" < "$tmp/ner.lines" | cmp -s - "$tmp/ner.batched" \
  || fail "text tag predict --data differs from line by line: $(cat "$tmp/ner.batched")"
sed -n 2p "$tmp/ner.batched" | grep -qx "Bob/B-PER visited/O them/O in/O Oslo/B-LOC" || fail "text tag predict --data"

# Pretrained word vectors set the embedding (their size wins over --embedding-dim) and can stay frozen.
"$rnnkit" train --task classify --train "$tmp/train.ft" --output "$tmp/pv.safetensors" --embedding-dim 16 \
  --pretrained "$here/../data/fixtures/vectors.vec" --freeze-embedding --hidden 8 --epochs 2 --patience 0 \
  2> "$tmp/pv.err" || { cat "$tmp/pv.err"; fail "train with pretrained vectors"; }
grep -q "pretrained vectors .*vectors.vec" "$tmp/pv.err" || fail "no coverage report: $(cat "$tmp/pv.err")"
"$rnnkit" info --model "$tmp/pv.safetensors" | grep '"embedding_dim":8' > /dev/null || fail "embedding size is not the vectors' 8"

# The headline example on its 200 sentences: "The food is good" is positive.
sentiment="$here/../../examples/sentiment/data"
"$rnnkit" train --task classify --train "$sentiment/train.txt" --test "$sentiment/test.txt" \
  --output "$tmp/sent.safetensors" --embedding-dim 32 --hidden 32 --cell gru --bidirectional --output-mode mean \
  --epochs 30 --patience 0 --keep-last --batch-size 8 --lr 2e-3 --valid-fraction 0.1 > "$tmp/sent.out" 2>&1 \
  || { cat "$tmp/sent.out"; fail "sentiment train"; }
echo "The food is good" | "$rnnkit" predict --model "$tmp/sent.safetensors" | grep "^positive " > /dev/null \
  || fail "The food is good is not positive"
echo "The food is bad" | "$rnnkit" predict --model "$tmp/sent.safetensors" | grep "^negative " > /dev/null \
  || fail "The food is bad is not negative"

# Audio classification from class folders of WAV files (espeak-ng's spoken digits, 4 clips a digit):
# train, eval --json, predict on a file, and the model refuses audio at another sample rate.
if command -v espeak-ng > /dev/null; then
  "$here/../../scripts/make_spoken_digits.sh" "$tmp/digits" --small 2> /dev/null
  "$rnnkit" train --task classify --train "$tmp/digits" --valid "$tmp/digits" --output "$tmp/audio.safetensors" \
    --audio-features logmel --n-mels 20 --cell gru --hidden 16 --output-mode mean --epochs 40 --patience 0 \
    --lr 0.01 --batch-size 8 > "$tmp/audio.out" 2>&1 || { cat "$tmp/audio.out"; fail "audio train"; }
  grep -q "40 training (.* s of audio at 22050 Hz)" "$tmp/audio.out" || fail "audio data line: $(cat "$tmp/audio.out")"
  "$rnnkit" eval --model "$tmp/audio.safetensors" --data "$tmp/digits" --json > "$tmp/audio.json"
  grep -q '"examples":40' "$tmp/audio.json" || fail "audio eval: $(cat "$tmp/audio.json")"
  acc=$(sed 's/.*"accuracy":\([0-9.]*\).*/\1/' "$tmp/audio.json")
  awk -v a="$acc" 'BEGIN { exit !(a >= 0.9) }' || fail "audio training accuracy $acc < 0.9"
  sevens=("$tmp/digits/7/"*.wav)
  seven=${sevens[0]}
  "$rnnkit" predict --model "$tmp/audio.safetensors" --data "$seven" | grep "wav	7 " > /dev/null || fail "predict on a clip of 7"
  # A folder: every clip, in the order of their sorted paths, each labelled as eval found them.
  "$rnnkit" predict --model "$tmp/audio.safetensors" --data "$tmp/digits" > "$tmp/audio.pred"
  cut -f1 "$tmp/audio.pred" | cmp -s - <(find "$tmp/digits" -name '*.wav' | LC_ALL=C sort) \
    || fail "predict on a folder: not every clip in order: $(cut -f1 "$tmp/audio.pred" | head -3)"
  awk -F'\t' '{ n = split($1, p, "/"); split($2, l, " "); right += p[n - 1] == l[1] } END { exit !(right >= 0.9 * NR) }' \
    "$tmp/audio.pred" || fail "predict on a folder: under 90 % right"
  espeak-ng -w "$tmp/eight.wav" eight  # 22050 Hz; rewritten below with a 16000 Hz header
  /usr/bin/python3 - "$tmp/eight.wav" "$tmp/eight16k.wav" <<'PY'
import sys, wave
src = wave.open(sys.argv[1])
dst = wave.open(sys.argv[2], "wb")
dst.setnchannels(1), dst.setsampwidth(2), dst.setframerate(16000)
dst.writeframes(src.readframes(src.getnframes()))
dst.close()
PY
  expect_error "sample rate 16000 Hz" "$rnnkit" predict --model "$tmp/audio.safetensors" --data "$tmp/eight16k.wav"
  # A list whose third file cannot be used: the two before it are answered, then the error names it.
  printf '%s\n' "$seven" "${sevens[1]}" "$tmp/eight16k.wav" "$seven" > "$tmp/clips.txt"
  if "$rnnkit" predict --model "$tmp/audio.safetensors" --data "$tmp/clips.txt" > "$tmp/clips.out" 2> "$tmp/err"; then
    fail "predict on a list with a 16 kHz clip succeeded"
  fi
  grep -q "eight16k.wav.*sample rate 16000 Hz\|sample rate 16000 Hz.*eight16k.wav" "$tmp/err" \
    || fail "the bad clip's error: $(cat "$tmp/err")"
  [ "$(cut -f1 "$tmp/clips.out" | tr '\n' ' ')" = "$seven ${sevens[1]} " ] \
    || fail "the clips before the bad one: $(cat "$tmp/clips.out")"
fi

# Bad input: exit code 1 and a message that names the problem.
expect_error "nope.vec" "$rnnkit" train --train "$tmp/train.ft" --output "$tmp/x.safetensors" --pretrained "$tmp/nope.vec"
expect_error "missing.ft: cannot open" "$rnnkit" train --train "$tmp/missing.ft" --output "$tmp/x.safetensors"
printf '__label__a fine\nno label here\n' > "$tmp/bad.ft"
expect_error "bad.ft:2: no label" "$rnnkit" train --train "$tmp/bad.ft" --output "$tmp/x.safetensors"
printf '__label__a fine\n__label__b bad\n__label__a good\n' > "$tmp/tiny.ft"
expect_error "validation hold-out of 3 examples is empty" "$rnnkit" train --train "$tmp/tiny.ft" --output "$tmp/x.safetensors"
expect_error "unknown cell 'lstmm'" "$rnnkit" train --train "$tmp/train.ft" --output "$tmp/x.safetensors" --cell lstmm
# A config file (TOML or JSON) sets any train flag; the command line wins; unknown keys are errors.
printf 'embedding-dim = 6\nhidden = 7\nepochs = 1\npatience = 0\nbidirectional = true\n' > "$tmp/train.toml"
"$rnnkit" train --config "$tmp/train.toml" --train "$tmp/train.ft" --output "$tmp/cfg.safetensors" --hidden 5 \
  2> /dev/null || fail "train with a TOML config"
"$rnnkit" info --model "$tmp/cfg.safetensors" | grep '"bidirectional":true.*"embedding_dim":6.*"hidden_size":5' > /dev/null \
  || fail "TOML config not applied (or the flag did not win): $("$rnnkit" info --model "$tmp/cfg.safetensors")"
printf '{"train": "%s", "output": "%s", "embedding-dim": 9, "epochs": 1}' "$tmp/train.ft" "$tmp/cfg.safetensors" \
  > "$tmp/train.json"
"$rnnkit" train --config "$tmp/train.json" 2> /dev/null || fail "train with a JSON config"
"$rnnkit" info --model "$tmp/cfg.safetensors" | grep '"embedding_dim":9' > /dev/null || fail "JSON config not applied"
printf 'epochz = 3\n' > "$tmp/bad.toml"
expect_error "bad.toml: unknown setting 'epochz'" "$rnnkit" train --config "$tmp/bad.toml" --train "$tmp/train.ft" \
  --output "$tmp/x.safetensors"
expect_error "--train is required" "$rnnkit" train --output "$tmp/x.safetensors"

# stream: the state carries from line to line. A text fed in two lines gets what predict gives it
# whole; --state-out / --state-in continue a stream in another process; rows of a series get the
# tags predict gives them.
whole=$(echo "awful rude service 3 terrible" | "$rnnkit" predict --model "$tmp/s.safetensors" -k 2)
streamed=$(printf 'awful rude\nservice 3 terrible\n' | "$rnnkit" stream --model "$tmp/s.safetensors" -k 2 | tail -1)
[ "$whole" = "$streamed" ] || fail "stream in two lines ($streamed) differs from predict ($whole)"
[ "$(printf 'great\n\nawful rude service 3 terrible\n' | "$rnnkit" stream --model "$tmp/s.safetensors" -k 2 | tail -1)" = "$whole" ] \
  || fail "an empty line does not reset the stream"
one=$(printf 'Call me Ishmael\n' | "$rnnkit" stream --model "$tmp/lm.safetensors" -k 3)
printf 'Call me\n' | "$rnnkit" stream --model "$tmp/lm.safetensors" --state-out "$tmp/lm.state" > /dev/null
two=$(printf ' Ishmael\n' | "$rnnkit" stream --model "$tmp/lm.safetensors" -k 3 --state-in "$tmp/lm.state")
[ "$one" = "$two" ] || fail "a saved stream state continues differently: '$two' vs '$one'"
echo "$one" | grep '^".*" 0\.[0-9]* ".*" 0\.[0-9]* ".*" 0\.[0-9]*$' > /dev/null || fail "lm stream prints no next tokens: $one"
sed -n 2,26p "$tmp/tags.csv" | cut -d, -f2 | "$rnnkit" stream --model "$tmp/t.safetensors" | cut -d' ' -f1 \
  > "$tmp/t.stream"
diff -q "$tmp/t.stream" <(sed -n 2,26p "$tmp/t.pred" | cut -d, -f2) > /dev/null || fail "streamed tags differ from predict"
expect_error "stdin line 2: 'x' is not a number" sh -c "printf '1\nx\n' | '$rnnkit' stream --model '$tmp/t.safetensors'"
expect_error "use forecast" sh -c "echo 1 | '$rnnkit' stream --model '$tmp/f.safetensors'"
expect_error "another architecture" sh -c "echo a | '$rnnkit' stream --model '$tmp/s.safetensors' --state-in '$tmp/lm.state'"

head -c 100 "$tmp/s.safetensors" > "$tmp/cut.safetensors"
expect_error "cut.safetensors" "$rnnkit" predict --model "$tmp/cut.safetensors"
expect_error "use generate for lm" "$rnnkit" predict --model "$tmp/lm.safetensors"
[ ! -e "$tmp/x.safetensors" ] || fail "a failed run left a model file"
echo "cli: all checks passed"
