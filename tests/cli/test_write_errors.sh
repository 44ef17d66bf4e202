#!/usr/bin/env bash
# A full disk and a read-only output directory: training fails with one clear line naming the file,
# and the model already there stays byte for byte as it was, with no temporary file left behind.
# The full disk is a file-size limit (ulimit -f: writes past it fail with EFBIG, as ENOSPC would);
# the read-only directory is one the training user cannot write (as root, training runs as nobody).
# Usage: test_write_errors.sh RNNKIT_BINARY
set -euo pipefail
rnnkit=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
fail() { echo "FAIL: $*" >&2; exit 1; }
train=("$here/../../examples/sentiment/data/train.txt")
flags=(--task classify --hidden 8 --epochs 2 --patience 0 --batch-size 16 --valid-fraction 0.2)

# A good model to protect.
mkdir -p "$tmp/out"
"$rnnkit" train "${flags[@]}" --train "${train[0]}" --embedding-dim 8 --output "$tmp/out/m.safetensors" 2> /dev/null || fail "first train"
cp "$tmp/out/m.safetensors" "$tmp/good.safetensors"

# Disk full: files may not grow past 16 KB (the model is ~40 KB). SIGXFSZ is ignored so that the
# write returns an error instead of killing the process.
set +e
( trap '' XFSZ; ulimit -f 16; exec "$rnnkit" train "${flags[@]}" --train "${train[0]}" --embedding-dim 16 \
    --output "$tmp/out/m.safetensors" ) > /dev/null 2> "$tmp/full.err"
status=$?
set -e
[ $status -ne 0 ] || fail "training succeeded on a full disk"
grep -q "m.safetensors.*\(write failed\|flushing failed\).*File too large.*previous file.*unchanged" "$tmp/full.err" \
  || fail "unclear error for a full disk: $(cat "$tmp/full.err")"
[ "$(grep -c . "$tmp/full.err")" -eq 1 ] || [ "$(grep -c '^rnnkit:' "$tmp/full.err")" -eq 1 ] \
  || fail "more than one error line: $(cat "$tmp/full.err")"
cmp -s "$tmp/out/m.safetensors" "$tmp/good.safetensors" || fail "the model was damaged by a failed write"
! ls "$tmp/out" | grep "tmp" > /dev/null || fail "a temporary file was left behind: $(ls "$tmp/out")"
echo "The food is good" | "$rnnkit" predict --model "$tmp/out/m.safetensors" > /dev/null || fail "the model no longer loads"

# Read-only output directory.
chmod 555 "$tmp/out"
as_user=()
if [ "$(id -u)" -eq 0 ]; then
  command -v setpriv > /dev/null || { echo "skipping the read-only check: no setpriv"; exit 0; }
  as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
fi
set +e
"${as_user[@]}" "$rnnkit" train "${flags[@]}" --train "${train[0]}" --output "$tmp/out/m.safetensors" \
  > /dev/null 2> "$tmp/ro.err"
status=$?
set -e
[ $status -ne 0 ] || fail "training succeeded into a read-only directory"
grep -q "m.safetensors.*cannot create.*Permission denied" "$tmp/ro.err" \
  || fail "unclear error for a read-only directory: $(cat "$tmp/ro.err")"
[ -z "${SHOW:-}" ] || { grep "^rnnkit:" "$tmp/full.err"; cat "$tmp/ro.err"; }
cmp -s "$tmp/out/m.safetensors" "$tmp/good.safetensors" || fail "the model changed in a read-only directory"
chmod 755 "$tmp/out"
echo "write errors: all checks passed"
