"""Lagged sums modulo 2^16: the search on generators with known lags, nothing on random values, the residual
distribution's exact values, and the predictor's causality and probabilities for every lossless tokenizer."""
import math

import numpy as np
import pytest
import torch

from seqlib.baselines import LaggedSumPredictor
from seqlib.errors import CheckpointError, DataError
from seqlib.evaluate import Windows
from seqlib.lagged import LAGGED_LINEAR, LaggedSum, Residuals, _modulus, find_lagged_sum
from seqlib.linear import scan
from seqlib.sources import generate
from seqlib.tokenize import fit_tokenizer


def glibc_like(n: int, seed: int = 1) -> np.ndarray:
    """The low 16 bits of r >> 1 for r[i] = r[i-3] + r[i-31] mod 2^32 (glibc random()'s recurrence)."""
    return generate("lagged_add", n, seed=seed, a=3, b=31, m=2**32, shift=1)[0]


def subtractive(n: int, seed: int = 2) -> np.ndarray:
    """Bits 8-23 of x[t] = x[t-55] - x[t-24] mod 2^32: a borrow of 0 or 1 from the bits below."""
    x = [int(v) for v in np.random.default_rng(seed).integers(0, 2**32, 55)] + [0] * n
    for t in range(55, n + 55):
        x[t] = (x[t - 55] - x[t - 24]) % 2**32
    return ((np.array(x[55:], dtype=np.uint64) >> np.uint64(8)) & np.uint64(0xFFFF)).astype(np.uint16)


def test_search_finds_the_lags_and_the_carry_of_an_additive_lagged_generator():
    found = find_lagged_sum(glibc_like(60_000))
    assert (sorted(found.lags), found.signs) == ([3, 31], [1, 1])
    assert sorted(found.residuals.values[:2]) == [0, 1] and sum(found.residuals.probs[:2]) > 0.999
    # the carry out of bit 0 of the state is 1 when both bits are: a quarter of the time, so H = H(1/4) = 0.811
    assert abs(found.check_bits - 0.811) < 0.03 and found.values_bits > 15.5
    text = found.describe()
    assert text.startswith("the values obey x[t] = x[t-31] + x[t-3] + r (mod 2^16) with r in {0, 1}")
    assert "additive lagged Fibonacci generator" in text and "from the 31 before it" in text


def glibc_dice(n: int, seed: int = 3) -> np.ndarray:
    """rand() % 6 + 1 of glibc's additive generator: r[i] = r[i-3] + r[i-31] mod 2^32, each die r >> 1 mod 6, plus 1."""
    r = [int(v) | 1 for v in np.random.default_rng(seed).integers(0, 2**32, 31)] + [0] * n
    for t in range(31, n + 31):
        r[t] = (r[t - 3] + r[t - 31]) % 2**32
    return np.array([(x >> 1) % 6 + 1 for x in r[31:]], dtype=np.uint16)


def test_dice_taken_modulo_six_of_an_additive_generator_obey_the_sum_modulo_six():
    # o = r >> 1 gains a carry c (1 in 4) and loses 2^31 on a wrap w (1 in 2): modulo 6, o[t] - o[t-3] - o[t-31] =
    # c - 2w (2^31 = 2 mod 6), and with the faces 1..6 the residual of the values is c - 2w - 1: {-1, 0, -3, -2}
    found = find_lagged_sum(glibc_dice(60_000))
    assert (sorted(found.lags), found.signs, found.modulus, found.low) == ([3, 31], [1, 1], 6, 1)
    assert sorted(found.common()[0]) == [-2, -1, 0, 3] and found.common()[1] == pytest.approx(1.0, abs=1e-3)
    h = -(2 * 3 / 8 * math.log2(3 / 8) + 2 * 1 / 8 * math.log2(1 / 8))  # 1.811 bits against log2(6) = 2.585
    assert abs(found.check_bits - h) < 0.03 and abs(found.values_bits - math.log2(6)) < 0.01
    assert found.describe().startswith("the values obey x[t] = x[t-31] + x[t-3] + r (mod 6) with r in {-2, -1, 0, 3}")


