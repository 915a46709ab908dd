"""Published LCGs: the state recovered from truncated outputs (by stepping candidates and by lattice reduction) and from
dice (their bits modulo the faces), nothing found where no LCG made the values (nor dice of one outside the catalogue),
and the predictor's exact probabilities and causality (LCGs outside the catalogue: test_uncatalogued)."""
import math

import numpy as np
import pytest
import torch

from seqlib.baselines import CongruentialPredictor
from seqlib.congruential import CATALOGUE, Congruential, Lcg, find_congruential, fit_counts
from seqlib.errors import CheckpointError, DataError
from seqlib.sources import generate
from seqlib.tokenize import fit_tokenizer

from conftest import windows_for


def lcg_outputs(a: int, c: int, m: int, n: int, out, seed: int = 20_261_202) -> np.ndarray:
    """n outputs out(x) of x <- a x + c mod m, in plain Python integers (an emulation independent of seqlib's)."""
    x, values = seed % m, []
    for _ in range(n):
        x = (a * x + c) % m
        values.append(out(x))
    return np.array(values, dtype=np.int64)


JAVA = (0x5DEECE66D, 11, 1 << 48)
STREAMS = {  # name: (values, catalogue name, bit offset, width)
    "java nextInt(65536)": (lambda n: lcg_outputs(*JAVA, n, lambda x: x >> 32), "java.util.Random", 32, 16),
    "java nextInt() & 0xFFFF": (lambda n: lcg_outputs(*JAVA, n, lambda x: (x >> 16) & 0xFFFF), "java.util.Random",
                                16, 16),
    "MSVC rand()": (lambda n: lcg_outputs(214_013, 2_531_011, 1 << 32, n, lambda x: (x >> 16) & 0x7FFF), "MSVC", 16,
                    15),
    "musl rand() >> 15": (lambda n: lcg_outputs(6_364_136_223_846_793_005, 1, 1 << 64, n, lambda x: x >> 48), "musl",
                          48, 16),
    "MINSTD & 0xFFFF": (lambda n: lcg_outputs(16_807, 0, 2**31 - 1, n, lambda x: x & 0xFFFF), "MINSTD", 0, 16),
}


@pytest.mark.parametrize("name", STREAMS)
def test_search_recovers_the_generator_and_the_bits_its_values_keep(name):
    make, catalogue_name, shift, width = STREAMS[name]
    found = find_congruential(make(20_000))
    assert found.name.startswith(catalogue_name) or catalogue_name in found.name
    assert (found.shift, found.width, found.misses) == (shift, width, 0) and found.n_check == 18_000
    assert found.describe().startswith(f"the values are bits {shift}-{shift + width - 1} of the states of the linear "
                                       f"congruential generator")


def dump(a: int, c: int, m: int, n: int, shift: int, stride: int, high_first: bool) -> np.ndarray:
    """n outputs of 16 stride bits (from bit `shift`) of x <- a x + c mod m, each as `stride` 16-bit values: a dump of
    32- or 64-bit outputs read as 16-bit values (high_first: a big-endian dump read as big-endian values)."""
    x, values = 20_261_202, []
    for _ in range(n):
        x = (a * x + c) % m
        word = (x >> shift) & ((1 << 16 * stride) - 1)
        parts = [(word >> 16 * i) & 0xFFFF for i in range(stride)]
        values += parts[::-1] if high_first else parts
    return np.array(values, dtype=np.int64)


