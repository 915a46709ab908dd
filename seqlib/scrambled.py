"""Scrambled xorshift-family generators: the whole state of xoshiro, xoroshiro, xorshift+ and xorshift* from the
outputs a program wrote.

These generators step a state of 64 to 1,024 bits by a map that is linear over GF(2), then scramble one or two state
words into each output: with "+" (out = a + b) only bit 0 of an output stays linear, and with "*" or "**"
(out = rotl(w m1, r) m2, m1 and m2 odd) none does. The GF(2) scan predicts that bit 0; the other bits of each output
stay unpredicted there. Yet either kind of output fixes the state:

- "+": bit 0 of a + b is bit 0 of a ^ b, a known linear form of the state at the first output. That bit's linear
  complexity is the state's size n, so n consecutive outputs give n independent equations, which Gaussian
  elimination solves. Only bit 0 is read: the low 16 bits of each output (`next() & 0xFFFF`) are enough.
- "*" and "**": an output written whole is undone to w (the odd factors are invertible modulo 2^bits, the rotation
  too), so each gives all the bits of one state word: n / bits + 1 outputs fix the state.

The state then predicts every later output, so every bit of every value. find_scrambled() reads the values in each
LAYOUT (the low 16, 32 or 64 bits of each output, written in either byte order, from any value of the file), runs
Berlekamp–Massey on the bit each kind of scrambler exposes, and tries each generator (GENERATORS) whose state size is
that linear complexity; it keeps the first whose recovered state predicts the next CHECK values with at most MAX_MISS
misses (random values match 1 in 65,536 each): a selection rule, which the verdict's held-out test then checks like
any other predictor's. On a random stream no bit passes Berlekamp–Massey, so it costs a few milliseconds.

The "++" scrambler (xoshiro256++, Julia's default and Rust's SmallRng) is not searched: no bit of it is linear and
one output does not give a state word. Nor are outputs of which a program kept only the high bits (`next() >> 48`).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import numpy as np

from .congruential import fit_counts
from .found import Found
from .linear import LockstepBM

CHECK, MAX_MISS = 2_000, 20  # values after a recovery that a generator must predict, and the misses it may make there
VERIFY = 16  # outputs after a recovery's that its state must predict before the predictor uses it
COUNT_MAX = 1 << 18  # values after the recovery over which a found generator's misses are counted
MAX_JUMP = 1 << 16  # values a state is stepped ahead to the next window (further: a recovery is cheaper)
MARGIN = 16  # outputs a "+" recovery reads beyond the state's bits, against a rank deficit
NONE_FOUND = ("the values are not the outputs of a scrambled xorshift-family generator seqlib knows (xoshiro, "
              "xoroshiro, xorshift+ and xorshift*, their low 16, 32 or 64 bits in either byte order; "
              "seqlib.scrambled.GENERATORS)")


# ---------------------------------------------------------------------------------------------------------------
# A state word is an int, or (for the equations) a _Forms: bit i of the word as a linear form, a mask over the bits
# of the state at the first output. The generators' linear steps are written once, for both.

class _Forms(tuple):
    def __xor__(self, other: "_Forms") -> "_Forms":
        return _Forms(a ^ b for a, b in zip(self, other))


def _shl(x, k: int, bits: int):
    return _Forms((0,) * k + x[:-k]) if isinstance(x, _Forms) else (x << k) & ((1 << bits) - 1)


def _shr(x, k: int, bits: int):
    return _Forms(x[k:] + (0,) * k) if isinstance(x, _Forms) else x >> k


def _rotl(x, k: int, bits: int):
    return _Forms(x[-k:] + x[:-k]) if isinstance(x, _Forms) else ((x << k) | (x >> (bits - k))) & ((1 << bits) - 1)


def _xoshiro(a: int, b: int) -> Callable:
    def step(s: tuple, bits: int) -> tuple:
        s0, s1, s2, s3 = s
        t = _shl(s1, a, bits)
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        return s0, s1, s2 ^ t, _rotl(s3, b, bits)
    return step


def _xoroshiro(a: int, b: int, c: int) -> Callable:
    def step(s: tuple, bits: int) -> tuple:
        s0, s1 = s
        s1 ^= s0
        return _rotl(s0, a, bits) ^ s1 ^ _shl(s1, b, bits), _rotl(s1, c, bits)
    return step


def _xorshift128(a: int, b: int, c: int) -> Callable:
    # (s0, s1) -> (s1, x ^ s1 ^ (x >> b) ^ (s1 >> c)), x = s0 ^ (s0 << a); the output s0 + s1 is read after the
    # step in the reference code, before it here: the same outputs, the state one step earlier.
    def step(s: tuple, bits: int) -> tuple:
        s0, s1 = s
        x = s0 ^ _shl(s0, a, bits)
        return s1, x ^ s1 ^ _shr(x, b, bits) ^ _shr(s1, c, bits)
    return step


def _xorshift64(a: int, b: int, c: int) -> Callable:
    def step(s: tuple, bits: int) -> tuple:
        x = s[0]
        x ^= _shr(x, a, bits)
        x ^= _shl(x, b, bits)
        return (x ^ _shr(x, c, bits),)
    return step


def _xorshift1024(s: tuple, bits: int) -> tuple:
    # Vigna's 16 words and index p, as the words in the order p, p + 1, ...: the new word replaces s[p + 1].
    s0, s1 = s[0], s[1]
    s1 ^= _shl(s1, 31, bits)
    return (s1 ^ s0 ^ _shr(s1, 11, bits) ^ _shr(s0, 30, bits),) + s[2:] + (s0,)


@dataclasses.dataclass(frozen=True)
class Generator:
    """A linear step on `words` state words of `bits` bits, and its scrambler: "+" adds the two words `taps`, "*"
    makes rotl(w m1, rot) m2 of the one word w = state[taps[0]], before the step."""

    name: str
    bits: int
    words: int
    step: Callable
    scrambler: str
    taps: tuple[int, ...]
    hint: str
    m1: int = 1
    rot: int = 0
    m2: int = 1

    @property
    def n(self) -> int:
        """Bits of state."""
        return self.bits * self.words

    @property
    def outputs(self) -> int:
        """Outputs a recovery reads."""
        return self.n + MARGIN if self.scrambler == "+" else self.words + 1

    def scramble(self, s: tuple) -> int:
        mask = (1 << self.bits) - 1
        if self.scrambler == "+":
            return (s[self.taps[0]] + s[self.taps[1]]) & mask
        x = (s[self.taps[0]] * self.m1) & mask
        return ((_rotl(x, self.rot, self.bits) if self.rot else x) * self.m2) & mask

    def unscramble(self, out: np.ndarray) -> np.ndarray:
        """The word w behind whole "*" outputs (uint64): rotl(w m1, rot) m2 undone."""
        mask, bits = np.uint64((1 << self.bits) - 1), self.bits
        x = (out * np.uint64(pow(self.m2, -1, 1 << bits))) & mask
        if self.rot:
            x = ((x >> np.uint64(self.rot)) | (x << np.uint64(bits - self.rot))) & mask
        return (x * np.uint64(pow(self.m1, -1, 1 << bits))) & mask

    def run(self, state: tuple, n: int) -> tuple[np.ndarray, tuple]:
        """The next n outputs (uint64) from the state, and the state after them."""
        out = []
        for _ in range(n):
            out.append(self.scramble(state))
            state = self.step(state, self.bits)
        return np.array(out, np.uint64), state


VIGNA = "Blackman & Vigna's reference C"
STAR = dict(m1=5, rot=7, m2=9)
GENERATORS = {g.name: g for g in (
    Generator("xoshiro256**", 64, 4, _xoshiro(17, 45), "*", (1,), f"{VIGNA}; Lua 5.4's math.random(0)", **STAR),
    Generator("xoshiro256+", 64, 4, _xoshiro(17, 45), "+", (0, 3), f"{VIGNA}, for floating point"),
    Generator("xoroshiro128**", 64, 2, _xoroshiro(24, 16, 37), "*", (0,), VIGNA, **STAR),
    Generator("xoroshiro128+", 64, 2, _xoroshiro(24, 16, 37), "+", (0, 1), f"{VIGNA} (2018)"),
    Generator("xoroshiro128+ (2016: 55, 14, 36)", 64, 2, _xoroshiro(55, 14, 36), "+", (0, 1),
              "the first xoroshiro128+ (2016), in many libraries since"),
    Generator("xorshift128+", 64, 2, _xorshift128(23, 17, 26), "+", (0, 1),
              "the raw outputs of Firefox's and Safari's Math.random() state, and V8's before 2019"),
    Generator("xorshift128+ (23, 18, 5)", 64, 2, _xorshift128(23, 18, 5), "+", (0, 1), "Vigna's xorshift128+ (2016)"),
    Generator("xorshift64*", 64, 1, _xorshift64(12, 25, 27), "*", (0,), "Vigna's xorshift64*",
              m1=0x2545F4914F6CDD1D),
    Generator("xorshift64* (21, 35, 4)", 64, 1, _xorshift64(21, 35, 4), "*", (0,), "Numerical Recipes' Ranq1",
              m1=0x2545F4914F6CDD1D),
    Generator("xorshift1024*", 64, 16, _xorshift1024, "*", (0,), "Vigna's xorshift1024* (2014)",
              m1=0x106689D45497FDB5),
    Generator("xorshift1024*phi", 64, 16, _xorshift1024, "*", (0,), "Vigna's xorshift1024*phi",
              m1=0x9E3779B97F4A7C13),
    Generator("xoshiro128**", 32, 4, _xoshiro(9, 11), "*", (1,), VIGNA, **STAR),
    Generator("xoshiro128+", 32, 4, _xoshiro(9, 11), "+", (0, 3), f"{VIGNA}, for floating point"),
    Generator("xoroshiro64**", 32, 2, _xoroshiro(26, 9, 13), "*", (0,), VIGNA, m1=0x9E3779BB, rot=5, m2=5),
    Generator("xoroshiro64*", 32, 2, _xoroshiro(26, 9, 13), "*", (0,), VIGNA, m1=0x9E3779BB),
)}

# How the values hold each output: its low `width` bits, written as width / 16 values in a byte order ("le": the
# low 16 bits first, as a little-endian dump reads; "be": a big-endian write, each value byte-swapped).
LAYOUTS = [(order, width) for width in (64, 32, 16) for order in ("le", "be")]


def _swap(v: np.ndarray) -> np.ndarray:
    return ((v & np.uint64(0xFF)) << np.uint64(8)) | (v >> np.uint64(8))


def _words(values: np.ndarray, order: str, width: int) -> np.ndarray:
    """The outputs' low `width` bits (uint64) from values that start at an output's first value."""
    lanes = width // 16
    v = np.asarray(values[:len(values) // lanes * lanes]).astype(np.uint64).reshape(-1, lanes)
    if order == "be":
        v = _swap(v)[:, ::-1]
    return np.bitwise_or.reduce(v << (np.uint64(16) * np.arange(lanes, dtype=np.uint64)), axis=1)


def _values(words: np.ndarray, order: str, width: int) -> np.ndarray:
    """The values (int64) that the layout writes for the outputs (uint64): the inverse of _words."""
    lanes = width // 16
    v = (words[:, None] >> (np.uint64(16) * np.arange(lanes, dtype=np.uint64))) & np.uint64(0xFFFF)
    if order == "be":
        v = _swap(v)[:, ::-1]
    return v.reshape(-1).astype(np.int64)


def _observed(gen: Generator, words: np.ndarray) -> np.ndarray:
    """The linear bits the outputs show, as 0/1 per output and equation: bit 0 for "+", the whole word w for "*"."""
    if gen.scrambler == "+":
        return (words & np.uint64(1)).astype(np.uint8)[:, None]
    w = gen.unscramble(words)
    return ((w[:, None] >> np.arange(gen.bits, dtype=np.uint64)) & np.uint64(1)).astype(np.uint8)


@functools.cache
def _forms(name: str) -> tuple[int, ...]:
    """The equations' linear forms over the state at the first output (bit j * bits + i: word j's bit i), in the
    order of _observed's bits: per output, bit 0 of a ^ b for "+", every bit of w for "*"."""
    gen = GENERATORS[name]
    s = tuple(_Forms(1 << (j * gen.bits + i) for i in range(gen.bits)) for j in range(gen.words))
    forms: list[int] = []
    for _ in range(gen.outputs):
        if gen.scrambler == "+":
            forms.append(s[gen.taps[0]][0] ^ s[gen.taps[1]][0])
        else:
            forms += s[gen.taps[0]]
        s = gen.step(s, gen.bits)
    return tuple(forms)


