"""The verdict on streams from real generator implementations nobody on the project wrote (glibc via ctypes,
CPython's random, NumPy's bit generators, os.urandom), exact emulations where none is at hand (java.util.Random,
MINSTD, RANDU, .NET's Random, MSVC's and musl's rand(), dumps of 32-bit outputs) or the published recurrences where
the seeding is not at hand (Knuth's ran_array, Go's math/rand, RANLUX's subtract-with-borrow), and entropy-source
simulations that are not generators.

`python benchmarks/real_generators.py [--quick] [--write]`: per stream, a tiny model trained for one step (the verdict
comes from evaluate, which needs a checkpoint; the model adds nothing after one step), then evaluate: the GF(2) scan
of the training block, the lagged-sum, LCG, MT19937, xorshift-family and seed searches, every baseline and the
verdict, as the CLI's evaluate gives them. The table says what the ground truth is (from the generator's
definition), what seqlib found, and whether both agree. About 20 s per stream.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

import real_streams as R
from common import met, report_if
from seqlib.baselines import LINEAR
from seqlib.evaluate import evaluate
from seqlib.model import ModelConfig
from seqlib.seeded import Seeded
from seqlib.sources import write_u16
from seqlib.train import TrainConfig, train

LINEAR_VERDICT, LAGGED_VERDICT, LCG_VERDICT, MT_VERDICT, V8_VERDICT = "linear", "lagged sum", "LCG", "MT19937", "V8"
SCRAMBLED_VERDICT, SEEDED_VERDICT = "scrambled xorshift", "seed replay"
SIMPLE, NONE = "simple statistics", "no structure found"


@dataclass
class Stream:
    name: str
    how: str
    make: Callable[[int, int], np.ndarray]  # (n, seed) -> values
    expect: str  # LINEAR_VERDICT, LAGGED_VERDICT, LCG_VERDICT, MT_VERDICT, V8_VERDICT, SCRAMBLED_VERDICT,
    # SEEDED_VERDICT, SIMPLE or NONE: what an honest verdict says
    truth: str  # the ground truth in words
    linear: dict[int, int | None] = field(default_factory=dict)  # plane -> its true L (None: finite, not derived)
    lagged: list[int] = field(default_factory=list)  # the lags of x_t = +-x_{t-a} +-x_{t-b} + small (mod 2^16)
    lcg: tuple[str, int] | None = None  # (a word of its catalogue name, the bit offset of the values in its state)
    tokenizer: str = "auto"
    view: tuple[int, int] = (0, 1)  # the linear planes are those of (x - low) // div (a die's top bits)
    twister: str | None = None  # the layout of MT19937's outputs in the throws (twister.LAYOUTS); /64: MT19937-64
    scrambled: str | None = None  # the scrambled generator (scrambled.GENERATORS) and its layout, "name order/width"
    seeded: str | None = None  # the seeded library call (seeded.Seeded.call) that made the stream, where it is listed


def _lcg_planes(first: int, last: int, L: Callable[[int], int]) -> dict[int, int]:
    return {j: L(j) for j in range(first, last + 1)}


STREAMS = [
    Stream("glibc random() & 0xFFFF", "ctypes libc srandom(1), random()", lambda n, s: R.glibc_random(n, s, 0),
           LAGGED_VERDICT, "TYPE_3 r[i] = r[i-3] + r[i-31] mod 2^32, out r >> 1: x_t = x_{t-3} + x_{t-31} + carry "
           "(0 w.p. 3/4, 1 w.p. 1/4: 0.81 bits/value). Over GF(2): state bit 0 is an LFSR (L = 31), plane 0 = state "
           "bit 1 = its XOR plus the carry AND (L = 31 + 31 + C(31,2) = 527), plane 1 = state bit 2 (carries of degree "
           "3, L < 65,537); planes 2+ beyond 65,537", {0: 527, 1: None}, [3, 31]),
    Stream("glibc random() >> 15", "ctypes libc srandom(1), random() >> 15", lambda n, s: R.glibc_random(n, s, 15),
           LAGGED_VERDICT, "state bits 16-31 of the additive generator: x_t = x_{t-3} + x_{t-31} + a carry of 0 or 1 "
           "(1 bit/value); over GF(2) carries of degree > 16, L far beyond reach", lagged=[3, 31]),
    Stream(".NET System.Random.Next(65536)", "exact emulation (Knuth subtractive, Microsoft's seeding, seed 1)",
           R.dotnet_next_65536, LAGGED_VERDICT, "x_t = x_{t-55} - x_{t-34} mod 2^31 - 1, scaled to 16 bits: the "
           "top bits follow the same difference up to a borrow of 0 or 1", lagged=[34, 55]),
    Stream("Knuth ran_array, top 16 bits", "the recurrence x_t = x_{t-100} - x_{t-37} mod 2^30 (seeded from NumPy)",
           R.knuth_ran_array, LAGGED_VERDICT, "subtractive lagged Fibonacci: a borrow of 0 or 1 (1 bit/value)",
           lagged=[37, 100]),
    Stream("Go math/rand Intn(65536)", "the recurrence x_t = x_{t-607} + x_{t-273} mod 2^64 (seeded from NumPy), "
           "bits 32-47", R.go_math_rand, LAGGED_VERDICT, "additive lagged Fibonacci with lags beyond any model window: "
           "a carry of 0 or 1 (1 bit/value)", lagged=[273, 607]),
    Stream("RANLUX (luxury 0) subtract-with-borrow, top 16 bits", "x_t = x_{t-10} - x_{t-24} - c mod 2^24, exact "
           "recurrence (seeded from NumPy)", R.ranlux_swb, LAGGED_VERDICT, "the borrow and the carry of the dropped "
           "bits: r in {0, -1}", lagged=[10, 24]),
    Stream("glibc rand() % 6 + 1 (a die)", "ctypes libc srand(1), rand() % 6 + 1", R.glibc_dice, LAGGED_VERDICT,
           "r = r[i-3] + r[i-31] mod 2^32, out r >> 1: the die obeys the sum mod 6 up to the carry and the wrap "
           "(2^31 = 2 mod 6), r in {-2, -1, 0, 3}; its parity is linear (L = 528)", {0: 528}, lagged=[3, 31]),
    Stream("glibc (int) (rand() / (RAND_MAX + 1.0) * 6) + 1 (a die)", "ctypes libc srand(1), rand()",
           R.glibc_rand_scaled_dice, LAGGED_VERDICT, "scaled from the top of r[i] = r[i-3] + r[i-31] mod 2^32: the die "
           "obeys the sum mod 6 up to a carry of 0 or -1 (1 bit/value)", lagged=[3, 31]),
    Stream("MSVC rand() % 6 + 1 (a die)", "exact emulation (as MSVC rand()), % 6 + 1", R.msvc_dice, LCG_VERDICT,
           "the parity is state bit 16 (L = 2^16 + 1); the faces fix the other 14 bits: 30 hidden bits in all",
           {0: 65_537}, lcg=("MSVC", 16)),
    Stream("java.util.Random nextInt(6) + 1 (a die)", "exact emulation (next(31) % 6, with nextInt's rejection)",
           R.java_dice, LCG_VERDICT, "the parity is state bit 17 (L = 2^17 + 1, beyond reach over GF(2)); the faces "
           "fix the 30 bits above it", lcg=("java.util.Random", 17)),
    Stream("java.util.Random nextInt(6) + 1, reseeded twice (a die)", "java_dice seeded anew at 50% and 95% of the "
           "stream (three sessions of a game)", R.java_dice_reseeded, LCG_VERDICT, "as nextInt(6) + 1, in three "
           "runs of different states: the held-out block holds the third seed", lcg=("java.util.Random", 17)),
    Stream("Java (int) (Math.random() * 6) + 1 (a die)", "exact emulation (nextDouble of Random(1): next(26), "
           "next(27))", R.java_math_random_dice, LCG_VERDICT, "scaled from the top of every second state: 2.58 of 48 "
           "bits a throw, found by the lattice", lcg=("java.util.Random", 22)),
    Stream("MSVC rand() * 6 / (RAND_MAX + 1) + 1 (a die)", "exact emulation (as MSVC rand())", R.msvc_scaled_dice,
           LCG_VERDICT, "state bits 28-30 and the interval below them: the lattice", lcg=("MSVC", 16)),
    Stream("Delphi Random(6) + 1 (a die)", "exact emulation, (RandSeed * 6) >> 32", R.delphi_dice, LCG_VERDICT,
           "floor(6 x / 2^32) of a 32-bit LCG: the lattice", lcg=("Delphi", 0)),
    Stream("glibc (int) (drand48() * 6) + 1 (a die)", "ctypes libc srand48(1), drand48()", R.glibc_drand48_dice,
           LCG_VERDICT, "floor(6 x / 2^48) of the 48-bit state: the lattice", lcg=("java.util.Random", 24)),
    Stream("glibc lrand48() % 6 + 1 (a die)", "ctypes libc srand48(1), lrand48() % 6 + 1", R.glibc_lrand48_dice,
           LCG_VERDICT, "as Java's nextInt(6): state bits 17-47 mod 6", lcg=("java.util.Random", 17)),
    Stream("C++ uniform_int_distribution(1, 20) over mt19937 (a d20)", "g++ and its libstdc++, std::mt19937(1)",
           lambda n, s: R.cpp_dice(n, s, 1, 20), MT_VERDICT, "1 + floor(20 x / 2^32): no plane of the faces is "
           "linear; (face - 1) // 5 is the top 2 bits of the MT output (L = 19,937), and one of them fixes MT's state",
           {0: 19_937, 1: 19_937}, view=(1, 5), twister="scaled"),
    Stream("C++ uniform_int_distribution(0, 5) over mt19937 (a d6 from 0)", "g++ and its libstdc++, std::mt19937(1)",
           lambda n, s: R.cpp_dice(n, s, 0, 5), MT_VERDICT, "floor(6 x / 2^32): face // 3 is the top bit of the "
           "MT output (L = 19,937), which fixes MT's state", {0: 19_937}, view=(0, 3), twister="scaled"),
    Stream("C++ mt19937() % 6 + 1 (a die)", "g++, std::mt19937(1), 1 + g() % 6",
           lambda n, s: R.cpp_dice(n, s, 1, 6, True), MT_VERDICT, "the parity is the complement of the MT output's bit 0 (L = 19,938), which fixes MT's state",
           {0: 19_938}, twister="mod"),
    Stream("C++ uniform_int_distribution(1, 6) over mt19937_64 (a die)", "g++ and its libstdc++, std::mt19937_64(1)",
           lambda n, s: R.cpp_dice(n, s, 1, 6, bits=64), MT_VERDICT, "1 + floor(6 x / 2^64): plane 2 of the faces is "
           "the top bit of the 64-bit output (L = 19,937), which fixes the state", {2: 19_937}, twister="scaled/64"),
    Stream("C++ mt19937_64() % 100 (a d100 from 0)", "g++, std::mt19937_64(1), g() % 100",
           lambda n, s: R.cpp_dice(n, s, 0, 99, True, 64), MT_VERDICT, "planes 0-1 are bits 0-1 of the output "
           "(L = 19,937), which fix the state", {0: 19_937, 1: 19_937}, twister="mod/64"),
    Stream("Python int(random.random() * 6) + 1 (a die)", "CPython random.Random(1)", R.python_float_dice, MT_VERDICT,
           "53 bits of two MT outputs per throw: bit 2 of the face is the top bit of the first (L = 19,937); seed 1 "
           "is replayed too", {2: 19_937}, twister="float", seeded="Python's 1 + int(random.Random(1).random() * 6)"),
    Stream("NumPy RandomState.random_sample() * 20 (a d20)", "NumPy's legacy MT19937, RandomState(1)",
           R.numpy_legacy_float_dice, MT_VERDICT, "as Python's random(): (face - 1) // 5 is the top 2 bits of the "
           "first of two MT outputs (L = 19,937); seed 1 is replayed too", {0: 19_937, 1: 19_937}, view=(1, 5),
           twister="float", seeded="NumPy's 1 + int(RandomState(1).random_sample() * 20)"),
    Stream("V8 Math.floor(Math.random() * 65536)", "exact emulation of V8's xorshift128+ and its cache of 64, handed "
           "out last first (Node.js, Chrome)", R.v8_math_random_65536, LINEAR_VERDICT, "the top 16 bits of state0: "
           "in the natural order each plane has L = 128; the cache reverses every 64 values, so each value depends "
           "on the values 64 k before it: L = 64 x 128 = 8,192", {j: 8_192 for j in range(16)}),
    Stream("V8 Math.floor(Math.random() * 6) + 1 (a die)", "exact emulation, as above", R.v8_math_random_dice,
           V8_VERDICT, "floor(6 y) of the top 52 bits y of state0: bit 2 of the face is y's top bit (L = 8,192 "
           "as above), and those bits fix the 128-bit state", {2: 8_192}),
    Stream("V8 Math.floor(Math.random() * 3) (rock-paper-scissors)", "exact emulation, as above",
           lambda n, s: R.v8_math_random_dice(n, s, 3, 0), V8_VERDICT, "floor(3 y): no plane linear (the middle face "
           "straddles 1/2), but faces 0 and 2 fix y's top bit, which fixes the state"),
    Stream(".NET System.Random.Next(1, 7) (a die)", "exact emulation (as Next(65536)), (int)(x / (2^31 - 1) * 6) + 1",
           R.dotnet_dice, LAGGED_VERDICT, "scaled from the top of each sample: the die obeys the difference mod 6 up "
           "to a borrow of 0 or 1 (1 bit/value); no plane linear", lagged=[34, 55]),
    Stream("glibc random(), TYPE_0 state", "ctypes libc initstate(1, buf, 8), random() & 0xFFFF", R.glibc_type0,
           LCG_VERDICT, "LCG 1103515245 x + 12345 mod 2^31, state bits 0-15: plane j has period 2^(j+1), "
           "L = 2^j + 1", _lcg_planes(0, 15, lambda j: 2**j + 1), lcg=("C standard", 0)),
    Stream("glibc mrand48() & 0xFFFF", "ctypes libc srand48(1), mrand48()", lambda n, s: R.glibc_48(n, s, "mrand48"),
           LCG_VERDICT, "48-bit LCG (as Java's), state bits 16-31: plane 0 L = 2^16 + 1 = 65,537; plane 1 (period "
           "2^18) has period 2^16 in every 4th value: L = 4 x (2^15 + 1) = 131,076; planes 2+ beyond; 16 hidden bits "
           "below", {0: 65_537, 1: 131_076}, lcg=("drand48", 16)),
    Stream("glibc lrand48() & 0xFFFF", "ctypes libc srand48(1), lrand48()", lambda n, s: R.glibc_48(n, s, "lrand48"),
           LCG_VERDICT, "state bits 17-32: plane 0 (period 2^18, L = 2^17 + 1) beyond the planes' reach, but every "
           "4th value of it has period 2^16 (L = 2^15 + 1): stretched, L = 4 x 32,769 = 131,076; 17 hidden bits "
           "below", {0: 131_076}, lcg=("drand48", 17)),
    Stream("Python random.getrandbits(16)", "random.Random(1)", R.python_getrandbits, LINEAR_VERDICT,
           "MT19937 tempered, high 16 bits: every plane L = 19,937", _lcg_planes(0, 15, lambda j: 19_937)),
    Stream("Python random.randrange(65536)", "random.Random(1)", R.python_randrange, SEEDED_VERDICT,
           "_randbelow(65536) draws getrandbits(17) (65536 has 17 bits) and rejects draws >= 65536: half the MT "
           "outputs are dropped by their top bit, a data-dependent choice, so no plane is linear; seed 1 is replayed",
           seeded="Python's random.Random(1).randint(0, 65535)"),
    Stream("Python random.randint(1, 6) (a die)", "random.Random(1)", lambda n, s: R.python_randint(n, s, 1, 6),
           SEEDED_VERDICT, "randbelow(6): an output's top 3 bits, drawn again when 6 or 7: no plane linear; seed 1 "
           "is replayed", seeded="Python's random.Random(1).randint(1, 6)"),
    Stream("Python random.randint(1, 6), seeded from the OS (a die)", "random.Random() (os.urandom seeding)",
           lambda n, s: R.python_randint(n, None, 1, 6), NONE, "as above, with a seed nobody can list: no structure"),
    Stream("NumPy RandomState.randint(0, 65536)", "np.random.RandomState(1)", R.numpy_legacy_randint, SEEDED_VERDICT,
           "MT19937 output & 0xFFFF (masked, range fits): every plane L = 19,937; seed 1 is replayed too",
           _lcg_planes(0, 15, lambda j: 19_937), seeded="NumPy's RandomState(1).randint(0, 65536)"),
    Stream("NumPy Generator(MT19937).integers(uint16)", "np.random.Generator(np.random.MT19937(1))",
           lambda n, s: R.numpy_integers("MT19937", n, s), LINEAR_VERDICT,
           "both 16-bit halves of each 32-bit MT output in turn: each plane interleaves two planes of L = 19,937, "
           "L = 39,874", _lcg_planes(0, 15, lambda j: 39_874)),
    Stream("C++ std::mt19937_64, raw dump", "g++, std::mt19937_64(1), fwrite of each output (little-endian)",
           lambda n, s: R.cpp_raw(n, s, "mt19937_64"), LINEAR_VERDICT, "each 64-bit output as four 16-bit values: "
           "every plane interleaves 4 lanes of L = 19,937, L = 79,748 (beyond the planes' bound; the lane screen)",
           _lcg_planes(0, 15, lambda j: 79_748)),
    Stream("libstdc++ __gnu_cxx::sfmt19937, raw dump", "g++, __gnu_cxx::sfmt19937(1), fwrite of each 32-bit output",
           lambda n, s: R.cpp_raw(n, s, "sfmt19937"), LINEAR_VERDICT, "SFMT's 128-bit words as eight 16-bit values: "
           "every plane interleaves 8 lanes of L = 19,968 (the whole 156 x 128-bit state), L = 159,744",
           _lcg_planes(0, 15, lambda j: 159_744)),
    Stream("xoroshiro128+ (reference C), raw dump", "Blackman & Vigna's xoroshiro128+ (24, 16, 37), splitmix64(1) "
           "seeding, fwrite of each 64-bit output", lambda n, s: R.cpp_raw(n, s, "xoroshiro128plus"),
           SCRAMBLED_VERDICT, "the + scrambler: bits 0-1 of each word's low 16-bit slice are linear (L = 128 and 8,256 "
           "in that lane of every 4th value: 512 and 33,024), the other slices carry; bit 0 of 128 outputs fixes the "
           "128-bit state", {0: 512, 1: 33_024}, scrambled="xoroshiro128+ le/64"),
    Stream("xoroshiro128+ (reference C), (uint16_t) next()", "as above, fwrite of the low 16 bits of each output",
           lambda n, s: R.cpp_raw(n, s, "xoroshiro128plus", low16=True), SCRAMBLED_VERDICT, "as above, one value per "
           "output: bit 0 L = 128, bit 1 L = 8,256; bit 0 fixes the state", {0: 128, 1: 8_256},
           scrambled="xoroshiro128+ le/16"),
    Stream("xoroshiro128** (reference C), raw dump", "Blackman & Vigna's xoroshiro128**, splitmix64(1) seeding, "
           "fwrite of each 64-bit output", lambda n, s: R.cpp_raw(n, s, "xoroshiro128starstar"), SCRAMBLED_VERDICT,
           "rotl(5 s0, 7) x 9: no bit linear, but a whole output undoes to s0, and 3 of them fix the state",
           scrambled="xoroshiro128** le/64"),
    Stream("xoroshiro128+ (reference C), next() % 6 + 1 (a die)", "as above, 1 + out % 6 of each 64-bit output",
           lambda n, s: R.cpp_raw_dice(n, s, "xoroshiro128plus", 6, 64), SCRAMBLED_VERDICT, "the die's parity is the "
           "complement of bit 0 of the output (L = 129), and bit 0 of 144 throws fixes the state", {0: 129},
           scrambled="xoroshiro128+ mod/64"),
    Stream("Marsaglia xor128, next() % 6 + 1 (a die)", "Marsaglia's xor128 in C (splitmix64(1) seeding), 1 + out % 6",
           lambda n, s: R.cpp_raw_dice(n, s, "xor128", 6, 32), SCRAMBLED_VERDICT, "the die's parity is the complement "
           "of bit 0 of the output (L = 129), and bit 0 of 144 throws fixes the state", {0: 129},
           scrambled="xorshift128 mod/32"),
    Stream("xoshiro256+ (reference C), raw dump", "Blackman & Vigna's xoshiro256+, splitmix64(1) seeding, fwrite of "
           "each 64-bit output", lambda n, s: R.cpp_raw(n, s, "xoshiro256plus"), SCRAMBLED_VERDICT,
           "as xoroshiro128+ on a 256-bit state: bit 0 of the low slice L = 256, bit 1 (quadratic) 256 + 256 x 255 / 2 "
           "= 32,896 in its lane (x 4: 1,024 and 131,584)", {0: 1_024, 1: 131_584}, scrambled="xoshiro256+ le/64"),
    Stream("xoshiro256** (reference C), raw dump", "Blackman & Vigna's xoshiro256**, splitmix64(1) seeding, fwrite "
           "of each 64-bit output", lambda n, s: R.cpp_raw(n, s, "xoshiro256starstar"), SCRAMBLED_VERDICT,
           "rotl(5 s1, 7) x 9: no bit linear, but a whole output undoes to s1, and 5 of them fix the state",
           scrambled="xoshiro256** le/64"),
    Stream("NumPy MT19937.random_raw() & 0xFFFF", "np.random.MT19937(1)", lambda n, s: R.numpy_raw("MT19937", n, s),
           LINEAR_VERDICT, "MT19937 low 16 bits: every plane L = 19,937", _lcg_planes(0, 15, lambda j: 19_937)),
    *[Stream(f"NumPy Generator({g}).integers(uint16)", f"np.random.Generator(np.random.{g}(1))",
             lambda n, s, g=g: R.numpy_integers(g, n, s), SEEDED_VERDICT, f"{g}: nonlinear output function, but "
             f"seed 1 is replayed", seeded=("NumPy's default_rng(1)" if g == "PCG64" else f"NumPy's Generator({g}(1))")
             + ".integers(0, 65536, dtype=np.uint16)")
      for g in ("PCG64", "PCG64DXSM", "Philox", "SFC64")],
    Stream("NumPy default_rng().integers(uint16), seeded from the OS", "np.random.default_rng()",
           lambda n, s: R.numpy_integers("PCG64", n, None), NONE, "PCG64 with a seed nobody can list: no structure"),
    *[Stream(f"NumPy {g}.random_raw() & 0xFFFF", f"np.random.{g}(1)", lambda n, s, g=g: R.numpy_raw(g, n, s), NONE,
             f"{g}: nonlinear output function") for g in ("PCG64", "PCG64DXSM", "Philox", "SFC64")],
    Stream("os.urandom", "os.urandom(2n)", R.urandom, NONE, "the kernel's CSPRNG: no structure"),
    Stream("java.util.Random nextInt(65536)", "exact emulation (48-bit LCG a = 0x5DEECE66D, c = 11)",
           R.java_next_int_bound, LCG_VERDICT, "state bits 32-47: L >= 2^32 + 1 over GF(2); 32 hidden bits, "
           "recovered by lattice reduction", lcg=("java.util.Random", 32)),
    Stream("java.util.Random nextInt() & 0xFFFF", "exact emulation", R.java_next_int_low, LCG_VERDICT,
           "state bits 16-31: plane 0 L = 2^16 + 1 = 65,537 (period 2^17); plane 1 in every 4th value L = 2^15 + 1: "
           "4 x 32,769 = 131,076; planes 2+ beyond", {0: 65_537, 1: 131_076}, lcg=("java.util.Random", 16)),
    Stream("MINSTD (Park-Miller) & 0xFFFF", "x = 16807 x mod (2^31 - 1), exact", R.minstd, LCG_VERDICT,
           "prime modulus: no bit plane is linear; 15 hidden bits", lcg=("MINSTD", 0)),
    Stream("MSVC rand()", "exact emulation (x = 214013 x + 2531011 mod 2^32, (x >> 16) & 0x7FFF)", R.msvc_rand,
           LCG_VERDICT, "15-bit values, state bits 16-30: plane 0 L = 2^16 + 1 = 65,537; 16 hidden bits below",
           {0: 65_537}, lcg=("MSVC", 16)),
    Stream("musl rand() & 0xFFFF", "exact emulation (x = 6364136223846793005 x + 1 mod 2^64, x >> 33)", R.musl_rand,
           LCG_VERDICT, "state bits 33-48: no plane within reach over GF(2); 33 hidden bits below",
           lcg=("musl", 33)),
    Stream("Numerical Recipes ranqd1, 32-bit states dumped", "exact emulation, little-endian 32-bit words read as "
           "16-bit values", R.ranqd1_dump, LCG_VERDICT, "the whole state in every two values; each plane interleaves "
           "state bit j (L = 2^j + 1) with bit j + 16 (beyond reach over GF(2)): in the low halves' lane alone, every "
           "plane is linear (2 x (2^j + 1))", _lcg_planes(0, 15, lambda j: 2 * (2**j + 1)),
           lcg=("Numerical Recipes", 0)),
    Stream("java.util.Random nextInt(), writeInt() dump", "exact emulation, big-endian 32-bit words read as big-endian "
           "16-bit values", R.java_next_int_be, LCG_VERDICT, "state bits 47-32 then 31-16 of each state: no plane "
           "within reach over GF(2)", lcg=("java.util.Random", 16)),
    Stream("LCG 69069 x + 1 mod 2^32, bits 16-31", "exact emulation (not in seqlib's catalogue)", R.marsaglia_lcg,
           LCG_VERDICT, "plane 0 L = 2^16 + 1 = 65,537; plane 1 in every 4th value L = 2^15 + 1: 4 x 32,769 = "
           "131,076; planes 2+ beyond; constants unknown to seqlib, 16 hidden bits", {0: 65_537, 1: 131_076},
           lcg=("no published generator", 16)),
    Stream("LCG with drawn constants mod 2^48, bits 32-47", "exact emulation, a (1 mod 4) and c (odd) drawn from the "
           "seed", lambda n, s: R.secret_lcg(n, s, 48, 16), LCG_VERDICT, "32 hidden bits below the values and "
           "constants no catalogue holds: no plane within reach over GF(2)", lcg=("no published generator", 32)),
    Stream("LCG with drawn constants mod 2^64, bits 52-63 (12-bit values)", "exact emulation, a (1 mod 4) and c (odd) "
           "drawn from the seed", lambda n, s: R.secret_lcg(n, s, 64, 12), LCG_VERDICT, "52 hidden bits below the "
           "values and constants no catalogue holds: no plane within reach over GF(2)",
           lcg=("no published generator", 52)),
    Stream("RANDU & 0xFFFF", "x = 65539 x mod 2^31, exact, x0 = 1", R.randu, LCG_VERDICT,
           "planes 0 and 2 constant (x = 1, 3 mod 8), plane 1 period 2 (L = 2), plane j >= 3 period 2^(j-1), "
           "L = 2^(j-2) + 1", {1: 2, **_lcg_planes(3, 15, lambda j: 2 ** (j - 2) + 1)}, lcg=("RANDU", 0)),
    Stream("12-bit ADC, drifting noisy signal", "AR(1) drift (phi 0.999, sd 400 LSB) + noise 8 LSB, rounded",
           R.adc_drift, SIMPLE, "clustered, autocorrelated values; no exact recurrence in any plane"),
    Stream("von Neumann-debiased correlated bits", "pairs of a sticky biased bit source (stay 0.7, p1 0.6), 16 bits "
           "a value", R.von_neumann, SIMPLE, "unbiased but anticorrelated bits: values with alternating bits more "
           "common; no plane linear"),
    Stream("biased bits (each 1 w.p. 0.55)", "independent bits packed 16 to a value", R.biased_bits, SIMPLE,
           "16 H(0.55) = 15.885 bits/value: the bias is the whole structure; no plane linear"),
    Stream("von Neumann-debiased correlated bits, bytes16 forced", "as above, --tokenizer bytes16", R.von_neumann,
           SIMPLE, "as above: the value-level baselines see the correlated bits", tokenizer="bytes16"),
]

MODEL = dict(d_model=32, nlayers=1, nhead=2, seq_len=32)
TRAIN = dict(batch=16, lr=3e-3, epochs=100, max_steps=1, eval_every=1, eval_windows=16, progress=False)


def _planes(planes: list[int]) -> str:
    if not planes:
        return "none"
    parts, start = [], planes[0]
    for a, b in zip(planes, [*planes[1:], None]):
        if b != a + 1:
            parts.append(f"{start}-{a}" if a > start else f"{a}")
            start = b
    return ", ".join(parts)


def judge(stream: Stream, found: dict[int, int], lagged: dict | None, lcg: dict | None,
          verdict: dict, view: tuple[int, int] = (0, 1), twister: dict | None = None, xorshift: dict | None = None,
          seeded: dict | None = None) -> tuple[bool, str]:
    """Does what seqlib found and said match the ground truth? (ok, why not)"""
    text = verdict["text"]
    scrambled = bool(xorshift) and "generator" in xorshift  # else V8's die
    v8 = bool(xorshift) and not scrambled
    if bool(v8) != (stream.expect == V8_VERDICT):
        return False, f"V8's generator {'found' if v8 else 'not found'}"
    got = f"{xorshift['generator']} {xorshift['order']}/{xorshift['width']}" if scrambled else None
    if got != stream.scrambled:
        return False, f"scrambled generator {got or 'none'}, expected {stream.scrambled or 'none'}"
    layout = twister and f"{twister['layout']}{'/64' if twister['generator'] == 'mt19937_64' else ''}"
    if layout != stream.twister:
        return False, f"MT19937 layout {layout}, expected {stream.twister}"
    if stream.expect == V8_VERDICT and not (text.startswith("predictable") and "V8's Math.random()" in text):
        return False, "no V8 verdict"
    if stream.expect == SCRAMBLED_VERDICT and not (text.startswith("predictable")
                                                   and "xorshift-family generator" in text):
        return False, "no scrambled-generator verdict"
    got = seeded and Seeded.from_dict(seeded).call
    if got != stream.seeded:
        return False, f"seeded call {got or 'none'}, expected {stream.seeded or 'none'}"
    if stream.expect == SEEDED_VERDICT and not (text.startswith("predictable") and (
            f"those of {got}" in text or stream.linear and "linear recurrence" in text)):
        return False, "no seed-replay verdict"
    if stream.expect == MT_VERDICT and not (text.startswith("predictable") and (
            "Mersenne Twister MT19937" in text or got and f"those of {got}" in text)):
        return False, "no MT19937 verdict"
    if found and view != stream.view:
        return False, f"the planes of (x - {view[0]}) // {view[1]}, expected (x - {stream.view[0]}) // {stream.view[1]}"
    if sorted(found) != sorted(stream.linear):
        return False, f"linear planes {_planes(sorted(found))}, expected {_planes(sorted(stream.linear))}"
    wrong = [j for j, L in stream.linear.items() if L is not None and found[j] != L]
    if wrong:
        return False, f"L of plane {wrong[0]} is {found[wrong[0]]:,}, expected {stream.linear[wrong[0]]:,}"
    lags = sorted(lagged["lags"]) if lagged else []
    if lags != sorted(stream.lagged):
        return False, f"lagged sum at lags {lags or 'none'}, expected {sorted(stream.lagged) or 'none'}"
    if (lcg is None) != (stream.lcg is None) or lcg and not (stream.lcg[0] in lcg["name"]
                                                             and lcg["shift"] == stream.lcg[1]):
        return False, (f"LCG {lcg['name']} at bit {lcg['shift']}" if lcg else "no LCG") + (
            f", expected {stream.lcg[0]} at bit {stream.lcg[1]}" if stream.lcg else ", expected none")
    if stream.expect == LCG_VERDICT and not (text.startswith("predictable") and (
            "linear congruential generator" in text or stream.linear and "linear recurrence" in text)):
        return False, "no LCG verdict"
    if stream.expect == LAGGED_VERDICT and not (text.startswith("predictable") and "x[t] = " in text):
        return False, "no lagged-sum verdict"
    if stream.expect == LINEAR_VERDICT and not (text.startswith("predictable") and "linear recurrence" in text):
        return False, "no linear verdict"
    if stream.expect == SIMPLE and not (text.startswith("predictable") and verdict["explained_by"] not in (None, LINEAR)
                                        and "linear recurrence" not in text):
        return False, "no simple-statistics verdict"
    if stream.expect == NONE and not text.startswith("no structure found at this sample size"):
        return False, "claims structure"
    return True, ""


def run(stream: Stream, n: int, tmp: Path, max_samples: int, seed: int = 1) -> dict:
    started = time.perf_counter()
    try:
        values = np.asarray(stream.make(n, seed), np.int64)
    except OSError as e:  # glibc's streams need libc.so.6 (Linux)
        return {"source": stream.name, "linear planes found (L)": "", "right": f"skipped: {e}", "s": 0}
    path = tmp / "stream.u16"
    write_u16(path, values)
    made = time.perf_counter() - started
    run_dir = tmp / "run"
    train(TrainConfig(u16_path=str(path), run_dir=str(run_dir), tokenizer=stream.tokenizer, **TRAIN),
          ModelConfig(**MODEL))
    result = evaluate(run_dir / "model.pt", path, max_samples=max_samples, progress=False, write=False)
    planes = result["linear"]["scan"]["planes"]
    found = {p["plane"]: p["L"] for p in planes if p["linear"]}
    v = result["verdict"]
    lagged, lcg = result["lagged"]["found"], result["congruential"]["found"]
    scan = result["linear"]["scan"]
    view = (scan.get("low", 0), scan.get("div", 1))
    twister, xorshift = result.get("twister", {}).get("found"), result.get("xorshift", {}).get("found")
    seeded = result.get("seeded", {}).get("found")
    ok, why = judge(stream, found, lagged, lcg, v, view, twister, xorshift, seeded)
    linear = result["baselines"].get(LINEAR, {}).get("heads", [{}])[0]
    return {
        "source": stream.name, "how produced": stream.how, "ground truth": stream.truth,
        "expected verdict": stream.expect, "tokenizer": result["tokenizer"]["kind"],
        "linear planes found (L)": (", ".join(f"{j}: {L:,}" for j, L in found.items()) + (
            f" of (x - {view[0]}) // {view[1]}" if view != (0, 1) else "")) or "none",
        "linear predictor top-1": linear.get("top1", ""),
        "lagged sum found": " ".join(f"{'+' if s > 0 else '-'}{a}" for a, s in zip(lagged["lags"], lagged["signs"]))
        if lagged else "none",
        "LCG found": f"{lcg['name']}, bits {lcg['shift']}-{lcg['shift'] + lcg['width'] - 1}"
        + (f" in {lcg['stride']} values" if lcg.get("stride", 1) > 1 else "")
        + (f" mod {lcg['faces']}" if lcg.get("faces") else "") if lcg else "none",
        "MT19937 found": f"{twister['generator']}, {twister['layout']}" if twister else "none",
        "xorshift family found": "none" if not xorshift else f"V8, d{xorshift['faces']}, refills at "
        f"{xorshift['phase']} mod 64" if "generator" not in xorshift else f"{xorshift['generator']}, "
        f"{xorshift['order']} {xorshift['width']}-bit" + (f" d{xorshift['faces']}" if xorshift.get("faces") else
                                                          f", phase {xorshift['phase']}"),
        "seeded call found": Seeded.from_dict(seeded).call if seeded else "none",
        "best other predictor": v["best_baseline"],
        "verdict": v["text"], "right": met(ok) + (f" ({why})" if why else ""),
        "s": round(time.perf_counter() - started, 1), "generate s": round(made, 1),
    }


def main(quick: bool, write: bool, only: str | None = None) -> None:
    n = 1_000_000 if quick else 2_000_000
    max_samples = 20_000 if quick else 100_000
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for stream in STREAMS:
            if only and only.lower() not in stream.name.lower():
                continue
            rows.append(run(stream, n, Path(tmp), max_samples))
            print({k: rows[-1].get(k) for k in ("source", "linear planes found (L)", "lagged sum found", "right", "s")},
                  flush=True)
    missed = sum(row["right"].startswith("**missed") for row in rows)
    report_if(write, f"Real generators ({'quick' if quick else 'full'})", rows, [
        f"{n:,} values per stream (seed 1); a tiny model (d_model 32, 1 layer) trained for 1 step, then evaluate on "
        f"up to {max_samples:,} held-out positions: the GF(2) scan, the lagged-sum, LCG, MT19937, xorshift-family and "
        f"seed searches of the training block, the baselines and the verdict as the CLI gives them. right: the "
        f"linear planes (and L where the ground truth gives it), the lags of the lagged sum, the LCG and its bits, the "
        f"layout of MT19937 behind a die, V8's die or the scrambled generator and its layout, the seeded call, and the "
        f"kind of verdict match the ground truth. {len(rows) - missed} of {len(rows)} right."])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1M values per stream and 20,000 predictions")
    parser.add_argument("--write", action="store_true", help="append the table to RESULTS.md")
    parser.add_argument("--only", help="only the streams whose name contains this")
    args = parser.parse_args()
    main(args.quick, args.write, args.only)
