#!/usr/bin/env python3
"""Train a tiny DeepSeek-V3-architecture model (MLA + grouped-sigmoid MoE) on
synthetic GSM8K-style arithmetic word problems, then save a bf16 checkpoint
and Hugging Face fp32 greedy reference completions for `duet eval`.

Pipeline (everything deterministic given --seed, except GPU kernel
non-determinism and the number of steps that fit into --minutes):
  1. generate few-shot, held-out and training problems   (arith_data.py)
  2. train a byte-level BPE tokenizer with one-digit-per-token pre-tokenization
  3. pack training rows: BOS, solved examples joined by "\n\n" (so later
     examples see 1..N solved examples before them, like a K-shot prompt), EOS;
     loss on answer tokens, separators and EOS only
  4. train DeepseekV3ForCausalLM with AdamW, bf16 autocast (CUDA), cosine LR,
     DeepSeek's aux-loss-free router bias update, stop on a time budget
  5. save: fp32 -> reload with dtype=bfloat16 (router bias stays F32) -> save
  6. evaluate with HF greedy decoding in fp32 from the saved bf16 weights
     using the K-shot prompt of prompt_format.py; write outputs and TRAINING.md

Usage: see tools/train/README.md and tools/train/run_on_gpu.sh.
"""
import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import arith_data  # noqa: E402
import prompt_format as pf  # noqa: E402

T0 = time.time()

BOS, EOS, PAD = "<|begin_of_text|>", "<|end_of_text|>", "<|pad|>"
SPECIAL_TOKENS = [BOS, EOS, PAD, "<|system|>", "<|user|>", "<|assistant|>"]  # ids 0..5
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}<|system|>{{ message['content'] }}"
    "{% elif message['role'] == 'user' %}<|user|>{{ message['content'] }}"
    "{% elif message['role'] == 'assistant' %}<|assistant|>{{ message['content'] }}<|end_of_text|>"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def log(msg):
    print(f"[{time.time() - T0:7.1f}s] {msg}", flush=True)


# ---------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------

def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="models/duet-arith-tiny", help="output directory")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--minutes", type=float, default=10.0, help="training time budget (wall clock, training loop only)")
    p.add_argument("--steps", type=int, default=0, help="fixed number of steps (0: as many as fit into --minutes)")
    p.add_argument("--max-steps", type=int, default=100000, help="upper bound on steps when timing-based")
    p.add_argument("--smoke", action="store_true", help="tiny CPU-friendly end-to-end check")
    # data
    p.add_argument("--train-problems", type=int, default=400000)
    p.add_argument("--heldout", type=int, default=250)
    p.add_argument("--fewshot", type=int, default=8, help="size of the fixed few-shot pool (fewshot.jsonl)")
    p.add_argument("--k-shot", type=int, default=pf.DEFAULT_K)
    p.add_argument("--seq-len", type=int, default=1024, help="packed training row length (tokens)")
    p.add_argument("--vocab-size", type=int, default=1024, help="BPE vocab upper bound")
    p.add_argument("--workers", type=int, default=min(16, os.cpu_count() or 1))
    # model
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--dense-inter", type=int, default=768)
    p.add_argument("--moe-inter", type=int, default=96)
    p.add_argument("--experts", type=int, default=16)
    p.add_argument("--topk", type=int, default=4)
    p.add_argument("--q-lora", type=int, default=96)
    p.add_argument("--kv-lora", type=int, default=64)
    p.add_argument("--qk-nope", type=int, default=32)
    p.add_argument("--qk-rope", type=int, default=16)
    p.add_argument("--v-head", type=int, default=32)
    p.add_argument("--max-pos", type=int, default=1024)
    p.add_argument("--experts-impl", default="auto", help="auto | grouped_mm | eager | batched_mm")
    # optimisation
    p.add_argument("--batch", type=int, default=64, help="rows per step")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--min-lr-ratio", type=float, default=0.05)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--wd", type=float, default=0.05)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--bias-rate", type=float, default=1e-3, help="aux-loss-free router bias update rate (0: off)")
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--compile", action="store_true", help="torch.compile the model (off by default)")
    # evaluation
    p.add_argument("--eval-batch", type=int, default=128)
    p.add_argument("--max-new-tokens", type=int, default=pf.MAX_NEW_TOKENS)
    p.add_argument("--verify-unbatched", type=int, default=4,
                   help="re-generate this many held-out problems one at a time and compare with the batched text")
    a = p.parse_args()
    if a.smoke:  # tiny everything; overrides
        a.train_problems, a.heldout, a.fewshot = 3000, 10, 4
        a.seq_len, a.batch, a.steps, a.warmup, a.log_every = 512, 4, 20, 5, 5
        a.hidden, a.layers, a.heads, a.dense_inter, a.moe_inter = 64, 4, 2, 128, 32
        a.q_lora, a.kv_lora, a.topk = 32, 32, 2
        a.max_new_tokens, a.eval_batch, a.verify_unbatched = 48, 4, 4
        a.max_pos = 1024
    return a


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------

