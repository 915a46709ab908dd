"""Mersenne Twister: the whole state of MT19937 (or MT19937-64) from one bit plane of what a program made of its
outputs.

Every bit of the Mersenne Twister's outputs obeys one linear recurrence of degree N = 19,937 over GF(2): the
characteristic polynomial P of the generator's transition. The GF(2) scan predicts such a plane from its own past,
but a die keeps one or two planes of each output (`mt() % 6` its lowest bit, C++'s uniform_int_distribution(1, 20)
its top two), so the rest of each throw stays unpredicted there. Yet one plane fixes the whole state:

- P is irreducible, so the sequences that obey it are a one-dimensional space over the field GF(2)[E]/P (E the
  shift): any other plane s' of the same outputs is C(E) s for one C, and C depends on the two planes' places in the
  generator only, not on its seed. A reference run of the generator gives it.
- In polynomials: a sequence s that obeys P is R(s) = (s_0 + s_1 x + ... + s_{N-1} x^{N-1}) P*(x) mod x^N, P* the
  reciprocal of P (the plane's connection polynomial), and s = R(s) / P* as a power series. The shift multiplies R by
  x^-1 modulo P*, so R(s') = G R(s) mod P* with G = R(s'_ref) / R(s_ref) mod P* (an extended Euclid for the
  inverse). The quotient of R(s) G by P* has degree below N - 1, so the terms N - 1, N, ... of s' are the
  coefficients of R(s) (G / P*) from N - 1 on: one FFT product per plane, with G / P* computed once.
- From N consecutive throws this gives every bit of the next outputs that hold the state (624 of 32 bits, or 312 of
  64), untempered to the generator's state, which predicts every later throw. About 0.1 s (0.2 s for MT19937-64);
  once per process and layout, 1-3 s for the reference.

A complete alphabet lo..lo + d - 1 with an even d = 2^v q (not a power of two, whose bits the scan already predicts
whole) is tried in the LAYOUTS programs use, for each generator; the search keeps the first whose recovered state
predicts the next CHECK throws with at most MAX_MISS misses (random throws match 1 in d each), a selection rule the
verdict's held-out test then checks like any other predictor's.
"""
from __future__ import annotations

import dataclasses
import functools
import random

import numpy as np

from .congruential import fit_counts
from .errors import DataError
from .found import Found, complete_die
from .linear import FACES as FACES_MAX, berlekamp_massey  # the scan's dice are the ones searched here

TWISTER = "MT19937 state recovery"
N = 19_937  # degree of both generators' recurrence: 624 words of 32 bits (312 of 64), less the 31 low bits of one
CHECK = 2_000  # throws after a recovery that a layout must predict
MAX_MISS = 20
TRIES = 2  # places in the block where a recovery is attempted
COUNT_MAX = 1 << 20  # throws after the recovery over which a found layout's misses are counted
VERIFY = 64  # values after a recovery's N that its state must predict before it is used (random throws: d^-64)
MAX_JUMP = 1 << 24  # throws a state is stepped ahead to the next window (further: a recovery is cheaper)
NONE_FOUND = ("the values are not a die's throws of the Mersenne Twister's outputs in any layout seqlib knows (x mod "
              "d, floor(d x / 2^w), floor(d r) of a 53-bit fraction; seqlib.twister.LAYOUTS)")

# How a program makes a throw lo + t, t in 0..d-1, from the w-bit outputs x of the generator; "float" takes two
# 32-bit outputs per throw. In each, bit 0 or bit w - 1 of an output is a bit of t (or of t // q, d = 2^v q): the
# plane the recovery reads (_observed).
LAYOUTS = {
    "mod": "x mod {d}",  # C and C++ programs' mt() % d
    "scaled": "floor({d} x / 2^{w})",  # libstdc++'s uniform_int_distribution, genrand_real2() * d
    "float": "floor({d} r), r = (x1 >> 5, x2 >> 6) / 2^53",  # Python's int(random() * d), genrand_res53() * d
}
STRIDE = {"mod": 1, "scaled": 1, "float": 2}
HINT = {
    "mod": "a C or C++ program's {name}() % {d}",
    "scaled": "C++'s uniform_int_distribution over std::{name} in libstdc++, or {real}() * {d}",
    "float": "Python's int(random.random() * {d}), NumPy's RandomState.random_sample() * {d}, or genrand_res53() * {d}",
}


