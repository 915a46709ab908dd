import json
import time

import numpy as np
import pytest

from seqlib.data import open_u16
from seqlib.errors import ConfigError, DataError
from seqlib.cli import main
from seqlib.sources import LFSR_TAPS, SAMPLE, _lcg, generate, make_sample, make_stream, mt19937_outputs, write_u16
from seqlib.twister import mt19937_64_outputs


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
    with pytest.raises(ConfigError, match="a < b < 2048"):
        generate("lagged_add", 10, a=5, b=2048)


def test_lagged_add_outputs_16_bits_of_a_wider_state_from_bit_shift():
    values, info = generate("lagged_add", 5_000, seed=3, a=3, b=31, m=2**32, shift=1)
    x = values.astype(np.int64)
    carry = (x[31:] - x[28:-3] - x[:-31]) % 65536  # the carry out of the bits below the shift
    assert set(np.unique(carry)) == {0, 1} and info.alphabet == 65536
    with pytest.raises(ConfigError, match="shift < log2"):
        generate("lagged_add", 10, m=256, shift=8)


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


MT_5489 = [3499211612, 581869302, 3890346734, 3586334585, 545404204, 4161255391, 3922919429, 949333985, 2715962298,
           1323567403]  # Matsumoto & Nishimura's reference outputs of init_genrand(5489)


def test_mt19937_matches_the_reference_outputs_and_numpy():
    assert mt19937_outputs(5489, 10).tolist() == MT_5489
    numpy_mt = np.random.RandomState(5489)._bit_generator  # integer seeding is the reference init_genrand
    assert numpy_mt.random_raw(10).tolist() == MT_5489
    for seed in (5489, 0, 2 ** 32 - 1):
        ours = mt19937_outputs(seed, 100_000)
        assert ours.dtype == np.uint32
        assert np.array_equal(ours, np.random.RandomState(seed)._bit_generator.random_raw(100_000))


def test_mt19937_stream_is_the_high_or_low_half_of_its_outputs():
    raw = np.random.RandomState(5489)._bit_generator.random_raw(5000)
    high, info = generate("mt19937", 5000, mt_seed=5489)
    assert np.array_equal(high, raw >> 16) and (info.entropy_rate, info.ideal_top1, info.alphabet) == (0.0, 1.0, 65536)
    assert np.array_equal(generate("mt19937", 5000, mt_seed=5489, output="low")[0], raw & 0xFFFF)
    drawn, info = generate("mt19937", 5000, seed=3)  # mt_seed drawn from the stream's seed, and recorded
    assert np.array_equal(drawn, generate("mt19937", 5000, **info.params)[0])
    assert not np.array_equal(drawn, generate("mt19937", 5000, seed=4)[0])


@pytest.mark.parametrize("kind", ["xorshift", "xoshiro", "mt19937"])
def test_words_are_a_raw_dump_of_the_32_bit_outputs_low_half_first(kind):
    low, high = (generate(kind, 1001, seed=4, output=half)[0] for half in ("low", "high"))
    words = generate(kind, 1001, seed=4, output="words")[0]
    assert words[0::2].tolist() == low[:501].tolist() and words[1::2].tolist() == high[:500].tolist()


def test_mt19937_64_stream_is_a_raw_dump_of_its_outputs_lowest_16_bits_first():
    values, info = generate("mt19937_64", 4003, mt_seed=5489)
    words = mt19937_64_outputs(5489, 1001)
    assert values.tolist() == words.astype("<u8").view("<u2")[:4003].tolist()
    assert (info.entropy_rate, info.ideal_top1, info.alphabet) == (0.0, 1.0, 65536)
    assert int(values[:4].astype(np.uint64) @ (np.uint64(1) << np.arange(0, 64, 16, dtype=np.uint64))) == words[0]


def lfsr_bits(values):
    """The bit stream of 16-bit values, lowest bit of the first value first."""
    return np.unpackbits(np.asarray(values, dtype="<u2").view(np.uint8), bitorder="little")


@pytest.mark.parametrize("degree", sorted(LFSR_TAPS))
def test_lfsr_follows_its_recurrence_on_every_bit(degree):
    values, info = generate("lfsr", 100_000, seed=degree, degree=degree)
    s, n, k = lfsr_bits(values), degree, LFSR_TAPS[degree]
    assert len(s) == 1_600_000 and (info.entropy_rate, info.ideal_top1, info.alphabet) == (0.0, 1.0, 65536)
    assert np.array_equal(s[n:], s[:-n] ^ s[k:len(s) - n + k])  # s_t = s_{t-n} XOR s_{t-n+k}


