#!/usr/bin/env bash
# The same scenarios against two orchestrator binaries in one run, alternating row by row, so
# both see the same machine: BEFORE (default /tmp/orchestrator-before, e.g. a release build of
# main 8225a5e, the last commit before the audience model) and AFTER (target/release). JSON
# lines go to docs/benchmarks/before-after-{before,after}.jsonl.
# Usage: docs/benchmarks/before-after.sh [redis|memory]
# Build first: cargo build --release -p orchestrator -p orchestrator-loadgen, and the BEFORE
# binary from its own checkout.
set -uo pipefail
cd "$(dirname "$0")/../.."
BACKEND="${1:-redis}"
BEFORE="${BEFORE:-/tmp/orchestrator-before}"
AFTER="${AFTER:-target/release/orchestrator}"
# The model before joins at 25-85/s into a stream that holds an audience: 2,000 is the most
# it can be pre-filled with in a reasonable time (both binaries get the same).
AUDIENCE="${AUDIENCE:-2000}"
rm -f docs/benchmarks/before-after-{before,after}.jsonl
ulimit -n "$(ulimit -Hn)"
run() {
  for side in before after; do
    binary="$BEFORE"
    [ "$side" = after ] && binary="$AFTER"
    echo "# $side: $* ($(uptime))" >&2
    target/release/loadgen run --backend "$BACKEND" --orchestrator "$binary" \
      --json "docs/benchmarks/before-after-$side.jsonl" "$@" | grep -v '^{'
  done
}

run http-get -c 64 -d 8s
run http-get -c 64 -d 8s --streams 1 --audience "$AUDIENCE"
run http-state -c 64 -d 8s --streams 1 --audience "$AUDIENCE"
run http-create -c 64 -d 8s
run http-join-spread -c 64 -d 8s
run http-join-hot -c 64 -d 8s
run http-join-hot -c 64 -d 8s --audience "$AUDIENCE"
run http-mixed -c 64 -d 8s
run http-mixed -c 64 -d 8s --streams 1
run ws-fanout -d 8s --streams 1 --subscribers 5000 --event-rate 20
