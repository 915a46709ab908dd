"""Output kinds: how tokens enter the trunk and how its hidden states become a Prediction, one module per kind.

- "tokens": a softmax over the tokenizer's classes; the input is a token embedding (last row = MASK).
- "bytes16": a 16-bit value v = 256 * high + low predicted exactly as P(high | context) * P(low | context, high).
  The input of a position is the embedding of its high byte plus that of its low byte; a low-byte head sees the
  context and the embedding of the high byte (the true one when training, each candidate at inference), so no
  65,536-way softmax is ever computed.
- "bits16": the token's first byte is the value's low byte, and the 16 bits are predicted one at a time from the
  lowest up, each given the context and the bits below it (BitHead). In arithmetic modulo 2^16 (LCGs, additive
  generators) information flows only upwards, through carries, so every bit is a small function of the bits at and
  below it in a few past values, and Taps bring those values' bits in unmixed.

Every kind offers the same interface: embed(x), readout(h, h0), logits(h, y, signs) (teacher-forced raw outputs),
loss(logits, y), predict(h, signs) -> Prediction, tables() (parameters kept out of weight decay) and matmul_params()
(weights the FLOP count adds for tied heads and bit tables).

Linear inputs (cfg.linear_inputs) enter as a product of experts: signs (..., 16) holds ±1 for each bit of the next
value that a GF(2) recurrence predicts and 0 for the others, and a Linear of them (a Prior: zero, until training sets
it from the scan with init_prior) is added to head 1's logits (of the value, of each byte, or of each bit). The trunk never sees them: fed into the embedding instead, the
copied bit swamped the residual stream and the trunk stopped learning the other bits' structure (benchmarks/RESULTS.md,
the mixed source), while as a factor the trunk's gradient is that of the other bits given the linear ones.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import SwiGLU
from .prediction import BytePrediction, DensePrediction, Prediction
from .values import BITS, BYTE, N_VALUES

N_TAPS = 8  # learned lag mixtures in Taps
BIT_HIDDEN = 256  # SwiGLU width of a BitHead
BIT_RANK = 32  # size of the vectors a BitHead dots per bit
BIT_CHUNK = 256  # rows per step when a bitwise model lists whole bytes (256 x 255 x 32 floats per tensor)


class Output(nn.Module):
    """The interface of an output kind (see the module docstring)."""

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def readout(self, h: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
        """The hidden states the heads read, from the normalised last states h and the embeddings h0."""
        return h

    def logits(self, h: torch.Tensor, y: torch.Tensor | None = None, signs: torch.Tensor | None = None):
        raise NotImplementedError

    def loss(self, logits, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def predict(self, h: torch.Tensor, signs: torch.Tensor | None = None) -> Prediction:
        raise NotImplementedError

    def tables(self) -> list[nn.Parameter]:
        """Embeddings and the linear inputs' factors: decay would pull a factor's log-odds back towards zero."""
        return [m.weight for m in self.modules() if isinstance(m, (nn.Embedding, Prior))]

    def init_prior(self, class_signs: torch.Tensor, log_odds: torch.Tensor) -> None:
        """Start the linear inputs' factor where the recurrences stand, so the model begins as the linear predictor:
        a predicted bit j multiplies the odds of what agrees with it by (1 - eps_j) / eps_j. class_signs
        (vocab_size, 16): the mean ±1 of bit j over each class's values (Tokenizer.bit_signs); log_odds (16,):
        log((1 - eps_j) / eps_j), 0 where plane j is not linear (LinearScan.log_odds)."""
        raise NotImplementedError

    def matmul_params(self) -> int:
        return 0

    def reset_parameters(self) -> None:
        """Initialisation beyond GPT-2's normal(0, 0.02) that the model applies first: linear-input factors start at
        zero, so a model first predicts as without them."""
        for module in self.modules():
            if isinstance(module, Prior):
                nn.init.zeros_(module.weight)


class Prior(nn.Linear):
    """The linear inputs' factor: signs (..., 16) -> a bias on `classes` logits of head 1 (zero at the start)."""

    def __init__(self, classes: int):
        super().__init__(BITS, classes, bias=False)

    def add(self, logits: torch.Tensor, signs: torch.Tensor, head_dim: int = -2) -> torch.Tensor:
        """logits (..., H, ..., classes) with head 1 (index 0 of head_dim) plus the factor; the factor broadcasts over
        the dimensions between head_dim and the classes."""
        bias = self(signs.to(self.weight.dtype))
        bias = bias.view(*bias.shape[:-1], *([1] * (-head_dim - 2)), bias.size(-1)).unsqueeze(head_dim)
        first, rest = logits.narrow(head_dim, 0, 1), logits.narrow(head_dim, 1, logits.size(head_dim) - 1)
        return torch.cat((first + bias, rest), head_dim)


