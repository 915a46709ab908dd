"""Decoder-only transformer with rotary positions, lag mixing, SwiGLU and H heads that each predict h steps ahead.

The trunk (input -> N x [RMSNorm -> lag mixing (the first lag_blocks()) -> attention with RoPE -> SwiGLU] -> RMSNorm)
is shared; how tokens enter it and how its last states become predictions is the output kind (outputs.py: "tokens",
"bytes16", "bits16").
nanoGPT's contract: model(x, y) -> (logits, loss) for training, model.predict(x, start) -> Prediction for everything
else (validation, evaluation, predict, the workbook).
"""
import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn as nn

from .errors import ConfigError
from .layers import Block, RMSNorm, rope_cache
from .outputs import OUTPUTS
from .prediction import Prediction
from .settings import check, setting
from .values import BITS, N_VALUES

LEGACY_KEYS = ("wte", "wte_high", "wte_low", "low_heads", "taps", "skip_norm", "bit_heads")  # before outputs.py
# Blocks with lag mixing by default, per output kind (None: every block). Past the first block it costs an eighth of
# a tokens step and gained nothing there; bits16 learned the lagged additive generator far slower without it
# (benchmarks/lag_layers.py, RESULTS.md). Checkpoints keep lag_layers=None for the default, so changing an entry
# means mapping older checkpoints' None to the old entry in ModelConfig.from_dict.
LAG_LAYERS = {"tokens": 1, "bytes16": 1, "bits16": None}


