import json
import time

import numpy as np
import pytest

from seqlib.data import open_u16
from seqlib.errors import ConfigError, DataError
from seqlib.sources import SAMPLE, generate, make_sample, make_stream, write_u16


def plugin(values, lags):
    """Plug-in conditional entropy (bits) of x_t given x_{t-lag} for lag in lags, and the best top-1 on these counts."""
    span = max(lags, default=0)
    x = values[span:].astype(np.int64)
    ctx = np.zeros_like(x)
    for lag in lags:
        ctx = ctx * 65536 + values[span - lag:len(values) - lag]
    joint, counts = np.unique(ctx * 65536 + x, return_counts=True)
    ctx_of = joint // 65536
    firsts = np.flatnonzero(np.r_[True, ctx_of[1:] != ctx_of[:-1]])
    ctx_counts = np.add.reduceat(counts, firsts)

    def h(c):
        p = c / len(x)
        return -(p * np.log2(p)).sum()
    return h(counts) - h(ctx_counts), np.maximum.reduceat(counts, firsts).sum() / len(x)


@pytest.mark.parametrize("kind, params, lags", [
    ("die", {}, ()),
    ("biased_die", {}, ()),
    ("markov", {}, (1, 2)),
    ("markov", dict(k=4, order=3, concentration=1.0), (1, 2, 3)),
    ("markov", dict(k=4, order=1, concentration=0.2), (1,)),  # far from uniform over contexts
    ("sticky", {}, (1,)),
    ("lagged_sum", {}, (3, 7)),
    ("lcg", {}, (1,)),
    ("lagged_add", {}, (5, 17)),
])
def test_empirical_entropy_and_top1_match_the_stated_rate(kind, params, lags):
    values, info = generate(kind, 500_000, seed=7, **params)
    entropy, top1 = plugin(values, lags)
    assert values.dtype == np.uint16 and values.max() < info.alphabet
    assert abs(entropy - info.entropy_rate) < 0.02
    assert abs(top1 - info.ideal_top1) < 0.01


def test_stated_rates_have_their_closed_forms():
    assert generate("die", 10, k=8)[1].entropy_rate == pytest.approx(3.0)
    _, info = generate("sticky", 10, k=4, p=0.2)
    same, other = 0.2 + 0.8 / 4, 0.8 / 4
    assert info.ideal_top1 == pytest.approx(same)
    assert info.entropy_rate == pytest.approx(-same * np.log2(same) - 3 * other * np.log2(other))
    _, info = generate("lagged_sum", 10, noise=0.2)
    assert info.entropy_rate == pytest.approx(-0.8 * np.log2(0.8) - 0.2 * np.log2(0.1)) and info.ideal_top1 == 0.8
    _, info = generate("biased_die", 10, k=2, weights=[1, 3])
    assert info.params["weights"] == [0.25, 0.75] and info.ideal_top1 == 0.75


def test_generate_is_reproducible_from_the_seed():
    a, info_a = generate("markov", 10_000, seed=3)
    b, info_b = generate("markov", 10_000, seed=3)
    assert np.array_equal(a, b) and info_a == info_b
    assert not np.array_equal(a, generate("markov", 10_000, seed=4)[0])


def test_lcg_follows_its_recurrence_with_a_full_period():
    values, info = generate("lcg", 70_000, seed=5)
    x = values.astype(np.int64)
    assert np.array_equal(x[1:], (25173 * x[:-1] + 13849) % 65536)
    assert len(np.unique(values[:65536])) == 65536 and info.entropy_rate == 0.0


def test_lagged_add_follows_its_recurrence_and_keeps_the_low_bit_alive():
    values, info = generate("lagged_add", 50_000, seed=0, a=24, b=55)
    x = values.astype(np.int64)
    assert np.array_equal(x[55:], (x[31:-24] + x[:-55]) % 65536)
    assert (info.entropy_rate, info.ideal_top1, info.alphabet) == (0.0, 1.0, 65536)
    assert 0.45 < (x % 2).mean() < 0.55  # the first seed value is odd, so the lowest bit does not die out
    with pytest.raises(ConfigError, match="a < b < 64"):
        generate("lagged_add", 10, a=5, b=64)


def test_markov_generates_two_million_values_in_seconds():
    t0 = time.perf_counter()
    values, _ = generate("markov", 2_000_000)
    assert len(values) == 2_000_000 and time.perf_counter() - t0 < 5


def test_unknown_kinds_and_parameters_are_refused():
    with pytest.raises(ConfigError, match="unknown source kind 'coin'"):
        generate("coin", 10)
    with pytest.raises(ConfigError, match="no parameter faces"):
        generate("die", 10, faces=6)
    with pytest.raises(ConfigError, match="k >= 3"):
        generate("lagged_sum", 10, k=2)


def test_make_stream_writes_a_u16_file_and_returns_json_ready_info(tmp_path):
    info = make_stream(tmp_path / "sub" / "m.u16", "biased_die", 10_000, seed=2)
    assert np.array_equal(open_u16(tmp_path / "sub" / "m.u16"), generate("biased_die", 10_000, seed=2)[0])
    assert json.loads(json.dumps(info.to_dict())) == info.to_dict()


def test_make_sample_writes_the_built_in_stream(tmp_path):
    info = make_sample(tmp_path / "sample.u16")
    values = open_u16(tmp_path / "sample.u16")
    assert len(values) == SAMPLE["n"] and info.kind == "lagged_sum"
    assert info.params == dict(k=8, a=3, b=7, noise=0.2)
    assert abs(plugin(values, (3, 7))[0] - info.entropy_rate) < 0.01


def test_write_u16_refuses_values_outside_16_bits(tmp_path):
    with pytest.raises(DataError, match="outside uint16"):
        write_u16(tmp_path / "x.u16", np.array([0, 70_000]))
