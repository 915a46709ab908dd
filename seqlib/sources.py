"""Generators of uint16 streams with a known entropy rate and ideal top-1 accuracy, for tests, demos and benchmarks."""
import bisect
import dataclasses
import inspect
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .errors import ConfigError, DataError

# The built-in sample: x_t = (x_{t-3} + x_{t-7} + e_t) mod 8. Neither lag alone, nor any Markov model of order
# up to 3, tells anything about x_t; a small transformer learns it on a CPU in a few minutes.
SAMPLE = dict(kind="lagged_sum", k=8, a=3, b=7, noise=0.2, n=2_000_000, seed=1234)


@dataclasses.dataclass
class SourceInfo:
    """What a generated stream is and how predictable it can be: entropy rate in bits/value, best top-1 accuracy."""
    kind: str
    params: dict
    alphabet: int
    entropy_rate: float
    ideal_top1: float

    def to_dict(self) -> dict:
        """Plain dict for JSON."""
        return dataclasses.asdict(self)


def _entropy(p: np.ndarray) -> float:
    """Shannon entropy in bits of a probability vector."""
    p = np.asarray(p, dtype=np.float64)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _die(n: int, rng: np.random.Generator, k: int = 6) -> tuple[np.ndarray, SourceInfo]:
    """Fair k-sided die: i.i.d. uniform faces, from a child of rng (default_rng(seed).integers(0, k) itself is a
    seeded call, which seqlib.seeded replays: no stand-in for a die nobody can predict)."""
    _check(1 <= k <= 65536, f"die needs 1 <= k <= 65536, got k={k}")
    return rng.spawn(1)[0].integers(0, k, n), SourceInfo("die", dict(k=k), k, float(np.log2(k)), 1 / k)


def _biased_die(n: int, rng: np.random.Generator, k: int = 20,
                weights: list[float] | None = None) -> tuple[np.ndarray, SourceInfo]:
    """i.i.d. faces with the given weights (default: drawn from a flat Dirichlet)."""
    w = rng.dirichlet(np.ones(k)) if weights is None else np.asarray(weights, dtype=np.float64)
    _check(len(w) == k and (w >= 0).all() and w.sum() > 0,
           f"biased_die needs k={k} non-negative weights, got {weights}")
    w = w / w.sum()
    info = SourceInfo("biased_die", dict(k=k, weights=w.tolist()), k, _entropy(w), float(w.max()))
    return rng.choice(k, n, p=w), info


def _stationary(trans: np.ndarray, order: int) -> np.ndarray:
    """Stationary distribution over contexts (last `order` symbols) of an order-k chain, by power iteration."""
    n_ctx, k = trans.shape
    nxt = (np.arange(n_ctx)[:, None] * k + np.arange(k)) % n_ctx
    pi = np.full(n_ctx, 1 / n_ctx)
    for _ in range(100_000):
        new = np.bincount(nxt.ravel(), weights=(pi[:, None] * trans).ravel(), minlength=n_ctx)
        if np.abs(new - pi).sum() < 1e-13:
            break
        pi = new
    return new / new.sum()


def _markov(n: int, rng: np.random.Generator, k: int = 16, order: int = 2,
            concentration: float = 0.3) -> tuple[np.ndarray, SourceInfo]:
    """Order-`order` Markov chain over k symbols; each context's next-symbol row ~ Dirichlet(concentration)."""
    _check(k >= 2 and order >= 1 and k ** order <= 1 << 20 and concentration > 0,
           f"markov needs k >= 2, order >= 1, k**order <= 2**20 and concentration > 0; got k={k}, order={order}, "
           f"concentration={concentration}")
    n_ctx = k ** order
    trans = rng.dirichlet(np.full(k, concentration), size=n_ctx)
    pi = _stationary(trans, order)
    cdf = np.cumsum(trans, axis=1)
    cdf[:, -1] = 1.0
    cdf_rows, u = cdf.tolist(), rng.random(n).tolist()
    ctx = int(rng.choice(n_ctx, p=pi))
    out = [0] * n
    for t in range(n):  # sequential by nature: bisect on precomputed rows and uniforms keeps it ~0.5 us/value
        s = bisect.bisect_right(cdf_rows[ctx], u[t])
        out[t] = s
        ctx = (ctx * k + s) % n_ctx
    info = SourceInfo("markov", dict(k=k, order=order, concentration=concentration), k,
                      float(pi @ [_entropy(row) for row in trans]), float(pi @ trans.max(axis=1)))
    return np.array(out), info


