#!/usr/bin/env bash
# One device call: gpu tests, compute-sanitizer on the op tests, benchmarks, PyTorch peers,
# and (if time is left) the Moonlight-shaped checkpoint and its CUDA load time.
# Usage (repository root, on the GPU machine): tools/gpu_check.sh OUT_DIR BIN_DIR [budget_s]
# BIN_DIR holds backend_cuda_test, backend_cuda_mla_moe_test, backend_cuda_sample_test,
# cuda_golden_test, cuda_bench, cuda_chain_bench and optionally duet (built elsewhere: the
# device image lacks pcre2/gtest for a full configure).
set -o pipefail
out=${1:-/tmp/gpu_out}
bin=${2:-bin}
budget=${3:-540}
mkdir -p "$out"
start=$SECONDS
log() { echo "[gpu_check +$((SECONDS - start))s] $*"; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
# libcudnn.so.9 (dlopen'ed by the cuDNN prefill path) comes with PyTorch's nvidia-* wheels.
nvlibs=$(python3 -c "import nvidia, glob; print(':'.join(glob.glob(list(nvidia.__path__)[0] + '/*/lib')))" 2>/dev/null)
export LD_LIBRARY_PATH="$bin/lib:${nvlibs:+$nvlibs:}${LD_LIBRARY_PATH:-}"
for t in backend_cuda_test backend_cuda_mla_moe_test backend_cuda_sample_test cuda_golden_test cuda_graphs_test; do
  log "$t"
  "$bin/$t" 2>&1 | tee "$out/$t.log" | grep -E "^\[  (PASSED|FAILED) |FAILED  \]|golden\]|Failure|Expected|Which is|worst|error" | head -40
  echo "$t exit ${PIPESTATUS[0]}" | tee -a "$out/summary.txt"
done
log "compute-sanitizer memcheck (small shapes)"
compute-sanitizer --tool memcheck --error-exitcode 9 "$bin/backend_cuda_mla_moe_test" \
  --gtest_filter='*Tiny*:*Router*:*Experts*' >"$out/memcheck.log" 2>&1
echo "memcheck mla/moe exit $?" | tee -a "$out/summary.txt"
compute-sanitizer --tool memcheck --error-exitcode 9 "$bin/backend_cuda_test" \
  --gtest_filter='*Rope*:*Gemm*' >>"$out/memcheck.log" 2>&1
echo "memcheck ops exit $?" | tee -a "$out/summary.txt"
compute-sanitizer --tool memcheck --error-exitcode 9 "$bin/backend_cuda_sample_test" \
  --gtest_filter='*Greedy*:*Seeded*' >>"$out/memcheck.log" 2>&1
echo "memcheck sample exit $?" | tee -a "$out/summary.txt"
grep -E "ERROR SUMMARY|Invalid" "$out/memcheck.log" | sort | uniq -c | head
if ((SECONDS - start < budget - 240)); then
  compute-sanitizer --tool racecheck --error-exitcode 9 "$bin/backend_cuda_mla_moe_test" \
    --gtest_filter='*Tiny*' >"$out/racecheck.log" 2>&1
  echo "racecheck mla tiny exit $?" | tee -a "$out/summary.txt"
  compute-sanitizer --tool racecheck --error-exitcode 9 "$bin/backend_cuda_mla_moe_test" \
    --gtest_filter='*Experts*' >>"$out/racecheck.log" 2>&1
  echo "racecheck moe experts exit $?" | tee -a "$out/summary.txt"
  # The split combine with W_UV; the own prefill kernel beside it (cuDNN's is not ours to check).
  DUET_MLA_PREFILL=kernel compute-sanitizer --tool racecheck --error-exitcode 9 \
    "$bin/backend_cuda_mla_moe_test" --gtest_filter='*FewDecode*' >>"$out/racecheck.log" 2>&1
  echo "racecheck mla few decode tokens exit $?" | tee -a "$out/summary.txt"
fi
log "benchmarks"
timeout 150 "$bin/cuda_bench" 2>&1 | tee "$out/bench.txt" | tail -40
timeout 120 "$bin/cuda_chain_bench" 2>&1 | tee "$out/chain.txt" | tail -8
PYTHONUNBUFFERED=1 timeout 90 python3 bench/cuda_peers.py 2>&1 | tee "$out/peers.txt"
if [[ -x "$bin/duet" ]] && ((SECONDS - start < budget - 340)); then
  log "mkmodel moonlight"
  /usr/bin/time -f "mkmodel wall %e s" timeout 240 "$bin/duet" mkmodel --preset moonlight-16b-a3b \
    --out /tmp/moon 2>&1 | tail -2 | tee -a "$out/summary.txt"
  timeout 100 "$bin/duet" logits --model /tmp/moon --device cuda --prompt-ids 1,2,3,4 \
    --out /tmp/l.bin 2>&1 | grep -iE "loaded|error" | tee -a "$out/summary.txt"
fi
log "done"
cat "$out/summary.txt"
