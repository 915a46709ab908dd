"""Linear structure over GF(2): exact complexities of known generators, nothing found in random data, causal and
exact predictions on held-out positions, plain-type round trip and family hints."""
import json
import os
import random

import numpy as np
import pytest
from scipy import stats

import seqlib.linear as linear
from seqlib.data import open_u16
from seqlib.errors import CheckpointError, ConfigError, DataError
from seqlib.linear import LinearScan, LockstepBM, berlekamp_massey, scan
from seqlib.predict import linear_next
from seqlib.sources import _linear_stream, _xoshiro128_step, generate, mt19937_outputs, xoshiro128_outputs


def lfsr_bits(n: int, degree: int, tap: int, seed: int = 1) -> np.ndarray:
    """n bits of s_t = s_{t-(degree-tap)} XOR s_{t-degree}: the LFSR of the trinomial x^degree + x^tap + 1."""
    lag = degree - tap
    s = np.zeros(n + degree, np.uint8)
    s[:degree] = np.random.default_rng(seed).integers(0, 2, degree)
    s[0] = 1
    for t in range(degree, n + degree, lag):  # each block of `lag` bits depends only on earlier ones
        e = min(t + lag, n + degree)
        s[t:e] = s[t - lag : e - lag] ^ s[t - degree : e - degree]
    return s[degree:]


def xorshift32(n: int, x: int = 2463534242) -> np.ndarray:
    """Marsaglia's xorshift32 (13, 17, 5)."""
    out = np.empty(n, np.uint32)
    for i in range(n):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out[i] = x
    return out


def lcg16(n: int, x: int = 12345, a: int = 25173, c: int = 13849) -> np.ndarray:
    out = np.empty(n, np.uint16)
    for i in range(n):
        x = (a * x + c) & 0xFFFF
        out[i] = x
    return out


def lagged_add16(n: int, a: int = 24, b: int = 55, seed: int = 1) -> np.ndarray:
    x = np.random.default_rng(seed).integers(0, 65536, b).tolist()
    x[0] |= 1  # an odd seed value keeps the lowest plane from being all zeros
    for t in range(b, n + b):
        x.append((x[t - a] + x[t - b]) & 0xFFFF)
    return np.array(x[b:], np.uint16)


def mt19937_top16(n: int) -> np.ndarray:
    """Top 16 bits of the reference MT19937 outputs for seed 5489."""
    return (np.random.RandomState(5489)._bit_generator.random_raw(n) >> 16).astype(np.uint16)


def urandom16(n: int) -> np.ndarray:
    return np.frombuffer(os.urandom(2 * n), np.uint16)


def textbook_bm(s: list[int]) -> tuple[int, list[int]]:
    """Berlekamp–Massey as printed (Massey 1969), on Python lists."""
    n = len(s)
    C, B, L, m = [1] + [0] * n, [1] + [0] * n, 0, 1
    for i in range(n):
        d = s[i]
        for j in range(1, L + 1):
            d ^= C[j] & s[i - j]
        if d == 0:
            m += 1
            continue
        T = C[:]
        for j in range(n + 1 - m):
            C[j + m] ^= B[j]
        if 2 * L <= i:
            L, B, m = i + 1 - L, T, 1
        else:
            m += 1
    return L, [j for j in range(1, n + 1) if C[j]]


def naive_predict(values: np.ndarray, positions: np.ndarray, specs) -> np.ndarray:
    """Bit j of values[p] as the XOR of bit j of values[p - t] over the taps, 0 where p < L."""
    out = np.zeros(len(positions), np.uint16)
    for plane, L, taps in specs:
        bit = np.zeros(len(positions), np.uint16)
        for t in taps:
            bit ^= (values[np.maximum(positions - t, 0)] >> plane) & 1
        out |= np.where(positions >= L, bit, 0).astype(np.uint16) << plane
    return out


@pytest.fixture(scope="module")
def mt_stream():
    """2.1M MT19937 values: the first 2M are scanned, the rest are held out."""
    return mt19937_top16(2_100_000)


