"""A first look at a stream: summary, value counts, block entropies and autocorrelation, all on a bounded sample."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .data import gather

SAMPLE_VALUES = 1_000_000  # values read for any estimate, so a 2 GB file costs the same as a small one
BLOCK = 4096  # the sample is random blocks of this many consecutive values (k-grams and lags stay inside a block)


def sample_blocks(values: np.ndarray, size: int = SAMPLE_VALUES, block: int = BLOCK, seed: int = 0) -> np.ndarray:
    """About `size` values as rows of consecutive values (n_blocks, block); the whole stream as one row if it fits."""
    n = len(values)
    if n <= size:
        return np.asarray(values)[None, :]
    block = min(block, size)
    rng = np.random.default_rng(seed)
    starts = np.sort(rng.choice(n - block + 1, size // block, replace=False))
    return gather(values, starts, block)


def summarize(values: np.ndarray, sample: np.ndarray | None = None) -> dict:
    """Size, count and (on the sample) distinct values, range, most common value and unigram entropy."""
    sample = sample_blocks(values) if sample is None else sample
    counts = value_counts(sample)
    present = np.flatnonzero(counts)
    return {
        "values": len(values), "size_bytes": 2 * len(values), "sampled": int(sample.size),
        "distinct": len(present), "min": int(present[0]), "max": int(present[-1]),
        "most_common": int(counts.argmax()), "most_common_share": float(counts.max() / sample.size),
        "entropy_bits": entropy_bits(counts), "max_entropy_bits": float(np.log2(max(len(present), 1))),
    }


def value_counts(sample: np.ndarray) -> np.ndarray:
    """Occurrences of each of the 65,536 values."""
    return np.bincount(np.asarray(sample, dtype=np.int64).ravel(), minlength=1 << 16)


def entropy_bits(counts: np.ndarray) -> float:
    """Plug-in Shannon entropy (bits) of a vector of counts."""
    counts = np.asarray(counts, dtype=np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def _kgram_codes(rows: np.ndarray, k: int) -> np.ndarray:
    """One uint64 code per k consecutive values inside each row (16 bits per value, k <= 4)."""
    rows = np.asarray(rows, dtype=np.uint64)
    width = rows.shape[1] - k + 1
    codes = np.zeros((rows.shape[0], width), dtype=np.uint64)
    for j in range(k):
        codes = (codes << np.uint64(16)) | rows[:, j : j + width]
    return codes.ravel()


def block_entropies(sample: np.ndarray, max_k: int = 4) -> pd.DataFrame:
    """H(X_1..X_k), H/k and the conditional entropy H(X_k | X_1..X_{k-1}) in bits, for k = 1..max_k.

    Miller-Madow estimates (plug-in + (patterns - 1) / 2N nats); still biased low once the distinct k-grams approach
    the number of k-grams, i.e. when "kgrams_per_pattern" is small (below ~10, read the value as a lower bound).
    """
    if not 1 <= max_k <= 4:
        raise ValueError(f"max_k={max_k}: block entropies pack k values into 64 bits, so choose 1 <= max_k <= 4")
    sample = np.atleast_2d(sample)
    rows, prev = [], 0.0
    for k in range(1, max_k + 1):
        _, counts = np.unique(_kgram_codes(sample, k), return_counts=True)
        h = entropy_bits(counts) + (len(counts) - 1) / (2 * counts.sum() * np.log(2))
        rows.append({"k": k, "block_bits": h, "bits_per_value": h / k, "conditional_bits": h - prev,
                     "distinct_kgrams": len(counts), "kgrams_per_pattern": counts.sum() / len(counts)})
        prev = h
    return pd.DataFrame(rows)


def autocorrelation(sample: np.ndarray, max_lag: int = 32) -> pd.DataFrame:
    """Pearson autocorrelation of the values at lags 1..max_lag, pairs taken inside each row of the sample."""
    x = np.atleast_2d(sample).astype(np.float64)
    max_lag = min(max_lag, x.shape[1] - 1)
    x = x - x.mean()
    var = (x * x).mean()
    acf = [float((x[:, :-lag] * x[:, lag:]).mean() / var) if var > 0 else 0.0 for lag in range(1, max_lag + 1)]
    return pd.DataFrame({"lag": np.arange(1, max_lag + 1), "autocorrelation": acf})