def _sticky(n: int, rng: np.random.Generator, k: int = 6, p: float = 0.3) -> tuple[np.ndarray, SourceInfo]:
    """Die that repeats its last face w.p. p, else rolls fresh uniformly over all k faces (the same one included)."""
    _check(k >= 1 and 0 <= p <= 1, f"sticky needs k >= 1 and 0 <= p <= 1, got k={k}, p={p}")
    fresh = rng.integers(0, k, n)
    repeat = rng.random(n) < p
    repeat[0] = False
    last_fresh = np.maximum.accumulate(np.where(repeat, 0, np.arange(n)))
    same, other = p + (1 - p) / k, (1 - p) / k
    info = SourceInfo("sticky", dict(k=k, p=p), k, _entropy([same] + [other] * (k - 1)), same)
    return fresh[last_fresh], info


def _lagged_sum(n: int, rng: np.random.Generator, k: int = 16, a: int = 3, b: int = 7,
                noise: float = 0.2) -> tuple[np.ndarray, SourceInfo]:
    """x_t = (x_{t-a} + x_{t-b} + e_t) mod k, e_t = 0 w.p. 1-noise else +1 or -1 equally."""
    _check(k >= 3 and 1 <= a and 1 <= b and a != b and 0 <= noise <= 1,
           f"lagged_sum needs k >= 3, distinct lags a, b >= 1 and 0 <= noise <= 1; got k={k}, a={a}, b={b}, "
           f"noise={noise}")
    lag = max(a, b)
    e = np.where(rng.random(n) < noise, rng.choice([-1, 1], n), 0).tolist()
    x = rng.integers(0, k, lag).tolist() + [0] * n
    for t in range(lag, n + lag):  # sequential by nature: plain Python on lists, ~0.2 us/value
        x[t] = (x[t - a] + x[t - b] + e[t - lag]) % k
    info = SourceInfo("lagged_sum", dict(k=k, a=a, b=b, noise=noise), k,
                      _entropy([1 - noise, noise / 2, noise / 2]), max(1 - noise, noise / 2))
    return np.array(x[lag:]), info


def _lcg(n: int, rng: np.random.Generator, a: int = 25173, c: int = 13849, m: int = 65536, shift: int = 0,
         bits: int = 16, faces: int = 0, low: int = 0) -> tuple[np.ndarray, SourceInfo]:
    """Linear congruential generator x_{t+1} = (a x_t + c) mod m, each value the `bits` bits of x_t from bit `shift`
    up (with faces > 0: low + those bits mod faces, a die). The defaults output the whole state; a=214013,
    c=2531011, m=2**32, shift=16, bits=15 is the classic rand() of Microsoft's C library (faces=6, low=1: its
    rand() % 6 + 1), a=0x5DEECE66D, c=11, m=2**48, shift=32 Java's nextInt(65536) (shift=17, bits=31, faces=6,
    low=1: its nextInt(6) + 1, but for the 1 draw in 10^9 that Java redraws). Deterministic given the state;
    the whole state is seen only when shift == 0."""
    power = m & (m - 1) == 0
    _check(2 <= m <= 65536 or (power and m <= 1 << 64), f"lcg needs 2 <= m <= 65536, or m a power of two up to 2**64, "
           f"got m={m}")
    _check(1 <= bits <= (63 if faces else 16) and shift >= 0 and m > 1 << shift,
           f"lcg outputs 1..16 bits (1..63 for a die) from bit shift < log2(m); got bits={bits}, shift={shift}, m={m}")
    _check(faces == 0 or (2 <= faces and 0 <= low and low + faces <= 65536),
           f"lcg's die needs faces >= 2 and 0 <= low <= 65536 - faces; got faces={faces}, low={low}")
    x = np.empty(n, dtype=np.uint64)  # products stay below 2^64, or wrap modulo it when m is a power of two
    x[0] = rng.integers(0, m, dtype=np.uint64)
    length, mul, add = 1, a % m, c % m  # x[t + length] = (mul * x[t] + add) mod m
    while length < n:  # fill by doubling: one vectorised step per power of two
        step = min(length, n - length)
        y = np.uint64(mul) * x[:step] + np.uint64(add)
        x[length:length + step] = y & np.uint64(m - 1) if power else y % np.uint64(m)
        length, mul, add = length + step, mul * mul % m, (mul * add + add) % m
    values = ((x >> np.uint64(shift)) & np.uint64((1 << bits) - 1)).astype(np.int64)
    values = values % faces + low if faces else values
    return values, SourceInfo("lcg", dict(a=a, c=c, m=m, shift=shift, bits=bits, faces=faces, low=low),
                              faces or min(m >> shift, 1 << bits), 0.0, 1.0)


