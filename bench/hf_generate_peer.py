#!/usr/bin/env python3
"""Peer for the end-to-end decode benchmark: Hugging Face transformers `generate` (bf16, sdpa,
greedy) on the same checkpoint and GPU, same prompt length and output length.

usage: hf_generate_peer.py MODEL_DIR --batch 1,32 --prompt-len 1000 --new-tokens 128
Prints output tokens/s per batch size (decode-dominated: the prefill is timed separately and
subtracted).
"""
import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch  # noqa: E402
import transformers as T  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("--batch", default="1,32")
ap.add_argument("--prompt-len", type=int, default=1000)
ap.add_argument("--new-tokens", type=int, default=128)
args = ap.parse_args()
model = T.AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.bfloat16,
                                               attn_implementation="sdpa").cuda().eval()
V = model.config.vocab_size
print(f"transformers {T.__version__}, torch {torch.__version__}, {torch.cuda.get_device_name()}")
for b in [int(x) for x in args.batch.split(",")]:
    ids = torch.randint(3, V, (b, args.prompt_len), device="cuda")
    with torch.no_grad():
        model.generate(ids, max_new_tokens=2, do_sample=False, min_new_tokens=2)  # warm-up
        torch.cuda.synchronize()
        t0 = time.time()
        model.generate(ids, max_new_tokens=1, do_sample=False, min_new_tokens=1)
        torch.cuda.synchronize()
        prefill = time.time() - t0
        t0 = time.time()
        model.generate(ids, max_new_tokens=args.new_tokens, do_sample=False,
                       min_new_tokens=args.new_tokens)
        torch.cuda.synchronize()
        total = time.time() - t0
    decode = max(total - prefill, 1e-9)
    print(f"HF generate batch {b}: prefill {prefill*1e3:.1f} ms, decode step "
          f"{decode / (args.new_tokens - 1) * 1e3:.2f} ms, {b * (args.new_tokens - 1) / decode:.1f} output tok/s")