@pytest.mark.parametrize("seed", range(5))
def test_lfsr_never_sticks_at_zero_and_is_balanced(seed):
    s = lfsr_bits(generate("lfsr", 200_000, seed=seed, degree=17)[0])
    edges = np.flatnonzero(np.diff(np.r_[1, s, 1]))  # starts and ends of the runs of zeros, alternating
    assert (edges[1::2] - edges[::2]).max() < 17  # never 17 zeros in a row: the state is never all zero
    assert abs(s.mean() - 0.5) < 0.002


def gf2_mulmod(a, b, poly, n):
    """a * b modulo poly (degree n) over GF(2), polynomials as int bit masks."""
    r = 0
    while b:
        if b & 1:
            r ^= a
        b, a = b >> 1, a << 1
        if a >> n & 1:
            a ^= poly
    return r


def x_power(e, poly, n):
    """x^e modulo poly over GF(2)."""
    r, base = 1, 2
    while e:
        if e & 1:
            r = gf2_mulmod(r, base, poly, n)
        e, base = e >> 1, gf2_mulmod(base, base, poly, n)
    return r


def is_prime(q):
    """Trial division for small q, Lucas-Lehmer for Mersenne numbers 2^p - 1."""
    if q < 10 ** 12:
        return q > 1 and all(q % d for d in range(2, int(q ** 0.5) + 1))
    p = q.bit_length()
    assert q == 2 ** p - 1, "only Mersenne numbers are large here"
    s = 4
    for _ in range(p - 2):
        s = (s * s - 2) % q
    return s == 0


