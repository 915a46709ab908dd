"""Streams from real generator implementations (libc via ctypes, CPython's random, NumPy's bit generators) and a few
exact emulations, for benchmarks/real_generators.py. Each function returns n uint16 values."""
from __future__ import annotations

import ctypes
import os
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

MASK48 = (1 << 48) - 1
JAVA_A, JAVA_C = 0x5DEECE66D, 11


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL("libc.so.6")
    libc.random.restype = ctypes.c_long
    libc.mrand48.restype = ctypes.c_long
    libc.lrand48.restype = ctypes.c_long
    libc.initstate.restype = libc.setstate.restype = ctypes.c_void_p  # pointers: the default int would cut them
    libc.initstate.argtypes = [ctypes.c_uint, ctypes.c_char_p, ctypes.c_size_t]
    libc.setstate.argtypes = [ctypes.c_void_p]
    return libc


def glibc_random(n: int, seed: int, shift: int) -> np.ndarray:
    """glibc random() after srandom(seed) (TYPE_3: r[i] = r[i-3] + r[i-31] mod 2^32, output r >> 1), (x >> shift) &
    0xFFFF. One ctypes call per value (~0.3 us)."""
    libc = _libc()
    libc.srandom(seed)
    f = libc.random
    return np.fromiter((f() for _ in range(n)), np.int64, n) >> shift & 0xFFFF


def glibc_dice(n: int, seed: int) -> np.ndarray:
    """rand() % 6 + 1 after srand(seed): a die of glibc's default generator, as C games throw one."""
    libc = _libc()
    libc.srand(seed)
    f = libc.rand
    return np.fromiter((f() for _ in range(n)), np.int64, n) % 6 + 1


def glibc_type0(n: int, seed: int) -> np.ndarray:
    """glibc random() with an 8-byte state from initstate (TYPE_0: x = 1103515245 x + 12345 mod 2^31), low 16 bits."""
    libc = _libc()
    state = ctypes.create_string_buffer(8)
    old = libc.initstate(seed, state, 8)
    f = libc.random
    out = np.fromiter((f() for _ in range(n)), np.int64, n) & 0xFFFF
    libc.setstate(old)  # back to the default state, which the other callers use
    return out


def glibc_48(n: int, seed: int, fn: str) -> np.ndarray:
    """glibc lrand48() (state bits 47..17) or mrand48() (bits 47..16, signed) after srand48(seed), low 16 bits."""
    libc = _libc()
    libc.srand48(seed)
    f = getattr(libc, fn)
    return np.fromiter((f() for _ in range(n)), np.int64, n) & 0xFFFF


CPP_DICE = r"""
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
template <class G> void throws(long n, G g, int low, int high, bool mod) {
  std::uniform_int_distribution<int> d(low, high);
  for (long i = 0; i < n; i++) {
    uint16_t v = (uint16_t)(mod ? low + g() % (high - low + 1) : d(g));  // mod: the C idiom low + g() % d
    fwrite(&v, 2, 1, stdout);
  }
}
int main(int argc, char** argv) {  // n low high seed dist|mod 32|64
  long n = atol(argv[1]);
  int low = atoi(argv[2]), high = atoi(argv[3]), seed = atoi(argv[4]);
  bool mod = argv[5][0] == 'm';
  if (atoi(argv[6]) == 64) throws(n, std::mt19937_64(seed), low, high, mod);
  else throws(n, std::mt19937(seed), low, high, mod);
}
"""


