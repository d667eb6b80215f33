"""Fixtures for the duet serve end-to-end tests: real `duet serve` processes on tiny checkpoints.

Two models are used:
  * tests/data/golden/v3-yarn as is (no tokenizer files: token-id prompts only);
  * "v3-text": the same weights with the embedding and LM head widened to DeepSeek-V3's
    vocabulary (random bf16 rows, fixed seed) plus the DeepSeek-V3 tokenizer and chat template
    from tests/data/tokenizers/deepseek-v3, so text, chat and usage-vs-tokenizer paths run on a
    real tokenizer. Its output is gibberish but deterministic under greedy decoding.
"""
import json
import os
import shutil
import signal
import struct
import subprocess
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "data" / "golden" / "v3-yarn"
TOKENIZER = REPO / "tests" / "data" / "tokenizers" / "deepseek-v3"


def pytest_addoption(parser):
    parser.addoption("--duet", action="store", default=str(REPO / "build" / "duet"),
                     help="path to the duet binary")


@pytest.fixture(scope="session")
def duet_bin(request):
    path = request.config.getoption("--duet")
    assert os.access(path, os.X_OK), f"no duet binary at {path}"
    return path


def read_safetensors(path):
    data = Path(path).read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        tensors[name] = (info["dtype"], info["shape"], body[b:e])
    return tensors


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, (dtype, shape, blob) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for blob in blobs:
            f.write(blob)


def random_bf16(shape, rng, scale=0.02):
    f32 = (rng.standard_normal(shape) * scale).astype(np.float32)
    return (f32.view(np.uint32) >> 16).astype(np.uint16).tobytes()  # truncate to bf16


@pytest.fixture(scope="session")
def text_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "v3-text"
    out.mkdir()
    tok = json.loads((TOKENIZER / "tokenizer.json").read_text())
    vocab = max([v for v in tok["model"]["vocab"].values()] +
                [t["id"] for t in tok["added_tokens"]]) + 1
    config = json.loads((GOLDEN / "config.json").read_text())
    hidden = config["hidden_size"]
    config["vocab_size"] = vocab
    (out / "config.json").write_text(json.dumps(config, indent=2))
    shutil.copy(GOLDEN / "generation_config.json", out / "generation_config.json")
    tensors = read_safetensors(GOLDEN / "model.safetensors")
    rng = np.random.default_rng(1234)
    for name in ("model.embed_tokens.weight", "lm_head.weight"):
        tensors[name] = ("BF16", [vocab, hidden], random_bf16((vocab, hidden), rng))
    write_safetensors(out / "model.safetensors", tensors)
    shutil.copy(TOKENIZER / "tokenizer.json", out / "tokenizer.json")
    shutil.copy(TOKENIZER / "tokenizer_config.json", out / "tokenizer_config.json")
    return out


@pytest.fixture(scope="session")
def r1_model(tmp_path_factory, text_model):
    """v3-text with DeepSeek-R1's tokenizer change (ids 128798/128799 become the non-special
    added tokens <think> and </think>, as R1 ships them). The R1-style chat template, which
    ends the generation prompt with "<think>\n", is passed with --chat-template."""
    out = tmp_path_factory.mktemp("models") / "r1-text"
    out.mkdir()
    for name in ("config.json", "generation_config.json", "model.safetensors",
                 "tokenizer_config.json"):
        (out / name).symlink_to(text_model / name)
    tok = json.loads((TOKENIZER / "tokenizer.json").read_text())
    for added in tok["added_tokens"]:
        if added["id"] in (128798, 128799):
            added["content"] = "<think>" if added["id"] == 128798 else "</think>"
            added["special"] = False
    (out / "tokenizer.json").write_text(json.dumps(tok, ensure_ascii=False))
    r1 = json.loads((REPO / "tests" / "data" / "chat_templates" / "r1-style" /
                     "tokenizer_config.json").read_text())
    template = next(t["template"] for t in r1["chat_template"] if t["name"] == "default")
    (out.parent / "r1.jinja").write_text(template)
    return out


class Server:
    """A `duet serve --port 0` process; the port is read from its stderr."""

    def __init__(self, duet, model, *extra, env=None):
        self.args = [duet, "serve", *(["--model", str(model)] if model else []), "--port", "0",
                     "--threads", "1", "--kv-cache-tokens", "16384", *extra]
        self.proc = subprocess.Popen(self.args, stderr=subprocess.PIPE, text=True, env=env)
        self.log = []
        self.port = None
        listening = threading.Event()

        def drain():  # keeps reading so the server never blocks on a full stderr pipe
            for line in self.proc.stderr:
                self.log.append(line)
                if "duet serve: listening on http://" in line and self.port is None:
                    self.port = int(line.strip().rsplit(":", 1)[1])
                    listening.set()
            listening.set()

        threading.Thread(target=drain, daemon=True).start()
        assert listening.wait(60) and self.port, "server did not start:\n" + "".join(self.log)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError("server never became healthy:\n" + "".join(self.log))

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                raise AssertionError("server did not exit within %ss of SIGTERM" % timeout)
        return self.proc.returncode


@pytest.fixture(scope="session")
def id_server(duet_bin):
    s = Server(duet_bin, GOLDEN, "--max-num-seqs", "64", "--max-waiting", "64")
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="session")
def text_server(duet_bin, text_model):
    s = Server(duet_bin, text_model, "--max-num-seqs", "16")
    yield s
    assert s.stop() == 0


def metrics(url):
    out = {}
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out