# ---------------------------------------------------------------------------------------------------------------
# Polynomials over GF(2) as 0/1 uint8 arrays (coefficient i at index i); products by FFT (exact: the counts stay far
# below 2^53), the inverse modulo P* by the binary extended Euclid on Python ints.

def _mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The product of two polynomials over GF(2)."""
    n = len(a) + len(b) - 1
    size = 1 << (n - 1).bit_length()
    counts = np.fft.irfft(np.fft.rfft(a, size) * np.fft.rfft(b, size), size)[:n]
    return (np.rint(counts).astype(np.int64) & 1).astype(np.uint8)


def _series_inverse(p: np.ndarray, k: int) -> np.ndarray:
    """g with p g = 1 mod x^k (p[0] = 1), by Newton's iteration: over GF(2), g <- p g^2 doubles the exact terms."""
    g, m = np.ones(1, np.uint8), 1
    while m < k:
        m = min(2 * m, k)
        g = _mul(p[:m], _mul(g, g)[:m])[:m]
    return g


def _represent(s: np.ndarray, pstar: np.ndarray) -> np.ndarray:
    """R(s) of a sequence that obeys P*: its first N terms times P*, mod x^N (degree below N)."""
    return _mul(s[:N], pstar)[:N]


def _to_int(a: np.ndarray) -> int:
    return int.from_bytes(np.packbits(a, bitorder="little").tobytes(), "little")


