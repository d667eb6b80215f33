"""Reasoning models through the server: a template that opens <think> makes the output
reasoning_content, streamed and not, and --chat-template overrides the checkpoint's template."""
import httpx
import openai
import pytest

from conftest import Server

MESSAGES = [{"role": "user", "content": "Think about 2 + 2."}]


@pytest.fixture(scope="module")
def r1_server(duet_bin, r1_model):
    s = Server(duet_bin, r1_model, "--chat-template", str(r1_model.parent / "r1.jinja"))
    yield s
    assert s.stop() == 0


def test_template_override_opens_think(r1_server):
    ids = httpx.post(r1_server.url + "/tokenize", json={"messages": MESSAGES}).json()["tokens"]
    text = httpx.post(r1_server.url + "/detokenize", json={"tokens": ids}).json()["prompt"]
    assert text.endswith("<｜Assistant｜><think>\n"), text  # the R1 template, not V3's
    assert 128798 in ids  # <think> is one token


def test_output_inside_think_is_reasoning(r1_server):
    c = openai.OpenAI(base_url=r1_server.url + "/v1", api_key="none", max_retries=0)
    ids = httpx.post(r1_server.url + "/tokenize", json={"messages": MESSAGES}).json()["tokens"]
    params = dict(max_tokens=10, temperature=0, extra_body={"ignore_eos": True})
    # The same prompt as a plain completion: what the model says, with no parsing.
    plain = c.completions.create(model="r1-text", prompt=ids, **params).choices[0].text
    assert plain and "</think>" not in plain  # a random model does not close the block
    chat = c.chat.completions.create(model="r1-text", messages=MESSAGES, **params)
    msg = chat.choices[0].message
    assert msg.model_extra["reasoning_content"] == plain
    assert msg.content == ""
    reasoning, content = "", ""
    for chunk in c.chat.completions.create(model="r1-text", messages=MESSAGES, stream=True,
                                           **params):
        d = chunk.choices[0].delta
        reasoning += (d.model_extra or {}).get("reasoning_content") or ""
        content += d.content or ""
    assert reasoning == plain and content == ""
