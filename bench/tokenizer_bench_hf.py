#!/usr/bin/env python3
"""Times Hugging Face `tokenizers` encode on one thread over the text tokenizer_bench wrote.

usage: RAYON_NUM_THREADS=1 python3 bench/tokenizer_bench_hf.py [MODEL_DIR] [TEXT]
Like tokenizer_bench: the whole text in one call, then line by line (each line keeps its
"\n"); no special tokens; best of 3 each.
"""
import os
import sys
import time

os.environ.setdefault("RAYON_NUM_THREADS", "1")
from tokenizers import Tokenizer  # noqa: E402

model = sys.argv[1] if len(sys.argv) > 1 else "tests/data/tokenizers/deepseek-v3"
path = sys.argv[2] if len(sys.argv) > 2 else "/tmp/duet_tokenizer_bench.txt"
tok = Tokenizer.from_file(os.path.join(model, "tokenizer.json"))
data = open(path, "rb").read()
text = data.decode("utf-8")
lines = [l + "\n" for l in text.split("\n")]
lines[-1] = lines[-1][:-1]  # split on "\n" only, keeping it, exactly as tokenizer_bench does
if not lines[-1]:
    lines.pop()
for by_line in (False, True):
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        if by_line:
            n = sum(len(tok.encode(line, add_special_tokens=False).ids) for line in lines)
        else:
            n = len(tok.encode(text, add_special_tokens=False).ids)
        best = min(best, time.perf_counter() - t0)
    mode = "per line" if by_line else "whole text"
    print(f"hf tokenizers {__import__('tokenizers').__version__} encode ({mode}): {len(data)} bytes "
          f"-> {n} ids, best of 3: {best:.3f} s, {len(data) / best / 1e6:.2f} MB/s")