@pytest.mark.parametrize("params, name, shift, stride, high_first", [
    ((1_664_525, 1_013_904_223, 1 << 32, 0, 2, False), "Numerical Recipes", 0, 2, False),  # whole 32-bit states
    ((1_664_525, 1_013_904_223, 1 << 32, 0, 2, True), "Numerical Recipes", 0, 2, True),  # a big-endian dump
    ((*JAVA, 16, 2, False), "java.util.Random", 16, 2, False),  # Java's nextInt(), 32 bits
    ((6_364_136_223_846_793_005, 1_442_695_040_888_963_407, 1 << 64, 0, 4, False), "MMIX", 0, 4, False),
], ids=["32-bit LE", "32-bit BE", "java nextInt() LE", "64-bit LE"])
def test_a_dump_of_wider_outputs_is_found_at_its_phase_and_its_halves_order(params, name, shift, stride, high_first):
    values = dump(*params[:3], 12_000, *params[3:])[1:]  # from the second value: the outputs start mid-way
    found = find_congruential(values)
    assert name in found.name and (found.shift, found.width, found.stride, found.high_first) == (
        shift, 16 * stride, stride, high_first) and found.misses == 0
    assert found.describe().startswith(f"every {stride} values are, {'highest' if high_first else 'lowest'} 16 bits "
                                       f"first, bits {shift}-{shift + 16 * stride - 1} of the states")
    tokenizer = fit_tokenizer(values, "bytes16")
    windows = windows_for(values, tokenizer, np.array([8_001, 8_100, 9_003]), seq_len=32, heads=2)  # odd offsets
    pred = CongruentialPredictor(found, tokenizer).predict(windows)
    truth = torch.from_numpy(tokenizer.encode(windows.target_values))
    eps = found.eps
    torch.testing.assert_close(pred.log_prob(truth), torch.full(truth.shape, math.log(1 - eps + eps / 65536)),
                               atol=1e-6, rtol=0)


MSVC = (214_013, 2_531_011, 1 << 32)
DICE = {  # name: (values, catalogue name, bit offset, width, faces, lowest face, the describe() text's start)
    "MSVC rand() % 6 + 1": (lambda n: lcg_outputs(*MSVC, n, lambda x: ((x >> 16) & 0x7FFF) % 6 + 1), "MSVC", 16, 15,
                            6, 1, "the values are 1 + (bits 16-30 of the states of the linear congruential generator "
                                  "x' = 214,013 x + 2,531,011 (mod 2^32)) mod 6 (hint: MSVC"),
    "Borland rand() % 20": (lambda n: lcg_outputs(22_695_477, 1, 1 << 32, n, lambda x: ((x >> 16) & 0x7FFF) % 20),
                            "Borland", 16, 15, 20, 0, "the values are (bits 16-30 of the states"),
    "MSVC rand() % 100": (lambda n: lcg_outputs(*MSVC, n, lambda x: ((x >> 16) & 0x7FFF) % 100), "MSVC", 16, 15, 100,
                          0, "the values are (bits 16-30"),
    "C standard rand() % 2": (lambda n: lcg_outputs(1_103_515_245, 12_345, 1 << 32, n, lambda x: (x >> 16) & 1),
                              "the C standard", 16, 1, 2, 0, "the values are bit 16 of the states"),
    "MSVC rand() & 0xFF": (lambda n: lcg_outputs(*MSVC, n, lambda x: (x >> 16) & 0xFF), "MSVC", 16, 8, 256, 0,
                           "the values are bits 16-23 of the states"),
    "Java nextInt(6) + 1": (lambda n: lcg_outputs(*JAVA, n, lambda x: (x >> 17) % 6 + 1), "java.util.Random", 17, 31,
                            6, 1, "the values are 1 + (bits 17-47 of the states of the linear congruential generator "
                                  "x' = 25,214,903,917 x + 11 (mod 2^48)) mod 6"),  # 30 bits above the parity
}


@pytest.mark.parametrize("name", DICE)
def test_dice_of_a_catalogued_generator_recover_its_state_from_their_faces(name):
    make, catalogue_name, shift, width, faces, low, text = DICE[name]
    found = find_congruential(make(20_000))
    assert catalogue_name in found.name and (found.shift, found.width, found.faces, found.low) == (
        shift, width, faces, low)
    assert (found.misses, found.n_check) == (0, 18_000) and found.describe().startswith(text)


def test_a_die_s_misses_are_counted_exactly_and_its_state_is_recovered_from_any_window():
    values = DICE["MSVC rand() % 6 + 1"][0](21 + 15 * 2_000)  # the recovery's 21 throws, then 15 chunks of 2,000
    replaced = np.arange(5_000, len(values), 991)
    values[replaced] = values[replaced] % 6 + 1  # another face
    found = find_congruential(values)
    # each miss is counted; the 21 values after one are not (the predictor waits for 21 that fit)
    assert found.needs == 21 and (found.n_check, found.misses) == (30_000 - 21 * len(replaced), len(replaced))
    x = found.recover(values[20_001:20_001 + found.needs])
    assert found.outputs([x], 50)[0].tolist() == values[20_001:20_051].tolist()
    assert found.recover(values[20_001:20_001 + found.needs] % 6 + 1) is None  # not the generator's throws


