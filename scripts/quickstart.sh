#!/usr/bin/env bash
# The first README command: installs dependencies, builds, and runs the quickstart study on the
# embedded default (local processes, SQLite file ./hpt.db, metrics over gRPC on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh -DHPT_BUILD_TESTS=OFF   # the tests are scripts/test.sh's business
build=${HPT_BUILD_DIR:-build}
exec "$build/cli/hpt" run examples/quickstart/study.yaml "$@"
