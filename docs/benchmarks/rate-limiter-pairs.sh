#!/usr/bin/env bash
# What the per-request rate limiter and the guard cost, two builds side by side: http-get with
# the limits as the harness leaves them (off), http-get with the limits on but never refusing
# (1,000,000 requests/s per address and per key: every request takes the address bucket), and
# http-join-hot (limits off). Each workload alternates BEFORE and AFTER; each round swaps which
# side goes first. Both sides are driven by this checkout's loadgen.
# One JSON line per run goes to docs/benchmarks/get-join-rate-limiter-pairs.jsonl (loadgen's line
# plus "pair": workload, side, round, load average before the run), one summary line per run to
# stdout, then per workload: Σ after ÷ Σ before throughput and the median of the rounds' ratios
# of server CPU per request (after ÷ before).
# Usage: docs/benchmarks/rate-limiter-pairs.sh BEFORE_BINARY AFTER_BINARY ROUNDS [OPTIONS…]
# e.g.   docs/benchmarks/rate-limiter-pairs.sh /tmp/orch-93e5545 target/release/orchestrator 5 \
#          --backend redis | tee docs/benchmarks/get-join-rate-limiter-pairs.txt
set -uo pipefail
cd "$(dirname "$0")/../.."
BEFORE="$1" AFTER="$2" ROUNDS="$3"
shift 3
LOADGEN="${LOADGEN:-target/release/loadgen}"
OUT=docs/benchmarks/get-join-rate-limiter-pairs.jsonl
LIMITS_ON=(--server-env APP__LIMITS__REQUESTS_PER_SEC_PER_ADDRESS=1000000
  --server-env APP__LIMITS__REQUESTS_PER_SEC_PER_KEY=1000000)
FIRST=$(cat "$OUT" 2>/dev/null | wc -l)

run() {
  local workload="$1" side="$2" round="$3"
  shift 3
  local binary="$BEFORE" line load
  [ "$side" = after ] && binary="$AFTER"
  line=$(mktemp)
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  printf '%-10s %-6s load %s | ' "$workload" "$side" "$load"
  "$LOADGEN" run --orchestrator "$binary" --json "$line" "$@" 2>&1 |
    grep -E '^  (throughput|latency|errors|server A|correctness)' |
    sed -E 's/ +/ /g' | tr '\n' '|'
  echo
  python3 - "$line" "$OUT" "$workload" "$side" "$round" "$load" <<'EOF'
import json, sys
line, out, workload, side, round_, load = sys.argv[1:]
with open(line) as f:
    for text in f:
        if text.strip():
            run = json.loads(text)
            run["pair"] = {"workload": workload, "side": side, "round": int(round_),
                           "loadavg": [float(x) for x in load.split()]}
            with open(out, "a") as o:
                o.write(json.dumps(run) + "\n")
EOF
  rm -f "$line"
}

for round in $(seq "$ROUNDS"); do
  order=(before after)
  [ $((round % 2)) = 0 ] && order=(after before)
  for side in "${order[@]}"; do run get "$side" "$round" http-get -c 64 -d 8s --no-reference "$@"; done
  for side in "${order[@]}"; do
    run get-limits "$side" "$round" http-get -c 64 -d 8s --no-reference "${LIMITS_ON[@]}" "$@"
  done
  for side in "${order[@]}"; do run join-hot "$side" "$round" http-join-hot -c 64 -d 8s "$@"; done
done

# This session's lines are those after the FIRST already in the file.
python3 - "$OUT" "$FIRST" <<'EOF'
import json, statistics, sys
out, first = sys.argv[1], int(sys.argv[2])
with open(out) as f:
    runs = [json.loads(line) for line in f if line.strip()][first:]
def cpu_per_request_us(run):
    return run["servers"][0]["cpu_s"] / run["ok"] * 1e6
for workload in ("get", "get-limits", "join-hot"):
    mine = [r for r in runs if r["pair"]["workload"] == workload]
    by_round = {}
    for r in mine:
        by_round.setdefault(r["pair"]["round"], {})[r["pair"]["side"]] = r
    pairs = [(p["before"], p["after"]) for _, p in sorted(by_round.items())
             if "before" in p and "after" in p]
    if not pairs:
        continue
    for i, (b, a) in enumerate(pairs, 1):
        print(f"{workload:<10} round {i}: before {b['throughput_rps']:,.0f}/s "
              f"{cpu_per_request_us(b):.1f} µs p99 {b['latency_ms']['p99']:.2f} ms | "
              f"after {a['throughput_rps']:,.0f}/s {cpu_per_request_us(a):.1f} µs "
              f"p99 {a['latency_ms']['p99']:.2f} ms | after ÷ before "
              f"{a['throughput_rps'] / b['throughput_rps']:.3f}, CPU/request "
              f"{cpu_per_request_us(a) / cpu_per_request_us(b):.3f}")
    sum_b = sum(b["throughput_rps"] for b, _ in pairs)
    sum_a = sum(a["throughput_rps"] for _, a in pairs)
    cpu = statistics.median(cpu_per_request_us(a) / cpu_per_request_us(b) for b, a in pairs)
    errors = sum(r["errors"]["total"] for pair in pairs for r in pair)
    lo_b, hi_b = min(b["throughput_rps"] for b, _ in pairs), max(b["throughput_rps"] for b, _ in pairs)
    lo_a, hi_a = min(a["throughput_rps"] for _, a in pairs), max(a["throughput_rps"] for _, a in pairs)
    print(f"{workload:<10} {len(pairs)} rounds: Σ after ÷ Σ before {sum_a / sum_b:.3f}; "
          f"median CPU per request after ÷ before {cpu:.3f}; before {lo_b:,.0f}–{hi_b:,.0f}/s, "
          f"after {lo_a:,.0f}–{hi_a:,.0f}/s; errors {errors}")
EOF
