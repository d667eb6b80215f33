#!/usr/bin/env python3
"""Builds tests/data/tokenizers/kimi-style/: a tiktoken-format tokenizer in Kimi K2's layout.

The vocabulary is DeepSeek-V3's (tests/data/tokenizers/deepseek-v3/tokenizer.json): each
byte-level vocab string is mapped back to raw bytes, rank = id. Entries outside the byte-level
alphabet (the three special tokens DeepSeek keeps in its vocab) become their UTF-8 bytes, so ids
stay contiguous as tiktoken.model requires. Special tokens follow Kimi K2's offsets from the end of
the base vocabulary (Kimi: 163584 + offset; here 128000 + offset).

Usage: python3 tools/reference/make_kimi_style_tokenizer.py   (from the repository root)
"""
import base64
import json
import os

SRC = "tests/data/tokenizers/deepseek-v3/tokenizer.json"
OUT = "tests/data/tokenizers/kimi-style"

# Offsets from the first special id, as in Kimi K2's tokenizer_config.json.
SPECIALS = {
    0: "[BOS]", 1: "[EOS]", 2: "<|im_end|>", 3: "<|im_user|>", 4: "<|im_assistant|>",
    6: "<|start_header_id|>", 7: "<|end_header_id|>", 9: "[EOT]", 10: "<|im_system|>",
    11: "<|tool_calls_section_begin|>", 12: "<|tool_calls_section_end|>",
    13: "<|tool_call_begin|>", 14: "<|tool_call_argument_begin|>", 15: "<|tool_call_end|>",
    17: "<|im_middle|>", 21: "<|media_pad|>", 254: "[UNK]", 255: "[PAD]",
}


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def main():
    tok = json.load(open(SRC, encoding="utf-8"))
    vocab = tok["model"]["vocab"]
    inv = bytes_to_unicode()
    by_id = {}
    for text, i in vocab.items():
        if all(ch in inv for ch in text):
            by_id[i] = bytes(inv[ch] for ch in text)
        else:
            by_id[i] = text.encode("utf-8")
    n = len(by_id)
    assert sorted(by_id) == list(range(n)), "vocab ids must be contiguous"
    assert len(set(by_id.values())) == n, "token bytes must be unique"
    assert all(bytes([b]) in set(by_id.values()) for b in range(256)), "need all single bytes"
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "tiktoken.model"), "w", encoding="ascii", newline="\n") as f:
        for i in range(n):
            f.write(base64.b64encode(by_id[i]).decode("ascii") + " " + str(i) + "\n")
    decoder = {
        str(n + off): {"content": name, "lstrip": False, "normalized": False, "rstrip": False,
                       "single_word": False, "special": True}
        for off, name in sorted(SPECIALS.items())
    }
    config = {
        "added_tokens_decoder": decoder,
        "additional_special_tokens": ["<|im_end|>", "<|im_user|>", "<|im_assistant|>",
                                      "<|im_system|>", "<|im_middle|>"],
        "bos_token": "[BOS]",
        "eos_token": "[EOS]",
        "pad_token": "[PAD]",
        "unk_token": "[UNK]",
        "clean_up_tokenization_spaces": False,
        "model_max_length": 131072,
        "tokenizer_class": "TikTokenTokenizer",
    }
    with open(os.path.join(OUT, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {n} base tokens and {len(SPECIALS)} named specials to {OUT}")


if __name__ == "__main__":
    main()