def _lagged_add(n: int, rng: np.random.Generator, a: int = 5, b: int = 17, m: int = 65536,
                shift: int = 0) -> tuple[np.ndarray, SourceInfo]:
    """Additive lagged generator x_t = (x_{t-a} + x_{t-b}) mod m, each value the 16 bits of x_t from bit `shift` up:
    deterministic given the previous b values.

    The defaults are the classic lagged Fibonacci pair (17, 5). a=3, b=31, m=2**32, shift=1 are the low 16 bits of
    glibc's random() (TYPE_3, seeded otherwise). The b seed values are random with the first one odd: with all of
    them even the lowest bit would stay 0 forever.
    """
    _check(1 <= a < b < 2048 and (2 <= m <= 65536 or m in (1 << k for k in range(17, 65))),
           f"lagged_add needs 1 <= a < b < 2048 and 2 <= m <= 65536 or m a power of two up to 2**64; got a={a}, b={b}, "
           f"m={m}")
    _check(0 <= shift and m > 1 << shift, f"lagged_add outputs bits from bit shift < log2(m); got shift={shift}, m={m}")
    x = [int(v) for v in rng.integers(0, min(m, 1 << 62), b)] + [0] * n
    if m % 2 == 0:
        x[0] |= 1
    for t in range(b, n + b):  # sequential by nature: plain Python on lists, ~0.2 us/value
        x[t] = (x[t - a] + x[t - b]) % m
    values = (np.array(x[b:], dtype=np.uint64) >> np.uint64(shift)) & np.uint64(0xFFFF)
    info = SourceInfo("lagged_add", dict(a=a, b=b, m=m, shift=shift), min(m >> shift, 65536), 0.0, 1.0)
    return values.astype(np.int64), info


# Primitive trinomials x^n + x^k + 1 as {n: k}. 2^17-1, 2^31-1, 2^89-1 and 2^127-1 are Mersenne primes, so for those
# degrees irreducible means primitive; tests/test_sources.py checks the order of x for every entry.
LFSR_TAPS = {17: 3, 23: 5, 31: 3, 89: 38, 127: 1}


