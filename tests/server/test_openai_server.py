"""duet serve driven by the official openai client: token-id prompts, streaming, usage, seeds,
n, logprobs, every error status, disconnects under load, shutdown, and duet bench."""
import json
import random
import subprocess
import threading
import time

import httpx
import openai
import pytest

from conftest import GOLDEN, Server, metrics

PROMPT = [5, 17, 42, 99, 3]
ALWAYS = {"ignore_eos": True, "return_token_ids": True}


def client(server, key="none"):
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)


def test_models_lists_served_name(id_server):
    models = client(id_server).models.list()
    assert [m.id for m in models.data] == ["v3-yarn"]


def test_completion_token_ids(id_server):
    r = client(id_server).completions.create(model="v3-yarn", prompt=PROMPT, max_tokens=6,
                                             temperature=0, extra_body=ALWAYS)
    choice = r.choices[0]
    assert choice.finish_reason == "length"
    assert len(choice.model_extra["token_ids"]) == 6
    assert r.usage.prompt_tokens == len(PROMPT)
    assert r.usage.completion_tokens == 6
    assert r.usage.total_tokens == len(PROMPT) + 6
    assert r.usage.prompt_tokens_details.cached_tokens >= 0
    # Greedy is deterministic, and the same request again is served (partly) from the cache.
    again = client(id_server).completions.create(model="v3-yarn", prompt=PROMPT, max_tokens=6,
                                                 temperature=0, extra_body=ALWAYS)
    assert again.choices[0].model_extra["token_ids"] == choice.model_extra["token_ids"]


def test_streaming_completion_with_usage(id_server):
    stream = client(id_server).completions.create(
        model="v3-yarn", prompt=PROMPT, max_tokens=7, stream=True, temperature=0,
        stream_options={"include_usage": True}, extra_body=ALWAYS)
    ids, finish, usage = [], None, None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
            assert chunk.choices == []
            continue
        c = chunk.choices[0]
        ids += c.model_extra.get("token_ids") or []
        finish = c.finish_reason or finish
    assert finish == "length"
    assert len(ids) == 7
    assert usage.completion_tokens == 7 and usage.prompt_tokens == len(PROMPT)
    greedy = client(id_server).completions.create(model="v3-yarn", prompt=PROMPT, max_tokens=7,
                                                  temperature=0, extra_body=ALWAYS)
    assert greedy.choices[0].model_extra["token_ids"] == ids


