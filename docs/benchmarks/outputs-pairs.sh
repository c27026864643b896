#!/usr/bin/env bash
# What outputs cost a GET and a join: http-get and http-join-hot on streams without outputs and
# on streams that declare two (idle, auto-start) outputs each (`--with-outputs`), alternating in
# one session so both sides see the same machine; each round swaps which side goes first.
# JSON lines go to docs/benchmarks/{get,join-hot}-{without,with}-outputs.jsonl, one summary line
# per run to stdout, then the with ÷ without ratio of each round.
# Usage: docs/benchmarks/outputs-pairs.sh ROUNDS [OPTIONS…]   (options go to every run)
# e.g.   docs/benchmarks/outputs-pairs.sh 3 --backend redis | tee docs/benchmarks/get-join-with-outputs-pairs.txt
set -uo pipefail
cd "$(dirname "$0")/../.."
ROUNDS="${1:-3}"
shift || true
LOADGEN="${LOADGEN:-target/release/loadgen}"
OUT=docs/benchmarks

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
  local name="$1" side="$2"
  shift 2
  local flag=()
  [ "$side" = with ] && flag=(--with-outputs)
  printf '%-8s %-7s ' "$name" "$side"
  "$LOADGEN" run "$@" "${flag[@]}" --json "$OUT/$name-$side-outputs.jsonl" 2>&1 |
    grep -E '^  (throughput|latency|errors|server A|correctness)' |
    sed -E 's/ +/ /g' | tr '\n' '|'
  echo
}

for round in $(seq "$ROUNDS"); do
  order=(without with)
  [ $((round % 2)) = 0 ] && order=(with without)
  for side in "${order[@]}"; do run get "$side" http-get -c 64 -d 8s --no-reference "$@"; done
  for side in "${order[@]}"; do run join-hot "$side" http-join-hot -c 64 -d 8s "$@"; done
done

# The last ROUNDS lines of each file are this session's.
python3 - "$OUT" "$ROUNDS" <<'EOF'
import json, sys
out, rounds = sys.argv[1], int(sys.argv[2])
for name in ("get", "join-hot"):
    sides = {}
    for side in ("without", "with"):
        with open(f"{out}/{name}-{side}-outputs.jsonl") as f:
            sides[side] = [json.loads(line) for line in f if line.strip()][-rounds:]
    for i, (without, with_) in enumerate(zip(sides["without"], sides["with"]), 1):
        ratio = with_["throughput_rps"] / without["throughput_rps"]
        print(f"{name:<8} round {i}: without {without['throughput_rps']:,.0f}/s "
              f"p99 {without['latency_ms']['p99']:.2f} ms | with {with_['throughput_rps']:,.0f}/s "
              f"p99 {with_['latency_ms']['p99']:.2f} ms | with ÷ without {ratio:.3f}")
EOF
