"""LCGs whose constants nobody published: the multiplier, the increment and the modulus read from the values.

A program's own x' = a x + c (mod 2^K) (VAX's 69069, a game's, a textbook's) that emits bits [s, s + w) of its states
is as predictable as java.util.Random, but CATALOGUE does not hold it. Modulo 2^(s + w) the bits above the values
never reach them, so take K = s + w: the values are the top w bits of x mod 2^K, with s bits hidden below.

1. The multiplier (Stern, "Secret linear congruential generators are not cryptographically secure", FOCS 1987).
   The differences d_i = x_{i+1} - x_i obey d_{i+1} = a d_i (mod 2^K), so every polynomial P(a) = sum_j l_j a^j
   that is 0 modulo 2^K gives sum_j l_j d_{i+j} = 0 (mod 2^K) for every i. Such l with small integers exist (the
   lattice of them has determinant 2^K: entries near 2^(K / RELATIONS)), and for them sum_j l_j D_{i+j} is small
   modulo 2^w, D_i being the values' differences (the hidden bits move it by less than sum |l_j|). LLL finds them as
   the short vectors of the lattice of (l, (sum_j l_j D_{i+j}) mod 2^w), and a is their common root modulo 2^K,
   lifted one bit at a time from a = 1 (mod 2); the highest bit where a root survives is K.
2. The differences: d_i = a^i d_0 (mod 2^K) lies within 2^s of 2^s D_i, a closest-vector problem in the lattice
   {y : y_i = a^i y_0 mod 2^K}, solved as for the catalogue's generators (congruential._lattice).
3. The increment and the state: x_i = x_0 + S_i with S_i the sums of the d_j before i, so each value bounds the
   hidden bits u_0 of x_0 from one side; FIT values leave an interval of about 2^s / FIT, and c = x_1 - a x_0.
   Where the interval holds more than one point (s above about 18), the states it leaves predict the same values
   but for about one in FIT: the generator's name says so, and the predictor's accuracy shows it.

A candidate is kept only where it predicts CHECK values after the ones it was read from with at most MAX_MISS
misses, as for the catalogue: random values pass with probability far below 2^-1000.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .congruential import CHECK, MAX_MISS, Lcg, _babai, _lll, _reduced, outputs_from, to_words

NAME = ("no published generator: its constants were recovered from the values, its modulus is 2^{k} or a higher power "
        "of two")
INEXACT = "; its {n:,} values fix c only to one of about 2^{bits} increments that predict them alike"
# (coefficients of a relation, differences each is checked on): the relations' entries are near 2^(K / coefficients),
# and enough differences keep them far below the lattice's other points for K up to 64
SHAPE = 8, 16  # 16-bit words: a lattice of 24 rows, reduced in 0.04 s
NARROW = 12, 24  # words of 12-15 bits, each difference telling less (0.1 s)
WIDE = 8, 8  # 32-bit words, each telling twice the bits
MAX_WIDTH = 32  # wider words are not searched (a 64-bit word of a generator modulo 2^64 is its whole state)
MAX_BITS = 64  # the largest modulus 2^K searched (the states are uint64)
CANDIDATES = 16  # roots kept at each bit of the lifting
FIT = 1 << 20  # values the increment is fitted on


def find_uncatalogued(values: np.ndarray, width: int, stride: int = 1, high_first: bool = False,
                      tries: int = 2) -> tuple[Lcg, int, int, int] | None:
    """(the generator modulo 2^(s + width), s, the index of the output where the state was recovered, that state)
    for the stream of 16-bit values, each `stride` of them one output of `width` bits (congruential.to_words), or
    None where no LCG modulo a power of two has the outputs as the top bits of its states; recovered at `tries`
    places CHECK + 100 outputs apart, each reading at most FIT outputs."""
    span = CHECK + 100
    if width > MAX_WIDTH:
        return None
    for start in range(0, tries * span, span):
        o = to_words(np.asarray(values[start * stride:(start + span) * stride]), stride, high_first)
        if len(o) < span:
            break
        found = _at(o, width, lambda: to_words(np.asarray(values[start * stride:(start + FIT) * stride]), stride,
                                               high_first))
        if found is not None:
            lcg, shift, x = found
            return lcg, shift, start, x
    return None


def _at(o: np.ndarray, w: int, longer: Callable[[], np.ndarray]) -> tuple[Lcg, int, int] | None:
    """(generator, shift, state at o[0]) that predicts o[1:] past the outputs it was read from, or None; `longer`
    gives the FIT outputs from o[0] on that the increment is fitted on."""
    need = sum(_shape(w)) + 1
    first = [int(v) for v in o[:need]]
    for k, roots in _multipliers(first, w):
        s, M = k - w, 1 << k
        for a in roots:
            d0 = _first_difference(first, a, s, w)
            fitted = None if d0 is None else _increment(longer(), a, d0, s, w)
            if fitted is None:
                continue
            c, x0, n, room = fitted
            inexact = INEXACT.format(n=n, bits=round(np.log2(room))) if room > 1 else ""
            lcg = Lcg(NAME.format(k=k) + inexact, a, c, M)
            predicted = outputs_from(lcg, s, w, [x0], need + CHECK)[0, need:]
            if int((predicted != o[need:need + CHECK]).sum()) <= MAX_MISS:
                return lcg, s, x0
    return None


def _multipliers(o: list[int], w: int) -> list[tuple[int, list[int]]]:
    """[(K, the candidates for a modulo 2^K)], the highest K first (and the two below it, in case a root survived
    a bit beyond K by chance), from the short relations among the differences of o."""
    W, (k, rows) = 1 << w, _shape(w)
    D = [(o[i + 1] - o[i]) % W for i in range(k + rows)]
    basis = [[int(q == j) for q in range(k)] + [D[i + j] for i in range(rows)] for j in range(k)]
    basis += [[0] * k + [W * int(q == i) for q in range(rows)] for i in range(rows)]
    polys = [row[:k] for row in _lll(basis)[0][:k]]
    levels, roots = [], [1]  # a is odd (else the generator's low bits die out)
    for bit in range(1, MAX_BITS):
        m = 1 << (bit + 1)
        roots = [r for r in (r + b for r in roots for b in (0, 1 << bit))
                 if all(_value(p, r, m) == 0 for p in polys)][:CANDIDATES]
        if not roots:
            break
        levels.append((bit + 1, roots))
    return [(k, r) for k, r in levels[::-1][:3] if k >= w]


def _shape(w: int) -> tuple[int, int]:
    """(coefficients of a relation, differences it is checked on) for words of w bits."""
    return NARROW if w < 16 else SHAPE if w == 16 else WIDE


def _value(p: list[int], r: int, m: int) -> int:
    """p(r) mod m, p's coefficients lowest first."""
    v = 0
    for coefficient in reversed(p):
        v = (v * r + coefficient) % m
    return v


