import json
import time

import numpy as np
import pytest
import torch

from seqlib.errors import ConfigError, DataError
from seqlib.sources import generate
from seqlib.tokenize import Tokenizer, auto_rule, binning_loss, fit_tokenizer

rng = np.random.default_rng(0)
WIDE = np.minimum(rng.exponential(2000, 200_000), 65535).astype(np.uint16)  # skewed, thousands of distinct values


def smooth(n: int, seed: int = 0) -> np.ndarray:
    """A slow sine with noise, like a sensor: thousands of distinct values, small steps."""
    t, noise = np.arange(n), np.random.default_rng(seed).normal(0, 300, n)
    return (30000 + 20000 * np.sin(t / 50) + noise).astype(np.uint16)


def ranges(tok):
    return np.array([tok.decode(t) for t in range(tok.n_values)])


def test_exact_round_trip_is_lossless():
    faces = rng.choice(65536, 50, replace=False)
    values = rng.choice(faces, 10_000).astype(np.uint16)
    tok = fit_tokenizer(values)
    tokens = tok.encode(values)
    assert tok.kind == "exact" and tok.n_values == 50 and tokens.dtype == np.int64
    assert [tok.decode(int(t))[0] for t in tokens] == values.tolist()
    assert tok.seen(values).all()


def test_exact_special_tokens_follow_the_data_tokens():
    tok = fit_tokenizer(np.array([3, 17, 17, 40], dtype=np.uint16))
    assert (tok.n_values, tok.unk_token, tok.vocab_size, tok.mask_token) == (3, 3, 4, 4)
    assert [tok.label(t) for t in range(5)] == ["3", "17", "40", "UNK", "MASK"]
    assert tok.decode(1) == (17, 17) and tok.decode(tok.unk_token) == (-1, -1)


def test_auto_picks_exact_for_few_values_and_quantile_for_many_smooth_ones():
    assert fit_tokenizer(rng.integers(0, 100, 10_000).astype(np.uint16)).kind == "exact"
    tok = fit_tokenizer(smooth(100_000), num_bins=64)
    assert tok.kind == "quantile" and tok.n_values == tok.vocab_size == tok.mask_token == 64 and tok.unk_token is None


@pytest.mark.parametrize("kind", ["quantile", "uniform"])
def test_bin_ranges_contain_their_values_and_tile_the_observed_range(kind):
    tok = fit_tokenizer(WIDE, kind=kind, num_bins=100)
    r = ranges(tok)[tok.encode(WIDE)]
    assert (r[:, 0] <= WIDE).all() and (WIDE <= r[:, 1]).all()
    all_ranges = ranges(tok)
    assert all_ranges[0, 0] == WIDE.min() and all_ranges[-1, 1] == WIDE.max()
    assert np.array_equal(all_ranges[1:, 0], all_ranges[:-1, 1] + 1)
    assert tok.label(0) == f"{all_ranges[0, 0]}–{all_ranges[0, 1]}"


def test_uniform_bins_have_equal_width():
    widths = np.diff(ranges(fit_tokenizer(WIDE, kind="uniform", num_bins=64)), axis=1).ravel() + 1
    assert widths.max() - widths.min() <= 1


def test_quantile_bins_are_about_equally_full_on_a_skewed_stream():
    counts = np.bincount(fit_tokenizer(WIDE, kind="quantile", num_bins=32).encode(WIDE), minlength=32)
    uniform = np.bincount(fit_tokenizer(WIDE, kind="uniform", num_bins=32).encode(WIDE), minlength=32)
    assert counts.max() / counts.min() < 1.1
    assert uniform.max() / max(uniform.min(), 1) > 100


def test_heavy_ties_give_no_empty_or_duplicate_bins():
    values = np.where(rng.random(200_000) < 0.5, 0, rng.geometric(0.01, 200_000)).astype(np.uint16)
    tok = fit_tokenizer(values, kind="quantile", num_bins=64)
    counts = np.bincount(tok.encode(values), minlength=tok.n_values)
    assert 50 <= tok.n_values <= 64 and (counts > 0).all()
    assert (np.diff(ranges(tok)[:, 0]) > 0).all()
    assert tok.decode(int(tok.encode(np.array([0]))[0])) == (0, 0)
    rest = counts[1:]  # the bins after the tied value share the other half about equally
    assert rest.max() / rest.min() < 2
    assert fit_tokenizer(np.full(1000, 7, dtype=np.uint16), kind="quantile").n_values == 1


