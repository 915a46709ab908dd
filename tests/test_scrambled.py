"""Scrambled xorshift-family generators: each one as its reference C code makes it; its whole state from dumps of its
outputs in every layout, at any value of the file, and from dice thrown with them; nothing found in values they did
not make; the predictor's exact
probabilities across a jump, a recovery and a reseed; the verdict and predict naming the generator."""
import itertools
import math

import numpy as np
import pytest
import torch

from seqlib.baselines import XorshiftPredictor
from seqlib.errors import CheckpointError
from seqlib.evaluate import evaluate
from seqlib.predict import format_prediction, predict
from seqlib.scrambled import GENERATORS, Scrambled, find_scrambled, solve
from seqlib.sources import generate
from seqlib.tokenize import fit_tokenizer
from seqlib.xorshift import Xorshift, xorshift_from_dict

from conftest import tiny_checkpoint, windows_for, write_source

M64, M32 = (1 << 64) - 1, (1 << 32) - 1


# Plain transcriptions of the published C code (Blackman & Vigna's xoshiro / xoroshiro, Vigna's xorshift+ and
# xorshift*, Numerical Recipes' Ranq1), independent of seqlib's: each yields the outputs after seeding with `s`.

def _rotl(x, k, bits):
    return ((x << k) | (x >> (bits - k))) & ((1 << bits) - 1)


def xoshiro(s, scrambler, bits, a, b):
    s, m = list(s), (1 << bits) - 1
    while True:
        yield (s[0] + s[3]) & m if scrambler == "+" else (_rotl((s[1] * 5) & m, 7, bits) * 9) & m
        t = (s[1] << a) & m
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = _rotl(s[3], b, bits)


def xoroshiro(s, scramble, bits, a, b, c):
    s0, s1 = s
    m = (1 << bits) - 1
    while True:
        yield scramble(s0, s1)
        s1 ^= s0
        s0, s1 = _rotl(s0, a, bits) ^ s1 ^ ((s1 << b) & m), _rotl(s1, c, bits)


def xorshift128plus(s, b, c):  # as Firefox's XorShift128PlusRNG::next() with b, c = 17, 26
    s0, s1 = s
    while True:
        x, y = s0, s1
        s0 = y
        x ^= (x << 23) & M64
        s1 = x ^ y ^ (x >> b) ^ (y >> c)
        yield (s0 + s1) & M64


def xorshift64star(x, a, b, c):
    while True:
        x ^= x >> a
        x ^= (x << b) & M64
        x ^= x >> c
        yield (x * 0x2545F4914F6CDD1D) & M64


def xorshift1024star(s, multiplier):
    s, p = list(s), 0
    while True:
        s0 = s[p]
        p = (p + 1) & 15
        s1 = s[p]
        s1 ^= (s1 << 31) & M64
        s[p] = s1 ^ s0 ^ (s1 >> 11) ^ (s0 >> 30)
        yield (s[p] * multiplier) & M64


def marsaglia(x, bits, a, b, c):
    m = (1 << bits) - 1
    while True:
        x ^= (x << a) & m
        x ^= x >> b
        x ^= (x << c) & m
        yield x


def xor128(s):
    x, y, z, w = s
    while True:
        t = x ^ ((x << 11) & M32)
        x, y, z = y, z, w
        w = w ^ (w >> 19) ^ (t ^ (t >> 8))
        yield w


def star64(s0, s1):
    return (_rotl((s0 * 5) & M64, 7, 64) * 9) & M64


REFERENCES = {
    "xoshiro256**": lambda s: xoshiro(s, "**", 64, 17, 45),
    "xoshiro256+": lambda s: xoshiro(s, "+", 64, 17, 45),
    "xoroshiro128**": lambda s: xoroshiro(s, star64, 64, 24, 16, 37),
    "xoroshiro128+": lambda s: xoroshiro(s, lambda a, b: (a + b) & M64, 64, 24, 16, 37),
    "xoroshiro128+ (2016: 55, 14, 36)": lambda s: xoroshiro(s, lambda a, b: (a + b) & M64, 64, 55, 14, 36),
    "xorshift128+": lambda s: xorshift128plus(s, 17, 26),
    "xorshift128+ (23, 18, 5)": lambda s: xorshift128plus(s, 18, 5),
    "xorshift64*": lambda s: xorshift64star(s[0], 12, 25, 27),
    "xorshift64* (21, 35, 4)": lambda s: xorshift64star(s[0], 21, 35, 4),
    "xorshift1024*": lambda s: xorshift1024star(s, 1181783497276652981),
    "xorshift1024*phi": lambda s: xorshift1024star(s, 0x9E3779B97F4A7C13),
    "xoshiro128**": lambda s: xoshiro(s, "**", 32, 9, 11),
    "xoshiro128+": lambda s: xoshiro(s, "+", 32, 9, 11),
    "xoroshiro64**": lambda s: xoroshiro(s, lambda a, b: (_rotl((a * 0x9E3779BB) & M32, 5, 32) * 5) & M32, 32, 26, 9,
                                         13),
    "xoroshiro64*": lambda s: xoroshiro(s, lambda a, b: (a * 0x9E3779BB) & M32, 32, 26, 9, 13),
    "xorshift32": lambda s: marsaglia(s[0], 32, 13, 17, 5),
    "xorshift64": lambda s: marsaglia(s[0], 64, 13, 7, 17),
    "xorshift128": xor128,
}
AFTER_THE_STEP = ("xorshift128+", "xorshift64*", "xorshift1024*", "xorshift32", "xorshift64", "xorshift128")