def test_the_predictor_puts_one_minus_eps_on_the_generator_s_face_and_reads_only_the_past():
    values = DICE["MSVC rand() % 6 + 1"][0](30_000)
    found, tokenizer = find_congruential(values[:20_000]), fit_tokenizer(values, "exact")
    assert tokenizer.n_values == 6
    start, seq_len = np.array([25_000]), 2 * found.needs  # rows predict from 25,000 + needs + 1 on
    probs = CongruentialPredictor(found, tokenizer).predict(windows_for(values, tokenizer, start, seq_len)).dense()
    first = 25_000 + found.needs + 1  # the first row's target; the recovery reads the needs values before it
    truth = torch.from_numpy(tokenizer.encode(values[first:25_000 + seq_len + 1]))
    assert torch.allclose(probs[:, 0].exp()[torch.arange(len(truth)), truth],
                          torch.full((len(truth),), 1 - found.eps + found.eps / 6), atol=1e-5)
    changed = values.copy()
    changed[first + 6] = changed[first + 6] % 6 + 1  # the target of the seventh row
    after = CongruentialPredictor(found, tokenizer).predict(windows_for(changed, tokenizer, start, seq_len)).dense()
    torch.testing.assert_close(after[:7], probs[:7], atol=0, rtol=0)  # its own row and the rows before it
    torch.testing.assert_close(after[7:, :, :6], torch.full_like(after[7:, :, :6], -math.log(6)), atol=1e-5, rtol=0)


def test_a_window_shorter_than_a_recovery_is_predicted_from_the_values_before_it():
    values = DICE["MSVC rand() % 6 + 1"][0](30_000)
    found, tokenizer = find_congruential(values[:20_000]), fit_tokenizer(values, "exact")
    assert found.needs == 21  # more than the 8 to 15 values of context of a window of 16
    windows = windows_for(values, tokenizer, np.array([21_000, 25_000, 10]))  # rows: targets 8 + 1.. 16 on
    probs = CongruentialPredictor(found, tokenizer).predict(windows).dense()[:, 0].exp()
    truth = torch.from_numpy(tokenizer.encode(windows.target_values[:, 0]))
    hit = probs[torch.arange(len(truth)), truth]
    predicted = 1 - found.eps + found.eps / 6
    assert torch.allclose(hit[:16], torch.full((16,), predicted), atol=1e-5)  # every row of the first two windows
    # the third window's targets are the file's values 19..26: a state needs values 0..20 before its target
    assert torch.allclose(hit[16:18], torch.full((2,), 1 / 6), atol=1e-5)
    assert torch.allclose(hit[18:], torch.full((6,), predicted), atol=1e-5)


def test_a_deep_recovery_follows_a_reseed_and_backs_off_on_a_stream_the_generator_did_not_make():
    # Java's nextInt(6): a recovery steps 2^30 / 3 candidates (seconds), so windows jump ahead where they can
    java = lambda n, seed: lcg_outputs(*JAVA, n, lambda x: (x >> 17) % 6 + 1, seed)
    values = np.concatenate([java(25_000, 20_261_202), java(5_000, 7)])  # reseeded at 25,000
    found, tokenizer = find_congruential(values[:20_000]), fit_tokenizer(values, "exact")
    assert found.deep and not find_congruential(DICE["MSVC rand() % 6 + 1"][0](20_000)).deep
    predictor = CongruentialPredictor(found, tokenizer)
    windows = windows_for(values, tokenizer, np.array([21_000, 21_500, 29_000]))
    probs = predictor.predict(windows).dense()[:, 0].exp()
    truth = torch.from_numpy(tokenizer.encode(windows.target_values[:, 0]))
    assert predictor._tries == 2  # the first window's recovery and the one after the reseed; the second jumped
    assert torch.allclose(probs[torch.arange(len(truth)), truth], torch.full((len(truth),), 1 - found.eps +
                          found.eps / 6), atol=1e-5)
    dice = np.random.default_rng(3).integers(1, 7, 30_000)  # a stream the generator did not make
    predictor = CongruentialPredictor(found, tokenizer)
    probs = predictor.predict(windows_for(dice, tokenizer, np.arange(21_000, 21_320, 32))).dense()[:, 0, :6].exp()
    assert predictor._tries == 3 and torch.allclose(probs, torch.full_like(probs, 1 / 6), atol=1e-5)  # windows 0, 2, 5
    predictor = CongruentialPredictor(found, tokenizer)
    predictor.predict(windows_for(dice, tokenizer, np.arange(20_000, 26_400, 16)))  # 400 windows: 2^8 > 263
    assert predictor._tries == predictor.DEEP_TRIES


