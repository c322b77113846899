#!/usr/bin/env bash
# Packs the GPU proof's binaries for a GPU machine that has CUDA 13 and PyTorch but not hpt's
# build dependencies: builds hpt_cuda_backend_test and hpt_gp_gpu_bench here (a CUDA toolkit is
# needed, a GPU is not), strips them and copies them with the shared libraries that such a
# machine lacks (abseil, NLopt, libcudart in lib/; libstdc++ and libgcc_s in lib-std/, for a
# machine whose own are older; not glibc, not cuBLAS/cuSOLVER, which are too large and come with
# the GPU machine's CUDA) into BUNDLE_DIR.
#
#   bench/gpu/bundle.sh [BUILD_DIR] [BUNDLE_DIR]     # defaults: build-gpu, build-gpu-bundle
#   HPT_JOBS=1 bench/gpu/bundle.sh /work/build-cuda-release build-gpu-bundle
#
# then, on the GPU machine, from the repository root: bench/gpu/run.sh --bundle build-gpu-bundle
# (both default paths sit under the repository's ignored /build*/ folders).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build-gpu}
bundle=${2:-build-gpu-bundle}

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DHPT_WITH_CUDA=ON -DHPT_BUILD_BENCH=ON \
  -DHPT_BUILD_TESTS=ON >/dev/null
cmake --build "$build" -j "${HPT_JOBS:-$(nproc)}" --target hpt_cuda_backend_test hpt_gp_gpu_bench

rm -rf "$bundle"
mkdir -p "$bundle/bin" "$bundle/lib" "$bundle/lib-std"
cp "$build/tests/suggest/hpt_cuda_backend_test" "$build/bench/hpt_gp_gpu_bench" "$bundle/bin/"
strip "$bundle"/bin/*
for lib in $(ldd "$bundle"/bin/* | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u); do
  case "$(basename "$lib")" in
    libc.so* | libm.so* | libdl.so* | libpthread.so* | librt.so* | ld-linux*) ;;  # glibc
    libcublas* | libcusolver* | libcusparse* | libnvJitLink*) ;;  # the GPU machine's CUDA
    # Used only when the GPU machine's own are too old (run.sh decides).
    libstdc++* | libgcc_s*) cp -L "$lib" "$bundle/lib-std/" ;;
    *) cp -L "$lib" "$bundle/lib/" ;;
  esac
done
{
  echo "commit $(git rev-parse HEAD 2>/dev/null || echo unknown)," \
    "$(git status --porcelain 2>/dev/null | wc -l) files changed or new in the working tree"
  echo "built $(date -u +%FT%TZ) with $(nvcc --version | tail -n 1)"
  echo "needs glibc >= $(objdump -T "$bundle"/bin/* | grep -o 'GLIBC_[0-9.]*' | sort -uV |
    tail -n 1 | cut -d_ -f2)"
} >"$bundle/COMMIT"
cat "$bundle/COMMIT"
du -sh "$bundle"
