#!/usr/bin/env bash
# Load test of `rnnkit serve` with wrk (Debian package wrk): the sentiment example's model, one text
# per request, at a few concurrency levels; prints one JSON line per level (requests/s, latency
# percentiles, errors). Usage: bench/serve/load.sh [SECONDS] [CONCURRENCY...]   (default: 10 s; 1 8 32 64)
# RNNKIT_BODY='{"inputs": [...]}' sends another body.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
shift || true
levels=("$@")
[ ${#levels[@]} -eq 0 ] && levels=(1 8 32 64)
model=build/sentiment.safetensors
[ -f "$model" ] || examples/sentiment/run.sh "$model" > /dev/null 2>&1
build/rnnkit serve --model "$model" --port 0 --http-threads 64 2> build/serve-load.err &
server=$!
trap 'kill $server 2> /dev/null; wait $server 2> /dev/null || true' EXIT
port=""
for _ in $(seq 200); do
  port=$(sed -n 's|.*on http://127.0.0.1:\([0-9]*\).*|\1|p' build/serve-load.err)
  [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break
  sleep 0.05
done
[ -n "$port" ] || { cat build/serve-load.err; exit 1; }
body=${RNNKIT_BODY:-$(grep -o "'{.*}'" bench/serve/post.lua | tr -d "'")}
echo "# $(nproc) cores; wrk -t2 for ${seconds}s per level; body: $body"
for c in "${levels[@]}"; do
  printf '{"concurrency": %d, ' "$c"
  wrk -t "$(( c < 2 ? 1 : 2 ))" -c "$c" -d "${seconds}s" --latency -s bench/serve/post.lua "http://127.0.0.1:$port/v1/predict" |
    tail -1 | sed 's/^{//'
done
