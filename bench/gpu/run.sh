#!/usr/bin/env bash
# The GPU proof of the CUDA LinalgBackend, in one command on a machine with an NVIDIA GPU:
#   1. the parity tests (hpt_cuda_backend_test: CPU and GPU agree to 1e-8, n up to 5,000), with
#      HPT_TEST_EXPECT_CUDA=1 so that a backend that does not come up fails instead of skipping;
#   2. hpt_gp_gpu_bench: hpt's CUDA and Eigen backends, n = 1k, 5k, 10k, 20k, d = 10, 100k
#      candidates, (a) fixed-hyperparameter fit + posterior, (b) hyperparameter fit + posterior,
#      and the crossover table for LinalgBackend::ForSize();
#   3. bench/gpu/gpytorch_bench.py: GPyTorch's exact GP on the same data and GPU, its predictions
#      checked against hpt's, and the Markdown table (printed last).
#
#   bench/gpu/run.sh                     # configure and build here (Release, HPT_WITH_CUDA=ON)
#   bench/gpu/run.sh --bundle DIR        # use the binaries bench/gpu/bundle.sh packed into DIR
#   bench/gpu/run.sh --quick             # small sizes: a smoke test of the whole pipeline
#   bench/gpu/run.sh --skip-parity | --skip-bench
#
# The GPU machines of this workplace have CUDA, PyTorch and GPyTorch but not hpt's Debian build
# dependencies: pack the binaries on the build machine first (bench/gpu/bundle.sh) and run with
# --bundle. Results go to $OUT (or ./build-gpu-out): run.log, env.txt, parity.log, bench.log,
# hpt_gpu_bench.json, gpytorch_bench.json, results.md. The data files stay in $HPT_GPU_WORK
# (default /tmp/hpt-gpu-bench). Exit status: 0 when every stage passed.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

bundle=""
quick=0
parity=1
bench=1
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) bundle=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    --skip-parity) parity=0; shift ;;
    --skip-bench) bench=0; shift ;;
    *) echo "usage: $0 [--bundle DIR] [--quick] [--skip-parity] [--skip-bench]" >&2; exit 64 ;;
  esac
done

out=${OUT:-$root/build-gpu-out}
work=${HPT_GPU_WORK:-/tmp/hpt-gpu-bench}
mkdir -p "$out" "$work"
exec > >(tee -a "$out/run.log") 2>&1
status=0
stage() { echo; echo "=== $* ($(date +%T))"; }

stage "environment"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1
  command -v nvcc >/dev/null && nvcc --version | tail -n 2
  python3 -c 'import torch, gpytorch; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpytorch", gpytorch.__version__)' 2>&1
  echo "nproc $(nproc)"; uname -r; ldd --version 2>&1 | head -n 1
} | tee "$out/env.txt"

# The CUDA libraries the binaries load (libcublas.so.13, libcusolver.so.12, ...): the toolkit's,
# else those of the pip wheels next to PyTorch.
cuda_lib_path() {
  local dirs=() d
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda/lib; do
    [ -e "$d/libcusolver.so.12" ] && dirs+=("$d")
  done
  while IFS= read -r d; do dirs+=("$d"); done < <(python3 - 2>/dev/null <<'EOF'
import glob, os
try:
    import nvidia
    for base in nvidia.__path__:
        for lib in glob.glob(os.path.join(base, "**", "lib"), recursive=True):
            if glob.glob(os.path.join(lib, "libcu*.so*")) or glob.glob(os.path.join(lib, "libnv*.so*")):
                print(lib)
except ImportError:
    pass
EOF
  )
  (IFS=:; echo "${dirs[*]}")
}

stage "binaries"
# The library path of hpt's binaries only (python3 and torch keep their own).
libpath="$(cuda_lib_path)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ -n "$bundle" ]; then
  bundle=$(cd "$bundle" && pwd)
  tests=$bundle/bin/hpt_cuda_backend_test
  driver=$bundle/bin/hpt_gp_gpu_bench
  libpath="$bundle/lib:$libpath"
  cat "$bundle/COMMIT" 2>/dev/null
  # The bundle's libstdc++ only when this machine's is older than the build machine's.
  if ! LD_LIBRARY_PATH="$libpath" "$tests" --gtest_list_tests >/dev/null 2>&1; then
    libpath="$bundle/lib:$bundle/lib-std:${libpath#"$bundle/lib:"}"
  fi
else
  build=${HPT_GPU_BUILD:-$root/build-gpu}
  if ! cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DHPT_WITH_CUDA=ON \
         -DHPT_BUILD_BENCH=ON -DHPT_BUILD_TESTS=ON >"$work/configure.log" 2>&1 ||
     ! cmake --build "$build" -j "$(nproc)" --target hpt_cuda_backend_test hpt_gp_gpu_bench \
         >"$work/build.log" 2>&1; then
    tail -n 30 "$work/configure.log" "$work/build.log" 2>/dev/null
    echo "run.sh: the build failed; on a machine without hpt's dependencies use bench/gpu/bundle.sh"
    echo "on the build machine and --bundle here"
    exit 1
  fi
  tests=$build/tests/suggest/hpt_cuda_backend_test
  driver=$build/bench/hpt_gp_gpu_bench
fi
echo "library path of the binaries: $libpath"
missing=$(LD_LIBRARY_PATH="$libpath" ldd "$tests" "$driver" 2>&1 | grep -E "not found|No such file" |
  sort -u)
if [ -n "$missing" ] || ! LD_LIBRARY_PATH="$libpath" "$tests" --gtest_list_tests >/dev/null 2>&1; then
  echo "run.sh: the binaries cannot start here:"
  echo "$missing"
  LD_LIBRARY_PATH="$libpath" "$tests" --gtest_list_tests 2>&1 | head -n 5
  exit 1
fi

if [ "$parity" = 1 ]; then
  stage "parity tests (CPU vs GPU, 1e-8)"
  HPT_TEST_EXPECT_CUDA=1 LD_LIBRARY_PATH="$libpath" timeout 200 "$tests" --gtest_color=no \
    >"$out/parity.log" 2>&1
  rc=$?
  sed -n '/Global test environment tear-down/,$p' "$out/parity.log" | tail -n 40
  [ $rc -eq 0 ] || { echo "run.sh: parity tests failed (status $rc; see parity.log)"; status=1; }
fi

if [ "$bench" = 1 ]; then
  stage "hpt benchmark (CUDA and Eigen backends)"
  if [ "$quick" = 1 ]; then
    args=(--sizes=500,1000 --candidates=5000 --repeats=2 --fit-evaluations=10
          --crossover-sizes=100,300,1000)
  else
    args=()
  fi
  LD_LIBRARY_PATH="$libpath" timeout 270 "$driver" --out="$work" "${args[@]}" \
    >"$out/bench.log" 2>&1
  rc=$?
  tail -n 40 "$out/bench.log"
  if [ $rc -eq 0 ]; then
    cp "$work/hpt_gpu_bench.json" "$out/"
    stage "GPyTorch on the same data"
    timeout 160 python3 "$root/bench/gpu/gpytorch_bench.py" --hpt "$work/hpt_gpu_bench.json" \
      --out "$out/gpytorch_bench.json" --markdown "$out/results.md"
    rc=$?
    [ $rc -eq 0 ] || { echo "run.sh: gpytorch_bench.py failed or found a mismatch (status $rc)"; status=1; }
  else
    echo "run.sh: hpt_gp_gpu_bench failed (status $rc; see bench.log)"
    status=1
  fi
fi

stage "done: status $status; files in $out"
exit $status