@pytest.fixture(scope="module")
def mt_scan(mt_stream):
    return scan(mt_stream[:2_000_000])


# Berlekamp–Massey -------------------------------------------------------------------------------------------------

def test_bm_finds_the_known_minimal_polynomial_of_a_handmade_sequence():
    # Menezes, van Oorschot & Vanstone, Handbook of Applied Cryptography, Example 6.31: C(D) = 1 + D^3 + D^5.
    s = [0, 0, 1, 1, 0, 1, 1, 1, 0]
    assert berlekamp_massey(s) == (5, [3, 5])
    for L in range(5):  # and no shorter LFSR generates it: try every connection polynomial of length L
        for mask in range(1 << L):
            taps = [j + 1 for j in range(L) if mask >> j & 1]
            assert any(s[t] != sum(s[t - j] for j in taps) % 2 for t in range(L, len(s)))


def test_lockstep_bm_fed_in_pieces_matches_the_textbook_algorithm():
    rng = np.random.default_rng(0)
    for _ in range(60):
        n_seqs, n = int(rng.integers(1, 5)), int(rng.integers(1, 400))
        bits = (rng.random((n_seqs, n)) < rng.random()).astype(np.uint8)
        bm = LockstepBM(n_seqs)
        i = 0
        while i < n:
            k = int(rng.integers(1, 60))
            bm.feed(bits[:, i : i + k])
            i += k
        for j in range(n_seqs):
            assert (int(bm.L[j]), bm.taps(j)) == textbook_bm(bits[j].tolist())


def test_lockstep_bm_matches_on_long_low_complexity_sequences():
    # An LFSR of degree 300 with the bits of a degree-40 one added: BM must cross its 4096-bit sub-chunks.
    a, b = lfsr_bits(9000, 300, 7), lfsr_bits(9000, 41, 3)
    bits = np.stack([a, a ^ b, b])
    bm = LockstepBM(3)
    bm.feed(bits)
    for j in range(3):
        L, taps = int(bm.L[j]), np.array(bm.taps(j))
        s = bits[j].astype(np.int64)
        pred = np.bitwise_xor.reduce(np.stack([s[L - t : len(s) - t] for t in taps]), axis=0)
        assert (pred == s[L:]).all()  # the recurrence generates the whole sequence
    assert bm.L.tolist() == [300, 341, 41]


def test_lockstep_bm_stops_each_sequence_at_its_own_bound():
    bits = np.random.default_rng(3).integers(0, 2, (3, 3000)).astype(np.uint8)
    caps = [100, 400, 1000]
    together = LockstepBM(3, np.array(caps))
    together.feed(bits)
    for j, cap in enumerate(caps):
        alone = LockstepBM(1, cap)
        alone.feed(bits[j : j + 1])
        assert cap < together.L[j] < cap + 20 and abs(together.bits_used[j] - 2 * cap) < 40  # random: L ~ n/2
        assert (together.L[j], together.bits_used[j], together.taps(j)) == (alone.L[0], alone.bits_used[0],
                                                                             alone.taps(0))


# Exact complexities and held-out prediction ------------------------------------------------------------------------

def test_lfsr_of_degree_31_on_a_binary_stream():
    bits = lfsr_bits(60_000, 31, 3)
    result = scan(bits[:50_000])
    (plane,) = result.planes  # values 0/1: one plane
    assert (plane.L, plane.taps, plane.confirmed, plane.linear) == (31, [28, 31], True, True)
    pos = np.arange(50_000, 60_000)
    pred, known = result.predict_bits(bits, pos)
    assert (known == 1).all() and (pred == bits[pos]).all()


def test_lfsr_of_degree_89_packed_16_bits_per_value():
    bits = lfsr_bits(16 * 30_000, 89, 38)
    values = np.packbits(bits.reshape(-1, 16), axis=1, bitorder="little").view("<u2").ravel()
    result = scan(values[:20_000], max_complexity=4096)
    # Each plane is the LFSR decimated by 16, a power of two: the same minimal polynomial.
    assert [(p.L, p.taps, p.linear) for p in result.planes] == [(89, [51, 89], True)] * 16
    pos = np.arange(20_000, 30_000)
    pred, known = result.predict_bits(values, pos)
    assert (known == 0xFFFF).all() and (pred == values[pos]).all()