@pytest.mark.parametrize("values", [
    np.random.default_rng(0).integers(1, 7, 30_000),  # a fair die
    lcg_outputs(69_069, 1, 1 << 32, 30_000, lambda x: ((x >> 16) & 0x7FFF) % 6),  # not catalogued
    lcg_outputs(*MSVC, 30_000, lambda x: ((x >> 16) & 0x7FFF) % 5),  # an odd die: no bit of the state in it
    np.arange(30_000) % 2,  # a cycle of two values (bit 10 of a RANDU state 2^9 u): too short to name a generator
], ids=["fair die", "uncatalogued", "odd die", "period 2"])
def test_search_names_no_generator_for_dice_it_cannot_or_should_not_recover(values):
    assert find_congruential(values.astype(np.uint16)) is None


def java_math_random_dice(n: int, faces: int, seed: int = 20_261_202) -> np.ndarray:
    """(int) (Math.random() * faces) + 1 as Java computes it: a double from next(26) and next(27) of two steps."""
    a, c, m = JAVA
    x, values = (seed ^ a) % m, []
    for _ in range(n):
        x = (a * x + c) % m
        high = x >> 22
        x = (a * x + c) % m
        values.append(int(((high << 27) + (x >> 21)) * 2.0 ** -53 * faces) + 1)
    return np.array(values, np.int64)


SCALED_DICE = {  # name: (values, catalogue name, bit offset, width, steps, faces, the describe() text's start)
    "Java (int) (Math.random() * 6) + 1": (lambda n: java_math_random_dice(n, 6), "java.util.Random", 22, 26, 2, 6,
                                           "the values are 1 + floor(6 y / 2^26) with y = bits 22-47 of the states at "
                                           "every second step of the linear congruential generator x' = "
                                           "25,214,903,917 x + 11 (mod 2^48) (hint: java.util.Random, POSIX "
                                           "drand48/lrand48: Java's (int) (Math.random() * 6)"),
    "MSVC rand() * 6 / (RAND_MAX + 1) + 1": (lambda n: lcg_outputs(*MSVC, n, lambda x: ((x >> 16) & 0x7FFF) * 6 // 32768
                                                                   + 1), "MSVC", 16, 15, 1, 6, "the values are 1 + "
                                             "floor(6 y / 2^15) with y = bits 16-30 of the states of"),
    "Delphi Random(5), an odd die": (lambda n: lcg_outputs(134_775_813, 1, 1 << 32, n, lambda x: x * 5 >> 32),
                                     "Delphi", 0, 32, 1, 5, "the values are floor(5 y / 2^32) with y = bits 0-31"),
    "MINSTD / m * 20": (lambda n: lcg_outputs(16_807, 0, 2**31 - 1, n, lambda x: int(x / (2**31 - 1) * 20)),
                        "MINSTD (Park-Miller 1988", 0, 31, 1, 20, "the values are floor(20 y / 2^31)"),
}


@pytest.mark.parametrize("name", SCALED_DICE)
def test_dice_scaled_from_the_top_of_a_catalogued_generator_are_recovered_by_the_lattice(name):
    make, catalogue, shift, width, steps, faces, text = SCALED_DICE[name]
    values = make(30_000)
    found = find_congruential(values)
    assert found.name.startswith(catalogue) and (found.shift, found.width, found.steps) == (shift, width, steps)
    assert (found.faces, found.scaled, found.misses, found.deep) == (faces, True, 0, True)
    assert found.describe().startswith(text)
    x = found.recover(values[20_001:20_001 + found.needs])  # from any window
    assert found.outputs([x], 500)[0].tolist() == values[20_001:20_501].tolist()


def test_the_predictor_puts_one_minus_eps_on_a_scaled_die_s_face():
    values = java_math_random_dice(30_000, 6)
    found, tokenizer = find_congruential(values[:20_000]), fit_tokenizer(values, "exact")
    windows = windows_for(values, tokenizer, np.array([21_000, 25_000, 29_000]), 32)
    probs = CongruentialPredictor(found, tokenizer).predict(windows).dense()[:, 0].exp()
    truth = torch.from_numpy(tokenizer.encode(windows.target_values[:, 0]))
    assert torch.allclose(probs[torch.arange(len(truth)), truth], torch.full((len(truth),), 1 - found.eps +
                          found.eps / 6), atol=1e-5)
    assert found.next_text(values, 25_000) == ("LCG state recovery: x' = 25,214,903,917 x + 11 (mod 2^48) (java.util."
                                               f"Random, POSIX drand48/lrand48) puts the value at index 25000 at "
                                               f"{values[25_000]}")  # the generator's own constants, not 2 steps'


