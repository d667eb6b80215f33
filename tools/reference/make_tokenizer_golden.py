#!/usr/bin/env python3
"""Writes the tokenizer golden files that tokenizer_golden_test compares duet against.

  tests/data/tokenizers/deepseek-v3-golden.jsonl  Hugging Face `tokenizers` on tokenizer.json
      (add_special_tokens=False), plus a few transformers AutoTokenizer encodes with BOS.
  tests/data/tokenizers/kimi-style-golden.jsonl   Python `tiktoken` with Kimi's pat_str,
      allowed_special="all" and Kimi's long-run splitting (tokenization_kimi.py), on the
      kimi-style tiktoken.model.

Line kinds:
  {"text", "ids", "decoded"}                     encode without special tokens, then decode
  {"text", "add_special_tokens": true, "ids"}    encode with BOS (DeepSeek only)
  {"decode_ids", "skip_special_tokens", "decoded"}   decode of arbitrary ids (invalid UTF-8)
  {"repeat": {prefix, unit, count, suffix}, "num_ids", "ids_fnv1a", "ids_head", "ids_tail"}
      long inputs, stored as a recipe plus a hash of the ids (FNV-1a 64 of "id,id,...")

Usage (repository root): RAYON_NUM_THREADS=1 python3 tools/reference/make_tokenizer_golden.py
"""
import json
import os
import random
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import golden_strings  # noqa: E402

DATA = "tests/data/tokenizers"

KIMI_PAT = "|".join([
    r"""[\p{Han}]+""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""\p{N}{1,3}""",
    r""" ?[^\s\p{L}\p{N}]+[\r\n]*""",
    r"""\s*[\r\n]+""",
    r"""\s+(?!\S)""",
    r"""\s+""",
])


def fnv1a(ids):
    h = 0xCBF29CE484222325
    for b in ",".join(map(str, ids)).encode():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def repeat_entry(spec, ids):
    return {"repeat": spec, "num_ids": len(ids), "ids_fnv1a": fnv1a(ids), "ids_head": ids[:16],
            "ids_tail": ids[-16:]}


def repeat_text(spec):
    return spec["prefix"] + spec["unit"] * spec["count"] + spec["suffix"]


def write(path, lines):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
    print(f"{path}: {len(lines)} lines, {os.path.getsize(path)} bytes")


def decode_cases(rng, vocab, specials, encode, decode, strings):
    out = []
    for _ in range(150):
        ids = [rng.randrange(vocab) if rng.random() < 0.8 else rng.choice(specials)
               for _ in range(rng.randint(1, 8))]
        skip = rng.random() < 0.5
        out.append({"decode_ids": ids, "skip_special_tokens": skip, "decoded": decode(ids, skip)})
    multibyte = [s for s in strings if any(ord(c) > 0x7F for c in s)]
    for _ in range(100):  # cut encodings of non-ASCII text mid-character
        ids = encode(rng.choice(multibyte))
        if len(ids) < 2:
            continue
        a = rng.randrange(len(ids))
        b = rng.randrange(a + 1, len(ids) + 1)
        out.append({"decode_ids": ids[a:b], "skip_special_tokens": False,
                    "decoded": decode(ids[a:b], False)})
    return out


def deepseek():
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer
    d = os.path.join(DATA, "deepseek-v3")
    tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    added = json.load(open(os.path.join(d, "tokenizer.json"), encoding="utf-8"))["added_tokens"]
    specials = [a["content"] for a in added if a["id"] < 3 or a["id"] >= 128795]
    lookalikes = ["<|User|>", "<｜User|>", "<｜User｜", "｜User｜>", "<｜user｜>", "< ｜User｜>",
                  "<｜place▁holder▁no▁9999｜>", "<｜begin_of_sentence｜>", "<|EOT|", "<<|EOT|>>",
                  "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>", "<｜fim▁hole｜x"]
    strings = golden_strings.build(specials, lookalikes)
    enc = lambda s: tok.encode(s, add_special_tokens=False).ids  # noqa: E731
    dec = lambda ids, skip: tok.decode(ids, skip_special_tokens=skip)  # noqa: E731
    lines = [{"text": s, "ids": enc(s), "decoded": dec(enc(s), False)} for s in strings]
    # transformers 5.17 loads this directory with add_bos_token=False despite tokenizer_config's
    # "add_bos_token": true (checked with and without a deepseek_v3 config.json), so pass the
    # config's value explicitly: the lines check the BOS that tokenizer_config asks for.
    # Without a config.json transformers falls back to tokenizer_class LlamaTokenizerFast and
    # tokenizes differently (it drops "你好"), so load a copy next to a deepseek_v3 config.json.
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(d, name), tmp)
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump({"model_type": "deepseek_v3"}, f)
        hf = AutoTokenizer.from_pretrained(tmp, add_bos_token=True)
    for s in ["Hello, world!", "", "你好", "<｜User｜>hi<｜Assistant｜>", "x\n"]:
        ids = hf(s, add_special_tokens=True)["input_ids"]
        assert ids[:1] == [0], f"transformers did not add BOS: {ids}"
        lines.append({"text": s, "add_special_tokens": True, "ids": ids})
    rng = random.Random(7)
    lines += decode_cases(rng, 128815, list(range(128800, 128815)) + [0, 1, 2], enc, dec, strings)
    for spec in [{"prefix": "", "unit": "hello world ", "count": 20000, "suffix": ""},
                 {"prefix": "x", "unit": " ", "count": 30000, "suffix": "y"},
                 {"prefix": "", "unit": "ab", "count": 30000, "suffix": "\n"}]:
        lines.append(repeat_entry(spec, enc(repeat_text(spec))))
    write(os.path.join(DATA, "deepseek-v3-golden.jsonl"), lines)


