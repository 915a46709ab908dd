"""Shared fixtures: small generated streams written as .u16 files, evaluation windows for predictor tests, and a
checkpoint of a tiny model for the verdict's tests."""
from pathlib import Path

import numpy as np
import pytest
import torch

from seqlib.evaluate import Windows
from seqlib.model import ModelConfig
from seqlib.sources import generate, write_u16
from seqlib.train import TrainConfig, train


def write_source(directory: Path, kind: str, n: int, seed: int = 0, **params):
    values, info = generate(kind, n, seed=seed, **params)
    path = directory / f"{kind}_{seed}.u16"
    write_u16(path, values)
    return path, info


def windows_for(values: np.ndarray, tokenizer, starts: np.ndarray, seq_len: int = 16, heads: int = 1) -> Windows:
    """The evaluation windows at `starts` (file indices) of `values`, as evaluate builds them."""
    raw = values[starts[:, None] + np.arange(seq_len + heads)]
    return Windows(values, starts, raw, torch.from_numpy(tokenizer.encode(raw)), seq_len, heads, seq_len // 2)


def tiny_checkpoint(path: Path, run_dir: Path) -> Path:
    """A tiny model trained for 2 steps on the file: enough for a verdict that rests on the searches and baselines."""
    train(TrainConfig(u16_path=str(path), run_dir=str(run_dir), batch=16, epochs=100, max_steps=2, eval_every=2,
                      eval_windows=16, progress=False), ModelConfig(d_model=32, nlayers=1, nhead=2, seq_len=32))
    return run_dir / "model.pt"


@pytest.fixture
def markov_file(tmp_path):
    """An order-2 Markov stream over 4 symbols with strong structure (path, SourceInfo)."""
    return write_source(tmp_path, "markov", 60_000, seed=3, k=4, order=2, concentration=0.3)


@pytest.fixture
def die_file(tmp_path):
    """A fair six-sided die (path, SourceInfo)."""
    return write_source(tmp_path, "die", 60_000, seed=5, k=6)
