"""Value <-> token maps fitted on a sample: exact (lossless), quantile (adaptive binning) or uniform bins."""
import numpy as np

from .data import sparse_reads
from .errors import ConfigError, DataError

N_U16 = 1 << 16
KINDS = ("exact", "quantile", "uniform")
SAMPLE_BLOCK = 4096  # the fit sample is random blocks of consecutive values: few pages of a memmap are read


class Tokenizer:
    """Token i stands for the values lo[i]..hi[i]; encode is one lookup in a 65,536-entry table."""

    def __init__(self, kind: str, lo: list[int], hi: list[int]):
        if kind not in KINDS:
            raise ConfigError(f"unknown tokenizer kind {kind!r}; use one of {', '.join(KINDS)} or auto")
        self.kind = kind
        self.lo = np.asarray(lo, dtype=np.int64)
        self.hi = np.asarray(hi, dtype=np.int64)
        self.n_values = len(self.lo)
        self.unk_token = self.n_values if kind == "exact" else None
        self.vocab_size = self.n_values + (kind == "exact")
        self.mask_token = self.vocab_size
        every_value = np.arange(N_U16)
        if kind == "exact":
            self.lut = np.full(N_U16, self.n_values, dtype=np.int64)
            self.lut[self.lo] = np.arange(self.n_values)
        else:  # values outside the fitted range go to the nearest (first or last) bin
            self.lut = np.clip(np.searchsorted(self.lo, every_value, side="right") - 1, 0, self.n_values - 1)
        lo_of, hi_of = np.append(self.lo, -1)[self.lut], np.append(self.hi, -1)[self.lut]
        self._seen = (lo_of <= every_value) & (every_value <= hi_of)

    def __repr__(self) -> str:
        return f"Tokenizer(kind={self.kind!r}, n_values={self.n_values}, vocab_size={self.vocab_size})"

    def encode(self, values: np.ndarray) -> np.ndarray:
        """Tokens (int64) of uint16 values."""
        return self.lut[np.asarray(values)]

    def decode(self, token: int) -> tuple[int, int]:
        """Inclusive value range of a token; (-1, -1) for UNK and MASK."""
        if 0 <= token < self.n_values:
            return int(self.lo[token]), int(self.hi[token])
        if token in (self.unk_token, self.mask_token):
            return -1, -1
        raise ValueError(f"token {token} is outside the vocabulary 0..{self.mask_token}; "
                         f"pass a token of this tokenizer")

    def label(self, token: int) -> str:
        """Human-readable token: '17', '100–355', 'UNK' or 'MASK'."""
        if token == self.mask_token:
            return "MASK"
        if token == self.unk_token:
            return "UNK"
        lo, hi = self.decode(token)
        return str(lo) if lo == hi else f"{lo}–{hi}"

    def unseen(self, values: np.ndarray) -> int:
        """How many values lie outside every range seen at fit time (UNK for exact, nearest bin otherwise)."""
        return int(np.count_nonzero(~self._seen[np.asarray(values)]))

    def to_dict(self) -> dict:
        """Plain types only, for checkpoints and tokenizer.json."""
        return {"kind": self.kind, "lo": self.lo.tolist(), "hi": self.hi.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "Tokenizer":
        """Inverse of to_dict."""
        return cls(d["kind"], d["lo"], d["hi"])


def _sample(values: np.ndarray, sample_size: int, seed: int) -> np.ndarray:
    """All values, or about sample_size of them in at least 64 random blocks of up to SAMPLE_BLOCK values."""
    n = len(values)
    if n <= sample_size:
        return np.asarray(values)
    block = max(min(SAMPLE_BLOCK, sample_size // 64), 1)
    starts = np.sort(np.random.default_rng(seed).integers(0, n - block + 1, sample_size // block))
    with sparse_reads(values):
        return np.asarray(values[starts[:, None] + np.arange(block)]).ravel()


def _quantile_starts(distinct: np.ndarray, counts: np.ndarray, num_bins: int) -> np.ndarray:
    """First value of each bin: each bin takes whole distinct values, about an equal share of what is left."""
    cum = np.cumsum(counts)
    starts, pos, done = [], 0, 0
    for bins_left in range(min(num_bins, len(distinct)), 0, -1):
        if pos == len(distinct):
            break
        goal = done + (cum[-1] - done) / bins_left
        end = min(int(np.searchsorted(cum, goal)), len(distinct) - 1)  # first end reaching the goal...
        if end > pos and goal - cum[end - 1] < cum[end] - goal:  # ...or the one before, if closer
            end -= 1
        if bins_left == 1:
            end = len(distinct) - 1
        starts.append(distinct[pos])
        pos, done = end + 1, cum[end]
    return np.array(starts)


def fit_tokenizer(values: np.ndarray, kind: str = "auto", num_bins: int = 256, max_vocab: int = 1024,
                  sample_size: int = 1_000_000, seed: int = 0) -> Tokenizer:
    """Fit a tokenizer on a bounded random sample; auto = exact if few distinct values, else quantile."""
    if kind not in KINDS + ("auto",):
        raise ConfigError(f"unknown tokenizer kind {kind!r}; use one of auto, {', '.join(KINDS)}")
    if not 1 <= num_bins <= N_U16:
        raise ConfigError(f"num_bins must be between 1 and {N_U16}, got {num_bins}; use e.g. --num_bins 256")
    if sample_size < 1:
        raise ConfigError(f"sample_size must be >= 1, got {sample_size}; use e.g. 1_000_000")
    if len(values) == 0:
        raise DataError("cannot fit a tokenizer on an empty stream; pass a file with values")
    distinct, counts = np.unique(_sample(values, sample_size, seed), return_counts=True)
    distinct = distinct.astype(np.int64)
    if kind == "auto":
        kind = "exact" if len(distinct) <= max_vocab else "quantile"
    if kind == "exact":
        return Tokenizer("exact", distinct, distinct)
    if kind == "uniform":
        span = int(distinct[-1] - distinct[0]) + 1
        nb = min(num_bins, span)
        lo = distinct[0] + np.arange(nb) * span // nb
    else:
        lo = _quantile_starts(distinct, counts, num_bins)
    return Tokenizer(kind, lo, np.append(lo[1:] - 1, distinct[-1]))