@pytest.mark.parametrize("half", ["low", "high"])
def test_xorshift32_halves_have_complexity_32_and_are_predicted(half):
    x = xorshift32(30_000)
    values = (x & 0xFFFF if half == "low" else x >> 16).astype(np.uint16)
    result = scan(values[:20_000], max_complexity=4096)
    assert all(p.linear and p.L == 32 for p in result.planes)
    assert result.family_hint() == "xorshift-style generator"
    pos = np.arange(20_000, 30_000)
    pred, known = result.predict_bits(values, pos)
    assert (known == 0xFFFF).all() and (pred == values[pos]).all()


def test_mt19937_has_complexity_19937_on_all_16_planes(mt_stream, mt_scan):
    assert mt_scan.linear_planes == list(range(16))
    assert {p.L for p in mt_scan.planes} == {19_937} and mt_scan.max_complexity_found == 19_937
    assert all(p.bits_used < 45_000 and p.p_value < 1e-30 and p.eps > 0 for p in mt_scan.planes)
    pos = np.arange(2_000_000, 2_100_000)  # after the scanned block
    pred, known = mt_scan.predict_bits(mt_stream, pos)
    assert (known == 0xFFFF).all() and (pred == mt_stream[pos]).all()
    assert mt_scan.describe().startswith("bit planes 0-15 each obey a linear recurrence of degree 19,937 over GF(2)")
    assert "hint: Mersenne Twister (MT19937)" in mt_scan.describe()


def test_mt19937_64_written_as_16_bit_values_is_found_in_its_four_lanes():
    # Each plane interleaves 4 lanes of degree 19,937: L = 79,748 in the stream, beyond the planes' own bound. The
    # block starts inside a word: any lane is one.
    values = generate("mt19937_64", 250_001, mt_seed=5489)[0][1:]
    result = scan(values[:200_000])
    assert result.linear_planes == list(range(16))
    assert {(p.L, p.stride) for p in result.planes} == {(79_748, 4)} and set(result.table()["lanes"]) == {"all 4"}
    assert all(p.agreements == p.checked > 10_000 for p in result.planes)
    text = result.describe()
    assert text.startswith("bit planes 0-15 each obey a linear recurrence of degree 79,748 over GF(2) (degree 19,937 "
                           "in each of 4 interleaved lanes: 64-bit words written as 16-bit values)")
    assert "hint: Mersenne Twister on 64-bit words (MT19937-64)" in text
    pos = np.arange(200_000, len(values))
    pred, known = result.predict_bits(values, pos)
    assert (known == 0xFFFF).all() and (pred == values[pos]).all()
    assert LinearScan.from_dict(json.loads(json.dumps(result.to_dict()))) == result


def test_the_lanes_of_a_random_stream_are_screened_and_say_so():
    result = scan(urandom16(120_000), max_complexity=4096)  # the bound holds per lane too
    assert result.linear_planes == [] and result.lanes == [(4, 4096), (8, 4096)]
    assert result.describe().startswith("no bit plane obeys a linear recurrence over GF(2) of degree up to 4,096, nor "
                                        "plane 0 of every 4th value (64-bit words) up to 4,096 and of every 8th value "
                                        "(128-bit words) up to 4,096 (16 planes scanned")


def test_a_training_batch_read_from_a_memmap_is_predicted(mt_stream, mt_scan, tmp_path):
    path = tmp_path / "mt.u16"
    mt_stream.tofile(path)
    values = open_u16(path)
    starts = np.random.default_rng(1).integers(0, len(values) - 257, 128)
    starts[:3] = [0, 100, 19_000]  # windows whose first positions lack a full history
    pos = (starts[:, None] + np.arange(257)).ravel()
    pred, known = mt_scan.predict_bits(values, pos)
    assert ((known == 0xFFFF) == (pos >= 19_937)).all()
    assert (pred[pos >= 19_937] == mt_stream[pos[pos >= 19_937]]).all() and (pred[pos < 19_937] == 0).all()


