#!/usr/bin/env bash
# hptd's metric intake (issue 6), measured in one session beside the SQLite ceilings:
#   1. the harness's sqlite_ceiling.py (its own table, with and without the index on
#      (trial_id, name, step)), unchanged;
#   2. the same matrix on hpt's own schema (hpt_bench_intake --ceiling: the table TrialStore::Open
#      makes, the store's pragmas), plus the intake's own row order into hpt's table, schema 1's
#      layout and a trial-keyed layout, long enough to reach the steady state;
#   3. end to end: 1,000 reporting trials over gRPC on loopback, unary and stream, batches of 100
#      and 1,000 points, 3 runs each, every run verified (stored == acknowledged).
#
#   cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DHPT_BUILD_BENCH=ON
#   cmake --build build-bench --target hpt_bench_intake
#   bench/intake.sh [BUILD_DIR]        # default build-bench; about 10 minutes
#
# Results: bench/results/intake-*.json(l); scratch files in $BENCH_BUILD (default
# /tmp/bench-harness-build). The harness is looked up at $HARNESS (default
# ../shared/bench-harness, beside the repository).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-bench}
BIN=$BUILD/bench/hpt_bench_intake
HARNESS=${HARNESS:-../shared/bench-harness}
export BENCH_BUILD=${BENCH_BUILD:-/tmp/bench-harness-build}
OUT=bench/results
mkdir -p "$OUT" "$BENCH_BUILD"
[[ -x $BIN ]] || { echo "intake.sh: $BIN not built (configure with -DHPT_BUILD_BENCH=ON)" >&2; exit 2; }

echo "== $(date -u +%FT%TZ) on $(nproc) CPUs ($(lscpu | sed -n 's/^Model name: *//p' | head -1))," \
     "$(free -g | awk '/^Mem:/ {print $2}') GiB; load $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== 1. harness SQLite ceiling (its own table)"
/usr/bin/python3 "$HARNESS/sqlite_ceiling.py" --names id --out "$OUT/intake-harness-ceiling.jsonl"

echo "== 2. the same on hpt's schema, and the intake's order; load $(cut -d' ' -f1-3 /proc/loadavg)"
"$BIN" --ceiling --dir "$BENCH_BUILD" > "$OUT/intake-ceiling.json"

for batch in 100 1000; do
  echo "== 3. end to end, batches of $batch points; load $(cut -d' ' -f1-3 /proc/loadavg)"
  "$BIN" --mode both --batch "$batch" --runs 3 --seconds 10 --dir "$BENCH_BUILD" \
    > "$OUT/intake-b$batch.json"
done
echo "== done; load $(cut -d' ' -f1-3 /proc/loadavg)"
