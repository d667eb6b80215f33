"""`duet serve` with no --model serves the shipped default model (models/duet-arith-tiny, a
trained arithmetic model). Its greedy completions through the server, sent concurrently and
streamed or not, must equal Hugging Face's greedy completions recorded in hf_greedy.jsonl."""
import json
import os
import threading

import openai
import pytest

from conftest import REPO, Server

MODEL = REPO / "models" / "duet-arith-tiny"
STOP = ["\n\n", "Question:"]


def build_prompt(question, fewshot, k=3):  # tools/train/prompt_format.py
    parts = [f"Question: {ex['question']}\nAnswer: {ex['answer']}" for ex in fewshot[:k]]
    parts.append(f"Question: {question}\nAnswer:")
    return "\n\n".join(parts)


@pytest.fixture(scope="module")
def default_server(duet_bin):
    if not (MODEL / "config.json").exists():
        pytest.fail("models/duet-arith-tiny is missing")
    env = {k: v for k, v in os.environ.items() if k != "DUET_DEFAULT_MODEL"}
    s = Server(duet_bin, None, env=env)
    yield s
    assert s.stop() == 0


def test_default_model_matches_hf_greedy(default_server):
    lines = lambda name: [json.loads(l) for l in (MODEL / name).read_text().splitlines() if l]
    fewshot, heldout, golden = lines("fewshot.jsonl"), lines("heldout.jsonl"), lines("hf_greedy.jsonl")
    c = openai.OpenAI(base_url=default_server.url + "/v1", api_key="none", max_retries=0)
    assert [m.id for m in c.models.list().data] == ["duet-arith-tiny"]
    picks = list(range(8))
    got = {}

    def run(i):
        prompt = build_prompt(heldout[i]["question"], fewshot)
        kw = dict(model="duet-arith-tiny", prompt=prompt, max_tokens=256, temperature=0,
                  stop=STOP)
        if i % 2:
            got[i] = "".join(ch.choices[0].text for ch in
                             c.completions.create(stream=True, **kw) if ch.choices)
        else:
            got[i] = c.completions.create(**kw).choices[0].text

    threads = [threading.Thread(target=run, args=(i,)) for i in picks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for i in picks:
        assert got.get(i) == golden[i]["completion"], (i, got.get(i), golden[i]["completion"])
