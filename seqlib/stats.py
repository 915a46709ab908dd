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
    """Block-level test that the mean per-position difference a - b is > 0, with its effect size."""

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
        se, t, p = 0.0, (math.inf if effect > 0 else 0.0), (0.0 if effect > 0 else 1.0)
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
            raise StatsError(f"{name}: bits and hits must both have shape ({n},), got {o.bits.shape} and {o.hits.shape}")
        if not np.all(np.isfinite(o.bits)) or np.any(o.bits < 0):
            raise StatsError(f"{name}: bits must be finite and >= 0 (-log2 of a probability)")
    return checked


def _row(predictor: str, against: str, test: str, statistic: str, claim: Claim, p: float, passes: bool, used: bool,
         **extra: Any) -> dict[str, Any]:
    """One row of the verdict's table of tests: plain floats and lists only."""
    return {"comparison": f"{predictor} vs {against}", "predictor": predictor, "against": against, "test": test, "statistic": statistic, "p": p, "p_top1": claim.p_top1,
            "p_bits": claim.p_bits, "passes": passes, "used_in_verdict": used,
            "effect_bits": claim.bits.effect, "ci_bits": list(claim.bits.ci95), "ci_bits_alpha": list(claim.bits.ci),
            "effect_top1_points": 100 * claim.top1.effect, "ci_top1_points": [100 * x for x in claim.top1.ci95],
            "ci_top1_points_alpha": [100 * x for x in claim.top1.ci], **extra}