def test_python_random_getrandbits_is_mersenne_twister():
    rng = random.Random(7)
    values = np.array([rng.getrandbits(16) for _ in range(60_000)], np.uint16)
    result = scan(values)
    assert result.linear_planes == list(range(16))
    assert result.family_hint() == "Mersenne Twister (MT19937)"


def test_a_die_whose_parity_is_the_complement_of_an_mt19937_bit_is_hinted_as_mersenne_twister():
    values = mt19937_outputs(3, 50_000) % 6 + 1  # bit 0 of 1 + x % 6 is NOT bit 0 of x: L = 19,937 + 1
    result = scan(values)
    assert [(p.plane, p.L) for p in result.planes if p.linear] == [(0, 19_938)]
    assert result.family_hint() == "Mersenne Twister (MT19937)"


def test_a_short_block_cannot_confirm_mt19937_and_says_how_far_it_looked():
    result = scan(mt19937_top16(30_000))
    assert result.linear_planes == [] and not any(p.confirmed for p in result.planes)
    assert result.confirmable < 19_937
    assert f"degree up to {result.confirmable:,}" in result.describe()


def test_complexity_65536_is_found_when_the_block_is_long_enough():
    # A sequence of period 2^16 with an odd number of ones over a period has L = 2^16: C(x) = (1 + x)^65536.
    period = np.random.default_rng(0).integers(0, 2, 65_536).astype(np.uint16)
    if period.sum() % 2 == 0:
        period[0] ^= 1
    result = scan(np.tile(period, 3))
    (plane,) = result.planes
    assert (plane.L, plane.taps, plane.linear, plane.agreements) == (65_536, [65_536], True, plane.checked)


def test_a_constant_plane_is_not_called_linear():
    values = (xorshift32(20_000) & 0xFFFE).astype(np.uint16)  # plane 0 is always 0
    result = scan(values, max_complexity=4096)
    assert (result.planes[0].L, result.planes[0].confirmed, result.planes[0].p_value) == (0, True, 1.0)
    assert result.linear_planes == list(range(1, 16)) and result.family_hint() is None
    assert result.describe().startswith("bit planes 1-15 each obey a linear recurrence of degree 32 over GF(2): part")


def drifting_adc(n: int, seed: int) -> np.ndarray:
    """A 12-bit reading of a slowly drifting signal (AR(1), time constant 1,000 values) with noise of 8 LSB."""
    rng = np.random.default_rng(seed)
    drift = np.empty(n)
    d, e = 0.0, rng.normal(0, 400 * np.sqrt(1 - 0.999**2), n)
    for i in range(n):
        d = 0.999 * d + e[i]
        drift[i] = d
    return np.clip(np.rint(2048 + drift + rng.normal(0, 8, n)), 0, 4095).astype(np.uint16)


def test_slowly_changing_planes_of_a_drifting_signal_are_not_called_linear():
    # Its high planes are constant over long stretches, where Berlekamp-Massey confirms a recurrence of degree ~40
    # that then agrees with ~95% of held-out bits only because they repeat: the previous bit agrees more often.
    for seed in range(5):
        result = scan(drifting_adc(100_000, seed), max_complexity=4096)
        assert any(p.confirmed for p in result.planes[8:]), seed  # the trap is there ...
        assert result.linear_planes == [], (seed, result.table())  # ... and not taken


def test_a_linear_plane_after_a_run_of_zeros_is_found():
    # 300 zeros (a file header, an idle source) confirm L = 0 after 64 bits; the LFSR after them makes L = 328.
    values = np.concatenate([np.zeros(300, np.uint8), lfsr_bits(20_000, 31, 3)]).astype(np.uint16)
    (plane,) = scan(values, max_complexity=2048).planes
    assert (plane.L, plane.linear, plane.agreements) == (328, True, plane.checked)
    assert plane.bits_used == 2 * 2048 + 128 and plane.checked == len(values) - plane.bits_used


