"""Lagged sums: x_t = s_1 x_{t-a} (+ s_2 x_{t-b}) + r_t (mod m) with a residual r_t of few values.

Additive and subtractive lagged Fibonacci generators (glibc's random(), Knuth's ran_array, Numerical Recipes' ran3,
the old math/rand of Go, .NET's Random, subtract-with-borrow) add or subtract two earlier states modulo 2^k. Any 16
consecutive bits of their outputs obey the same sum modulo 2^16 up to the carry (or borrow) out of the bits below:
r_t in {0, 1}, or {0, -1}. Over GF(2) only the lowest bits of such a stream are linear (the carries raise the
linear complexity of the others out of reach), so the GF(2) scan predicts a bit or two of each value where this
predicts the whole value to within its carry. One lag (x_t = x_{t-a} + r_t) covers counters and Weyl sequences.

The modulus m is the values' (_modulus): 2^16 for 16-bit words, the power of two above narrower values, and a
complete small alphabet's size: dice taken as rand() % 6 + 1 of such a generator obey the sum modulo 6 up to the
carry and the wrap of the generator's modulus (2^31 = 2 mod 6), four residues where six are equally likely.

find_lagged_sum() ranks every candidate by how often its residual repeats between sample positions of the first half
of a block, fits the best candidates' residual distributions on that half, and keeps the best one only when it
predicts the second half at least MIN_GAIN bits/value better than the values' own distribution does: a selection
rule on the training block. Whether the predictor beats chance is the verdict's test, on held-out values. The
predictor reads only values before each position.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .data import sparse_reads
from .errors import CheckpointError, DataError
from .values import N_VALUES

LAGGED = "lagged sum"
LAGGED_LINEAR = "lagged sum + linear bits"  # both experts at once (baselines.LaggedSumPredictor)
MASK = N_VALUES - 1
MAX_LAG = 1_300  # longest lag searched: Go's math/rand uses (607, 273), Knuth's ran_array (100, 37), glibc (31, 3)
SAMPLE = 33  # sample positions whose residuals rank the candidates (FACES_SAMPLE up to FACES residues)
PAIRS = 3  # each sample's residual is compared with the next PAIRS samples': 93 comparisons
RANK_MIN = 16  # shared residuals a candidate needs to be fitted (random 16-bit values: 93 / 65,536 expected; a carry
# of 0 or 1: about half the comparisons, a constant residual all of them), more for a small modulus (_rank_min)
SMALL = 4_096  # a modulus below this compares each sample with SMALL_PAIRS others: random residues agree often
SMALL_PAIRS = 24  # 33 x 24 - 300 = 492 comparisons (random residues modulo 100 agree in 1% of them)
FACES = 24  # up to this modulus every pair of FACES_SAMPLE samples is compared; 5 FACES fits in int8
FACES_SAMPLE = 64  # 2,016 pairs: glibc's rand() % 6 agrees in 31% of them, random residues in 17% +- 0.8% (with 33
# samples the best of 3.4 million random candidates scored as high as the true one)
CANDIDATES = 8  # the best ranked candidates that are fitted and checked
SUPPORT = 64  # residual values a distribution keeps (the most frequent); the rest share the escape mass
FIT = 1_000_000  # positions in each half (fit, check) at most
MIN_GAIN = 1.0  # bits/value the check half must gain over the values' own distribution (a quarter of log2 m when less)
MIN_POSITIONS = 2_000  # positions a block needs beyond the longest lag for a search
NONE_FOUND = (f"no lagged sum (one or two lags up to {MAX_LAG:,}, each added or subtracted, modulo the values' range) "
              f"predicts the training block {MIN_GAIN:g} bit/value (a quarter of its bits for a small range) better "
              f"than the values' own distribution")


@dataclasses.dataclass
class Residuals:
    """A distribution over the `size` residuals modulo m: the most frequent ones counted, the others sharing the escape
    mass.

    P(r) = probs[i] [r = values[i]] + escape / size, with probs[i] = count / (n + 1) and escape = (n - kept + 1) /
    (n + 1): never 0, and exactly 1 in all.
    """

    values: list[int]
    probs: list[float]
    escape: float
    size: int = N_VALUES

    @classmethod
    def fit(cls, r: np.ndarray, size: int = N_VALUES) -> Residuals:
        counts = np.bincount(r, minlength=size)
        top = np.argsort(-counts, kind="stable")[:SUPPORT]
        top = top[counts[top] > 0]
        n = len(r)
        return cls(top.tolist(), (counts[top] / (n + 1)).tolist(), float((n - counts[top].sum() + 1) / (n + 1)), size)

    def bits(self, r: np.ndarray) -> np.ndarray:
        """-log2 P(r) of each residual."""
        p = np.full(self.size, self.escape / self.size)
        p[self.values] += self.probs
        return -np.log2(p[r])

    def entropy(self) -> float:
        """Entropy in bits."""
        floor = self.escape / self.size
        kept = np.asarray(self.probs) + floor
        rest = (self.size - len(kept)) * floor * np.log2(floor) if self.size > len(kept) else 0.0
        return float(-(kept * np.log2(kept)).sum() - rest)


@dataclasses.dataclass
class LaggedSum:
    """x_t = sum_i signs[i] x_{t - lags[i]} + r_t (mod modulus), r_t ~ residuals, and what find_lagged_sum() checked;
    the values lie in low .. low + modulus - 1."""

    lags: list[int]
    signs: list[int]
    residuals: Residuals  # counted over the whole searched block
    n_fit: int  # positions counted (both halves)
    check_bits: float  # mean bits/value on the check half, fitted on the first
    values_bits: float  # the values' own distribution on the check half, fitted on the first
    n_check: int
    modulus: int = N_VALUES  # 2^16 for 16-bit words, the power of two above 15-bit values, a die's number of faces
    low: int = 0  # the smallest value (a die's 1)

    @property
    def history(self) -> int:
        """Values needed before a position."""
        return max(self.lags)

    def base(self, values: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """sum_i signs[i] values[p - lags[i]] mod modulus (int64) at each position p >= history."""
        out = np.zeros(len(positions), np.int64)
        with sparse_reads(values):
            for lag, sign in zip(self.lags, self.signs):
                out += sign * np.asarray(values[positions - lag], np.int64)
        return out % self.modulus

    def value(self, base, r):
        """The value that the residual r gives over the base (arrays or tensors alike): low .. low + modulus - 1."""
        return self.low + (base + r - self.low) % self.modulus

    def equation(self) -> str:
        """'x[t] = x[t-31] + x[t-3] + r (mod 2^16)'."""
        order = sorted(zip(self.lags, self.signs), key=lambda t: (t[1] < 0, -t[0]))  # added terms first, long first
        terms = "".join(f" {'+' if s > 0 else '-'} x[t-{lag}]" for lag, s in order)
        terms = terms[3:] if terms.startswith(" + ") else "-" + terms[3:]
        m = self.modulus
        return f"x[t] = {terms} + r (mod {f'2^{m.bit_length() - 1}' if m & (m - 1) == 0 and m >= 256 else f'{m:,}'})"

    def common(self, least: float = 0.01, most: int = 4) -> tuple[list[int], float]:
        """The most frequent residuals (as signed numbers) with at least `least` of the mass each, at most `most`, and
        their total mass."""
        r = self.residuals
        shown = [(v, p) for v, p in zip(r.values[:most], r.probs[:most]) if p >= least]
        m = self.modulus
        return [v - m if v > m // 2 else v for v, _ in shown], sum(p for _, p in shown)

    def hint(self) -> str | None:
        """A guess at the generator family; None when nothing fits."""
        shown, mass = self.common()
        if len(self.lags) == 2 and len(shown) <= 2 and mass >= 0.99:  # a carry or a borrow, or a wrap (modulus)
            kind = "additive" if self.signs == [1, 1] else "subtractive" if sorted(self.signs) == [-1, 1] else None
            return f"{kind} lagged Fibonacci generator" if kind else None
        if len(self.lags) == 1 and self.signs == [1] and len(shown) == 1 and mass >= 0.99:
            return "counter or Weyl sequence"
        return None

    def describe(self, linear=None) -> str:
        """One line for the verdict: the recurrence, its residual, and what it predicts (with linear, a LinearScan with
        linear planes: what it predicts together with them)."""
        shown, mass = self.common()
        if not shown:
            r_text = "r spread over many values"
        else:
            r_text = (f"r = {shown[0]}" if len(shown) == 1 else f"r in {{{', '.join(map(str, sorted(shown)))}}}") + (
                f" for {mass:.2%} of the training block")
        hint = self.hint()
        hint = f" (hint: {hint})" if hint else ""
        entropy = f"r's entropy {self.residuals.entropy():.2f} bits"
        text = f"the values obey {self.equation()} with {r_text} ({entropy}){hint}"
        if linear is not None:
            history = max(self.history, linear.max_complexity_found)
            return f"{text}, and with {linear.brief()} each value is predicted from the {history:,} before it"
        before = f"the {self.history:,} before it" if self.history > 1 else "the one before it"
        return f"{text}; each value is predicted from {before} to within r"

    def next_text(self, values: np.ndarray, idx: int, top: int = 3) -> str:
        """What the recurrence predicts for the value at idx (from the values before it only), for `predict`."""
        if idx < self.history:
            return f"{LAGGED}: fewer than {self.history} values before index {idx}, nothing is predicted"
        b = int(self.base(values, np.array([idx]))[0])
        r = self.residuals
        guesses = ", ".join(f"{self.value(b, v)} (p = {p + r.escape / r.size:.4f})"
                            for v, p in zip(r.values[:top], r.probs[:top]))
        return f"{LAGGED}: {self.equation()} puts the value at index {idx} at {guesses}"

    def to_dict(self) -> dict:
        """Plain ints, floats and lists, for checkpoints and JSON."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> LaggedSum:
        """The inverse of to_dict."""
        try:
            return cls(**{**d, "residuals": Residuals(**d["residuals"])})
        except (KeyError, TypeError) as e:
            raise CheckpointError(f"not a LaggedSum dict ({e}); pass the dict that LaggedSum.to_dict() wrote") from e


