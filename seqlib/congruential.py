"""Linear congruential generators: recover the hidden state of a published LCG from 16 (or fewer) bits of each state.

An LCG x' = a x + c (mod m) is the RNG of java.util.Random, drand48, the C libraries' rand() (MSVC, Borland, musl,
newlib, the C standard's sample), Delphi, Visual Basic, Numerical Recipes and MINSTD. Programs rarely emit the whole
state: Java's nextInt(65536) keeps bits 32-47 of a 48-bit state, MSVC's rand() bits 16-30. Over GF(2) such a stream
has no linear plane within reach (bit j of a state modulo 2^k has period 2^(j+1)), and no transformer window holds
32 hidden bits, yet a few values fix the whole state and with it every later value.

find_congruential() tries every generator of CATALOGUE at every bit offset of the values in its state (the values
being `width` consecutive bits, width the bit length of the largest value; or every 2 or 4 values one 32- or 64-bit
output, as a dump of wider outputs reads as 16-bit values, in either order of its halves): it recovers the state
from the first values of a block and keeps the first (generator, offset) that predicts the next CHECK outputs with
at most MAX_MISS misses. Random values match a wrong guess with probability 2^-width per value, so this is a
selection rule that cannot fire by chance; the verdict's test of the predictor is on held-out values, as for every
other predictor.

How a state is recovered from outputs o_i = bits [s, s + w) of x_i:
- modulo 2^k, bits above s + w never reach the bits below (a carry only moves up), so the outputs are those of the
  same LCG modulo M = 2^(s + w), and the s hidden low bits are the unknowns;
- up to BRUTE_BITS hidden bits (and for any other modulus): every candidate state is stepped and filtered;
- more (Java's nextInt(65536): 32 hidden bits): the hidden parts u_i obey u_i = a^i u_0 + b_i (mod M) with known b_i,
  so u - b is a point of the lattice {y : y_i = a^i y_0 mod M} near the known vector -b, found by LLL reduction and
  Babai's nearest plane (Frieze, Hastad, Kannan, Lagarias and Shamir, SIAM J. Comput. 17, 1988).
Dice and other small alphabets: a program's `rand() % 6 + 1` keeps o_i = (bits [s, s + w) of x_i) mod d, plus a
face offset, where the values form a complete alphabet lo..lo + d - 1. For an even d = 2^v q (q odd; every common die
but d3 and d5 is even), the lowest v bits of o_i - lo are bits [s, s + v) of x_i, which depend only on the state's
bits below s + v: every candidate of those (2^s of them, at most 2^LOW_BITS) is stepped and filtered on them; once
they give the lowest v bits of CHECK throws, every candidate of the bits [s + v, s + w) (at most 2^HIGH_BITS, or
2^DEEP_BITS for outputs that reach the state's top bit) on the whole faces. MSVC's rand() % 6 hides 16 + 14 bits
this way, each part found in milliseconds, Java's nextInt(6) 17 + 30 (about 5 s); all 2^31 or 2^47 states at once
would not be found.
Dice scaled from the top of an output instead (Java's (int) (Math.random() * 6), rand() * 6 / (RAND_MAX + 1),
Delphi's Random(6): SCALED) keep lo + floor(d y / 2^w) of the bits y; each throw then places the state in an interval
of width M / d, which the same lattice reads (any d >= 3, odd ones too): 48 bits of Java's state from about 27
throws, in milliseconds.
An LCG modulo a power of two whose constants are not in CATALOGUE is recovered too, where the values are the top bits
of its states: its multiplier, modulus and increment read from the values (seqlib.uncatalogued). Dice of such a
generator, and other moduli, are not (the low bits of its states, when they are in the values, are found by the GF(2)
scan).
"""
from __future__ import annotations

import dataclasses
import functools

import numpy as np

from .data import sparse_reads
from .errors import DataError
from .found import Found

LCG = "LCG state recovery"
BRUTE_BITS = 12  # hidden bits searched by stepping every candidate state (more: the lattice)
BRUTE_MAX = 20  # hidden bits of a modulus that is not a power of two searched that way (more: not at all)
CHECK = 2_000  # values after the recovery that a candidate must predict
MAX_MISS = 20  # misses it may make there (a generator's stream makes none; random values hit 1 in 2^width)
MIN_WIDTH = 12  # fewer bits per value are not searched (dice, bytes: too little of a state is seen; the lattice grows)
COUNT_CHUNKS = 64  # chunks of CHECK values over which a found generator's misses are counted
FACES_MAX = 1024  # alphabets of at most this many values are searched as values modulo d (when d is even)
LOW_BITS = 18  # hidden bits below a die's bit field searched by stepping every candidate (rand(): 16)
HIGH_BITS = 20  # hidden bits above its lowest v bits searched the same way, at every width
DEEP_BITS = 30  # up to this many only for outputs that reach the state's top (Java's nextInt(6): 30, about 5 s)
CHUNK = 1 << 20  # candidates stepped at once (larger arrays cost more in page faults than they save)
MIN_STATE_BITS = 11  # a die's state of fewer bits repeats within CHECK values: a short cycle, not a found generator
MAX_CYCLE = 1024  # nor is a block that repeats with a period up to this (degenerate states, e.g. RANDU's even ones)
TRIES = 2  # places in the block where a recovery is attempted (a stream may start with values of another source)
NONE_FOUND = ("no published LCG of seqlib's catalogue (java.util.Random, the C libraries' rand(), drand48, MINSTD and "
              "others; seqlib.congruential.CATALOGUE) has the values as consecutive bits of its states, nor does any "
              "LCG modulo a power of two up to 2^64 as the top bits of its states")


