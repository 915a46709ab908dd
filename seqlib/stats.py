"""Every statistic behind the verdict: paired and one-sample tests, multiplicity, SP 800-90B min-entropy, the verdict.

Positions inside one scored window share context and are dependent; windows do not overlap, so every test that is
not exact under its null hypothesis treats windows as the independent units. docs/statistics.md states each choice.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .errors import SeqlibError

CHANCE = "chance"  # the uniform predictor: the reference of the tests against chance, not itself tested
CHANCE_LEVEL = "chance level"  # what one-sample tests compare with: log2(n_values) bits, top-1 1 / n_values
Z_NIST = 2.5758293035489008  # SP 800-90B's 2.576 (the 99.5% normal quantile) to the NIST reference tool's digits
RUN_LEVEL = 0.99  # SP 800-90B: P_local is the p at which no run longer than the observed one occurs w.p. 0.99
X_ITER = 66  # fixed-point steps for x in P_local's equation, as the reference tool (it stops earlier on convergence)
POWER = 0.8  # power at which the smallest detectable effect is stated


class StatsError(SeqlibError):
    """Inputs the statistics cannot use."""


@dataclass(frozen=True)
class Outcomes:
    """One predictor on the scored positions, in file order."""

    bits: np.ndarray  # float64 (n,): -log2 P(true value)
    hits: np.ndarray  # bool (n,): the single top-1 guess was right


@dataclass(frozen=True)
class Comparison:
    """Window-level test that the mean per-position difference a - b is > 0, with its effect size."""

    effect: float  # mean of a - b per position
    se: float  # its standard error over windows
    ci: tuple[float, float]  # two-sided 1 - alpha interval
    ci95: tuple[float, float]
    t: float
    df: int
    p: float  # one-sided
    alpha: float


@dataclass(frozen=True)
class Claim:
    """The claim "A beats B": a top-1 test and a bits test; it passes when either passes at alpha / 2."""

    p_top1: float
    p_bits: float
    top1: Comparison  # effect in top-1 rate (fraction)
    bits: Comparison  # effect in bits saved per value

    @property
    def p(self) -> float:
        """The claim's p-value: Bonferroni over its two tests."""
        return min(1.0, 2 * min(self.p_top1, self.p_bits))


def _check_alpha(alpha: float) -> float:
    """alpha as a float in (0, 1)."""
    if not 0 < alpha < 1:
        raise StatsError(f"alpha must be in (0, 1), got {alpha}; pass e.g. 1e-3")
    return float(alpha)


def _check_blocks(blocks: np.ndarray, n: int) -> np.ndarray:
    """Window ids as a non-decreasing 1-D integer array of length n with at least two windows."""
    blocks = np.asarray(blocks)
    if blocks.shape != (n,) or not np.issubdtype(blocks.dtype, np.integer):
        raise StatsError(f"blocks must be {n} integer window ids, got shape {blocks.shape} of {blocks.dtype}")
    if np.any(np.diff(blocks) < 0):
        raise StatsError("blocks must be non-decreasing (positions in file order, one id per window)")
    if n == 0 or blocks[0] == blocks[-1]:
        raise StatsError(f"the tests need at least 2 windows, got {len(np.unique(blocks))}; score more windows")
    return blocks