def _from_int(x: int, n: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(x.to_bytes((n + 7) // 8, "little"), np.uint8), bitorder="little")[:n].copy()


def _inverse_mod(a: np.ndarray, m: np.ndarray) -> np.ndarray:
    """a^-1 modulo the irreducible m."""
    u, v, g1, g2 = _to_int(a), _to_int(m), 1, 0  # g1 a = u, g2 a = v (mod m)
    while u != 1:
        if u == 0:
            raise ValueError("not invertible")
        j = u.bit_length() - v.bit_length()
        if j < 0:
            u, v, g1, g2, j = v, u, g2, g1, -j
        u ^= v << j
        g1 ^= g2 << j
    return _from_int(g1, len(m) - 1)


def _mod(a: np.ndarray, m: np.ndarray, rev_inverse: np.ndarray) -> np.ndarray:
    """a mod m (deg a < 2 deg m) by Barrett: the quotient's reversal is a's times the inverse series of m's."""
    n, top = len(m) - 1, len(a) - len(m)
    if top < 0:
        return np.pad(a, (0, n - len(a)))
    q = _mul(a[::-1][:top + 1], rev_inverse[:top + 1])[:top + 1][::-1]
    r = a.copy()
    qm = _mul(q, m)
    r[:len(qm)] ^= qm[:len(r)]
    return r[:n]


# ---------------------------------------------------------------------------------------------------------------
# The generators: MT19937 through Python's random module (which is MT19937: getrandbits(32 n) is n outputs, the first
# in the lowest bits), MT19937-64 in NumPy. A state is what `draw` continues from; `start` makes the one whose next
# outputs are the given state words, tempered (_temper).

# Tempering of an output y: y ^= (y >> u) & d, y ^= (y << s) & b, y ^= (y << t) & c, y ^= y >> l.
TEMPERING = {32: ((11, 0xFFFFFFFF), (-7, 0x9D2C5680), (-15, 0xEFC60000), (18, 0xFFFFFFFF)),
             64: ((29, 0x5555555555555555), (-17, 0x71D67FFFEDA60000), (-37, 0xFFF7EEE000000000),
                  (43, 0xFFFFFFFFFFFFFFFF))}  # negative: a left shift


def _shifted(y: np.ndarray, k: int) -> np.ndarray:
    return y >> np.uint64(k) if k > 0 else y << np.uint64(-k)


def _temper(y: np.ndarray, bits: int) -> np.ndarray:
    for k, m in TEMPERING[bits]:
        y = y ^ (_shifted(y, k) & np.uint64(m))
    return y


def _untemper(x: np.ndarray, bits: int) -> np.ndarray:
    """The state words behind tempered outputs: each step undone, the last first (a pass fixes |k| more bits)."""
    y = np.asarray(x, np.uint64)
    for k, m in reversed(TEMPERING[bits]):
        z = y
        for _ in range(bits // abs(k)):
            z = y ^ (_shifted(z, k) & np.uint64(m))
        y = z
    return y


class _MT19937:
    name, bits, words = "mt19937", 32, 624

    @staticmethod
    def start(words: np.ndarray) -> tuple:
        return 3, tuple(int(w) for w in words) + (0,), None

    @staticmethod
    def draw(state: tuple, n: int) -> tuple[np.ndarray, tuple]:
        """The next n outputs (uint64) and the state after them."""
        rng = random.Random()
        rng.setstate(state)
        x = np.frombuffer(rng.getrandbits(32 * n).to_bytes(4 * n, "little"), "<u4") if n else np.zeros(0, np.uint32)
        return x.astype(np.uint64), rng.getstate()

    def reference(self, n: int) -> np.ndarray:
        return self.draw(random.Random(20_260_512).getstate(), n)[0]


class _MT19937_64:
    name, bits, words = "mt19937_64", 64, 312
    UPPER, LOWER, A = np.uint64(0xFFFFFFFF80000000), np.uint64(0x7FFFFFFF), np.uint64(0xB5026F5AA96619E9)

    @staticmethod
    def start(words: np.ndarray) -> np.ndarray:
        return np.asarray(words, np.uint64)

    def draw(self, state: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The next n outputs and the state after them: the twist y_{t+312} = y_{t+156} ^ A((y_t & upper) |
        (y_{t+1} & lower)), 156 words (its shortest lag) at a time, then the tempering."""
        y = np.empty(n + 312, np.uint64)
        y[:312] = state
        one = np.uint64(1)
        for j in range(312, n + 312, 156):
            e = min(j + 156, n + 312)
            z = (y[j - 312:e - 312] & self.UPPER) | (y[j - 311:e - 311] & self.LOWER)
            y[j:e] = y[j - 156:e - 156] ^ (z >> one) ^ ((z & one) * self.A)
        return _temper(y[:n], 64), y[n:].copy()

    def reference(self, n: int) -> np.ndarray:
        # Random words are a state except for the 31 low bits of the first, which no later word reads but its output
        # does: that output is not on the recurrence, so the run starts after it.
        words = np.random.default_rng(20_260_512).integers(0, 2**64, 312, dtype=np.uint64, endpoint=False)
        return self.draw(words, n + 1)[0][1:]


def mt19937_64_outputs(seed: int, n: int) -> np.ndarray:
    """The first n outputs (uint64) of MT19937-64, C++'s std::mt19937_64, after init_genrand64(seed)."""
    words = [seed % 2**64]
    for i in range(1, 312):
        words.append((6364136223846793005 * (words[-1] ^ (words[-1] >> 62)) + i) % 2**64)
    return _MT19937_64().draw(np.array(words, np.uint64), 312 + n)[0][312:]  # draw's first 312 are the seed's words


GENERATORS = {g.name: g for g in (_MT19937(), _MT19937_64())}


def _throws(layout: str, faces: int, x: np.ndarray, bits: int) -> np.ndarray:
    """t in 0..faces-1 of each throw made from the bits-bit outputs x (uint64; two per throw for "float"), int64."""
    d = np.uint64(faces)
    if layout == "mod":
        return (x % d).astype(np.int64)
    if layout == "scaled" and bits == 32:
        return ((x * d) >> np.uint64(32)).astype(np.int64)
    if layout == "scaled":  # floor(d x / 2^64) from the halves of x, within 64 bits for d <= 1024
        h = np.uint64(32)
        return ((((x & np.uint64(0xFFFFFFFF)) * d >> h) + (x >> h) * d) >> h).astype(np.int64)
    x = x[: len(x) // 2 * 2]  # a 53-bit fraction from two outputs, times the faces (below 2^63 for d <= 1024)
    k = ((x[0::2] >> np.uint64(5)) << np.uint64(26)) | (x[1::2] >> np.uint64(6))
    return ((k * d) >> np.uint64(53)).astype(np.int64)


def _observed(layout: str, faces: int, t: np.ndarray) -> np.ndarray:
    """The plane of the throws t that is one bit of an output: bit 0 for "mod" (t's lowest bit, as d is even), else
    the top bit of the (first) output: the top bit of t // q, d = 2^v q."""
    if layout == "mod":
        return (t & 1).astype(np.uint8)
    v = (faces & -faces).bit_length() - 1
    return ((t // (faces >> v)) >> (v - 1) & 1).astype(np.uint8)


@functools.cache
def _reference(generator: str, layout: str) -> tuple[np.ndarray, list[np.ndarray]]:
    """P* (from Berlekamp–Massey on a reference plane) and, for each bit of each output a throw takes, G / P* as a
    series (G = R(that bit's plane) / R(the observed plane) mod P*), its first N + words // stride terms."""
    gen, k = GENERATORS[generator], STRIDE[layout]
    x = gen.reference(k * (2 * N + 100))
    observed = ((x[::k] >> np.uint64(0 if layout == "mod" else gen.bits - 1)) & np.uint64(1)).astype(np.uint8)
    L, taps = berlekamp_massey(observed)
    if L != N:
        raise RuntimeError(f"{generator}'s reference plane has linear complexity {L}, not {N}")
    pstar = np.zeros(N + 1, np.uint8)
    pstar[0] = 1
    pstar[taps] = 1
    n = N + gen.words // k
    inverse, rev_inverse = _series_inverse(pstar, n), _series_inverse(pstar[::-1].copy(), N)
    from_observed = _inverse_mod(_represent(observed, pstar), pstar)
    one = np.uint64(1)
    planes = (((x[e::k] >> np.uint64(bit)) & one).astype(np.uint8) for e in range(k) for bit in range(gen.bits))
    series = [_mul(_mod(_mul(_represent(plane, pstar), from_observed), pstar, rev_inverse), inverse)[:n]
              for plane in planes]
    return pstar, series


def recover(generator: str, layout: str, faces: int, throws: np.ndarray) -> np.ndarray:
    """The generator's state words (untempered) whose outputs make the throws from throws[N - 1] on, from N throws
    t (0..faces-1): every bit of the next outputs that hold the state, from one bit plane of the throws."""
    gen, k = GENERATORS[generator], STRIDE[layout]
    pstar, series = _reference(generator, layout)
    r = _represent(_observed(layout, faces, np.asarray(throws[:N], np.int64)), pstar)
    size = 1 << (2 * N + gen.words).bit_length()
    spectrum = np.fft.rfft(r, size)
    x = np.zeros((gen.words // k, k), np.uint64)
    for i, s in enumerate(series):
        counts = np.fft.irfft(spectrum * np.fft.rfft(s, size), size)[N - 1:N - 1 + gen.words // k]
        x[:, i // gen.bits] |= (np.rint(counts).astype(np.uint64) & np.uint64(1)) << np.uint64(i % gen.bits)
    return _untemper(x.reshape(-1), gen.bits)


@dataclasses.dataclass
class Twister(Found):
    """The values are low + the throws that `layout` makes of the generator's outputs, with `faces` faces, as
    find_twister() checked them."""

    layout: str
    faces: int
    low: int
    n_check: int  # throws predicted after the recovery in the search
    misses: int  # of which wrong
    generator: str = "mt19937"  # or "mt19937_64" (GENERATORS)
    predictor = TWISTER

    @property
    def look(self) -> int:
        """Values a recovery reads: N for the state, VERIFY more that it must predict."""
        return N + VERIFY

    @property
    def deep(self) -> bool:
        """A recovery takes a tenth of a second at most, so the predictor recovers wherever stepping ahead fails: a
        window too far ahead (MAX_JUMP), a reseeded stream."""
        return False

    def _values(self, state, n: int) -> tuple[np.ndarray, object]:
        """The next n values (int64) from the generator's state, and the state after them."""
        gen = GENERATORS[self.generator]
        x, state = gen.draw(state, STRIDE[self.layout] * n)
        return self.low + _throws(self.layout, self.faces, x, gen.bits), state

    def window(self, raw: np.ndarray, start: int, last: tuple[int, object] | None, recover: bool = True
               ) -> tuple[np.ndarray, int, tuple[int, object] | None]:
        """The values the generator predicts for a window `raw` of the file from index `start` on, the offset from
        which they may be used (after the values that chose the state), and (file index, generator state there) to
        step from at the next window; (-1s, len(raw), last) where no state fits.

        The state is `last` stepped ahead when it predicts the window's first `look` values, else (with recover) the
        one recovered from them."""
        gen, n, look = GENERATORS[self.generator], len(raw), self.look
        if last is not None and -n < start - last[0] <= MAX_JUMP:
            if start >= last[0]:
                state = gen.draw(last[1], STRIDE[self.layout] * (start - last[0]))[1]
                predicted = self._values(state, n)[0]
                if (predicted[:look] == raw[:look]).all():
                    return predicted, look, (start, state)
            else:  # the window overlaps the values that chose the state: the generator cannot step back
                behind = last[0] - start
                predicted = np.concatenate([np.full(behind, -1, np.int64), self._values(last[1], n - behind)[0]])
                if (predicted[behind:behind + look] == raw[behind:behind + look]).all():
                    return predicted, behind, last
        t = np.asarray(raw[:N], np.int64) - self.low
        if recover and n >= look and t.min() >= 0 and t.max() < self.faces:
            state = gen.start(_recovered(self.generator, self.layout, self.faces, t))
            predicted = np.full(n, -1, np.int64)
            predicted[N - 1:] = self._values(state, n - N + 1)[0]
            if (predicted[N - 1:look] == raw[N - 1:look]).all():
                return predicted, look, (start + N - 1, state)
        return np.full(n, -1, np.int64), n, last

    @property
    def _name(self) -> str:
        return "MT19937" if self.generator == "mt19937" else "MT19937-64"

    def describe(self) -> str:
        """One line for the verdict."""
        d, w = self.faces, GENERATORS[self.generator].bits
        how = LAYOUTS[self.layout].format(d=d, w=w)
        values = f"{self.low} + {how}" if self.low else how
        of = "of two outputs x1, x2" if self.layout == "float" else "of the outputs x"
        real = "genrand_real2" if w == 32 else "genrand64_real2"
        hint = HINT[self.layout].format(d=d, name=self.generator, real=real)
        return (f"the values are {values} {of} of the Mersenne Twister {self._name} (hint: {hint}): its state is "
                f"recovered from {N:,} values and predicts every later one ({self.n_check - self.misses:,} of the "
                f"{self.n_check:,} after a recovery in the training block)")


_recovered = recover  # the module function, under a name Twister.window's `recover` flag does not hide


def find_twister(values: np.ndarray, scan=None) -> Twister | None:
    """The first generator and layout (GENERATORS, LAYOUTS) in which the values are throws of the Mersenne Twister's
    outputs, or None (see the module docstring). With a GF(2) scan of the block (linear.LinearScan), only when one
    of its planes has the recurrence's degree
    (N, or N + 1 for the complement of a bit: a face offset); otherwise whenever the values form a complete alphabet
    lo..lo + d - 1 of an even d <= FACES_MAX that is not a power of two."""
    values = np.asarray(values) if not isinstance(values, np.ndarray) else values
    if values.ndim != 1 or values.dtype.kind not in "iu":
        raise DataError(f"an MT19937 search needs a 1-D array of integer values, got dtype {values.dtype} with shape "
                        f"{values.shape}; pass the uint16 stream, e.g. seqlib.data.open_u16(path)")
    if scan is not None and not any(p.linear and p.L in (N, N + 1) for p in scan.planes):
        return None
    span = N + CHECK
    die = complete_die(values, TRIES * span, span, FACES_MAX, even=True)
    if die is None:
        return None
    v, lo, d = die
    layouts = [(g, layout) for g in GENERATORS for layout in LAYOUTS if STRIDE[layout] * GENERATORS[g].bits <= 64]
    for generator, layout in layouts:
        for start in range(0, len(v) - span + 1, span):
            twister = Twister(layout, d, lo, 0, 0, generator)
            predicted, _, _ = twister.window(v[start:start + span], start, None)
            if int((predicted[N:] != v[start + N:start + span]).sum()) <= MAX_MISS:
                return _counted(twister, values, start)
    return None


def _counted(found: Twister, values: np.ndarray, start: int) -> Twister:
    """found with its misses counted over up to COUNT_MAX values after the recovery at `start` (as fit_counts counts
    them: eps is P(wrong | the state fits so far))."""
    truth = np.asarray(values[start:start + N + COUNT_MAX], np.int64)
    predicted, _, _ = found.window(truth, start, None)
    n_check, misses = fit_counts(predicted[N:] != truth[N:], found.look)
    return dataclasses.replace(found, n_check=n_check, misses=misses)
