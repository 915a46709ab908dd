"""V8's Math.random() behind a die: the xorshift128+ state from the top bits each throw fixes, at any place of the
cache's refills in the file, for even and odd dice; nothing found on dice V8 did not make; the predictor's exact
probabilities; the verdict and predict naming the generator."""
import math

import numpy as np
import pytest
import torch

from seqlib.baselines import LINEAR, XorshiftPredictor
from seqlib.errors import CheckpointError
from seqlib.evaluate import evaluate
from seqlib.linear import scan
from seqlib.predict import format_prediction, predict
from seqlib.sources import write_u16
from seqlib.tokenize import fit_tokenizer
from seqlib.xorshift import XORSHIFT, Xorshift, find_v8, find_xorshift, known_bits

from conftest import tiny_checkpoint, windows_for


def v8_dice(n: int, faces: int = 6, low: int = 1, skip: int = 0, seed: int = 20_261_208) -> np.ndarray:
    """Math.floor(Math.random() * faces) + low as V8 makes it (an emulation independent of seqlib's): xorshift128+
    refills a cache of 64 doubles from state0's top 52 bits and hands them out last first; the first `skip` throws
    are dropped (a file that starts within a refill)."""
    rng = np.random.default_rng(seed)
    s0, s1 = (int(v) | 1 for v in rng.integers(0, 2**63, 2, dtype=np.uint64))
    out = []
    while len(out) < n + skip:
        cache = []
        for _ in range(64):
            x, s0 = s0, s1
            x ^= (x << 23) % 2**64
            x ^= x >> 17
            s1 = x ^ s0 ^ (s0 >> 26)
            cache.append((s0 >> 12) * faces >> 52)
        out += cache[::-1]
    return np.array(out[skip:skip + n], np.int64) + low


@pytest.mark.parametrize("skip, phase", [(0, 0), (17, 47)])
def test_a_v8_die_is_found_at_its_cache_s_place_in_the_file_and_predicted_exactly(skip, phase):
    values = v8_dice(40_000, skip=skip)
    found = find_xorshift(values, scan(values))
    assert (found.faces, found.low, found.phase, found.misses) == (6, 1, phase, 0)
    assert found.n_check == 40_000 - found.look  # every throw after the recovery's
    assert found.describe().startswith("the values are 1 + floor(6 y / 2^52) of the 52-bit values y of V8's "
                                       "Math.random()")


def test_an_even_die_needs_a_plane_of_degree_8192_an_odd_one_none_and_a_power_of_two_is_left_to_the_scan():
    v8 = v8_dice(40_000)
    fair = np.random.default_rng(1).integers(1, 7, 40_000)
    assert find_v8(fair, scan(fair)) is None  # no plane of degree 8,192
    assert find_v8(fair, scan(v8)) is None  # past the gate, no state predicts a fair die
    assert find_v8(v8) is None  # no scan: not searched
    d5 = v8_dice(40_000, faces=5, low=0)
    assert find_v8(d5).faces == 5  # no plane of an odd die is linear: searched without one
    assert find_v8(np.random.default_rng(2).integers(0, 5, 40_000)) is None
    d8 = v8_dice(40_000, faces=8, low=0)
    assert find_v8(d8, scan(d8)) is None  # 8 faces are 3 linear planes, which the scan predicts whole


def test_a_throw_fixes_the_top_bits_its_interval_shares():
    assert [known_bits(3, t) for t in range(3)] == [(1, 0), (0, 0), (1, 1)]  # the middle third straddles 1/2
    assert [known_bits(6, t) for t in range(6)] == [(2, 0), (1, 0), (2, 1), (2, 2), (1, 1), (2, 3)]
    assert all(known_bits(1024, t) == (10, t) for t in range(1024))  # a power of two: its bits


@pytest.mark.parametrize("faces, low", [(3, 0), (37, 1)])
def test_an_odd_die_is_found_from_the_bits_its_throws_fix_and_predicted_exactly(faces, low):
    values = v8_dice(40_000, faces=faces, low=low, skip=9)
    found = find_xorshift(values)
    assert (found.faces, found.low, found.phase, found.misses) == (faces, low, 55, 0)
    assert found.n_check == 40_000 - found.look


def test_the_predictor_gives_v8_s_throw_probability_one_minus_eps_after_a_jump_and_after_a_recovery():
    values = v8_dice(60_000, skip=5)
    found, tokenizer = find_xorshift(values[:40_000], scan(values[:40_000])), fit_tokenizer(values, "exact")
    windows = windows_for(values, tokenizer, np.array([41_000, 41_100, 59_000]))  # recover, jump, recover past
    # MAX_JUMP
    truth = torch.from_numpy(tokenizer.encode(windows.target_values))
    log_prob = XorshiftPredictor(found, tokenizer).predict(windows).log_prob(truth)
    eps = found.eps
    torch.testing.assert_close(log_prob, torch.full(truth.shape, math.log(1 - eps + eps / 6)), atol=1e-6, rtol=0)


def test_an_xorshift_survives_its_dict_and_a_wrong_dict_is_refused_with_the_fix():
    found = Xorshift(6, 1, 47, 2_000, 0)
    assert Xorshift.from_dict(found.to_dict()) == found
    with pytest.raises(CheckpointError, match="pass the dict that Xorshift.to_dict"):
        Xorshift.from_dict({"faces": 6})


def test_a_v8_die_reads_as_v8_s_generator_in_the_verdict_and_in_predict(tmp_path):
    values = v8_dice(60_000)
    path = tmp_path / "v8.u16"
    write_u16(path, values)
    ckpt = tiny_checkpoint(path, tmp_path / "run")
    result = evaluate(ckpt, path, max_samples=2_000, progress=False, write=False)
    b, v = result["baselines"], result["verdict"]
    assert abs(b[LINEAR]["heads"][0]["ce_bits"] - np.log2(3)) < 0.01  # the top bit of 2.585: 1.585 bits left
    assert v["explained_by"] == XORSHIFT and b[XORSHIFT]["heads"][0]["top1"] == 1.0
    assert v["text"].startswith("predictable, and the values are 1 + floor(6 y / 2^52) of the 52-bit values y of V8's "
                                "Math.random()")
    assert (f"xorshift128+ state recovery: V8's Math.random(), its state recovered from the 383 values before index "
            f"55000, puts the value there at {values[55_000]}") in format_prediction(predict(ckpt, path, 55_000))
