#!/usr/bin/env bash
# The accuracy gate on the GPU (run on the device machine, repository root): the trained model
# answers its 250 held-out problems on the CUDA backend, through the engine at concurrency 64
# and through `duet serve --device cuda` with 64 concurrent clients; each run must match
# Hugging Face's accuracy with at most 0.5% of answers differing (as tests/eval/eval_gate.py
# demands on CPU). Usage: tools/gpu_accuracy.sh BIN_DIR
bin=${1:-bin}
model=models/duet-arith-tiny
# libcudnn.so.9 (dlopen'ed by the cuDNN prefill path) comes with PyTorch's nvidia-* wheels.
nvlibs=$(python3 -c "import nvidia, glob; print(':'.join(glob.glob(list(nvidia.__path__)[0] + '/*/lib')))" 2>/dev/null)
export LD_LIBRARY_PATH="$bin/lib:${nvlibs:+$nvlibs:}${LD_LIBRARY_PATH:-}"
common=(--data "$model/heldout.jsonl" --reference "$model/hf_greedy.jsonl" --json)
echo "engine, cuda, concurrency 64:"
timeout 300 "$bin/duet" eval --model "$model" --device cuda --concurrency 64 "${common[@]}" \
  2>/dev/null | tail -1
log=$(mktemp)
"$bin/duet" serve --model "$model" --device cuda --port 0 2>"$log" &
pid=$!
url=""
for _ in $(seq 1 120); do
  url=$(grep -oE "http://[0-9.]+:[0-9]+" "$log" | head -1)
  [[ -n "$url" ]] && python3 -c "import urllib.request as u; u.urlopen(\"$url/health\")" 2>/dev/null && break
  sleep 0.5
done
echo "serve --device cuda ($url), 64 concurrent clients:"
timeout 300 "$bin/duet" eval --url "$url" --concurrency 64 "${common[@]}" 2>/dev/null | tail -1
kill -TERM $pid
wait $pid
echo "serve exit $?"
