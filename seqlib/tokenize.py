"""Value <-> token maps fitted on a sample: exact (lossless), quantile (adaptive binning), uniform bins, bytes16 or
bits16.

bytes16 and bits16 are lossless for streams of full 16-bit values (65,536 classes), and the model predicts a
token as its first byte, then its second byte given the first (see outputs.py), so no 65,536-way softmax is needed.
bytes16: token == value, the high byte first. bits16: the token is the value with its bytes swapped, so the low
byte comes first, and the model predicts the bits one by one from the lowest up (the order of carries in arithmetic
modulo 2^16, where generators keep their structure).
"""
import json
from pathlib import Path

import numpy as np

from .data import gather
from .errors import ConfigError, DataError
from .values import BYTE, N_VALUES as N_U16, swap_bytes

KINDS = ("exact", "quantile", "uniform", "bytes16", "bits16")
WIDE = ("bytes16", "bits16")
SAMPLE_BLOCK = 4096  # the fit sample is random blocks of consecutive values: few pages of a memmap are read
JUMP = 0.5  # auto rule: a stream is smooth when its steps are this much smaller than random pairs' (see _jump)


class Tokenizer:
    """Token i stands for the values lo[i]..hi[i]; encode is one lookup in a 65,536-entry table.

    bytes16 and bits16 need no lo/hi: token i is the value i (bits16: i with its bytes swapped) for all 65,536 values
    (nothing is unseen, there is no UNK).
    """

    def __init__(self, kind: str, lo: list[int] | None = None, hi: list[int] | None = None):
        if kind not in KINDS:
            raise ConfigError(f"unknown tokenizer kind {kind!r}; use one of {', '.join(KINDS)} or auto")
        self.kind = kind
        if kind in WIDE:
            lo = hi = np.arange(N_U16) if kind == "bytes16" else swap_bytes(np.arange(N_U16))
        self.lo = np.asarray(lo, dtype=np.int64)
        self.hi = np.asarray(hi, dtype=np.int64)
        self.n_values = len(self.lo)
        self.unk_token = self.n_values if kind == "exact" else None
        self.vocab_size = self.n_values + (kind == "exact")
        self.mask_token = self.vocab_size
        every_value = np.arange(N_U16)
        if kind in WIDE:
            self.lut = np.asarray(self.lo)  # swapping is its own inverse
        elif kind == "exact":
            self.lut = np.full(N_U16, self.n_values, dtype=np.int64)
            self.lut[self.lo] = np.arange(self.n_values)
        else:  # values outside the fitted range go to the nearest (first or last) bin
            self.lut = np.clip(np.searchsorted(self.lo, every_value, side="right") - 1, 0, self.n_values - 1)
        lo_of, hi_of = np.append(self.lo, -1)[self.lut], np.append(self.hi, -1)[self.lut]
        self._seen = (lo_of <= every_value) & (every_value <= hi_of)

    @property
    def output(self) -> str:
        """The model's output kind for these tokens: "tokens", or 16-bit values as "bytes16" / "bits16"."""
        return self.kind if self.kind in WIDE else "tokens"

    @property
    def byte_names(self) -> tuple[str, str]:
        """What the first and second byte of a 16-bit token are in the value."""
        return ("low byte", "high byte") if self.kind == "bits16" else ("high byte", "low byte")

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

    def seen(self, values: np.ndarray) -> np.ndarray:
        """Which values lie inside a range seen at fit time (the others are UNK for exact, the nearest bin otherwise)."""
        return self._seen[np.asarray(values)]

    def bit_signs(self, view: tuple[int, int] = (0, 1)) -> np.ndarray:
        """(vocab_size, 16): for each class the mean over the values x it stands for of ±1 for bit j (0 for UNK) of x,
        or with a view (low, div) of (x - low) // div (a die's top bits, linear.LinearScan.view)."""
        def ones_below(n: np.ndarray, j: int) -> np.ndarray:  # values in [0, n) with bit j set
            return (n >> (j + 1) << j) + np.maximum(0, (n & ((2 << j) - 1)) - (1 << j))
        signs = np.zeros((self.vocab_size, 16))
        if view != (0, 1):  # only a small alphabet has one: its classes' values are few enough to list
            for k in range(self.n_values):
                x = (np.arange(self.lo[k], self.hi[k] + 1) - view[0]).clip(0) // view[1]
                signs[k] = (2 * ((x[:, None] >> np.arange(16)) & 1) - 1).mean(0)
            return signs
        count = self.hi - self.lo + 1
        for j in range(16):
            ones = ones_below(self.hi + 1, j) - ones_below(self.lo, j)
            signs[:self.n_values, j] = (2 * ones - count) / count
        return signs

    def to_dict(self) -> dict:
        """Plain types only, for checkpoints and tokenizer.json (bytes16 and bits16 are fully described by their kind)."""
        if self.kind in WIDE:
            return {"kind": self.kind}
        return {"kind": self.kind, "lo": self.lo.tolist(), "hi": self.hi.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "Tokenizer":
        """Inverse of to_dict."""
        return cls(d["kind"], d.get("lo"), d.get("hi"))


def read_tokenizer(path: str | Path) -> Tokenizer:
    """A tokenizer.json (Tokenizer.to_dict); DataError naming the file and the fix when it is malformed."""
    try:
        d = json.loads(Path(path).read_text())
        if not isinstance(d, dict) or "kind" not in d:
            raise ValueError("no tokenizer kind in it")
        if d["kind"] not in WIDE:
            lo, hi = np.asarray(d.get("lo"), dtype=np.int64), np.asarray(d.get("hi"), dtype=np.int64)
            if not (lo.ndim == 1 and lo.shape == hi.shape and len(lo) and 0 <= lo[0] and hi[-1] < N_U16
                    and (lo <= hi).all() and (lo[1:] > hi[:-1]).all()):
                raise ValueError("its lo and hi are not increasing, non-overlapping value ranges in 0..65535")
        return Tokenizer.from_dict(d)
    except (OSError, ValueError, TypeError) as e:  # ConfigError (an unknown kind) is a ValueError too
        raise DataError(f"{path} is not a valid tokenizer.json ({e}); delete it, or choose the tokenizer again in "
                        "01_explore_and_bin.ipynb") from None


def _sample(values: np.ndarray, sample_size: int, seed: int) -> np.ndarray:
    """All values, or about sample_size of them in at least 64 random blocks of up to SAMPLE_BLOCK values."""
    n = len(values)
    if n <= sample_size:
        return np.asarray(values)
    block = max(min(SAMPLE_BLOCK, sample_size // 64), 1)
    starts = np.sort(np.random.default_rng(seed).integers(0, n - block + 1, sample_size // block))
    return gather(values, starts, block).ravel()


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


def _entropy_bits(counts: np.ndarray, max_bits: float) -> float:
    """Miller-Madow entropy estimate (bits) from counts: plug-in + (outcomes - 1) / 2N nats, at most max_bits."""
    counts = counts[counts > 0].astype(np.float64)
    n = counts.sum()
    p = counts / n
    return min(float(-(p * np.log2(p)).sum() + (len(counts) - 1) / (2 * n * np.log(2))), max_bits)


def _jump(sample: np.ndarray, seed: int) -> float:
    """Mean |x_t - x_{t-1}| over the mean |x_t - x_s| of random pairs (s, t) of the sample, both over the pairs that
    differ: about 1 for values independent of their neighbours, whatever their distribution; near 0 for a smooth
    stream, whose neighbours are close. (Equal neighbours do not count: a source that often repeats its last value
    and otherwise draws anew is not smooth.)"""
    x = np.asarray(sample, dtype=np.int64)
    steps, pairs = np.abs(np.diff(x)), np.abs(x - np.random.default_rng(seed).permutation(x))
    steps, pairs = steps[steps > 0], pairs[pairs > 0]
    return float(steps.mean() / pairs.mean()) if len(steps) and len(pairs) else 1.0


def _auto_rule(sample: np.ndarray, distinct: np.ndarray, max_vocab: int, seed: int, linear=None) -> dict:
    """The statistics behind kind="auto" and its choice, with the reason in words."""
    out = {"distinct": len(distinct), "max_vocab": max_vocab, "low_bytes": len(np.unique(distinct % BYTE)),
           "jump": _jump(sample, seed)}
    if out["distinct"] <= max_vocab:
        return {**out, "kind": "exact", "reason": f"{out['distinct']} distinct values <= max_vocab={max_vocab}: "
                                                  "one token per value"}
    checks = [(out["low_bytes"] > 1, "the low byte is constant"),
              (out["jump"] >= JUMP, f"the stream is smooth (its mean step is {out['jump']:.3f} of a random pair's "
                                    f"difference, < {JUMP}; equal neighbours aside)")]
    failed = [why for ok, why in checks if not ok]
    if failed:
        return {**out, "kind": "quantile", "reason": f"{out['distinct']} distinct values and {failed[0]}: "
                                                     "a measurement-like stream, binned by quantiles"}
    if linear is not None and (linear.family_hint() or "").startswith("addition with carries"):
        # x = a + b mod 2^16: bit 0 is a XOR of past bits 0, every higher bit adds a carry from the bits below it
        return {**out, "kind": "bits16", "reason": f"{out['distinct']} distinct values like a generator's output, "
                f"whose lowest bit plane(s) {linear.linear_planes} obey a linear recurrence under nonlinear higher "
                f"bits: the mark of addition with carries, modelled exactly bit by bit from the lowest"}
    return {**out, "kind": "bytes16", "reason": f"{out['distinct']} distinct values, each as far from the one before "
            f"as from a random other (mean step {out['jump']:.2f} of a random pair's difference): not a smooth "
            f"measurement, so every bit may matter (a generator's output, packed bits of an entropy source, "
            f"independent draws whose distribution is itself the structure): modelled exactly as high byte + low byte"}


def auto_rule(values: np.ndarray, max_vocab: int = 1024, sample_size: int = 1_000_000, seed: int = 0,
              linear=None) -> dict:
    """What kind="auto" picks for a stream and why, with the statistics of the rule (see fit_tokenizer)."""
    sample = _sample(values, sample_size, seed)
    return _auto_rule(sample, np.unique(sample).astype(np.int64), max_vocab, seed, linear)


def binning_loss(values: np.ndarray, num_bins: int = 256, sample_size: int = 1_000_000, seed: int = 0) -> dict:
    """What quantile binning into num_bins throws away, measured on a sample of the stream.

    bits_lost = H(value) - H(bin) = H(value | bin): bits per value that no model of the binned stream can predict;
    top1_value_ceiling: the top-1 value accuracy of a perfect bin predictor that guesses the most common value of
    each bin (chosen on the first half of the sample, scored on the second, so sampling noise does not inflate it);
    low_byte_bits and low_byte_bits_given_previous: H(low byte) and H(low byte | previous low byte), a one-lag look
    at how much of the low bits the past determines (0 for an LCG modulo 2^16). Entropies are Miller-Madow estimates
    (clipped to their range); they need several sample values per distinct value to be accurate.
    """
    sample = _sample(values, sample_size, seed).astype(np.int64)
    tokenizer = fit_tokenizer(sample, "quantile", num_bins, sample_size=len(sample))
    first, second = sample[: len(sample) // 2], sample[len(sample) // 2 :]
    counts = np.bincount(first, minlength=N_U16)
    bin_max = np.zeros(tokenizer.n_values, dtype=np.int64)
    np.maximum.at(bin_max, tokenizer.lut, counts)
    most_common = np.flatnonzero(counts == bin_max[tokenizer.lut])
    guess = np.full(tokenizer.n_values, N_U16)
    np.minimum.at(guess, tokenizer.lut[most_common], most_common)  # ties: the smallest most common value
    value_bits = _entropy_bits(np.bincount(sample, minlength=N_U16), 16.0)
    bin_bits = _entropy_bits(np.bincount(tokenizer.encode(sample)), 16.0)
    low = sample % BYTE
    low_bits = _entropy_bits(np.bincount(low), 8.0)
    pair_bits = _entropy_bits(np.bincount(low[:-1] * BYTE + low[1:]), 16.0)
    return {"bins": tokenizer.n_values, "value_bits": value_bits, "bin_bits": bin_bits,
            "bits_lost": max(value_bits - bin_bits, 0.0),
            "top1_value_ceiling": float(np.mean(guess[tokenizer.lut[second]] == second)),
            "low_byte_bits": low_bits,
            "low_byte_bits_given_previous": max(pair_bits - _entropy_bits(np.bincount(low[:-1]), 8.0), 0.0)}


def fit_tokenizer(values: np.ndarray, kind: str = "auto", num_bins: int = 256, max_vocab: int = 1024,
                  sample_size: int = 1_000_000, seed: int = 0, linear=None) -> Tokenizer:
    """Fit a tokenizer on a bounded random sample; kind="auto" chooses exact, bytes16 or quantile.

    The auto rule: exact when the sample has at most max_vocab distinct values. Otherwise bytes16 (lossless 16-bit)
    unless the stream is smooth or its low byte constant: a value no closer to the one before it than to a random
    other (_jump >= JUMP; 1 for independent values) is not a measurement whose low bits are noise, and binning would
    throw away where its structure may live: a generator's low bits, an entropy source's packed bits, and, since
    quantile bins are equally frequent by construction, the very shape of a skewed distribution (a biased bit
    source's values looked like chance to every predictor of its bins). bits16 instead when a linear scan
    (linear.scan) shows the mark of addition with carries, the lowest bit plane(s) linear under nonlinear higher bits
    (additive lagged generators: bits16 learns their carries, bytes16 does not). A smooth stream (a physical
    measurement, whose low bits are mostly noise) gets quantile bins. auto_rule() shows the statistics; any kind can
    be forced.
    """
    if kind not in KINDS + ("auto",):
        raise ConfigError(f"unknown tokenizer kind {kind!r}; use one of auto, {', '.join(KINDS)}")
    if not 1 <= num_bins <= N_U16:
        raise ConfigError(f"num_bins must be between 1 and {N_U16}, got {num_bins}; use e.g. --num_bins 256")
    if sample_size < 1:
        raise ConfigError(f"sample_size must be >= 1, got {sample_size}; use e.g. 1_000_000")
    if len(values) == 0:
        raise DataError("cannot fit a tokenizer on an empty stream; pass a file with values")
    sample = _sample(values, sample_size, seed)
    distinct, counts = np.unique(sample, return_counts=True)
    distinct = distinct.astype(np.int64)
    if kind == "auto":
        kind = _auto_rule(sample, distinct, max_vocab, seed, linear)["kind"]
    if kind in WIDE:
        return Tokenizer(kind)
    if kind == "exact":
        return Tokenizer("exact", distinct, distinct)
    if kind == "uniform":
        span = int(distinct[-1] - distinct[0]) + 1
        nb = min(num_bins, span)
        lo = distinct[0] + np.arange(nb) * span // nb
    else:
        lo = _quantile_starts(distinct, counts, num_bins)
    return Tokenizer(kind, lo, np.append(lo[1:] - 1, distinct[-1]))