@dataclass
class ModelConfig:
    """Transformer sizes and the output kind (set by the tokenizer); the names are the CLI's flags."""

    vocab_size: int = setting(256, "classes of the tokenizer (set by the tokenizer)", low=1, flag=False)
    seq_len: int = setting(256, "context length in values", low=1)
    d_model: int = setting(256, "width of the transformer", low=1)
    nlayers: int = setting(6, "number of transformer blocks", low=1)
    nhead: int = setting(8, "attention heads (must divide d_model into even head sizes)", low=1)
    dim_ff: int | None = setting(None, "SwiGLU hidden size (default: 8/3 d_model rounded up to a multiple of 64)",
                                 low=1)
    dropout: float = setting(0.0, "dropout probability", low=0.0, high=1.0, high_open=True)
    heads_ahead: int = setting(1, "output heads: head h predicts the value h steps ahead", low=1)
    tie_embeddings: bool = setting(True, "tie head 1 to the input embedding")
    rope_base: float = setting(10000.0, "base of the rotary position angles", low=1.0, low_open=True)
    lag_kernel: int = setting(16, "the first lag_layers blocks first mix the last N positions (causal depthwise "
                                  "convolution; 0: off)", low=0)
    lag_layers: int | None = setting(None, "blocks, from the first, that start with lag mixing (nlayers or more: "
                                           "every block; default: the output kind's, see LAG_LAYERS)", low=0)
    output: str = setting("tokens", "output kind (set by the tokenizer): tokens, or 16-bit values as bytes16 / bits16",
                          choices=tuple(OUTPUTS), flag=False)
    linear_inputs: bool = setting(False, "add the GF(2) recurrences' prediction of each linear bit as an input "
                                         "(set by training when the linear scan finds linear bit planes)", flag=False)

    def __post_init__(self) -> None:
        if self.dim_ff is None:
            self.dim_ff = 64 * math.ceil(8 * self.d_model / 3 / 64)
        check(self)
        if self.output != "tokens" and self.vocab_size != N_VALUES:
            raise ConfigError(f"a {self.output} model predicts 16-bit values, so vocab_size must be {N_VALUES}, got "
                              f"{self.vocab_size}; use the {self.output} tokenizer's vocab_size")
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

    def lag_blocks(self) -> int:
        """How many blocks, from the first, start with lag mixing: lag_layers, or the output kind's default."""
        n = self.lag_layers if self.lag_layers is not None else LAG_LAYERS[self.output]
        return self.nlayers if n is None else min(n, self.nlayers)

    def to_dict(self) -> dict:
        """Plain Python types, for checkpoints and JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        """Inverse of to_dict; also reads the factorized / bitwise flags of older checkpoints. Unknown keys are an error."""
        d = dict(d)
        factorized, bitwise = d.pop("factorized", False), d.pop("bitwise", False)
        if factorized or bitwise:
            d.setdefault("output", "bits16" if bitwise else "bytes16")
        d.setdefault("lag_layers", d.get("nlayers", cls.nlayers))  # older checkpoints: lag mixing in every block
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"unknown model config keys {unknown}; remove them or use a seqlib checkpoint")
        return cls(**d)


class SeqModel(nn.Module):
    """Tokens -> blocks -> RMSNorm -> the output kind's heads, times the linear inputs' factor when cfg.linear_inputs.

    x is (B, T) int64 tokens, or (B, T, 2) with the linear side channel in x[..., 1]: the predicted bits of the value
    at t + 1 (bit j) and which of them are known (bit 16 + j), computed from the values up to t only (linear.py).
    The side channel reaches only the heads (see outputs.py), never the trunk.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.out = OUTPUTS[cfg.output](cfg)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg, lag=i < cfg.lag_blocks()) for i in range(cfg.nlayers))
        self.norm = RMSNorm(cfg.d_model)
        cos, sin = rope_cache(cfg.seq_len, cfg.d_model // cfg.nhead, cfg.rope_base)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init_weights)
        self.out.reset_parameters()
        for block in self.blocks:  # GPT-2: residual output projections scaled by 1/sqrt(2 * nlayers)
            for proj in (block.attn.proj, block.ffn.proj):
                nn.init.normal_(proj.weight, mean=0.0, std=0.02 / math.sqrt(2 * cfg.nlayers))
        self._register_load_state_dict_pre_hook(self._legacy_keys)
        self.linear = None  # with linear inputs: the LinearScan whose predictions they are (set by training/loading)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    @staticmethod
    def _legacy_keys(state_dict: dict, prefix: str, *args) -> None:
        """Checkpoints written before the output kinds became modules keep their output weights at the top level."""
        for key in list(state_dict):
            name = key[len(prefix):]
            first = name.split(".", 1)[0]
            if first in LEGACY_KEYS:
                state_dict[prefix + "out." + name] = state_dict.pop(key)
            elif first == "head":
                state_dict[prefix + "out.heads." + name] = state_dict.pop(key)

    def _rope(self, T: int) -> tuple[torch.Tensor, torch.Tensor]:
        """cos/sin for positions 0..T-1, extending the cache when T exceeds it."""
        if T > self.rope_cos.size(0):
            head_dim, device = self.cfg.d_model // self.cfg.nhead, self.rope_cos.device
            self.rope_cos, self.rope_sin = rope_cache(T, head_dim, self.cfg.rope_base, device)
        return self.rope_cos[:T], self.rope_sin[:T]

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Tokens (B, T) and the linear signs (B, T, 16): ±1 for each predicted bit that is known, 0 for the others
        (None without linear inputs)."""
        if x.dim() == 2:
            return x, None
        side = x[..., 1]
        shifts = torch.arange(BITS, device=x.device)
        bits, known = (side[..., None] >> shifts) & 1, (side[..., None] >> (shifts + BITS)) & 1
        return x[..., 0], (known * (2 * bits - 1)).float() if self.cfg.linear_inputs else None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The hidden states (B, T, d_model) the heads read, for inputs x (see the class docstring)."""
        tokens = self._split(x)[0]
        h0 = self.out.embed(tokens)
        cos, sin = self._rope(tokens.shape[1])
        h = h0 = self.drop(h0)
        for block in self.blocks:
            h = block(h, cos, sin)
        return self.out.readout(self.norm(h), h0)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None):
        """(logits, loss) like nanoGPT: the output kind's raw logits (teacher-forced on the targets y (B, T, H) where
        it needs them) and, when y is given, the cross-entropy in nats (float32) over all positions and heads."""
        tokens, signs = self._split(x)
        logits = self.out.logits(self.features(tokens), y, signs)
        return logits, (None if y is None else self.out.loss(logits, y))

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Training loss in nats for inputs x and targets y (B, T, H)."""
        return self(x, y)[1]

    @torch.no_grad()
    def predict(self, x: torch.Tensor, start: int = 0) -> Prediction:
        """Predictions at positions >= start of every window, rows (window, position) flattened."""
        tokens, signs = self._split(x)
        h = self.features(tokens)[:, start:]
        if signs is not None:
            signs = signs[:, start:].reshape(-1, BITS)
        return self.out.predict(h.reshape(-1, h.size(-1)).float(), signs)

    def num_params(self, exclude_embedding: bool = False) -> int:
        """Parameter count; exclude_embedding drops the embedding tables (and with them tied heads)."""
        n = sum(p.numel() for p in self.parameters())
        embeddings = [m.weight for m in self.modules() if isinstance(m, nn.Embedding)]
        return n - sum(p.numel() for p in embeddings) if exclude_embedding else n

    def param_groups(self, weight_decay: float) -> list[dict]:
        """AdamW groups: decay on matmul weights (>= 2-D, not the output kind's tables), none on tables and norms."""
        tables = {id(p) for p in self.out.tables()}
        decay = [p for p in self.parameters() if p.dim() >= 2 and id(p) not in tables]
        ids = {id(p) for p in decay}
        no_decay = [p for p in self.parameters() if id(p) not in ids]
        return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]

    def flops_per_token(self) -> int:
        """Training FLOPs per token (fwd+bwd), PaLM appendix B: 6 * matmul params + 12 * nlayers * d_model * seq_len.

        Matmul params: every Linear, the output kind's tied heads and bit tables, and the lag mixing's weights (one
        multiply-add per weight).
        """
        cfg = self.cfg
        n_matmul = sum(m.weight.numel() for m in self.modules() if isinstance(m, nn.Linear))
        n_lag = sum(block.lag is not None for block in self.blocks)
        n_matmul += self.out.matmul_params() + n_lag * cfg.d_model * cfg.lag_kernel
        return 6 * n_matmul + 12 * cfg.nlayers * cfg.d_model * cfg.seq_len
