"""Decoder-only transformer with rotary positions, SwiGLU and H heads that each predict a token h steps ahead."""

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F

from seqlib.errors import ConfigError


@dataclass
class ModelConfig:
    """Transformer sizes; dim_ff=None means round_up(8/3 * d_model, 64), the SwiGLU size matching a 4x MLP."""

    vocab_size: int = 256
    seq_len: int = 256
    d_model: int = 256
    nlayers: int = 6
    nhead: int = 8
    dim_ff: int | None = None
    dropout: float = 0.0
    heads_ahead: int = 1
    tie_embeddings: bool = True
    rope_base: float = 10000.0

    def __post_init__(self) -> None:
        if self.dim_ff is None:
            self.dim_ff = 64 * math.ceil(8 * self.d_model / 3 / 64)
        for name in ("vocab_size", "seq_len", "d_model", "nlayers", "nhead", "dim_ff", "heads_ahead"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name}={value!r} is not a positive integer; set {name} to an integer >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout={self.dropout} is outside [0, 1); choose e.g. dropout=0.0 or 0.1")
        if not self.rope_base > 1.0:
            raise ConfigError(f"rope_base={self.rope_base} must be greater than 1; the usual value is 10000")
        self._check_heads()

    def _check_heads(self) -> None:
        """Raise ConfigError unless nhead splits d_model into heads of even size (RoPE rotates pairs)."""
        d = self.d_model
        valid = [n for n in range(1, d + 1) if d % n == 0 and (d // n) % 2 == 0]
        if not valid:
            raise ConfigError(f"d_model={d} is odd, but rotary embeddings need even head sizes; choose an even d_model")
        if self.nhead in valid:
            return
        if d % self.nhead:
            problem = f"nhead={self.nhead} does not divide d_model={d}"
        else:
            problem = f"nhead={self.nhead} gives head size {d // self.nhead} for d_model={d}, but RoPE needs it even"
        raise ConfigError(f"{problem}; choose nhead among {', '.join(map(str, valid))}")

    def to_dict(self) -> dict:
        """Plain Python types, for checkpoints and JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        """Inverse of to_dict; unknown keys are an error."""
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"unknown model config keys {unknown}; remove them or use a seqlib checkpoint")
        return cls(**d)


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
    """Rotate x (..., T, head_dim) by the position angles; computed in float32, returned in x's dtype."""
    x1, x2 = x.chunk(2, dim=-1)
    rotated = torch.cat((-x2, x1), dim=-1)
    return (x * cos + rotated * sin).type_as(x)


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with RoPE on q and k."""

    def __init__(self, cfg: ModelConfig):
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

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.d_model, 2 * cfg.dim_ff, bias=False)
        self.proj = nn.Linear(cfg.dim_ff, cfg.d_model, bias=False)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.fc(x).chunk(2, dim=-1)
        return self.dropout(self.proj(F.silu(gate) * up))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm(x)), then x + ffn(norm(x))."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.norm1 = nn.RMSNorm(cfg.d_model)
        self.attn = CausalSelfAttention(cfg)
        self.norm2 = nn.RMSNorm(cfg.d_model)
        self.ffn = SwiGLU(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), cos, sin)
        return x + self.ffn(self.norm2(x))


class SeqModel(nn.Module):
    """Token embedding (last row = MASK) -> blocks -> RMSNorm -> logits (B, T, H, vocab_size) for H heads ahead."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size + 1, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.nlayers))
        self.norm = nn.RMSNorm(cfg.d_model)
        # Heads as one Linear(d_model, n * vocab_size); when tied, head 1 is the embedding and this holds heads 2..H.
        n_own = cfg.heads_ahead - int(cfg.tie_embeddings)
        self.head = nn.Linear(cfg.d_model, n_own * cfg.vocab_size, bias=False) if n_own else None
        cos, sin = rope_cache(cfg.seq_len, cfg.d_model // cfg.nhead, cfg.rope_base)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init_weights)
        for block in self.blocks:  # GPT-2: residual output projections scaled by 1/sqrt(2 * nlayers)
            for proj in (block.attn.proj, block.ffn.proj):
                nn.init.normal_(proj.weight, mean=0.0, std=0.02 / math.sqrt(2 * cfg.nlayers))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def _rope(self, T: int) -> tuple[torch.Tensor, torch.Tensor]:
        """cos/sin for positions 0..T-1, extending the cache when T exceeds it."""
        if T > self.rope_cos.size(0):
            head_dim, device = self.rope_cos.size(1), self.rope_cos.device
            self.rope_cos, self.rope_sin = rope_cache(T, head_dim, self.cfg.rope_base, device)
        return self.rope_cos[:T], self.rope_sin[:T]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, H, vocab_size) for int64 tokens x (B, T); [:, t, h-1] predicts the token at t + h."""
        B, T = x.shape
        cos, sin = self._rope(T)
        h = self.drop(self.wte(x))
        for block in self.blocks:
            h = block(h, cos, sin)
        h = self.norm(h)
        V = self.cfg.vocab_size
        heads = [F.linear(h, self.wte.weight[:V])] if self.cfg.tie_embeddings else []
        if self.head is not None:
            heads.append(self.head(h))
        return torch.cat(heads, dim=-1).view(B, T, self.cfg.heads_ahead, V)

    def loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Cross-entropy in nats (float32), averaged over all positions and heads; y is (B, T, H)."""
        return F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1))

    def num_params(self, exclude_embedding: bool = False) -> int:
        """Parameter count; exclude_embedding drops the embedding table (and with it a tied head 1)."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.wte.weight.numel() if exclude_embedding else n

    def param_groups(self, weight_decay: float) -> list[dict]:
        """AdamW groups: decay on matmul weights (>= 2-D, not the embedding), none on embedding and norms."""
        decay = [p for p in self.parameters() if p.dim() >= 2 and p is not self.wte.weight]
        ids = {id(p) for p in decay}
        no_decay = [p for p in self.parameters() if id(p) not in ids]
        return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]

    def flops_per_token(self) -> int:
        """Training FLOPs per token (fwd+bwd), PaLM appendix B: 6 * matmul params + 12 * nlayers * d_model * seq_len."""
        cfg = self.cfg
        n_matmul = sum(m.weight.numel() for m in self.modules() if isinstance(m, nn.Linear))
        if cfg.tie_embeddings:
            n_matmul += cfg.vocab_size * cfg.d_model
        return 6 * n_matmul + 12 * cfg.nlayers * cfg.d_model * cfg.seq_len
