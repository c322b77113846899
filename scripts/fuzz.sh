#!/usr/bin/env bash
# Builds hpt's libFuzzer targets with clang (ASan + UBSan) and runs each for a bounded time.
#
#   scripts/fuzz.sh                      every target, 60 seconds each
#   scripts/fuzz.sh --seconds 30 study_yaml
#
# The build directory is build-fuzz (or $HPT_FUZZ_BUILD_DIR); $HPT_FUZZ_BUILD_JOBS sets the build's
# parallelism (default: all cores). Each target's working corpus is <build>/fuzz-corpus/<target>,
# seeded from tests/fuzz/corpus/<target>/ and tests/fuzz/regressions/<target>/ and, for the YAML
# targets, Katib's example studies in ../shared/peers/katib when that folder exists.
# When a target crashes, times out, runs out of memory or breaks a contract, the input is copied
# to tests/fuzz/regressions/<target>/ (rename it after the bug; tests/fuzz/README.md), the
# command that reproduces it is printed, and the script exits 1 after running the other targets.
# Needs clang and libFuzzer's runtime: on Debian bookworm the packages clang and libclang-rt-14-dev.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: scripts/fuzz.sh [--seconds N] [study_yaml|gotemplate|yaml_json ...]" >&2
  exit 2
}

all_targets=(study_yaml gotemplate yaml_json)
seconds=60
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds)
      [ $# -ge 2 ] || usage
      seconds=$2
      shift 2
      ;;
    --seconds=*)
      seconds=${1#--seconds=}
      shift
      ;;
    -h | --help) usage ;;
    -*) usage ;;
    *)
      case " ${all_targets[*]} " in
        *" $1 "*) targets+=("$1") ;;
        *) echo "fuzz: unknown target '$1' (known: ${all_targets[*]})" >&2; exit 2 ;;
      esac
      shift
      ;;
  esac
done
case "$seconds" in
  '' | *[!0-9]*) echo "fuzz: --seconds takes a whole number of seconds, got '$seconds'" >&2; exit 2 ;;
esac
[ "$seconds" -gt 0 ] || { echo "fuzz: --seconds must be at least 1" >&2; exit 2; }
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

if ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz: clang++ not found; install the Debian packages clang and libclang-rt-14-dev" >&2
  exit 2
fi
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' \
  >"$probe/probe.cc"
if ! clang++ -fsanitize=fuzzer,address,undefined "$probe/probe.cc" -o "$probe/probe" 2>/dev/null
then
  echo "fuzz: clang++ cannot link a libFuzzer program with ASan and UBSan; install" \
    "libclang-rt-14-dev" >&2
  exit 2
fi

build=${HPT_FUZZ_BUILD_DIR:-build-fuzz}
jobs=${HPT_FUZZ_BUILD_JOBS:-$(nproc)}
echo "fuzz: configuring and building $build (clang, ASan + UBSan + libFuzzer)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_C_COMPILER=clang -DHPT_BUILD_FUZZ=ON -DHPT_WITH_CUDA=OFF -DHPT_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "$jobs" --target hpt_fuzzers

katib=../shared/peers/katib
failed=()
for t in "${targets[@]}"; do
  fuzzer="$build/tests/fuzz/${t}_fuzzer"
  corpus="$build/fuzz-corpus/$t"
  artifacts="$build/fuzz-artifacts/$t"
  regressions="tests/fuzz/regressions/$t"
  mkdir -p "$corpus" "$artifacts" "$regressions"
  # Read-only seed folders after the working corpus (libFuzzer writes new inputs to the first).
  seeds=("tests/fuzz/corpus/$t" "$regressions")
  if [ "$t" != gotemplate ] && [ -d "$katib" ]; then
    for d in "$katib"/v1alpha1 "$katib"/v1beta1; do
      [ -d "$d" ] && seeds+=("$d")
    done
  fi
  before=$(ls "$artifacts")
  echo "fuzz: $t for ${seconds}s (corpus $corpus)"
  rc=0
  "$fuzzer" "$corpus" "${seeds[@]}" -dict="tests/fuzz/$t.dict" -max_total_time="$seconds" \
    -timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" 2>"$build/fuzz-$t.log" || rc=$?
  tail -n 12 "$build/fuzz-$t.log" | grep -E '^(stat::|Done|#)' || true
  if [ "$rc" -ne 0 ]; then
    failed+=("$t")
    echo "fuzz: $t FAILED (exit $rc); the fuzzer's report is in $build/fuzz-$t.log:" >&2
    grep -E 'ERROR|SUMMARY|contract broken|runtime error|terminate called|what\(\)' \
      "$build/fuzz-$t.log" | head -n 8 >&2 || true
    for a in $(ls "$artifacts"); do
      grep -qxF "$a" <<<"$before" && continue
      saved="$regressions/$a"
      # A kept regression failing again is not saved twice.
      for r in "$regressions"/*; do
        if [ -f "$r" ] && cmp -s "$r" "$artifacts/$a"; then saved=$r; fi
      done
      [ "$saved" = "$regressions/$a" ] && cp "$artifacts/$a" "$saved"
      echo "fuzz: the input is $saved; reproduce with:" >&2
      echo "  $fuzzer $saved" >&2
    done
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failures in: ${failed[*]} (fix them, rename the saved inputs after the bug, and add" \
    "a test; tests/fuzz/README.md)" >&2
  exit 1
fi
echo "fuzz: no failures in ${targets[*]} (${seconds}s each)"