def test_beats_simple_needs_every_simple_predictor_beaten_and_enough_bits():
    alternating, ones = np.array([0, 1] * 500 + [0]), np.ones(1001, np.int8)
    assert linear.beats_simple(ones, alternating, exact=True) == 0.0  # each batch gains 1/2 over always-0, always-1
    assert linear.beats_simple(ones, alternating) == 1.0  # the previous bit's complement agrees as often
    assert linear.beats_simple(ones[:200], alternating[:200], exact=True) == 1.0  # 199 bits: fewer than 8 batches
    constant = np.zeros(1001, np.int8)
    assert linear.beats_simple(ones, constant, exact=True) == 1.0  # always 0 agrees as often: a constant plane


def test_beats_simple_is_the_largest_one_sided_t_test_over_batch_means():
    rng = np.random.default_rng(7)
    bits = (rng.random(10_001) < 0.6).astype(np.int8)
    agree = np.where(rng.random(10_001) < 0.7, 1, 0).astype(np.int8)
    d, size = [agree[1:] - s for s in (bits[1:], 1 - bits[1:], (bits[1:] == bits[:-1]).astype(np.int8),
                                       (bits[1:] != bits[:-1]).astype(np.int8))], 10_000 // 64
    expected = max(stats.ttest_1samp(x[:64 * size].reshape(64, size).mean(1), 0, alternative="greater").pvalue
                   for x in d)
    assert linear.beats_simple(agree, bits) == pytest.approx(expected, rel=1e-9)