@dataclasses.dataclass(frozen=True)
class Lcg:
    """x' = a x + c (mod m), with the programs known to use it."""

    name: str
    a: int
    c: int
    m: int

    @property
    def power_of_two(self) -> bool:
        return self.m & (self.m - 1) == 0

    @property
    def bits(self) -> int:
        """Bits of the state."""
        return (self.m - 1).bit_length()

    def modulus(self, shift: int, width: int) -> int:
        """The modulus the values see: 2^(shift + width) for a power of two (the higher bits never reach them)."""
        return 1 << (shift + width) if self.power_of_two else self.m

    def jump(self, x: int, n: int, m: int | None = None) -> int:
        """The state n >= 0 steps after x (modulo m, by default the generator's), in O(log n) steps."""
        m = m or self.m
        A, C, a, c = 1, 0, self.a % m, self.c % m  # x -> A x + C so far; a, c: the map of 2^i steps
        while n:
            if n & 1:
                A, C = A * a % m, (C * a + c) % m
            a, c, n = a * a % m, (c * a + c) % m, n >> 1
        return (A * x + C) % m

    def text(self) -> str:
        """'x' = a x + c (mod m)'."""
        m = f"2^{self.bits}" if self.power_of_two else "2^31 - 1" if self.m == (1 << 31) - 1 else f"{self.m:,}"
        return f"x' = {self.a:,} x{f' + {self.c:,}' if self.c else ''} (mod {m})"


# Moduli 2^k stand for every smaller power of two too: x mod 2^31 of an LCG mod 2^32 is the same LCG mod 2^31.
CATALOGUE = (
    Lcg("java.util.Random, POSIX drand48/lrand48", 0x5DEECE66D, 11, 1 << 48),
    Lcg("MSVC rand(), QuickC", 214_013, 2_531_011, 1 << 32),
    Lcg("the C standard's sample rand(), glibc TYPE_0, many embedded C libraries", 1_103_515_245, 12_345, 1 << 32),
    Lcg("Borland C/C++ rand()", 22_695_477, 1, 1 << 32),
    Lcg("Delphi / Turbo Pascal Random", 134_775_813, 1, 1 << 32),
    Lcg("Numerical Recipes ranqd1", 1_664_525, 1_013_904_223, 1 << 32),
    Lcg("Visual Basic Rnd, QuickBASIC", 16_598_013, 12_820_163, 1 << 24),  # VB6's 0x43FD43FD: the same a mod 2^24
    Lcg("RANDU (IBM)", 65_539, 0, 1 << 31),
    Lcg("Knuth's MMIX", 6_364_136_223_846_793_005, 1_442_695_040_888_963_407, 1 << 64),
    Lcg("musl / newlib rand()", 6_364_136_223_846_793_005, 1, 1 << 64),
    Lcg("MINSTD (Park-Miller 1988, C++ minstd_rand0)", 16_807, 0, (1 << 31) - 1),
    Lcg("MINSTD (Park-Miller 1993, C++ minstd_rand)", 48_271, 0, (1 << 31) - 1),
)