def test_values_unseen_at_fit_time_map_to_unk_or_the_nearest_bin_and_are_counted():
    exact = fit_tokenizer(np.array([10, 20, 30], dtype=np.uint16))
    assert exact.encode(np.array([10, 15, 99])).tolist() == [0, exact.unk_token, exact.unk_token]
    assert (~exact.seen(np.array([10, 15, 99]))).sum() == 2
    for kind in ("quantile", "uniform"):
        tok = fit_tokenizer(np.arange(100, 200, dtype=np.uint16), kind=kind, num_bins=10)
        assert tok.encode(np.array([50, 150, 300])).tolist() == [0, 5, 9]
        assert (~tok.seen(np.array([50, 150, 300]))).sum() == 2


@pytest.mark.parametrize("kind", ["exact", "quantile", "uniform", "bytes16", "bits16"])
def test_tokenizer_round_trips_through_json_and_weights_only_torch_load(tmp_path, kind):
    tok = fit_tokenizer(WIDE, kind=kind, num_bins=50)
    d = tok.to_dict()
    back = Tokenizer.from_dict(json.loads(json.dumps(d)))
    assert (back.kind, back.n_values, back.vocab_size, back.mask_token) == (kind, tok.n_values, tok.vocab_size,
                                                                           tok.mask_token)
    assert np.array_equal(back.lut, tok.lut)
    torch.save({"tokenizer": d}, tmp_path / "t.pt")
    assert torch.load(tmp_path / "t.pt", weights_only=True)["tokenizer"] == d


def test_fit_reads_only_a_sample_of_a_2gb_memmap(tmp_path):
    path = tmp_path / "huge.u16"
    with open(path, "wb") as f:
        f.truncate(2_000_000_000)
    values = np.memmap(path, dtype="<u2", mode="r")
    t0 = time.perf_counter()
    tok = fit_tokenizer(values)
    assert time.perf_counter() - t0 < 5
    assert tok.kind == "exact" and tok.n_values == 1


def test_fit_refuses_unknown_kinds_and_empty_streams():
    with pytest.raises(ConfigError, match="unknown tokenizer kind 'bins'"):
        fit_tokenizer(WIDE, kind="bins")
    with pytest.raises(DataError, match="empty stream"):
        fit_tokenizer(np.array([], dtype=np.uint16))


def test_bytes16_is_lossless_for_every_16_bit_value():
    tok = fit_tokenizer(WIDE, kind="bytes16")
    every = np.arange(65536)
    assert tok.output == "bytes16" and fit_tokenizer(WIDE, kind="quantile").output == "tokens"
    assert (tok.n_values, tok.vocab_size, tok.mask_token, tok.unk_token) == (65536, 65536, 65536, None)
    assert np.array_equal(tok.encode(every.astype(np.uint16)), every) and tok.seen(every).all()
    assert tok.decode(51234) == (51234, 51234) and tok.label(51234) == "51234" and tok.label(65536) == "MASK"
    assert tok.to_dict() == {"kind": "bytes16"}


