#!/usr/bin/env python3
"""Accuracy gate: `duet eval` on the shipped model's held-out problems must reproduce Hugging
Face's accuracy (within 0.5 points) with >= 99.5% of extracted answers identical to Hugging
Face's greedy completions, at concurrency 1 and 64 and under several parallel layouts.

usage: eval_gate.py DUET_BINARY SOURCE_DIR
"""
import json
import subprocess
import sys

duet, root = sys.argv[1], sys.argv[2]
model = f"{root}/models/duet-arith-tiny"
hf = json.load(open(f"{model}/hf_eval.json"))
runs = [
    ["--concurrency", "1"],
    ["--concurrency", "64"],
    ["--concurrency", "64", "--dp", "2", "--tbo"],
    ["--concurrency", "64", "--dp", "4", "--moe", "ep", "--tbo"],
    ["--concurrency", "64", "--dp", "2", "--tp", "2"],
]
failed = 0
for extra in runs:
    cmd = [duet, "eval", "--model", model, "--data", f"{model}/heldout.jsonl",
           "--reference", f"{model}/hf_greedy.jsonl", "--json"] + extra
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        print(" ".join(extra), "FAILED to run:", out.stderr[-2000:])
        failed += 1
        continue
    r = json.loads(out.stdout.strip().splitlines()[-1])
    ok = abs(r["accuracy"] - hf["accuracy"]) <= 0.005 and r["differ"] <= 0.005 * r["num"]
    print(f"{' '.join(extra):45s} accuracy {r['accuracy']:.4f} (HF {hf['accuracy']:.4f}) "
          f"differ {r['differ']}/{r['num']} invalid {r['invalid']} {'ok' if ok else 'FAIL'}")
    failed += 0 if ok else 1
print(f"{len(runs) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
