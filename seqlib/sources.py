"""Generators of uint16 streams with a known entropy rate and ideal top-1 accuracy, for tests, demos and benchmarks."""
import bisect
import dataclasses
import inspect
import os
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
    """Fair k-sided die: i.i.d. uniform faces."""
    _check(1 <= k <= 65536, f"die needs 1 <= k <= 65536, got k={k}")
    return rng.integers(0, k, n), SourceInfo("die", dict(k=k), k, float(np.log2(k)), 1 / k)


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


def _lcg(n: int, rng: np.random.Generator, a: int = 25173, c: int = 13849,
         m: int = 65536) -> tuple[np.ndarray, SourceInfo]:
    """Linear congruential generator x_{t+1} = (a x_t + c) mod m: deterministic given the previous value."""
    _check(2 <= m <= 65536, f"lcg needs 2 <= m <= 65536 so values fit 16 bits, got m={m}")
    x = np.empty(n, dtype=np.int64)
    x[0] = rng.integers(0, m)
    length, mul, add = 1, a % m, c % m  # x[t + length] = (mul * x[t] + add) mod m
    while length < n:  # fill by doubling: one vectorised step per power of two
        step = min(length, n - length)
        x[length:length + step] = (mul * x[:step] + add) % m
        length, mul, add = length + step, mul * mul % m, (mul * add + add) % m
    return x, SourceInfo("lcg", dict(a=a, c=c, m=m), m, 0.0, 1.0)


def _lagged_add(n: int, rng: np.random.Generator, a: int = 5, b: int = 17,
                m: int = 65536) -> tuple[np.ndarray, SourceInfo]:
    """Additive lagged generator x_t = (x_{t-a} + x_{t-b}) mod m: deterministic given the previous b values.

    The defaults are the classic lagged Fibonacci pair (17, 5). The b seed values are random with the first one odd:
    with all of them even the lowest bit would stay 0 forever.
    """
    _check(1 <= a < b < 64 and 2 <= m <= 65536, f"lagged_add needs 1 <= a < b < 64 and 2 <= m <= 65536; "
                                                f"got a={a}, b={b}, m={m}")
    x = rng.integers(0, m, b).tolist() + [0] * n
    if m % 2 == 0:
        x[0] |= 1
    for t in range(b, n + b):  # sequential by nature: plain Python on lists, ~0.2 us/value
        x[t] = (x[t - a] + x[t - b]) % m
    return np.array(x[b:]), SourceInfo("lagged_add", dict(a=a, b=b, m=m), m, 0.0, 1.0)


GENERATORS = {"die": _die, "biased_die": _biased_die, "markov": _markov, "sticky": _sticky,
              "lagged_sum": _lagged_sum, "lcg": _lcg, "lagged_add": _lagged_add}


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
