#!/usr/bin/env bash
# The second README command: installs dependencies, builds everything with tests, runs them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh -DHPT_BUILD_TESTS=ON
build=${HPT_BUILD_DIR:-build}
cd "$build"
ctest --output-on-failure -j "$(nproc)" --timeout 600