@pytest.mark.parametrize("values, expected", [
    ([1, 2, 3, 4, 5, 6, 6], (6, 1)),  # every face seen: a die wraps at its faces
    ([1, 2, 3, 5, 6], (8, 0)),  # a face never seen: the power of two above the largest value
    ([0, 7, 65_000], (65_536, 0)),  # 16-bit values need not show 0 and 65,535
    ([3, 32_767], (32_768, 0)),  # 15-bit rand()
])
def test_the_modulus_is_the_alphabet_when_complete_else_the_power_of_two_above(values, expected):
    assert _modulus(np.array(values, dtype=np.int64)) == expected


def test_the_predictor_over_die_faces_gives_each_face_the_residual_probability_modulo_six():
    values = glibc_dice(30_000)
    found, tokenizer = find_lagged_sum(values[:20_000]), fit_tokenizer(values, "exact")
    windows = windows_for(values, tokenizer, np.array([25_000, 26_000]), seq_len=64)
    probs = LaggedSumPredictor(found, tokenizer).predict(windows).dense()[:, 0].exp()
    x = values.astype(np.int64)
    base = (x[windows.positions - 3] + x[windows.positions - 31]) % 6
    r = dict(zip(found.residuals.values, found.residuals.probs))
    for face in range(1, 7):
        expected = torch.tensor([r.get((face - b) % 6, 0.0) + found.residuals.escape / 6 for b in base],
                                dtype=torch.float32)
        token = tokenizer.encode(np.array([face]))[0]
        torch.testing.assert_close(probs[:, token], expected, atol=1e-5, rtol=0)


def test_search_finds_a_subtraction_with_a_borrow_at_lags_beyond_the_model_window():
    found = find_lagged_sum(subtractive(40_000))
    assert dict(zip(found.lags, found.signs)) == {55: 1, 24: -1}
    assert sorted(found.common()[0]) == [-1, 0] and found.check_bits < 1.01
    assert "x[t] = x[t-55] - x[t-24] + r" in found.describe() and "subtractive" in found.describe()


def test_search_finds_a_weyl_sequence_as_one_lag_with_a_constant_residual():
    found = find_lagged_sum(((np.arange(30_000) * 40503 + 7) & 0xFFFF).astype(np.uint16))
    assert (found.lags, found.signs, found.common()) == ([1], [1], ([40503 - 65536], pytest.approx(1.0, abs=1e-4)))
    assert "counter or Weyl sequence" in found.describe()


@pytest.mark.parametrize("values", [
    np.random.default_rng(0).integers(0, 65536, 50_000),  # random 16-bit values
    np.random.default_rng(1).integers(0, 6, 50_000),  # a fair die: every residual of few values, none informative
    generate("mt19937", 50_000, seed=2)[0],  # linear over GF(2), but no sum of two earlier values
], ids=["random", "die", "mt19937"])
def test_search_finds_nothing_where_no_lagged_sum_holds(values):
    assert find_lagged_sum(values.astype(np.uint16)) is None


def test_search_needs_enough_values_and_integer_input():
    assert find_lagged_sum(glibc_like(2_000)) is None  # fewer than MIN_POSITIONS past the longest lag
    with pytest.raises(DataError, match="1-D array of integer values"):
        find_lagged_sum(np.zeros(10_000))


