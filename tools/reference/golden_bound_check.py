#!/usr/bin/env python3
"""How robust is the CUDA golden bound? For every golden fixture prompt, the max |logit - fp64
reference| of Hugging Face's own bf16 forward with single rounding points made more precise
(each one as duet's CUDA backend computes it), against the bound the CUDA golden test applies:
1.5x the error of the bf16 eager run (make_golden.py stores it per prompt).

Variants (alone and together, with eager and with sdpa attention):
  norm  RMSNorm with the weight multiplied in fp32 and one rounding to bf16 (HF rounds the
        normalised row to bf16, then multiplies by the weight in bf16)
  mlp   SwiGLU's silu(gate) * up in fp32 and one rounding (HF rounds silu(gate) first)
  rope  RoPE of q and k in fp32 with fp32 cos/sin and one rounding (DeepSeek-V3 family; HF
        casts cos/sin to bf16 and rounds each product)
A variant over the bound (marked !) is a numerically legitimate bf16 forward of the very same
model that fails the test's criterion on that prompt: a routing flip at a near-tie decides it.

Usage: python3 tools/reference/golden_bound_check.py [--device cuda] [FIXTURE_DIR ...]
(default: every fixture, on the CPU, where make_golden.py measured the bound; --device cuda runs
the same forwards on a GPU, whose bf16 matrix products may round differently). Runs in a few
minutes. Pinned: transformers 5.17, torch 2.x.
"""
import glob
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch  # noqa: E402
import transformers as T  # noqa: E402
import transformers.models.deepseek_v2.modeling_deepseek_v2 as v2  # noqa: E402
import transformers.models.deepseek_v3.modeling_deepseek_v3 as v3  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

# HF's functions, restored when a variant is off.
ORIG = dict(n3=v3.DeepseekV3RMSNorm.forward, n2=v2.DeepseekV2RMSNorm.forward,
            m3=v3.DeepseekV3MLP.forward, m2=v2.DeepseekV2MLP.forward,
            r3=v3.apply_rotary_pos_emb, ri3=v3.apply_rotary_pos_emb_interleave,
            e3=v3.DeepseekV3RotaryEmbedding.forward)
VARIANTS = [(), ("norm",), ("mlp",), ("rope",), ("norm", "mlp", "rope")]


def norm_once(self, h):
    dt = h.dtype
    h = h.float()
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.variance_epsilon)
    return (self.weight.float() * h).to(dt)


def mlp_once(self, x):
    g, u = self.gate_proj(x), self.up_proj(x)
    return self.down_proj((torch.nn.functional.silu(g.float()) * u.float()).to(x.dtype))


def rope_table_f32(self, x, position_ids):
    cos, sin = ORIG["e3"](self, x.float(), position_ids)
    return cos.float(), sin.float()


def rope_once(fn):
    def f(q, k, cos, sin, *a, **kw):
        qe, ke = fn(q.float(), k.float(), cos.float(), sin.float(), *a, **kw)
        return qe.to(q.dtype), ke.to(k.dtype)
    return f


def use(flags):
    v3.DeepseekV3RMSNorm.forward = norm_once if "norm" in flags else ORIG["n3"]
    v2.DeepseekV2RMSNorm.forward = norm_once if "norm" in flags else ORIG["n2"]
    v3.DeepseekV3MLP.forward = mlp_once if "mlp" in flags else ORIG["m3"]
    v2.DeepseekV2MLP.forward = mlp_once if "mlp" in flags else ORIG["m2"]
    rope = "rope" in flags
    v3.DeepseekV3RotaryEmbedding.forward = rope_table_f32 if rope else ORIG["e3"]
    v3.apply_rotary_pos_emb = rope_once(ORIG["r3"]) if rope else ORIG["r3"]
    v3.apply_rotary_pos_emb_interleave = rope_once(ORIG["ri3"]) if rope else ORIG["ri3"]


def model_class(d):
    with open(os.path.join(d, "golden_summary.json")) as f:
        kind = json.load(f)["kind"]
    return {"v3": T.DeepseekV3ForCausalLM, "v2": T.DeepseekV2ForCausalLM,
            "k25": T.Kimi_K25ForConditionalGeneration}[kind]


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    args = sys.argv[1:]
    device = "cpu"
    if args[:1] == ["--device"]:
        device, args = args[1], args[2:]
    dirs = args or sorted(glob.glob(os.path.join(root, "tests", "data", "golden", "*")))
    for d in dirs:
        g = load_file(os.path.join(d, "golden.safetensors"))
        rows = {}
        for attn in ("eager", "sdpa"):
            for flags in VARIANTS:
                use(flags)
                m = model_class(d).from_pretrained(d, dtype=torch.bfloat16, attn_implementation=attn,
                                                   experts_implementation="eager").to(device).eval()
                i = 0
                while f"prompt_{i}.ids" in g:
                    ids = g[f"prompt_{i}.ids"].long()[None].to(device)
                    ref = g[f"prompt_{i}.logits"].double()
                    with torch.no_grad():
                        err = float((m(input_ids=ids).logits[0].double().cpu() - ref).abs().max())
                    rows.setdefault(i, []).append(("+".join((attn,) + flags), err))
                    i += 1
        use(())
        for i, row in rows.items():
            bound = 1.5 * float(g[f"prompt_{i}.bf16_err"].max())
            cells = ", ".join(f"{k} {e:.2f}{'!' if e > bound else ''}" for k, e in row)
            print(f"{os.path.basename(d)} prompt {i}: bound {bound:.2f}: {cells}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