def test_bits16_is_lossless_and_puts_the_low_byte_first():
    tok = fit_tokenizer(WIDE, kind="bits16")
    every = np.arange(65536)
    tokens = tok.encode(every.astype(np.uint16))
    assert tok.output == "bits16" and tok.byte_names == ("low byte", "high byte")
    assert np.array_equal(tokens // 256, every % 256) and np.array_equal(tokens % 256, every // 256)
    assert np.array_equal(tok.lo[tokens], every) and tok.seen(every).all() and len(np.unique(tokens)) == 65536
    assert tok.label(int(tok.encode(np.array([0x1234]))[0])) == str(0x1234) and tok.label(65536) == "MASK"
    assert tok.byte_names == ("low byte", "high byte") and tok.to_dict() == {"kind": "bits16"}


@pytest.mark.parametrize("kind, params", [("lcg", {}), ("lagged_add", {}), ("lcg", dict(m=4096))])
def test_auto_picks_bytes16_for_generator_output(kind, params):
    values, _ = generate(kind, 100_000, seed=1, **params)
    rule = auto_rule(values)
    assert rule["kind"] == fit_tokenizer(values).kind == "bytes16"
    assert rule["low_bytes"] == 256 and rule["jump"] == pytest.approx(1, abs=0.02)


def test_auto_models_skewed_independent_values_exactly_since_quantile_bins_flatten_them():
    # packed bits of a biased source (each bit 1 w.p. 0.6) and skewed independent draws: equally frequent quantile
    # bins would hide the skew, which is their whole structure
    bits = np.random.default_rng(1).random((100_000, 16)) < 0.6
    for values in ((bits << np.arange(16)).sum(1).astype(np.uint16), WIDE):
        counts = np.bincount(fit_tokenizer(values, kind="quantile").encode(values))
        assert counts.max() / counts.min() < 1.5  # quantile bins: about equally frequent whatever the skew
        rule = auto_rule(values)
        assert rule["kind"] == fit_tokenizer(values).kind == "bytes16" and rule["jump"] > 0.9


def test_a_source_that_mostly_repeats_its_last_value_is_not_smooth():
    values, _ = generate("sticky", 100_000, seed=1, k=4096, p=0.9)  # repeat w.p. 0.9, else a fresh uniform draw
    rule = auto_rule(values)
    assert rule["kind"] == "bytes16" and rule["jump"] == pytest.approx(1, abs=0.05)


def test_jump_is_one_for_independent_values_and_near_zero_for_a_smooth_stream():
    walk = np.cumsum(np.random.default_rng(2).integers(-3, 4, 100_000)) + 30_000
    assert auto_rule(WIDE)["jump"] == pytest.approx(1, abs=0.02)
    assert auto_rule(walk.astype(np.uint16))["jump"] < 0.05


@pytest.mark.parametrize("values, max_vocab, failed", [
    (smooth(100_000), 1024, "smooth"),
    ((np.arange(131_072) % 65536).astype(np.uint16), 1024, "smooth"),  # a counter: every value, but small steps
    (generate("lcg", 100_000, m=256)[0] * 256, 255, "low byte is constant"),
])
def test_auto_bins_measurement_like_streams_and_says_why(values, max_vocab, failed):
    rule = auto_rule(values, max_vocab=max_vocab)
    assert rule["kind"] == fit_tokenizer(values, max_vocab=max_vocab).kind == "quantile"
    assert failed in rule["reason"]


def test_binning_loss_of_an_lcg_is_its_whole_low_byte():
    loss = binning_loss(generate("lcg", 1_000_000, seed=3)[0], num_bins=256)
    assert loss["bins"] == 256 and loss["value_bits"] == pytest.approx(16, abs=0.01)
    assert loss["bits_lost"] == pytest.approx(8, abs=0.05)
    assert loss["top1_value_ceiling"] < 2 / 256  # a perfect bin predictor still guesses the value within its bin
    assert loss["low_byte_bits"] == pytest.approx(8, abs=0.01) and loss["low_byte_bits_given_previous"] < 0.01
    assert binning_loss(np.arange(200, dtype=np.uint16), num_bins=256)["bits_lost"] == pytest.approx(0, abs=1e-9)


def test_bit_signs_average_each_bit_over_the_values_of_a_class():
    signs = Tokenizer("quantile", lo=[0, 4, 5], hi=[3, 4, 7]).bit_signs()
    np.testing.assert_allclose(signs[:, :4], [[0, 0, -1, -1], [-1, -1, 1, -1], [1 / 3, 1 / 3, 1, -1]])
    assert (signs[:, 4:] == -1).all()
    exact = Tokenizer("exact", lo=[6, 9], hi=[6, 9]).bit_signs()
    assert exact[:, :4].tolist() == [[-1, 1, 1, -1], [1, -1, -1, 1], [0, 0, 0, 0]]  # 0110, 1001, UNK
    wide = Tokenizer("bits16").bit_signs()  # token 0x0100 is the value 0x0001
    assert wide[0x0100, 0] == 1 and (wide[0x0100, 1:] == -1).all()


def test_bit_signs_of_a_view_are_the_signs_of_a_die_s_top_bits():
    die = Tokenizer("exact", lo=list(range(1, 7)), hi=list(range(1, 7)))
    signs = die.bit_signs((1, 3))  # (x - 1) // 3: 0 for faces 1-3, 1 for 4-6
    assert signs[:6, 0].tolist() == [-1, -1, -1, 1, 1, 1] and (signs[:6, 1:] == -1).all() and (signs[6:] == 0).all()
    pairs = Tokenizer("quantile", lo=[1, 3, 5], hi=[2, 4, 6]).bit_signs((1, 3))  # the middle bin straddles the halves
    assert pairs[:3, 0].tolist() == [-1, 0, 1]
