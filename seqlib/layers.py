"""The trunk's building blocks: rotary positions, causal self-attention, SwiGLU, lag mixing and the block.

On a CPU, a training step of a small model spends as long moving activations through memory as multiplying matrices
(bf16 matmuls run near the peak of AMX / AVX-512 units; every element-wise op is a full pass over memory). So the trunk
makes few passes: each norm's gain is folded into the weight after it, RoPE is one complex multiply, lag mixing is a
channels-last convolution with a cheaper weight gradient, and short bf16 contexts on a CPU use explicit attention.
Each block computes what it did before these changes (checkpoints load unchanged); compiled, inductor fuses the
element-wise work instead, so a few functions switch to forms it fuses well.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

EXPLICIT_MAX_T = 512  # longest context whose whole score matrix CPU bf16 attention computes (vs SDPA's flash kernel:
# 1.33x faster at T = 256, 1.03x at 512, even at 1024, forward and backward, with 8 heads of 32)


# Rotary position embedding, "rotate halves" convention (GPT-NeoX, litgpt, HF Llama): pair i of a head is
# (x[i], x[i + hd/2]), rotated at position t by the angle t * theta_i with theta_i = base**(-2i/hd), i.e.
# (x[i] + j*x[i+hd/2]) * exp(j*t*theta_i).
# The attention reads its q and k weight rows with each pair side by side (pair_order): the scores do not depend on
# the order of the head dimensions as long as q and k share it, and adjacent pairs make the rotation one complex
# multiply (one pass over q and k instead of five).
def rope_cache(
    seq_len: int, head_dim: int, base: float, device: torch.device | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of every position's angles, shape (seq_len, head_dim / 2)."""
    inv_freq = base ** (-torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(seq_len, device=device, dtype=torch.float32), inv_freq)
    return angles.cos(), angles.sin()


