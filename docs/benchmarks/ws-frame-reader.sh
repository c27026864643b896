#!/usr/bin/env bash
# The WebSocket transport before and after the RFC 6455 frame reader (merge 3ca641d: client
# frames checked as they arrive by crates/ws/src/{frames,utf8,reader}.rs; queued frames written
# 16 per vectored write): two orchestrator binaries driven by one loadgen, alternating, each
# round swapping which side goes first, so both see the same machine.
#   idle:   19,500 idle subscribers of one stream (the most 20,000 open files allow), 1 event/s:
#           server RSS per idle subscriber (`fanout.rss_per_subscriber_bytes`)
#   fanout: 5,000 subscribers of one stream at 20 events/s (BENCHMARKS.md's row): deliveries/s,
#           last subscriber p99, and RSS per subscriber again
# JSON lines go to docs/benchmarks/ws-frame-reader-{before,after}.jsonl (emptied first), one
# summary line per run (with the load average before it) to stdout, then the medians per side
# and after ÷ before.
# Usage: docs/benchmarks/ws-frame-reader.sh BEFORE_BINARY AFTER_BINARY [ROUNDS]
# e.g.   git worktree add --detach ../ws-before 3ca641d^1
#        (cd ../ws-before && cargo build --release -p orchestrator)
#        cargo build --release -p orchestrator -p orchestrator-loadgen   # after, and the loadgen
#        docs/benchmarks/ws-frame-reader.sh ../ws-before/target/release/orchestrator \
#          target/release/orchestrator 10 | tee docs/benchmarks/ws-frame-reader.txt
set -uo pipefail
cd "$(dirname "$0")/../.."
BEFORE="$1" AFTER="$2" ROUNDS="${3:-3}"
LOADGEN="${LOADGEN:-target/release/loadgen}"
OUT=docs/benchmarks/ws-frame-reader
ulimit -n "$(ulimit -Hn)"
rm -f "$OUT-before.jsonl" "$OUT-after.jsonl"

IDLE=(ws-fanout --backend redis -d 8s --streams 1 --subscribers 19500 --event-rate 1)
FANOUT=(ws-fanout --backend redis -d 8s --streams 1 --subscribers 5000 --event-rate 20)

# The machine is shared: wait (at most 2 minutes) until no compiler runs, and log the load.
quiet() {
  for _ in $(seq 120); do
    pgrep -x rustc >/dev/null || pgrep -f rust-lld >/dev/null || return 0
    sleep 1
  done
}

run() {
  local name="$1" side="$2"
  shift 2
  local binary="$BEFORE"
  [ "$side" = after ] && binary="$AFTER"
  quiet
  printf '%-6s %-6s load %s | ' "$name" "$side" "$(cut -d' ' -f1-3 /proc/loadavg)"
  "$LOADGEN" run --orchestrator "$binary" "$@" --json "$OUT-$side.jsonl" 2>&1 |
    grep -E '^  (fan-out|last sub ms|RSS|errors|correctness)' |
    sed -E 's/ +/ /g; s/correctness ok \(.*\)/correctness ok/' | tr '\n' '|'
  echo
}

for round in $(seq "$ROUNDS"); do
  order=(before after)
  [ $((round % 2)) = 0 ] && order=(after before)
  for side in "${order[@]}"; do run idle "$side" "${IDLE[@]}"; done
  for side in "${order[@]}"; do run fanout "$side" "${FANOUT[@]}"; done
done

python3 - "$OUT" <<'EOF'
import json, statistics, sys
out = sys.argv[1]
rows = {}
for side in ("before", "after"):
    with open(f"{out}-{side}.jsonl") as f:
        for line in f:
            r = json.loads(line)
            name = "idle" if r["fanout"]["subscribers"] == 19500 else "fanout"
            rows.setdefault((name, side), []).append(r)
rss = ("RSS per idle subscriber, KiB", 2, lambda r: r["fanout"]["rss_per_subscriber_bytes"] / 1024)
figures = {
    "idle": [rss],
    "fanout": [
        rss,
        ("deliveries/s", 0, lambda r: r["fanout"]["deliveries_per_s"]),
        ("last subscriber p99, ms", 1, lambda r: r["fanout"]["last_subscriber_ms"]["p99"]),
        # loadgen is the same binary on both sides: its CPU moves only with the machine.
        ("server CPU ÷ loadgen CPU", 2, lambda r: r["servers"][0]["cpu_s"] / r["harness"]["cpu_s"]),
    ],
}
for name, measures in figures.items():
    for label, digits, get in measures:
        b = [get(r) for r in rows[(name, "before")]]
        a = [get(r) for r in rows[(name, "after")]]
        mb, ma = statistics.median(b), statistics.median(a)
        fmt = lambda xs: ", ".join(f"{x:,.{digits}f}" for x in xs)
        print(f"{name:<6} {label}: before {fmt(b)} (median {fmt([mb])}) | "
              f"after {fmt(a)} (median {fmt([ma])}) | after ÷ before {ma / mb:.3f}")
EOF
