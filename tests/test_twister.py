"""MT19937 behind a die: the whole state recovered from one bit plane of the throws in each layout programs use,
nothing found where MT19937 did not make the throws, and the predictor's exact probabilities and causality."""
import math
import random

import numpy as np
import pytest
import torch

from seqlib.baselines import TwisterPredictor
from seqlib.errors import CheckpointError, DataError
from seqlib.linear import scan
from seqlib.sources import generate
from seqlib.tokenize import fit_tokenizer
from seqlib import twister
from seqlib.twister import N, Twister, find_twister, mt19937_64_outputs, recover

from conftest import windows_for


def python_dice(layout: str, faces: int, low: int, n: int, seed: int = 20_261_202) -> np.ndarray:
    """n throws as programs make them from Python's own MT19937 (an emulation independent of seqlib's)."""
    rng = random.Random(seed)
    throw = {"mod": lambda: rng.getrandbits(32) % faces,  # mt() % d
             "scaled": lambda: (rng.getrandbits(32) * faces) >> 32,  # libstdc++'s uniform_int_distribution
             "float": lambda: int(rng.random() * faces)}[layout]  # Python's int(random() * d)
    return np.array([low + throw() for _ in range(n)], np.int64)


def mt19937_64(seed: int):
    """The outputs of MT19937-64 after init_genrand64(seed), in plain Python (Matsumoto and Nishimura's reference)."""
    mask = (1 << 64) - 1
    mt = [seed]
    for i in range(1, 312):
        mt.append((6364136223846793005 * (mt[-1] ^ (mt[-1] >> 62)) + i) & mask)
    while True:
        for i in range(312):
            y = (mt[i] & 0xFFFFFFFF80000000) | (mt[(i + 1) % 312] & 0x7FFFFFFF)
            mt[i] = mt[(i + 156) % 312] ^ (y >> 1) ^ (0xB5026F5AA96619E9 if y & 1 else 0)
        for y in mt:
            y ^= (y >> 29) & 0x5555555555555555
            y ^= (y << 17) & 0x71D67FFFEDA60000
            y ^= (y << 37) & 0xFFF7EEE000000000
            yield (y ^ (y >> 43)) & mask


def test_the_reference_emulation_of_mt19937_64_gives_the_value_the_cpp_standard_requires():
    outputs = mt19937_64(5489)  # std::mt19937_64's default seed; [rand.predef]: its 10000th output
    assert [next(outputs) for _ in range(10_000)][-1] == 9_981_545_732_273_789_042


def test_mt19937_64_outputs_in_numpy_match_the_reference_for_any_seed():
    for seed in (5489, 0, 2**64 - 1):
        reference = mt19937_64(seed)
        assert mt19937_64_outputs(seed, 1000).tolist() == [next(reference) for _ in range(1000)]


@pytest.mark.parametrize("layout, faces", [("mod", 6), ("scaled", 20)])
def test_dice_of_mt19937_64_are_found_and_predict_every_throw(layout, faces):
    outputs = mt19937_64(7)
    x = [next(outputs) for _ in range(30_000)]
    values = np.array([1 + (v % faces if layout == "mod" else (v * faces) >> 64) for v in x], np.int64)
    found = find_twister(values)
    assert (found.generator, found.layout, found.faces, found.misses) == ("mt19937_64", layout, faces, 0)
    predicted, _, _ = found.window(values[3_000:], 3_000, None)
    assert (predicted[N - 1:] == values[3_000 + N - 1:]).all()
    assert "of the Mersenne Twister MT19937-64 (hint: " in found.describe()


@pytest.mark.parametrize("layout, faces, low", [("mod", 6, 1), ("scaled", 20, 1), ("float", 6, 1), ("mod", 100, 0),
                                                ("scaled", 12, 0)])
def test_each_layout_of_mersenne_twister_dice_is_found_and_predicts_every_throw(layout, faces, low):
    values = python_dice(layout, faces, low, 30_000)
    found = find_twister(values)
    assert (found.generator, found.layout, found.faces, found.low, found.misses) == ("mt19937", layout, faces, low, 0)
    assert found.n_check == 30_000 - N
    predicted, usable, _ = found.window(values[5_000:], 5_000, None)  # a recovery from any place
    assert usable == found.look == N + 64  # the state from N values, checked on 64 more
    assert (predicted[N - 1:] == values[5_000 + N - 1:]).all() and (predicted[:N - 1] == -1).all()


def test_the_description_names_the_layout_and_the_program_that_throws_so():
    found = find_twister(python_dice("scaled", 20, 1, 25_000))
    assert found.describe().startswith(
        "the values are 1 + floor(20 x / 2^32) of the outputs x of the Mersenne Twister MT19937 (hint: C++'s "
        "uniform_int_distribution over std::mt19937 in libstdc++, or genrand_real2() * 20): its state is recovered "
        "from 19,937 values and predicts every later one (5,063 of the 5,063 after")


@pytest.mark.parametrize("values", [
    np.random.default_rng(0).integers(1, 7, 25_000),  # a fair die
    python_dice("mod", 6, 1, 25_000) % 5,  # MT19937's outputs modulo 6, then 5: no bit of an output left whole
    python_dice("mod", 7, 1, 25_000),  # an odd die: no bit plane of the outputs in its throws
    python_dice("mod", 6, 1, 15_000),  # too short for a recovery and its check
])
def test_nothing_is_found_where_mersenne_twister_does_not_make_the_throws(values):
    assert find_twister(values) is None


def test_a_scan_without_a_plane_of_mt19937_s_degree_skips_the_search():
    values = python_dice("scaled", 20, 1, 50_000)
    assert find_twister(values, scan(values)) is not None
    assert find_twister(values, scan(np.random.default_rng(1).integers(1, 21, 50_000))) is None