def _wrap(r: np.ndarray, m: int) -> np.ndarray:
    """r mod m in place (non-negative; a mask for a power of two, which is faster)."""
    return np.bitwise_and(r, m - 1, out=r) if m & (m - 1) == 0 else np.remainder(r, m, out=r)


def _modulus(v: np.ndarray) -> tuple[int, int]:
    """The modulus the values' sums wrap at, and the smallest value. A complete alphabet lo..hi (every value between
    seen, as a die's faces) wraps at its size; other values at the power of two above the largest (16-bit words,
    15-bit rand()): a short block of 16-bit values need not hold 0 and 65,535."""
    lo, hi = int(v.min()), int(v.max())
    if hi - lo + 1 < N_VALUES and np.count_nonzero(np.bincount(v - lo)) == hi - lo + 1:
        return hi - lo + 1, lo
    return 1 << max(1, hi.bit_length()), 0


def _compared(m: int) -> int:
    """Pairs of sample residuals a candidate's score counts equal ones among: each sample with the next PAIRS (or
    SMALL_PAIRS below SMALL, where random residues agree often); every pair of samples up to FACES residues."""
    if m <= FACES:
        return FACES_SAMPLE * (FACES_SAMPLE - 1) // 2
    return sum(SAMPLE - k for k in range(1, (PAIRS if m >= SMALL else SMALL_PAIRS) + 1))


