#!/usr/bin/env python3
"""Accuracy gate: `duet eval` on the shipped model's held-out problems must reproduce Hugging
Face's accuracy (within 0.5 points) with >= 99.5% of extracted answers identical to Hugging
Face's greedy completions, at concurrency 1 and 64, under several parallel layouts, and through
`duet serve` with 64 concurrent clients.

usage: eval_gate.py DUET_BINARY SOURCE_DIR
"""
import json
import re
import subprocess
import sys
import threading

duet, root = sys.argv[1], sys.argv[2]
model = f"{root}/models/duet-arith-tiny"
hf = json.load(open(f"{model}/hf_eval.json"))
failed = passed = 0


def run_eval(extra):
    cmd = [duet, "eval", "--data", f"{model}/heldout.jsonl",
           "--reference", f"{model}/hf_greedy.jsonl", "--json"] + extra
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900)


def check(label, out):
    global failed, passed
    if out.returncode != 0:
        print(label, "FAILED to run:", out.stderr[-2000:])
        failed += 1
        return
    r = json.loads(out.stdout.strip().splitlines()[-1])
    ok = abs(r["accuracy"] - hf["accuracy"]) <= 0.005 and r["differ"] <= 0.005 * r["num"]
    print(f"{label:45s} accuracy {r['accuracy']:.4f} (HF {hf['accuracy']:.4f}) "
          f"differ {r['differ']}/{r['num']} invalid {r['invalid']} {'ok' if ok else 'FAIL'}")
    if ok:
        passed += 1
    else:
        failed += 1


for extra in (["--concurrency", "1"],
              ["--concurrency", "64"],
              ["--concurrency", "64", "--dp", "2", "--tbo"],
              ["--concurrency", "64", "--dp", "4", "--moe", "ep", "--tbo"],
              ["--concurrency", "64", "--dp", "2", "--tp", "2"]):
    check(" ".join(extra), run_eval(["--model", model] + extra))

# Through the server under load: 64 concurrent clients on /v1/completions.
server = subprocess.Popen([duet, "serve", "--model", model, "--port", "0"],
                          stderr=subprocess.PIPE, text=True)
try:
    url = None
    for line in server.stderr:
        m = re.search(r"listening on (http://[0-9.]+:[0-9]+)", line)
        if m:
            url = m.group(1)
            break
    if url is None:
        print("server FAILED to start")
        failed += 1
    else:
        # Keep draining the server's log so it never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()
        check("server, 64 concurrent clients", run_eval(["--url", url, "--concurrency", "64"]))
finally:
    server.terminate()
    server.wait(timeout=30)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