def kimi():
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe
    d = os.path.join(DATA, "kimi-style")
    ranks = load_tiktoken_bpe(os.path.join(d, "tiktoken.model"))
    config = json.load(open(os.path.join(d, "tokenizer_config.json"), encoding="utf-8"))
    named = {int(k): v["content"] for k, v in config["added_tokens_decoder"].items()}
    n = len(ranks)
    special = {named.get(i, f"<|reserved_token_{i}|>"): i for i in range(n, n + 256)}
    enc_model = tiktoken.Encoding("kimi-style", pat_str=KIMI_PAT, mergeable_ranks=ranks,
                                  special_tokens=special)

    def split_runs(s, max_len):  # tokenization_kimi.py's _split_whitespaces_or_nonwhitespaces
        current_slice_len = 0
        current_slice_is_space = s[0].isspace() if len(s) > 0 else False
        slice_start = 0
        for i in range(len(s)):
            is_now_space = s[i].isspace()
            if current_slice_is_space ^ is_now_space:
                current_slice_len = 1
                current_slice_is_space = is_now_space
            else:
                current_slice_len += 1
                if current_slice_len > max_len:
                    yield s[slice_start:i]
                    slice_start = i
                    current_slice_len = 1
        yield s[slice_start:]

    def enc(s):  # tokenization_kimi.py's encode
        out = []
        for i in range(0, len(s), 400_000):
            for sub in split_runs(s[i:i + 400_000], 25_000):
                out.extend(enc_model.encode(sub, allowed_special="all"))
        return out

    special_ids = set(special.values())

    def dec(ids, skip):
        return enc_model.decode([i for i in ids if not (skip and i in special_ids)])

    lookalikes = ["<|im_end|", "<|im_end>", "<|IM_END|>", "[BOS", "[[EOS]]", "<|im_user|><|im_end",
                  "<|reserved_token_1|>", "<|tool_call_begin|>functions.f:0<|tool_call_argument_begin|>",
                  "< |im_middle| >", "<|media_pad|>" * 3]
    strings = golden_strings.build(sorted(special, key=special.get)[:24], lookalikes, seed=4321)
    lines = [{"text": s, "ids": enc(s), "decoded": dec(enc(s), False)} for s in strings]
    rng = random.Random(11)
    lines += decode_cases(rng, n + 256, list(range(n, n + 256)), enc, dec, strings)
    for spec in [{"prefix": "", "unit": "a", "count": 25001, "suffix": ""},
                 {"prefix": "", "unit": "ab", "count": 30000, "suffix": " end"},
                 {"prefix": "x", "unit": " ", "count": 60000, "suffix": "y"},
                 {"prefix": "", "unit": "\u00a0", "count": 25000, "suffix": "\x1c\u3000z"},
                 {"prefix": "", "unit": "中", "count": 26000, "suffix": ""},
                 {"prefix": "", "unit": "ab ", "count": 133334, "suffix": ""},
                 {"prefix": "", "unit": "x<|im_end|>", "count": 36364, "suffix": ""},
                 {"prefix": "", "unit": "hello world ", "count": 40000, "suffix": ""}]:
        lines.append(repeat_entry(spec, enc(repeat_text(spec))))
    write(os.path.join(DATA, "kimi-style-golden.jsonl"), lines)


def bytelevel_variant():
    """DeepSeek-V3's vocab with the GPT-2 ByteLevel(use_regex=true) pre-tokenizer instead of its
    Split rules, and merges in the ["a", "b"] pair form: covers the other tokenizer.json shapes.
    The test builds the same variant at run time, so only ids are stored."""
    from tokenizers import Tokenizer
    j = json.load(open(os.path.join(DATA, "deepseek-v3", "tokenizer.json"), encoding="utf-8"))
    j["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                          "use_regex": True}
    j["model"]["merges"] = [m.split(" ") for m in j["model"]["merges"]]
    tok = Tokenizer.from_str(json.dumps(j))
    strings = golden_strings.build(["<|x|>"], ["<|y|>"], seed=99)[::4]
    lines = [{"text": s, "ids": tok.encode(s, add_special_tokens=False).ids} for s in strings]
    write(os.path.join(DATA, "bytelevel-regex-golden.jsonl"), lines)


if __name__ == "__main__":
    bytelevel_variant()
    deepseek()
    kimi()