def test_sse_framing_and_done(id_server):
    body = {"prompt": PROMPT, "max_tokens": 3, "stream": True, **ALWAYS}
    with httpx.stream("POST", id_server.url + "/v1/completions", json=body) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        text = r.read().decode()
    events = [e for e in text.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    for e in events[:-1]:
        assert json.loads(e[6:])["object"] == "text_completion"


def sample(server, seed, temperature=1.0):
    r = client(server).completions.create(model="v3-yarn", prompt=PROMPT, max_tokens=12,
                                          temperature=temperature, seed=seed, extra_body=ALWAYS)
    return r.choices[0].model_extra["token_ids"]


def test_seed_reproducible(id_server):
    assert sample(id_server, 42) == sample(id_server, 42)
    assert len({tuple(sample(id_server, s)) for s in range(1, 6)}) > 1


def test_sampling_fields_accepted(id_server):
    r = client(id_server).completions.create(
        model="v3-yarn", prompt=PROMPT, max_tokens=4, temperature=0.7, top_p=0.9, seed=3,
        frequency_penalty=0.5, presence_penalty=0.2,
        extra_body={**ALWAYS, "top_k": 20, "min_p": 0.05, "repetition_penalty": 1.2,
                    "unknown_extra_field": [1, 2]})
    assert len(r.choices[0].model_extra["token_ids"]) == 4


def test_n_choices(id_server):
    r = client(id_server).completions.create(model="v3-yarn", prompt=PROMPT, max_tokens=5, n=3,
                                             seed=7, extra_body=ALWAYS)
    assert sorted(c.index for c in r.choices) == [0, 1, 2]
    assert r.usage.completion_tokens == 15
    # One seed, yet the choices differ; the same request again gives the same three.
    outs = [c.model_extra["token_ids"] for c in sorted(r.choices, key=lambda c: c.index)]
    assert len({tuple(o) for o in outs}) > 1
    again = client(id_server).completions.create(model="v3-yarn", prompt=PROMPT, max_tokens=5,
                                                 n=3, seed=7, extra_body=ALWAYS)
    assert [c.model_extra["token_ids"] for c in sorted(again.choices, key=lambda c: c.index)] \
        == outs
    stream = client(id_server).completions.create(model="v3-yarn", prompt=PROMPT, max_tokens=4,
                                                  n=2, stream=True, extra_body=ALWAYS)
    counts, finished = {0: 0, 1: 0}, set()
    for chunk in stream:
        c = chunk.choices[0]
        counts[c.index] += len(c.model_extra.get("token_ids") or [])
        if c.finish_reason:
            finished.add(c.index)
    assert counts == {0: 4, 1: 4} and finished == {0, 1}


def test_legacy_logprobs(id_server):
    r = client(id_server).completions.create(model="v3-yarn", prompt=PROMPT, max_tokens=3,
                                             temperature=0, logprobs=2, extra_body=ALWAYS)
    lp = r.choices[0].logprobs
    assert len(lp.tokens) == 3 and len(lp.token_logprobs) == 3
    assert all(len(t) == 2 for t in lp.top_logprobs)
    # Greedy: the chosen token is the best of the top list.
    for tok, val, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs):
        assert max(top.values()) == pytest.approx(val, abs=1e-5) and tok in top


def error_of(server, path, body=None, raw=None, headers=None, method="POST"):
    h = {"content-type": "application/json", **(headers or {})}
    if method == "GET":
        r = httpx.get(server.url + path, headers=h)
    else:
        r = httpx.post(server.url + path, content=raw if raw is not None else json.dumps(body),
                       headers=h)
    err = r.json().get("error")
    assert err is not None, r.text
    assert set(err) == {"message", "type", "param", "code"}
    assert err["code"] == r.status_code and err["message"]
    return r.status_code, err


@pytest.mark.parametrize("body,param", [
    ({"prompt": PROMPT, "temperature": "hot"}, "temperature"),
    ({"prompt": PROMPT, "max_tokens": -1}, "max_tokens"),
    ({"prompt": PROMPT, "n": 0}, "n"),
    ({"prompt": "text needs a tokenizer"}, None),
    ({"prompt": []}, "prompt"),
    ({"prompt": PROMPT, "stop": 7}, "stop"),
    ({"prompt": PROMPT, "stream": "yes"}, "stream"),
    ({"prompt": PROMPT, "logprobs": 99}, "logprobs"),
    ({"prompt": PROMPT, "temperature": -1}, None),      # SamplingParams::validate
    ({"prompt": PROMPT, "top_p": 0}, None),
    ({"prompt": [1000]}, None),                         # id outside the vocabulary
    ({"prompt": list(range(1, 300)) * 2}, "prompt"),    # 598 tokens > 512 context
    ({"prompt": PROMPT, "max_tokens": 600}, "max_tokens"),
    ({"prompt": PROMPT, "stop": "x"}, None),            # stop strings need a tokenizer
])
def test_bad_requests_are_400(id_server, body, param):
    status, err = error_of(id_server, "/v1/completions", body)
    assert status == 400, err
    assert err["type"] == "invalid_request_error"
    if param:
        assert err["param"] == param


