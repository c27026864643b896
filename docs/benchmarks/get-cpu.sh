#!/usr/bin/env bash
# GET /streams/:id under wrk, with each process's CPU per request (server, Redis, wrk), for
# two orchestrator builds (each on a private Redis of its own, alternating), the floor of the
# service's stack (docs/benchmarks/floor: actix-web + fred, one HMGET, no middleware) and
# redis-benchmark -t get, all at 64 connections in one run. BEFORE and AFTER may be the same.
# Usage: docs/benchmarks/get-cpu.sh BEFORE_BIN AFTER_BIN [ROUNDS]   (needs wrk, redis-benchmark)
set -euo pipefail
cd "$(dirname "$0")/../.."
FLOOR_DIR=docs/benchmarks/floor
FLOOR="${FLOOR_TARGET:-target/get-floor}/release/get-floor"
[ -x "$FLOOR" ] || CARGO_TARGET_DIR="${FLOOR_TARGET:-target/get-floor}" cargo build --release --locked --manifest-path "$FLOOR_DIR/Cargo.toml" >&2
A=$1; B=$2; ROUNDS=${3:-3}; C=64; D=8
OUT=$(mktemp -d)
start() { target/release/loadgen serve --backend redis --streams 100 --for 1200s --orchestrator "$1" >"$OUT/$2" 2>&1 & echo $! >"$OUT/$2.pid"; }
start "$A" a; start "$B" b
for s in a b; do until grep -q '^stream' "$OUT/$s" 2>/dev/null; do sleep 0.2; done; done
sleep 0.5
info() { # file -> URL REDIS_PORT SRV RDS
  local url port rport
  url=$(awk '/^http/ {print $2}' "$OUT/$1"); rport=$(awk '/^redis/ {split($2, a, ":"); print a[2]}' "$OUT/$1")
  port=${url##*:}
  echo "$url $rport $(ss -ltnpH "sport = :$port" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2) $(ss -ltnpH "sport = :$rport" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)"
}
read -r UA RPA SA RA <<<"$(info a)"; read -r UB RPB SB RB <<<"$(info b)"
IDSA=$(awk '/^stream/ {print $2}' "$OUT/a" | tr '\n' ' '); IDSB=$(awk '/^stream/ {print $2}' "$OUT/b" | tr '\n' ' ')
"$FLOOR" redis 127.0.0.1:18092 "redis://127.0.0.1:$RPA" "lso:" >/dev/null 2>&1 & FR=$!
"$FLOOR" static 127.0.0.1:18091 >/dev/null 2>&1 & FS=$!
trap 'kill $FR $FS 2>/dev/null; kill -INT $(cat $OUT/a.pid) $(cat $OUT/b.pid) 2>/dev/null; wait 2>/dev/null || true; rm -rf "$OUT"' EXIT
sleep 1
ticks() { awk '{print $14+$15}' /proc/$1/stat; }
measure() { # name url server_pid redis_pid ids
  local s0 r0 s1 r1
  s0=$(ticks $3); r0=$(ticks $4)
  STREAM_IDS="$5" /usr/bin/time -f "X %U %S" wrk -t2 -c"$C" -d"${D}s" --latency -s docs/benchmarks/wrk/get.lua "$2" >"$OUT/wrk" 2>"$OUT/wt"
  s1=$(ticks $3); r1=$(ticks $4)
  python3 - "$1" "$(awk '/requests in/ {print $1}' "$OUT/wrk")" "$(awk '/Requests\/sec/ {print $2}' "$OUT/wrk")" "$(awk '$1=="99%" {print $2}' "$OUT/wrk")" "$((s1-s0))" "$((r1-r0))" $(cut -d' ' -f2,3 "$OUT/wt") "$(grep -c 'Non-2xx' "$OUT/wrk" || true)" <<'PY'
import sys
name, req, rps, p99, s, r, wu, ws, bad = sys.argv[1:]
req=int(req); s=int(s)/100; r=int(r)/100; w=float(wu)+float(ws)
us=lambda x: x/req*1e6
print(f"{name:12} rps={float(rps):8.0f} p99={p99:>7} server={us(s):5.1f}us redis={us(r):4.1f}us wrk={us(w):5.1f}us total={us(s+r+w):5.1f}us non2xx={bad}")
PY
}
for i in $(seq "$ROUNDS"); do
  measure before "$UA" "$SA" "$RA" "$IDSA"
  measure after "$UB" "$SB" "$RB" "$IDSB"
  measure floor-redis http://127.0.0.1:18092 "$FR" "$RA" "$IDSA"
  measure floor-static http://127.0.0.1:18091 "$FS" "$RA" "$IDSA"
  /usr/bin/time -f "X %U %S" redis-benchmark -p "$RPA" -c "$C" -n 1000000 -t get --csv >"$OUT/rb" 2>"$OUT/rbt"
  echo "redis-bench  rps=$(grep '"GET"' "$OUT/rb" | cut -d, -f2 | tr -d '"')"
done
