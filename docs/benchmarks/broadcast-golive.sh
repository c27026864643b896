#!/usr/bin/env bash
# The broadcast rows of BENCHMARKS.md: 1,000 streams with two auto-start outputs each go live
# within a second, at several egress start paces; JSON lines appended to
# docs/benchmarks/broadcast-golive-<backend>.jsonl, the load before each run on stderr.
# Usage: docs/benchmarks/broadcast-golive.sh [redis|memory] [RUNS_AT_200]
# Build first: cargo build --release -p orchestrator -p orchestrator-loadgen -p livekit-emulator
set -uo pipefail
cd "$(dirname "$0")/../.."
BACKEND="${1:-redis}"
RUNS="${2:-3}"
OUT="${OUT:-docs/benchmarks/broadcast-golive-$BACKEND.jsonl}"
# The machine is shared: wait (at most 5 minutes) until no compiler runs, and log the load.
quiet() {
  for _ in $(seq 300); do
    pgrep -x rustc >/dev/null || pgrep -f rust-lld >/dev/null || return 0
    sleep 1
  done
}
run() {
  quiet
  echo "# $(uptime)" >&2
  target/release/loadgen run broadcast-golive --backend "$BACKEND" --streams 1000 \
    --go-live-within 1s --json "$OUT" "$@"
}

# the benchmark's pace: 2,000 starts in ≈ 10 s
for _ in $(seq "$RUNS"); do run --egress-starts-per-sec 200; done
# half of it, and the shipped default (config/default.toml: 20/s, ≈ 100 s)
run --egress-starts-per-sec 100
run --egress-starts-per-sec 20
# no pace to speak of: what the rest of the path allows
run --egress-starts-per-sec 10000
