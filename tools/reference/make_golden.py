#!/usr/bin/env python3
"""Golden fixtures for duet's CPU reference: tiny random DeepSeek-V3-family checkpoints and the
logits Hugging Face transformers computes for them in float64 (eager attention, eager experts).

For each preset (or a given config.json) this writes tests/data/golden/<name>/:
  config.json, generation_config.json, model.safetensors   bf16 weights, F32 router bias
  golden.safetensors   per prompt i:
      prompt_<i>.ids          I32 [n]      the prompt
      prompt_<i>.logits       F32 [n, V]   fp64 reference logits at every position
      prompt_<i>.bf16_err     F32 [n]      max |logit - ref| of HF's own bf16 eager forward
      prompt_<i>.greedy       I32 [g]      fp64 greedy continuation (full forward each step)
      prompt_<i>.margin       F32 [g]      top-1 minus top-2 logit at each greedy step

Weights are randomised (not the default init, which leaves routing near-tied) and so is the
router's e_score_correction_bias; the checkpoint is saved the way real ones are (bf16 weights,
fp32 bias) by reloading the fp32 model with dtype=bfloat16 before saving.

Usage: python3 tools/reference/make_golden.py [--preset NAME ...] [--config FILE --name NAME]
Runs on CPU in a minute; a GPU is not needed. Pinned: transformers 5.17, torch 2.x.
"""
import argparse
import json
import math
import os
import shutil
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch  # noqa: E402
import transformers as T  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "data", "golden")

COMMON = dict(vocab_size=384, hidden_size=64, intermediate_size=96, moe_intermediate_size=32,
              num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=4,
              kv_lora_rank=32, qk_rope_head_dim=8, qk_nope_head_dim=16, v_head_dim=12,
              first_k_dense_replace=1, max_position_embeddings=512, bos_token_id=0,
              eos_token_id=1, tie_word_embeddings=False)

# Presets mirror the real families' distinguishing features at a tiny size. Heads = 4 and
# 16 experts so that dp/tp/ep layouts up to a world of 8 divide every fixture.
PRESETS = {
    # DeepSeek-V3-like: q_lora, grouped sigmoid routing, yarn with mscale_all_dim, eps 1e-5
    # (so the 1e-6 eps of the latent norms matters).
    "v3-yarn": ("v3", dict(COMMON, q_lora_rank=24, n_routed_experts=16, n_shared_experts=1,
                           num_experts_per_tok=4, n_group=4, topk_group=2,
                           routed_scaling_factor=2.5, rms_norm_eps=1e-5, rope_theta=10000.0,
                           rope_scaling={"type": "yarn", "factor": 4.0,
                                         "original_max_position_embeddings": 32,
                                         "beta_fast": 32, "beta_slow": 1, "mscale": 1.0,
                                         "mscale_all_dim": 1.0})),
    # Moonlight-like: no q_lora, 2 shared experts, no grouping, plain rope theta 50000.
    "moonlight": ("v3", dict(COMMON, q_lora_rank=None, n_routed_experts=16, n_shared_experts=2,
                             num_experts_per_tok=3, n_group=1, topk_group=1,
                             routed_scaling_factor=2.446, rms_norm_eps=1e-5,
                             rope_theta=50000.0)),
    # DeepSeek-V2-Lite-like: softmax + greedy routing, no bias, no normalisation, mscale 0.707.
    "v2-lite": ("v2", dict(COMMON, q_lora_rank=None, n_routed_experts=16, n_shared_experts=2,
                           num_experts_per_tok=3, topk_method="greedy", norm_topk_prob=False,
                           routed_scaling_factor=1.0, rms_norm_eps=1e-6, rope_theta=10000.0,
                           rope_scaling={"type": "yarn", "factor": 4.0,
                                         "original_max_position_embeddings": 32,
                                         "beta_fast": 32, "beta_slow": 1, "mscale": 0.707,
                                         "mscale_all_dim": 0.707})),
    # DeepSeek-V2 (236B)-like routing: group-limited greedy.
    "v2-grouped": ("v2", dict(COMMON, q_lora_rank=20, n_routed_experts=16, n_shared_experts=1,
                              num_experts_per_tok=3, topk_method="group_limited_greedy",
                              n_group=4, topk_group=2, norm_topk_prob=False,
                              routed_scaling_factor=16.0, rms_norm_eps=1e-6,
                              rope_theta=10000.0)),
    # Kimi-K2.5-like: the multimodal wrapper (text under text_config, weights under
    # language_model.), Kimi's n_group 1 routing and yarn with beta_fast = beta_slow = 1.
    "k25": ("k25", dict(COMMON, q_lora_rank=24, n_routed_experts=16, n_shared_experts=1,
                        num_experts_per_tok=4, n_group=1, topk_group=1,
                        routed_scaling_factor=2.827, rms_norm_eps=1e-5, rope_theta=50000.0,
                        rope_scaling={"type": "yarn", "factor": 8.0,
                                      "original_max_position_embeddings": 32,
                                      "beta_fast": 1, "beta_slow": 1, "mscale": 1.0,
                                      "mscale_all_dim": 1.0})),
}