def test_malformed_json_and_wrong_shapes(id_server):
    assert error_of(id_server, "/v1/completions", raw="{nope")[0] == 400
    assert error_of(id_server, "/v1/completions", raw="[1,2]")[0] == 400
    assert error_of(id_server, "/v1/chat/completions", {"messages": "hi"})[0] == 400
    with pytest.raises(openai.BadRequestError):
        client(id_server).chat.completions.create(model="v3-yarn",
                                                  messages=[{"role": "user", "content": "x"}])


def test_unknown_model_and_route(id_server):
    status, err = error_of(id_server, "/v1/completions", {"model": "gpt-9", "prompt": PROMPT})
    assert status == 404 and err["param"] == "model"
    with pytest.raises(openai.NotFoundError):
        client(id_server).completions.create(model="gpt-9", prompt=PROMPT)
    assert error_of(id_server, "/v1/nothing", {})[0] == 404


def test_health_and_metrics(id_server):
    assert httpx.get(id_server.url + "/health").status_code == 200
    m = metrics(id_server.url)
    for name in ("duet_num_requests_running", "duet_num_requests_waiting",
                 "duet_kv_cache_usage_ratio", "duet_prompt_tokens_total",
                 "duet_generation_tokens_total", "duet_prefix_cache_hit_rate",
                 "duet_time_to_first_token_seconds_count", "duet_inter_token_latency_seconds_count",
                 "duet_e2e_request_latency_seconds_count",
                 'duet_request_success_total{finished_reason="length"}'):
        assert name in m, name
    assert m['duet_request_success_total{finished_reason="length"}'] > 0
    assert m["duet_generation_tokens_total"] > 0


@pytest.fixture(scope="module")
def guarded_server(duet_bin, text_model):
    # The wide-vocabulary model: its LM head makes a token take milliseconds, so the streams in
    # test_overload_is_429 are still running when the third request arrives.
    s = Server(duet_bin, text_model, "--api-key", "sekret", "--max-body-bytes", "2048",
               "--max-num-seqs", "1", "--max-waiting", "1", "--served-model-name", "tiny")
    yield s
    assert s.stop() == 0


def test_api_key(guarded_server):
    auth = {"authorization": "Bearer sekret"}
    assert error_of(guarded_server, "/v1/completions", {"prompt": PROMPT})[0] == 401
    assert error_of(guarded_server, "/v1/models", method="GET")[0] == 401
    st, err = error_of(guarded_server, "/v1/completions", {"prompt": PROMPT},
                       headers={"authorization": "Bearer wrong"})
    assert st == 401 and err["type"] == "authentication_error"
    with pytest.raises(openai.AuthenticationError):
        client(guarded_server, "wrong").completions.create(model="tiny", prompt=PROMPT)
    r = client(guarded_server, "sekret").completions.create(model="tiny", prompt=PROMPT,
                                                           max_tokens=2)
    assert r.model == "tiny"
    assert httpx.get(guarded_server.url + "/health").status_code == 200  # public
    assert httpx.post(guarded_server.url + "/v1/completions", headers=auth,
                      json={"prompt": PROMPT, "max_tokens": 1}).status_code == 200


def test_body_too_large_is_413(guarded_server):
    big = {"prompt": PROMPT, "pad": "x" * 4096}
    status, _ = error_of(guarded_server, "/v1/completions", big,
                         headers={"authorization": "Bearer sekret"})
    assert status == 413


def test_overload_is_429(guarded_server):
    """max-num-seqs 1 + max-waiting 1: two long streams fill the server, a third gets 429."""
    auth = {"authorization": "Bearer sekret"}
    body = {"prompt": PROMPT, "max_tokens": 500, "stream": True, "ignore_eos": True}
    with httpx.Client(timeout=60) as c:
        streams = [c.stream("POST", guarded_server.url + "/v1/completions", json=body,
                            headers=auth) for _ in range(2)]
        responses = [s.__enter__() for s in streams]
        assert all(r.status_code == 200 for r in responses)
        status, err = error_of(guarded_server, "/v1/completions", {"prompt": PROMPT},
                               headers=auth)
        assert status == 429 and err["type"] == "rate_limit_error"
        for s in streams:
            s.__exit__(None, None, None)  # disconnect: the server aborts both
    deadline = time.time() + 20
    while time.time() < deadline:
        if httpx.post(guarded_server.url + "/v1/completions", headers=auth,
                      json={"prompt": PROMPT, "max_tokens": 1}).status_code == 200:
            return
        time.sleep(0.1)
    raise AssertionError("server stayed full after the clients disconnected")


