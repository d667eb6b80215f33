"""Text paths on a model with a real tokenizer (DeepSeek-V3's) and chat template: chat and
text completions, streaming, stop strings, usage against /tokenize, echo, tools reaching the
template, logprobs in the chat format."""
import httpx
import openai
import pytest

MESSAGES = [{"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is 2 + 2?"}]


def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="none", max_retries=0)


def tokenize(server, **body):
    r = httpx.post(server.url + "/tokenize", json=body)
    assert r.status_code == 200, r.text
    return r.json()["tokens"]


def test_tokenize_detokenize_roundtrip(text_server):
    ids = tokenize(text_server, prompt="Hello, world!", add_special_tokens=False)
    assert ids and ids[0] != 0
    assert tokenize(text_server, prompt="Hello, world!")[0] == 0  # BOS added by default
    r = httpx.post(text_server.url + "/detokenize", json={"tokens": ids})
    assert r.json()["prompt"] == "Hello, world!"
    bad = httpx.post(text_server.url + "/detokenize", json={"tokens": [10**8]})
    assert bad.status_code == 400


def test_text_completion_usage_matches_tokenizer(text_server):
    prompt = "The quick brown fox"
    r = client(text_server).completions.create(model="v3-text", prompt=prompt, max_tokens=5,
                                               temperature=0,
                                               extra_body={"ignore_eos": True,
                                                           "return_token_ids": True})
    assert r.usage.prompt_tokens == len(tokenize(text_server, prompt=prompt))
    assert r.model_extra["prompt_token_ids"] == tokenize(text_server, prompt=prompt)
    assert r.usage.completion_tokens == len(r.choices[0].model_extra["token_ids"]) == 5
    echo = client(text_server).completions.create(model="v3-text", prompt=prompt, max_tokens=3,
                                                  temperature=0, echo=True)
    assert echo.choices[0].text.startswith(prompt)


def test_chat_nonstreaming_and_streaming_agree(text_server):
    c = client(text_server)
    full = c.chat.completions.create(model="v3-text", messages=MESSAGES, max_tokens=12,
                                     temperature=0)
    msg = full.choices[0].message
    assert msg.role == "assistant" and isinstance(msg.content, str)
    assert full.choices[0].finish_reason in ("length", "stop")
    rendered = tokenize(text_server, messages=MESSAGES)
    assert full.usage.prompt_tokens == len(rendered)
    stream = c.chat.completions.create(model="v3-text", messages=MESSAGES, max_tokens=12,
                                       temperature=0, stream=True,
                                       stream_options={"include_usage": True})
    text, roles, usage, finish = "", [], None, None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
            continue
        d = chunk.choices[0].delta
        if d.role:
            roles.append(d.role)
        text += d.content or ""
        finish = chunk.choices[0].finish_reason or finish
    assert roles == ["assistant"]
    assert text == msg.content
    assert finish == full.choices[0].finish_reason
    assert usage.completion_tokens == full.usage.completion_tokens
    assert usage.prompt_tokens == full.usage.prompt_tokens


def test_stop_string_cuts_the_output(text_server):
    c = client(text_server)
    base = c.completions.create(model="v3-text", prompt="Once upon a time", max_tokens=24,
                                temperature=0, extra_body={"ignore_eos": True}).choices[0].text
    # Pick a stop string from the middle of what greedy decoding produces.
    stop = base[len(base) // 2:len(base) // 2 + 2]
    assert stop.strip(), f"generated text too short: {base!r}"
    for stream in (False, True):
        r = c.completions.create(model="v3-text", prompt="Once upon a time", max_tokens=24,
                                 temperature=0, stop=[stop, "NEVER-SEEN"], stream=stream,
                                 extra_body={"ignore_eos": True})
        if stream:
            chunks = list(r)
            text = "".join(ch.choices[0].text for ch in chunks if ch.choices)
            finish = [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1]
        else:
            text, finish = r.choices[0].text, r.choices[0].finish_reason
        assert finish == "stop"
        assert text == base[:base.index(stop)]


def test_chat_max_completion_tokens_and_seed(text_server):
    c = client(text_server)
    kw = dict(model="v3-text", messages=MESSAGES, max_completion_tokens=6, temperature=1.0,
              extra_body={"ignore_eos": True})
    a = c.chat.completions.create(seed=11, **kw)
    b = c.chat.completions.create(seed=11, **kw)
    assert a.usage.completion_tokens == 6
    assert a.choices[0].finish_reason == "length"
    assert a.choices[0].message.content == b.choices[0].message.content


def test_chat_logprobs(text_server):
    r = client(text_server).chat.completions.create(model="v3-text", messages=MESSAGES,
                                                    max_tokens=4, temperature=0, logprobs=True,
                                                    top_logprobs=3,
                                                    extra_body={"ignore_eos": True})
    content = r.choices[0].logprobs.content
    assert len(content) == 4
    for entry in content:
        assert len(entry.top_logprobs) == 3
        assert entry.top_logprobs[0].logprob == pytest.approx(entry.logprob, abs=1e-5)
        assert bytes(entry.bytes).decode("utf-8", "replace") is not None


def test_tools_reach_the_template(text_server):
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
    c = client(text_server)
    for choice in ("auto", "none"):
        r = c.chat.completions.create(model="v3-text", messages=MESSAGES, tools=tools,
                                      tool_choice=choice, max_tokens=4, temperature=0)
        assert r.choices[0].finish_reason in ("length", "stop", "tool_calls")
    # A tool-call turn in the history renders through the template too.
    history = MESSAGES + [
        {"role": "assistant", "content": None, "tool_calls": [{
            "id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]
    r = c.chat.completions.create(model="v3-text", messages=history, tools=tools, max_tokens=3)
    assert r.usage.prompt_tokens > len(tokenize(text_server, messages=MESSAGES))


def test_chat_bad_input(text_server):
    c = client(text_server)
    with pytest.raises(openai.BadRequestError):
        c.chat.completions.create(model="v3-text", messages=[], max_tokens=2)
    with pytest.raises(openai.BadRequestError):
        c.chat.completions.create(model="v3-text", messages=MESSAGES, max_tokens=100000)
    with pytest.raises(openai.NotFoundError):
        c.chat.completions.create(model="other", messages=MESSAGES, max_tokens=2)