def test_make_stream_throws_each_layout_as_the_programs_do():
    for layout in ("mod", "scaled", "float"):
        values, info = generate("mt19937", 25_000, seed=3, output=layout, faces=10, low=1)
        found = find_twister(values)
        assert (found.layout, found.faces, found.misses, info.alphabet) == (layout, 10, 0, 10)


def test_the_predictor_puts_one_minus_eps_on_the_generator_s_face_and_reads_only_the_past():
    values = python_dice("mod", 6, 1, 40_000)
    found, tokenizer = find_twister(values[:25_000]), fit_tokenizer(values, "exact")
    start, seq_len = np.array([30_000]), 64  # a window after the training block: its state from the N values before
    probs = TwisterPredictor(found, tokenizer).predict(windows_for(values, tokenizer, start, seq_len)).dense()
    first = 30_000 + seq_len // 2 + 1  # the first row's target
    truth = torch.from_numpy(tokenizer.encode(values[first:30_000 + seq_len + 1]))
    assert torch.allclose(probs[:, 0].exp()[torch.arange(len(truth)), truth],
                          torch.full((len(truth),), 1 - found.eps + found.eps / 6), atol=1e-5)
    changed = values.copy()
    changed[first + 6] = changed[first + 6] % 6 + 1  # the target of the seventh row
    after = TwisterPredictor(found, tokenizer).predict(windows_for(changed, tokenizer, start, seq_len)).dense()
    torch.testing.assert_close(after[:7], probs[:7], atol=0, rtol=0)  # its own row and the rows before it
    torch.testing.assert_close(after[7:, :, :6], torch.full_like(after[7:, :, :6], -math.log(6)), atol=1e-5, rtol=0)


@pytest.fixture
def recoveries(monkeypatch):
    """The number of state recoveries so far, counted as they happen."""
    count = [0]

    def counted(*args):
        count[0] += 1
        return recover(*args)

    monkeypatch.setattr(twister, "_recovered", counted)
    return count


def hits(predictor, values, tokenizer, starts) -> torch.Tensor:
    """P(the true value) of every row of the windows at starts."""
    windows = windows_for(values, tokenizer, np.asarray(starts))
    probs = predictor.predict(windows).dense()[:, 0].exp()
    return probs[torch.arange(len(probs)), torch.from_numpy(tokenizer.encode(windows.target_values[:, 0]))]


def test_windows_after_the_first_are_stepped_ahead_and_a_stream_that_leaves_is_predicted_uniformly(recoveries):
    values = python_dice("scaled", 12, 0, 40_000)
    found, tokenizer = find_twister(values[:25_000]), fit_tokenizer(values, "exact")
    recoveries[0] = 0
    p = hits(TwisterPredictor(found, tokenizer), values, tokenizer, [N + 100, N + 108, 30_000, 39_000])  # overlap, gaps
    assert recoveries[0] == 1  # the first window's; the others stepped ahead
    assert torch.allclose(p, torch.full_like(p, 1 - found.eps + found.eps / 12), atol=1e-5)
    dice = np.random.default_rng(3).integers(0, 12, 40_000)  # a stream the generator did not make
    p = hits(TwisterPredictor(found, tokenizer), dice, tokenizer, np.arange(30_000, 30_320, 32))
    assert recoveries[0] == 11 and torch.allclose(p, torch.full_like(p, 1 / 12), atol=1e-5)  # each window tried


def test_a_stream_reseeded_in_the_searched_block_counts_one_miss():
    values = np.concatenate([python_dice("mod", 6, 1, 30_000, seed=1), python_dice("mod", 6, 1, 10_000, seed=2)])
    found = find_twister(values)
    assert (found.misses, found.n_check) == (1, 30_000 - N + 1)  # up to the reseed and its first miss, not after


def test_a_reseeded_stream_and_a_window_too_far_ahead_are_recovered_anew(recoveries, monkeypatch):
    values = np.concatenate([python_dice("mod", 6, 1, 30_000, seed=1), python_dice("mod", 6, 1, 100_000, seed=2)])
    found, tokenizer = find_twister(values[:25_000]), fit_tokenizer(values, "exact")
    predictor, exact = TwisterPredictor(found, tokenizer), 1 - found.eps + found.eps / 6
    p = hits(predictor, values, tokenizer, [28_000, 30_000 + N + 100])  # the second window after the reseed
    assert torch.allclose(p, torch.full_like(p, exact), atol=1e-5)
    monkeypatch.setattr(twister, "MAX_JUMP", 1_000)
    recoveries[0] = 0
    p = hits(predictor, values, tokenizer, [85_000, 110_000])  # each one's 20,001 values past the last state's
    assert recoveries[0] == 2 and torch.allclose(p, torch.full_like(p, exact), atol=1e-5)


def test_a_window_without_n_values_before_it_is_not_predicted():
    values = python_dice("mod", 6, 1, 30_000)
    found, tokenizer = find_twister(values), fit_tokenizer(values, "exact")
    probs = TwisterPredictor(found, tokenizer).predict(windows_for(values, tokenizer, np.array([100]))).dense()
    torch.testing.assert_close(probs[:, :, :6].exp(), torch.full_like(probs[:, :, :6], 1 / 6), atol=1e-5, rtol=0)


def test_bad_inputs_are_refused_in_one_line():
    with pytest.raises(DataError, match="an MT19937 search needs a 1-D array of integer values"):
        find_twister(np.zeros((2, 3), np.int64))
    with pytest.raises(CheckpointError, match="not a Twister dict"):
        Twister.from_dict({"layout": "mod"})
    found = Twister("mod", 6, 1, 10, 0, "mt19937_64")
    assert Twister.from_dict(found.to_dict()) == found
