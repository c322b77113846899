#!/bin/sh
# Optimizer quality in one command: hpt's bayesianoptimization, random and sobol (through
# `hpt suggest`) beside Optuna's random, TPE (plain and multivariate), CMA-ES and QMC-Sobol, on the
# bench harness's seven functions: median and IQR of simple regret at 25/50/100 evaluations over
# 10 seeds, written to bench/results/quality.{md,json}.
#
#   bench/quality.sh                  # needs build/cli/hpt and the harness's Python packages
#   HARNESS=/path/to/bench-harness SEEDS=3 bench/quality.sh
#
# The harness (../shared/bench-harness by default) needs Debian's python3-optuna, python3-sklearn
# and python3-cmaes (apt-get install python3-optuna python3-sklearn python3-cmaes).
set -eu
cd "$(dirname "$0")/.."
HARNESS=${HARNESS:-../shared/bench-harness}
SEEDS=${SEEDS:-10}
HPT=${HPT:-build/cli/hpt}
OUT=${OUT:-bench/results}
[ -x "$HPT" ] || { echo "bench/quality.sh: $HPT not found; build first (scripts/build.sh)" >&2; exit 2; }
[ -f "$HARNESS/quality.py" ] || { echo "bench/quality.sh: no quality.py in $HARNESS (set HARNESS)" >&2; exit 2; }
mkdir -p "$OUT"
HPT_ABS=$(cd "$(dirname "$HPT")" && pwd)/$(basename "$HPT")
/usr/bin/python3 "$HARNESS/quality.py" --budget 100 --seeds "$SEEDS" --jobs 2 \
  --optimizers "random,tpe,tpe-mv,cmaes,qmc-sobol" \
  --external "ext:hpt-gp=$HPT_ABS suggest --algorithm bayesianoptimization" \
  --external "ext:hpt-random=$HPT_ABS suggest --algorithm random" \
  --external "ext:hpt-sobol=$HPT_ABS suggest --algorithm sobol" \
  --out "$OUT/quality.json" | tee "$OUT/quality.md"