def test_lfsr_trinomials_are_primitive():
    factors = {17: [2 ** 17 - 1], 23: [47, 178481], 31: [2 ** 31 - 1], 89: [2 ** 89 - 1], 127: [2 ** 127 - 1]}
    assert sorted(factors) == sorted(LFSR_TAPS)
    for n, k in LFSR_TAPS.items():
        poly, order = (1 << n) | (1 << k) | 1, 2 ** n - 1
        assert np.prod(factors[n], dtype=object) == order and all(map(is_prime, factors[n]))
        assert x_power(order, poly, n) == 1  # x has order exactly 2^n - 1: the polynomial is primitive
        assert all(x_power(order // q, poly, n) != 1 for q in factors[n])


def xorshift_reference(state, n):
    """Marsaglia's xorshift32 (13, 17, 5) for one word of state, xorshift128 for four, in plain Python."""
    out, m = [], 0xFFFFFFFF
    for _ in range(n):
        if len(state) == 1:
            x = state[0]
            x ^= (x << 13) & m
            x ^= x >> 17
            x ^= (x << 5) & m
            state = [x]
        else:
            x, y, z, w = state
            t = x ^ ((x << 11) & m)
            state = [y, z, w, w ^ (w >> 19) ^ t ^ (t >> 8)]
        out.append(state[-1])
    return np.array(out)


def test_xorshift_reference_gives_marsaglias_first_outputs():
    assert xorshift_reference([2463534242], 1)[0] == 723471715  # the seed of Marsaglia's 2003 paper
    assert xorshift_reference([123456789, 362436069, 521288629, 88675123], 1)[0] == 3701687786


@pytest.mark.parametrize("state_bits", [32, 128])
def test_xorshift_matches_a_plain_python_reference(state_bits):
    seed_state = np.random.default_rng(9).integers(1, 2 ** 32, state_bits // 32, dtype=np.uint32).tolist()
    words = xorshift_reference(seed_state, 1000)  # generate() draws its seed state from default_rng(seed) this way
    high, info = generate("xorshift", 1000, seed=9, state_bits=state_bits)
    assert np.array_equal(high, words >> 16)
    assert (info.entropy_rate, info.ideal_top1, info.alphabet) == (0.0, 1.0, 65536)
    assert np.array_equal(generate("xorshift", 1000, seed=9, state_bits=state_bits, output="low")[0], words & 0xFFFF)


def xoshiro128_reference(state: list[int], n: int, scrambler: str) -> np.ndarray:
    """xoshiro128+ / xoshiro128** as published (Blackman & Vigna, xoshiro128plus.c / xoshiro128starstar.c)."""
    def rotl(x, k):
        return ((x << k) | (x >> (32 - k))) & 0xFFFFFFFF
    s, out = list(state), []
    for _ in range(n):
        out.append((s[0] + s[3]) & 0xFFFFFFFF if scrambler == "+" else rotl(s[1] * 5 & 0xFFFFFFFF, 7) * 9 & 0xFFFFFFFF)
        t = s[1] << 9 & 0xFFFFFFFF
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 11)
    return np.array(out, dtype=np.int64)


@pytest.mark.parametrize("scrambler", ["+", "**"])
def test_xoshiro_matches_a_plain_python_reference(scrambler):
    seed_state = np.random.default_rng(4).integers(1, 2 ** 32, 4, dtype=np.uint32).tolist()
    words = xoshiro128_reference(seed_state, 1000, scrambler)
    low, info = generate("xoshiro", 1000, seed=4, scrambler=scrambler)
    assert np.array_equal(low, words & 0xFFFF) and info.alphabet == 65536
    assert np.array_equal(generate("xoshiro", 1000, seed=4, scrambler=scrambler, output="high")[0], words >> 16)


def test_mixed_has_a_linear_low_bit_and_the_lagged_sum_rate_above_it():
    values, info = generate("mixed", 200_000, seed=11)
    x = values.astype(np.int64)
    assert x.min() >= 0 and x.max() <= 15 and info.alphabet == 16
    s = x & 1
    assert np.array_equal(s[31:], s[:-31] ^ s[3:-28]) and abs(s.mean() - 0.5) < 0.01
    assert info.entropy_rate == pytest.approx(-0.8 * np.log2(0.8) - 0.2 * np.log2(0.1)) and info.ideal_top1 == 0.8
    entropy, top1 = plugin(values >> 1, (3, 7))
    assert abs(entropy - info.entropy_rate) < 0.02 and abs(top1 - info.ideal_top1) < 0.01
    assert generate("mixed", 1000, k=4)[0].max() <= 7


def test_new_sources_generate_two_million_values_in_seconds():
    for kind, params in [("lfsr", {}), ("xorshift", {}), ("xorshift", dict(state_bits=128)), ("mt19937", {}),
                         ("mixed", {}), ("xoshiro", {}), ("xoshiro", dict(scrambler="**"))]:
        t0 = time.perf_counter()
        values, _ = generate(kind, 2_000_000, **params)
        assert len(values) == 2_000_000 and time.perf_counter() - t0 < 5, kind


def test_new_sources_refuse_bad_parameters():
    with pytest.raises(ConfigError, match="degree in"):
        generate("lfsr", 10, degree=32)
    with pytest.raises(ConfigError, match="state_bits=32 or state_bits=128"):
        generate("xorshift", 10, state_bits=64)
    with pytest.raises(ConfigError, match="output=high, low or words"):
        generate("xorshift", 10, output="middle")
    with pytest.raises(ConfigError, match="mt19937 needs output=high, low, words, mod, scaled or float"):
        generate("mt19937", 10, output="middle")
    with pytest.raises(ConfigError, match="mt19937 dice need 2 <= faces <= 1024"):
        generate("mt19937", 10, output="mod", faces=1)
    with pytest.raises(ConfigError, match="mt_seed < 2"):
        generate("mt19937", 10, mt_seed=2 ** 32)
    with pytest.raises(ConfigError, match=r"mt19937_64 needs 0 <= mt_seed < 2\*\*64"):
        generate("mt19937_64", 10, mt_seed=-1)
    with pytest.raises(ConfigError, match="k <= 32768"):
        generate("mixed", 10, k=40_000)
    with pytest.raises(ConfigError, match=r"scrambler='\+' or scrambler='\*\*'"):
        generate("xoshiro", 10, scrambler="++")


@pytest.mark.parametrize("kind", ["lfsr", "xorshift", "xoshiro", "mt19937", "mt19937_64", "mixed"])
def test_make_stream_cli_writes_each_new_kind(tmp_path, kind):
    path = tmp_path / f"{kind}.u16"
    assert main(["make-stream", str(path), "--kind", kind, "--n", "1000", "--seed", "6"]) == 0
    assert np.array_equal(open_u16(path), generate(kind, 1000, seed=6)[0])


def test_lcg_modulo_2_32_shifted_by_16_is_the_classic_rand():
    class StartAt:  # the state after srand(1) and one step: 1 * 214013 + 2531011
        def integers(self, low, high, dtype=None):
            return 2_745_024

    values, info = _lcg(5, StartAt(), a=214013, c=2531011, m=2**32, shift=16, bits=15)
    assert values.tolist() == [41, 18467, 6334, 26500, 19169]  # Microsoft C's rand() after srand(1)
    assert info.alphabet == 32768
    dice, info = _lcg(5, StartAt(), a=214013, c=2531011, m=2**32, shift=16, bits=15, faces=6, low=1)
    assert dice.tolist() == [v % 6 + 1 for v in values] and info.alphabet == 6  # rand() % 6 + 1
    with pytest.raises(ConfigError, match=r"faces >= 2 and 0 <= low <= 65536 - faces"):
        generate("lcg", 10, m=2**32, faces=6, low=65_531)
    with pytest.raises(ConfigError, match=r"1..16 bits \(1..63 for a die\)"):
        generate("lcg", 10, m=2**48, shift=17, bits=31)  # 31 bits are no 16-bit value unless reduced to a die
    with pytest.raises(ConfigError, match="a power of two up to 2"):
        generate("lcg", 10, m=100_000)