@pytest.mark.parametrize("values", [
    np.random.default_rng(0).integers(0, 65536, 30_000),  # random 16-bit values
    np.random.default_rng(1).integers(0, 6, 30_000),  # a die: too few bits a value to search
    generate("mt19937", 30_000, seed=2)[0],  # linear over GF(2), not congruential
    np.r_[4095, np.zeros(20_000, int)],  # 12 bits wide, but zeros: a fixed point of RANDU and MINSTD, not their output
], ids=["random", "die", "mt19937", "zeros"])
def test_search_finds_nothing_where_no_lcg_made_the_values(values):
    assert find_congruential(values.astype(np.uint16)) is None


def test_misses_are_counted_exactly_where_other_values_replace_the_generator_s():
    values = STREAMS["java nextInt(65536)"][0](7 + 15 * 2_000)  # the recovery's 7 values, then 15 chunks of 2,000
    replaced = np.arange(5_000, len(values), 997)  # after the recovery and its first check
    values[replaced] ^= 0x0101
    found = find_congruential(values)
    n_check = 30_000 - found.look * len(replaced)  # the look values after a miss count only once they all fit
    assert found.look == 7 and (found.n_check, found.misses) == (n_check, len(replaced))
    assert found.eps == (len(replaced) + 1) / (n_check + 2)


def test_fit_counts_counts_a_value_only_after_look_right_ones():
    wrong = np.array([0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0], bool)  # look 2: counted at 0, 1, 2 (a miss), 5, 6 (a miss), 10
    assert fit_counts(wrong, 2) == (6, 2)
    assert fit_counts(np.array([[1, 0, 0, 0], [0, 0, 0, 0]], bool), 2) == (6, 1)  # the first: its miss, then at 3
    assert fit_counts(np.zeros((3, 5), bool), 9) == (15, 0)  # chunks shorter than look count whole


def test_a_stream_reseeded_in_the_block_counts_one_miss_not_every_value_after_the_reseed():
    java = lambda n, seed: lcg_outputs(*JAVA, n, lambda x: x >> 32, seed)
    values = np.concatenate([java(20_000, 20_261_202), java(10_000, 7)])  # reseeded at 20,000 of 30,000
    found = find_congruential(values)
    # 14 chunks of 2,000, 2,142 apart from value 7: nine whole ones before the reseed, the tenth's 715 to it and its
    # first miss; the four after it start with misses and are left out
    assert (found.misses, found.n_check) == (1, 9 * 2_000 + 716)
    assert find_congruential(values[:20_000]).misses == 0


def test_search_refuses_an_array_that_is_not_a_stream_of_integers():
    with pytest.raises(DataError, match="1-D array of integer values"):
        find_congruential(np.zeros(10_000))
    values = np.arange(10_000)
    values[:2] = -1, 65_536
    with pytest.raises(DataError, match="values must lie in 0..65535, got -1..65536"):
        find_congruential(values)


def test_jump_ahead_equals_stepping_one_value_at_a_time():
    lcg = Lcg("test", *JAVA)
    x = 123_456_789
    stepped = x
    for _ in range(1_000):
        stepped = (lcg.a * stepped + lcg.c) % lcg.m
    assert lcg.jump(x, 1_000) == stepped and lcg.jump(x, 0) == x


def test_a_found_generator_survives_a_weights_only_checkpoint_and_refuses_a_foreign_dict(tmp_path):
    found = find_congruential(STREAMS["musl rand() >> 15"][0](10_000))  # a modulus of 2^64: beyond int64
    torch.save({"congruential": found.to_dict()}, tmp_path / "c.pt")
    assert Congruential.from_dict(torch.load(tmp_path / "c.pt", weights_only=True)["congruential"]) == found
    with pytest.raises(CheckpointError, match="not a Congruential dict"):
        Congruential.from_dict({"name": "x"})