def _first_difference(o: list[int], a: int, s: int, w: int) -> int | None:
    """d_0 = x_1 - x_0 (mod 2^(s + w)): the lattice point y_i = a^i y_0 nearest to 2^s times the values'
    differences, or None where it is not within 2^s of each."""
    M, n = 1 << (s + w), len(o) - 1
    target = [((o[i + 1] - o[i]) % (1 << w)) << s for i in range(n)]
    if s == 0:
        return target[0]
    y = _babai(*_reduced(a, M, n), target)
    return y[0] % M if all(abs(p - q) < 1 << s for p, q in zip(y, target)) else None


def _increment(o: np.ndarray, a: int, d0: int, s: int, w: int) -> tuple[int, int, int, int] | None:
    """(c, x_0, the values fitted on, the interval's size): the state whose hidden bits lie in the middle of the
    interval that the values up to the first one the differences do not fit (a reseed, a glitch; at least CHECK of
    them) leave, and c = x_1 - a x_0."""
    M = 1 << (s + w)
    mask = np.uint64(M - 1)
    n = len(o)
    powers = np.ones(1, np.uint64)
    while len(powers) < n:  # a^0 .. a^(n-1) modulo 2^64 (and so modulo M) by doubling
        powers = np.concatenate([powers, powers * np.uint64(pow(a, len(powers), 1 << 64))])
    d = (powers[:n] * np.uint64(d0)) & mask
    z = (np.uint64(int(o[0]) << s) + np.concatenate([[np.uint64(0)], np.cumsum(d[:-1], dtype=np.uint64)])) & mask
    q, f = z >> np.uint64(s), (z & np.uint64((1 << s) - 1)).astype(np.int64)
    same, up = q == o, ((q + np.uint64(1)) & np.uint64((1 << w) - 1)) == o  # u_0 < 2^s - f, or u_0 >= 2^s - f
    bad = np.flatnonzero(~(same | up))
    end = int(bad[0]) if len(bad) else n
    if end < CHECK:
        return None
    room = (1 << s) - f[:end]
    low = int(room[up[:end]].max(initial=0))
    high = int(room[same[:end]].min(initial=1 << s))
    if low >= high:
        return None
    x0 = (int(o[0]) << s) + (low + high - 1) // 2
    return (x0 + d0 - a * x0) % M, x0, end, high - low
