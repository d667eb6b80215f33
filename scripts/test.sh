#!/usr/bin/env bash
# The whole test suite, as CI runs it:
#   1. clang-format check of every C++/CUDA source,
#   2. Release build (CUDA compiled for sm_90a when nvcc is present) and ctest (no GPU tests),
#   3. AddressSanitizer + UndefinedBehaviorSanitizer build of the unit tests (CPU only), ctest,
#   4. libFuzzer targets, each run for FUZZ_SECONDS (default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
if [ -x /usr/local/cuda/bin/nvcc ] && ! command -v nvcc >/dev/null; then
  export PATH=/usr/local/cuda/bin:$PATH
fi

echo "== clang-format"
git ls-files '*.cpp' '*.h' '*.cu' '*.cuh' | xargs clang-format --dry-run -Werror

echo "== release build and tests"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$JOBS"
ctest --test-dir build --output-on-failure -j "$JOBS" -LE gpu

echo "== sanitizer build (ASan + UBSan) and tests"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDUET_CUDA=OFF \
  -DDUET_SANITIZE=ON -DDUET_BENCH=OFF >/dev/null
cmake --build build-asan -j "$JOBS"
ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-asan --output-on-failure -j "$JOBS" -LE "gpu|slow"

echo "== fuzz targets (${FUZZ_SECONDS}s each)"
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDUET_CUDA=OFF \
  -DDUET_FUZZ=ON -DDUET_BENCH=OFF -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
cmake --build build-fuzz -j "$JOBS" --target duet_fuzz_targets
for f in build-fuzz/fuzz/*_fuzz; do
  echo "-- $(basename "$f")"
  "$f" -max_total_time="$FUZZ_SECONDS" -print_final_stats=0 2>&1 | tail -n 2
done
echo "all test stages passed"
