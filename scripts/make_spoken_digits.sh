#!/usr/bin/env bash
# Makes a spoken-digit data set with Debian's espeak-ng: OUT/<digit>/<voice>_<speed>_<pitch>.wav,
# one folder per class (zero .. nine), 22,050 Hz mono 16-bit WAV. Read it with read_folders-style
# audio loading (rnnkit::read_audio) and MFCC features at sample_rate 22050.
#
# Usage: scripts/make_spoken_digits.sh OUT_DIR [--small]
#   default: 5 accents x 2 voice variants x 3 speeds x 3 pitches = 90 recordings per digit (900 files)
#   --small: 2 voices x 1 speed x 2 pitches = 4 per digit (for tests)
set -euo pipefail
out=${1:?usage: make_spoken_digits.sh OUT_DIR [--small]}
command -v espeak-ng >/dev/null || { echo "espeak-ng is not installed (scripts/setup.sh installs it)" >&2; exit 1; }
if [ "${2:-}" = "--small" ]; then
  voices=(en-us en-gb+f3); speeds=(160); pitches=(35 65)
else
  voices=(en-us en-us+f3 en-gb en-gb+f2 en-gb-scotland en-gb-scotland+m3 en-029 en-029+f4 en-gb-x-rp en-gb-x-rp+m2)
  speeds=(120 160 200); pitches=(30 50 70)
fi
words=(zero one two three four five six seven eight nine)
count=0
for d in "${!words[@]}"; do
  mkdir -p "$out/$d"
  for v in "${voices[@]}"; do
    for s in "${speeds[@]}"; do
      for p in "${pitches[@]}"; do
        espeak-ng -v "$v" -s "$s" -p "$p" -w "$out/$d/${v//+/-}_${s}_${p}.wav" "${words[$d]}"
        count=$((count + 1))
      done
    done
  done
done
echo "wrote $count recordings of the digits 0-9 to $out" >&2
