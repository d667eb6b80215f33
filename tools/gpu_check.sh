#!/usr/bin/env bash
# One device call: build, gpu tests, compute-sanitizer on the op tests, benchmarks, PyTorch
# peers, and (if time is left) the Moonlight-shaped checkpoint and its CUDA load time.
# Usage (repository root, on the GPU machine): tools/gpu_check.sh OUT_DIR [budget_seconds]
set -o pipefail
out=${1:-/tmp/gpu_out}
budget=${2:-540}
mkdir -p "$out"
start=$SECONDS
log() { echo "[gpu_check +$((SECONDS - start))s] $*"; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
log "configure + build"
cmake -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DDUET_BENCH=ON >"$out/build.log" 2>&1 &&
  cmake --build build -j16 >>"$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
log "ctest -L gpu"
(cd build && ctest -L gpu --output-on-failure 2>&1) | tee "$out/ctest.log" | grep -E "Test +#|tests passed|FAILED|Failure|error|golden\]|Expected|Which is|worst" | head -80
./build/tests/cuda_golden_test 2>&1 | grep "golden\]" >"$out/golden_errors.txt"
log "compute-sanitizer memcheck (small shapes)"
compute-sanitizer --tool memcheck --error-exitcode 9 ./build/src/backend/backend_cuda_mla_moe_test \
  --gtest_filter='*Tiny*:*Router*:*Experts*' >"$out/memcheck.log" 2>&1
echo "memcheck mla/moe exit $?" | tee -a "$out/summary.txt"
compute-sanitizer --tool memcheck --error-exitcode 9 ./build/src/backend/backend_cuda_test \
  --gtest_filter='*Rope*:*Gemm*' >>"$out/memcheck.log" 2>&1
echo "memcheck ops exit $?" | tee -a "$out/summary.txt"
if (( SECONDS - start < budget - 200 )); then
  compute-sanitizer --tool racecheck --error-exitcode 9 ./build/src/backend/backend_cuda_mla_moe_test \
    --gtest_filter='*Tiny*' >"$out/racecheck.log" 2>&1
  echo "racecheck mla tiny exit $?" | tee -a "$out/summary.txt"
fi
log "benchmarks"
./build/bench/cuda_bench 2>&1 | tee "$out/bench.txt" | tail -14
PYTHONUNBUFFERED=1 python3 bench/cuda_peers.py 2>&1 | tee "$out/peers.txt"
if (( SECONDS - start < budget - 180 )); then
  log "mkmodel moonlight"
  /usr/bin/time -f "mkmodel wall %e s" timeout 120 ./build/apps/duet mkmodel --preset moonlight-16b-a3b \
    --out /tmp/moon 2>&1 | tail -3 | tee -a "$out/summary.txt"
  timeout 60 ./build/apps/duet logits --model /tmp/moon --device cuda --prompt-ids 1,2,3,4 \
    --out /tmp/l.bin 2>&1 | grep -iE "loaded|error" | tee -a "$out/summary.txt"
fi
log "done"
cat "$out/summary.txt"