def cpp_dice(n: int, seed: int, low: int, high: int, mod: bool = False, bits: int = 32) -> np.ndarray:
    """std::uniform_int_distribution<int>(low, high) over std::mt19937(seed) (std::mt19937_64 for bits=64), compiled
    with the machine's g++ and its C++ library (libstdc++ scales each output: low + floor((high - low + 1) x / 2^w),
    redrawing 1 in 10^8 or fewer); with mod, low + g() % (high - low + 1). OSError where no g++ is installed."""
    if shutil.which("g++") is None:
        raise FileNotFoundError("g++ not found: install a C++ compiler for the C++ streams")
    exe = Path(tempfile.gettempdir()) / "seqlib-bench-cpp-dice-3"  # -3: the program that takes a mode and a width
    if not exe.exists():
        src = exe.with_suffix(".cpp")
        src.write_text(CPP_DICE)
        subprocess.run(["g++", "-O2", "-o", str(exe), str(src)], check=True)
    args = [str(exe), str(n), str(low), str(high), str(seed), "mod" if mod else "dist", str(bits)]
    out = subprocess.run(args, check=True, capture_output=True).stdout
    return np.frombuffer(out, "<u2").astype(np.int64)


CPP_RAW = r"""
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ext/random>
#include <random>
#include <cstdint>
template <class G> void dump(long words, G g, size_t bytes) {  // the low `bytes` bytes of each output, as they lie
  for (long i = 0; i < words; i++) {                              // in memory: little-endian on x86
    auto x = g();
    fwrite(&x, bytes ? bytes : sizeof x, 1, stdout);
  }
}
static uint64_t splitmix64(uint64_t& seed) {  // how the authors advise seeding their generators
  uint64_t z = (seed += 0x9e3779b97f4a7c15);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
  z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
  return z ^ (z >> 31);
}
static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
struct Xoroshiro128 {  // Blackman & Vigna's reference xoroshiro128+ and xoroshiro128** (2018: a, b, c = 24, 16, 37)
  uint64_t s[2];
  bool star;
  Xoroshiro128(uint64_t seed, bool star) : star(star) { for (auto& w : s) w = splitmix64(seed); }
  uint64_t operator()() {
    const uint64_t s0 = s[0];
    uint64_t s1 = s[1];
    const uint64_t result = star ? rotl(s0 * 5, 7) * 9 : s0 + s1;
    s1 ^= s0;
    s[0] = rotl(s0, 24) ^ s1 ^ (s1 << 16);
    s[1] = rotl(s1, 37);
    return result;
  }
};
struct Xoshiro256 {  // Blackman & Vigna's reference xoshiro256+ and xoshiro256**
  uint64_t s[4];
  bool star;
  Xoshiro256(uint64_t seed, bool star) : star(star) { for (auto& w : s) w = splitmix64(seed); }
  uint64_t operator()() {
    const uint64_t result = star ? rotl(s[1] * 5, 7) * 9 : s[0] + s[3];
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
  }
};
struct Xor128 {  // Marsaglia's xor128 (Xorshift RNGs, 2003), 32-bit outputs
  uint32_t x, y, z, w;
  explicit Xor128(uint64_t seed) {
    uint64_t a = splitmix64(seed), b = splitmix64(seed);
    x = a, y = a >> 32, z = b, w = (b >> 32) | 1;
  }
  uint32_t operator()() {
    uint32_t t = x ^ (x << 11);
    x = y, y = z, z = w;
    return w = w ^ (w >> 19) ^ (t ^ (t >> 8));
  }
};
int main(int argc, char** argv) {  // words seed generator [bytes of each output]
  long words = atol(argv[1]);
  unsigned long seed = strtoul(argv[2], 0, 10);
  size_t bytes = argc > 4 ? atol(argv[4]) : 0;
  const char* g = argv[3];
  if (!strcmp(g, "mt19937_64")) dump(words, std::mt19937_64(seed), bytes);
  else if (!strcmp(g, "xoroshiro128plus")) dump(words, Xoroshiro128(seed, false), bytes);
  else if (!strcmp(g, "xoroshiro128starstar")) dump(words, Xoroshiro128(seed, true), bytes);
  else if (!strcmp(g, "xoshiro256plus")) dump(words, Xoshiro256(seed, false), bytes);
  else if (!strcmp(g, "xoshiro256starstar")) dump(words, Xoshiro256(seed, true), bytes);
  else if (!strcmp(g, "xor128")) dump(words, Xor128(seed), bytes);
  else dump(words, __gnu_cxx::sfmt19937(seed), bytes);  // libstdc++'s SIMD-oriented Mersenne Twister, 32-bit outputs
}
"""


