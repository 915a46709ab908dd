"""Scrambled xorshift-family generators: the whole state of xoshiro, xoroshiro, xorshift+ and xorshift* from the
outputs a program wrote, or from a die it threw with them (Marsaglia's xorshift too).

These generators step a state of 32 to 1,024 bits by a map that is linear over GF(2), then scramble one or two state
words into each output: with "+" (out = a + b) only bit 0 of an output stays linear, and with "*" or "**"
(out = rotl(w m1, r) m2, m1 and m2 odd) none does but bit 0 where r = 0. The GF(2) scan predicts that bit 0; the
other bits of each output stay unpredicted there. Yet either kind of output fixes the state:

- bit 0: of a + b it is bit 0 of a ^ b, of w m1 (m1 odd) bit 0 of w: a known linear form of the state at the first
  output. That bit's linear complexity is the state's size n, so n consecutive outputs give n independent equations,
  which Gaussian elimination solves. Only bit 0 is read: the low 16 bits of each output (`next() & 0xFFFF`) are
  enough, and so is a die `next() % d` of an even d, whose parity is the output's.
- whole outputs: a "*" or "**" output written whole is undone to w (the odd factors are invertible modulo 2^bits,
  the rotation too), so each gives all the bits of one state word: n / bits + 1 outputs fix the state.
- the top bit: a die scaled from an unscrambled output, floor(d out / 2^bits), shows its top bit (t >= d / 2), a
  linear form for Marsaglia's xorshift32, xorshift64 and xorshift128 (whose outputs the scan predicts whole).

The state then predicts every later output, so every bit of every value. find_scrambled() reads the values in each
layout (WORDS: the low 16, 32 or 64 bits of each output, written in either byte order, from any value of the file;
DICE: a complete alphabet of an even number of faces, thrown as either die), runs Berlekamp–Massey on the bit each
layout exposes, and tries each generator (GENERATORS) whose state size is that linear complexity; it keeps the first
whose recovered state predicts the next CHECK values with at most MAX_MISS misses (a random value matches 1 in
65,536, a random throw 1 in d): a selection rule, which the verdict's held-out test then checks like any other
predictor's. On a random stream no bit passes Berlekamp–Massey, so it costs tens of milliseconds.

The "++" scrambler (xoshiro256++, Julia's default and Rust's SmallRng) is not searched: no bit of it is linear and
one output does not give a state word. Nor are outputs of which a program kept only the high bits (`next() >> 48`),
nor dice thrown with rejection or from a scrambled output's top bits.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import numpy as np

from .congruential import fit_counts
from .found import ALPHABET, Found, complete_die
from .linear import FACES as FACES_MAX, LockstepBM

CHECK, MAX_MISS = 2_000, 20  # values after a recovery that a generator must predict, and the misses it may make there
VERIFY = 16  # outputs after a recovery's that its state must predict before the predictor uses it
COUNT_MAX = 1 << 18  # values after the recovery over which a found generator's misses are counted
MAX_JUMP = 1 << 16  # values a state is stepped ahead to the next window (further: a recovery is cheaper)
MARGIN = 16  # outputs a one-bit recovery reads beyond the state's bits, against a rank deficit
NONE_FOUND = ("the values are not the outputs of a scrambled xorshift-family generator seqlib knows (xoshiro, "
              "xoroshiro, xorshift+ and xorshift*, their low 16, 32 or 64 bits in either byte order), nor a die "
              "thrown from them or from Marsaglia's xorshift (next() % d, floor(d next() / 2^bits); "
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


def _shifts(*shifts: int) -> Callable:
    # x ^= x >> k for each k in turn (k < 0: x ^= x << -k): Marsaglia's xorshift32 and xorshift64 (whose output is x
    # after the step in his code, before it here, as for xorshift128+) and the linear part of xorshift64*.
    def step(s: tuple, bits: int) -> tuple:
        x = s[0]
        for k in shifts:
            x ^= _shl(x, -k, bits) if k < 0 else _shr(x, k, bits)
        return (x,)
    return step


def _xor128(s: tuple, bits: int) -> tuple:
    # Marsaglia's xor128 (x, y, z, w) -> (y, z, w, w ^ (w >> 19) ^ t ^ (t >> 8)), t = x ^ (x << 11); output w.
    x, y, z, w = s
    t = x ^ _shl(x, 11, bits)
    return y, z, w, w ^ _shr(w, 19, bits) ^ t ^ _shr(t, 8, bits)


def _xorshift1024(s: tuple, bits: int) -> tuple:
    # Vigna's 16 words and index p, as the words in the order p, p + 1, ...: the new word replaces s[p + 1].
    s0, s1 = s[0], s[1]
    s1 ^= _shl(s1, 31, bits)
    return (s1 ^ s0 ^ _shr(s1, 11, bits) ^ _shr(s0, 30, bits),) + s[2:] + (s0,)


@dataclasses.dataclass(frozen=True)
class Generator:
    """A linear step on `words` state words of `bits` bits, and its scrambler, before the step: "+" adds the two
    words `taps`, "*" makes rotl(w m1, rot) m2 of the one word w = state[taps[0]], "=" outputs w as it is."""

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

    def observes(self, order: str) -> str | None:
        """Which linear bits of each output a layout shows: "bit0", "word" (the whole w, from a whole "*" output),
        "top" (the top bit) or None."""
        if order in ("le", "be"):  # Marsaglia's outputs are linear whole: the scan's
            return {"+": "bit0", "*": "word"}.get(self.scrambler)
        if order == "mod":  # bit 0 survives an odd factor
            return "bit0" if self.scrambler != "*" or not self.rot else None
        return "top" if self.scrambler == "=" else None

    def outputs(self, observe: str) -> int:
        """Outputs a recovery reads."""
        return self.words + 1 if observe == "word" else self.n + MARGIN

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
    Generator("xorshift64*", 64, 1, _shifts(12, -25, 27), "*", (0,), "Vigna's xorshift64*",
              m1=0x2545F4914F6CDD1D),
    Generator("xorshift64* (21, 35, 4)", 64, 1, _shifts(21, -35, 4), "*", (0,), "Numerical Recipes' Ranq1",
              m1=0x2545F4914F6CDD1D),
    Generator("xorshift1024*", 64, 16, _xorshift1024, "*", (0,), "Vigna's xorshift1024* (2014)",
              m1=0x106689D45497FDB5),
    Generator("xorshift1024*phi", 64, 16, _xorshift1024, "*", (0,), "Vigna's xorshift1024*phi",
              m1=0x9E3779B97F4A7C13),
    Generator("xoshiro128**", 32, 4, _xoshiro(9, 11), "*", (1,), VIGNA, **STAR),
    Generator("xoshiro128+", 32, 4, _xoshiro(9, 11), "+", (0, 3), f"{VIGNA}, for floating point"),
    Generator("xoroshiro64**", 32, 2, _xoroshiro(26, 9, 13), "*", (0,), VIGNA, m1=0x9E3779BB, rot=5, m2=5),
    Generator("xoroshiro64*", 32, 2, _xoroshiro(26, 9, 13), "*", (0,), VIGNA, m1=0x9E3779BB),
    Generator("xorshift32", 32, 1, _shifts(-13, 17, -5), "=", (0,), "Marsaglia's xorshift32 (13, 17, 5)"),
    Generator("xorshift64", 64, 1, _shifts(-13, 7, -17), "=", (0,), "Marsaglia's xorshift64 (13, 7, 17)"),
    Generator("xorshift128", 32, 4, _xor128, "=", (3,), "Marsaglia's xor128 (Unity's Random is an xorshift128)"),
)}

# How the values hold each output. WORDS: its low `width` bits as width / 16 values, "le" (the low 16 bits first, as
# a little-endian dump reads) or "be" (a big-endian write: each value byte-swapped). DICE: low + t for d faces (d even),
# t = out mod d ("mod": C's next() % d) or floor(d out / 2^bits) ("scaled").
WORDS = [(order, width) for width in (64, 32, 16) for order in ("le", "be")]
DICE = ("mod", "scaled")


def _swap(v: np.ndarray) -> np.ndarray:
    return ((v & np.uint64(0xFF)) << np.uint64(8)) | (v >> np.uint64(8))


def _words(values: np.ndarray, order: str, width: int) -> np.ndarray:
    """The outputs' low `width` bits (uint64) from values that start at an output's first value."""
    lanes = width // 16
    v = np.asarray(values[:len(values) // lanes * lanes]).astype(np.uint64).reshape(-1, lanes)
    if order == "be":
        v = _swap(v)[:, ::-1]
    return np.bitwise_or.reduce(v << (np.uint64(16) * np.arange(lanes, dtype=np.uint64)), axis=1)


@functools.cache
def _forms(name: str, observe: str) -> tuple[int, ...]:
    """The equations' linear forms over the state at the first output (bit j * bits + i: word j's bit i), in the
    order of Scrambled._seen's bits: per output, bit 0 of the output, every bit of w, or the output's top bit."""
    gen = GENERATORS[name]
    s = tuple(_Forms(1 << (j * gen.bits + i) for i in range(gen.bits)) for j in range(gen.words))
    forms: list[int] = []
    for _ in range(gen.outputs(observe)):
        if observe == "word":
            forms += s[gen.taps[0]]
        else:
            bit = 0 if observe == "bit0" else gen.bits - 1  # bit 0 of a + b is bit 0 of a ^ b
            forms.append(s[gen.taps[0]][bit] ^ (s[gen.taps[1]][bit] if gen.scrambler == "+" else 0))
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


def recover(name: str, observe: str, seen: np.ndarray) -> tuple | None:
    """The state before the first of the outputs that show these linear bits (Scrambled._seen: a row per output,
    gen.outputs(observe) rows), or None."""
    gen = GENERATORS[name]
    if len(seen) < gen.outputs(observe):
        return None
    x = solve(_forms(name, observe), seen[:gen.outputs(observe)].reshape(-1).tolist(), gen.n)
    if x is None:
        return None
    mask = (1 << gen.bits) - 1
    return tuple((x >> (j * gen.bits)) & mask for j in range(gen.words))


@dataclasses.dataclass
class Scrambled(Found):
    """The values are the generator's outputs as `order` holds them (WORDS: their low `width` bits, an output's first
    value at every file index that is `phase` modulo width / 16; DICE: low + a throw with `faces` faces), as
    find_scrambled() checked them."""

    generator: str  # a key of GENERATORS
    order: str
    width: int  # bits of each output the values hold (a die's: all of them)
    phase: int
    n_check: int  # values predicted after the recovery in the search
    misses: int  # of which wrong
    faces: int = 0  # a die's, else 0
    low: int = 0

    @property
    def predictor(self) -> str:
        return f"{self.generator.split(' (')[0]} state recovery"

    @property
    def _name(self) -> str:
        return self.generator

    @property
    def lanes(self) -> int:
        """Values per output."""
        return 1 if self.faces else self.width // 16

    @property
    def _observe(self) -> str:
        return GENERATORS[self.generator].observes(self.order)

    @property
    def look(self) -> int:
        """Values a recovery may read: up to lanes - 1 before the first whole output, the outputs for the state,
        VERIFY more that it must predict."""
        return self.lanes - 1 + (GENERATORS[self.generator].outputs(self._observe) + VERIFY) * self.lanes

    @property
    def deep(self) -> bool:
        """A recovery takes milliseconds (0.3 s for xorshift1024*): the predictor recovers wherever stepping ahead
        fails."""
        return False

    def _seen(self, raw: np.ndarray) -> np.ndarray:
        """The linear bits (0/1, a row per output) that values from an output's first one show."""
        if self.faces:
            t = np.asarray(raw, np.int64) - self.low
            return (t & 1 if self.order == "mod" else t >= self.faces // 2).astype(np.uint8)[:, None]
        gen, words = GENERATORS[self.generator], _words(raw, self.order, self.width)
        if self._observe == "bit0":
            return (words & np.uint64(1)).astype(np.uint8)[:, None]
        w = gen.unscramble(words)
        return ((w[:, None] >> np.arange(gen.bits, dtype=np.uint64)) & np.uint64(1)).astype(np.uint8)

    def _values(self, outs: np.ndarray) -> np.ndarray:
        """The values (int64) that the layout makes of the outputs (uint64)."""
        if self.faces:
            if self.order == "mod":
                return (outs % np.uint64(self.faces)).astype(np.int64) + self.low
            bits = GENERATORS[self.generator].bits  # d out may pass 2^64: Python's ints
            return np.array([(int(x) * self.faces) >> bits for x in outs], np.int64) + self.low
        v = (outs[:, None] >> (np.uint64(16) * np.arange(self.lanes, dtype=np.uint64))) & np.uint64(0xFFFF)
        if self.order == "be":
            v = _swap(v)[:, ::-1]
        return v.reshape(-1).astype(np.int64)

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
        used = gen.outputs(self._observe) * lanes
        t = np.asarray(raw[whole - start:whole - start + used], np.int64) - self.low
        if recover and n > look and (not self.faces or (t.min() >= 0 and t.max() < self.faces)):
            state = _recovered(self.generator, self._observe, self._seen(raw[whole - start:whole - start + used]))
            if state is not None:
                predicted = self._placed(state, whole - start, n)
                verify = slice(whole - start + used, look)
                if (predicted[verify] == raw[verify]).all():
                    return predicted, look, (whole, state)
        return np.full(n, -1, np.int64), n, last

    def _placed(self, state: tuple, offset: int, n: int) -> np.ndarray:
        """n predictions from the output that starts `offset` values into them (offset > -lanes): -1 before it."""
        outs, _ = GENERATORS[self.generator].run(state, -(-(n - offset) // self.lanes))
        values = self._values(outs)
        predicted = np.full(n, -1, np.int64)
        predicted[max(offset, 0):] = values[max(-offset, 0):max(-offset, 0) + n - max(offset, 0)]
        return predicted

    def describe(self) -> str:
        """One line for the verdict."""
        gen = GENERATORS[self.generator]
        low = f"{self.low} + " if self.low else ""
        if self.faces:
            d = self.faces
            how = f"{low}out mod {d}" if self.order == "mod" else f"{low}floor({d} out / 2^{gen.bits})"
            how += f" of the {gen.bits}-bit outputs out"
            hint = f"{gen.hint}; " + (f"a C program's next() % {d}" if self.order == "mod" else
                                      f"next() * {d} >> {gen.bits}, or next() / 2^{gen.bits} * {d}")
        else:
            if self.width == 16:
                how = f"the low 16 bits of the {gen.bits}-bit outputs"
            else:
                whole = "written whole" if self.width == gen.bits else f"their low {self.width} bits written"
                how = f"the {gen.bits}-bit outputs, {whole} as {self.lanes} 16-bit values each"
            how += ", byte-swapped (a big-endian write)" if self.order == "be" else ""
            hint = gen.hint
        kind = "an unscrambled" if gen.scrambler == "=" else "a scrambled"
        of = " of" if self.faces else ", of"  # "the outputs out of ...", "the 64-bit outputs, written whole ..., of"
        return (f"the values are {how}{of} {gen.name}, {kind} xorshift-family generator (hint: {hint}): its state is "
                f"recovered from {gen.outputs(self._observe) * self.lanes:,} values and predicts every later one "
                f"({self.n_check - self.misses:,} of the {self.n_check:,} after a recovery in the training block)")


_recovered = recover  # the module function, under a name Scrambled.window's `recover` flag does not hide

BM_OUTPUTS = 2 * max(g.n for g in GENERATORS.values()) + 64  # outputs Berlekamp–Massey reads of each candidate bit


def find_scrambled(values: np.ndarray, start: int = 0) -> Scrambled | None:
    """The first generator and layout in which the values (file index `start` on) are its outputs or its throws, or
    None (see the module docstring)."""
    head = np.asarray(values[:BM_OUTPUTS * 4 + 3], np.int64)  # 64-bit words from any of their 4 values
    layouts = [(order, width, 0, 0) for order, width in WORDS]
    die = complete_die(values, ALPHABET, BM_OUTPUTS, FACES_MAX, even=True, powers=True)
    layouts += [(order, 0, *die[1:]) for order in DICE] if die else []
    candidates = []  # (generators that read the same bit, a Scrambled of the first, the bit Berlekamp–Massey reads)
    for order, width, lo, d in layouts:
        lanes = width // 16 or 1
        groups: dict[tuple, list[str]] = {}  # "bit0" and "top" the same for all, "word" by scrambler
        for name, g in GENERATORS.items():
            observe = g.observes(order)
            if observe and (d or g.bits >= width and (observe == "bit0" or g.bits == width)):
                groups.setdefault((observe, g.bits, g.m1, g.rot, g.m2) if observe == "word" else (observe,),
                                  []).append(name)
        for names in groups.values():
            for phase in range(lanes):
                found = Scrambled(names[0], order, width or GENERATORS[names[0]].bits, phase, 0, 0, d, lo)
                bits = found._seen(head[phase:phase + BM_OUTPUTS * lanes])[:, 0]
                if len(bits) == BM_OUTPUTS:
                    candidates.append((names, found, bits))
    if not candidates:
        return None
    bm = LockstepBM(len(candidates), max_complexity=np.array([max(GENERATORS[g].n for g in c[0]) for c in candidates]))
    bm.feed(np.stack([c[2] for c in candidates]))
    for (names, first, _), L in zip(candidates, bm.L.tolist()):
        for name in names:
            if GENERATORS[name].n != L:
                continue
            width = first.width if not first.faces else GENERATORS[name].bits
            found = dataclasses.replace(first, generator=name, width=width, phase=(start + first.phase) % first.lanes)
            v = np.asarray(values[:found.look + CHECK], np.int64)
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
