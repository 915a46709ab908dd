"""Lagged sums modulo 2^16: x_t = s_1 x_{t-a} (+ s_2 x_{t-b}) + r_t (mod 2^16) with a residual r_t of few values.

Additive and subtractive lagged Fibonacci generators (glibc's random(), Knuth's ran_array, Numerical Recipes' ran3,
the old math/rand of Go, .NET's Random, subtract-with-borrow) add or subtract two earlier states modulo 2^k. Any 16
consecutive bits of their outputs obey the same sum modulo 2^16 up to the carry (or borrow) out of the bits below:
r_t in {0, 1}, or {0, -1}. Over GF(2) only the lowest bits of such a stream are linear (the carries raise the
linear complexity of the others out of reach), so the GF(2) scan predicts a bit or two of each value where this
predicts the whole value to within its carry. One lag (x_t = x_{t-a} + r_t) covers counters and Weyl sequences.

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

LAGGED = "lagged sum (mod 2^16)"
LAGGED_LINEAR = "lagged sum + linear bits"  # both experts at once (baselines.LaggedSumPredictor)
MASK = N_VALUES - 1
MAX_LAG = 1_300  # longest lag searched: Go's math/rand uses (607, 273), Knuth's ran_array (100, 37), glibc (31, 3)
SAMPLE = 33  # sample positions whose residuals rank the candidates
PAIRS = 3  # each sample's residual is compared with the next PAIRS samples': 93 comparisons
RANK_MIN = 16  # shared residuals a candidate needs to be fitted (random 16-bit values: 93 / 65,536 expected; a carry
# of 0 or 1: about half the comparisons, a constant residual all of them)
CANDIDATES = 8  # the best ranked candidates that are fitted and checked
SUPPORT = 64  # residual values a distribution keeps (the most frequent); the rest share the escape mass
FIT = 1_000_000  # positions in each half (fit, check) at most
MIN_GAIN = 1.0  # bits/value the check half must gain over the values' own distribution
MIN_POSITIONS = 2_000  # positions a block needs beyond the longest lag for a search
NONE_FOUND = (f"no lagged sum modulo 2^16 (one or two lags up to {MAX_LAG:,}, each added or subtracted) predicts the "
              f"training block {MIN_GAIN:g} bit/value better than the values' own distribution")


@dataclasses.dataclass
class Residuals:
    """A distribution over the 65,536 residuals: the most frequent ones counted, the others sharing the escape mass.

    P(r) = probs[i] [r = values[i]] + escape / 65,536, with probs[i] = count / (n + 1) and escape = (n - kept + 1) /
    (n + 1): never 0, and exactly 1 in all.
    """

    values: list[int]
    probs: list[float]
    escape: float

    @classmethod
    def fit(cls, r: np.ndarray) -> Residuals:
        counts = np.bincount(r, minlength=N_VALUES)
        top = np.argsort(-counts, kind="stable")[:SUPPORT]
        top = top[counts[top] > 0]
        n = len(r)
        return cls(top.tolist(), (counts[top] / (n + 1)).tolist(), float((n - counts[top].sum() + 1) / (n + 1)))

    def bits(self, r: np.ndarray) -> np.ndarray:
        """-log2 P(r) of each residual."""
        p = np.full(N_VALUES, self.escape / N_VALUES)
        p[self.values] += self.probs
        return -np.log2(p[r])

    def entropy(self) -> float:
        """Entropy in bits."""
        floor = self.escape / N_VALUES
        kept = np.asarray(self.probs) + floor
        return float(-(kept * np.log2(kept)).sum() - (N_VALUES - len(kept)) * floor * np.log2(floor))


@dataclasses.dataclass
class LaggedSum:
    """x_t = sum_i signs[i] x_{t - lags[i]} + r_t (mod 2^16), r_t ~ residuals, and what find_lagged_sum() checked."""

    lags: list[int]
    signs: list[int]
    residuals: Residuals  # counted over the whole searched block
    n_fit: int  # positions counted (both halves)
    check_bits: float  # mean bits/value on the check half, fitted on the first
    values_bits: float  # the values' own distribution on the check half, fitted on the first
    n_check: int

    @property
    def history(self) -> int:
        """Values needed before a position."""
        return max(self.lags)

    def base(self, values: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """sum_i signs[i] values[p - lags[i]] mod 2^16 (int64) at each position p >= history."""
        out = np.zeros(len(positions), np.int64)
        with sparse_reads(values):
            for lag, sign in zip(self.lags, self.signs):
                out += sign * np.asarray(values[positions - lag], np.int64)
        return out & MASK

    def equation(self) -> str:
        """'x[t] = x[t-31] + x[t-3] + r (mod 2^16)'."""
        order = sorted(zip(self.lags, self.signs), key=lambda t: (t[1] < 0, -t[0]))  # added terms first, long first
        terms = "".join(f" {'+' if s > 0 else '-'} x[t-{lag}]" for lag, s in order)
        terms = terms[3:] if terms.startswith(" + ") else "-" + terms[3:]
        return f"x[t] = {terms} + r (mod 2^16)"

    def common(self, least: float = 0.01, most: int = 4) -> tuple[list[int], float]:
        """The most frequent residuals (as signed numbers) with at least `least` of the mass each, at most `most`, and
        their total mass."""
        r = self.residuals
        shown = [(v, p) for v, p in zip(r.values[:most], r.probs[:most]) if p >= least]
        return [v - N_VALUES if v > N_VALUES // 2 else v for v, _ in shown], sum(p for _, p in shown)

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
        guesses = ", ".join(f"{(b + v) & MASK} (p = {p + r.escape / N_VALUES:.4f})"
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


def _residual(v: np.ndarray, start: int, stop: int, lags: list[int], signs: list[int]) -> np.ndarray:
    """x_t - sum_i signs[i] x_{t - lags[i]} mod 2^16 for t in start..stop-1 (slices, no gathers)."""
    r = v[start:stop].copy()
    for lag, sign in zip(lags, signs):
        r -= sign * v[start - lag:stop - lag]
    return r & MASK


def _ranked(v: np.ndarray, positions: np.ndarray, max_lag: int) -> list[tuple[list[int], list[int]]]:
    """The CANDIDATES best (lags, signs) by how often two sample positions up to PAIRS apart share their residual (at
    least RANK_MIN times); ties to fewer lags, then shorter ones."""
    X = (v[positions[:, None] - np.arange(max_lag + 1)] & MASK).astype(np.int32)  # column j: lag j (0: the value)

    def shared(r: np.ndarray) -> np.ndarray:
        r &= MASK
        return sum((r[k:] == r[:-k]).sum(0) for k in range(1, PAIRS + 1))

    found: list[tuple[int, int, int, list[int], list[int]]] = []

    def keep(score: np.ndarray, lags_of, signs: list[int]) -> None:
        hits = np.flatnonzero(score >= RANK_MIN)
        hits = hits[np.argsort(-score[hits], kind="stable")[:CANDIDATES]]
        for i in hits.tolist():
            lags = lags_of(i)
            found.append((-int(score[i]), len(lags), max(lags), lags, signs))

    x0 = X[:, :1]
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
    """The best lagged sum modulo 2^16 of a block (one or two lags up to max_lag, each added or subtracted), or None
    when none predicts the block's second half MIN_GAIN bits/value better than the values' own distribution.

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
    mid, end = max_lag + half, max_lag + 2 * half
    own = Residuals.fit(v[max_lag:mid])
    values_bits = float(own.bits(v[mid:end]).mean())
    best = None
    for lags, signs in _ranked(v, max_lag + np.linspace(0, half - 1, SAMPLE).round().astype(np.int64), max_lag):
        fitted = Residuals.fit(_residual(v, max_lag, mid, lags, signs))
        bits = float(fitted.bits(_residual(v, mid, end, lags, signs)).mean())
        if best is None or bits < best[0]:
            best = bits, lags, signs
    if best is None or values_bits - best[0] < MIN_GAIN:
        return None
    bits, lags, signs = best
    residuals = Residuals.fit(_residual(v, max_lag, end, lags, signs))
    return LaggedSum(lags, signs, residuals, 2 * half, bits, values_bits, half)
