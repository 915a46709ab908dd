"""Shared fixtures: small generated streams written as .u16 files, and evaluation windows for predictor tests."""
from pathlib import Path

import numpy as np
import pytest
import torch

from seqlib.evaluate import Windows
from seqlib.sources import generate, write_u16


def write_source(directory: Path, kind: str, n: int, seed: int = 0, **params):
    values, info = generate(kind, n, seed=seed, **params)
    path = directory / f"{kind}_{seed}.u16"
    write_u16(path, values)
    return path, info


def windows_for(values: np.ndarray, tokenizer, starts: np.ndarray, seq_len: int = 16, heads: int = 1) -> Windows:
    """The evaluation windows at `starts` (file indices) of `values`, as evaluate builds them."""
    raw = values[starts[:, None] + np.arange(seq_len + heads)]
    return Windows(values, starts, raw, torch.from_numpy(tokenizer.encode(raw)), seq_len, heads, seq_len // 2)


@pytest.fixture
def markov_file(tmp_path):
    """An order-2 Markov stream over 4 symbols with strong structure (path, SourceInfo)."""
    return write_source(tmp_path, "markov", 60_000, seed=3, k=4, order=2, concentration=0.3)


@pytest.fixture
def die_file(tmp_path):
    """A fair six-sided die (path, SourceInfo)."""
    return write_source(tmp_path, "die", 60_000, seed=5, k=6)
