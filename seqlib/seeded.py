"""Seeded generators: the values of a library's generator seeded with an integer a person would type.

Reproducible data are made by seeding: `random.seed(42)`, `np.random.default_rng(1)`. A cryptographic-looking
generator (NumPy's PCG64, Philox) is then as predictable as its seed is guessable, and the rejection that Python's
`randint` and NumPy's bounded integers use (a draw that falls outside the range is drawn again) hides every linear
bit of the Mersenne Twister behind them, so nothing else in seqlib reads those streams. find_seeded() replays each
library call (APIS) for each seed of SEEDS (0-1,024 and the ones people type: 1234, 12345, 31337, 20240101, ...) over
the values' alphabet lo..hi and looks for the block's first values among the first MAX_OFFSET + HEAD values of the
replay (a program may have drawn a few values before writing); a replay that matches must then predict the next CHECK
values with at most MAX_MISS misses (a selection rule, which the verdict's held-out test checks like any other
predictor's). About 0.3 s per alphabet on a stream that no seed of the list made; a stream seeded from the operating
system (an unseeded `default_rng()`, `random.SystemRandom`) is not found, as it should not be.
"""
from __future__ import annotations

import dataclasses
import random
from typing import Callable

import numpy as np

from .congruential import fit_counts
from .found import Found

SEED_REPLAY = "seed replay"
SEEDS = tuple(range(1025)) + (1234, 4321, 12345, 54321, 31337, 65535, 65536, 99999, 100000, 123456, 654321,
                              1234567, 7654321, 8675309, 12345678, 87654321, 123456789, 987654321, 2**31 - 1,
                              2**32 - 1, 0xDEADBEEF, 0xC0FFEE, 0xBADC0DE, *range(1990, 2031), 20240101, 20250101,
                              20260101)
HEAD = 16  # values of the block a replay must hold in a row
MAX_OFFSET = 256  # values a program may have drawn before the block's first
CHECK, MAX_MISS = 2_000, 20
COUNT_MAX = 1 << 18  # values after the match over which a found replay's misses are counted
CHUNK = 1 << 16  # values a replay draws at a time (even: NumPy's 16-bit draws use both halves of a 32-bit one)
KEEP = 1 << 20  # values a replay keeps behind its last draw, for windows that look back
ALPHABET = 1 << 17  # values whose range is taken as the call's
WIDE = 1 << 12  # a range wider than this that nearly spans 0..65535 is taken as the whole 16 bits
UNIFORM_P = 1e-6  # counts less likely than this under a uniform draw: not a library call of APIS
NONE_FOUND = (f"the values are not those of a seeded library call seqlib knows (Python's random, NumPy's "
              f"RandomState and Generator) for any of {len(SEEDS):,} seeds people type (seqlib.seeded.SEEDS)")


class _PythonRandint:
    """Python's random.Random(seed).randint(lo, hi), replayed at NumPy's speed: MT19937's 32-bit outputs in bulk
    (getrandbits(32 n) is n outputs, the first in the lowest bits), then _randbelow's rejection (getrandbits(k), k
    the bit length of the width, is an output's top k bits, drawn again when >= the width)."""

    def __init__(self, seed: int, lo: int, hi: int, own: bool = True):
        self.random, self.lo, self.width = random.Random(seed), lo, hi - lo + 1
        self.k = self.width.bit_length()
        self.pending = np.zeros(0, np.int64)

    def __call__(self, n: int) -> np.ndarray:
        while len(self.pending) < n:
            m = 2 * n + 64  # outputs: at least half are kept
            raw = np.frombuffer(self.random.getrandbits(32 * m).to_bytes(4 * m, "little"), "<u4")
            r = (raw >> np.uint32(32 - self.k)).astype(np.int64)
            self.pending = np.concatenate([self.pending, r[r < self.width]])
        out, self.pending = self.pending[:n], self.pending[n:]
        return out + self.lo


class _PythonFloat:
    """lo + int(random.Random(seed).random() * d), d = hi - lo + 1: random() is (a >> 5, b >> 6) / 2^53 of two
    32-bit outputs a, b, times d in doubles as Python does it."""

    def __init__(self, seed: int, lo: int, hi: int, own: bool = True):
        self.random, self.lo, self.d = random.Random(seed), lo, hi - lo + 1

    def __call__(self, n: int) -> np.ndarray:
        raw = np.frombuffer(self.random.getrandbits(64 * n).to_bytes(8 * n, "little"), "<u4").astype(np.uint64)
        k = ((raw[0::2] >> np.uint64(5)) << np.uint64(26)) | (raw[1::2] >> np.uint64(6))
        return np.floor(k * (1.0 / 9007199254740992.0) * self.d).astype(np.int64) + self.lo


