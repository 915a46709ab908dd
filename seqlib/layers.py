"""The trunk's building blocks: rotary positions, causal self-attention, SwiGLU, lag mixing and the block."""
import torch
import torch.nn as nn
import torch.nn.functional as F


# Rotary position embedding, "rotate halves" convention (GPT-NeoX, litgpt, HF Llama): the head dimension is split
# into halves x1 = x[:hd/2] and x2 = x[hd/2:], and pair i = (x1[i], x2[i]) at position t is rotated by the angle
# t * base**(-2i/hd), i.e. (x1 + j*x2) * exp(j*t*theta_i). (Not the interleaved-pairs convention of the RoPE paper.)
def rope_cache(
    seq_len: int, head_dim: int, base: float, device: torch.device | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables of shape (seq_len, head_dim), each angle repeated for both halves."""
    inv_freq = base ** (-torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(seq_len, device=device, dtype=torch.float32), inv_freq)
    angles = torch.cat((angles, angles), dim=-1)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x (..., T, head_dim) by the position angles, in x's dtype (bf16 under autocast: no float32 round trip)."""
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    x1, x2 = x.chunk(2, dim=-1)
    rotated = torch.cat((-x2, x1), dim=-1)
    return x * cos + rotated * sin


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with RoPE on q and k."""

    def __init__(self, cfg):
        super().__init__()
        self.nhead = cfg.nhead
        self.dropout = cfg.dropout
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.resid_dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = (t.view(B, T, self.nhead, C // self.nhead).transpose(1, 2) for t in self.qkv(x).split(C, dim=2))
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        dropout_p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        return self.resid_dropout(self.proj(y.transpose(1, 2).reshape(B, T, C)))


class SwiGLU(nn.Module):
    """Feed-forward silu(x W_gate) * (x W_up) W_down, with gate and up fused in one Linear."""

    def __init__(self, cfg, hidden: int | None = None, out: int | None = None):
        super().__init__()
        hidden = hidden or cfg.dim_ff
        self.fc = nn.Linear(cfg.d_model, 2 * hidden, bias=False)
        self.proj = nn.Linear(hidden, out or cfg.d_model, bias=False)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.fc(x).chunk(2, dim=-1)
        return self.dropout(self.proj(F.silu(gate) * up))


class LagMix(nn.Module):
    """Causal depthwise convolution: each channel becomes a learned mix of its values at lags 0..kernel-1.

    Structure in generated streams sits at fixed lags, often in pairs that say nothing alone (x_t = x_{t-a} + x_{t-b}).
    Attention starts out averaging every position, which hides such pairs, and can sit at chance for thousands of
    steps; a random mix of the last few lags puts both values into each position's vector from the first step on.
    """

    def __init__(self, cfg):
        super().__init__()
        self.kernel = cfg.lag_kernel
        self.conv = nn.Conv1d(cfg.d_model, cfg.d_model, cfg.lag_kernel, groups=cfg.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, C) -> y with y[:, t, c] = sum over j < kernel of w[c, j] * x[:, t - j, c] (zero before t = 0)."""
        y = self.conv(F.pad(x.transpose(1, 2), (self.kernel - 1, 0)))
        return y.transpose(1, 2)


class Block(nn.Module):
    """Pre-norm transformer block: x + lag(norm(x)) when lag_kernel > 0, x + attn(norm(x)), then x + ffn(norm(x))."""

    def __init__(self, cfg):
        super().__init__()
        self.lag = nn.Sequential(nn.RMSNorm(cfg.d_model), LagMix(cfg)) if cfg.lag_kernel else None
        self.norm1 = nn.RMSNorm(cfg.d_model)
        self.attn = CausalSelfAttention(cfg)
        self.norm2 = nn.RMSNorm(cfg.d_model)
        self.ffn = SwiGLU(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        if self.lag is not None:
            x = x + self.lag(x)
        x = x + self.attn(self.norm1(x), cos, sin)
        return x + self.ffn(self.norm2(x))
