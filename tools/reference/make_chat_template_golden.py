#!/usr/bin/env python3
"""Renders duet's chat-template fixtures with transformers' own renderer (the oracle).

Writes tests/data/chat_templates/<name>.jsonl (one conversation per line: inputs + expected
output or expected error) and jinja_cases.jsonl (interpreter unit cases).
Run from the repository root: python3 tools/reference/make_chat_template_golden.py
"""
import json
import os
import sys

import jinja2
import transformers
from transformers.utils.chat_template_utils import _compile_jinja_template, render_jinja_template

sys.path.insert(0, os.path.dirname(__file__))
from chat_template_cases import JINJA_CASES, conversations  # noqa: E402

OUT = "tests/data/chat_templates"
TEMPLATES = ["deepseek-v3", "kimi-style", "r1-style", "qwen-style"]


def load_template(d):
    path = os.path.join(d, "chat_template.jinja")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return f.read()
    with open(os.path.join(d, "tokenizer_config.json"), encoding="utf-8") as f:
        t = json.load(f)["chat_template"]
    if isinstance(t, list):
        t = {e["name"]: e["template"] for e in t}["default"]
    return t


def special_tokens(d):
    # Only bos/eos: the C++ golden test passes exactly these (as apply_chat_template does with
    # the tokenizer's special_tokens_map, which omits unset tokens).
    with open(os.path.join(d, "tokenizer_config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    out = {}
    for key in ("bos_token", "eos_token"):
        v = cfg.get(key)
        if isinstance(v, dict):
            v = v.get("content")
        if v:
            out[key] = v
    return out


def main():
    print(f"transformers {transformers.__version__}, jinja2 {jinja2.__version__}")
    for name in TEMPLATES:
        d = os.path.join(OUT, name)
        tmpl = load_template(d)
        toks = special_tokens(d)
        n = 0
        with open(os.path.join(OUT, name + ".jsonl"), "w", encoding="utf-8") as f:
            for conv in conversations(name):
                rec = {"messages": conv["messages"], "tools": conv.get("tools"),
                       "add_generation_prompt": conv.get("add_generation_prompt", False),
                       "extra": conv.get("extra")}
                try:
                    rendered, _ = render_jinja_template(
                        conversations=[conv["messages"]], tools=conv.get("tools"), chat_template=tmpl,
                        add_generation_prompt=rec["add_generation_prompt"], **toks,
                        **(conv.get("extra") or {}))
                    rec["expected"] = rendered[0]
                except jinja2.exceptions.TemplateError as e:
                    rec["error"] = str(e)
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
                n += 1
        print(f"{name}: {n} cases")
    with open(os.path.join(OUT, "jinja_cases.jsonl"), "w", encoding="utf-8") as f:
        for src, ctx in JINJA_CASES:
            rec = {"template": src, "context": ctx}
            try:
                rec["expected"] = _compile_jinja_template(src).render(
                    messages=[], tools=None, documents=None, add_generation_prompt=False, **(ctx or {}))
            except Exception as e:  # noqa: BLE001 - any Jinja failure must be an error in duet too
                rec["jinja_error"] = f"{type(e).__name__}: {e}"
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    print(f"jinja_cases: {len(JINJA_CASES)} cases")


if __name__ == "__main__":
    main()
