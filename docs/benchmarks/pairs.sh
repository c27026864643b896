#!/usr/bin/env bash
# One scenario against two orchestrator binaries, alternating BEFORE, AFTER, BEFORE, AFTER…
# so both see the same machine; JSON lines go to docs/benchmarks/NAME-{before,after}.jsonl and
# a one-line summary per row to stdout.
# Usage: docs/benchmarks/pairs.sh NAME BEFORE_BINARY AFTER_BINARY ROUNDS -- SCENARIO [OPTIONS…]
# e.g.   docs/benchmarks/pairs.sh join-memo /tmp/orch-1991b2f target/release/orchestrator 3 \
#          -- http-join-hot -c 64 -d 8s
set -uo pipefail
cd "$(dirname "$0")/../.."
NAME="$1" BEFORE="$2" AFTER="$3" ROUNDS="$4"
shift 5
for _ in $(seq "$ROUNDS"); do
  for side in before after; do
    binary="$BEFORE"
    [ "$side" = after ] && binary="$AFTER"
    printf '%-6s %s: ' "$side" "$*"
    target/release/loadgen run --orchestrator "$binary" \
      --json "docs/benchmarks/$NAME-$side.jsonl" "$@" 2>&1 |
      grep -E '^  (throughput|latency|errors|server A|fan-out|RSS|correctness)' |
      sed -E 's/ +/ /g' | tr '\n' '|'
    echo
  done
done