def test_load_with_random_disconnects(id_server):
    """64 concurrent streams, some cut off mid-stream; the rest must complete, and afterwards
    every KV block is free again."""
    rng = random.Random(0)
    plans = [rng.random() < 0.4 for _ in range(64)]  # True: disconnect early
    results = [None] * 64

    def run(i):
        body = {"prompt": [rng.randrange(384) for _ in range(8)], "stream": True,
                "max_tokens": 480 if plans[i] else 24, "ignore_eos": True,
                "return_token_ids": True}
        with httpx.stream("POST", id_server.url + "/v1/completions", json=body,
                          timeout=120) as r:
            assert r.status_code == 200
            tokens, done, finish = 0, False, None
            for line in r.iter_lines():
                if not line.startswith("data: "):
                    continue
                if line == "data: [DONE]":
                    done = True
                    break
                c = json.loads(line[6:])["choices"][0]
                tokens += len(c.get("token_ids") or [])
                finish = c.get("finish_reason") or finish
                if plans[i] and tokens >= 3:
                    results[i] = "cut"
                    return  # leaving the with-block closes the connection
            results[i] = (tokens, done, finish)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    for i, r in enumerate(results):
        if plans[i]:
            assert r == "cut" or r[1], r
        else:
            assert r == (24, True, "length"), r
    assert httpx.get(id_server.url + "/health").status_code == 200
    deadline = time.time() + 30
    while time.time() < deadline:
        m = metrics(id_server.url)
        if (m["duet_num_requests_running"] == 0 and m["duet_num_requests_waiting"] == 0 and
                m["duet_kv_cache_blocks_free"] == m["duet_kv_cache_blocks_total"]):
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"KV pool not back to full: {m}")
    assert m['duet_request_success_total{finished_reason="abort"}'] > 0


def test_sigterm_exits_promptly_with_streams_open(duet_bin):
    s = Server(duet_bin, GOLDEN)
    body = {"prompt": PROMPT, "max_tokens": 500, "stream": True, "ignore_eos": True}
    with httpx.Client(timeout=30) as c:
        ctx = c.stream("POST", s.url + "/v1/completions", json=body)
        r = ctx.__enter__()
        assert r.status_code == 200
        start = time.time()
        assert s.stop(timeout=10) == 0
        assert time.time() - start < 10
        ctx.__exit__(None, None, None)