def build_train_pool(args, tok_json, exclude):
    chunk = 20000 if not args.smoke else 1000
    n = args.train_problems
    jobs = [(args.seed * 1_000_003 + i, min(chunk, n - i * chunk), tok_json, exclude)
            for i in range((n + chunk - 1) // chunk)]
    if args.workers > 1 and len(jobs) > 1:
        import multiprocessing as mp
        # spawn, not fork: the parent already used the (multi-threaded) tokenizers library
        with mp.get_context("spawn").Pool(args.workers) as pool:
            parts = pool.map(arith_data.tokenize_chunk, jobs)
    else:
        parts = [arith_data.tokenize_chunk(j) for j in jobs]
    ids = np.concatenate([p[0] for p in parts])
    lens = np.concatenate([p[1] for p in parts])
    qlens = np.concatenate([p[2] for p in parts])
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    return ids, starts, lens, qlens


class RowPacker:
    """Packs solved examples into rows: BOS ex SEP ex SEP ... ex EOS PAD...

    The order of examples is a seeded permutation of the pool, re-drawn every
    epoch.  Row length is seq_len + 1 (inputs = row[:-1], targets = row[1:]).
    Loss mask: answer tokens, separators and EOS.
    """

    def __init__(self, pool, seq_len, sep_ids, bos_id, eos_id, pad_id, seed):
        self.ids, self.starts, self.lens, self.qlens = pool
        self.L = seq_len + 1
        self.sep = np.asarray(sep_ids, np.int64)
        self.bos, self.eos, self.pad = bos_id, eos_id, pad_id
        self.rng = np.random.default_rng(seed)
        self.perm, self.pos, self.epoch = self.rng.permutation(len(self.lens)), 0, 0

    def _peek(self):
        """Index of the next example (a new permutation starts each epoch)."""
        if self.pos >= len(self.perm):
            self.perm, self.pos = self.rng.permutation(len(self.lens)), 0
            self.epoch += 1
        return self.perm[self.pos]

    def row(self):
        toks = np.full(self.L, self.pad, np.int64)
        mask = np.zeros(self.L, bool)
        toks[0] = self.bos
        n = 1
        while True:
            i = self._peek()
            s, ln, ql = self.starts[i], self.lens[i], self.qlens[i]
            sep = 0 if n == 1 else len(self.sep)
            if n + sep + ln + 1 > self.L:      # +1: the closing EOS
                if n == 1:                     # longer than a whole row: skip it
                    self.pos += 1
                    continue
                break                          # row full; example opens the next row
            self.pos += 1
            if sep:
                toks[n:n + sep] = self.sep
                mask[n:n + sep] = True         # learn to emit the separator after an answer
                n += sep
            toks[n:n + ln] = self.ids[s:s + ln]
            mask[n + ql:n + ln] = True         # answer tokens only
            n += ln
        toks[n] = self.eos
        mask[n] = True
        return toks, mask

    def batch(self, b):
        rows = [self.row() for _ in range(b)]
        toks = torch.from_numpy(np.stack([r[0] for r in rows]))
        mask = torch.from_numpy(np.stack([r[1] for r in rows]))
        x = toks[:, :-1].contiguous()
        y = toks[:, 1:].clone()
        y[~mask[:, 1:]] = -100
        return x, y


# ---------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------

def train_tokenizer(texts, vocab_size, outdir, max_len):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.BPE())
    # digits are split one per token *before* byte-level splitting, so every
    # number is a sequence of single-digit tokens (spaces before numbers become "Ġ")
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    for i, s in enumerate(SPECIAL_TOKENS):
        assert tok.token_to_id(s) == i, (s, tok.token_to_id(s))
    # plain text gets BOS prepended (add_special_tokens=True)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, 0)])
    tok.save(os.path.join(outdir, "tokenizer.json"))
    cfg = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": BOS, "eos_token": EOS, "pad_token": PAD,
        "add_bos_token": True, "add_eos_token": False,
        "model_max_length": max_len,
        "clean_up_tokenization_spaces": False,
        "chat_template": CHAT_TEMPLATE,
        "extra_special_tokens": SPECIAL_TOKENS[3:],
    }
    with open(os.path.join(outdir, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(outdir, "special_tokens_map.json"), "w") as f:
        json.dump({"bos_token": BOS, "eos_token": EOS, "pad_token": PAD}, f, indent=2)
    return tok


def check_tokenizer(outdir, tok, sample_texts):
    """AutoTokenizer loads it, adds BOS for plain text, and the chat template renders."""
    from transformers import AutoTokenizer
    hf = AutoTokenizer.from_pretrained(outdir)
    ids = hf("Question: 12 + 34?")["input_ids"]
    assert ids[0] == 0 and ids.count(0) == 1, f"BOS not added exactly once: {ids}"
    assert hf.bos_token_id == 0 and hf.eos_token_id == 1, (hf.bos_token_id, hf.eos_token_id)
    chat = hf.apply_chat_template([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],
                                  tokenize=False, add_generation_prompt=True)
    assert chat == f"{BOS}<|user|>hi<|assistant|>yo{EOS}<|assistant|>", chat
    # digits are single tokens
    assert all(len(hf.convert_ids_to_tokens(hf(str(d), add_special_tokens=False)["input_ids"])) == 1 for d in range(10))
    for t in sample_texts:  # raw tokenizer and HF tokenizer agree
        assert hf(t)["input_ids"] == tok.encode(t).ids
        assert hf.decode(hf(t, add_special_tokens=False)["input_ids"]) == t
    return hf


# ---------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------

def make_config(args, vocab_size):
    from transformers import DeepseekV3Config
    return DeepseekV3Config(
        vocab_size=vocab_size,
        hidden_size=args.hidden,
        intermediate_size=args.dense_inter,
        moe_intermediate_size=args.moe_inter,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.heads,
        n_shared_experts=1,
        n_routed_experts=args.experts,
        routed_scaling_factor=2.5,
        kv_lora_rank=args.kv_lora,
        q_lora_rank=args.q_lora,
        qk_rope_head_dim=args.qk_rope,
        v_head_dim=args.v_head,
        qk_nope_head_dim=args.qk_nope,
        n_group=4,
        topk_group=2,
        num_experts_per_tok=args.topk,
        first_k_dense_replace=1,
        norm_topk_prob=True,
        hidden_act="silu",
        max_position_embeddings=args.max_pos,
        initializer_range=0.02,
        rms_norm_eps=1e-6,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=2,
        tie_word_embeddings=False,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        rope_interleave=True,
        attention_bias=False,
        num_nextn_predict_layers=0,
        topk_method="noaux_tc",      # informational (as in real DeepSeek-V3 configs); HF always uses this routing
        scoring_func="sigmoid",
    )


def routers(model):
    from transformers.models.deepseek_v3.modeling_deepseek_v3 import DeepseekV3TopkRouter
    return [m for m in model.modules() if isinstance(m, DeepseekV3TopkRouter)]


class RouterBalancer:
    """DeepSeek-V3 aux-loss-free load balancing: after each optimizer step,
    e_score_correction_bias += rate * sign(mean_load - load) per expert.
    Loads are counted with forward hooks on the routers (training only)."""

    def __init__(self, model, rate):
        self.rate = rate
        self.routers = routers(model)
        self.counts = [torch.zeros(r.num_experts, device=r.weight.device) for r in self.routers]
        self.handles = []
        for k, r in enumerate(self.routers):
            self.handles.append(r.register_forward_hook(self._hook(k)))

    def _hook(self, k):
        def fn(module, inp, out):
            if module.training:
                idx = out[2].detach().reshape(-1)
                self.counts[k] += torch.bincount(idx, minlength=module.num_experts).float()
        return fn

    def reset(self):
        for c in self.counts:
            c.zero_()

    @torch.no_grad()
    def step(self):
        if self.rate > 0:
            for r, c in zip(self.routers, self.counts):
                r.e_score_correction_bias.add_(self.rate * torch.sign(c.mean() - c))
        self.reset()

    def imbalance(self):
        """max load / mean load per MoE layer, from the current counts."""
        return [float(c.max() / c.mean().clamp(min=1)) for c in self.counts]


def pick_experts_impl(model, args, x, y, device, amp):
    """Time one fwd+bwd per candidate experts implementation, keep the fastest that works."""
    if args.experts_impl != "auto":
        model.set_experts_implementation(args.experts_impl)
        return args.experts_impl, {}
    # batched_mm materialises per-token expert weights: far too much memory at training batch sizes
    cands = ["grouped_mm", "eager"]
    timings = {}
    for impl in cands:
        try:
            model.set_experts_implementation(impl)
            for rep in range(2):  # first rep warms up kernels
                if device.type == "cuda":
                    torch.cuda.synchronize()
                t = time.time()
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                    logits = model(input_ids=x, use_cache=False).logits
                loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), y.view(-1), ignore_index=-100)
                loss.backward()
                if device.type == "cuda":
                    torch.cuda.synchronize()
                dt = time.time() - t
            if not torch.isfinite(loss):
                raise RuntimeError("non-finite loss")
            timings[impl] = dt
        except Exception as e:  # noqa: BLE001 - any failure just rules the candidate out
            log(f"experts implementation {impl!r} failed: {type(e).__name__}: {str(e)[:200]}")
        model.zero_grad(set_to_none=True)
    if not timings:
        raise RuntimeError("no experts implementation works")
    best = min(timings, key=timings.get)
    model.set_experts_implementation(best)
    return best, timings


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------