def pair_order(head_dim: int) -> torch.Tensor:
    """The head dimensions with each rotate-halves pair side by side: 0, hd/2, 1, hd/2 + 1, ..."""
    half = torch.arange(head_dim // 2)
    return torch.stack((half, half + head_dim // 2), dim=-1).flatten()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x (..., T, head_dim) in pair order by the angles of its positions (cos, sin (T, head_dim / 2)), computed
    in float32 and returned in x's dtype."""
    pairs = x.float().unflatten(-1, (-1, 2))
    if torch.compiler.is_compiling():  # inductor has no code generation for complex numbers, and fuses these anyway
        even, odd = pairs.unbind(-1)
        rotated = torch.stack((even * cos - odd * sin, odd * cos + even * sin), dim=-1)
    else:
        rotated = torch.view_as_real(torch.view_as_complex(pairs) * torch.complex(cos, sin))
    return rotated.flatten(-2).to(x.dtype)


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dropout_p: float) -> torch.Tensor:
    """softmax(q k^T / sqrt(hd) + causal mask) v for q, k, v (B, H, T, hd)."""
    B, H, T, D = q.shape
    if q.device.type != "cpu" or q.dtype != torch.bfloat16 or dropout_p or T > EXPLICIT_MAX_T:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
    # On CPUs, SDPA's bf16 flash kernel is slower than its float32 one, and for short contexts the whole score matrix
    # from bf16 matmuls is faster (the scores are rounded to bf16, as any bf16 matmul's output; softmax computes in
    # float32 inside). Queries of the first half see only the first half of the keys: splitting there skips a quarter
    # of the matrix.
    mask = torch.full((T, T), float("-inf"), device=q.device, dtype=q.dtype).triu(1)
    q, k, v = (t.reshape(B * H, T, D) for t in (q, k, v))
    h = T // 2
    first = torch.baddbmm(mask[:h, :h], q[:, :h], k[:, :h].transpose(1, 2), alpha=D ** -0.5).softmax(-1) @ v[:, :h]
    second = torch.baddbmm(mask[h:], q[:, h:], k.transpose(1, 2), alpha=D ** -0.5).softmax(-1) @ v
    return torch.cat((first, second), dim=1).view(B, H, T, D)


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with RoPE on q and k."""

    def __init__(self, cfg):
        super().__init__()
        self.nhead = cfg.nhead
        self.dropout = cfg.dropout
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.resid_dropout = nn.Dropout(cfg.dropout)
        rows = torch.arange(3 * cfg.d_model).view(3, cfg.nhead, -1)
        rows[:2] = rows[:2, :, pair_order(rows.size(-1))]  # q and k in pair order, v as it is
        self.register_buffer("rows", rows.flatten(), persistent=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                gain: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, C), normalised; gain: the norm's gain, applied through the qkv weight."""
        B, T, C = x.shape
        H = self.nhead
        weight = (self.qkv.weight if gain is None else self.qkv.weight * gain)[self.rows]
        qk, v = F.linear(x, weight[:2 * C]), F.linear(x, weight[2 * C:])  # two matmuls: no concatenated gradient
        qk = apply_rope(qk.view(B, T, 2 * H, -1), cos[:, None], sin[:, None]).transpose(1, 2)  # q and k together
        q, k = qk.split(H, dim=1)
        y = causal_attention(q, k, v.view(B, T, H, -1).transpose(1, 2), self.dropout if self.training else 0.0)
        return self.resid_dropout(self.proj(y.transpose(1, 2).reshape(B, T, C)))


class SwiGLU(nn.Module):
    """Feed-forward silu(x W_gate) * (x W_up) W_down, with gate and up stored in one Linear."""

    def __init__(self, cfg, hidden: int | None = None, out: int | None = None):
        super().__init__()
        hidden = hidden or cfg.dim_ff
        self.fc = nn.Linear(cfg.d_model, 2 * hidden, bias=False)
        self.proj = nn.Linear(hidden, out or cfg.d_model, bias=False)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, gain: torch.Tensor | None = None) -> torch.Tensor:
        """x (..., d_model); gain: a norm's gain, applied through the fc weight."""
        weight = self.fc.weight if gain is None else self.fc.weight * gain
        gate, up = (F.linear(x, half) for half in weight.chunk(2))  # two matmuls: no concatenated gradient
        return self.dropout(self.proj(F.silu(gate) * up))


def lag_mix(x: torch.Tensor, w: torch.Tensor, causal: bool = True) -> torch.Tensor:
    """y[:, t, c] = sum_j w[c, j] x[:, t - K + 1 + j, c] for x (B, T, C) and w (C, K), zero outside 0..T-1 (with
    causal=False, x[:, t + K - 1 - j, c]: the transpose).

    On a CPU, a depthwise 2-D convolution in the channels-last layout that x already has: no transposes and no padded
    copy. Compiled, the K shifted products, which inductor fuses into one pass. Elsewhere (CUDA), Conv1d's layout.
    """
    (B, T, C), K = x.shape, w.size(-1)
    kernel = (w if causal else w.flip(-1)).to(x.dtype)
    pad = (K - 1, 0) if causal else (0, K - 1)
    if torch.compiler.is_compiling():
        return (F.pad(x, (0, 0, *pad)).unfold(1, K, 1) * kernel).sum(-1)
    if x.device.type != "cpu":
        return F.conv1d(F.pad(x.transpose(1, 2), pad), kernel[:, None], groups=C).transpose(1, 2)
    y = F.conv2d(x.unsqueeze(1).permute(0, 3, 1, 2), kernel[:, None, None, :], padding=(0, K - 1), groups=C)
    return (y[..., :T] if causal else y[..., K - 1:]).permute(0, 2, 3, 1)[:, 0]  # (B, C, 1, T) -> (B, T, C)


def lag_weight_grad(x: torch.Tensor, g: torch.Tensor, K: int, dtype: torch.dtype) -> torch.Tensor:
    """dw (C, K) of lag_mix for its input x and the gradient g of its output: dw[c, j] = sum over b, t of
    g[b, t, c] x[b, t - K + 1 + j, c], summed in dtype (the weights').

    Eager, for each row (b, c) the correlation of x's row with g's, which a depthwise convolution with B * C channels
    computes ~3x faster than PyTorch's own depthwise weight gradient; compiled, one fused reduction."""
    (B, T, C) = x.shape
    if torch.compiler.is_compiling():
        return (g[..., None] * F.pad(x, (0, 0, K - 1, 0)).unfold(1, K, 1)).sum((0, 1), dtype=dtype)
    rows = x.new_empty(B, C, K - 1 + T)  # x's rows, zero-padded in front: one transposing copy
    rows[..., :K - 1] = 0
    rows[..., K - 1:] = x.transpose(1, 2)
    dw = F.conv1d(rows.view(1, B * C, -1), g.transpose(1, 2).reshape(B * C, 1, T), groups=B * C)
    return dw.view(B, C, K).sum(0, dtype=dtype)


class _LagMix(torch.autograd.Function):
    """lag_mix with its gradients: the input's is the transposed mix of the output's, the weights' lag_weight_grad."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, w)
        return lag_mix(x, w)

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        x, w = ctx.saved_tensors
        g = g.to(x.dtype)
        return lag_mix(g, w, causal=False), lag_weight_grad(x, g, w.size(-1), w.dtype)


class LagMix(nn.Module):
    """Causal depthwise convolution: each channel becomes a learned mix of its values at lags 0..kernel-1.

    Structure in generated streams sits at fixed lags, often in pairs that say nothing alone (x_t = x_{t-a} + x_{t-b}).
    Attention starts out averaging every position, which hides such pairs, and can sit at chance for thousands of
    steps; a random mix of the last few lags puts both values into each position's vector from the first step on.
    The weights stay those of a Conv1d (C, 1, kernel), oldest lag first: w[c, 0, kernel - 1 - j] weighs lag j.
    """

    def __init__(self, cfg):
        super().__init__()
        self.kernel = cfg.lag_kernel
        self.conv = nn.Conv1d(cfg.d_model, cfg.d_model, cfg.lag_kernel, groups=cfg.d_model, bias=False)

    def forward(self, x: torch.Tensor, gain: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, C) -> y with y[:, t, c] = sum over j < kernel of w[c, j] * x[:, t - j, c] (zero before t = 0), where
        w includes a norm's gain when given."""
        w = self.conv.weight[:, 0] if gain is None else self.conv.weight[:, 0] * gain[:, None]
        if x.device.type == "cpu" or torch.compiler.is_compiling():  # (cuDNN's depthwise gradients are fast)
            return _LagMix.apply(x, w)
        return lag_mix(x, w)


class _Normalize(torch.autograd.Function):
    """x / rms(x) over the last dimension, with a backward of three passes (autograd's of the composite takes eight)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, eps: float, dtype: torch.dtype) -> torch.Tensor:
        r = torch.rsqrt(torch.linalg.vector_norm(x, dim=-1, keepdim=True).square() / x.size(-1) + eps)
        ctx.save_for_backward(x, r)
        return (x * r).to(dtype)

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        x, r = ctx.saved_tensors
        g = g.to(x.dtype)  # once: every mixed-dtype op would make its own copy
        dot = torch.einsum("...c,...c->...", g, x).unsqueeze(-1)
        return (g * r).addcmul_(x, dot * r.pow(3) / -x.size(-1)), None, None


class RMSNorm(nn.RMSNorm):
    """nn.RMSNorm with a faster backward, that can also leave its gain to the caller: W (g * x / rms(x)) =
    (W * g) (x / rms(x)) saves a pass over the activations, forward and backward, when the caller folds g into W."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        eps = torch.finfo(x.dtype).eps if self.eps is None else self.eps
        return _Normalize.apply(x, eps, x.dtype) * self.weight

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """x / rms(x) without the gain, in the autocast dtype where autocast is on (the next matmul's input)."""
        eps = torch.finfo(x.dtype).eps if self.eps is None else self.eps
        device = x.device.type
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else x.dtype
        return _Normalize.apply(x, eps, dtype)


class Block(nn.Module):
    """Pre-norm transformer block: x + lag(norm(x)) when lag_kernel > 0, x + attn(norm(x)), then x + ffn(norm(x)).

    Each norm's gain is folded into the first weight of the layer it feeds (see RMSNorm)."""

    def __init__(self, cfg, lag: bool = True):
        super().__init__()
        self.lag = nn.Sequential(RMSNorm(cfg.d_model), LagMix(cfg)) if cfg.lag_kernel and lag else None
        self.norm1 = RMSNorm(cfg.d_model)
        self.attn = CausalSelfAttention(cfg)
        self.norm2 = RMSNorm(cfg.d_model)
        self.ffn = SwiGLU(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        if self.lag is not None:
            norm, mix = self.lag
            x = x + mix(norm.normalize(x), norm.weight)
        x = x + self.attn(self.norm1.normalize(x), cos, sin, self.norm1.weight)
        return x + self.ffn(self.norm2.normalize(x), self.norm2.weight)