def test_bench_against_server(id_server, duet_bin, tmp_path):
    out = tmp_path / "bench"
    res = subprocess.run([duet_bin, "bench", "--url", id_server.url, "--isl", "16", "--osl", "8",
                          "--concurrency", "1,8,32", "--num-prompts", "32", "--out", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    results = json.loads((out / "results.json").read_text())
    assert [r["concurrency"] for r in results["runs"]] == [1, 8, 32]
    for r in results["runs"]:
        assert r["completed"] == 32 and r["failed"] == 0
        assert r["total_output_tokens"] == 32 * 8 and r["total_input_tokens"] == 32 * 16
        assert r["output_throughput"] > 0 and r["ttft_ms"]["median"] > 0
    for png in ("throughput.png", "latency.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "conc" in res.stdout  # the table


def test_bench_request_rate_and_in_process(id_server, duet_bin, tmp_path):
    res = subprocess.run([duet_bin, "bench", "--url", id_server.url, "--isl", "8", "--osl", "4",
                          "--request-rate", "50,200", "--num-prompts", "10", "--out",
                          str(tmp_path / "rate")], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    runs = json.loads((tmp_path / "rate" / "results.json").read_text())["runs"]
    assert [r["request_rate"] for r in runs] == [50, 200]
    assert all(r["completed"] == 10 for r in runs)
    res = subprocess.run([duet_bin, "bench", "--model", str(GOLDEN), "--threads", "1",
                          "--kv-cache-tokens", "4096", "--isl", "8", "--osl", "4",
                          "--concurrency", "1,4", "--num-prompts", "8", "--out",
                          str(tmp_path / "engine")], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    results = json.loads((tmp_path / "engine" / "results.json").read_text())
    assert results["config"]["backend"] == "engine"
    assert all(r["total_output_tokens"] == 8 * 4 for r in results["runs"])


def test_garbage_never_crashes(id_server):
    """Random values of random types in every known field, on every endpoint: each answer is a
    proper response or a 4xx error object, never a 5xx or a dropped connection."""
    rng = random.Random(1)
    values = [None, True, False, 0, -1, 1, 3, 2**31, 2**63, -2**63, 1e308, -0.5, 0.5, 1.5, "",
              "x", "auto", "none", [], [1, 2], [[1]], ["a"], [None], {}, {"a": 1},
              {"include_usage": True}, [{"role": "user", "content": "hi"}], [{"role": 5}]]
    fields = ["model", "prompt", "messages", "max_tokens", "max_completion_tokens", "temperature",
              "top_p", "top_k", "min_p", "seed", "n", "stop", "stream", "stream_options",
              "logprobs", "top_logprobs", "echo", "frequency_penalty", "presence_penalty",
              "repetition_penalty", "ignore_eos", "skip_special_tokens", "tools", "tool_choice",
              "stop_token_ids", "return_token_ids", "chat_template_kwargs", "tokens"]
    paths = ["/v1/completions", "/v1/chat/completions", "/tokenize", "/detokenize"]
    with httpx.Client(timeout=60) as c:
        for _ in range(300):
            body = {f: rng.choice(values) for f in rng.sample(fields, rng.randint(0, 8))}
            if rng.random() < 0.5:
                body["prompt"] = [rng.randrange(-5, 500) for _ in range(rng.randint(0, 6))]
            if isinstance(body.get("max_tokens"), int) and body["max_tokens"] > 32:
                body["max_tokens"] = 8  # keep the run short; range errors are tested above
            raw = json.dumps(body)
            if rng.random() < 0.1:
                raw = raw[:rng.randrange(len(raw) + 1)]  # truncated JSON
            r = c.post(id_server.url + rng.choice(paths), content=raw,
                       headers={"content-type": "application/json"})
            assert r.status_code < 500, (raw, r.status_code, r.text)
            if r.status_code >= 400:
                assert set(r.json()["error"]) == {"message", "type", "param", "code"}
    assert httpx.get(id_server.url + "/health").status_code == 200


def test_dp2_server_gives_the_same_greedy_tokens(id_server, duet_bin):
    """The server over a data-parallel engine (--dp 2, two simulated ranks) answers concurrent
    requests with exactly the tokens of the single-rank server."""
    s = Server(duet_bin, GOLDEN, "--dp", "2")
    try:
        prompts = [[(7 * i + j) % 384 for j in range(3 + i)] for i in range(6)]
        want = [client(id_server).completions.create(
            model="v3-yarn", prompt=p, max_tokens=8, temperature=0,
            extra_body=ALWAYS).choices[0].model_extra["token_ids"] for p in prompts]
        got = [None] * len(prompts)

        def run(i):
            got[i] = client(s).completions.create(
                model="v3-yarn", prompt=prompts[i], max_tokens=8, temperature=0,
                extra_body=ALWAYS).choices[0].model_extra["token_ids"]

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(prompts))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert got == want
        assert any("layout dp=2" in line for line in s.log)
    finally:
        assert s.stop() == 0
