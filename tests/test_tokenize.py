import json
import time

import numpy as np
import pytest
import torch

from seqlib.errors import ConfigError, DataError
from seqlib.tokenize import Tokenizer, fit_tokenizer

rng = np.random.default_rng(0)
WIDE = np.minimum(rng.exponential(2000, 200_000), 65535).astype(np.uint16)  # skewed, thousands of distinct values


def ranges(tok):
    return np.array([tok.decode(t) for t in range(tok.n_values)])


def test_exact_round_trip_is_lossless():
    faces = rng.choice(65536, 50, replace=False)
    values = rng.choice(faces, 10_000).astype(np.uint16)
    tok = fit_tokenizer(values)
    tokens = tok.encode(values)
    assert tok.kind == "exact" and tok.n_values == 50 and tokens.dtype == np.int64
    assert [tok.decode(int(t))[0] for t in tokens] == values.tolist()
    assert tok.unseen(values) == 0


def test_exact_special_tokens_follow_the_data_tokens():
    tok = fit_tokenizer(np.array([3, 17, 17, 40], dtype=np.uint16))
    assert (tok.n_values, tok.unk_token, tok.vocab_size, tok.mask_token) == (3, 3, 4, 4)
    assert [tok.label(t) for t in range(5)] == ["3", "17", "40", "UNK", "MASK"]
    assert tok.decode(1) == (17, 17) and tok.decode(tok.unk_token) == (-1, -1)


def test_auto_picks_exact_for_few_values_and_quantile_for_many():
    assert fit_tokenizer(rng.integers(0, 100, 10_000).astype(np.uint16)).kind == "exact"
    tok = fit_tokenizer(WIDE, num_bins=64)
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
    assert exact.unseen(np.array([10, 15, 99])) == 2
    for kind in ("quantile", "uniform"):
        tok = fit_tokenizer(np.arange(100, 200, dtype=np.uint16), kind=kind, num_bins=10)
        assert tok.encode(np.array([50, 150, 300])).tolist() == [0, 5, 9]
        assert tok.unseen(np.array([50, 150, 300])) == 2


@pytest.mark.parametrize("kind", ["exact", "quantile", "uniform"])
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