def _lfsr_bits(n_bits: int, rng: np.random.Generator, degree: int) -> np.ndarray:
    """n_bits (uint8 0/1) of s_t = s_{t-n} XOR s_{t-n+k} for the trinomial x^n + x^k + 1, n = degree.

    The first n bits are the random seed state (never all zero). Over GF(2), (x^n + x^k + 1)^(2^j) =
    x^(n 2^j) + x^(k 2^j) + 1, so s_t = s_{t - n 2^j} XOR s_{t - (n-k) 2^j} too: each numpy step fills (n-k) 2^j
    bits, a block that doubles as the stream grows.
    """
    _check(degree in LFSR_TAPS, f"lfsr needs degree in {sorted(LFSR_TAPS)} (known primitive trinomials), "
                                f"got degree={degree}")
    n, k = degree, LFSR_TAPS[degree]
    bits = np.empty(max(n_bits, n), dtype=np.uint8)
    bits[:n] = rng.integers(0, 2, n)
    bits[0] |= not bits[:n].any()  # the all-zero state would stay zero forever
    filled = n
    while filled < n_bits:
        j = (filled // n).bit_length() - 1  # largest j with n 2^j <= filled
        far, near = n << j, (n - k) << j
        step = min(near, n_bits - filled)
        bits[filled:filled + step] = bits[filled - far:filled - far + step] ^ bits[filled - near:filled - near + step]
        filled += step
    return bits[:n_bits]


def _lfsr(n: int, rng: np.random.Generator, degree: int = 31) -> tuple[np.ndarray, SourceInfo]:
    """Fibonacci LFSR bits (see _lfsr_bits), 16 per value, the first bit lowest: value_t = sum_i s_{16t+i} 2^i."""
    bits = _lfsr_bits(16 * n, rng, degree)
    values = np.packbits(bits, bitorder="little").view("<u2")
    return values, SourceInfo("lfsr", dict(degree=degree), 65536, 0.0, 1.0)


def _apply_gf2(cols: np.ndarray, states: np.ndarray) -> np.ndarray:
    """Apply a GF(2)-linear map to each row of states (N, W) uint32; cols[i] (shape (32W, W)) is the image of bit i.

    Bit i is bit i % 32 of word i // 32. The map is tabulated per byte of the state: 4W lookups per row.
    """
    byte_bits = (np.arange(256)[:, None] >> np.arange(8)) & 1  # (256, 8)
    per_byte = cols.reshape(-1, 1, 8, cols.shape[1])  # (4W, 1, 8, W)
    tables = np.bitwise_xor.reduce(per_byte * byte_bits[None, :, :, None].astype(np.uint32), axis=2)  # (4W, 256, W)
    state_bytes = np.ascontiguousarray(states, dtype="<u4").view(np.uint8)  # little-endian: byte b of word w at 4w+b
    out = np.zeros_like(states)
    for b, table in enumerate(tables):
        out ^= table[state_bytes[:, b]]
    return out


def _linear_stream(step: Callable[[np.ndarray], np.ndarray], state: np.ndarray, n: int) -> np.ndarray:
    """States 1..n (n, W) of a generator whose step is GF(2)-linear on W uint32 words, by doubling:
    states[t + L] = T^L states[t], with T^L tabulated and squared each round."""
    width = 32 * len(state)
    basis = np.zeros((width, len(state)), dtype=np.uint32)
    basis[np.arange(width), np.arange(width) // 32] = np.uint32(1) << (np.arange(width) % 32).astype(np.uint32)
    cols = step(basis)  # T^length, starting at T
    out = np.empty((n, len(state)), dtype=np.uint32)
    out[0] = step(np.asarray(state, dtype=np.uint32)[None])[0]
    length = 1
    while length < n:
        m = min(length, n - length)
        out[length:length + m] = _apply_gf2(cols, out[:m])
        cols, length = _apply_gf2(cols, cols), length + m
    return out


def _xorshift32_step(s: np.ndarray) -> np.ndarray:
    """Marsaglia's xorshift32 with shifts (13, 17, 5), on rows (N, 1)."""
    x = s[:, 0]
    x = x ^ (x << 13)
    x = x ^ (x >> 17)
    x = x ^ (x << 5)
    return x[:, None]


def _xorshift128_step(s: np.ndarray) -> np.ndarray:
    """Marsaglia's xorshift128 on rows (x, y, z, w) of shape (N, 4); the new w is the output."""
    x, y, z, w = s.T
    t = x ^ (x << 11)
    return np.stack([y, z, w, w ^ (w >> 19) ^ t ^ (t >> 8)], axis=1)


def _half(words: np.ndarray, output: str, kind: str) -> np.ndarray:
    """The high or low 16 bits of n 32-bit outputs; words: the first n / 2 outputs whole, as a raw little-endian dump
    reads as 16-bit values (the low half first)."""
    _check(output in ("high", "low", "words"), f"{kind} needs output=high, low or words, got output={output!r}")
    if output == "words":
        return words.astype("<u4").view("<u2")[: len(words)]
    return words >> 16 if output == "high" else words & 0xFFFF


def _xorshift(n: int, rng: np.random.Generator, state_bits: int = 32,
              output: str = "high") -> tuple[np.ndarray, SourceInfo]:
    """Marsaglia's xorshift32 (13, 17, 5) or xorshift128, seeded with nonzero words from rng; 16 bits of each output
    (or the outputs whole: _half)."""
    _check(state_bits in (32, 128), f"xorshift needs state_bits=32 or state_bits=128, got state_bits={state_bits}")
    step = _xorshift32_step if state_bits == 32 else _xorshift128_step
    state = rng.integers(1, 2 ** 32, state_bits // 32, dtype=np.uint32)  # nonzero words: never the all-zero state
    words = _linear_stream(step, state, n)[:, -1]
    return _half(words, output, "xorshift"), SourceInfo("xorshift", dict(state_bits=state_bits, output=output),
                                                        65536, 0.0, 1.0)


def _xoshiro128_step(s: np.ndarray) -> np.ndarray:
    """The linear state update of xoshiro128 (Blackman & Vigna 2018) on rows (s0, s1, s2, s3) of shape (N, 4)."""
    s0, s1, s2, s3 = s.T
    t = s1 << 9
    s2 = s2 ^ s0
    s3 = s3 ^ s1
    s1 = s1 ^ s2
    s0 = s0 ^ s3
    s2 = s2 ^ t
    return np.stack([s0, s1, s2, (s3 << 11) | (s3 >> 21)], axis=1)


def xoshiro128_outputs(states: np.ndarray, scrambler: str) -> np.ndarray:
    """The 32-bit outputs of states (N, 4): "+" is s0 + s3 (its lowest bits stay close to linear), "**" is
    rotl(5 s1, 7) * 9 (no bit linear)."""
    s0, s1, s3 = states[:, 0], states[:, 1], states[:, 3]
    if scrambler == "+":
        return s0 + s3
    x = s1 * np.uint32(5)
    return ((x << 7) | (x >> 25)) * np.uint32(9)


def _xoshiro(n: int, rng: np.random.Generator, scrambler: str = "+",
             output: str = "low") -> tuple[np.ndarray, SourceInfo]:
    """xoshiro128+ or xoshiro128** seeded with random words from rng; 16 bits of each output (or the outputs whole:
    _half). The state is linear over GF(2) and only the scrambler is not: with "+" bit 0 of the output is linear
    (L = 128) and bit 1 nearly so (L = 8,256), the higher bits are not; with "**" nothing is."""
    _check(scrambler in ("+", "**"), f"xoshiro needs scrambler='+' or scrambler='**', got scrambler={scrambler!r}")
    state = rng.integers(1, 2 ** 32, 4, dtype=np.uint32)
    states = np.concatenate([state[None], _linear_stream(_xoshiro128_step, state, n - 1)]) if n > 1 else state[None]
    return _half(xoshiro128_outputs(states, scrambler), output, "xoshiro"), SourceInfo(
        "xoshiro", dict(scrambler=scrambler, output=output), 65536, 0.0, 1.0)


def mt19937_outputs(seed: int, n: int) -> np.ndarray:
    """The first n uint32 outputs of MT19937 (Matsumoto & Nishimura 1998) after init_genrand(seed)."""
    mt = [seed & 0xFFFFFFFF]
    for i in range(1, 624):
        mt.append((1812433253 * (mt[-1] ^ (mt[-1] >> 30)) + i) & 0xFFFFFFFF)
    # The twist as the published recurrence x_{k+624} = x_{k+397} ^ A((x_k & upper) | (x_{k+1} & lower)): its
    # shortest lag is 227, so numpy fills 227 words at a time. That is what the reference loop's ranges 0..226,
    # 227..622 and 623 do to the 624-word state, without tying the blocks to its boundaries.
    x = np.empty(624 + n, dtype=np.uint32)
    x[:624] = mt
    for j in range(624, 624 + n, 227):
        e = min(j + 227, 624 + n)
        y = (x[j - 624:e - 624] & 0x80000000) | (x[j - 623:e - 623] & 0x7FFFFFFF)
        x[j:e] = x[j - 227:e - 227] ^ (y >> 1) ^ ((y & 1) * np.uint32(0x9908B0DF))
    y = x[624:]  # tempering
    y = y ^ (y >> 11)
    y = y ^ ((y << 7) & 0x9D2C5680)
    y = y ^ ((y << 15) & 0xEFC60000)
    return y ^ (y >> 18)


MT_DICE = ("mod", "scaled", "float")


def _mt19937(n: int, rng: np.random.Generator, mt_seed: int | None = None, output: str = "high", faces: int = 6,
             low: int = 1) -> tuple[np.ndarray, SourceInfo]:
    """MT19937 after init_genrand(mt_seed); high is x >> 16 (Python's random.getrandbits(16)), low is x & 0xFFFF,
    words the outputs whole (_half).
    A die of `faces` faces from `low` on: mod throws low + x mod faces (mt() % 6 + 1), scaled low + floor(faces x /
    2^32) (C++'s uniform_int_distribution in libstdc++), float low + floor(faces r) with r = (x1 >> 5, x2 >> 6) /
    2^53 of two outputs (Python's int(random.random() * faces)).

    mt_seed defaults to a value drawn from rng, so generate()'s seed picks the stream; pass mt_seed=5489 for the
    reference sequence. The seed used is in SourceInfo.params.
    """
    mt_seed = int(rng.integers(0, 2 ** 32)) if mt_seed is None else mt_seed
    _check(0 <= mt_seed < 2 ** 32, f"mt19937 needs 0 <= mt_seed < 2**32, got mt_seed={mt_seed}")
    _check(output in ("high", "low", "words", *MT_DICE), f"mt19937 needs output=high, low, words, mod, scaled or "
           f"float, got output={output!r}")
    if output not in MT_DICE:
        values = _half(mt19937_outputs(mt_seed, n), output, "mt19937")
        return values, SourceInfo("mt19937", dict(mt_seed=mt_seed, output=output), 65536, 0.0, 1.0)
    _check(2 <= faces <= 1024 and 0 <= low <= 65536 - faces, f"mt19937 dice need 2 <= faces <= 1024 and 0 <= low <= "
           f"65536 - faces, got faces={faces}, low={low}")
    x = mt19937_outputs(mt_seed, 2 * n if output == "float" else n).astype(np.uint64)
    if output == "mod":
        t = x % np.uint64(faces)
    elif output == "scaled":
        t = (x * np.uint64(faces)) >> np.uint64(32)
    else:
        fraction = ((x[0::2] >> np.uint64(5)) << np.uint64(26)) | (x[1::2] >> np.uint64(6))  # 53 bits
        t = (fraction * np.uint64(faces)) >> np.uint64(53)
    return (t.astype(np.int64) + low, SourceInfo("mt19937", dict(mt_seed=mt_seed, output=output, faces=faces, low=low),
                                                 faces, 0.0, 1.0))


def _mt19937_64(n: int, rng: np.random.Generator, mt_seed: int | None = None) -> tuple[np.ndarray, SourceInfo]:
    """MT19937-64 (std::mt19937_64) after init_genrand64(mt_seed), dumped raw: each 64-bit output as four 16-bit
    values, the lowest first (little-endian). Every bit plane interleaves 4 lanes of degree 19,937 (L = 79,748).

    mt_seed defaults to a value drawn from rng; pass mt_seed=5489 for the reference sequence."""
    from .twister import mt19937_64_outputs

    mt_seed = int(rng.integers(0, 2 ** 63)) if mt_seed is None else mt_seed
    _check(0 <= mt_seed < 2 ** 64, f"mt19937_64 needs 0 <= mt_seed < 2**64, got mt_seed={mt_seed}")
    values = mt19937_64_outputs(mt_seed, -(-n // 4)).astype("<u8").view("<u2")[:n]
    return values.astype(np.int64), SourceInfo("mt19937_64", dict(mt_seed=mt_seed), 65536, 0.0, 1.0)


def _mixed(n: int, rng: np.random.Generator, k: int = 8, a: int = 3, b: int = 7, noise: float = 0.2,
           degree: int = 31) -> tuple[np.ndarray, SourceInfo]:
    """value_t = s_t + 2 y_t: s an LFSR bit (see _lfsr_bits), y_t = (y_{t-a} + y_{t-b} + e_t) mod k as in lagged_sum.

    The lowest bit is linear over GF(2) and a function of the past `degree` bits, so it adds no entropy: the rate is
    exactly that of y, H(1-noise, noise/2, noise/2), and the ideal top-1 is max(1-noise, noise/2). Only a predictor
    that combines the linear low bit with the lag structure of the upper bits reaches them.
    """
    _check(2 * k <= 65536, f"mixed needs k <= 32768 so values fit 16 bits, got k={k}")
    y, info = _lagged_sum(n, rng, k, a, b, noise)
    values = _lfsr_bits(n, rng, degree) + 2 * y
    return values, SourceInfo("mixed", dict(k=k, a=a, b=b, noise=noise, degree=degree), 2 * k,
                              info.entropy_rate, info.ideal_top1)


GENERATORS = {"die": _die, "biased_die": _biased_die, "markov": _markov, "sticky": _sticky,
              "lagged_sum": _lagged_sum, "lcg": _lcg, "lagged_add": _lagged_add,
              "lfsr": _lfsr, "xorshift": _xorshift, "xoshiro": _xoshiro, "mt19937": _mt19937,
              "mt19937_64": _mt19937_64, "mixed": _mixed}


def generate(kind: str, n: int, seed: int = 0, **params) -> tuple[np.ndarray, SourceInfo]:
    """n values (uint16) of a source and its exact entropy rate and ideal top-1 accuracy."""
    if kind not in GENERATORS:
        raise ConfigError(f"unknown source kind {kind!r}; use one of {', '.join(GENERATORS)}")
    allowed = list(inspect.signature(GENERATORS[kind]).parameters)[2:]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ConfigError(f"source {kind!r} has no parameter {', '.join(unknown)}; "
                          f"its parameters are {', '.join(allowed)}")
    _check(n >= 1, f"n must be >= 1, got {n}")
    values, info = GENERATORS[kind](n, np.random.default_rng(seed), **params)
    return values.astype(np.uint16), info


def write_u16(path: str | os.PathLike, values: np.ndarray) -> None:
    """Write values as a raw little-endian uint16 file (parent folders are created)."""
    values = np.asarray(values)
    if values.size and (values.min() < 0 or values.max() > 65535):
        raise DataError(f"values span {values.min()}..{values.max()}, outside uint16; clip or rescale them to 0..65535")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    values.astype("<u2").tofile(path)


def make_stream(path: str | os.PathLike, kind: str, n: int, seed: int = 0, **params) -> SourceInfo:
    """Generate a stream and write it to path as .u16; returns its SourceInfo."""
    values, info = generate(kind, n, seed, **params)
    write_u16(path, values)
    return info


def make_sample(path: str | os.PathLike) -> SourceInfo:
    """Write the built-in sample stream (SAMPLE) to path; returns its SourceInfo."""
    return make_stream(path, **SAMPLE)
