#!/usr/bin/env bash
# Runs every fuzz target briefly with libFuzzer (cargo fuzz), on the stable toolchain: without a
# sanitizer (`-s none`) cargo fuzz needs no nightly flag, and libFuzzer's coverage guidance
# still finds panics (the property each target checks). FUZZ_SECONDS per target (default 15).
# New inputs go to fuzz/corpus/<target> (ignored by git); fuzz/seeds/<target> is the committed
# starting corpus. A crash leaves its input in fuzz/artifacts/<target> and fails the run.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${FUZZ_SECONDS:-15}"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz (crates.io)"
  cargo install --locked cargo-fuzz@0.13.2
fi
for target in ws_frames ws_message livekit_webhook; do
  echo "== fuzz $target for ${seconds}s"
  mkdir -p "corpus/$target"
  log="corpus/$target.log"
  if ! cargo fuzz run --sanitizer none "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz target $target failed: the crashing input is in fuzz/artifacts/$target" >&2
    exit 1
  fi
  grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$log" || true
done