def test_residuals_count_the_most_frequent_values_and_keep_the_escape_mass_above_zero():
    r = Residuals.fit(np.array([0, 0, 0, 65535]))
    assert (r.values, r.probs, r.escape) == ([0, 65535], [3 / 5, 1 / 5], 1 / 5)
    np.testing.assert_allclose(r.bits(np.array([0, 65535, 7])),
                               [-math.log2(3 / 5 + 1 / 5 / 65536), -math.log2(1 / 5 + 1 / 5 / 65536),
                                -math.log2(1 / 5 / 65536)])
    floor = 1 / 5 / 65536
    expected = -sum(p * math.log2(p) for p in (3 / 5 + floor, 1 / 5 + floor)) - 65534 * floor * math.log2(floor)
    assert r.entropy() == pytest.approx(expected, rel=1e-12)
    assert LaggedSum(**{**found_dict(), "lags": [2]}).common() == ([0, -1], pytest.approx(4 / 5))


def found_dict() -> dict:
    return {"lags": [1], "signs": [1], "residuals": Residuals([0, 65535], [3 / 5, 1 / 5], 1 / 5), "n_fit": 4,
            "check_bits": 1.0, "values_bits": 16.0, "n_check": 2}


def test_a_lagged_sum_survives_to_dict_and_refuses_a_foreign_dict():
    found = find_lagged_sum(glibc_like(20_000))
    assert LaggedSum.from_dict(found.to_dict()) == found
    with pytest.raises(CheckpointError, match="not a LaggedSum dict"):
        LaggedSum.from_dict({"lags": [3]})
    old = found.to_dict()  # a checkpoint written before sums had a modulus: 16-bit words
    del old["modulus"], old["low"], old["residuals"]["size"]
    assert LaggedSum.from_dict(old) == found and found.modulus == 65_536


def windows_for(values: np.ndarray, tokenizer, starts: np.ndarray, seq_len: int = 16, heads: int = 1) -> Windows:
    raw = values[starts[:, None] + np.arange(seq_len + heads)]
    return Windows(values, starts, raw, torch.from_numpy(tokenizer.encode(raw)), seq_len, heads, 8)


@pytest.mark.parametrize("kind", ["bytes16", "bits16"])
def test_the_predictor_gives_each_value_exactly_the_residual_probability_of_its_offset(kind):
    values = glibc_like(30_000)
    found, tokenizer = find_lagged_sum(values[:20_000]), fit_tokenizer(values, kind)
    windows = windows_for(values, tokenizer, np.array([25_000, 26_000]))
    pred = LaggedSumPredictor(found, tokenizer).predict(windows)
    x = values.astype(np.int64)
    p = windows.positions
    base = (x[p - 3] + x[p - 31]) & 0xFFFF
    r = found.residuals
    for offset in (0, 1, 2, 5000):  # the carries 0 and 1, then two values only the escape mass reaches
        target = torch.from_numpy(tokenizer.encode((base + offset) & 0xFFFF))[:, None]
        expected = math.log(dict(zip(r.values, r.probs)).get(offset, 0.0) + r.escape / 65536)
        torch.testing.assert_close(pred.log_prob(target)[:, 0], torch.full((len(p),), expected), atol=1e-5, rtol=0)
    assert torch.allclose(pred.dense().exp().sum(-1), torch.ones(len(p), 1), atol=1e-4)


def test_the_predictor_over_exact_tokens_puts_the_mass_on_the_tokens_of_the_sum():
    # x[t] = x[t-5] + x[t-17] mod 16: 16 tokens, period 8 (2^17 - 1) (lags (2, 5) would repeat after 248 values, and
    # the search would rightly prefer x[t] = x[t-248]); all 16 values seen, so the sums wrap at 16: r = 0 always
    values = generate("lagged_add", 30_000, seed=4, m=16)[0]
    found, tokenizer = find_lagged_sum(values[:20_000]), fit_tokenizer(values, "exact")
    assert tokenizer.kind == "exact" and sorted(found.lags) == [5, 17]
    assert found.common() == ([0], pytest.approx(1.0, abs=1e-4))
    assert found.equation() == "x[t] = x[t-17] + x[t-5] + r (mod 16)"
    windows = windows_for(values, tokenizer, np.array([25_000]))
    truth = tokenizer.encode(values[windows.positions])
    for linear in (None, scan(values[:20_000])):  # alone, and with its linear lowest plane (L = 17)
        probs = LaggedSumPredictor(found, tokenizer, linear).predict(windows).dense()[:, 0].exp()
        assert (probs[torch.arange(len(truth)), truth] > 0.99).all() and torch.allclose(probs.sum(-1), torch.ones(1))