def _rank_min(m: int) -> int:
    """Shared residuals a candidate needs: RANK_MIN, or 4 standard deviations above what random residues share."""
    n = _compared(m)
    return max(RANK_MIN, round(n / m + 4 * (n / m) ** 0.5))


def _residual(v: np.ndarray, start: int, stop: int, lags: list[int], signs: list[int], m: int) -> np.ndarray:
    """x_t - sum_i signs[i] x_{t - lags[i]} mod m for t in start..stop-1 (slices, no gathers)."""
    r = v[start:stop].copy()
    for lag, sign in zip(lags, signs):
        r -= sign * v[start - lag:stop - lag]
    return _wrap(r, m)


def _ranked(v: np.ndarray, positions: np.ndarray, max_lag: int, m: int) -> list[tuple[list[int], list[int]]]:
    """The CANDIDATES best (lags, signs) by how often two sample positions up to _pairs(m) apart share their residual
    (at least _rank_min(m) times); ties to fewer lags, then shorter ones."""
    X = _wrap(v[positions[:, None] - np.arange(max_lag + 1)], m)  # column j: lag j (0: the value)
    X = X.astype(np.int8 if m <= FACES else np.int16 if m <= 1 << 13 else np.int32)  # 2m + x - y - z stays in range,
    # and narrow rows compare faster
    pairs, rank_min = PAIRS if m >= SMALL else SMALL_PAIRS, _rank_min(m)

    residue = (np.arange(5 * m) % m).astype(np.int32)  # 2m + x - y - z lies in [0, 5m): a table beats remainder
    column = m * np.arange(max_lag, dtype=np.int32)  # residue + column: one bincount counts every column's residues

    def shared(r: np.ndarray) -> np.ndarray:
        if m <= FACES:  # equal pairs among all samples, from each column's count of each residue (one bincount)
            cols = r.shape[1]
            counts = np.bincount((residue.take(r) + column[:cols]).ravel(), minlength=m * cols).reshape(cols, m)
            return (counts * (counts - 1)).sum(1) // 2
        _wrap(r, m)
        return sum((r[k:] == r[:-k]).sum(0) for k in range(1, pairs + 1))

    found: list[tuple[int, int, int, list[int], list[int]]] = []

    def keep(score: np.ndarray, lags_of, signs: list[int]) -> None:
        hits = np.flatnonzero(score >= rank_min)
        hits = hits[np.argsort(-score[hits], kind="stable")[:CANDIDATES]]
        for i in hits.tolist():
            lags = lags_of(i)
            found.append((-int(score[i]), len(lags), max(lags), lags, signs))

    x0 = X[:, :1] + (2 * m if m <= FACES else 0)  # the residues' table reads non-negative indices
    for s in (1, -1):
        keep(shared(x0 - s * X[:, 1:]), lambda i: [i + 1], [s])
    for a in range(1, max_lag):
        for sa in (1, -1):
            ya = x0 - sa * X[:, a:a + 1]
            for sb in (1, -1):
                keep(shared(ya - sb * X[:, a + 1:]), lambda i, a=a: [a, a + 1 + i], [sa, sb])
        if len(found) > 4 * CANDIDATES:
            found = sorted(found, key=lambda c: c[:3])[:CANDIDATES]
    return [(lags, signs) for *_, lags, signs in sorted(found, key=lambda c: c[:3])[:CANDIDATES]]