def test_agreements_that_cluster_at_the_simple_rate_raise_no_more_false_alarms_than_alpha():
    # A recurrence that agrees in runs of 500 (as on a drifting plane) at the rate of always-0 and always-1, 1/2: a
    # binomial test takes its agreements for independent bits and alarms on many streams; batch means do not.
    rng, alpha, streams, n = np.random.default_rng(11), 0.01, 200, 64_000
    bits = (rng.random((streams, n)) < 0.5).astype(np.int8)
    agree = np.repeat((rng.random((streams, n // 500)) < 0.5).astype(np.int8), 500, axis=1)
    p = np.array([linear.beats_simple(a, b, exact=True) for a, b in zip(agree, bits)])
    share = np.maximum(bits.mean(1), 1 - bits.mean(1))  # the best of always-0 and always-1
    binomial = stats.binom.sf(agree.sum(1) - 1, n, share)
    assert (binomial < alpha).mean() > 0.2  # the trap
    assert (p < alpha).sum() <= stats.binom.isf(0.001, streams, alpha)  # at most the 0.999 quantile at rate alpha


# Random data ----------------------------------------------------------------------------------------------------

def test_no_plane_of_random_streams_is_linear():
    for _ in range(20):
        result = scan(urandom16(20_000), max_complexity=2048)
        assert result.linear_planes == [] and result.family_hint() is None
        for p in result.planes:
            assert not p.confirmed and p.L > 2048 and p.p_value == 1.0 and p.eps == 0.5


@pytest.mark.slow
def test_full_default_scan_of_a_random_stream_finds_nothing():
    values = urandom16(200_000)
    result = scan(values)
    assert result.confirmable == 65_537 and result.linear_planes == []
    assert all(not p.confirmed and abs(p.L - p.bits_used / 2) < 40 for p in result.planes)
    assert result.describe().startswith("no bit plane obeys a linear recurrence over GF(2) of degree up to 65,537")
    pred, known = result.predict_bits(values, np.arange(1000))
    assert not known.any() and not pred.any()


def test_a_die_uses_the_bits_of_its_raw_values():
    result = scan(np.random.default_rng(0).integers(0, 6, 20_000), max_complexity=2048)
    assert [p.plane for p in result.planes] == [0, 1, 2] and result.linear_planes == [] and result.view == (0, 1)


def scaled_dice(n: int, faces: int, low: int, seed: int = 1) -> np.ndarray:
    """low + floor(faces x / 2^32) of MT19937 outputs x: C++'s uniform_int_distribution over std::mt19937
    (libstdc++, which redraws 1 in 10^8 of them; these do not)."""
    x = mt19937_outputs(seed, n).astype(np.uint64)
    return ((x * np.uint64(faces)) >> np.uint64(32)).astype(np.int64) + low


@pytest.mark.parametrize("faces, low, view, planes", [(20, 1, (1, 5), [0, 1]), (6, 0, (0, 3), [0]),
                                                      (100, 1, (1, 25), [0, 1])])
def test_faces_scaled_from_a_linear_generator_have_linear_top_bits(faces, low, view, planes):
    values = scaled_dice(60_000, faces, low)
    result = scan(values)
    assert (result.view, result.linear_planes) == (view, planes) and {p.L for p in result.planes} == {19_937}
    of = f"(x - 1) // {view[1]}" if low else f"x // {view[1]}"
    assert result.describe().startswith(f"bit plane{'s' if len(planes) > 1 else ''} {'0-1' if len(planes) > 1 else 0}"
                                        f" of {of}") and "the faces are scaled" in result.describe()
    bits, known = result.predict_bits(values, np.arange(50_000, 51_000))
    assert (known == 2 ** len(planes) - 1).all() and np.array_equal(bits, (values[50_000:51_000] - low) // view[1])
    assert LinearScan.from_dict(json.loads(json.dumps(result.to_dict()))).view == view


def test_a_recurrence_that_holds_on_part_of_the_check_only_says_so():
    values = np.concatenate([mt19937_top16(60_000), urandom16(200_000)])
    result = scan(values, max_check=100_000)
    assert all(p.confirmed for p in result.planes)
    for p in result.planes:  # the check starts at 41,120: 18,880 MT19937 bits, then 81,120 coin flips
        assert 0.58 < p.agreements / p.checked < 0.61 and 0.39 < p.eps < 0.42
    assert "held-out agreement" in result.describe()


# Prediction -----------------------------------------------------------------------------------------------------

def _hand_scan(specs) -> LinearScan:
    planes = [linear.PlaneScan(j, L, 2 * L + 64, True, 1000, 1000, 0.0, True, 0.0005, taps) for j, L, taps in specs]
    return LinearScan(planes, 1e-3, 65_536, 65_536, 64, 10**6)


@pytest.mark.parametrize("path", ["taps", "fft", "auto"])
def test_every_prediction_path_is_exact_and_causal(path, monkeypatch):
    if path == "taps":
        monkeypatch.setattr(linear, "FFT_COST", 1.0)
    elif path == "fft":
        monkeypatch.setattr(linear, "TAP_COST", 1.0)
    rng = np.random.default_rng(3)
    dense = sorted(rng.choice(np.arange(1, 3000), 1500, replace=False).tolist()) + [3000]
    specs = [(0, 3000, dense), (1, 3000, dense), (4, 31, [28, 31]), (9, 7, [1, 2, 7]), (15, 5000, [17, 4999])]
    result = _hand_scan(specs)
    values = rng.integers(0, 65536, 40_000).astype(np.uint16)
    runs = (np.array([0, 2990, 7000, 39_000])[:, None] + np.arange(300)).ravel()
    scattered = rng.integers(0, 40_000, 2000)
    for pos in (runs, scattered, np.arange(5000, 25_000), np.array([], np.int64)):
        pred, known = result.predict_bits(values, pos)
        assert (pred == naive_predict(values, pos, [(j, L, t) for j, L, t in specs])).all()
        expect = sum(((pos >= L).astype(np.uint16) << j) for j, L, _ in specs) if len(pos) else 0
        assert (known == expect).all()
    # Causality: values at p and after never change the prediction at p.
    pos = np.arange(6000, 6400)
    pred, _ = result.predict_bits(values, pos)
    for cut in (6000, 6200, 6399):
        changed = values.copy()
        changed[cut:] = rng.integers(0, 65536, len(values) - cut)
        again, _ = result.predict_bits(changed, pos)
        assert (again[pos <= cut] == pred[pos <= cut]).all()


def test_predict_bits_refuses_positions_outside_the_stream_and_predicts_the_next_value(mt_scan, mt_stream):
    with pytest.raises(DataError, match="positions must lie in"):
        mt_scan.predict_bits(mt_stream, np.array([len(mt_stream) + 1]))
    bits, known = mt_scan.predict_bits(mt_stream[:-1], np.array([len(mt_stream) - 1]))  # one past the end
    assert known[0] == 0xFFFF and bits[0] == mt_stream[-1]
    with pytest.raises(DataError, match="1-D integer array"):
        mt_scan.predict_bits(mt_stream, np.array([1.5]))


# Plain types, hints, errors -------------------------------------------------------------------------------------

def _plain(x) -> bool:
    if isinstance(x, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in x.items())
    if isinstance(x, list):
        return all(_plain(v) for v in x)
    return x is None or type(x) in (int, float, bool, str)  # None: JSON's null, and torch.load(weights_only) reads it


def test_round_trip_through_plain_types(mt_scan, mt_stream):
    d = mt_scan.to_dict()
    assert _plain(d)
    back = LinearScan.from_dict(json.loads(json.dumps(d)))
    assert back == mt_scan and back.describe() == mt_scan.describe()
    pos = np.arange(2_000_000, 2_001_000)
    assert all((a == b).all() for a, b in zip(back.predict_bits(mt_stream, pos), mt_scan.predict_bits(mt_stream, pos)))
    with pytest.raises(CheckpointError, match="not a LinearScan dict"):
        LinearScan.from_dict({"planes": []})


def test_table_has_one_row_per_plane(mt_scan):
    table = mt_scan.table()
    assert list(table.columns) == ["plane", "L", "lanes", "bits used", "confirmed", "agreement share", "checked",
                                   "p-value", "linear"]
    assert len(table) == 16 and table["linear"].all() and (table["agreement share"] == 1.0).all()


def test_lcg_low_bits_have_power_of_two_periods():
    values = lcg16(80_000)
    result = scan(values)
    assert result.linear_planes == list(range(16))
    # bit j has period 2^(j+1) and complexity 2^j + 1: C(x) = (1 + x)^(2^j + 1) = 1 + x + x^(2^j) + x^(2^j + 1)
    assert [p.L for p in result.planes] == [2] + [2**j + 1 for j in range(1, 16)]
    assert result.planes[5].taps == [1, 32, 33]
    assert result.family_hint() == "LCG modulo a power of two"


def test_additive_lagged_generator_is_linear_in_its_lowest_planes_only():
    result = scan(lagged_add16(20_000), max_complexity=4096)
    # plane 0: x_t = x_{t-24} + x_{t-55}; plane 1 adds the carry, a product of plane-0 bits (55 + 55 + C(55, 2))
    assert result.linear_planes == [0, 1] and [p.L for p in result.planes[:2]] == [55, 1595]
    assert result.planes[0].taps == [24, 55]
    assert result.family_hint() == "addition with carries (e.g. additive lagged generator)"
    assert "part of each value is linear" in result.describe()


def test_bad_inputs_raise_one_line_errors():
    with pytest.raises(DataError, match="1-D array of integer values"):
        scan(np.zeros(100))
    with pytest.raises(DataError, match="empty"):
        scan(np.zeros(0, np.uint16))
    with pytest.raises(DataError, match="0..65535"):
        scan(np.array([1, 70_000]))
    with pytest.raises(ConfigError, match="alpha"):
        scan(np.zeros(100, np.uint16), alpha=2)
    with pytest.raises(ConfigError, match="max_complexity"):
        scan(np.zeros(100, np.uint16), max_complexity=0)


def test_the_default_scan_finds_the_lowest_bit_of_the_classic_rand():
    # rand() returns bits 16-30 of an LCG modulo 2^32: its bit 0 has period 2^17, so L = 2^16 + 1, one past 2^16.
    values, _ = generate("lcg", 150_000, seed=3, a=214013, c=2531011, m=2**32, shift=16, bits=15)
    found = scan(values, max_check=10_000)
    assert found.linear_planes == [0] and found.planes[0].L == 65_537
    assert found.planes[0].agreements == found.planes[0].checked and found.family_hint() == "LCG modulo a power of two"


def test_xoshiro128_plus_has_its_two_lowest_bits_linear_and_starstar_none():
    # The + scrambler adds two linear words: bit 0 is their XOR (L = 128), bit 1 adds the carry s0[0] s3[0], a
    # product of two linear bits (L = 128 + 128 * 127 / 2 = 8,256); ** leaves no bit linear.
    plus = scan(generate("xoshiro", 60_000, seed=1, scrambler="+")[0], max_complexity=10_000, max_check=20_000)
    assert plus.linear_planes == [0, 1] and [p.L for p in plus.planes[:2]] == [128, 8_256]
    assert plus.family_hint().startswith("the + scrambler of an xorshift-family generator")
    star = scan(generate("xoshiro", 60_000, seed=1, scrambler="**")[0], max_complexity=10_000, max_check=20_000)
    assert star.linear_planes == []


@pytest.mark.parametrize("offset", [0, 1])
def test_the_linear_bits_of_one_slice_of_32_bit_words_are_found_in_their_lane_alone(offset):
    # xoshiro128+'s 32-bit outputs written whole: bits 0-1 of the low halves are linear (L = 128 and 8,256 in their
    # lane), the high halves' bits 16-17 are not, so no plane of the stream is linear at every position.
    state = np.random.default_rng(1).integers(1, 2**32, 4, dtype=np.uint32)
    words = xoshiro128_outputs(np.concatenate([state[None], _linear_stream(_xoshiro128_step, state, 44_999)]), "+")
    values = words.astype("<u4").view("<u2")[offset:]
    result = scan(values[:80_000], max_complexity=10_000, max_check=20_000)
    assert [(p.plane, p.L, p.stride, p.phase) for p in result.planes if p.linear] == [(0, 256, 2, offset),
                                                                                      (1, 16_512, 2, offset)]
    assert result.describe().startswith(f"bit planes 0-1 each obey a linear recurrence of degree 256 to 16,512 over "
                                        f"GF(2) at every 2nd value, those at {offset} mod 2 (degree 128 to 8,256 in "
                                        f"that lane, one 16-bit slice of 32-bit words")
    later = scan(values[3:80_003], max_complexity=10_000, max_check=20_000, start=3)  # a block from value 3 on
    assert [p.phase for p in later.planes if p.linear] == [offset, offset]  # counts from the stream's first value
    assert result.brief() == "bit planes 0-1 of every 2nd value (linear over GF(2), degree 256 to 16,512)"
    assert result.table()["lanes"].tolist()[:3] == [f"{offset} mod 2", f"{offset} mod 2", ""]
    pos = np.arange(80_000, len(values))
    pred, known = result.predict_bits(values, pos)
    low = (pos + offset) % 2 == 0  # the low half of each word: values[i] is value i + offset of the dump
    assert (known[~low] == 0).all() and (known[low] == 0b11).all()
    assert ((pred ^ values[pos]) & known).max() == 0  # exact where known
    lane = 80_000 + (80_000 + offset) % 2  # the first index of the low halves' lane from there
    assert linear_next(result, values, lane).startswith(f"linear recurrence (GF(2)): at index {lane}, bit 0 = ")
    assert linear_next(result, values, lane + 1) == (
        f"linear recurrence (GF(2)): index {lane + 1} is not in the lane where the recurrences hold (indices "
        f"{offset} mod 2), no bit is predicted")


def test_one_linear_plane_is_described_in_the_singular():
    values, _ = generate("mixed", 30_000, seed=4, k=3, degree=17)  # bit 0 an LFSR of degree 17, bits 1-2 not linear
    text = scan(values, max_complexity=2048).describe()
    assert text.startswith("bit plane 0 obeys a linear recurrence of degree 17")
    assert "; bit 0 of every value is predicted from the 17 values before it" in text and "bits 0" not in text
