#!/usr/bin/env bash
# Installs every package hpt needs to build, test and run, from Debian bookworm's archive.
# Idempotent: when everything is already installed it says so and changes nothing (no root needed
# then); otherwise it needs root (apt-get). Prints what it does.
set -euo pipefail

PACKAGES=(
  # toolchain
  ca-certificates cmake g++ make pkg-config git
  # C++ libraries (see DESIGN.md "Dependencies")
  libabsl-dev libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc libssl-dev
  libeigen3-dev libnlopt-cxx-dev libsqlite3-dev sqlite3 nlohmann-json3-dev libyaml-cpp-dev
  libcurl4-openssl-dev libcpp-httplib-dev libcli11-dev libboost-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # Python side: the client library, the example training programs, the Kubernetes manifest checks
  python3 python3-grpcio python3-protobuf python3-jsonschema python3-yaml
  # tests: the openssl command makes TLS certificates; clang and libFuzzer's runtime build the
  # fuzz targets that scripts/test.sh runs for a bounded time (scripts/fuzz.sh)
  openssl clang libclang-rt-14-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

echo "install-deps: installing ${#missing[@]} package(s): ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "install-deps: need root to run apt-get (run as root or install sudo)" >&2; exit 1
  fi
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
echo "install-deps: apt-get update"
$SUDO apt-get update -q
echo "install-deps: apt-get install -y --no-install-recommends ${missing[*]}"
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install-deps: done"
