# PyTorch peers on the shapes cuda_bench times (same GPU, same run): copy, GEMM ceiling,
# torch._grouped_mm for the Moonlight expert GEMMs (gate_up then down), and causal SDPA.
import torch

def t_us(f, iters=20):
    for _ in range(3):
        f()
    torch.cuda.synchronize()
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(5):
        s.record()
        for _ in range(iters):
            f()
        e.record()
        torch.cuda.synchronize()
        times.append(s.elapsed_time(e) * 1e3 / iters)
    return sorted(times)[2]

dev = "cuda"
print("| torch peer | time (us) | rate |\n|---|---|---|")
a = torch.empty(1 << 29, dtype=torch.bfloat16, device=dev).normal_()
b = torch.empty_like(a)
us = t_us(lambda: b.copy_(a))
print(f"| torch copy 1 GiB | {us:.1f} | {2 * a.numel() * 2 / us / 1e3:.0f} GB/s |")
del a, b
x = torch.randn(8192, 8192, dtype=torch.bfloat16, device=dev)
w = torch.randn(8192, 8192, dtype=torch.bfloat16, device=dev)
us = t_us(lambda: x @ w.t())
print(f"| torch gemm 8192^3 | {us:.1f} | {2 * 8192**3 / us / 1e6:.0f} TFLOP/s |")
E, H, I = 64, 2048, 1408
gu = torch.randn(E, 2 * I, H, dtype=torch.bfloat16, device=dev) * 0.02
dn = torch.randn(E, H, I, dtype=torch.bfloat16, device=dev) * 0.02
for m in (1, 16, 64, 512):
    xs = torch.randn(E * m, H, dtype=torch.bfloat16, device=dev)
    offs = torch.arange(1, E + 1, dtype=torch.int32, device=dev) * m
    try:
        def f():
            h = torch._grouped_mm(xs, gu.transpose(-2, -1), offs=offs)
            g, u = h.chunk(2, dim=-1)
            act = torch.nn.functional.silu(g) * u
            return torch._grouped_mm(act, dn.transpose(-2, -1), offs=offs)
        us = t_us(f)
        flops = 2.0 * E * m * 3 * I * H
        print(f"| torch._grouped_mm experts {m} tok/expert | {us:.1f} | "
              f"{E * 3 * I * H * 2 / us / 1e3:.0f} GB/s weights, {flops / us / 1e6:.0f} TFLOP/s |")
    except Exception as ex:  # noqa: BLE001
        print(f"| torch._grouped_mm {m} | failed | {type(ex).__name__}: {ex} |")
q = torch.randn(4, 16, 4096, 192, dtype=torch.bfloat16, device=dev)
k = torch.randn_like(q)
v = torch.randn(4, 16, 4096, 128, dtype=torch.bfloat16, device=dev)
sdpa = torch.nn.functional.scaled_dot_product_attention
try:
    us = t_us(lambda: sdpa(q, k, v, is_causal=True))
    tag = "v 128"
except Exception:  # noqa: BLE001
    vp = torch.nn.functional.pad(v, (0, 64))
    us = t_us(lambda: sdpa(q, k, vp, is_causal=True))
    tag = "v padded to 192"
flops = 4 * 16 * (4096 * 4096 / 2) * 2 * (192 + 128)
print(f"| torch sdpa causal 4x4096 H16 ({tag}) | {us:.1f} | {flops / us / 1e6:.0f} TFLOP/s (qk 192, v 128 counted) |")
# The same on token-major (BSHD) tensors, the layout duet hands cuDNN; flash attention rejects
# d_v != d_qk, so cuDNN is also what the default above picks on an H100.
qb = torch.randn(4, 4096, 16, 192, dtype=torch.bfloat16, device=dev).transpose(1, 2)
kb = torch.randn_like(qb)
vb = torch.randn(4, 4096, 16, 128, dtype=torch.bfloat16, device=dev).transpose(1, 2)
try:
    from torch.nn.attention import SDPBackend, sdpa_kernel
    with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
        us = t_us(lambda: sdpa(qb, kb, vb, is_causal=True))
    print(f"| torch sdpa causal 4x4096 H16 (cuDNN forced, BSHD strides) | {us:.1f} | {flops / us / 1e6:.0f} TFLOP/s |")
except Exception as ex:  # noqa: BLE001
    print(f"| torch sdpa cuDNN BSHD | failed | {type(ex).__name__}: {ex} |")
