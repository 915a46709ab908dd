"""V8's Math.random() behind a die: the whole xorshift128+ state from the top bits of y that each throw fixes.

V8 (Chrome, Node.js) makes Math.random() from xorshift128+: each step maps the state (s0, s1) to (s1, x) with
x = s0 ^ (s0 << 23), x ^= x >> 17, x ^= s1 ^ (s1 >> 26), and the double is the top 52 bits y of the new s0 over 2^52.
It refills a cache of BLOCK such values at a time and hands them out last first. Every bit of s0 is linear over
GF(2) in the 128 bits of the state, so the GF(2) scan predicts the planes it sees: all 16 of
Math.floor(Math.random() * 65536), each of degree 64 x 128 = 8,192 in the handed-out order. A die
t = Math.floor(Math.random() * d) keeps few of them whole: for an even d, t >= d / 2 exactly where y's top bit is
1; for an odd d none (the middle face straddles 1/2). Yet each throw fixes the top bits that its interval of y,
[t 2^52 / d, (t + 1) 2^52 / d), shares (known_bits: 1 or 2 for a d6, 1 for two faces of a d3 in three), each a known
linear form of the state at the refill's start, so BLOCKS refills give about 170 equations for a d3 (430 for a d6)
in its 128 unknown bits, which Gaussian elimination solves; the state then predicts every later throw.

find_v8() tries every place of the cache's blocks in the file (BLOCK of them) and keeps the first whose state
predicts the next CHECK throws with at most MAX_MISS misses (random throws match 1 in d each): a selection rule, which
the verdict's held-out test then checks like any other predictor's. An even die is searched only where the GF(2) scan
found a plane of degree 8,192, so other streams pay nothing; an odd die, which has no linear plane, always (0.3 s
where V8 did not throw it).

find_xorshift() is the search for the xorshift family that training and evaluation run: find_v8(), then the outputs
of the scrambled generators (xoshiro, xoroshiro, xorshift+ and xorshift*: seqlib.scrambled).
"""
from __future__ import annotations

import dataclasses
import functools

import numpy as np

from .congruential import fit_counts
from .found import ALPHABET, Found, complete_die
from .linear import FACES as FACES_MAX
from .scrambled import NONE_FOUND as SCRAMBLED_NONE, Scrambled, find_scrambled, solve

XORSHIFT = "xorshift128+ state recovery"
BLOCK = 64  # V8's cache of values, handed out last first
DEGREE = BLOCK * 128  # the planes' linear complexity in the handed-out order
BLOCKS = 4  # blocks of throws a recovery reads: 256 throws, about 170 equations (a d3's) for the 128 unknown bits
PREFIX = 12  # top bits of y that a throw's equations read at most (a d1024's throw fixes 10)
CHECK, MAX_MISS = 2_000, 20  # throws after a recovery that a phase must predict, and the misses it may make there
VERIFY = BLOCK  # throws after a recovery's blocks that its state must predict before the predictor uses it
COUNT_MAX = 1 << 18  # throws after the recovery over which a found generator's misses are counted
MAX_JUMP = 1 << 14  # throws a state is stepped ahead to the next window (further: a recovery is cheaper)
TRIES = 2  # places in the block where the search recovers
MASK = (1 << 64) - 1
NONE_FOUND = ("the values are not a die's throws of V8's Math.random() (xorshift128+, a cache of 64 handed out last "
              "first, floor(d y / 2^52)), and " + SCRAMBLED_NONE[len("the values are "):])


def step(s0: int, s1: int) -> tuple[int, int]:
    """One step of V8's xorshift128+: the next (state0, state1)."""
    x = s0 ^ ((s0 << 23) & MASK)
    x ^= x >> 17
    return s1, x ^ s1 ^ (s1 >> 26)


def _block(state: tuple[int, int]) -> tuple[list[int], tuple[int, int]]:
    """The BLOCK values y (top 52 bits of state0) of one cache refill, in the order handed out, and the state
    after it."""
    s0, s1 = state
    ys = []
    for _ in range(BLOCK):
        s0, s1 = step(s0, s1)
        ys.append(s0 >> 12)
    return ys[::-1], (s0, s1)