def _generator(make: Callable, dtype=None) -> Callable:
    """A NumPy Generator's integers(lo, hi + 1) (with `dtype`) from its bit generator `make`(seed)."""
    def draws(seed: int, lo: int, hi: int, own: bool = True) -> Callable[[int], np.ndarray]:
        g = np.random.Generator(make(seed))
        return lambda n: g.integers(lo, hi + 1, size=n, **({"dtype": dtype} if dtype else {})).astype(np.int64)
    return draws


_SEARCHED = np.random.RandomState(0)  # reseeded for each seed the search tries: 7 us, a new one 100 us


def _floats(legacy: bool) -> Callable:
    """lo + int(x * d) of the doubles x of default_rng(seed).random() or RandomState(seed).random_sample()."""
    def draws(seed: int, lo: int, hi: int, own: bool = True) -> Callable[[int], np.ndarray]:
        if legacy:
            rs = np.random.RandomState(seed) if own else _SEARCHED
            rs.seed(seed)
            return lambda n: np.floor(rs.random_sample(n) * (hi - lo + 1)).astype(np.int64) + lo
        g = np.random.default_rng(seed)
        return lambda n: np.floor(g.random(n) * (hi - lo + 1)).astype(np.int64) + lo
    return draws


def _legacy(dtype=None) -> Callable:
    """NumPy's RandomState(seed).randint(lo, hi + 1) (with `dtype`); without `own`, on the search's RandomState."""
    def draws(seed: int, lo: int, hi: int, own: bool = True) -> Callable[[int], np.ndarray]:
        rs = np.random.RandomState(seed) if own else _SEARCHED
        rs.seed(seed)
        return lambda n: rs.randint(lo, hi + 1, size=n, **({"dtype": dtype} if dtype else {})).astype(np.int64)
    return draws


# name (with {seed}, {lo}, {hi}, {stop} = hi + 1, {d} = hi - lo + 1, {low} = "lo + " or "") -> (draws, whole):
# draws(seed, lo, hi, own) is a function that draws the call's next n values (`own` False: it may share its generator
# with the search's next draws); whole: only for the range 0..65535, where the 16-bit draws reject nothing (else they
# would not split into CHUNKs alike).
APIS: dict[str, tuple[Callable, bool]] = {
    "Python's random.Random({seed}).randint({lo}, {hi})": (_PythonRandint, False),
    "Python's {low}int(random.Random({seed}).random() * {d})": (_PythonFloat, False),
    "NumPy's {low}int(default_rng({seed}).random() * {d})": (_floats(legacy=False), False),
    "NumPy's {low}int(RandomState({seed}).random_sample() * {d})": (_floats(legacy=True), False),
    "NumPy's default_rng({seed}).integers({lo}, {stop})": (_generator(np.random.PCG64), False),
    "NumPy's default_rng({seed}).integers({lo}, {stop}, dtype=np.uint16)": (_generator(np.random.PCG64, np.uint16),
                                                                           True),
    "NumPy's RandomState({seed}).randint({lo}, {stop})": (_legacy(), False),
    "NumPy's RandomState({seed}).randint({lo}, {stop}, dtype=np.uint16)": (_legacy(np.uint16), True),
    **{f"NumPy's Generator({name}({{seed}})).integers({{lo}}, {{stop}}{dtype})":
       (_generator(make, np.uint16 if uint16 else None), uint16)
       for name, make in (("PCG64DXSM", np.random.PCG64DXSM), ("Philox", np.random.Philox), ("SFC64", np.random.SFC64))
       for dtype, uint16 in (("", False), (", dtype=np.uint16", True))},
}


class _Replay:
    """The values of one call from its first on, drawn CHUNK at a time, the last KEEP of them kept."""

    def __init__(self, api: str, seed: int, lo: int, hi: int):
        self.key, self.start, self.values = (api, seed, lo, hi), 0, np.zeros(0, np.int64)
        self.draw = APIS[api][0](seed, lo, hi)

    def at(self, i: int, n: int) -> np.ndarray:
        """Values i..i + n - 1 of the call."""
        if i < self.start:
            self.__init__(*self.key)
        end = self.start + len(self.values)
        while end < i + n:
            chunk = self.draw(CHUNK)
            if end + CHUNK <= i:  # wholly before the values asked for: drawn, not kept (a window far into the file)
                self.start, self.values = end + CHUNK, self.values[:0]
            else:
                self.values = np.concatenate([self.values, chunk])
                drop = max(0, len(self.values) - KEEP - n)
                self.start, self.values = self.start + drop, self.values[drop:]
            end += CHUNK
        return self.values[i - self.start:i - self.start + n]


_replays: dict[tuple, _Replay] = {}


def _replay(api: str, seed: int, lo: int, hi: int) -> _Replay:
    key = (api, seed, lo, hi)
    if key not in _replays:
        _replays.clear()  # one found call at a time: a 1e9-value file keeps one buffer
        _replays[key] = _Replay(*key)
    return _replays[key]