@torch.no_grad()
def hf_greedy(model, hf_tok, prompts, batch_size, max_new_tokens, device):
    """Batched greedy generation with left padding; returns completions cut at EOS / stop strings."""
    hf_tok.padding_side = "left"
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # similar lengths together
    out = [None] * len(prompts)
    for b in range(0, len(order), batch_size):
        idx = order[b:b + batch_size]
        enc = hf_tok([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=True).to(device)
        gen = model.generate(
            **enc, do_sample=False, max_new_tokens=max_new_tokens,
            eos_token_id=hf_tok.eos_token_id, pad_token_id=hf_tok.pad_token_id,
            stop_strings=pf.STOP_STRINGS, tokenizer=hf_tok,
        )
        new = gen[:, enc["input_ids"].shape[1]:].tolist()
        for i, toks in zip(idx, new):
            # stop at EOS (or the pad that generate() writes after a finished row)
            for j, t in enumerate(toks):
                if t in (hf_tok.eos_token_id, hf_tok.pad_token_id):
                    toks = toks[:j]
                    break
            text = hf_tok.decode(toks, skip_special_tokens=False, clean_up_tokenization_spaces=False)
            out[i] = pf.truncate_at_stop(text)
    return out


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

def write_jsonl(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def main():
    args = parse_args()
    out = args.out
    os.makedirs(out, exist_ok=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    amp = device.type == "cuda"  # bf16 autocast on GPU, plain fp32 on CPU
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high")  # TF32 for the fp32 parts (router, fp32 expert GEMMs)
    hw = torch.cuda.get_device_name(0) if device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"
    log(f"device: {hw}; torch {torch.__version__}; args: {vars(args)}")
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    # ---- 1. problems -------------------------------------------------------
    # separate seeded streams: few-shot pool, held-out set, training pool
    fewshot = arith_data.make_problems(args.seed + 7_000_001, args.fewshot, kinds=["add", "sub", "mul", "two_step"])
    heldout = arith_data.make_problems(args.seed + 9_000_001, 4 * args.heldout)
    seen = {p["question"] for p in fewshot}
    uniq = []
    for p in heldout:  # distinct questions, none equal to a few-shot one
        if p["question"] not in seen:
            seen.add(p["question"])
            uniq.append(p)
    heldout = uniq[:args.heldout]
    exclude = frozenset(seen)  # removed from the training pool
    write_jsonl(os.path.join(out, "fewshot.jsonl"), [{"question": p["question"], "answer": p["answer"]} for p in fewshot])
    write_jsonl(os.path.join(out, "heldout.jsonl"), [{"question": p["question"], "answer": p["answer"]} for p in heldout])

    # ---- 2. tokenizer ------------------------------------------------------
    tok_texts = [pf.format_example(p["question"], p["answer"])
                 for p in arith_data.make_problems(args.seed * 1_000_003, 20000 if not args.smoke else 2000)]
    tok_texts += [pf.format_example(p["question"], p["answer"]) for p in fewshot] + [pf.EXAMPLE_SEP]
    tok = train_tokenizer(tok_texts, args.vocab_size, out, args.max_pos)
    prompts = [pf.build_prompt(p["question"], fewshot, args.k_shot) for p in heldout]
    hf_tok = check_tokenizer(out, tok, tok_texts[:50] + prompts[:5])
    vocab = tok.get_vocab_size()
    log(f"tokenizer: {vocab} tokens")

    # ---- 3. training pool --------------------------------------------------
    pool = build_train_pool(args, tok.to_str(), exclude)
    # the separator's tokens as they appear *in context* (between an answer's last
    # digit and "Question"); "\n\n" alone would tokenize differently
    ctx = tok.encode("0" + pf.EXAMPLE_SEP + "Question", add_special_tokens=False).ids
    sep_ids = ctx[1:-1]
    assert tok.decode(sep_ids) == pf.EXAMPLE_SEP and tok.decode(ctx[:1]) == "0" and tok.decode(ctx[-1:]) == "Question"
    # the packed rows are the concatenation of separately tokenized pieces; check
    # that this equals tokenizing the whole text (so training matches eval prompts)
    ids, starts, lens, qlens = pool
    for k in range(3):
        parts = [ids[starts[i]:starts[i] + lens[i]].tolist() for i in range(k, k + 3)]
        joined = parts[0] + sep_ids + parts[1] + sep_ids + parts[2]
        text = tok.decode(joined)
        assert tok.encode(text, add_special_tokens=False).ids == joined, "piecewise tokenization != whole"
        # ...and that the question part is exactly the eval query
        assert tok.decode(parts[0][:qlens[k]]).endswith("\nAnswer:")
    plen = [len(hf_tok(p)["input_ids"]) for p in prompts]
    alen = [len(tok.encode(" " + p["answer"], add_special_tokens=False).ids) for p in heldout]
    log(f"train pool: {len(lens)} problems, {len(ids) / 1e6:.1f}M tokens, example len mean {lens.mean():.0f} max {lens.max()}; "
        f"eval prompt len max {max(plen)}, answer len max {max(alen)} (+EOS); total max {max(plen) + max(alen) + 1} "
        f"<= max_pos {args.max_pos}")
    if max(alen) + 1 > args.max_new_tokens and not args.smoke:
        log("WARNING: some held-out answers are longer than max_new_tokens")
    packer = RowPacker(pool, args.seq_len, sep_ids, 0, 1, 2, args.seed)

    # ---- 4. model ----------------------------------------------------------
    from transformers import DeepseekV3ForCausalLM
    vocab_padded = (vocab + 63) // 64 * 64
    config = make_config(args, vocab_padded)
    torch.manual_seed(args.seed)
    model = DeepseekV3ForCausalLM(config).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    n_expert = sum(p.numel() for n, p in model.named_parameters() if ".experts." in n)
    n_active = n_params - n_expert + n_expert * args.topk // args.experts
    log(f"model: {n_params / 1e6:.2f}M params ({n_active / 1e6:.2f}M active per token), vocab {vocab_padded}")

    x0, y0 = packer.batch(args.batch)  # probe batch (the packer continues after it, deterministic)
    impl, timings = pick_experts_impl(model, args, x0.to(device), y0.to(device), device, amp)
    log(f"experts implementation: {impl} (probe fwd+bwd seconds: {timings})")
    fwd_model = torch.compile(model) if args.compile else model

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.98), eps=1e-8, fused=device.type == "cuda")
    balancer = RouterBalancer(model, args.bias_rate)

    def lr_at(step, total):
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        prog = min(1.0, (step - args.warmup) / max(1, total - args.warmup))
        return args.lr * (args.min_lr_ratio + (1 - args.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * prog)))

    # ---- 5. train ----------------------------------------------------------
    budget = args.minutes * 60.0
    total = args.steps if args.steps > 0 else args.max_steps
    calib_at = min(60, max(10, args.warmup // 2))  # steps after which the step count is fixed from timing
    rows_csv = []
    model.train()
    t_start = time.time()
    t_calib = None
    loss_acc = torch.zeros((), device=device)
    n_acc = 0
    step = 0
    last_loss = float("nan")
    while step < total:
        x, y = (x0, y0) if step == 0 else packer.batch(args.batch)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        lr = lr_at(step, total)
        for g in opt.param_groups:
            g["lr"] = lr
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            logits = fwd_model(input_ids=x, use_cache=False).logits
        loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), y.view(-1), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        balancer_imb = balancer.imbalance() if (step + 1) % args.log_every == 0 else None
        balancer.step()
        loss_acc += loss.detach()
        n_acc += 1
        step += 1
        if step == 5:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t_calib = time.time()
        if args.steps == 0 and step == calib_at:
            # fix the schedule length from the measured step time
            if device.type == "cuda":
                torch.cuda.synchronize()
            per_step = (time.time() - t_calib) / (calib_at - 5)
            remaining = budget - (time.time() - t_start)
            total = min(args.max_steps, step + max(1, int(0.98 * remaining / per_step)))
            log(f"step time {per_step * 1000:.1f} ms -> training for {total} steps")
        if step % args.log_every == 0 or step == total:
            last_loss = (loss_acc / n_acc).item()
            el = time.time() - t_start
            rows_csv.append((step, last_loss, lr, el))
            imb = f" max/mean expert load {min(balancer_imb):.2f}-{max(balancer_imb):.2f}" if balancer_imb else ""
            log(f"step {step}/{total} loss {last_loss:.4f} lr {lr:.2e} elapsed {el:.0f}s epoch {packer.epoch}{imb}")
            loss_acc.zero_()
            n_acc = 0
        if args.steps == 0 and time.time() - t_start > budget:
            log(f"time budget reached at step {step}")
            break
    if n_acc:
        last_loss = (loss_acc / n_acc).item()
        rows_csv.append((step, last_loss, lr_at(step - 1, total), time.time() - t_start))
    train_s = time.time() - t_start
    tokens_seen = step * args.batch * args.seq_len
    log(f"training done: {step} steps in {train_s:.0f}s, final loss {last_loss:.4f}")

    # ---- 6. save -----------------------------------------------------------
    model.eval()
    bias_stats = [(float(r.e_score_correction_bias.min()), float(r.e_score_correction_bias.max())) for r in balancer.routers]
    for h in balancer.handles:
        h.remove()
    from transformers import GenerationConfig
    from safetensors import safe_open
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)  # fp32
        bf = DeepseekV3ForCausalLM.from_pretrained(tmp, dtype=torch.bfloat16)
        # bf16 everywhere except the router bias (kept F32 by _keep_in_fp32_modules_strict)
        for r in routers(bf):
            assert r.e_score_correction_bias.dtype == torch.float32
        for name in os.listdir(out):  # remove stale weights from an earlier run
            if name.endswith(".safetensors") or name == "model.safetensors.index.json":
                os.remove(os.path.join(out, name))
        bf.save_pretrained(out)
        del bf
    GenerationConfig(bos_token_id=0, eos_token_id=1, pad_token_id=2, do_sample=False,
                     max_new_tokens=args.max_new_tokens).save_pretrained(out)
    st_files = [f for f in os.listdir(out) if f.endswith(".safetensors")]
    ckpt_bytes = sum(os.path.getsize(os.path.join(out, f)) for f in st_files)
    dtypes = {}
    for f in st_files:
        with safe_open(os.path.join(out, f), "pt") as sf:
            for k in sf.keys():
                dt = str(sf.get_slice(k).get_dtype())
                want = "F32" if k.endswith("e_score_correction_bias") else "BF16"
                assert dt == want, f"{k}: {dt} (want {want})"
                dtypes[dt] = dtypes.get(dt, 0) + 1
    assert ckpt_bytes <= 25 * 1024 * 1024 or args.smoke, f"checkpoint too large: {ckpt_bytes} bytes"
    log(f"saved {st_files} ({ckpt_bytes / 1e6:.2f} MB; tensors by dtype {dtypes}); router bias ranges {bias_stats}")
    del model, fwd_model, opt
    if device.type == "cuda":
        torch.cuda.empty_cache()

    # ---- 7. HF greedy evaluation (fp32 from the saved bf16 weights) --------
    t_eval = time.time()
    torch.set_float32_matmul_precision("highest")  # true fp32 reference (no TF32)
    ev = DeepseekV3ForCausalLM.from_pretrained(out, dtype=torch.float32, attn_implementation="eager").to(device).eval()
    try:
        ev.set_experts_implementation(impl)
        _ = ev(**hf_tok(prompts[:2], return_tensors="pt", padding=True).to(device))
    except Exception as e:  # noqa: BLE001
        log(f"experts implementation {impl!r} failed in fp32 eval ({type(e).__name__}); using eager")
        ev.set_experts_implementation("eager")
    hf_tok = __import__("transformers").AutoTokenizer.from_pretrained(out)
    comps = hf_greedy(ev, hf_tok, prompts, args.eval_batch, args.max_new_tokens, device)
    rows, correct, invalid = [], 0, 0
    for i, (p, c) in enumerate(zip(heldout, comps)):
        ex = pf.extract_answer(c)
        rows.append({"index": i, "completion": c, "extracted": ex})
        correct += ex == pf.gold_answer(p["answer"])
        invalid += ex == ""
    write_jsonl(os.path.join(out, "hf_greedy.jsonl"), rows)
    acc = correct / len(heldout)
    by_kind = {}
    for p, r in zip(heldout, rows):
        k = by_kind.setdefault(p["kind"], [0, 0])
        k[0] += r["extracted"] == pf.gold_answer(p["answer"])
        k[1] += 1
    # batched (left-padded) vs one-at-a-time greedy text
    nv = min(args.verify_unbatched, len(prompts))
    single = [hf_greedy(ev, hf_tok, [prompts[i]], 1, args.max_new_tokens, device)[0] for i in range(nv)]
    mismatch = [i for i in range(nv) if single[i] != comps[i]]
    eval_s = time.time() - t_eval
    summary = {"num": len(heldout), "correct": correct, "accuracy": acc, "invalid": invalid}
    with open(os.path.join(out, "hf_eval.json"), "w") as f:
        json.dump(summary, f, indent=2)
    log(f"HF fp32 greedy eval: {summary}; by kind {by_kind}; batched==unbatched on {nv - len(mismatch)}/{nv} "
        f"(mismatches {mismatch}); eval {eval_s:.0f}s")

    # ---- 8. loss curve, TRAINING.md ----------------------------------------
    with open(os.path.join(out, "loss.csv"), "w") as f:
        f.write("step,loss,lr,elapsed_s\n")
        for s, l, lr_, el in rows_csv:
            f.write(f"{s},{l:.6f},{lr_:.6e},{el:.2f}\n")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.plot([r[0] for r in rows_csv], [r[1] for r in rows_csv])
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("train loss (answer tokens)")
        ax.set_title("duet-arith-tiny")
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        fig.savefig(os.path.join(out, "loss.png"), dpi=100)
        png_note = "`loss.png` (matplotlib)"
    except Exception as e:  # noqa: BLE001
        png_note = f"no `loss.png`: matplotlib unavailable ({type(e).__name__})"
        log(png_note)
    total_s = time.time() - T0
    cmd = "python " + " ".join([os.path.relpath(os.path.abspath(sys.argv[0]))] + sys.argv[1:])
    md = f"""# duet-arith-tiny: training record

Tiny DeepSeek-V3-architecture model (`DeepseekV3ForCausalLM`: MLA with q-LoRA,
grouped sigmoid top-k routing `noaux_tc`, 1 shared + {args.experts} routed experts)
trained from scratch on synthetic GSM8K-style arithmetic word problems by
`tools/train/train.py`.

- Command: `{cmd}`
- Seed: {args.seed}
- Hardware: {hw}; torch {torch.__version__}; transformers {__import__('transformers').__version__}
- Training: {step} steps x {args.batch} rows x {args.seq_len} tokens ({tokens_seen / 1e6:.0f}M tokens incl. padding),
  {train_s:.0f} s (budget {args.minutes} min); AdamW lr {args.lr} (warmup {args.warmup}, cosine to
  {args.min_lr_ratio}x), wd {args.wd}, clip {args.clip}, bf16 autocast: {amp}; experts implementation `{impl}`;
  aux-loss-free router bias update rate {args.bias_rate}
- Final training loss (answer tokens, mean of the last logging window): {last_loss:.4f}
- Model: {n_params / 1e6:.2f}M parameters ({n_active / 1e6:.2f}M active per token); hidden {args.hidden},
  {args.layers} layers (first dense), {args.heads} heads, q_lora {args.q_lora}, kv_lora {args.kv_lora},
  qk_nope {args.qk_nope}, qk_rope {args.qk_rope}, v_head {args.v_head}, dense inter {args.dense_inter},
  moe inter {args.moe_inter}, top-{args.topk} of {args.experts} (n_group 4, topk_group 2), vocab {vocab_padded}
  ({vocab} used), max positions {args.max_pos}
- Checkpoint: {', '.join(st_files)}, {ckpt_bytes / 1e6:.2f} MB, BF16 except `e_score_correction_bias` (F32)
- Router bias range per MoE layer after training: {', '.join(f'[{a:.3f}, {b:.3f}]' for a, b in bias_stats)}
- Held-out accuracy (HF greedy, fp32 from the saved bf16 weights, eager attention, {args.k_shot}-shot prompt,
  max {args.max_new_tokens} new tokens): **{correct}/{len(heldout)} = {acc:.1%}** (invalid {invalid});
  by kind: {', '.join(f'{k} {v[0]}/{v[1]}' for k, v in sorted(by_kind.items()))}
- Batched (left-padded) vs unbatched greedy text identical on {nv - len(mismatch)}/{nv} checked problems
- Eval time {eval_s:.0f} s; total wall time {total_s:.0f} s
- Loss curve: `loss.csv`; {png_note}

Files: `heldout.jsonl` (held-out problems, GSM8K format), `fewshot.jsonl` (few-shot pool; the
prompt uses the first {args.k_shot}), `hf_greedy.jsonl` (`duet eval --save` format), `hf_eval.json`.
Prompt format: `tools/train/prompt_format.py` / `tools/train/README.md`.
"""
    with open(os.path.join(out, "TRAINING.md"), "w") as f:
        f.write(md)

    # ---- summary (last lines) ---------------------------------------------
    print("=" * 60)
    print(f"accuracy      : {correct}/{len(heldout)} = {acc:.1%} (invalid {invalid})")
    print(f"params        : {n_params / 1e6:.2f}M ({n_active / 1e6:.2f}M active)")
    print(f"checkpoint    : {ckpt_bytes / 1e6:.2f} MB in {out}")
    print(f"time          : train {train_s:.0f}s, eval {eval_s:.0f}s, total {total_s:.0f}s; final loss {last_loss:.4f}")


if __name__ == "__main__":
    main()