@functools.cache
def _forms() -> tuple[tuple[int, ...], ...]:
    """The top PREFIX bits of state0 (bit 63 first) after each of BLOCKS * BLOCK steps as linear forms (128-bit
    masks: bits 0-63 for state0's bits at the start, 64-127 for state1's), by the same steps on masks."""
    s0, s1 = [1 << i for i in range(64)], [1 << (64 + i) for i in range(64)]
    forms = []
    for _ in range(BLOCKS * BLOCK):
        x = [s0[i] ^ (s0[i - 23] if i >= 23 else 0) for i in range(64)]  # x ^= x << 23
        x = [x[i] ^ (x[i + 17] if i + 17 < 64 else 0) for i in range(64)]  # x ^= x >> 17
        s0, s1 = s1, [x[i] ^ s1[i] ^ (s1[i + 26] if i + 26 < 64 else 0) for i in range(64)]
        forms.append(tuple(s0[63 - j] for j in range(PREFIX)))
    return tuple(forms)


def known_bits(faces: int, t: int) -> tuple[int, int]:
    """(k, top) where every 52-bit y with floor(faces y / 2^52) = t has the same top k bits, `top` (k <= PREFIX):
    the bits that y's interval [ceil(t 2^52 / d), ceil((t + 1) 2^52 / d)) shares. An even die's every throw has
    k >= 1 (t >= d / 2 where y's top bit is 1); an odd die's middle throw has k = 0."""
    lo, hi = -(-(t << 52) // faces), -(-((t + 1) << 52) // faces) - 1
    k = min(52 - (lo ^ hi).bit_length(), PREFIX)
    return k, lo >> (52 - k)


def recover(faces: int, throws: np.ndarray) -> tuple[int, int] | None:
    """The state at the start of a cache refill whose throws t (0..faces-1, BLOCKS * BLOCK of them from the first
    one the refill hands out) these are, from the top bits of y that each throw fixes (known_bits), or None."""
    t = np.asarray(throws[:BLOCKS * BLOCK], np.int64)
    if len(t) < BLOCKS * BLOCK:
        return None
    forms, bits = [], []
    for step_forms, throw in zip(_forms(), t.reshape(BLOCKS, BLOCK)[:, ::-1].reshape(-1).tolist()):  # step order
        k, top = known_bits(faces, throw)
        forms += step_forms[:k]
        bits += [top >> (k - 1 - j) & 1 for j in range(k)]
    x = solve(forms, bits, 128)
    return None if x is None else (x & MASK, x >> 64)


@dataclasses.dataclass
class Xorshift(Found):
    """The values are low + floor(faces y / 2^52) of V8's Math.random() values y, a cache refill starting at every
    file index that is `phase` modulo BLOCK, as find_xorshift() checked them."""

    faces: int
    low: int
    phase: int
    n_check: int  # throws predicted after the recovery in the search
    misses: int  # of which wrong
    predictor, _name = XORSHIFT, "V8's Math.random()"

    @property
    def look(self) -> int:
        """Values a recovery may read: up to BLOCK - 1 before the first refill's start, BLOCKS blocks for the state,
        VERIFY more that it must predict."""
        return BLOCK - 1 + BLOCKS * BLOCK + VERIFY

    @property
    def deep(self) -> bool:
        """A recovery takes milliseconds: the predictor recovers wherever stepping ahead fails."""
        return False

    def _values(self, state: tuple[int, int], blocks: int) -> tuple[np.ndarray, tuple[int, int]]:
        """The values of the next `blocks` refills from the state, in the order handed out, and the state after."""
        ys = []
        for _ in range(blocks):
            y, state = _block(state)
            ys += y
        throws = (np.array(ys, np.uint64) * np.uint64(self.faces)) >> np.uint64(52)
        return throws.astype(np.int64) + self.low, state

    def window(self, raw: np.ndarray, start: int, last: tuple[int, tuple[int, int]] | None, recover: bool = True
               ) -> tuple[np.ndarray, int, tuple[int, tuple[int, int]] | None]:
        """The values the generator predicts for a window `raw` of the file from index `start` on, the offset from
        which they may be used (after the values that chose the state), and (file index of a refill's first value,
        the state before that refill) to step from at the next window; (-1s, len(raw), last) where no state fits.

        The state is `last` stepped ahead when it predicts the window's first `look` values, else (with recover) the
        one recovered from the window's first BLOCKS whole refills, once it predicts the values after them up to
        `look`."""
        n, look = len(raw), self.look
        first = start - (start - self.phase) % BLOCK  # file index of the refill that holds raw[0]
        if last is not None and first >= last[0] and first - last[0] <= MAX_JUMP:
            state = last[1]
            for _ in range((first - last[0]) // BLOCK):
                state = _block(state)[1]
            predicted = self._placed(state, first - start, n)
            if (predicted[:look] == raw[:look]).all():
                return predicted, look, (first, state)
        whole = first if first == start else first + BLOCK  # the first refill that starts in the window
        t = np.asarray(raw[whole - start:whole - start + BLOCKS * BLOCK], np.int64) - self.low
        if recover and n > look and len(t) == BLOCKS * BLOCK and t.min() >= 0 and t.max() < self.faces:
            state = _recovered(self.faces, t)
            if state is not None:
                predicted = self._placed(state, whole - start, n)
                verify = slice(whole - start + BLOCKS * BLOCK, look)
                if (predicted[verify] == raw[verify]).all():
                    return predicted, look, (whole, state)
        return np.full(n, -1, np.int64), n, last

    def _placed(self, state: tuple[int, int], offset: int, n: int) -> np.ndarray:
        """n predictions from the refill that starts `offset` values into them (offset > -BLOCK): -1 before it."""
        values = self._values(state, -(-(n - offset) // BLOCK))[0]
        predicted = np.full(n, -1, np.int64)
        predicted[max(offset, 0):] = values[max(-offset, 0):max(-offset, 0) + n - max(offset, 0)]
        return predicted

    def describe(self) -> str:
        """One line for the verdict."""
        values = f"{self.low} + floor({self.faces} y / 2^52)" if self.low else f"floor({self.faces} y / 2^52)"
        return (f"the values are {values} of the 52-bit values y of V8's Math.random() (xorshift128+, a cache of "
                f"{BLOCK} handed out last first) (hint: JavaScript's Math.floor(Math.random() * {self.faces})"
                f"{f' + {self.low}' if self.low else ''} in Chrome or Node.js): its state is recovered from "
                f"{BLOCKS * BLOCK} values and predicts every later one ({self.n_check - self.misses:,} of the "
                f"{self.n_check:,} after a recovery in the training block)")


_recovered = recover  # the module function, under a name Xorshift.window's `recover` flag does not hide


def find_xorshift(values: np.ndarray, scan=None, start: int = 0) -> Xorshift | Scrambled | None:
    """An xorshift-family generator in the values (file index `start` on), or None: V8's Math.random() behind a die
    (find_v8), else the outputs of a scrambled generator (scrambled.find_scrambled)."""
    return find_v8(values, scan, start) or find_scrambled(values, start)


def xorshift_from_dict(d: dict) -> Xorshift | Scrambled:
    """What find_xorshift found, from the dict its to_dict() wrote (a Scrambled's names its generator)."""
    return (Scrambled if "generator" in d else Xorshift).from_dict(d)


def find_v8(values: np.ndarray, scan=None, start: int = 0) -> Xorshift | None:
    """V8's Math.random() behind a die in the values (file index `start` on), or None (see the module docstring):
    where the values form a complete alphabet lo..lo + d - 1 of a d <= FACES_MAX that is not a power of two, and
    for an even d only where the GF(2) scan (linear.LinearScan) found a plane of degree DEGREE (no plane of an odd
    die is linear)."""
    span = BLOCK + BLOCKS * BLOCK + CHECK
    die = complete_die(values, ALPHABET, span, FACES_MAX)
    if die is None:
        return None
    v, lo, d = die
    if d % 2 == 0 and (scan is None or not any(p.linear and p.L == DEGREE for p in scan.planes)):
        return None
    for at in range(0, min(len(v) - span + 1, TRIES * span), span):
        for phase in range(BLOCK):
            found = Xorshift(d, lo, (start + at + phase) % BLOCK, 0, 0)
            predicted, usable, _ = found.window(v[at:at + span], start + at, None)
            if usable < span and int((predicted[usable:] != v[at + usable:at + span]).sum()) <= MAX_MISS:
                return _counted(found, values, start, at)
    return None


def _counted(found: Xorshift, values: np.ndarray, start: int, at: int) -> Xorshift:
    """found with its misses counted over up to COUNT_MAX values after a recovery at index `at` of the values (as
    fit_counts counts them: eps is P(wrong | the state fits so far))."""
    truth = np.asarray(values[at:at + found.look + COUNT_MAX], np.int64)
    predicted, usable, _ = found.window(truth, start + at, None)
    n_check, misses = fit_counts(predicted[usable:] != truth[usable:], found.look)
    return dataclasses.replace(found, n_check=n_check, misses=misses)