def _prior(cfg, classes: int) -> Prior | None:
    return Prior(classes) if cfg.linear_inputs else None


def _with_prior(logits: torch.Tensor, prior: Prior | None, signs: torch.Tensor | None,
                head_dim: int = -2) -> torch.Tensor:
    return logits if prior is None or signs is None else prior.add(logits, signs, head_dim)


class _Heads(nn.Module):
    """Logits (..., H, classes) of every head: head 1 tied to an embedding table, or all from one Linear."""

    def __init__(self, cfg, classes: int):
        super().__init__()
        self.heads_ahead, self.classes, self.tied = cfg.heads_ahead, classes, cfg.tie_embeddings
        n_own = cfg.heads_ahead - int(cfg.tie_embeddings)
        self.head = nn.Linear(cfg.d_model, n_own * classes, bias=False) if n_own else None

    def forward(self, h: torch.Tensor, tied_weight: torch.Tensor) -> torch.Tensor:
        heads = [F.linear(h, tied_weight[:self.classes])] if self.tied else []
        if self.head is not None:
            heads.append(self.head(h))
        return torch.cat(heads, dim=-1).view(*h.shape[:-1], self.heads_ahead, self.classes)


class TokenOutput(Output):
    """A softmax over the tokenizer's classes; head 1 is tied to the token embedding."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size + 1, cfg.d_model)
        self.heads = _Heads(cfg, cfg.vocab_size)
        self.prior = _prior(cfg, cfg.vocab_size)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.wte(x)

    def logits(self, h: torch.Tensor, y: torch.Tensor | None = None,
               signs: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, T, H, vocab_size); [:, t, h-1] predicts the token at t + h."""
        return _with_prior(self.heads(h, self.wte.weight), self.prior, signs)

    def loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1))

    def predict(self, h: torch.Tensor, signs: torch.Tensor | None = None) -> DensePrediction:
        return DensePrediction(self.logits(h, signs=signs))

    def matmul_params(self) -> int:
        return self.cfg.vocab_size * self.cfg.d_model if self.cfg.tie_embeddings else 0

    @torch.no_grad()
    def init_prior(self, class_signs: torch.Tensor, log_odds: torch.Tensor) -> None:
        self.prior.weight.copy_(class_signs * log_odds / 2)  # ±log_odds/2 per class: the odds move by log_odds


class LowByteHead(nn.Module):
    """Low-byte logits of one head from the context plus the (normalised) embedding of a high byte, via a SwiGLU."""

    def __init__(self, cfg, tied: bool):
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


