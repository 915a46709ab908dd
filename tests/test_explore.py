"""Stream exploration: summaries and entropy estimates agree with streams whose statistics are known."""
import math

import numpy as np
import pytest

from seqlib import explore
from seqlib.sources import generate


def test_summary_counts_values_bytes_and_distinct_values():
    values = np.array([3, 3, 7, 9, 9, 9], dtype=np.uint16)
    s = explore.summarize(values)
    assert (s["values"], s["size_bytes"], s["distinct"], s["min"], s["max"]) == (6, 12, 3, 3, 9)
    assert s["most_common"] == 9 and s["most_common_share"] == pytest.approx(0.5)
    assert s["entropy_bits"] == pytest.approx(1.459148, abs=1e-5)


def test_sample_is_bounded_and_made_of_consecutive_blocks():
    values = np.arange(1_000_000, dtype=np.int64)
    sample = explore.sample_blocks(values, size=20_000, block=500)
    assert sample.shape == (40, 500)
    assert (np.diff(sample, axis=1) == 1).all()
    assert len(np.unique(sample[:, 0])) == 40


def test_small_streams_are_used_whole():
    values = np.arange(100, dtype=np.uint16)
    assert explore.sample_blocks(values, size=1000).tolist() == [values.tolist()]


def test_fair_die_has_log2_6_bits_at_every_block_length():
    values, info = generate("die", 300_000, seed=2, k=6)
    table = explore.block_entropies(explore.sample_blocks(values, size=300_000), max_k=4)
    assert table["bits_per_value"].to_numpy() == pytest.approx(math.log2(6), abs=0.01)
    assert table["conditional_bits"].to_numpy() == pytest.approx(math.log2(6), abs=0.02)


def test_conditional_entropy_falls_to_the_entropy_rate_of_a_markov_chain():
    values, info = generate("markov", 200_000, seed=3, k=4, order=2, concentration=0.3)
    table = explore.block_entropies(explore.sample_blocks(values, size=200_000), max_k=4).set_index("k")
    assert table.loc[1, "conditional_bits"] > info.entropy_rate + 0.2
    assert table.loc[3, "conditional_bits"] == pytest.approx(info.entropy_rate, abs=0.02)
    assert table.loc[4, "conditional_bits"] == pytest.approx(info.entropy_rate, abs=0.03)


def test_deterministic_stream_has_zero_conditional_entropy():
    values = np.tile(np.array([5, 1, 4, 1], dtype=np.uint16), 10_000)
    table = explore.block_entropies(values[None, :], max_k=3)
    assert table["conditional_bits"].iloc[-1] == pytest.approx(0.0, abs=1e-3)
    assert table["bits_per_value"].iloc[0] == pytest.approx(1.5, abs=1e-3)


def test_block_entropies_refuse_more_than_four_values_per_kgram():
    with pytest.raises(ValueError, match="1 <= max_k <= 4"):
        explore.block_entropies(np.zeros((1, 10), dtype=np.uint16), max_k=5)


def test_autocorrelation_finds_the_period_and_not_noise():
    rng = np.random.default_rng(0)
    periodic = (np.sin(np.arange(50_000) * 2 * np.pi / 10) * 1000 + 2000).astype(np.uint16)
    acf = explore.autocorrelation(periodic[None, :], max_lag=10).set_index("lag")["autocorrelation"]
    assert acf[10] == pytest.approx(1.0, abs=0.01) and acf[5] == pytest.approx(-1.0, abs=0.01)
    noise = explore.autocorrelation(rng.integers(0, 100, (10, 5000)), max_lag=5)["autocorrelation"]
    assert np.abs(noise).max() < 0.02