def test_the_predictor_reads_only_the_values_before_each_position():
    values = glibc_like(30_000)
    found, tokenizer = find_lagged_sum(values[:20_000]), fit_tokenizer(values, "bytes16")
    predictor = LaggedSumPredictor(found, tokenizer)
    start = np.array([25_000])
    before = predictor.predict(windows_for(values, tokenizer, start)).dense()
    changed = values.copy()
    changed[25_012] ^= 0x5A5A  # the target of the fourth scored row (rows predict 25,009..25,016)
    after = predictor.predict(windows_for(changed, tokenizer, start)).dense()
    torch.testing.assert_close(after[:6], before[:6], atol=0, rtol=0)  # its own row, and the rows before and after
    assert not torch.equal(after[6], before[6])  # 25,015 = 25,012 + 3 reads it


def test_a_head_beyond_the_shortest_lag_and_a_segment_without_a_sum_predict_chance():
    values = generate("lagged_add", 30_000, seed=5)[0]  # x[t] = x[t-5] + x[t-17] mod 2^16, exactly
    found, tokenizer = find_lagged_sum(values[:20_000]), fit_tokenizer(values, "bytes16")
    windows = windows_for(values, tokenizer, np.array([25_000]), heads=6)
    logp = LaggedSumPredictor(found, tokenizer).predict(windows).log_prob(windows.targets)
    assert (logp[:, :5] > -1e-3).all()  # heads 1-5: every lag is at least the head, so the value is known
    torch.testing.assert_close(logp[:, 5], torch.full((8,), -16 * math.log(2)))  # head 6 would need x[t-5] unseen
    uniform = LaggedSumPredictor(None, tokenizer).predict(windows).log_prob(windows.targets)
    torch.testing.assert_close(uniform, torch.full((8, 6), -16 * math.log(2)))


@pytest.mark.parametrize("kind", ["bytes16", "bits16"])
def test_the_product_with_a_linear_low_bit_fixes_the_carry_with_exact_normalised_probabilities(kind):
    values = glibc_like(60_000)
    found, linear = find_lagged_sum(values[:50_000]), scan(values[:50_000])
    assert linear.linear_planes == [0]  # the state's bit 1, L = 527: it tells whether a carry came from below
    tokenizer = fit_tokenizer(values, kind)
    windows = windows_for(values, tokenizer, np.array([55_000]))
    predictor = LaggedSumPredictor(found, tokenizer, linear)
    pred = predictor.predict(windows)
    assert predictor.name == LAGGED_LINEAR and (pred.log_prob(windows.targets) > -0.01).all()
    dense = pred.dense()[:, 0].exp()
    torch.testing.assert_close(dense.sum(-1), torch.ones(len(dense), dtype=torch.float32))
    # P(v) = (q_r + escape / 65,536) f(v) / Z at v = base + r, f(v) = 2 P(bit 0 of v) from the recurrence
    x, p = values.astype(np.int64), windows.positions
    base = (x[p - 3] + x[p - 31]) & 0xFFFF
    bit0 = linear.predict_bits(values, p)[0] & 1
    eps = linear.planes[0].eps
    r = found.residuals
    f = {v: np.where(((base + v) & 1) == bit0, 2 * (1 - eps), 2 * eps) for v in r.values}
    Z = sum(q * f[v] for v, q in zip(r.values, r.probs)) + r.escape
    for v, q in zip(r.values, r.probs):
        expected = (q + r.escape / 65536) * f[v] / Z
        got = dense[torch.arange(len(p)), torch.from_numpy(tokenizer.encode((base + v) & 0xFFFF))]
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-4)
