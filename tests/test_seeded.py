"""Seeded library calls: each replay makes the call's values; a stream from a seed on the list is found at its offset,
one seeded from the operating system or not drawn uniformly is not; the predictor follows the replay until the
stream leaves it; the verdict and predict name the call."""
import math
import os
import random

import numpy as np
import pytest
import torch

from seqlib.baselines import SeededPredictor
from seqlib.errors import CheckpointError
from seqlib.evaluate import evaluate
from seqlib.predict import format_prediction, predict
from seqlib.seeded import APIS, CHUNK, SEED_REPLAY, Seeded, _Replay, find_seeded
from seqlib.sources import write_u16
from seqlib.tokenize import fit_tokenizer

from conftest import tiny_checkpoint, windows_for


def python_randint(seed: int, n: int, lo: int, hi: int) -> np.ndarray:
    r = random.Random(seed)
    return np.array([r.randint(lo, hi) for _ in range(n)], np.int64)


def called(api: str, seed: int, n: int, lo: int, hi: int) -> np.ndarray:
    """The library call itself, all n values at once."""
    d = hi - lo + 1
    if api.startswith("Python") and "random()" in api:
        r = random.Random(seed)
        return np.array([lo + int(r.random() * d) for _ in range(n)], np.int64)
    if api.startswith("Python"):
        return python_randint(seed, n, lo, hi)
    if "random_sample()" in api:
        return (np.random.RandomState(seed).random_sample(n) * d).astype(np.int64) + lo
    if "random()" in api:
        return (np.random.default_rng(seed).random(n) * d).astype(np.int64) + lo
    kw = {"dtype": np.uint16} if "uint16" in api else {}
    if "RandomState" in api:
        return np.random.RandomState(seed).randint(lo, hi + 1, size=n, **kw).astype(np.int64)
    bits = {"default_rng": np.random.PCG64, "PCG64DXSM": np.random.PCG64DXSM, "Philox": np.random.Philox,
            "SFC64": np.random.SFC64}[next(k for k in ("default_rng", "PCG64DXSM", "Philox", "SFC64") if k in api)]
    return np.random.Generator(bits(seed)).integers(lo, hi + 1, size=n, **kw).astype(np.int64)


@pytest.mark.parametrize("api", sorted(APIS))
def test_each_replay_makes_its_calls_values_across_its_chunks(api):
    for lo, hi in [(0, 65535)] + ([] if APIS[api][1] else [(1, 6)]):
        n = CHUNK + 5_000
        assert np.array_equal(_Replay(api, 3, lo, hi).at(0, n), called(api, 3, n, lo, hi)), (lo, hi)


def test_a_replay_skips_ahead_and_looks_back_by_starting_again():
    api = "NumPy's default_rng({seed}).integers({lo}, {stop})"
    replay, truth = _Replay(api, 5, 1, 6), called(api, 5, 41 * CHUNK, 1, 6)
    assert np.array_equal(replay.at(2 * CHUNK, 100), truth[2 * CHUNK:2 * CHUNK + 100])
    far = 38 * CHUNK + 17  # past KEEP: the chunks before it are drawn and dropped
    assert np.array_equal(replay.at(far, 2 * CHUNK), truth[far:far + 2 * CHUNK])
    assert np.array_equal(replay.at(10, 100), truth[10:110])


@pytest.mark.parametrize("values, call, offset", [
    (python_randint(42, 20_000, 1, 6), "Python's random.Random(42).randint(1, 6)", 0),
    (np.random.default_rng(1234).integers(0, 65536, 20_005, dtype=np.uint16)[5:].astype(np.int64),
     "NumPy's default_rng(1234).integers(0, 65536, dtype=np.uint16)", 5),
    (np.random.RandomState(7).randint(1, 21, 20_000), "NumPy's RandomState(7).randint(1, 21)", 0),
    ((np.random.default_rng(2024).random(20_000) * 3).astype(np.int64), "NumPy's int(default_rng(2024).random() * 3)",
     0)])
def test_a_seeded_call_is_found_at_its_offset_and_predicts_every_value(values, call, offset):
    found = find_seeded(values)
    assert (found.call, found.offset, found.misses) == (call, offset, 0)
    assert found.n_check == len(values) - found.look


def test_nothing_is_found_without_a_listed_seed_a_uniform_draw_or_the_files_first_value():
    assert find_seeded(np.random.default_rng().integers(1, 7, 20_000)) is None  # seeded from the operating system
    assert find_seeded(np.frombuffer(os.urandom(40_000), "<u2").astype(np.int64)) is None
    assert find_seeded(python_randint(1_000_003, 20_000, 1, 6)) is None  # a seed not on the list
    loaded = np.minimum(python_randint(42, 20_000, 1, 7), 6)  # a 7th face read as a 6: the 6 comes up twice as often
    assert find_seeded(loaded) is None  # not uniform: not searched
    assert find_seeded(python_randint(42, 20_000, 1, 6), start=100) is None  # a replay starts at the file's start


def test_the_predictor_follows_the_replay_until_the_stream_is_reseeded():
    values = np.concatenate([python_randint(9, 30_000, 1, 6), python_randint(10, 10_000, 1, 6)])
    found, tokenizer = find_seeded(values[:20_000]), fit_tokenizer(values, "exact")
    windows = windows_for(values, tokenizer, np.array([25_000, 35_000]))  # before the reseed at 30,000, after it
    truth = torch.from_numpy(tokenizer.encode(windows.target_values))
    log_prob = SeededPredictor(found, tokenizer).predict(windows).log_prob(truth)
    eps = found.eps
    rows = len(log_prob) // 2  # each window's
    torch.testing.assert_close(log_prob[:rows], torch.full((rows, 1), math.log(1 - eps + eps / 6)), atol=1e-6, rtol=0)
    torch.testing.assert_close(log_prob[rows:], torch.full((rows, 1), math.log(1 / 6)), atol=1e-6, rtol=0)


def test_a_seeded_survives_its_dict_and_a_wrong_dict_is_refused_with_the_fix():
    found = Seeded("NumPy's default_rng({seed}).integers({lo}, {stop})", 1, 1, 6, 0, 2_000, 0)
    assert Seeded.from_dict(found.to_dict()) == found
    with pytest.raises(CheckpointError, match="pass the dict that Seeded.to_dict"):
        Seeded.from_dict({"seed": 1})


def test_a_seeded_die_reads_as_its_call_in_the_verdict_and_in_predict(tmp_path):
    values = python_randint(3, 60_000, 1, 6)
    path = tmp_path / "dice.u16"
    write_u16(path, values)
    ckpt = tiny_checkpoint(path, tmp_path / "run")
    result = evaluate(ckpt, path, max_samples=2_000, progress=False, write=False)
    b, v = result["baselines"], result["verdict"]
    assert result["seeded"]["found"]["seed"] == 3
    assert v["explained_by"] == SEED_REPLAY and b[SEED_REPLAY]["heads"][0]["top1"] == 1.0
    assert v["text"].startswith("predictable, and the values are those of Python's random.Random(3).randint(1, 6), "
                                "from its first value on")
    assert (f"seed replay: Python's random.Random(3).randint(1, 6) puts the value at index 55000 at {values[55_000]}"
            in format_prediction(predict(ckpt, path, 55_000)))
