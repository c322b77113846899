#!/usr/bin/env bash
# The second README command: installs dependencies, builds everything with tests, runs them, then
# runs the fuzz targets for 30 seconds each.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh -DHPT_BUILD_TESTS=ON
build=${HPT_BUILD_DIR:-build}
(cd "$build" && ctest --output-on-failure -j "$(nproc)" --timeout 600)
# Then each fuzz target for a bounded time (clang, ASan + UBSan); a crash fails the run and its
# input is kept under tests/fuzz/regressions/ (tests/fuzz/README.md). HPT_FUZZ_SECONDS=0 skips it.
fuzz_seconds=${HPT_FUZZ_SECONDS:-30}
if [ "$fuzz_seconds" -gt 0 ]; then
  scripts/fuzz.sh --seconds "$fuzz_seconds"
fi