def solve(forms: list[int] | tuple[int, ...], bits: list[int], n: int) -> int | None:
    """The n-bit x with <form, x> = bit for every equation (Gaussian elimination over GF(2)), or None where they
    contradict each other or leave x open."""
    pivots: dict[int, tuple[int, int]] = {}  # leading bit -> (form, bit), every pivot's column clear in the others
    for form, bit in zip(forms, bits):
        for lead, (f, b) in pivots.items():
            if form >> lead & 1:
                form, bit = form ^ f, bit ^ b
        if form == 0:
            if bit:
                return None
            continue
        lead = form.bit_length() - 1
        for other, (f, b) in list(pivots.items()):
            if f >> lead & 1:
                pivots[other] = (f ^ form, b ^ bit)
        pivots[lead] = (form, bit)
    if len(pivots) < n:
        return None
    return sum(b << lead for lead, (f, b) in pivots.items())


def recover(name: str, words: np.ndarray) -> tuple | None:
    """The state before the first of these outputs (their low bits, uint64: gen.outputs of them), or None."""
    gen = GENERATORS[name]
    if len(words) < gen.outputs:
        return None
    x = solve(_forms(name), _observed(gen, words[:gen.outputs]).reshape(-1).tolist(), gen.n)
    if x is None:
        return None
    mask = (1 << gen.bits) - 1
    return tuple((x >> (j * gen.bits)) & mask for j in range(gen.words))