def _block_sums(x: np.ndarray, blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-window totals of x and window sizes (a window is a run of equal ids)."""
    starts = np.flatnonzero(np.r_[True, blocks[1:] != blocks[:-1]])
    return np.add.reduceat(x, starts), np.diff(np.r_[starts, len(blocks)])


def binomial_p(hits: int, n: int, p0: float) -> float:
    """One-sided exact binomial test: P(X >= hits) for X ~ Bin(n, p0)."""
    if not 0 <= hits <= n or not 0 <= p0 <= 1:
        raise StatsError(f"binomial_p needs 0 <= hits <= n and p0 in [0, 1], got {hits}, {n}, {p0}")
    return float(stats.binom.sf(hits - 1, n, p0))


def mcnemar(a_hits: np.ndarray, b_hits: np.ndarray) -> tuple[float, int, int]:
    """Exact one-sided McNemar test that A is right more often than B: (p, b, c), p = P(Bin(b + c, 1/2) >= b).

    Exact only if the discordant pairs are independent; within a window they are not, so the verdict uses
    paired_blocks and reports this for reference.
    """
    a, b = np.asarray(a_hits, bool), np.asarray(b_hits, bool)
    if a.shape != b.shape:
        raise StatsError(f"mcnemar needs outcomes on the same positions, got shapes {a.shape} and {b.shape}")
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    return (1.0 if only_a + only_b == 0 else binomial_p(only_a, only_a + only_b, 0.5)), only_a, only_b


def paired_blocks(a: np.ndarray, b: np.ndarray | float, blocks: np.ndarray, alpha: float) -> Comparison:
    """One-sided test that mean(a - b) per position is > 0, windows as the independent units (b may be a constant).

    The effect sum(d) / n is a ratio estimator over windows; its variance is the linearised (delta-method) one,
    sum_j (D_j - effect * n_j)^2 / n^2, times m / (m - 1), referred to Student's t on m - 1 degrees of freedom. With
    equal windows this is exactly the one-sample t test on the window means.
    """
    alpha = _check_alpha(alpha)
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    if d.ndim != 1 or not np.all(np.isfinite(d)):
        raise StatsError(f"paired_blocks needs finite per-position values, got shape {d.shape}")
    totals, sizes = _block_sums(d, _check_blocks(blocks, len(d)))
    m, n = len(sizes), len(d)
    effect = float(totals.sum() / n)
    resid = totals - effect * sizes
    se = math.sqrt(m / (m - 1) * float(resid @ resid)) / n
    # rounding leaves ~1e-16 of spread when every window has the same mean: that is no spread at all
    if se <= 1e-12 * max(1.0, float(np.abs(d).max())):
        se, t, p = 0.0, (math.copysign(math.inf, effect) if effect else 0.0), (0.0 if effect > 0 else 1.0)
    else:
        t = effect / se
        p = float(stats.t.sf(t, m - 1))
    half = float(stats.t.ppf(1 - alpha / 2, m - 1)) * se
    half95 = float(stats.t.ppf(0.975, m - 1)) * se
    return Comparison(effect, se, (effect - half, effect + half), (effect - half95, effect + half95), float(t), m - 1,
                      p, alpha)


def against_chance(o: Outcomes, blocks: np.ndarray, n_values: int, alpha: float) -> Claim:
    """Does this predictor beat chance (uniform over n_values values)? Exact binomial on top-1, window t on bits."""
    p0 = 1.0 / n_values
    # exact under H0 "i.i.d. uniform": each guess depends on the past only, so it is right w.p. p0 independently
    p_top1 = binomial_p(int(o.hits.sum()), len(o.hits), p0)
    bits = paired_blocks(math.log2(n_values) - o.bits, 0.0, blocks, alpha)
    return Claim(p_top1, bits.p, paired_blocks(o.hits, p0, blocks, alpha), bits)


def against(a: Outcomes, b: Outcomes, blocks: np.ndarray, alpha: float) -> Claim:
    """Does A beat B on the same positions? Window t on the top-1 difference and on the bits A saves."""
    top1 = paired_blocks(a.hits, b.hits, blocks, alpha)
    bits = paired_blocks(b.bits, a.bits, blocks, alpha)  # b.bits - a.bits: the bits A saves
    return Claim(top1.p, bits.p, top1, bits)


def holm(p: dict[str, float]) -> dict[str, float]:
    """Holm–Bonferroni adjusted p-values: reject H_i at level alpha iff its adjusted p <= alpha (any dependence)."""
    adjusted, running = {}, 0.0
    for i, name in enumerate(sorted(p, key=p.__getitem__)):
        running = max(running, min(1.0, (len(p) - i) * p[name]))
        adjusted[name] = running
    return adjusted


def longest_run(hits: np.ndarray) -> int:
    """Length of the longest run of True."""
    edges = np.diff(np.r_[0, np.asarray(hits, np.int8), 0])
    return int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max(initial=0))


def _log_no_run(p: float, r: int, n: int) -> float:
    """log of SP 800-90B's (1 - p x) / ((r + 1 - r x) q) / x^(n + 1): P(no run of r successes in n trials).

    x is the root near 1 of x = 1 + q p^r x^(r + 1), found by the standard's fixed-point iteration from x = 1; it is
    carried as y = x - 1 so that (n + 1) log x keeps its digits when x is within 1e-16 of 1.
    """
    q = 1.0 - p
    log_c = math.log(q) + r * math.log(p)
    y = 0.0
    for _ in range(X_ITER):
        y_next = math.exp(log_c + (r + 1) * math.log1p(y))
        converged = y_next - y <= 2.0 ** -53 * y_next
        y = y_next
        if converged:
            break
    if q - p * y <= 0 or r * y >= 1:  # p above the run length's range: no run-free sequence is plausible
        return -math.inf
    return math.log(q - p * y) - math.log1p(-r * y) - math.log(q) - (n + 1) * math.log1p(y)


def _p_local(run: int, n: int) -> float:
    """SP 800-90B P_local: bisection for the p at which P(no run of run + 1 correct guesses in n) = 0.99."""
    if run >= n:  # every guess right: no p < 1 makes the observed run unlikely
        return 1.0
    target, lo, hi = math.log(RUN_LEVEL), 0.0, 1.0
    while True:  # the function falls with p; stop when the bracket holds adjacent doubles
        mid = (lo + hi) / 2
        if not lo < mid < hi:
            return mid
        value = _log_no_run(mid, run + 1, n)
        if value == target:
            return mid
        lo, hi = (mid, hi) if value > target else (lo, mid)


def predictor_min_entropy(hits: np.ndarray, n_values: int, bits_per_value: float) -> dict[str, Any]:
    """SP 800-90B 6.3.7-6.3.10 predictor estimate from top-1 outcomes: H_min = -log2(max(P'_global, P_local, 1/k)).

    Runs are counted over the positions as given (windows concatenated), which can only lengthen the longest run:
    P_local can only rise, the estimate only fall.
    """
    hits = np.asarray(hits, bool)
    n, correct = len(hits), int(hits.sum())
    if hits.ndim != 1 or n == 0 or n_values < 1 or bits_per_value <= 0:
        raise StatsError(f"predictor_min_entropy needs a non-empty 1-D hits array, n_values >= 1 and "
                         f"bits_per_value > 0, got shape {hits.shape}, {n_values}, {bits_per_value}")
    p_global = correct / n
    if correct == 0:
        upper = 1 - 0.01 ** (1 / n)
    elif correct == n:
        upper = 1.0
    else:
        upper = min(1.0, p_global + Z_NIST * math.sqrt(p_global * (1 - p_global) / (n - 1)))
    run = longest_run(hits)
    p_local = _p_local(run, n)
    h_min = -math.log2(max(upper, p_local, 1 / n_values)) + 0.0  # + 0.0: -0.0 reads as 0.0
    return {"p_global": p_global, "p_global_upper": upper, "longest_run": run, "p_local": p_local, "h_min": h_min,
            "h_min_per_bit": h_min / bits_per_value}


def detectable_top1_gain(p0: float, n: int, level: float, power: float = POWER) -> float | None:
    """Smallest top-1 gain over p0 that the exact binomial test at `level` finds with `power`; None if none can."""
    crit = int(stats.binom.isf(level, n, p0)) + 1  # reject when hits >= crit
    while crit > 0 and stats.binom.sf(crit - 2, n, p0) <= level:  # isf of a discrete law: make crit the smallest
        crit -= 1
    while crit <= n and stats.binom.sf(crit - 1, n, p0) > level:
        crit += 1
    if crit > n:
        return None
    p1 = optimize.brentq(lambda p: stats.binom.sf(crit - 1, n, p) - power, p0, 1.0, xtol=1e-12)
    return float(p1 - p0)


def detectable_bits_gain(se: float, df: int, level: float, power: float = POWER) -> float:
    """Smallest bits saving per value that a one-sided window t test at `level` finds with `power`, at this se."""
    return float((stats.t.ppf(1 - level, df) + stats.norm.ppf(power)) * se)


def format_p(p: float) -> str:
    """A p-value as text; underflow and values near 1 read as bounds."""
    if not 0 <= p <= 1:
        raise StatsError(f"a p-value must be in [0, 1], got {p}")
    if p < 1e-300:
        return "p < 1e-300"
    if p > 0.999:
        return "p > 0.999"
    return f"p = {p:.3g}" if p > 0.99 else f"p = {p:.2g}"


def _decimals(*x: float) -> int:
    """Decimals that show the largest of x to two significant digits, at least two (16-bit top-1 rates are ~0.002%)."""
    top = max(map(abs, x))
    return 2 if top == 0 else max(2, 1 - math.floor(math.log10(top)))


def _bit_decimals(*x: float) -> int:
    """Decimals for bits per value: four, or enough for two significant digits of tiny ones (two near-exact
    predictors differ by 1e-5 bits, which "0.0000" would hide)."""
    top = max(map(abs, x))
    return 4 if top == 0 else max(4, 1 - math.floor(math.log10(top)))


def _percent(rate: float) -> str:
    """A rate as a percentage."""
    return f"{100 * rate:.{_decimals(100 * rate)}f}%"


def _interval(ci: tuple[float, float] | list[float], digits: int = 4) -> str:
    """An interval as a range a reader can say aloud."""
    return f"{ci[0]:.{digits}f} to {ci[1]:.{digits}f}"


def _check_outcomes(outcomes: dict[str, Outcomes]) -> dict[str, Outcomes]:
    """Outcomes as float64 bits and bool hits, all finite and on the same number of positions."""
    if not outcomes:
        raise StatsError("verdict needs at least one predictor's outcomes")
    checked = {name: Outcomes(np.asarray(o.bits, np.float64), np.asarray(o.hits, bool)) for name, o in outcomes.items()}
    n = len(next(iter(checked.values())).bits)
    for name, o in checked.items():
        if o.bits.shape != (n,) or o.hits.shape != (n,):
            raise StatsError(f"{name}: bits and hits must both have shape ({n},), got {o.bits.shape} and "
                             f"{o.hits.shape}")
        if not np.all(np.isfinite(o.bits)) or np.any(o.bits < 0):
            raise StatsError(f"{name}: bits must be finite and >= 0 (-log2 of a probability)")
    return checked


@dataclass(frozen=True)
class _Tested:
    """Every claim behind one verdict, and the numbers its text quotes."""

    outcomes: dict[str, Outcomes]
    summary: dict[str, dict[str, float]]  # name -> mean bits and top-1
    n_values: int
    alpha: float
    model: str | None
    best: str  # the other predictor with the lowest bits
    family: list[str]  # tested against chance, Holm over them
    vs_chance: dict[str, Claim]  # the family, and best
    adjusted: dict[str, float]  # Holm-adjusted claim p-values of the family
    vs_model: dict[str, Claim]  # the model against every other predictor

    def passes(self, name: str) -> bool:
        """Does this predictor beat chance, after Holm over the family?"""
        return self.adjusted[name] <= self.alpha

    @property
    def model_beats(self) -> bool:
        """The model beats chance (in the family) and the lowest-bits other predictor (at alpha)."""
        return self.model is not None and self.passes(self.model) and self.vs_model[self.best].p <= self.alpha

    @property
    def explained_by(self) -> str | None:
        """The lowest-bits predictor other than the model that beats chance, if any."""
        names = [name for name in self.family if name != self.model and self.passes(name)]
        return min(names, key=lambda name: self.summary[name]["bits"]) if names else None


def _test_all(outcomes: dict[str, Outcomes], blocks: np.ndarray, n_values: int, alpha: float, model: str | None,
              summary: dict[str, dict[str, float]]) -> _Tested:
    """Every predictor but chance against chance (Holm over them), and the model against every other predictor."""
    others = [name for name in outcomes if name != model]
    best = min(others, key=lambda name: summary[name]["bits"])
    family = [name for name in outcomes if name != CHANCE]
    tested = dict.fromkeys([*family, best])  # best too, for its interval, even when it is chance
    vs_chance = {name: against_chance(outcomes[name], blocks, n_values, alpha) for name in tested}
    vs_model = {name: against(outcomes[model], outcomes[name], blocks, alpha) for name in others} if model else {}
    return _Tested(outcomes, summary, n_values, alpha, model, best, family, vs_chance,
                   holm({name: vs_chance[name].p for name in family}), vs_model)


def _row(predictor: str, against: str, test: str, statistic: str, claim: Claim, p: float, passes: bool, used: bool,
         **extra: Any) -> dict[str, Any]:
    """One row of the verdict's table of tests: plain floats and lists only."""
    return {"comparison": f"{predictor} vs {against}", "predictor": predictor, "against": against, "test": test,
            "statistic": statistic, "p": p, "p_top1": claim.p_top1, "p_bits": claim.p_bits, "passes": passes,
            "used_in_verdict": used, "effect_bits": claim.bits.effect, "ci_bits": list(claim.bits.ci95),
            "ci_bits_alpha": list(claim.bits.ci), "effect_top1_points": 100 * claim.top1.effect,
            "ci_top1_points": [100 * x for x in claim.top1.ci95],
            "ci_top1_points_alpha": [100 * x for x in claim.top1.ci], **extra}


def _rows(t: _Tested) -> list[dict[str, Any]]:
    """The table of tests: each family member against chance level, then the model against each other predictor."""
    rows = []
    for name in t.family:
        c, hits, n = t.vs_chance[name], int(t.outcomes[name].hits.sum()), len(t.outcomes[name].hits)
        rows.append(_row(name, CHANCE_LEVEL, f"top-1: exact binomial; bits: window t; Bonferroni over the two, "
                         f"Holm over {len(t.family)}", f"{hits:,} hits of {n:,} ({n / t.n_values:,.1f} by chance); "
                         f"bits t = {c.bits.t:.2f} on {c.bits.df} df", c, t.adjusted[name], t.passes(name), True))
    for name, c in t.vs_model.items():
        p_mcnemar, b, cc = mcnemar(t.outcomes[t.model].hits, t.outcomes[name].hits)
        rows.append(_row(t.model, name, "top-1 and bits: window t; Bonferroni over the two",
                         f"top-1 t = {c.top1.t:.2f}, bits t = {c.bits.t:.2f} on {c.bits.df} df; McNemar b = {b:,}, "
                         f"c = {cc:,}", c, c.p, c.p <= t.alpha, name == t.best, mcnemar_p=p_mcnemar))
    return rows


def _text(t: _Tested, found: dict[str, str], detect_top1: float | None, detect_bits: float | None,
          n_windows: int, binned: str | None = None) -> str:
    """The verdict in one paragraph: which branch, with the numbers behind it."""
    s, p0 = t.summary, 1 / t.n_values

    def numbers(name: str) -> str:
        """A predictor's bits and top-1, as the text quotes them."""
        return f"{s[name]['bits']:.{_bit_decimals(s[name]['bits'])}f} bits/value (top-1 {_percent(s[name]['top1'])})"

    chance = f"{math.log2(t.n_values):.4f} (top-1 {_percent(p0)}) for chance"
    holm_text = f"Holm over {len(t.family)}"
    if t.model:
        g = t.vs_model[t.best]
        points = [100 * x for x in (g.top1.effect, *g.top1.ci95)]
        digits = _decimals(*points)
        bit_digits = _bit_decimals(g.bits.effect, *g.bits.ci95)
        gain = (f"{g.bits.effect:+.{bit_digits}f} bits/value [95% CI {_interval(g.bits.ci95, bit_digits)}] and "
                f"{points[0]:+.{digits}f} "
                f"points of top-1 [95% CI {_interval(points[1:], digits)}] over {t.best} "
                f"({format_p(g.p)})")
    if t.model_beats:
        rivals = f"{numbers(t.best)} for the best other predictor ({t.best})"
        rivals += "" if t.best == CHANCE else f" and {chance}"
        # What a predictor found (a linear recurrence) stays in the verdict when the model, reading it, does better.
        behind = [name for name in t.family if name in found and name != t.model and t.passes(name)]
        reason = f", and {found[min(behind, key=lambda name: s[name]['bits'])].rstrip('.')};" if behind else ":"
        return (f"predictable{reason} the model reaches {numbers(t.model)} against {rivals}; it gains {gain}; vs "
                f"chance {format_p(t.adjusted[t.model])}, {holm_text}")
    if t.explained_by:
        reason = found.get(t.explained_by, "simple statistics explain it").rstrip(".")
        text = (f"predictable, and {reason}: {t.explained_by} reaches {numbers(t.explained_by)} against {chance} "
                f"({format_p(t.adjusted[t.explained_by])}, {holm_text})")
        return text + (f"; the model ({numbers(t.model)}) adds no significant gain: {gain}" if t.model else "")
    if t.model and t.passes(t.model):
        return (f"predictable: the model reaches {numbers(t.model)} against {chance} ({format_p(t.adjusted[t.model])}, "
                f"{holm_text}), no simple statistic does, but its gain over the best other predictor is not "
                f"significant: {gain}")
    closest = t.model or min(t.family or [t.best], key=lambda name: s[name]["bits"])
    p_closest = format_p(t.adjusted[closest]) if closest in t.adjusted else "not tested"
    top1 = "no top-1 gain" if detect_top1 is None else f"≈ {_percent(detect_top1)[:-1]} points of top-1 accuracy"
    bits = "" if detect_bits is None else f" or ≈ {detect_bits:.4f} bits/value"
    return (f"no structure found at this sample size: {closest} reaches {numbers(closest)} against {chance} "
            f"({p_closest}, {holm_text}; n = {len(t.outcomes[t.best].bits):,} in {n_windows:,} windows); smallest "
            f"effect this test could detect {top1}{bits} (80% power at alpha/{2 * max(1, len(t.family))})"
            # "No structure" is about what was scored: bins hide whatever lies inside them (a value's low bits).
            + (f"; what was scored is {binned}, so structure inside a bin is not tested" if binned else ""))


def verdict(outcomes: dict[str, Outcomes], blocks: np.ndarray, *, n_values: int, bits_per_value: float,
            alpha: float = 1e-3, model: str | None = "model", distinct_values: int | None = None,
            found: dict[str, str] | None = None, single_value: int | None = None,
            binned: str | None = None) -> dict[str, Any]:
    """Is the stream predictable, by how much, and does the model add anything beyond the best other predictor?

    binned: what the tokens are when they are bins of the values, not the values (e.g. "256 quantile bins of the
    values"); a verdict of no structure then says that it covers the bins only.
    """
    alpha, outcomes = _check_alpha(alpha), _check_outcomes(outcomes)
    if n_values < 1:
        raise StatsError(f"n_values must be >= 1 (values in the training block), got {n_values}")
    if model is not None and model not in outcomes:
        raise StatsError(f"no outcomes for the model {model!r}; pass model=None for baselines only")
    if model is not None and len(outcomes) < 2:
        raise StatsError("verdict needs at least one predictor besides the model")
    n = len(next(iter(outcomes.values())).bits)
    blocks = _check_blocks(blocks, n)
    n_windows = len(_block_sums(np.zeros(n), blocks)[1])
    summary = {name: {"bits": float(o.bits.mean()), "top1": float(o.hits.mean())} for name, o in outcomes.items()}
    min_entropy = {name: predictor_min_entropy(o.hits, n_values, bits_per_value) for name, o in outcomes.items()}
    lowest = min(min_entropy, key=lambda name: min_entropy[name]["h_min"])
    result: dict[str, Any] = {
        "n": n, "blocks": n_windows, "alpha": alpha, "n_values": n_values, "chance_bits": math.log2(n_values),
        "model": model, "predictors": summary, "min_entropy": min_entropy,
        "min_entropy_bits": {name: e["h_min"] for name, e in min_entropy.items()},
        "min_entropy_lowest": {"predictor": lowest, **min_entropy[lowest]},
        "best_baseline": min((name for name in outcomes if name != model), key=lambda name: summary[name]["bits"]),
    }
    if distinct_values == 1 or n_values == 1:  # nothing to test: every guess is right
        value = "" if single_value is None else f" ({single_value})"
        return {**result, "predictable": True, "model_beats_baselines": False, "explained_by": None, "family": [],
                "text": f"deterministic: a single value{value} in the training block", "tests": [],
                **dict.fromkeys(["p_model_vs_chance", "p_best_baseline_vs_chance", "p_model_vs_best_baseline",
                                 "gain_bits_vs_best_baseline", "gain_bits_vs_best_baseline_ci95",
                                 "gain_bits_vs_chance_ci95", "best_baseline_gain_bits_vs_chance_ci95",
                                 "detectable_top1_gain", "detectable_bits_gain"])}

    t = _test_all(outcomes, blocks, n_values, alpha, model, summary)
    # the smallest per-test level: Holm's first step, Bonferroni over top-1 and bits
    level = alpha / (2 * max(1, len(t.family)))
    detect_top1 = detectable_top1_gain(1 / n_values, n, level)
    reference = model or (min(t.family, key=lambda name: summary[name]["bits"]) if t.family else t.best)
    se = t.vs_chance[reference].bits.se if reference in t.vs_chance else 0.0
    detect_bits = detectable_bits_gain(se, n_windows - 1, level) if se > 0 else None
    g = t.vs_model.get(t.best)
    return {
        **result, "predictable": bool(t.model_beats or any(map(t.passes, t.family))),
        "model_beats_baselines": bool(t.model_beats), "explained_by": t.explained_by,
        "text": _text(t, found or {}, detect_top1, detect_bits, n_windows, binned), "family": t.family,
        "tests": _rows(t),
        "p_model_vs_chance": t.adjusted[model] if model else None,
        "p_best_baseline_vs_chance": t.adjusted.get(t.best, 1.0),  # chance does not beat itself
        "p_model_vs_best_baseline": g.p if g else None,
        "gain_bits_vs_best_baseline": g.bits.effect if g else None,
        "gain_bits_vs_best_baseline_ci95": list(g.bits.ci95) if g else None,
        "gain_bits_vs_chance_ci95": list(t.vs_chance[model].bits.ci95) if model else None,
        "best_baseline_gain_bits_vs_chance_ci95": list(t.vs_chance[t.best].bits.ci95),
        "detectable_top1_gain": detect_top1, "detectable_bits_gain": detect_bits,
    }


def evidence_table(v: dict[str, Any]) -> pd.DataFrame:
    """One row per predictor, p-values as bounds and intervals as ranges: the verdict for readers who do not code."""
    rows_by = {(row["predictor"], row["against"]): row for row in v["tests"]}
    table = []
    for name, s in v["predictors"].items():
        chance, versus = rows_by.get((name, CHANCE_LEVEL)), rows_by.get((v["model"], name))
        table.append({
            "predictor": name, "bits/value": s["bits"], "top-1": _percent(s["top1"]),
            "vs chance: p": format_p(chance["p"]) if chance else "—",
            "vs chance: bits saved/value (95% CI)": f"{chance['effect_bits']:.4f} ({_interval(chance['ci_bits'])})"
            if chance else "—",
            "beats chance": ("yes" if chance["passes"] else "no") if chance else "—",
            "model vs it: p": format_p(versus["p"]) if versus else "—",
            "model vs it: bits saved/value (95% CI)": f"{versus['effect_bits']:.4f} ({_interval(versus['ci_bits'])})"
            if versus else "—",
            "90B H_min/value": v["min_entropy_bits"][name],
        })
    return pd.DataFrame(table)