def verdict(outcomes: dict[str, Outcomes], blocks: np.ndarray, *, n_values: int, bits_per_value: float,
            alpha: float = 1e-3, model: str | None = "model", distinct_values: int | None = None,
            found: dict[str, str] | None = None, single_value: int | None = None) -> dict[str, Any]:
    """Is the stream predictable, by how much, and does the model add anything beyond the best other predictor?"""
    alpha, outcomes, found = _check_alpha(alpha), _check_outcomes(outcomes), found or {}
    if n_values < 1:
        raise StatsError(f"n_values must be >= 1 (values in the training block), got {n_values}")
    if model is not None and model not in outcomes:
        raise StatsError(f"no outcomes for the model {model!r}; pass model=None for baselines only")
    others = [name for name in outcomes if name != model]
    if not others:
        raise StatsError("verdict needs at least one predictor besides the model")
    n = len(outcomes[others[0]].bits)
    blocks = _check_blocks(blocks, n)
    chance_bits, p0 = math.log2(n_values), 1.0 / n_values
    summary = {name: {"bits": float(o.bits.mean()), "top1": float(o.hits.mean())} for name, o in outcomes.items()}
    min_entropy = {name: predictor_min_entropy(o.hits, n_values, bits_per_value) for name, o in outcomes.items()}
    lowest = min(min_entropy, key=lambda name: min_entropy[name]["h_min"])
    best = min(others, key=lambda name: summary[name]["bits"])
    n_windows = len(_block_sums(np.zeros(n), blocks)[1])
    result: dict[str, Any] = {
        "n": n, "blocks": n_windows, "alpha": alpha, "n_values": n_values,
        "chance_bits": chance_bits, "best_baseline": best, "model": model, "predictors": summary,
        "min_entropy": min_entropy, "min_entropy_bits": {name: e["h_min"] for name, e in min_entropy.items()},
        "min_entropy_lowest": {"predictor": lowest, **min_entropy[lowest]},
    }
    if distinct_values == 1 or n_values == 1:
        value = "" if single_value is None else f" ({single_value})"
        return {**result, "predictable": True, "model_beats_baselines": False, "explained_by": None,
                "text": f"deterministic: a single value{value} in the training block", "tests": [], "family": [],
                **dict.fromkeys(["p_model_vs_chance", "p_best_baseline_vs_chance", "p_model_vs_best_baseline",
                                 "gain_bits_vs_best_baseline", "gain_bits_vs_best_baseline_ci95",
                                 "gain_bits_vs_chance_ci95", "best_baseline_gain_bits_vs_chance_ci95",
                                 "detectable_top1_gain", "detectable_bits_gain"])}

    # the family tested against chance: every predictor but chance itself, Holm over it at alpha
    family = [name for name in outcomes if name != CHANCE]
    claims = {name: against_chance(outcomes[name], blocks, n_values, alpha) for name in {*family, best}}
    adjusted = holm({name: claims[name].p for name in family})
    passes = {name: adjusted[name] <= alpha for name in family}
    vs_model = {name: against(outcomes[model], outcomes[name], blocks, alpha) for name in others} if model else {}
    # the model adds something only if it beats chance (in the family) and the lowest-bits other predictor
    model_beats = model is not None and passes[model] and vs_model[best].p <= alpha
    explaining = [name for name in family if name != model and passes[name]]
    explained_by = min(explaining, key=lambda name: summary[name]["bits"]) if explaining else None

    level = alpha / (2 * max(1, len(family)))  # Holm's first step, Bonferroni over top-1 and bits
    reference = model or (min(family, key=lambda name: summary[name]["bits"]) if family else None)
    detect_top1 = detectable_top1_gain(p0, n, level) if p0 < 1 else None
    se = claims[reference].bits.se if reference else 0.0
    detect_bits = detectable_bits_gain(se, n_windows - 1, level) if se > 0 else None

    tests = []
    for name in family:
        c = claims[name]
        tests.append(_row(
            name, CHANCE_LEVEL, f"top-1: exact binomial; bits: window t; Bonferroni over the two, Holm over "
            f"{len(family)}", f"{int(outcomes[name].hits.sum()):,} hits of {n:,} ({n * p0:,.1f} by chance); "
            f"bits t = {c.bits.t:.2f} on {c.bits.df} df", c, adjusted[name], passes[name], True))
    for name, c in vs_model.items():
        p_mc, b, cc = mcnemar(outcomes[model].hits, outcomes[name].hits)
        tests.append(_row(
            model, name, "top-1 and bits: window t; Bonferroni over the two",
            f"top-1 t = {c.top1.t:.2f}, bits t = {c.bits.t:.2f} on {c.bits.df} df; McNemar b = {b:,}, c = {cc:,}",
            c, c.p, c.p <= alpha, name == best, mcnemar_p=p_mc))

    def numbers(name: str) -> str:
        """A predictor's bits and top-1, as the text quotes them."""
        return f"{summary[name]['bits']:.4f} bits/value (top-1 {summary[name]['top1']:.2%})"

    chance_text = f"{chance_bits:.4f} (top-1 {p0:.2%}) for chance"
    holm_text = f"Holm over {len(family)}"
    if model:
        g = vs_model[best]
        versus_best = (f"{g.bits.effect:+.4f} bits/value [95% CI {_interval(g.bits.ci95)}] and "
                       f"{100 * g.top1.effect:+.2f} points of top-1 [95% CI {_interval([100 * x for x in g.top1.ci95], 2)}] "
                       f"over {best} ({format_p(g.p)})")
    if model_beats:
        others_text = f"{numbers(best)} for the best other predictor ({best})"
        others_text += "" if best == CHANCE else f" and {chance_text}"
        text = (f"predictable: the model reaches {numbers(model)} against {others_text}; it gains {versus_best}; vs chance {format_p(adjusted[model])}, "
                f"{holm_text}")
    elif explained_by:
        reason = found.get(explained_by, "simple statistics explain it").rstrip(".")
        text = (f"predictable, and {reason}: {explained_by} reaches {numbers(explained_by)} against {chance_text} "
                f"({format_p(adjusted[explained_by])}, {holm_text})")
        if model:
            text += f"; the model ({numbers(model)}) adds no significant gain: {versus_best}"
    elif model and passes[model]:
        text = (f"predictable: the model reaches {numbers(model)} against {chance_text} ({format_p(adjusted[model])}, "
                f"{holm_text}), no simple statistic does, but its gain over the best other predictor is not "
                f"significant: {versus_best}")
    else:
        closest = reference or best
        p_closest = format_p(adjusted[closest]) if closest in adjusted else "not tested"
        bits_text = "" if detect_bits is None else f" or ≈ {detect_bits:.4f} bits/value"
        top1_text = "no top-1 gain" if detect_top1 is None else f"≈ {100 * detect_top1:.2f} points of top-1 accuracy"
        text = (f"no structure found at this sample size: {closest} reaches {numbers(closest)} against {chance_text} "
                f"({p_closest}, {holm_text}; n = {n:,} in {n_windows:,} windows); smallest effect this test "
                f"could detect {top1_text}{bits_text} (80% power at alpha/{2 * max(1, len(family))})")

    return {
        **result, "predictable": bool(model_beats or any(passes.values())), "model_beats_baselines": bool(model_beats),
        "explained_by": explained_by, "text": text, "family": family, "tests": tests,
        "p_model_vs_chance": adjusted[model] if model else None,
        "p_best_baseline_vs_chance": adjusted.get(best, 1.0),  # chance does not beat itself
        "p_model_vs_best_baseline": vs_model[best].p if model else None,
        "gain_bits_vs_best_baseline": vs_model[best].bits.effect if model else None,
        "gain_bits_vs_best_baseline_ci95": list(vs_model[best].bits.ci95) if model else None,
        "gain_bits_vs_chance_ci95": list(claims[model].bits.ci95) if model else None,
        "best_baseline_gain_bits_vs_chance_ci95": list(claims[best].bits.ci95),
        "detectable_top1_gain": detect_top1, "detectable_bits_gain": detect_bits,
    }


def evidence_table(v: dict[str, Any]) -> pd.DataFrame:
    """One row per predictor, p-values as bounds and intervals as ranges: the verdict for readers who do not code."""
    rows_by = {(row["predictor"], row["against"]): row for row in v["tests"]}
    table = []
    for name, s in v["predictors"].items():
        chance, versus = rows_by.get((name, CHANCE_LEVEL)), rows_by.get((v["model"], name))
        table.append({
            "predictor": name, "bits/value": s["bits"], "top-1": f"{s['top1']:.2%}",
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
