#!/usr/bin/env bash
# Full training run on one H100: ~6 min of training plus ~1.5-2.5 min of data
# generation, tokenizer training, saving and HF fp32 greedy evaluation
# (designed to finish well inside a 10-minute command limit).
# Writes models/duet-arith-tiny/ (checkpoint, tokenizer, TRAINING.md, loss.csv,
# heldout.jsonl, fewshot.jsonl, hf_greedy.jsonl, hf_eval.json, train.log).
# Extra arguments are passed on to train.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1
export TOKENIZERS_PARALLELISM=true
OUT=models/duet-arith-tiny
mkdir -p "$OUT"
python -u tools/train/train.py --out "$OUT" --seed 1234 --minutes 6 "$@" 2>&1 | tee "$OUT/train.log"