def seed_words(name: str, seed: int) -> list[int]:
    gen = GENERATORS[name]
    return [int(w) | 1 for w in np.random.default_rng(seed).integers(0, 1 << gen.bits, gen.words, dtype=np.uint64)]


def outputs(name: str, n: int, seed: int = 7) -> np.ndarray:
    return np.array(list(itertools.islice(REFERENCES[name](seed_words(name, seed)), n)), np.uint64)


def dump(words: np.ndarray, width: int, order: str = "le", skip: int = 0) -> np.ndarray:
    """The values a program writes of the outputs' low `width` bits (a big-endian write byte-swaps each value), less
    the first `skip`."""
    v = (words[:, None] >> (np.uint64(16) * np.arange(width // 16, dtype=np.uint64))) & np.uint64(0xFFFF)
    if order == "be":
        v = (((v & np.uint64(0xFF)) << np.uint64(8)) | (v >> np.uint64(8)))[:, ::-1]
    return v.reshape(-1).astype(np.int64)[skip:]


def test_the_catalogue_and_the_references_name_the_same_generators():
    assert set(GENERATORS) == set(REFERENCES)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_each_generator_makes_the_outputs_of_its_reference_code(name):
    gen = GENERATORS[name]
    state = tuple(seed_words(name, 7))
    if name.startswith(AFTER_THE_STEP):
        state = gen.step(state, gen.bits)  # their reference code outputs after the step, seqlib before it
    made, _ = gen.run(state, 3_000)
    assert np.array_equal(made, outputs(name, 3_000))


@pytest.mark.parametrize("name, width, order, skip", [
    ("xoshiro256**", 64, "le", 0), ("xoroshiro128**", 64, "be", 1), ("xoroshiro128+", 64, "le", 3),
    ("xoshiro256+", 16, "le", 0), ("xoroshiro128+ (2016: 55, 14, 36)", 32, "le", 0), ("xorshift128+", 64, "be", 2),
    ("xorshift1024*phi", 64, "le", 0), ("xoshiro128**", 32, "le", 1), ("xoshiro128+", 32, "be", 0),
    ("xoroshiro64*", 32, "le", 0)])
def test_a_dump_is_found_in_its_layout_at_any_value_of_the_file_and_predicted_exactly(name, width, order, skip):
    values = dump(outputs(name, 20_000 if width == 16 else 6_000), width, order, skip)
    found = find_scrambled(values)
    lanes = width // 16
    assert (found.generator, found.width, found.order, found.phase, found.misses) == (
        name, width, order, -skip % lanes, 0)
    assert found.n_check == len(values) - found.look  # every value after the recovery's
    assert found.describe().startswith("the values are ") and f"of {name}, a scrambled" in found.describe()


def throws(words: np.ndarray, faces: int, low: int, order: str, bits: int) -> np.ndarray:
    """low + out % faces, or low + floor(faces out / 2^bits), of each output."""
    if order == "mod":
        return np.array([int(w) % faces for w in words], np.int64) + low
    return np.array([(int(w) * faces) >> bits for w in words], np.int64) + low


@pytest.mark.parametrize("name, order, faces, low", [
    ("xoroshiro128+", "mod", 6, 1), ("xorshift64*", "mod", 20, 1), ("xoshiro128+", "mod", 8, 0),
    ("xorshift32", "scaled", 6, 1), ("xorshift128", "mod", 6, 0), ("xorshift64", "scaled", 100, 0)])
def test_a_die_thrown_from_a_generator_is_found_and_predicted_exactly(name, order, faces, low):
    bits = GENERATORS[name].bits
    values = throws(outputs(name, 8_000), faces, low, order, bits)
    found = find_scrambled(values)
    assert (found.generator, found.order, found.faces, found.low, found.misses) == (name, order, faces, low, 0)
    assert found.n_check == len(values) - found.look
    how = f"out mod {faces}" if order == "mod" else f"floor({faces} out / 2^{bits})"
    assert found.describe().startswith(f"the values are {f'{low} + ' if low else ''}{how} of the {bits}-bit outputs")


def test_nothing_is_found_in_random_values_a_die_a_linear_generator_or_the_high_bits_of_a_plus_output():
    rng = np.random.default_rng(3)
    assert find_scrambled(rng.integers(0, 1 << 16, 40_000)) is None
    assert find_scrambled(rng.integers(1, 7, 40_000)) is None
    # Marsaglia's xorshift128 written whole: bit 0 has L = 128, as a 128-bit "+" generator's would, so the recovery
    # runs, and its state mispredicts.
    assert find_scrambled(generate("xorshift", 40_000, seed=1, state_bits=128, output="words")[0]) is None
    high = (outputs("xoroshiro128+", 40_000) >> np.uint64(48)).astype(np.int64)  # next() >> 48: no bit linear
    assert find_scrambled(high) is None
    assert find_scrambled(throws(outputs("xoshiro256**", 8_000), 6, 1, "mod", 64)) is None  # ** hides bit 0 too


def test_elimination_solves_independent_equations_and_refuses_contradictions_and_too_few():
    x = 0x0123456789ABCDEF_FEDCBA9876543210
    forms = [1 << i for i in range(128)] + [0b11]  # the unit forms, and one that repeats bits 0 and 1
    bits = [x >> i & 1 for i in range(128)]
    assert solve(forms, bits + [(x & 1) ^ (x >> 1 & 1)], 128) == x
    assert solve(forms, bits + [1 ^ (x & 1) ^ (x >> 1 & 1)], 128) is None  # the last equation contradicts the others
    assert solve(forms[1:128], bits[1:], 128) is None  # 127 equations leave bit 0 open


def test_the_predictor_gives_probability_one_minus_eps_after_a_recovery_a_jump_and_a_reseed():
    first = dump(outputs("xoroshiro128+", 15_000, seed=1), 64, skip=1)
    values = np.concatenate([first, dump(outputs("xoroshiro128+", 10_000, seed=2), 64)])  # reseeded at 59,999
    found, tokenizer = find_scrambled(values[:30_000]), fit_tokenizer(values, "bytes16")
    # recover; jump 100 values; step past the reseed, where the old state mispredicts: recover from the new outputs
    windows = windows_for(values, tokenizer, np.array([31_000, 31_100, 70_000]))
    truth = torch.from_numpy(tokenizer.encode(windows.target_values))
    log_prob = XorshiftPredictor(found, tokenizer).predict(windows).log_prob(truth)
    eps = found.eps
    torch.testing.assert_close(log_prob, torch.full(truth.shape, math.log(1 - eps + eps / 65_536)), atol=1e-6,
                               rtol=0)


def test_a_found_generator_loads_as_its_own_kind_and_a_wrong_dict_is_refused_with_the_fix():
    scrambled, v8 = Scrambled("xoshiro256**", "le", 64, 2, 2_000, 0), Xorshift(6, 1, 47, 2_000, 0)
    assert xorshift_from_dict(scrambled.to_dict()) == scrambled and xorshift_from_dict(v8.to_dict()) == v8
    with pytest.raises(CheckpointError, match="pass the dict that Scrambled.to_dict"):
        xorshift_from_dict({"generator": "xoshiro256**"})


def test_xoshiro128_starstar_words_read_as_their_generator_in_the_verdict_and_in_predict(tmp_path):
    path, _ = write_source(tmp_path, "xoshiro", 60_000, seed=1, scrambler="**", output="words")
    ckpt = tiny_checkpoint(path, tmp_path / "run")
    result = evaluate(ckpt, path, max_samples=2_000, progress=False, write=False)
    b, v = result["baselines"], result["verdict"]
    assert result["xorshift"]["found"]["generator"] == "xoshiro128**"
    assert v["explained_by"] == "xoshiro128** state recovery"
    assert b["xoshiro128** state recovery"]["heads"][0]["top1"] == 1.0
    assert v["text"].startswith("predictable, and the values are the 32-bit outputs, written whole as 2 16-bit values "
                                "each, of xoshiro128**")
    values = np.fromfile(path, "<u2")
    assert (f"xoshiro128** state recovery: xoshiro128**, its state recovered from the 43 values before index 55000, "
            f"puts the value there at {values[55_000]}") in format_prediction(predict(ckpt, path, 55_000))
