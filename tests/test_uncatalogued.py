"""LCGs outside the catalogue: the multiplier, the modulus, the increment and the state read from the values alone,
for every width the search takes, and nothing found on values no LCG made."""
import math

import numpy as np
import pytest
import torch

from seqlib.baselines import CongruentialPredictor
from seqlib.congruential import find_congruential
from seqlib.tokenize import fit_tokenizer
from seqlib.uncatalogued import _multipliers, _value, find_uncatalogued

from conftest import windows_for

RNG = np.random.default_rng(20_261_208)


def top_bits(a: int, c: int, bits: int, width: int, n: int, x: int = 12_345) -> np.ndarray:
    """The top `width` bits of n states of x <- a x + c mod 2^bits, in plain Python integers (uint64)."""
    m, values = 1 << bits, []
    for _ in range(n):
        x = (a * x + c) % m
        values.append(x >> (bits - width))
    return np.array(values, np.uint64)


def constants(bits: int, seed: int = 0) -> tuple[int, int]:
    """A multiplier of 1 mod 4 and an odd increment drawn at random (a full period: Hull and Dobell's conditions),
    constants nobody published; the same for the same arguments, whichever tests run."""
    a, c = (int(v) for v in np.random.default_rng([bits, seed]).integers(0, 1 << min(bits, 63), 2, dtype=np.uint64))
    return a & ~3 | 1, c | 1


def test_vax_s_69069_is_found_with_its_constants_though_no_catalogue_holds_it():
    found = find_congruential(top_bits(69_069, 1, 32, 16, 300_000).astype(np.uint16))  # enough to fix 16 hidden bits
    assert (found.a, found.c, found.m, found.shift, found.width) == (69_069, 1, 1 << 32, 16, 16)
    assert (found.n_check, found.misses) == (128_000, 0)
    assert found.describe().startswith("the values are bits 16-31 of the states of the linear congruential generator "
                                       "x' = 69,069 x + 1 (mod 2^32) (hint: no published generator: its constants "
                                       "were recovered from the values, its modulus is 2^32 or a higher power of two)")


def test_fewer_values_than_the_hidden_bits_need_fix_c_only_as_far_as_they_tell_and_say_so():
    found = find_congruential(top_bits(69_069, 1, 32, 16, 20_000).astype(np.uint16))
    assert found.a == 69_069 and found.c != 1 and found.misses == 0  # another c that gives these 20,000 values
    assert "its 20,000 values fix c only to one of about 2^2 increments that predict them alike" in found.name


@pytest.mark.parametrize("bits, width", [(32, 16), (48, 16), (64, 16), (31, 15), (64, 12), (20, 16)],
                         ids=["2^32", "2^48", "2^64", "15-bit 2^31", "12-bit 2^64", "2^20"])
def test_random_constants_are_recovered_at_every_modulus_and_width(bits, width):
    a, c = constants(bits)
    found = find_congruential(top_bits(a, c, bits, width, 20_000).astype(np.uint16))
    assert (found.a, found.m, found.shift, found.width) == (a % (1 << bits), 1 << bits, bits - width, width)
    assert (found.n_check, found.misses) == (18_000, 0)
    assert found.c == c % (1 << bits) or "fix c only" in found.name


def test_values_that_fix_every_hidden_bit_give_the_generator_s_own_increment():
    a, c = constants(20, seed=4)
    found = find_congruential(top_bits(a, c, 20, 16, 20_000).astype(np.uint16))  # 4 hidden bits, 20,000 values
    assert (found.a, found.c, found.shift) == (a, c, 4) and "fix c only" not in found.name


def test_a_dump_of_32_bit_outputs_is_found_as_pairs_of_values():
    a, c = constants(48, seed=1)
    values = top_bits(a, c, 48, 32, 10_000).astype("<u4").view("<u2")  # little-endian words read as 16-bit values
    found = find_congruential(values)
    assert (found.a, found.m, found.shift, found.width, found.stride) == (a % (1 << 48), 1 << 48, 16, 32, 2)
    assert found.misses == 0


def test_the_relations_vanish_at_the_multiplier_and_fix_the_modulus():
    a, c = constants(48, seed=2)
    o = top_bits(a, c, 48, 16, 25).tolist()
    k, roots = _multipliers(o, 16)[0]
    assert (k, roots) == (48, [a % (1 << 48)])
    assert _value([3, 0, 1], 5, 1 << 8) == 28 and _value([-1, 1], 7, 8) == 6  # 3 + r^2; r - 1 (mod m)


@pytest.mark.parametrize("values", [
    RNG.integers(0, 1 << 16, 20_000),  # random 16-bit values
    RNG.integers(0, 1 << 12, 20_000),  # random 12-bit values
    (top_bits(69_069, 1, 32, 16, 20_000) + RNG.integers(0, 2, 20_000)) % (1 << 16),  # an LCG's values with noise
], ids=["random", "random 12-bit", "noisy lcg"])
def test_no_lcg_is_found_in_values_no_lcg_made(values):
    assert find_uncatalogued(values, int(values.max()).bit_length()) is None


def test_values_wider_than_32_bits_are_not_searched():
    assert find_uncatalogued(top_bits(*constants(64), 64, 64, 5_000), 64) is None


def test_the_predictor_gives_an_uncatalogued_generator_s_value_probability_one_minus_eps_on_held_out_windows():
    a, c = constants(48, seed=3)
    values = top_bits(a, c, 48, 16, 30_000)
    found, tokenizer = find_congruential(values[:20_000]), fit_tokenizer(values, "bytes16")
    windows = windows_for(values, tokenizer, np.array([20_000, 20_100, 25_000]))  # a jump ahead, then a gap
    truth = torch.from_numpy(tokenizer.encode(windows.target_values))
    log_prob = CongruentialPredictor(found, tokenizer).predict(windows).log_prob(truth)
    eps = found.eps
    torch.testing.assert_close(log_prob, torch.full(truth.shape, math.log(1 - eps + eps / 65536)), atol=1e-6, rtol=0)