@dataclasses.dataclass
class Congruential(Found):
    """The outputs are bits [shift, shift + width) of the states of `lcg`, as find_congruential() checked them; each
    output is one value, or `stride` 16-bit values (the lowest 16 bits first, or the highest with high_first); with
    faces, each value is low + (that output mod faces), a die's throw."""

    name: str
    a: int
    c: int
    m: int
    shift: int
    width: int
    n_check: int  # values predicted after the recovery in the search
    misses: int  # of which wrong
    stride: int = 1
    high_first: bool = False
    faces: int = 0  # 0: the bits are the value
    low: int = 0
    scaled: bool = False  # with faces: low + floor(faces y / 2^width) of the bits y, not y mod faces
    steps: int = 1  # generator steps per output (Java's Math.random(): 2, of which the first's bits count)

    @property
    def lcg(self) -> Lcg:
        """The map from one output's state to the next one's (the generator's, or `steps` of its steps)."""
        a, c = 1, 0
        for _ in range(self.steps):
            a, c = a * self.a % self.m, (c * self.a + self.c) % self.m
        return Lcg(self.name, a, c, self.m)

    @property
    def generator_text(self) -> str:
        """The generator itself, "x' = a x + c (mod m)" (not `lcg`'s map of several steps)."""
        return Lcg(self.name, self.a, self.c, self.m).text()

    @property
    def needs(self) -> int:
        """Outputs a recovery reads."""
        if self.scaled:
            return _lattice_rank(self.lcg.modulus(self.shift, self.width), self.faces) + SCALED_TRIES + 8
        if self.faces:
            return _throws_needed(self.shift, self.width, self.faces)
        return _outputs_needed(self.lcg, self.shift, self.width)

    @property
    def deep(self) -> bool:
        """Whether a recovery that fails takes more than milliseconds: it steps more than 2^HIGH_BITS candidates
        (seconds), or it is a scaled die's, on SCALED_TRIES windows (a tenth of a second)."""
        return bool(self.faces) and (self.scaled or self.width - _twos(self.faces) > HIGH_BITS)

    @property
    def look(self) -> int:
        """Values a recovery may read, at the last phase of the outputs' values."""
        return self.needs * self.stride + self.stride - 1

    def recover(self, outputs: np.ndarray, tries: int | None = None) -> int | None:
        """The state whose outputs begin with `outputs` (at least `needs` of them), or None; a scaled die's lattice
        on `tries` windows (SCALED_TRIES by default)."""
        if not self.faces:
            return recover(self.lcg, self.shift, self.width, outputs)
        o = np.asarray(outputs[:self.needs], np.int64) - self.low
        if len(o) < self.needs or o.min() < 0 or o.max() >= self.faces:
            return None
        if self.scaled:
            return _scaled_state(self, o, tries or SCALED_TRIES)
        lows = _low_states(self.lcg, self.shift, _twos(self.faces), o)
        found = _high_states(self.lcg, self.shift, self.width, self.faces, lows, o)
        return int(found[0]) if len(found) == 1 else None

    def outputs(self, x0: list[int], n: int) -> np.ndarray:
        """(len(x0), n) outputs from each state on (its own first), uint64."""
        out = outputs_from(self.lcg, self.shift, self.width, x0, n)
        if self.scaled:
            return ((out * np.uint64(self.faces)) >> np.uint64(self.width)) + np.uint64(self.low)
        return out % np.uint64(self.faces) + np.uint64(self.low) if self.faces else out

    def jump(self, x: int, n: int) -> int:
        """The state n steps after x."""
        return self.lcg.jump(x, n, self.lcg.modulus(self.shift, self.width))

    def window(self, raw: np.ndarray, start: int, last: tuple[int, int] | None, recover: bool = True
               ) -> tuple[np.ndarray, int, tuple[int, int] | None]:
        """The values this generator predicts for a window `raw` of the file from index `start` on, the offset from
        which they may be used (after the values that chose the state), and (file index of an output's first value,
        the state there) to jump from at the next window; (-1s, len(raw), last) where no state fits.

        The state is `last` jumped ahead when it predicts the window's first values, else (with recover) recovered
        from them, at each phase of the outputs' values."""
        k, n, look = self.stride, self.needs, self.look
        if last is not None and start >= last[0]:
            steps, behind = divmod(start - last[0], k)  # the output holding raw[0], and raw[0]'s place in it
            x = self.jump(last[1], steps)
            predicted = self._values(x, len(raw) + behind)[behind:]
            if (predicted[:look] == raw[:look]).all():
                return predicted, look, (start - behind, x)
        for phase in range(k if recover else 0):
            x = self.recover(to_words(raw[phase:], k, self.high_first)[:n])
            if x is not None:
                predicted = np.full(len(raw), -1, np.int64)
                predicted[phase:] = self._values(x, len(raw) - phase)
                return predicted, phase + n * k, (start + phase, x)
        return np.full(len(raw), -1, np.int64), len(raw), last

    def _values(self, x: int, n: int) -> np.ndarray:
        """The first n values from the state x on."""
        return to_values(self.outputs([x], -(-n // self.stride)), self.stride, self.high_first)[0, :n]

    def describe(self) -> str:
        """One line for the verdict."""
        what = "the values are" if self.stride == 1 else (
            f"every {self.stride} values are, {'highest' if self.high_first else 'lowest'} 16 bits first,")
        span = f"bits {self.shift}-{self.shift + self.width - 1}" if self.width > 1 else f"bit {self.shift}"
        states = "states" if self.steps == 1 else f"states at every {_ordinal(self.steps)} step"
        bits = f"{span} of the {states} of the linear congruential generator {self.generator_text}"
        hint = self.name
        if self.scaled:
            bits, hint = f"floor({self.faces} y / 2^{self.width}) with y = {bits}", _idiom(self)
        elif self.faces and self.faces != 1 << self.width:  # a power of two keeps the bits as they are
            bits = f"({bits}) mod {self.faces}"
        bits = f"{self.low} + {bits}" if self.low else bits
        return (f"{what} {bits} (hint: {hint}): its state is recovered from {self.needs * self.stride} values and "
                f"predicts every later one ({self.n_check - self.misses:,} of the {self.n_check:,} after a recovery in "
                f"the training block)")

    def next_text(self, values: np.ndarray, idx: int) -> str:
        """What the generator predicts for the value at idx, from the values just before it, for `predict`."""
        k = self.look
        if idx < k:
            return f"{LCG}: fewer than {k} values before index {idx}, nothing is predicted"
        predicted, usable, _ = self.window(np.asarray(values[idx - k:idx + 1], np.int64), idx - k, None)
        if usable > k:  # no recovery from the values before idx
            return f"{LCG}: the {k} values before index {idx} are not outputs of {self.generator_text}"
        return f"{LCG}: {self.generator_text} ({self.name}) puts the value at index {idx} at {predicted[k]}"


def _outputs_needed(lcg: Lcg, shift: int, width: int) -> int:
    """Values a recovery reads: enough that the state is fixed with room to spare (the lattice needs its vector to
    be much shorter than the lattice's other points: (s + w)(n - 1) / n >= s + 8 bits)."""
    hidden = _hidden(lcg, shift, width)
    if hidden <= BRUTE_BITS or not lcg.power_of_two:
        return hidden // width + 3  # each value keeps 2^-w of the candidates
    return max(4, -(-(shift + width) // (width - 8)) + 1)


def _hidden(lcg: Lcg, shift: int, width: int) -> int:
    """Bits of the state the values do not show (modulo 2^k only the bits below them matter)."""
    return shift if lcg.power_of_two else lcg.bits - width


def _step(lcg: Lcg, x: np.ndarray, m: int) -> np.ndarray:
    """a x + c (mod m) for uint64 states (or uint32 ones for m <= 2^32): wrapping modulo 2^64 (2^32) is exact for a
    power-of-two m, and for another m (below 2^32, as in CATALOGUE) a x fits in 64 bits."""
    if m & (m - 1) == 0:
        t = x.dtype.type
        return (x * t(lcg.a % m) + t(lcg.c % m)) & t(m - 1)
    return (x * np.uint64(lcg.a % m) % np.uint64(m) + np.uint64(lcg.c % m)) % np.uint64(m)


def outputs_from(lcg: Lcg, shift: int, width: int, x0: list[int], n: int) -> np.ndarray:
    """(len(x0), n) outputs (bits [shift, shift + width) of the states, uint64) from each state on."""
    m = lcg.modulus(shift, width)
    x = np.array([int(v) % m for v in x0], dtype=np.uint64)
    out = np.empty((len(x), n), np.uint64)
    for i in range(n):
        out[:, i] = (x >> np.uint64(shift)) & np.uint64((1 << width) - 1)
        x = _step(lcg, x, m)
    return out


def to_words(values: np.ndarray, stride: int, high_first: bool = False) -> np.ndarray:
    """Each `stride` consecutive 16-bit values as one word (uint64), the first of them its lowest 16 bits (a
    little-endian dump of 32- or 64-bit outputs read as 16-bit values) or its highest (high_first: a big-endian one,
    read as big-endian 16-bit values)."""
    n = len(values) // stride
    groups = np.asarray(values[:n * stride], np.uint64).reshape(n, stride)
    groups = groups[:, ::-1] if high_first else groups
    return np.bitwise_or.reduce(groups << (np.uint64(16) * np.arange(stride, dtype=np.uint64)), axis=1)


def to_values(words: np.ndarray, stride: int, high_first: bool = False) -> np.ndarray:
    """The inverse of to_words along the last axis: (..., n) words -> (..., n * stride) 16-bit values, int64."""
    parts = (words[..., None] >> (np.uint64(16) * np.arange(stride, dtype=np.uint64))) & np.uint64(0xFFFF)
    parts = parts[..., ::-1] if high_first else parts
    return parts.reshape(*words.shape[:-1], -1).astype(np.int64)


def recover(lcg: Lcg, shift: int, width: int, outputs: np.ndarray) -> int | None:
    """The state x_0 (modulo 2^(shift + width) for a power-of-two modulus: the higher bits are not seen) whose
    values begin with `outputs`, or None; uses the first _outputs_needed() of them."""
    n = _outputs_needed(lcg, shift, width)
    o = [int(v) for v in outputs[:n]]
    if len(o) < n or max(o) >> width:
        return None
    if not lcg.power_of_two:  # no lattice here: every candidate (MINSTD's 2^31 - 1 hides 15 bits of 16)
        return _brute(lcg, shift, width, o) if _hidden(lcg, shift, width) <= BRUTE_MAX else None
    if _hidden(lcg, shift, width) <= BRUTE_BITS:
        return _brute(lcg, shift, width, o)
    x0 = _lattice(lcg, shift, width, o)
    return x0 if x0 is not None and outputs_from(lcg, shift, width, [x0], n)[0].tolist() == o else None


def _brute(lcg: Lcg, shift: int, width: int, o: list[int]) -> int | None:
    """Step every state whose bits [shift, shift + width) are o[0] and keep those that give o[1:]."""
    m = lcg.modulus(shift, width)
    low = np.arange(1 << shift, dtype=np.uint64)
    x = np.uint64(o[0] << shift) | low
    if not lcg.power_of_two:  # the bits above the values too
        high = np.arange(-(-m // (1 << (shift + width))), dtype=np.uint64)
        x = ((high[:, None] << np.uint64(shift + width)) | x).reshape(-1)
        x = x[x < np.uint64(m)]
    mask = np.uint64((1 << width) - 1)
    x0 = x
    for v in o[1:]:
        x = _step(lcg, x, m)
        keep = ((x >> np.uint64(shift)) & mask) == np.uint64(v)
        x, x0 = x[keep], x0[keep]
        if len(x) == 0:
            return None
    return int(x0[0]) if len(x0) == 1 else None


def _lattice(lcg: Lcg, shift: int, width: int, o: list[int]) -> int | None:
    """The hidden low bits u_0 by the closest lattice point to the known offsets (module docstring)."""
    M, n, s = 1 << (shift + width), len(o), shift
    a, c = lcg.a % M, lcg.c % M
    A, C = [1], [0]  # x_i = A_i x_0 + C_i (mod M)
    for _ in range(n - 1):
        A.append(A[-1] * a % M)
        C.append((C[-1] * a + c) % M)
    b = [(A[i] * (o[0] << s) + C[i] - (o[i] << s)) % M for i in range(n)]  # u_i = A_i u_0 + b_i (mod M)
    target = [(1 << (s - 1)) - b[i] for i in range(n)]  # u - b with u in the middle of its range
    v = _babai(*_reduced(a, M, n), target)
    u0 = v[0] + b[0]
    return (o[0] << s) + u0 if 0 <= u0 < 1 << s else None


# Dice scaled from the top of an output, lo + floor(d y / 2^w) of the bits y = [s, s + w) of each state: each throw
# puts the state modulo M = 2^(s + w) in an interval of width about M / d, so x_i = k_i + u_i with k_i known and
# 0 <= u_i < M / d + 2^s: the same lattice as above with intervals for bit fields. A throw tells log2(d) bits, so the
# lattice takes SCALED_SLACK throws more than the state's bits need; Babai's point is the state for about half of
# the windows of a d6 (LLL's basis is only nearly orthogonal), so a recovery tries SCALED_TRIES windows in turn (the
# search, on values that are mostly no generator's, SEARCH_TRIES).
SCALED = (  # (catalogue name, shift, width, steps, the idiom): programs' dice scaled from an LCG's output
    ("java.util.Random", 22, 26, 2, "Java's (int) (Math.random() * {d}), Random.nextDouble() * {d}"),
    ("java.util.Random", 24, 24, 1, "Java's Random.nextFloat() * {d}, drand48() * {d}"),
    ("MSVC", 16, 15, 1, "rand() * {d} / (RAND_MAX + 1) of the MSVC runtime"),
    ("the C standard's", 16, 15, 1, "rand() * {d} / (RAND_MAX + 1) of the C standard's sample rand()"),
    ("Borland", 16, 15, 1, "rand() * {d} / (RAND_MAX + 1) of Borland C"),
    ("Delphi", 0, 32, 1, "Delphi's Random({d})"),
    ("Numerical Recipes", 0, 32, 1, "ranqd1() / 2^32 * {d}"),
    ("Visual Basic", 0, 24, 1, "Visual Basic's Int(Rnd * {d})"),
    ("RANDU", 0, 31, 1, "RANDU / 2^31 * {d}"),
    ("MINSTD (Park-Miller 1988", 0, 31, 1, "minstd_rand0() / 2^31 * {d}"),
    ("MINSTD (Park-Miller 1993", 0, 31, 1, "minstd_rand() / 2^31 * {d}"),
)
SCALED_SLACK = 8
SCALED_TRIES = 32
SEARCH_TRIES = 8
SCALED_MAX = 32  # the largest lattice searched: LLL's time grows fast (0.3 s at 28; Java's d3 would need 39)


def _lattice_rank(M: int, faces: int) -> int:
    return int(np.ceil(np.log2(M) / np.log2(faces))) + SCALED_SLACK


def _scaled_state(found: Congruential, t: np.ndarray, tries: int) -> int | None:
    """The state (modulo the values' modulus) at the first of the throws t (0..faces-1, at least found.needs) whose
    throws they are, or None: the lattice on `tries` windows of t in turn, each candidate checked on all of t."""
    lcg, s, w, d = found.lcg, found.shift, found.width, found.faces
    M = lcg.modulus(s, w)
    n = _lattice_rank(M, d)
    a, c = lcg.a % M, lcg.c % M
    A, C = [1], [0]  # x_i = A_i x_0 + C_i (mod M)
    for _ in range(n - 1):
        A.append(A[-1] * a % M)
        C.append((C[-1] * a + c) % M)
    width = (-(-M // d) + (1 << s)) // 2  # about half an interval: the middle of each
    a_inv = pow(a, -1, M)
    for j in range(tries):
        k = [-(-int(ti) * (1 << w) // d) << s for ti in t[j:j + n]]  # the lowest state of each throw's interval
        b = [(A[i] * k[0] + C[i] - k[i]) % M for i in range(n)]  # u_i = A_i u_0 + b_i (mod M)
        v = _babai(*_reduced(a, M, n), [width - b[i] for i in range(n)])
        x = (k[0] + v[0] + b[0]) % M
        for _ in range(j):  # back to the first throw: x_{t-1} = a^-1 (x_t - c)
            x = (x - c) * a_inv % M
        if (found.outputs([x], len(t))[0].astype(np.int64) == t + found.low).all():
            return x
    return None


def _idiom(found: Congruential) -> str:
    """The program's idiom behind a scaled die (SCALED)."""
    for name, shift, width, steps, idiom in SCALED:
        if found.name.startswith(name) and (shift, width, steps) == (found.shift, found.width, found.steps):
            return f"{found.name}: {idiom.format(d=found.faces)}"
    return found.name


def _ordinal(k: int) -> str:
    return {2: "second", 3: "third", 4: "fourth"}.get(k, f"{k}th")


def _dot(x: list[int], y: list[int]) -> int:
    return sum(p * q for p, q in zip(x, y))


def _lll(B: list[list[int]]) -> tuple[list[list[int]], list[int], list[list[int]]]:
    """An LLL-reduced basis (delta = 3/4) of the lattice spanned by the independent rows of B, in integers only (the
    integral LLL of Cohen, A Course in Computational Algebraic Number Theory, algorithm 2.6.7: every division is
    exact, so no fraction is ever formed), with its Gram-Schmidt data: d[i] the Gram determinant of the first i rows
    and lam[k][j] = d[j + 1] mu[k][j]."""
    B = [row[:] for row in B]
    n = len(B)
    d = [1] + [0] * n  # d[i + 1]: the Gram determinant of the first i + 1 rows
    lam = [[0] * n for _ in range(n)]  # lam[k][j] = d[j + 1] mu[k][j]

    def gram(k: int) -> None:
        for j in range(k + 1):
            u = _dot(B[k], B[j])
            for i in range(j):
                u = (d[i + 1] * u - lam[k][i] * lam[j][i]) // d[i]
            if j < k:
                lam[k][j] = u
            else:
                d[k + 1] = u

    def reduce(k: int, l: int) -> None:
        if 2 * abs(lam[k][l]) > d[l + 1]:
            q = (2 * lam[k][l] + d[l + 1]) // (2 * d[l + 1])  # the nearest integer to mu[k][l]
            B[k] = [x - q * y for x, y in zip(B[k], B[l])]
            lam[k][l] -= q * d[l + 1]
            for i in range(l):
                lam[k][i] -= q * lam[l][i]

    def swap(k: int, k_max: int) -> None:
        B[k], B[k - 1] = B[k - 1], B[k]
        for j in range(k - 1):
            lam[k][j], lam[k - 1][j] = lam[k - 1][j], lam[k][j]
        la = lam[k][k - 1]
        b = (d[k - 1] * d[k + 1] + la * la) // d[k]
        for i in range(k + 1, k_max + 1):
            t = lam[i][k]
            lam[i][k] = (d[k + 1] * lam[i][k - 1] - la * t) // d[k]
            lam[i][k - 1] = (b * t + la * lam[i][k]) // d[k + 1]
        d[k] = b

    d[1] = _dot(B[0], B[0])
    k, k_max = 1, 0
    while k < n:
        if k > k_max:
            k_max = k
            gram(k)
        reduce(k, k - 1)
        if 4 * d[k + 1] * d[k - 1] < 3 * d[k] ** 2 - 4 * lam[k][k - 1] ** 2:  # Lovasz's condition fails
            swap(k, k_max)
            k = max(1, k - 1)
        else:
            for l in range(k - 2, -1, -1):
                reduce(k, l)
            k += 1
    return B, d, lam


@functools.lru_cache(maxsize=256)
def _reduced(a: int, M: int, n: int) -> tuple[list[list[int]], list[int], list[list[int]]]:
    """The reduced basis of {y : y_i = a^i y_0 (mod M)} (n coordinates) and its Gram-Schmidt data: they depend on the
    generator and the offset only, so each is reduced once."""
    return _lll([[pow(a, i, M) for i in range(n)]] + [[M if j == i else 0 for j in range(n)] for i in range(1, n)])


def _babai(B: list[list[int]], d: list[int], lam: list[list[int]], t: list[int]) -> list[int]:
    """The lattice point Babai's nearest-plane method finds near t: t size-reduced against the basis, in integers
    (t's own lam row, d[j] <t, b*_j>, is integral for an integral t, as the basis rows' are)."""
    n = len(B)
    lt = [0] * n
    for j in range(n):
        u = _dot(t, B[j])
        for i in range(j):
            u = (d[i + 1] * u - lt[i] * lam[j][i]) // d[i]
        lt[j] = u
    v = [0] * n
    for i in range(n - 1, -1, -1):
        q = (2 * lt[i] + d[i + 1]) // (2 * d[i + 1])  # the nearest integer to t's coordinate along b*_i
        if q:
            lt[i] -= q * d[i + 1]
            for j in range(i):
                lt[j] -= q * lam[i][j]
            v = [x + q * y for x, y in zip(v, B[i])]
    return v


def _twos(faces: int) -> int:
    """v of faces = 2^v q with q odd: the bits of a value modulo faces that are bits of the state."""
    return (faces & -faces).bit_length() - 1


def _throws_needed(shift: int, width: int, faces: int) -> int:
    """Throws a die's recovery reads: 4 more than the low bits need (a few candidates left there are told apart by
    the faces), and 8 more than the bits above them need from the faces' odd part."""
    v = _twos(faces)
    q = faces >> v
    return max(-(-(shift + v) // v) + 4, int(np.ceil((width - v) / np.log2(q))) + 8 if q > 1 else 0)


def _survivors(lcg: Lcg, x: np.ndarray, throws: np.ndarray, shift: int, width: int, faces: int,
               known: int = 0) -> np.ndarray:
    """The states of x (modulo 2^(shift + width), at the first throw) whose (bits [shift, shift + width)) mod faces
    are the throws (the first `known` of them hold already): every candidate is stepped, the ones that miss are
    dropped, and the survivors are stepped back to the first throw (a is odd, so each step is invertible)."""
    m = 1 << (shift + width)
    t = np.uint32 if m <= 1 << 32 else np.uint64  # half the memory traffic
    f = np.uint32 if width <= 32 else np.uint64  # a remainder of 32-bit fields is several times faster
    s, mask, d = t(shift), t((1 << width) - 1), f(faces)
    x, steps = x.astype(t), 0
    for i, o in enumerate(throws.tolist()):
        if i:
            x, steps = _step(lcg, x, m), steps + 1
        if i >= known:
            x = x[((x >> s) & mask).astype(f, copy=False) % d == f(o)]
            if not len(x):
                break
    x, a_inv, minus_c = x.astype(np.uint64), np.uint64(pow(lcg.a, -1, m)), np.uint64(-lcg.c % m)
    for _ in range(steps):  # x_{t-1} = a^-1 (x_t - c), wrapping modulo 2^64 as _step does
        x = ((x + minus_c) * a_inv) & np.uint64(m - 1)
    return x


def _low_states(lcg: Lcg, shift: int, v: int, throws: np.ndarray) -> np.ndarray:
    """The states modulo 2^(shift + v) whose bits [shift, shift + v) are the throws' lowest v bits."""
    x = np.uint64((int(throws[0]) & ((1 << v) - 1)) << shift) | np.arange(1 << shift, dtype=np.uint64)
    return _survivors(lcg, x, throws & ((1 << v) - 1), shift, v, 1 << v)


def _lows_hold(lcg: Lcg, shift: int, v: int, lows: np.ndarray, throws: np.ndarray) -> np.ndarray:
    """The low states that give the lowest v bits of all the throws (CHECK or so) with at most MAX_MISS misses:
    before the bits above are searched, so that a chance fit of a few throws costs nothing more."""
    for n, misses in ((64, 2), (len(throws), MAX_MISS)):  # a few throws first: most chance fits end there
        if not len(lows):
            break
        bits = outputs_from(lcg, shift, v, lows.tolist(), min(n, len(throws))).astype(np.int64)
        lows = lows[(bits != (throws[:n] & ((1 << v) - 1))).sum(axis=1) <= misses]
    return lows


def _high_states(lcg: Lcg, shift: int, width: int, faces: int, lows: np.ndarray, throws: np.ndarray) -> np.ndarray:
    """The states modulo 2^(shift + width) over the candidates `lows` for their low bits whose (bits [shift,
    shift + width)) mod faces are the throws; none when too many low candidates are left (too few throws).

    With faces = 2^v q, the first throw's field is low + 2^v H (low: its v bits from the low state, H: the bits
    above), so H = (throw - low) / 2^v (mod q): only every q-th H is stepped."""
    if faces == 1 << width:  # the low bits are the whole throw
        return lows
    if not 0 < len(lows) <= 4:
        return lows[:0]
    v = _twos(faces)
    q, top = faces >> v, 1 << (width - v)
    found = [lows[:0]]
    for low in lows.tolist():
        first = (int(throws[0]) - ((low >> shift) & ((1 << v) - 1))) * pow(1 << v, -1, q) % q if q > 1 else 0
        for h in range(first, top, q * CHUNK):
            high = np.arange(h, min(top, h + q * CHUNK), q, dtype=np.uint64) << np.uint64(shift + v)
            found.append(_survivors(lcg, high | np.uint64(low), throws, shift, width, faces, known=1))
    return np.concatenate(found)


def _cycle(v: np.ndarray) -> bool:
    """Whether v repeats with a period of at most MAX_CYCLE."""
    return any(np.array_equal(v[p:], v[:-p]) for p in range(1, min(MAX_CYCLE, len(v) // 2) + 1))


def _find_throws(values: np.ndarray, v: np.ndarray) -> Congruential | None:
    """The first (generator, offset, width) of CATALOGUE whose states, their bits modulo d plus lo, give the
    block's throws, when its values are the complete alphabet lo..lo + d - 1 of an even d <= FACES_MAX."""
    lo, faces = int(v.min()), int(v.max() - v.min()) + 1
    span, twos = CHECK + 100, _twos(faces)
    if faces < 2 or faces > FACES_MAX or faces % 2 or len(np.unique(v)) != faces or _cycle(v[:span]):
        return None
    throws = v[:TRIES * span] - lo
    for lcg in (g for g in CATALOGUE if g.power_of_two):
        for shift in range(min(LOW_BITS, lcg.bits - twos) + 1):
            widths = [twos] if faces == 1 << twos else [*range(twos + 1, twos + HIGH_BITS + 1), *(
                w for w in (lcg.bits - shift, lcg.bits - shift - 1) if HIGH_BITS < w - twos <= DEEP_BITS)]
            for start in range(0, len(throws) - span + 1, span):
                n_low = _throws_needed(shift, twos, 2 ** twos)  # what the low bits alone need
                lows = _low_states(lcg, shift, twos, throws[start:start + n_low])
                lows = _lows_hold(lcg, shift, twos, lows, throws[start:start + span])
                if not len(lows):
                    continue
                for width in (w for w in widths if shift + w <= lcg.bits and shift + w >= MIN_STATE_BITS):
                    found = Congruential(lcg.name, lcg.a, lcg.c, lcg.m, shift, width, 0, 0, faces=faces, low=lo)
                    x = _high_states(lcg, shift, width, faces, lows, throws[start:start + found.needs])
                    if len(x) != 1:
                        continue
                    predicted = found.outputs([int(x[0])], found.needs + CHECK)[0, found.needs:].astype(np.int64)
                    if int((predicted != v[start + found.needs:start + found.needs + CHECK]).sum()) <= MAX_MISS:
                        return _counted(found, values, start, int(x[0]))
                break  # low bits that fit the throws: the next offset if no width fits the rest
    return None


def _find_scaled(values: np.ndarray, v: np.ndarray) -> Congruential | None:
    """The first idiom of SCALED whose generator's recovered state gives the block's throws, when its values are
    the complete alphabet lo..lo + d - 1 of 3 <= d <= FACES_MAX (and d tells enough bits a throw for a lattice of at
    most SCALED_MAX throws)."""
    lo, faces = int(v.min()), int(v.max() - v.min()) + 1
    span = CHECK + 100
    if faces < 3 or faces > FACES_MAX or len(np.unique(v)) != faces or len(v) < span or _cycle(v[:span]):
        return None
    for name, shift, width, steps, _ in SCALED:
        lcg = next(g for g in CATALOGUE if g.name.startswith(name))
        found = Congruential(lcg.name, lcg.a, lcg.c, lcg.m, shift, width, 0, 0, faces=faces, low=lo, scaled=True,
                             steps=steps)
        if _lattice_rank(lcg.modulus(shift, width), faces) > SCALED_MAX:
            continue
        x = found.recover(v[:found.needs], SEARCH_TRIES)
        if x is None:
            continue
        predicted = found.outputs([x], found.needs + CHECK)[0, found.needs:].astype(np.int64)
        if int((predicted != v[found.needs:found.needs + CHECK]).sum()) <= MAX_MISS:
            return _counted(found, values, 0, x)
    return None


def _offsets(lcg: Lcg, width: int) -> range:
    """Bit offsets at which `width` bits of a state can sit."""
    return range(lcg.bits - width + 1) if lcg.bits >= width else range(0)


LAYOUTS = ((1, False), (2, False), (2, True), (4, False), (4, True))  # (values per state, high half first)


def find_congruential(values: np.ndarray) -> Congruential | None:
    """The first generator of CATALOGUE (at the first bit offset) whose recovered state predicts the block, else an
    LCG whose constants the values give (seqlib.uncatalogued), or None (see the module docstring). The values are taken one per state, or as the 16-bit halves (quarters) of 32-bit
    (64-bit) outputs in either order, as a dump of wider outputs reads (LAYOUTS). Recovers from the block's first
    4 TRIES (CHECK + 100) values at most; a generator found there is counted over up to COUNT_CHUNKS chunks of CHECK
    outputs spread over the whole block."""
    from .uncatalogued import find_uncatalogued  # it builds on this module

    values = np.asarray(values) if not isinstance(values, np.ndarray) else values
    if values.ndim != 1 or values.dtype.kind not in "iu":
        raise DataError(f"an LCG search needs a 1-D array of integer values, got dtype {values.dtype} with shape "
                        f"{values.shape}; pass the uint16 stream, e.g. seqlib.data.open_u16(path)")
    span = CHECK + 100
    v = np.asarray(values[:4 * TRIES * span], np.int64)
    if len(v) < span:
        return None
    if v.min() < 0 or v.max() > 0xFFFF:
        raise DataError(f"values must lie in 0..65535, got {v.min()}..{v.max()}; pass the uint16 stream")
    width = int(v.max()).bit_length()
    if width < MIN_WIDTH or len(np.unique(v[:span])) < span // 4:  # too few bits or distinct values for 12+ bits of a
        return _find_throws(values, v) or _find_scaled(values, v)  # state (RANDU's 0 'predicts' zeros): perhaps dice
    for stride, high_first in LAYOUTS:
        if stride > 1 and width < 16:
            continue
        for phase in range(stride):
            words = to_words(v[phase:], stride, high_first)[:TRIES * span]
            bits = width if stride == 1 else 16 * stride
            found = _search_words(words, bits) or find_uncatalogued(values[phase:], bits, stride, high_first)
            if found is not None:
                lcg, shift, start, x = found
                return _counted(Congruential(lcg.name, lcg.a, lcg.c, lcg.m, shift, 16 * stride if stride > 1 else width,
                                             0, 0, stride, high_first), values, phase + start * stride, x)
    return _find_throws(values, v) or _find_scaled(values, v)


def _search_words(words: np.ndarray, width: int) -> tuple[Lcg, int, int, int] | None:
    """The first (generator, offset) whose state recovered at one of TRIES places predicts the next CHECK words with
    at most MAX_MISS misses, with that place (a word index) and the state there."""
    span = CHECK + 100
    for lcg in CATALOGUE:
        for shift in _offsets(lcg, width):
            need = _outputs_needed(lcg, shift, width)
            for start in range(0, len(words) - span + 1, span):
                x = recover(lcg, shift, width, words[start:start + need])
                if x is None:
                    continue
                predicted = outputs_from(lcg, shift, width, [x], need + CHECK)[0, need:]
                if int((predicted != words[start + need:start + need + CHECK]).sum()) <= MAX_MISS:
                    return lcg, shift, start, x
                break  # a state that fits its first words and then fails: the next offset
    return None


def _counted(found: Congruential, values: np.ndarray, start: int, x: int) -> Congruential:
    """found with its misses counted over up to COUNT_CHUNKS chunks of CHECK outputs evenly spread over the block
    after the recovery's values (the whole of it when it is short), each predicted from the state x recovered at the
    value index `start` (jumped ahead).

    Misses as fit_counts counts them, so eps is P(wrong | the state fits so far)."""
    k = found.stride
    first = (len(values) - start) // k - found.needs  # whole outputs after the recovery's
    n = max(1, min(COUNT_CHUNKS, first // CHECK))
    chunk = min(CHECK, first)
    offsets = found.needs + np.arange(n) * (first // n)  # in outputs from `start`
    states = [found.jump(x, int(o)) for o in offsets]
    with sparse_reads(values):
        truth = np.stack([np.asarray(values[start + o * k:start + (o + chunk) * k], np.int64) for o in offsets])
    wrong = to_values(found.outputs(states, chunk), k, found.high_first) != truth
    fits = ~wrong[:, :found.look].any(axis=1)  # as the predictor, which jumps only where the first look values fit
    n_check, misses = fit_counts(wrong[fits], found.look)
    return dataclasses.replace(found, n_check=n_check, misses=misses)


def fit_counts(wrong: np.ndarray, look: int) -> tuple[int, int]:
    """(values counted, misses among them) of a found generator's predictions from states that fit where each chunk
    starts, wrong (chunks, values) telling which were wrong: a value counts when no value of the look before it in
    its chunk was wrong, as a predictor uses a state only where it fits the values before. Values replaced here and
    there count as misses (and the values after one count again once look of them fit); a stream reseeded in the
    chunk counts one miss (after the reseed no value fits), not every value after it."""
    wrong = np.atleast_2d(wrong)
    at = np.arange(wrong.shape[1])
    last_wrong = np.maximum.accumulate(np.where(wrong, at, -1 - look), axis=1)  # at or before each value
    before = np.concatenate([np.full((len(wrong), 1), -1 - look), last_wrong[:, :-1]], axis=1)
    counts = at - before > look  # no wrong value among the look before it
    return int(counts.sum()), int((wrong & counts).sum())
