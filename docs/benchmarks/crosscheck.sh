#!/usr/bin/env bash
# Independent cross-check of loadgen's HTTP figures with wrk, and the Redis ceiling with
# redis-benchmark, against one orchestrator + private Redis started by `loadgen serve`: each
# wrk run is followed by loadgen's run of the same scenario against the same server.
# Usage: docs/benchmarks/crosscheck.sh [connections] [seconds]   (needs wrk and redis-benchmark)
set -euo pipefail
cd "$(dirname "$0")/../.."
C="${1:-64}"
D="${2:-8}"
OUT="$(mktemp -d)"
trap 'kill -INT "$SERVE" 2>/dev/null; wait "$SERVE" 2>/dev/null || true; rm -rf "$OUT"' EXIT

target/release/loadgen serve --backend redis --streams 100 --for 600s >"$OUT/serve" 2>&1 &
SERVE=$!
until grep -q '^stream' "$OUT/serve" 2>/dev/null; do sleep 0.2; done
sleep 0.5
URL=$(awk '/^http/ {print $2}' "$OUT/serve")
REDIS_PORT=$(awk '/^redis/ {split($2, a, ":"); print a[2]}' "$OUT/serve")
IDS=$(awk '/^stream/ {print $2}' "$OUT/serve" | tr '\n' ' ')
HOT=$(awk '/^stream/ {print $2; exit}' "$OUT/serve")

echo "== wrk GET /streams/:id (100 streams), -t2 -c$C -d${D}s"
STREAM_IDS="$IDS" wrk -t2 -c"$C" -d"${D}s" --latency -s docs/benchmarks/wrk/get.lua "$URL"
LG="target/release/loadgen run --url $URL -c $C -d ${D}s"
echo "== loadgen http-get (its own 100 streams on the same server)"
$LG http-get | grep -v '^{'
echo "== redis-benchmark -t get -c $C (same Redis, right after)"
redis-benchmark -p "$REDIS_PORT" -c "$C" -n 1000000 -t get --csv
echo "== wrk GET /streams/:id/state (100 streams)"
STREAM_IDS="$IDS" SUFFIX=/state wrk -t2 -c"$C" -d"${D}s" --latency -s docs/benchmarks/wrk/get.lua "$URL"
echo "== loadgen http-state"
$LG http-state | grep -v '^{'
echo "== wrk POST /streams"
wrk -t2 -c"$C" -d"${D}s" --latency -s docs/benchmarks/wrk/create.lua "$URL"
echo "== loadgen http-create"
$LG http-create | grep -v '^{'
echo "== wrk POST /streams/:id/join, one stream, unique names"
STREAM_ID="$HOT" wrk -t2 -c"$C" -d"${D}s" --latency -s docs/benchmarks/wrk/join.lua "$URL"
echo "== activeParticipants of the hot stream afterwards (compare with wrk's 2xx count)"
curl -s "$URL/streams/$HOT/state" | grep -o '"activeParticipants":[0-9]*'
echo "== loadgen http-join-hot (a new stream on the same server)"
$LG http-join-hot | grep -v '^{'