def cpp_raw(n: int, seed: int, generator: str, low16: bool = False) -> np.ndarray:
    """n 16-bit values of a raw dump (fwrite of each output, or with low16 of its low 16 bits) of
    std::mt19937_64(seed), libstdc++'s __gnu_cxx::sfmt19937(seed), the reference xoroshiro128+ / ** and
    xoshiro256+ / ** or Marsaglia's xor128 (seeded by splitmix64), compiled with the machine's g++. OSError where
    no g++ is installed."""
    if shutil.which("g++") is None:
        raise FileNotFoundError("g++ not found: install a C++ compiler for the C++ streams")
    exe = Path(tempfile.gettempdir()) / "seqlib-bench-cpp-raw-5"
    if not exe.exists():
        src = exe.with_suffix(".cpp")
        src.write_text(CPP_RAW)
        subprocess.run(["g++", "-O2", "-o", str(exe), str(src)], check=True)
    per_word = 1 if low16 else 2 if generator in ("sfmt19937", "xor128") else 4
    out = subprocess.run([str(exe), str(-(-n // per_word)), str(seed), generator, *(["2"] if low16 else [])],
                         check=True, capture_output=True).stdout
    return np.frombuffer(out, "<u2")[:n].astype(np.int64)


def cpp_raw_dice(n: int, seed: int, generator: str, faces: int, bits: int) -> np.ndarray:
    """1 + out % faces of n outputs of a cpp_raw generator with `bits`-bit outputs (a C program's next() % 6 + 1)."""
    v = cpp_raw(n * bits // 16, seed, generator).astype(np.uint64).reshape(n, bits // 16)
    words = np.bitwise_or.reduce(v << (np.uint64(16) * np.arange(bits // 16, dtype=np.uint64)), axis=1)
    return (words % np.uint64(faces)).astype(np.int64) + 1


def glibc_lrand48_dice(n: int, seed: int) -> np.ndarray:
    """lrand48() % 6 + 1 after srand48(seed): a die of glibc's 48-bit LCG (state bits 47..17, mod 6)."""
    libc = _libc()
    libc.srand48(seed)
    f = libc.lrand48
    return np.fromiter((f() for _ in range(n)), np.int64, n) % 6 + 1


def glibc_drand48_dice(n: int, seed: int) -> np.ndarray:
    """(int) (drand48() * 6) + 1 after srand48(seed): a die scaled from the whole 48-bit state."""
    libc = _libc()
    libc.srand48(seed)
    f = libc.drand48
    f.restype = ctypes.c_double
    return np.fromiter((int(f() * 6) + 1 for _ in range(n)), np.int64, n)


def glibc_rand_scaled_dice(n: int, seed: int) -> np.ndarray:
    """(int) (rand() / (RAND_MAX + 1.0) * 6) + 1 after srand(seed): the C FAQ's die, over glibc's additive rand()."""
    libc = _libc()
    libc.srand(seed)
    f = libc.rand
    return np.fromiter((int(f() / 2147483648.0 * 6) + 1 for _ in range(n)), np.int64, n)


def _java_states(n: int, seed: int) -> np.ndarray:
    """The 48-bit states of java.util.Random(seed) after each next(): seed scrambled with the multiplier."""
    x = (seed ^ JAVA_A) & MASK48
    out = np.empty(n, np.uint64)
    for i in range(n):
        x = (x * JAVA_A + JAVA_C) & MASK48
        out[i] = x
    return out


def java_next_int_bound(n: int, seed: int) -> np.ndarray:
    """java.util.Random.nextInt(65536): a power-of-two bound, so (65536 * next(31)) >> 31 = state bits 47..32."""
    return (_java_states(n, seed) >> np.uint64(32)).astype(np.int64)


def java_dice(n: int, seed: int) -> np.ndarray:
    """java.util.Random.nextInt(6) + 1, exact: r = next(31) % 6, a new next(31) while u - r + 5 overflows an int (u
    = next(31) >= 2^31 - 2: 1 draw in 10^9)."""
    states, out, i = _java_states(n + 64, seed), np.empty(n, np.int64), 0
    for t in range(n):
        u = int(states[i]) >> 17
        while u - u % 6 + 5 >= 1 << 31:
            i += 1
            u = int(states[i]) >> 17
        out[t], i = u % 6 + 1, i + 1
    return out


def java_dice_reseeded(n: int, seed: int) -> np.ndarray:
    """java_dice in three sessions, each seeded anew: half the stream, 45% and the last 5% (held out by evaluate)."""
    cuts = [0, n // 2, n * 95 // 100, n]
    return np.concatenate([java_dice(b - a, seed + i) for i, (a, b) in enumerate(zip(cuts, cuts[1:]))])


def java_math_random_dice(n: int, seed: int) -> np.ndarray:
    """(int) (Math.random() * 6) + 1, exact: Math.random() is new Random().nextDouble() = (next(26) << 27 +
    next(27)) / 2^53, two steps per throw (here Random(seed))."""
    s = _java_states(2 * n, seed)
    k = ((s[0::2] >> np.uint64(22)) << np.uint64(27)) + (s[1::2] >> np.uint64(21))
    return np.array([int(float(v) * 2.0 ** -53 * 6) + 1 for v in k.tolist()], np.int64)


def java_next_int_low(n: int, seed: int) -> np.ndarray:
    """java.util.Random.nextInt() & 0xFFFF: next(32) = state >> 16, so state bits 31..16."""
    return (_java_states(n, seed) >> np.uint64(16)).astype(np.int64) & 0xFFFF


def _lcg_loop(n: int, x: int, a: int, c: int, m: int) -> np.ndarray:
    out = np.empty(n, np.int64)
    for i in range(n):
        x = (a * x + c) % m
        out[i] = x
    return out


def minstd(n: int, seed: int) -> np.ndarray:
    """Park-Miller MINSTD x = 16807 x mod (2^31 - 1) (C++ std::minstd_rand0), low 16 bits."""
    return _lcg_loop(n, seed % (2**31 - 1) or 1, 16807, 0, 2**31 - 1) & 0xFFFF


def randu(n: int, seed: int) -> np.ndarray:
    """IBM RANDU x = 65539 x mod 2^31 (odd seed), low 16 bits."""
    return _lcg_loop(n, seed | 1, 65539, 0, 2**31) & 0xFFFF


def msvc_rand(n: int, seed: int) -> np.ndarray:
    """Microsoft C runtime rand() after srand(seed), exact: x = 214013 x + 2531011 mod 2^32, (x >> 16) & 0x7FFF
    (15-bit values)."""
    return _lcg_loop(n, seed, 214_013, 2_531_011, 2**32) >> 16 & 0x7FFF


def musl_rand(n: int, seed: int) -> np.ndarray:
    """musl libc rand() after srand(seed), exact: x = 6364136223846793005 x + 1 mod 2^64 from x = seed - 1, x >> 33,
    low 16 bits (state bits 33-48)."""
    x, out = seed - 1, np.empty(n, np.int64)
    for i in range(n):
        x = (6_364_136_223_846_793_005 * x + 1) & (2**64 - 1)
        out[i] = (x >> 33) & 0xFFFF
    return out


def ranqd1_dump(n: int, seed: int) -> np.ndarray:
    """Numerical Recipes' ranqd1 x = 1664525 x + 1013904223 mod 2^32, the whole 32-bit states written little-endian
    and read as 16-bit values: low half, high half, ..."""
    x = _lcg_loop(n // 2 + 1, seed, 1_664_525, 1_013_904_223, 2**32)
    return np.stack([x & 0xFFFF, x >> 16], axis=1).reshape(-1)[:n]


def java_next_int_be(n: int, seed: int) -> np.ndarray:
    """java.util.Random.nextInt() (state bits 47..16) written by DataOutputStream.writeInt (big-endian) and read as
    big-endian 16-bit values: bits 47..32, then 31..16."""
    x = (_java_states(n // 2 + 1, seed) >> np.uint64(16)).astype(np.int64)
    return np.stack([x >> 16, x & 0xFFFF], axis=1).reshape(-1)[:n]


def marsaglia_lcg(n: int, seed: int) -> np.ndarray:
    """x = 69069 x + 1 mod 2^32 (Marsaglia's 'super-duper' LCG, not in seqlib's catalogue), bits 16-31."""
    return _lcg_loop(n, seed, 69_069, 1, 2**32) >> 16


def secret_lcg(n: int, seed: int, bits: int, width: int) -> np.ndarray:
    """The top `width` bits of x = a x + c mod 2^bits with a (1 mod 4) and c (odd) drawn from the seed: a program's
    own constants, which no catalogue holds; the state starts at a drawn value too."""
    a, c, x = (int(v) for v in np.random.default_rng(seed).integers(0, 2**63, 3, dtype=np.uint64))
    a, c, m, out = a & ~3 | 1, c | 1, 1 << bits, np.empty(n, np.int64)
    for i in range(n):
        x = (a * x + c) % m
        out[i] = x >> (bits - width)
    return out


def _dotnet_samples(n: int, seed: int) -> list[int]:
    """.NET Framework System.Random(seed)'s InternalSample(), exact: Knuth's subtractive generator x_t = x_{t-55} -
    x_{t-34} mod (2^31 - 1) with Microsoft's seeding (MSEED 161803398)."""
    mbig = 2**31 - 1
    mj = 161803398 - abs(seed)
    seeds = [0] * 56
    seeds[55], mk = mj, 1
    for i in range(1, 55):
        ii = 21 * i % 55
        seeds[ii] = mk
        mk = mj - mk
        if mk < 0:
            mk += mbig
        mj = seeds[ii]
    for _ in range(4):
        for i in range(1, 56):
            seeds[i] -= seeds[1 + (i + 30) % 55]
            if seeds[i] < 0:
                seeds[i] += mbig
    out = []
    inext, inextp = 0, 21
    for _ in range(n):
        inext = inext + 1 if inext < 55 else 1
        inextp = inextp + 1 if inextp < 55 else 1
        x = seeds[inext] - seeds[inextp]
        if x == mbig:
            x -= 1
        if x < 0:
            x += mbig
        seeds[inext] = x
        out.append(x)
    return out


def dotnet_next_65536(n: int, seed: int) -> np.ndarray:
    """.NET Framework System.Random(seed).Next(65536), exact: each sample scaled as (int)(x / (2^31 - 1) * 65536)."""
    return np.array([int(x * (1.0 / (2**31 - 1)) * 65536) for x in _dotnet_samples(n, seed)], np.int64)


def dotnet_dice(n: int, seed: int) -> np.ndarray:
    """.NET Framework System.Random(seed).Next(1, 7), exact: (int)(x / (2^31 - 1) * 6) + 1, a die scaled from the top
    of each sample (not a remainder)."""
    return np.array([int(x * (1.0 / (2**31 - 1)) * 6) + 1 for x in _dotnet_samples(n, seed)], np.int64)


def msvc_scaled_dice(n: int, seed: int) -> np.ndarray:
    """rand() * 6 / (RAND_MAX + 1) + 1 of the MSVC runtime, exact: a die scaled from the top of each 15-bit value."""
    return msvc_rand(n, seed) * 6 // 32768 + 1


def delphi_dice(n: int, seed: int) -> np.ndarray:
    """Delphi's Random(6) + 1, exact: RandSeed = 134775813 RandSeed + 1 (mod 2^32), then (RandSeed * 6) >> 32."""
    return (_lcg_loop(n, seed, 134_775_813, 1, 2**32) * 6 >> 32) + 1


def msvc_dice(n: int, seed: int) -> np.ndarray:
    """MSVC rand() % 6 + 1 after srand(seed), exact (as msvc_rand): the die of countless Windows C programs."""
    return msvc_rand(n, seed) % 6 + 1


def _lagged(n: int, seed: int, long: int, short: int, modulus: int, subtract: bool) -> list[int]:
    """n values of x_t = x_{t-long} -/+ x_{t-short} mod modulus, after `long` seed values from NumPy (the
    recurrence as published; not its authors' seeding)."""
    x = [int(v) for v in np.random.default_rng(seed).integers(0, min(modulus, 2**62), long)] + [0] * n
    x[0] |= 1  # keeps the lowest bit of an additive generator alive
    sign = -1 if subtract else 1
    for t in range(long, long + n):
        x[t] = (x[t - long] + sign * x[t - short]) % modulus
    return x[long:]


def knuth_ran_array(n: int, seed: int) -> np.ndarray:
    """Knuth's ran_array (TAOCP 3.6): x_t = x_{t-100} - x_{t-37} mod 2^30, its top 16 bits."""
    return np.array(_lagged(n, seed, 100, 37, 2**30, True), np.int64) >> 14


def go_math_rand(n: int, seed: int) -> np.ndarray:
    """Go's math/rand (before 1.20, and rand.New(rand.NewSource(s)) since): x_t = x_{t-607} + x_{t-273} mod 2^64;
    Intn(65536) = Int31() & 0xFFFF = bits 32-47 of x_t."""
    x = np.array(_lagged(n, seed, 607, 273, 2**64, False), np.uint64)
    return ((x >> np.uint64(32)) & np.uint64(0xFFFF)).astype(np.int64)


def ranlux_swb(n: int, seed: int) -> np.ndarray:
    """Marsaglia-Zaman subtract-with-borrow in base 2^24, lags (24, 10) (RANLUX at luxury level 0, no skipping):
    x_t = x_{t-10} - x_{t-24} - c_{t-1}, its top 16 bits."""
    x = [int(v) for v in np.random.default_rng(seed).integers(0, 2**24, 24)] + [0] * n
    c = 0
    for t in range(24, 24 + n):
        d = x[t - 10] - x[t - 24] - c
        c = int(d < 0)
        x[t] = d + (c << 24)
    return np.array(x[24:], np.int64) >> 8


def python_getrandbits(n: int, seed: int) -> np.ndarray:
    r = random.Random(seed)
    return np.fromiter((r.getrandbits(16) for _ in range(n)), np.int64, n)


def python_randint(n: int, seed: int | None, lo: int, hi: int) -> np.ndarray:
    """random.Random(seed).randint(lo, hi), n times (seed None: seeded from os.urandom)."""
    r = random.Random(seed)
    return np.fromiter((r.randint(lo, hi) for _ in range(n)), np.int64, n)


def python_randrange(n: int, seed: int) -> np.ndarray:
    r = random.Random(seed)
    return np.fromiter((r.randrange(65536) for _ in range(n)), np.int64, n)


def python_float_dice(n: int, seed: int) -> np.ndarray:
    """int(random.random() * 6) + 1 of CPython's random (MT19937, 53 bits from two outputs per throw)."""
    r = random.Random(seed)
    return np.fromiter((int(r.random() * 6) + 1 for _ in range(n)), np.int64, n)


def _v8_doubles(n: int, seed: int) -> np.ndarray:
    """V8's Math.random() (since 2018), exact: xorshift128+ refills a cache of 64 values from state0 (52 bits), which
    Math.random() hands out from the end, last first; the state seeded from NumPy. As uint64: the 52 bits."""
    s0, s1 = (int(v) | 1 for v in np.random.default_rng(seed).integers(0, 2**63, 2, dtype=np.uint64))
    mask, out = 2**64 - 1, []
    while len(out) < n:
        cache = []
        for _ in range(64):
            x, s0 = s0, s1
            x ^= (x << 23) & mask
            x ^= x >> 17
            s1 = x ^ s0 ^ (s0 >> 26)
            cache.append(s0 >> 12)
        out += cache[::-1]
    return np.array(out[:n], np.uint64)


def v8_math_random_65536(n: int, seed: int) -> np.ndarray:
    """Math.floor(Math.random() * 65536) of V8 (Node.js, Chrome): the top 16 bits of state0."""
    return (_v8_doubles(n, seed) >> np.uint64(36)).astype(np.int64)


def v8_math_random_dice(n: int, seed: int, faces: int = 6, low: int = 1) -> np.ndarray:
    """Math.floor(Math.random() * faces) + low of V8 (a die)."""
    return ((_v8_doubles(n, seed) * np.uint64(faces)) >> np.uint64(52)).astype(np.int64) + low


def numpy_legacy_float_dice(n: int, seed: int) -> np.ndarray:
    """(RandomState(seed).random_sample(n) * 20).astype(int) + 1: NumPy's legacy MT19937 (53-bit doubles), a d20."""
    return (np.random.RandomState(seed).random_sample(n) * 20).astype(np.int64) + 1


def numpy_legacy_randint(n: int, seed: int) -> np.ndarray:
    return np.random.RandomState(seed).randint(0, 65536, n)


def numpy_integers(bitgen: str, n: int, seed: int | None) -> np.ndarray:
    return np.random.Generator(getattr(np.random, bitgen)(seed)).integers(0, 65536, n, dtype=np.uint16)


def numpy_raw(bitgen: str, n: int, seed: int) -> np.ndarray:
    return getattr(np.random, bitgen)(seed).random_raw(n) & 0xFFFF


def urandom(n: int, seed: int) -> np.ndarray:
    return np.frombuffer(os.urandom(2 * n), "<u2")


def adc_drift(n: int, seed: int) -> np.ndarray:
    """A 12-bit ADC reading a slowly drifting signal (AR(1) with time constant ~1,000 samples, sd ~400 LSB) plus
    white noise of ~8 LSB: values clustered and autocorrelated; not a generator."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    phi = 0.999
    drift = lfilter([1.0], [1.0, -phi], rng.normal(0, 400 * np.sqrt(1 - phi**2), n))
    return np.clip(np.rint(2048 + drift + rng.normal(0, 8, n)), 0, 4095).astype(np.int64)


def _sticky_bits(m: int, rng: np.random.Generator, stay: float, p_one: float) -> np.ndarray:
    """m bits of a two-state Markov chain: each bit repeats the previous one w.p. stay, else is 1 w.p. p_one."""
    fresh = rng.random(m) < p_one
    redraw = rng.random(m) >= stay
    redraw[0] = True
    last = np.maximum.accumulate(np.where(redraw, np.arange(m), 0))  # index of the latest redraw
    return fresh[last]


def von_neumann(n: int, seed: int, stay: float = 0.7, p_one: float = 0.6) -> np.ndarray:
    """Von Neumann debiasing (pairs 01 -> 0, 10 -> 1, 00 and 11 dropped) of a biased, correlated bit source
    (_sticky_bits), 16 bits per value, bit 0 first: debiasing removes the bias of independent bits, not their
    correlation, so the output is still correlated."""
    rng = np.random.default_rng(seed)
    need, parts, have = 16 * n, [], 0
    while have < need:
        bits = _sticky_bits(8 * (need - have) + 1024, rng, stay, p_one)
        a, b = bits[0::2], bits[1::2]
        parts.append(a[a != b])
        have += len(parts[-1])
    bits = np.concatenate(parts)[:need].reshape(n, 16).astype(np.int64)
    return (bits << np.arange(16)).sum(1)


def biased_bits(n: int, seed: int, p_one: float = 0.55) -> np.ndarray:
    """A raw entropy source with a bias: independent bits, each 1 w.p. p_one, 16 bits per value (16 H(p_one) bits per
    value: 15.885 at 0.55)."""
    bits = np.random.default_rng(seed).random((n, 16)) < p_one
    return (bits.astype(np.int64) << np.arange(16)).sum(1)