@dataclasses.dataclass
class Seeded(Found):
    """The values are the call `api` with this seed over lo..hi, file index i holding its value i + offset (the
    program drew `offset` values before the file's first), as find_seeded() checked them."""

    api: str
    seed: int
    lo: int
    hi: int
    offset: int
    n_check: int
    misses: int
    predictor = SEED_REPLAY

    @property
    def call(self) -> str:
        return self.api.format(seed=self.seed, lo=self.lo, hi=self.hi, stop=self.hi + 1, d=self.hi - self.lo + 1,
                               low=f"{self.lo} + " if self.lo else "")

    @property
    def look(self) -> int:
        """Values before a window that the replay must match before it is used (a stream reseeded or cut)."""
        return HEAD

    @property
    def deep(self) -> bool:
        return False

    def window(self, raw: np.ndarray, start: int, last=None, recover: bool = True) -> tuple[np.ndarray, int, None]:
        """The replay's values for a window `raw` of the file from index `start` on, usable after its first `look`
        values where those match; (-1s, len(raw), None) where they do not."""
        predicted = _replay(self.api, self.seed, self.lo, self.hi).at(start + self.offset, len(raw))
        if (predicted[:self.look] == np.asarray(raw[:self.look])).all():
            return predicted.copy(), self.look, None
        return np.full(len(raw), -1, np.int64), len(raw), None

    def next_text(self, values: np.ndarray, idx: int) -> str:
        """What the replay puts at index idx, once the values before it match, for `predict`."""
        k = self.look
        if idx < k:
            return f"{SEED_REPLAY}: fewer than {k} values before index {idx}, nothing is predicted"
        predicted, _, _ = self.window(np.asarray(values[idx - k:idx + 1], np.int64), idx - k)
        if predicted[k] < 0:
            return f"{SEED_REPLAY}: the {k} values before index {idx} are not those of {self.call}"
        return f"{SEED_REPLAY}: {self.call} puts the value at index {idx} at {predicted[k]}"

    def describe(self) -> str:
        """One line for the verdict."""
        at = f"from its value {self.offset:,} on" if self.offset else "from its first value on"
        return (f"the values are those of {self.call}, {at} (hint: {self.seed} is one of the {len(SEEDS):,} seeds "
                f"people type that seqlib tries; a generator seeded from the operating system could not be replayed): "
                f"the replay predicts every later one "
                f"({self.n_check - self.misses:,} of the {self.n_check:,} after the {HEAD} values it was matched on "
                f"in the training block)")


def _range(values: np.ndarray) -> tuple[int, int] | None:
    """The call's range lo..hi as the first ALPHABET values show it (a wide one that reaches within 64 of both ends
    as the whole 16 bits: a value or two may not have come up), or None where their counts reject a uniform
    distribution over it (every call of APIS draws uniformly), at p < UNIFORM_P by a chi-square test."""
    import scipy.stats  # here: `seqlib train` starts without SciPy

    v = np.asarray(values[:ALPHABET], np.int64)
    lo, hi = int(v.min()), int(v.max())
    if hi - lo >= WIDE and lo < 64 and hi > 65535 - 64:
        lo, hi = 0, 65535
    counts = np.bincount(v - lo, minlength=hi - lo + 1)
    expected = len(v) / len(counts)
    if hi == lo or expected < 5:  # too few values per face for the test: search (uniform enough to draw all)
        return None if hi == lo else (lo, hi)
    return (lo, hi) if scipy.stats.chi2.sf(((counts - expected) ** 2 / expected).sum(), len(counts) - 1) > UNIFORM_P \
        else None


def find_seeded(values: np.ndarray, start: int = 0) -> Seeded | None:
    """The first call and seed whose values these are, or None (see the module docstring): only for a block at the
    file's beginning (`start` 0), as a replay starts at the call's first value."""
    if start or len(values) < HEAD + CHECK:
        return None
    head, span = np.asarray(values[:HEAD], np.int64), _range(values)
    if span is None:
        return None
    lo, hi = span
    for api, (draws, whole) in APIS.items():
        if whole and (lo, hi) != (0, 65535):
            continue
        for seed in SEEDS:
            first = draws(seed, lo, hi, own=False)(MAX_OFFSET + HEAD)
            hits = np.flatnonzero((np.lib.stride_tricks.sliding_window_view(first, HEAD) == head).all(1))
            if len(hits):
                found = Seeded(api, seed, lo, hi, int(hits[0]), 0, 0)
                if _counted(found, values, CHECK).misses <= MAX_MISS:
                    return _counted(found, values, COUNT_MAX)
    return None


def _counted(found: Seeded, values: np.ndarray, n: int) -> Seeded:
    """found with its misses counted over up to n values after the HEAD it matched (as fit_counts counts them)."""
    truth = np.asarray(values[:HEAD + n], np.int64)
    predicted, usable, _ = found.window(truth, 0)
    n_check, misses = fit_counts(predicted[usable:] != truth[usable:], found.look)
    return dataclasses.replace(found, n_check=n_check, misses=misses)