@dataclasses.dataclass
class Scrambled(Found):
    """The values are the low `width` bits of the generator's outputs, written in byte order `order` from every file
    index that is `phase` modulo width / 16, as find_scrambled() checked them."""

    generator: str  # a key of GENERATORS
    order: str
    width: int
    phase: int
    n_check: int  # values predicted after the recovery in the search
    misses: int  # of which wrong

    @property
    def predictor(self) -> str:
        return f"{self.generator.split(' (')[0]} state recovery"

    @property
    def _name(self) -> str:
        return self.generator

    @property
    def lanes(self) -> int:
        """Values per output."""
        return self.width // 16

    @property
    def look(self) -> int:
        """Values a recovery may read: up to lanes - 1 before the first whole output, the outputs for the state,
        VERIFY more that it must predict."""
        return self.lanes - 1 + (GENERATORS[self.generator].outputs + VERIFY) * self.lanes

    @property
    def deep(self) -> bool:
        """A recovery takes milliseconds: the predictor recovers wherever stepping ahead fails."""
        return False

    def window(self, raw: np.ndarray, start: int, last: tuple[int, tuple] | None, recover: bool = True
               ) -> tuple[np.ndarray, int, tuple[int, tuple] | None]:
        """The values the generator predicts for a window `raw` of the file from index `start` on, the offset from
        which they may be used (after the values that chose the state), and (file index of an output's first value,
        the state before that output) to step from at the next window; (-1s, len(raw), last) where no state fits.

        The state is `last` stepped ahead when it predicts the window's first `look` values, else (with recover) the
        one recovered from the window's first whole outputs, once it predicts the values after them up to `look`."""
        gen, n, look, lanes = GENERATORS[self.generator], len(raw), self.look, self.lanes
        first = start - (start - self.phase) % lanes  # file index of the output that holds raw[0]
        if last is not None and first >= last[0] and first - last[0] <= MAX_JUMP:
            state = last[1]
            for _ in range((first - last[0]) // lanes):
                state = gen.step(state, gen.bits)
            predicted = self._placed(state, first - start, n)
            if (predicted[:look] == raw[:look]).all():
                return predicted, look, (first, state)
        whole = first if first == start else first + lanes  # the first output whose values all lie in the window
        used = gen.outputs * lanes
        if recover and n > look:
            state = _recovered(self.generator, _words(raw[whole - start:whole - start + used], self.order,
                                                      self.width))
            if state is not None:
                predicted = self._placed(state, whole - start, n)
                verify = slice(whole - start + used, look)
                if (predicted[verify] == raw[verify]).all():
                    return predicted, look, (whole, state)
        return np.full(n, -1, np.int64), n, last

    def _placed(self, state: tuple, offset: int, n: int) -> np.ndarray:
        """n predictions from the output that starts `offset` values into them (offset > -lanes): -1 before it."""
        lanes = self.lanes
        words, _ = GENERATORS[self.generator].run(state, -(-(n - offset) // lanes))
        values = _values(words, self.order, self.width)
        predicted = np.full(n, -1, np.int64)
        predicted[max(offset, 0):] = values[max(-offset, 0):max(-offset, 0) + n - max(offset, 0)]
        return predicted

    def describe(self) -> str:
        """One line for the verdict."""
        gen = GENERATORS[self.generator]
        if self.width == 16:
            how = f"the low 16 bits of the {gen.bits}-bit outputs"
        else:
            whole = "written whole" if self.width == gen.bits else f"their low {self.width} bits written"
            how = f"the {gen.bits}-bit outputs, {whole} as {self.lanes} 16-bit values each"
        how += ", byte-swapped (a big-endian write)" if self.order == "be" else ""
        return (f"the values are {how}, of {gen.name}, a scrambled xorshift-family generator (hint: {gen.hint}): its "
                f"state is recovered from {gen.outputs * self.lanes:,} values and predicts every later one "
                f"({self.n_check - self.misses:,} of the {self.n_check:,} after a recovery in the training block)")


_recovered = recover  # the module function, under a name Scrambled.window's `recover` flag does not hide

BM_OUTPUTS = 2 * max(g.n for g in GENERATORS.values()) + 64  # outputs Berlekamp–Massey reads of each candidate bit


def find_scrambled(values: np.ndarray, start: int = 0) -> Scrambled | None:
    """The first generator and layout in which the values (file index `start` on) are a scrambled generator's
    outputs, or None (see the module docstring)."""
    candidates = []  # (generator names, layout, phase, the bit Berlekamp-Massey reads)
    for order, width in LAYOUTS:
        for phase in range(width // 16):
            words = _words(np.asarray(values[phase:phase + BM_OUTPUTS * width // 16]), order, width)
            if len(words) < BM_OUTPUTS:
                continue
            by_bit: dict[tuple, list[str]] = {}  # generators that read the same bit: "+" all, "*" by scrambler
            for name, g in GENERATORS.items():
                if g.bits >= width and (g.scrambler == "+" or g.bits == width):
                    key = ("+",) if g.scrambler == "+" else (g.bits, g.m1, g.rot, g.m2)
                    by_bit.setdefault(key, []).append(name)
            for names in by_bit.values():
                candidates.append((names, order, width, phase, _observed(GENERATORS[names[0]], words)[:, 0]))
    if not candidates:
        return None
    caps = np.array([max(GENERATORS[g].n for g in c[0]) for c in candidates])
    bm = LockstepBM(len(candidates), max_complexity=caps)
    bm.feed(np.stack([c[4] for c in candidates]))
    for (names, order, width, phase, _), L in zip(candidates, bm.L.tolist()):
        for name in names:
            if GENERATORS[name].n != L:
                continue
            found = Scrambled(name, order, width, (start + phase) % (width // 16), 0, 0)
            span = found.look + CHECK
            v = np.asarray(values[:span], np.int64)
            predicted, usable, _ = found.window(v, start, None)
            if usable < len(v) and int((predicted[usable:] != v[usable:]).sum()) <= MAX_MISS:
                return _counted(found, values, start)
    return None


def _counted(found: Scrambled, values: np.ndarray, start: int) -> Scrambled:
    """found with its misses counted over up to COUNT_MAX values after its recovery at the values' start (as
    fit_counts counts them: eps is P(wrong | the state fits so far))."""
    truth = np.asarray(values[:found.look + COUNT_MAX], np.int64)
    predicted, usable, _ = found.window(truth, start, None)
    n_check, misses = fit_counts(predicted[usable:] != truth[usable:], found.look)
    return dataclasses.replace(found, n_check=n_check, misses=misses)
