#!/usr/bin/env bash
# End-to-end decode on one GPU (run on the device machine, repository root): a Moonlight-shaped
# random checkpoint, duet's engine decode benchmark at batch 1/32/128 with 1000-token prompts
# (decode graphs, then --enforce-eager, then the MoE prefill on cuBLAS batches as the prefill
# baseline), and Hugging Face `generate` on the same checkpoint as the peer. BIN holds duet and
# engine_decode_bench (built elsewhere), with any missing shared libraries in BIN/lib.
set -o pipefail
out=${1:-/tmp/e2e_out}
bin=${2:-bin}
mkdir -p "$out"
# libcudnn.so.9 (dlopen'ed by the cuDNN prefill path) comes with PyTorch's nvidia-* wheels.
nvlibs=$(python3 -c "import nvidia, glob; print(':'.join(glob.glob(list(nvidia.__path__)[0] + '/*/lib')))" 2>/dev/null)
export LD_LIBRARY_PATH="$bin/lib:${nvlibs:+$nvlibs:}${LD_LIBRARY_PATH:-}"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$out/gpu.txt"
[[ -d /tmp/moon ]] || /usr/bin/time -f "mkmodel wall %e s" "$bin/duet" mkmodel \
  --preset moonlight-16b-a3b --out /tmp/moon 2>&1 | tail -2 | tee "$out/mkmodel.txt"
args=(--model /tmp/moon --device cuda --batch 1,32,128 --prompt-len 1000 --steps 64)
echo "duet, decode graphs:"
timeout 200 "$bin/engine_decode_bench" "${args[@]}" 2>&1 | grep -v "^\[" | tee "$out/duet_graphs.txt"
echo "duet, --enforce-eager:"
timeout 200 "$bin/engine_decode_bench" "${args[@]}" --enforce-eager 2>&1 | grep -v "^\[" |
  tee "$out/duet_eager.txt"
echo "duet, MoE prefill on cuBLAS batches (the prefill columns' baseline):"
DUET_MOE_PREFILL=cublas timeout 200 "$bin/engine_decode_bench" "${args[@]}" 2>&1 |
  grep -v "^\[" | tee "$out/duet_moe_cublas.txt"
PYTHONUNBUFFERED=1 timeout 240 python3 bench/hf_generate_peer.py /tmp/moon --batch 1,32 \
  --prompt-len 1000 --new-tokens 128 2>&1 | grep "^HF generate\|^transformers" | tee "$out/hf.txt"