class Bytes16Output(Output):
    """16-bit values as the high byte, then the low byte given it (tied: head 1 to the byte embeddings)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.wte_high = nn.Embedding(BYTE + 1, cfg.d_model)
        self.wte_low = nn.Embedding(BYTE + 1, cfg.d_model)
        self.heads = _Heads(cfg, BYTE)
        self.low_heads = nn.ModuleList(LowByteHead(cfg, tied=cfg.tie_embeddings and h == 0)
                                       for h in range(cfg.heads_ahead))
        self.prior_high, self.prior_low = _prior(cfg, BYTE), _prior(cfg, BYTE)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """High-byte plus low-byte embedding (MASK = value 65536 uses both MASK rows)."""
        mask = x == N_VALUES
        return self.wte_high(torch.where(mask, BYTE, x // BYTE)) + self.wte_low(torch.where(mask, BYTE, x % BYTE))

    def _low(self, h: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        """Low-byte logits (..., H, m, 256) given high bytes (..., H, m) of each head, for hidden states h (..., d)."""
        z = h.unsqueeze(-2)
        return torch.stack([head(z, self.wte_high(high[..., j, :]), self.wte_low.weight[:BYTE])
                            for j, head in enumerate(self.low_heads)], dim=-3)

    def logits(self, h: torch.Tensor, y: torch.Tensor | None = None,
               signs: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """High-byte logits (B, T, H, 256) and low-byte logits (B, T, H, 256) given the true high byte of y."""
        if y is None:
            raise ValueError("a bytes16 model needs the target values y for its low-byte logits; "
                             "call model(x, y) to train, or model.predict(x) to predict")
        high = _with_prior(self.heads(h, self.wte_high.weight), self.prior_high, signs)
        low = _with_prior(self._low(h, (y // BYTE)[..., None])[..., 0, :], self.prior_low, signs)
        return high, low

    def loss(self, logits: tuple[torch.Tensor, torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        """CE(high byte) + CE(low byte | true high byte): the exact cross-entropy of the 16-bit value."""
        high, low = (t.float().reshape(-1, BYTE) for t in logits)
        return F.cross_entropy(high, (y // BYTE).reshape(-1)) + F.cross_entropy(low, (y % BYTE).reshape(-1))

    def predict(self, h: torch.Tensor, signs: torch.Tensor | None = None) -> BytePrediction:
        high = _with_prior(self.heads(h, self.wte_high.weight), self.prior_high, signs).float().log_softmax(-1)

        @torch.no_grad()
        def low(high_bytes: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
            logits = _with_prior(self._low(h[rows], high_bytes), self.prior_low,
                                 None if signs is None else signs[rows], head_dim=-3)
            return logits.float().log_softmax(-1)

        return BytePrediction(high, low)

    def matmul_params(self) -> int:  # tied heads count 2 x 256 rows
        return 2 * BYTE * self.cfg.d_model if self.cfg.tie_embeddings else 0

    @torch.no_grad()
    def init_prior(self, class_signs: torch.Tensor, log_odds: torch.Tensor) -> None:
        by_bytes = class_signs.view(BYTE, BYTE, BITS)  # [high, low]: a byte's signs average over the other byte
        self.prior_high.weight.copy_(by_bytes.mean(1) * log_odds / 2)
        self.prior_low.weight.copy_(by_bytes.mean(0) * log_odds / 2)


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

    def __init__(self, cfg):
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

    def __init__(self, cfg):
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

    def _byte_log_probs(self, g: torch.Tensor, lower: torch.Tensor, first_bit: int,
                        extra: torch.Tensor) -> torch.Tensor:
        """log P(byte) (..., 256) of bits first_bit..first_bit+7 from their context vectors g (..., 8, rank), the
        share (..., 8, rank) of every bit below the byte and a bias (..., 8) per bit (the linear inputs' factor)."""
        bits = first_bit + self.node_depth
        within = (self.node_signs[..., None] * self.prefix[bits, first_bit:first_bit + 8]).sum(-2)  # (255, rank)
        node = self.base[bits] + within + lower[..., self.node_depth, :]  # (..., 255, rank)
        logits = ((g[..., self.node_depth, :] * node).sum(-1) + self.bias[bits]).float()  # (..., 255)
        logits = logits + extra[..., self.node_depth]
        return F.logsigmoid(logits[..., self.path] * self.path_signs).sum(-1)

    def first_byte(self, z: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
        """log P(first byte) (..., 256) for contexts z (..., d_model) and bit biases extra (..., 8)."""
        g = self._context(z)[..., :8, :]
        return self._byte_log_probs(g, torch.zeros_like(g), 0, extra)

    def second_byte(self, z: torch.Tensor, first: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
        """log P(second byte | first byte) (..., m, 256) for contexts z (..., d_model), first bytes (..., m) and the
        second byte's bit biases extra (..., 8)."""
        signs = 2.0 * ((first[..., None] >> torch.arange(8, device=first.device)) & 1) - 1  # (..., m, 8)
        lower = torch.einsum("...j,ijr->...ir", signs.to(self.prefix.dtype), self.prefix[8:, :8])  # (..., m, 8, rank)
        return self._byte_log_probs(self._context(z)[..., None, 8:, :], lower, 8, extra[..., None, :])


def _chunked(fn, n: int, rows: int) -> torch.Tensor:
    """fn over row slices of at most `rows`, concatenated (bounds the memory of whole-byte distributions)."""
    return torch.cat([fn(slice(i, min(i + rows, n))) for i in range(0, n, rows)]) if n else fn(slice(0, 0))


class Bits16Output(Output):
    """16-bit values bit by bit from the lowest (Taps in, a BitHead per head out), plus a skip from the Taps."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.taps = Taps(cfg)
        self.skip_norm = nn.RMSNorm(cfg.d_model)
        self.bit_heads = nn.ModuleList(BitHead(cfg) for _ in range(cfg.heads_ahead))
        self.prior = _prior(cfg, BITS)  # a bias on each bit's logit, in token_bits order

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.taps(x)

    def readout(self, h: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
        """The normalised last states plus the normalised Taps output (without this skip the blocks blur the bits)."""
        return h + self.skip_norm(h0)

    def logits(self, h: torch.Tensor, y: torch.Tensor | None = None,
               signs: torch.Tensor | None = None) -> torch.Tensor:
        """The logits (B, T, H, 16) of every bit of y given its lower bits (teacher forcing)."""
        if y is None:
            raise ValueError("a bits16 model needs the target values y for its bit logits; "
                             "call model(x, y) to train, or model.predict(x) to predict")
        bits = token_bits(y)
        logits = torch.stack([head(h, bits[..., j, :]) for j, head in enumerate(self.bit_heads)], dim=-2)
        return _with_prior(logits, self.prior, signs)

    def loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The bits' cross-entropies add up to the value's (chain rule)."""
        bce = F.binary_cross_entropy_with_logits(logits.float(), token_bits(y).float(), reduction="none")
        return bce.sum(-1).mean()

    def predict(self, h: torch.Tensor, signs: torch.Tensor | None = None) -> BytePrediction:
        extra = [torch.zeros(len(h), BITS, device=h.device)] * len(self.bit_heads)  # each head's bias per bit
        if self.prior is not None and signs is not None:
            extra[0] = self.prior(signs.to(self.prior.weight.dtype)).float()
        first = _chunked(lambda r: torch.stack([head.first_byte(h[r], extra[j][r, :8])
                                                for j, head in enumerate(self.bit_heads)], 1), len(h), BIT_CHUNK)

        @torch.no_grad()
        def second(first_bytes: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
            z = h[rows]
            step = max(1, BIT_CHUNK // first_bytes.shape[-1])
            return _chunked(lambda r: torch.stack([head.second_byte(z[r], first_bytes[r, j], extra[j][rows][r, 8:])
                                                   for j, head in enumerate(self.bit_heads)], 1), len(z), step)

        return BytePrediction(first, second)

    def tables(self) -> list[nn.Parameter]:
        """Tap weights (one per lag) and bit tables select rather than transform: decay would pull a chosen lag or
        carry back towards zero."""
        return [*super().tables(), self.taps.taps.weight,
                *(p for head in self.bit_heads for p in (head.prefix, head.base))]

    @torch.no_grad()
    def init_prior(self, class_signs: torch.Tensor, log_odds: torch.Tensor) -> None:
        # How each predicted bit j lines up with each token bit i (the identity: token bits are the value's bits).
        agreement = (2.0 * token_bits(torch.arange(N_VALUES)) - 1).T @ class_signs.float() / N_VALUES
        self.prior.weight.copy_(agreement * log_odds)  # a bit's logit is its log-odds

    def matmul_params(self) -> int:  # taps on 17 inputs; per head the lower-bit table and the dot products of 16 bits
        cfg = self.cfg
        return N_TAPS * (BITS + 1) * max(cfg.lag_kernel, 1) + cfg.heads_ahead * BITS * (BITS // 2 + 1) * BIT_RANK

    def reset_parameters(self) -> None:
        """GPT-2's std 0.02 starves the products in Taps and BitHead: keep PyTorch's fan-in init, but start every bit
        at p = 1/2 (zero output layer)."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                module.reset_parameters()
        for head in self.bit_heads:
            nn.init.zeros_(head.ffn.proj.weight)
        super().reset_parameters()


OUTPUTS: dict[str, type[Output]] = {"tokens": TokenOutput, "bytes16": Bytes16Output, "bits16": Bits16Output}