def find_lagged_sum(values: np.ndarray, *, max_lag: int = MAX_LAG) -> LaggedSum | None:
    """The best lagged sum of a block (one or two lags up to max_lag, each added or subtracted, modulo the values'
    range: _modulus), or None when none predicts the block's second half MIN_GAIN bits/value (a quarter of log2 m
    when that is less) better than the values' own distribution.

    Reads at most max_lag + 2 FIT values from the start of the block (see the module docstring).
    """
    values = np.asarray(values) if not isinstance(values, np.ndarray) else values
    if values.ndim != 1 or values.dtype.kind not in "iu":
        raise DataError(f"a lagged-sum search needs a 1-D array of integer values, got dtype {values.dtype} with "
                        f"shape {values.shape}; pass the uint16 stream, e.g. seqlib.data.open_u16(path)")
    max_lag = min(max_lag, len(values) // 4)
    half = min(FIT, (len(values) - max_lag) // 2)
    if max_lag < 1 or 2 * half < MIN_POSITIONS:
        return None
    v = np.asarray(values[:max_lag + 2 * half], np.int64)
    if v.min() < 0 or v.max() > MASK:
        raise DataError(f"values must lie in 0..65535, got {v.min()}..{v.max()}; pass the uint16 stream")
    m, low = _modulus(v)
    if m < 2:
        return None
    mid, end = max_lag + half, max_lag + 2 * half
    own = Residuals.fit(_wrap(v[max_lag:mid].copy(), m), m)  # the values themselves, as residues
    values_bits = float(own.bits(_wrap(v[mid:end].copy(), m)).mean())
    best = None
    samples = max_lag + np.linspace(0, half - 1, FACES_SAMPLE if m <= FACES else SAMPLE).round().astype(np.int64)
    for lags, signs in _ranked(v, samples, max_lag, m):
        fitted = Residuals.fit(_residual(v, max_lag, mid, lags, signs, m), m)
        bits = float(fitted.bits(_residual(v, mid, end, lags, signs, m)).mean())
        if best is None or bits < best[0]:
            best = bits, lags, signs
    if best is None or values_bits - best[0] < min(MIN_GAIN, np.log2(m) / 4):
        return None
    bits, lags, signs = best
    residuals = Residuals.fit(_residual(v, max_lag, end, lags, signs, m), m)
    return LaggedSum(lags, signs, residuals, 2 * half, bits, values_bits, half, m, low)