PROMPT_LENGTHS = [1, 7, 33, 100]
# Fixtures whose config.json is rewritten in the transformers-4.x spelling of hub checkpoints
# (rope_theta + rope_scaling + torch_dtype), so both spellings are exercised end to end.
LEGACY_SPELLING = {"moonlight", "v2-lite"}


def rewrite_legacy(path):
    with open(path) as f:
        cfg = json.load(f)
    rp = cfg.pop("rope_parameters", None) or {}
    cfg["rope_theta"] = rp.pop("rope_theta", 10000.0)
    kind = rp.pop("rope_type", "default")
    rp.pop("type", None)
    cfg["rope_scaling"] = None if kind == "default" else dict(rp, type=kind)
    cfg["torch_dtype"] = cfg.pop("dtype", "bfloat16")
    for k in ("head_dim", "qk_head_dim"):
        cfg.pop(k, None)
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
GREEDY_STEPS = 12


def build(kind, cfg):
    if kind == "v3":
        return T.DeepseekV3ForCausalLM(T.DeepseekV3Config(**cfg))
    if kind == "v2":
        return T.DeepseekV2ForCausalLM(T.DeepseekV2Config(**cfg))
    if kind == "k25":
        text = T.DeepseekV3Config(**cfg).to_dict()
        vision = dict(num_hidden_layers=1, hidden_size=32, intermediate_size=64,
                      num_attention_heads=2, pos_emb_height=4, pos_emb_width=4)
        conf = T.Kimi_K25Config(text_config=text, vision_config=vision,
                                projection_hidden_size=32, tie_word_embeddings=False)
        return T.Kimi_K25ForConditionalGeneration(conf)
    raise ValueError(kind)


def model_class(kind):
    return {"v3": T.DeepseekV3ForCausalLM, "v2": T.DeepseekV2ForCausalLM,
            "k25": T.Kimi_K25ForConditionalGeneration}[kind]


