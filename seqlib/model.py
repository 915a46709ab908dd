"""Decoder-only transformer with rotary positions, SwiGLU and H heads that each predict a token h steps ahead.

A factorized model (bytes16 tokenizer) predicts a 16-bit value v = 256 * high + low exactly as two 256-way parts:
P(v) = P(high | context) * P(low | context, high). The input of a position is the embedding of its high byte plus
that of its low byte; a low-byte head sees the context and the embedding of the high byte (the true one when
training, each candidate at inference), so no 65,536-way softmax is ever computed.

A bitwise model (bits16 tokenizer) goes one step further: its token's first byte is the value's low byte, and it
predicts the 16 bits one at a time from the lowest up, each given the context and the bits below it (BitHead). In
arithmetic modulo 2^16 (LCGs, additive generators) information flows only upwards, through carries, so every bit is a
small function of the bits at and below it in a few past values, and Taps bring those values' bits in unmixed.
"""

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F

from seqlib.errors import ConfigError
from seqlib.metrics import BYTE, N_VALUES, ByteFactors


@dataclass
class ModelConfig:
    """Transformer sizes; dim_ff=None means round_up(8/3 * d_model, 64), the SwiGLU size matching a 4x MLP.

    lag_kernel: each block first mixes every channel over the last lag_kernel positions (a causal depthwise
    convolution, 0 = off), so values at fixed lags meet in one vector before attention has learnt where to look.
    """

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
    factorized: bool = False
    lag_kernel: int = 16
    bitwise: bool = False

    def __post_init__(self) -> None:
        if self.dim_ff is None:
            self.dim_ff = 64 * math.ceil(8 * self.d_model / 3 / 64)
        for name in ("vocab_size", "seq_len", "d_model", "nlayers", "nhead", "dim_ff", "heads_ahead"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name}={value!r} is not a positive integer; set {name} to an integer >= 1")
        if isinstance(self.lag_kernel, bool) or not isinstance(self.lag_kernel, int) or self.lag_kernel < 0:
            raise ConfigError(f"lag_kernel={self.lag_kernel!r} must be an integer >= 0 (0 turns the lag mixing off)")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout={self.dropout} is outside [0, 1); choose e.g. dropout=0.0 or 0.1")
        if not self.rope_base > 1.0:
            raise ConfigError(f"rope_base={self.rope_base} must be greater than 1; the usual value is 10000")
        if self.factorized and self.vocab_size != N_VALUES:
            raise ConfigError(f"a factorized model predicts 16-bit values, so vocab_size must be {N_VALUES}, got "
                              f"{self.vocab_size}; use the bytes16 tokenizer's vocab_size")
        if self.bitwise and not self.factorized:
            raise ConfigError("a bitwise model predicts 16-bit values, so it must also be factorized; "
                              "use the bits16 tokenizer, which sets both")
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
        """Plain Python types, for checkpoints and JSON; factorized and bitwise are written only when True."""
        d = asdict(self)
        for flag in ("factorized", "bitwise"):
            if not d[flag]:
                del d[flag]
        return d

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
    """Rotate x (..., T, head_dim) by the position angles, in x's dtype (bf16 under autocast: no float32 round trip)."""
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    x1, x2 = x.chunk(2, dim=-1)
    rotated = torch.cat((-x2, x1), dim=-1)
    return x * cos + rotated * sin


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

    def __init__(self, cfg: ModelConfig, hidden: int | None = None, out: int | None = None):
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

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.kernel = cfg.lag_kernel
        self.conv = nn.Conv1d(cfg.d_model, cfg.d_model, cfg.lag_kernel, groups=cfg.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, C) -> y with y[:, t, c] = sum over j < kernel of w[c, j] * x[:, t - j, c] (zero before t = 0)."""
        y = self.conv(F.pad(x.transpose(1, 2), (self.kernel - 1, 0)))
        return y.transpose(1, 2)


class Block(nn.Module):
    """Pre-norm transformer block: x + lag(norm(x)) when lag_kernel > 0, x + attn(norm(x)), then x + ffn(norm(x))."""

    def __init__(self, cfg: ModelConfig):
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


class LowByteHead(nn.Module):
    """Low-byte logits of one head from the context plus the (normalised) embedding of a high byte, via a SwiGLU."""

    def __init__(self, cfg: ModelConfig, tied: bool):
        super().__init__()
        self.high_norm = nn.RMSNorm(cfg.d_model)
        self.norm1 = nn.RMSNorm(cfg.d_model)
        self.ffn = SwiGLU(cfg, hidden=cfg.d_model)
        self.norm2 = nn.RMSNorm(cfg.d_model)
        self.proj = None if tied else nn.Linear(cfg.d_model, BYTE, bias=False)

    def forward(self, z: torch.Tensor, high: torch.Tensor, tied_weight: torch.Tensor) -> torch.Tensor:
        """Logits (..., BYTE) for context z (..., d_model) and high-byte embeddings high (..., d_model)."""
        u = z + self.high_norm(high)
        u = u + self.ffn(self.norm1(u))
        return F.linear(self.norm2(u), tied_weight if self.proj is None else self.proj.weight)


BITS = 16
N_TAPS = 8  # learned lag mixtures in Taps
BIT_HIDDEN = 256  # SwiGLU width of a BitHead
BIT_RANK = 32  # size of the vectors a BitHead dots per bit
BIT_CHUNK = 256  # rows per step when a bitwise model lists whole bytes (256 x 255 x 32 floats per tensor)


def token_bits(x: torch.Tensor) -> torch.Tensor:
    """Bits (..., 16) of tokens in a bitwise model's order: the first byte's from its lowest, then the second's."""
    first, second = x // BYTE, x % BYTE
    shifts = torch.arange(BITS // 2, device=x.device)
    return torch.cat(((first[..., None] >> shifts) & 1, (second[..., None] >> shifts) & 1), dim=-1)


class Taps(nn.Module):
    """Input of a bitwise model: N_TAPS learned mixtures of the last `kernel` values, each keeping all 16 bits apart.

    Each tap is one weight per lag shared by every bit, so a tap that finds lag a for one bit finds it for all, and
    x_{t-a} arrives bit by bit; a plain embedding or a per-channel lag mix would blur the bits of different lags.
    MASK (token 65536) is all-zero bits and a flag.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.kernel = max(cfg.lag_kernel, 1)
        self.taps = nn.Conv1d(1, N_TAPS, self.kernel, bias=False)
        self.proj = nn.Linear(N_TAPS * (BITS + 1), cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T) tokens -> (B, T, d_model), in the weights' dtype like an embedding (so under autocast the
        residual stream stays float32)."""
        mask = x == N_VALUES
        signs = torch.where(mask[..., None], 0.0, 2.0 * token_bits(torch.where(mask, 0, x)) - 1.0)
        u = torch.cat((signs, mask[..., None].float()), dim=-1).to(self.proj.weight.dtype)  # (B, T, 17)
        B, T, C = u.shape
        mixed = self.taps(F.pad(u.transpose(1, 2).reshape(B * C, 1, T), (self.kernel - 1, 0)))  # (B*C, taps, T)
        return self.proj(mixed.view(B, C * N_TAPS, T).transpose(1, 2)).to(self.proj.weight.dtype)


class BitHead(nn.Module):
    """P(bit i | context, bits below i) for the 16 bits of one head, lowest first.

    logit_i = g_i(z) . (c_i + sum over j < i of Q[i, j] * (±1 for bit j)) + b_i: a SwiGLU turns the context z into one
    vector g_i per bit, the lower bits into a vector through a (16, 16) table, and their dot product lets every lower
    bit switch what the context says (a carry flips the bit above it). All 255 prefixes of a byte cost one small
    broadcast product, so whole-byte distributions are cheap.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ffn = SwiGLU(cfg, hidden=BIT_HIDDEN, out=BITS * BIT_RANK)
        self.prefix = nn.Parameter(torch.randn(BITS, BITS, BIT_RANK) * 0.02)  # [bit i, lower bit j]
        self.base = nn.Parameter(torch.ones(BITS, BIT_RANK))
        self.bias = nn.Parameter(torch.zeros(BITS))
        self.register_buffer("below", torch.tril(torch.ones(BITS, BITS), -1), persistent=False)  # [i, j] = j < i
        # The 255 nodes of a byte's bit tree: node (depth d, prefix p < 2^d) has id 2^d - 1 + p.
        depth = torch.cat([torch.full((1 << d,), d) for d in range(8)])
        prefix = torch.cat([torch.arange(1 << d) for d in range(8)])
        lower = torch.arange(8)
        self.register_buffer("node_depth", depth, persistent=False)
        self.register_buffer("node_signs", torch.where(lower < depth[:, None], 2.0 * ((prefix[:, None] >> lower) & 1) - 1,
                                                       0.0), persistent=False)  # (255, 8): ±1 for known bits, 0 else
        byte = torch.arange(BYTE)
        self.register_buffer("path", torch.stack([(1 << d) - 1 + byte % (1 << d) for d in range(8)], -1),
                             persistent=False)  # (256, 8): the node of each byte value at each depth
        self.register_buffer("path_signs", 2.0 * ((byte[:, None] >> lower) & 1) - 1, persistent=False)

    def _context(self, z: torch.Tensor) -> torch.Tensor:
        """g (..., 16, BIT_RANK) for contexts z (..., d_model)."""
        return self.ffn(z).view(*z.shape[:-1], BITS, BIT_RANK)

    def forward(self, z: torch.Tensor, target_bits: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: logits (..., 16) of every bit given the true lower bits target_bits (..., 16) in {0, 1}."""
        table = (self.prefix * self.below[..., None]).permute(1, 0, 2).reshape(BITS, -1)  # (j, i * rank)
        lower = ((2.0 * target_bits - 1).to(table.dtype) @ table).view(*target_bits.shape[:-1], BITS, BIT_RANK)
        return (self._context(z) * (self.base + lower)).sum(-1) + self.bias

    def _byte_log_probs(self, g: torch.Tensor, lower: torch.Tensor, first_bit: int) -> torch.Tensor:
        """log P(byte) (..., 256) of bits first_bit..first_bit+7 from their context vectors g (..., 8, rank) and the
        share (..., 8, rank) of every bit below the byte."""
        bits = first_bit + self.node_depth
        within = (self.node_signs[..., None] * self.prefix[bits, first_bit:first_bit + 8]).sum(-2)  # (255, rank)
        node = self.base[bits] + within + lower[..., self.node_depth, :]  # (..., 255, rank)
        logits = ((g[..., self.node_depth, :] * node).sum(-1) + self.bias[bits]).float()  # (..., 255)
        return F.logsigmoid(logits[..., self.path] * self.path_signs).sum(-1)

    def first_byte(self, z: torch.Tensor) -> torch.Tensor:
        """log P(first byte) (..., 256) for contexts z (..., d_model)."""
        g = self._context(z)[..., :8, :]
        return self._byte_log_probs(g, torch.zeros_like(g), 0)

    def second_byte(self, z: torch.Tensor, first: torch.Tensor) -> torch.Tensor:
        """log P(second byte | first byte) (..., m, 256) for contexts z (..., d_model) and first bytes (..., m)."""
        signs = 2.0 * ((first[..., None] >> torch.arange(8, device=first.device)) & 1) - 1  # (..., m, 8)
        lower = torch.einsum("...j,ijr->...ir", signs.to(self.prefix.dtype), self.prefix[8:, :8])  # (..., m, 8, rank)
        return self._byte_log_probs(self._context(z)[..., None, 8:, :], lower, 8)


class SeqModel(nn.Module):
    """Token embedding (last row = MASK) -> blocks -> RMSNorm -> logits (B, T, H, vocab_size) for H heads ahead.

    Factorized: byte embeddings (high + low, each with a MASK row) -> blocks -> RMSNorm -> per head high-byte logits
    and, given the high byte, low-byte logits (256 classes each).
    Bitwise: Taps -> blocks -> RMSNorm, plus the normalised Taps output (a skip that keeps the bits of the past values
    unmixed), -> per head a BitHead over the 16 bits of the token.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        if cfg.bitwise:
            self.taps = Taps(cfg)
            self.skip_norm = nn.RMSNorm(cfg.d_model)
            self.bit_heads = nn.ModuleList(BitHead(cfg) for _ in range(cfg.heads_ahead))
        elif cfg.factorized:
            self.wte_high = nn.Embedding(BYTE + 1, cfg.d_model)
            self.wte_low = nn.Embedding(BYTE + 1, cfg.d_model)
            self.low_heads = nn.ModuleList(LowByteHead(cfg, tied=cfg.tie_embeddings and h == 0)
                                           for h in range(cfg.heads_ahead))
        else:
            self.wte = nn.Embedding(cfg.vocab_size + 1, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.nlayers))
        self.norm = nn.RMSNorm(cfg.d_model)
        # Heads as one Linear(d_model, n * classes); when tied, head 1 is the embedding and this holds heads 2..H.
        # A factorized model's classes are the 256 high bytes (its low bytes come from low_heads).
        n_own = 0 if cfg.bitwise else cfg.heads_ahead - int(cfg.tie_embeddings)
        classes = BYTE if cfg.factorized else cfg.vocab_size
        self.head = nn.Linear(cfg.d_model, n_own * classes, bias=False) if n_own else None
        cos, sin = rope_cache(cfg.seq_len, cfg.d_model // cfg.nhead, cfg.rope_base)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init_weights)
        if cfg.bitwise:  # GPT-2's std 0.02 starves the products in Taps and BitHead: keep PyTorch's fan-in init,
            for module in [*self.taps.modules(), *self.bit_heads.modules()]:  # but start every bit at p = 1/2
                if isinstance(module, nn.Linear):
                    module.reset_parameters()
            for head in self.bit_heads:
                nn.init.zeros_(head.ffn.proj.weight)
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

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        """Token embeddings; factorized: high-byte plus low-byte embedding (MASK = value 65536 uses both MASK rows)."""
        if self.cfg.bitwise:
            return self.taps(x)
        if not self.cfg.factorized:
            return self.wte(x)
        mask = x == N_VALUES
        return self.wte_high(torch.where(mask, BYTE, x // BYTE)) + self.wte_low(torch.where(mask, BYTE, x % BYTE))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised last hidden states (B, T, d_model) for int64 tokens x (B, T)."""
        cos, sin = self._rope(x.shape[1])
        h = h0 = self.drop(self._embed(x))
        for block in self.blocks:
            h = block(h, cos, sin)
        return self.norm(h) + self.skip_norm(h0) if self.cfg.bitwise else self.norm(h)

    def _head_logits(self, h: torch.Tensor, classes: int, tied_weight: torch.Tensor) -> torch.Tensor:
        """Logits (..., H, classes) of every head from hidden states h (..., d_model)."""
        heads = [F.linear(h, tied_weight[:classes])] if self.cfg.tie_embeddings else []
        if self.head is not None:
            heads.append(self.head(h))
        return torch.cat(heads, dim=-1).view(*h.shape[:-1], self.cfg.heads_ahead, classes)

    def _low_logits(self, h: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        """Low-byte logits (..., H, m, 256) given high bytes (..., H, m) of each head, for hidden states h (..., d)."""
        z = h.unsqueeze(-2)
        return torch.stack([head(z, self.wte_high(high[..., j, :]), self.wte_low.weight[:BYTE])
                            for j, head in enumerate(self.low_heads)], dim=-3)

    def forward(self, x: torch.Tensor,
                y: torch.Tensor | None = None) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Logits (B, T, H, vocab_size) for int64 tokens x (B, T); [:, t, h-1] predicts the token at t + h.

        Factorized, with the target values y (B, T, H) (teacher forcing): high-byte logits (B, T, H, 256) and
        low-byte logits (B, T, H, 256) given the true high byte; bitwise: the logits (B, T, H, 16) of every bit of
        y given its lower bits. Use factors() to predict without targets.
        """
        h = self.features(x)
        if self.cfg.bitwise and y is not None:
            bits = token_bits(y)
            return torch.stack([head(h, bits[..., j, :]) for j, head in enumerate(self.bit_heads)], dim=-2)
        if not self.cfg.factorized:
            return self._head_logits(h, self.cfg.vocab_size, self.wte.weight)
        if y is None:
            raise ValueError("a factorized model needs the target values y for its low-byte logits; "
                             "call model(x, y) to train, or model.factors(x) to predict")
        return self._head_logits(h, BYTE, self.wte_high.weight), self._low_logits(h, (y // BYTE)[..., None])[..., 0, :]

    @torch.no_grad()
    def factors(self, x: torch.Tensor, start: int = 0) -> ByteFactors:
        """Factorized predictions at positions >= start of every window, rows (window, position) flattened."""
        h = self.features(x)[:, start:]
        h = h.reshape(-1, h.size(-1)).float()
        if self.cfg.bitwise:
            return self._bit_factors(h)
        high = self._head_logits(h, BYTE, self.wte_high.weight).float().log_softmax(-1)

        @torch.no_grad()
        def low(high_bytes: torch.Tensor, rows: slice) -> torch.Tensor:
            return self._low_logits(h[rows], high_bytes).float().log_softmax(-1)

        return ByteFactors(high, low)

    def _bit_factors(self, h: torch.Tensor) -> ByteFactors:
        """ByteFactors of a bitwise model from hidden states h (N, d_model), in chunks of rows to bound memory."""
        def chunked(fn, n: int, rows: int) -> torch.Tensor:
            return torch.cat([fn(slice(i, min(i + rows, n))) for i in range(0, n, rows)]) if n else fn(slice(0, 0))

        first = chunked(lambda r: torch.stack([head.first_byte(h[r]) for head in self.bit_heads], 1),
                        len(h), BIT_CHUNK)

        @torch.no_grad()
        def second(first_bytes: torch.Tensor, rows: slice) -> torch.Tensor:
            z = h[rows]
            step = max(1, BIT_CHUNK // first_bytes.shape[-1])
            return chunked(lambda r: torch.stack([head.second_byte(z[r], first_bytes[r, j])
                                                  for j, head in enumerate(self.bit_heads)], 1), len(z), step)

        return ByteFactors(first, second)

    def loss(self, logits: torch.Tensor | tuple[torch.Tensor, torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        """Cross-entropy in nats (float32), averaged over all positions and heads; y is (B, T, H).

        Factorized (logits = (high, low) from forward(x, y)): CE(high byte) + CE(low byte | true high byte), the
        exact cross-entropy of the 16-bit value.
        """
        if self.cfg.bitwise:  # the bits' cross-entropies add up to the value's (chain rule)
            bce = F.binary_cross_entropy_with_logits(logits.float(), token_bits(y).float(), reduction="none")
            return bce.sum(-1).mean()
        if not self.cfg.factorized:
            return F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1))
        high, low = (t.float().reshape(-1, BYTE) for t in logits)
        return F.cross_entropy(high, (y // BYTE).reshape(-1)) + F.cross_entropy(low, (y % BYTE).reshape(-1))

    def _embeddings(self) -> list[nn.Parameter]:
        return [m.weight for m in self.modules() if isinstance(m, nn.Embedding)]

    def num_params(self, exclude_embedding: bool = False) -> int:
        """Parameter count; exclude_embedding drops the embedding tables (and with them tied heads)."""
        n = sum(p.numel() for p in self.parameters())
        return n - sum(p.numel() for p in self._embeddings()) if exclude_embedding else n

    def _tables(self) -> list[nn.Parameter]:
        """Parameters that select rather than transform, kept out of weight decay: embeddings, and a bitwise model's
        tap weights (one per lag) and bit tables (decay pulls a chosen lag or carry back towards zero)."""
        tables = self._embeddings()
        if self.cfg.bitwise:
            tables.append(self.taps.taps.weight)
            tables += [p for head in self.bit_heads for p in (head.prefix, head.base)]
        return tables

    def param_groups(self, weight_decay: float) -> list[dict]:
        """AdamW groups: decay on matmul weights (>= 2-D, not tables), none on tables (_tables) and norms."""
        tables = {id(p) for p in self._tables()}
        decay = [p for p in self.parameters() if p.dim() >= 2 and id(p) not in tables]
        ids = {id(p) for p in decay}
        no_decay = [p for p in self.parameters() if id(p) not in ids]
        return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]

    def flops_per_token(self) -> int:
        """Training FLOPs per token (fwd+bwd), PaLM appendix B: 6 * matmul params + 12 * nlayers * d_model * seq_len
        (the lag mixing's weights counted as matmul parameters).

        Factorized: the low-byte heads run once per position (on the true high byte); tied heads count 2 x 256 rows.
        Bitwise: the taps and, per head, the lower-bit table and the dot products of its 16 bits.
        """
        cfg = self.cfg
        n_matmul = sum(m.weight.numel() for m in self.modules() if isinstance(m, nn.Linear))
        if cfg.bitwise:  # taps on 17 inputs; per bit one GLU on the context plus its lower bits
            n_matmul += N_TAPS * (BITS + 1) * max(cfg.lag_kernel, 1)
            n_matmul += cfg.heads_ahead * BITS * (BITS // 2 + 1) * BIT_RANK
        elif cfg.tie_embeddings:
            n_matmul += (2 * BYTE if cfg.factorized else cfg.vocab_size) * cfg.d_model
        n_matmul += cfg.nlayers * cfg.d_model * cfg.lag_kernel  # the lag mixing: one multiply-add per weight
        return 6 * n_matmul + 12 * cfg.nlayers * cfg.d_model * cfg.seq_len