def test_every_catalogued_generator_has_a_state_of_at_least_sixteen_bits():
    assert all(lcg.bits >= 16 and 0 < lcg.a < lcg.m for lcg in CATALOGUE)


@pytest.mark.parametrize("kind", ["bytes16", "bits16"])
def test_the_predictor_gives_every_head_the_generator_s_value_with_probability_one_minus_eps(kind):
    values = STREAMS["java nextInt(65536)"][0](30_000)
    found, tokenizer = find_congruential(values[:20_000]), fit_tokenizer(values, kind)
    windows = windows_for(values, tokenizer, np.array([20_000, 20_100, 25_000]), heads=3)  # a jump, then a gap
    pred = CongruentialPredictor(found, tokenizer).predict(windows)
    truth = torch.from_numpy(tokenizer.encode(windows.target_values))
    eps = found.eps
    torch.testing.assert_close(pred.log_prob(truth), torch.full(truth.shape, math.log(1 - eps + eps / 65536)),
                               atol=1e-6, rtol=0)
    other = torch.from_numpy(tokenizer.encode(windows.target_values ^ 0x0100))
    torch.testing.assert_close(pred.log_prob(other), torch.full(truth.shape, math.log(eps / 65536)), atol=1e-5,
                               rtol=0)
    assert torch.allclose(pred.dense().exp().sum(-1), torch.ones(len(truth), 3), atol=1e-4)


def test_the_predictor_over_exact_tokens_puts_the_mass_on_the_generator_s_token():
    values = lcg_outputs(214_013, 2_531_011, 1 << 32, 30_000, lambda x: (x >> 19) & 0xFFF)  # 12 bits a value
    found, tokenizer = find_congruential(values[:20_000]), fit_tokenizer(values, "exact", max_vocab=4096)
    assert tokenizer.kind == "exact" and (found.shift, found.width) == (19, 12)
    windows = windows_for(values, tokenizer, np.array([25_000]), seq_len=32)
    probs = CongruentialPredictor(found, tokenizer).predict(windows).dense()[:, 0].exp()
    truth = torch.from_numpy(tokenizer.encode(values[windows.positions]))
    assert torch.allclose(probs[torch.arange(len(truth)), truth], torch.full((len(truth),), 1 - found.eps +
                          found.eps / tokenizer.n_values), atol=1e-5)


@pytest.mark.parametrize("make", [lambda: STREAMS["java nextInt(65536)"][0](30_000),
                                  lambda: dump(1_664_525, 1_013_904_223, 1 << 32, 15_000, 0, 2, False)],
                         ids=["one value a state", "two values a state"])
def test_the_predictor_reads_only_the_values_before_each_position_and_falls_back_to_chance(make):
    values = make()
    found, tokenizer = find_congruential(values[:20_000]), fit_tokenizer(values, "bytes16")
    start = np.array([25_000])
    before = CongruentialPredictor(found, tokenizer).predict(windows_for(values, tokenizer, start)).dense()
    changed = values.copy()
    changed[25_012] ^= 0x5A5A  # the target of the fourth scored row (rows predict 25,009..25,016)
    after = CongruentialPredictor(found, tokenizer).predict(windows_for(changed, tokenizer, start)).dense()
    torch.testing.assert_close(after[:4], before[:4], atol=0, rtol=0)  # its own row and the rows before it
    # every later row's context holds a value the generator did not give: chance, exactly
    torch.testing.assert_close(after[4:], torch.full_like(after[4:], -math.log(65536)), atol=1e-5, rtol=0)
    nothing = CongruentialPredictor(None, tokenizer).predict(windows_for(values, tokenizer, start)).dense()
    torch.testing.assert_close(nothing, torch.full_like(nothing, -math.log(65536)), atol=1e-5, rtol=0)


def test_a_window_whose_first_values_are_not_the_generator_s_is_predicted_at_chance():
    values = STREAMS["java nextInt(65536)"][0](30_000)
    found, tokenizer = find_congruential(values[:20_000]), fit_tokenizer(values, "bytes16")
    noisy = values.copy()
    noisy[25_000:25_007] = np.random.default_rng(5).integers(0, 65536, 7)  # the values a recovery would read
    pred = CongruentialPredictor(found, tokenizer).predict(windows_for(noisy, tokenizer, np.array([25_000])))
    torch.testing.assert_close(pred.dense(), torch.full_like(pred.dense(), -math.log(65536)), atol=1e-5, rtol=0)