def randomise(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:  # norms: around 1
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif p.dim() >= 2:
                fan_in = p.shape[-1]
                std = 1.0 / math.sqrt(fan_in)
                if "embed_tokens" in name:
                    std = 1.0
                elif name.endswith("mlp.gate.weight"):
                    std = 3.0 / math.sqrt(fan_in)  # well-separated routing
                else:
                    std *= 1.5
                p.copy_(std * torch.randn(p.shape, generator=g))
        for name, b in model.named_buffers():
            if name.endswith("e_score_correction_bias"):
                b.copy_(0.3 * torch.randn(b.shape, generator=g))


def save_like_real(model, kind, out_dir):
    """Saves bf16 weights with an F32 router bias, as real checkpoints store them."""
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        m = model_class(kind).from_pretrained(tmp, dtype=torch.bfloat16)
        m.save_pretrained(out_dir)
    if kind == "k25":
        # transformers 5.17 saves the wrapper's text layers as language_model.model.blocks.N;
        # real Kimi-K2.5 checkpoints (and transformers' loader) use ...model.layers.N.
        path = os.path.join(out_dir, "model.safetensors")
        sd = load_file(path)
        sd = {k.replace("language_model.model.blocks.", "language_model.model.layers."): v
              for k, v in sd.items()}
        save_file(sd, path, metadata={"format": "pt"})


def load(kind, out_dir, dtype):
    return model_class(kind).from_pretrained(out_dir, dtype=dtype, attn_implementation="eager",
                                             experts_implementation="eager").eval()


def logits_of(model, ids):
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0]


def make(name, kind, cfg, seed):
    out_dir = os.path.join(OUT, name)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    torch.manual_seed(seed)
    model = build(kind, cfg)
    randomise(model, seed)
    save_like_real(model, kind, out_dir)
    ref = load(kind, out_dir, torch.float64)
    low = load(kind, out_dir, torch.bfloat16)
    V = cfg["vocab_size"]
    g = torch.Generator().manual_seed(seed + 1)
    tensors = {}
    summary = []
    for i, n in enumerate(PROMPT_LENGTHS):
        ids = torch.randint(3, V, (n,), generator=g).tolist()
        ref_logits = logits_of(ref, ids)
        bf16_err = (logits_of(low, ids).double() - ref_logits).abs().max(dim=-1).values
        seq, greedy, margins = list(ids), [], []
        for _ in range(GREEDY_STEPS):
            last = logits_of(ref, seq)[-1]
            top = torch.topk(last, 2)
            nxt = int(top.indices[0])
            greedy.append(nxt)
            margins.append(float(top.values[0] - top.values[1]))
            seq.append(nxt)
        tensors[f"prompt_{i}.ids"] = torch.tensor(ids, dtype=torch.int32)
        tensors[f"prompt_{i}.logits"] = ref_logits.float().contiguous()
        tensors[f"prompt_{i}.bf16_err"] = bf16_err.float().contiguous()
        tensors[f"prompt_{i}.greedy"] = torch.tensor(greedy, dtype=torch.int32)
        tensors[f"prompt_{i}.margin"] = torch.tensor(margins, dtype=torch.float32)
        summary.append(dict(n=n, max_abs_logit=float(ref_logits.abs().max()),
                            bf16_max_err=float(bf16_err.max()), min_margin=min(margins)))
    save_file(tensors, os.path.join(out_dir, "golden.safetensors"))
    if name in LEGACY_SPELLING:
        rewrite_legacy(os.path.join(out_dir, "config.json"))
    with open(os.path.join(out_dir, "golden_summary.json"), "w") as f:
        json.dump(dict(name=name, kind=kind, seed=seed, transformers=T.__version__,
                       torch=torch.__version__, prompts=summary), f, indent=1)
        f.write("\n")
    print(name, json.dumps(summary))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--preset", action="append", choices=sorted(PRESETS))
    ap.add_argument("--config", help="a config.json (DeepseekV3/V2 fields) to use instead")
    ap.add_argument("--kind", default="v3", choices=["v3", "v2", "k25"])
    ap.add_argument("--name", help="fixture name for --config")
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    if args.config:
        with open(args.config) as f:
            cfg = json.load(f)
        for k in ("model_type", "architectures", "transformers_version", "dtype", "torch_dtype"):
            cfg.pop(k, None)
        make(args.name or "custom", args.kind, cfg, args.seed)
        return
    for name in args.preset or sorted(PRESETS):
        kind, cfg = PRESETS[name]
        make(name, kind, cfg, args.seed + 100 * sorted(PRESETS).index(name))


if __name__ == "__main__":
    sys.exit(main())
