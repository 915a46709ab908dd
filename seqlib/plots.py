"""Matplotlib figures of a stream, a training history (history.csv), an evaluation (eval.json) and one prediction.

Every function returns a new matplotlib Figure and never touches pyplot's state or the backend: show it by returning
it from a notebook cell, or save it with fig.savefig(path).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .explore import value_counts

MODEL, TRUTH, CORRECT, WRONG = "tab:blue", "tab:green", "tab:green", "tab:red"
TOPK_COLORS = {1: "tab:blue", 3: "tab:orange", 5: "tab:purple"}
MAX_BARS = 1024  # more tokens than this are drawn as one filled outline


def _figure(ncols: int = 1, nrows: int = 1, width: float = 6.0, height: float = 3.6) -> tuple[Figure, np.ndarray]:
    """A constrained-layout figure and its axes as a flat array."""
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    return fig, np.atleast_1d(fig.subplots(nrows, ncols)).ravel()


def _head(result: dict, head: int) -> dict:
    """The model's metrics for one head (1-based) of an eval.json result."""
    heads = result["model"]["heads"]
    if not 1 <= head <= len(heads):
        raise ValueError(f"head {head} does not exist: this evaluation has heads 1..{len(heads)}")
    return heads[head - 1]


def value_histogram(sample: np.ndarray, max_bars: int = 64, bins: int = 128) -> Figure:
    """How often each value occurs: one bar per value when there are few distinct values, else a histogram."""
    counts = value_counts(sample)
    present = np.flatnonzero(counts)
    fig, (ax,) = _figure()
    if len(present) <= max_bars:
        share = counts[present] / counts.sum()
        ax.bar([str(v) for v in present], share, color=MODEL)
        ax.axhline(1 / len(present), color="black", ls="--", lw=1, label=f"uniform over {len(present)} values")
        ax.legend(loc="lower right")
        if len(present) > 20:
            ax.tick_params(axis="x", labelrotation=90, labelsize=7)
    else:
        ax.hist(present, bins=bins, weights=counts[present] / counts.sum(), color=MODEL)
    ax.set(xlabel="value", ylabel="share of the sample",
           title=f"Value histogram ({len(present):,} distinct values in {counts.sum():,} sampled)")
    return fig


def lag_plot(sample: np.ndarray, lags: tuple[int, ...] = (1, 2, 3), bins: int = 64) -> Figure:
    """Joint histograms of (x_t, x_{t+lag}): any pattern other than an even grey square is structure."""
    rows = np.atleast_2d(sample)
    lo, hi = int(rows.min()), int(rows.max())
    edges = np.linspace(lo - 0.5, hi + 0.5, min(bins, hi - lo + 1) + 1)
    fig, axes = _figure(ncols=len(lags), width=3.4, height=3.4)
    for ax, lag in zip(axes, lags):
        joint, _, _ = np.histogram2d(rows[:, :-lag].ravel(), rows[:, lag:].ravel(), bins=[edges, edges])
        ax.imshow(joint.T / joint.sum(), origin="lower", extent=(edges[0], edges[-1], edges[0], edges[-1]),
                  cmap="Greys", vmin=0, aspect="auto", interpolation="nearest")
        ax.set(xlabel="$x_t$", ylabel=f"$x_{{t+{lag}}}$", title=f"lag {lag}")
    fig.suptitle("Lag plots: how often value pairs occur")
    return fig


def autocorrelation_plot(acf: pd.DataFrame, n_pairs: int | None = None) -> Figure:
    """Autocorrelation at each lag, with the ±2/sqrt(n) band expected from an independent stream."""
    fig, (ax,) = _figure(height=3.0)
    ax.vlines(acf["lag"], 0, acf["autocorrelation"], color=MODEL, lw=2)
    ax.axhline(0, color="black", lw=0.8)
    if n_pairs:
        band = 2 / math.sqrt(n_pairs)
        ax.axhspan(-band, band, color="grey", alpha=0.2, label="±2/√n: noise level of an independent stream")
        ax.legend(loc="upper right")
    ax.set(xlabel="lag", ylabel="autocorrelation", title="Autocorrelation of the values")
    return fig


def entropy_estimates(table: pd.DataFrame, max_bits: float | None = None, entropy_rate: float | None = None) -> Figure:
    """Block entropy per value and conditional entropy against k, with the chance and true-rate levels."""
    fig, (ax,) = _figure(height=3.2)
    ax.plot(table["k"], table["bits_per_value"], "o-", label="H(X_1..X_k) / k")
    ax.plot(table["k"], table["conditional_bits"], "s-", label="H(X_k | X_1..X_{k-1})")
    if max_bits is not None:
        ax.axhline(max_bits, color="black", ls="--", lw=1, label=f"uniform: {max_bits:.2f} bits")
    if entropy_rate is not None:
        ax.axhline(entropy_rate, color=TRUTH, ls=":", lw=1.5, label=f"true entropy rate: {entropy_rate:.2f} bits")
    ax.set(xlabel="k (values of context + 1)", ylabel="bits per value", xticks=list(table["k"]),
           title="Entropy estimates from k-gram counts", ylim=(0, None))
    ax.legend(loc="lower left", fontsize=8)
    return fig


def linear_complexity(scan) -> Figure:
    """Linear complexity L of each bit plane (a linear.LinearScan) against n/2, what a random plane of n bits has."""
    fig, (ax,) = _figure(height=3.6)
    planes = [p.plane for p in scan.planes]
    L = np.array([max(p.L, 1) for p in scan.planes])
    half = np.array([p.bits_used / 2 for p in scan.planes])
    colors = [CORRECT if p.linear else "grey" for p in scan.planes]
    ax.bar(planes, L, color=colors, label="L found (green: linear, confirmed and tested)")
    ax.plot(planes, half, "k_", ms=14, mew=2, label="n / 2: a random plane of the n bits read")
    ax.set_yscale("log")
    ax.set(xlabel="bit plane (0 = lowest bit)", ylabel="linear complexity L", xticks=planes,
           title="Linear complexity of each bit plane over GF(2)")
    fig.legend(loc="outside lower center", ncols=2, fontsize=8)
    return fig


def bin_occupancy(tokenizer, sample: np.ndarray) -> Figure:
    """Share of the sample in each token of a tokenizer: empty or crowded tokens waste or lose resolution."""
    counts = np.bincount(tokenizer.encode(np.asarray(sample).ravel()), minlength=tokenizer.vocab_size)
    share = counts[: tokenizer.vocab_size] / counts.sum()
    fig, (ax,) = _figure(height=3.2)
    if len(share) <= MAX_BARS:
        ax.bar(np.arange(len(share)), share, width=1.0, color=MODEL)
    else:  # one outline for many tokens (65,536 for bytes16): fast to draw
        ax.stairs(share, np.arange(len(share) + 1) - 0.5, fill=True, color=MODEL)
    ax.axhline(1 / tokenizer.n_values, color="black", ls="--", lw=1, label="equal occupancy")
    empty = int((share[: tokenizer.n_values] == 0).sum())
    ax.set(xlabel="token", ylabel="share of the sample", ylim=(0, 1.3 * max(share.max(), 1 / tokenizer.n_values)),
           title=f"{tokenizer.kind} tokenizer: {tokenizer.n_values:,} value tokens, {empty:,} empty")
    if tokenizer.n_values <= 32:
        ax.set_xticks(range(len(share)), [tokenizer.label(t) for t in range(len(share))], rotation=90, fontsize=7)
    ax.legend(loc="upper right")
    return fig


def _draw_loss(ax: Axes, history: pd.DataFrame, entropy_rate: float | None, chance_bits: float | None) -> None:
    ax.plot(history["step"], history["train_loss_bits"], label="train")
    ax.plot(history["step"], history["val_loss_bits"], "o-", ms=3, label="validation")
    if chance_bits is not None:
        ax.axhline(chance_bits, color="black", ls="--", lw=1, label=f"chance: {chance_bits:.2f}")
    if entropy_rate is not None:
        ax.axhline(entropy_rate, color=TRUTH, ls=":", lw=1.5, label=f"entropy rate: {entropy_rate:.2f}")
    pooled = "val_loss_bits_h2" in history  # with several heads the loss is their mean
    ax.set(xlabel="step", ylabel="bits per value", title="Loss, mean over heads" if pooled else "Loss (cross-entropy)")
    ax.legend(loc="best", fontsize=8)


def _draw_topk(ax: Axes, history: pd.DataFrame, n_values: int | None) -> None:
    for k, color in TOPK_COLORS.items():
        column = f"val_top{k}"
        if column in history:
            ax.plot(history["step"], history[column], "o-", ms=3, color=color, label=f"top-{k}")
            if n_values:
                ax.axhline(min(1.0, k / n_values), color=color, ls="--", lw=0.8)
    ax.set(xlabel="step", ylabel="validation accuracy", ylim=(0, 1.02),
           title="Top-k accuracy, head 1" + (" (dashed: chance)" if n_values else ""))
    ax.legend(loc="lower right", fontsize=8)


def loss_curves(history: pd.DataFrame, entropy_rate: float | None = None, chance_bits: float | None = None) -> Figure:
    """Train and validation bits per value against step, with the chance level and the source's entropy rate."""
    fig, (ax,) = _figure()
    _draw_loss(ax, history, entropy_rate, chance_bits)
    return fig


def topk_curves(history: pd.DataFrame, n_values: int | None = None) -> Figure:
    """Validation top-1/3/5 accuracy against step, with chance (k / n_values) dashed."""
    fig, (ax,) = _figure()
    _draw_topk(ax, history, n_values)
    return fig


def training_curves(history: pd.DataFrame, entropy_rate: float | None = None, n_values: int | None = None) -> Figure:
    """Loss and top-k accuracy side by side (the live plot of a training run)."""
    fig, (left, right) = _figure(ncols=2, width=5.0)
    _draw_loss(left, history, entropy_rate, math.log2(n_values) if n_values else None)
    _draw_topk(right, history, n_values)
    return fig


def _predictors(result: dict) -> dict[str, dict]:
    return {"model": result["model"], **result["baselines"]}


def per_head_bars(result: dict) -> Figure:
    """Top-1 accuracy and bits per value of the model and every baseline, one group of bars per head."""
    predictors = _predictors(result)
    heads = len(result["model"]["heads"])
    width = 0.8 / len(predictors)
    fig, axes = _figure(ncols=2, width=max(4.5, 1.5 * heads + 2.5))
    for ax, key, label in zip(axes, ["top1", "ce_bits"], ["top-1 accuracy", "bits per value"]):
        for i, (name, r) in enumerate(predictors.items()):
            x = np.arange(heads) + (i - (len(predictors) - 1) / 2) * width
            ax.bar(x, [h[key] for h in r["heads"]], width, label=name,
                   color=MODEL if name == "model" else f"C{i + 1}")
        ax.set(xticks=range(heads), xticklabels=[f"head {h + 1}" for h in range(heads)], ylabel=label, title=label)
    axes[0].legend(fontsize=8, loc="upper right")
    fig.suptitle("Model and baselines per head (head h predicts h values ahead)")
    return fig


def _draw_reliability(ax: Axes, head: dict) -> None:
    rel = pd.DataFrame(head["reliability"])
    rel = rel[rel["count"] > 0]
    ax.plot([0, 1], [0, 1], color="black", ls="--", lw=1, label="perfect calibration")
    ax.bar(rel["lo"], rel["accuracy"], width=rel["hi"] - rel["lo"], align="edge", alpha=0.6, color=MODEL,
           edgecolor="white", label="accuracy in bin")
    ax.plot(rel["confidence"], rel["accuracy"], "o", color="black", ms=3)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence (top-1 probability)", ylabel="accuracy",
           title=f"Reliability, head {head['head']} (ECE {head['ece']:.3f})")
    ax.legend(loc="upper left", fontsize=8)


def reliability_diagram(result: dict, head: int = 1) -> Figure:
    """Accuracy against confidence per confidence bin: bars on the diagonal mean honest probabilities."""
    fig, (ax,) = _figure(width=4.6, height=4.2)
    _draw_reliability(ax, _head(result, head))
    return fig


def _correct_wrong(ax: Axes, hist: dict, xlabel: str, density: bool) -> None:
    edges = np.asarray(hist["edges"])
    for key, color in (("correct", CORRECT), ("wrong", WRONG)):
        counts = np.asarray(hist[key], dtype=np.float64)
        total = counts.sum()
        weights = counts / total if density and total else counts
        ax.stairs(weights, edges, color=color, fill=True, alpha=0.45, label=f"{key} ({total:,.0f})")
    ax.set(xlabel=xlabel, ylabel="share of group" if density else "predictions")
    ax.legend(fontsize=8)


def confidence_histograms(result: dict, head: int = 1, density: bool = True) -> Figure:
    """Confidence and entropy of correct vs wrong top-1 predictions: apart means the model knows when it knows."""
    h = _head(result, head)
    fig, (left, right) = _figure(ncols=2, width=4.8)
    _correct_wrong(left, h["confidence_hist"], "confidence (top-1 probability)", density)
    _correct_wrong(right, h["entropy_hist"], "entropy of the prediction (bits)", density)
    left.set_title("Confidence")
    right.set_title("Entropy")
    fig.suptitle(f"Correct vs wrong predictions, head {h['head']}")
    return fig


def accuracy_by_confidence(result: dict, head: int = 1) -> Figure:
    """Top-1 accuracy in each confidence bin, with how many predictions fell in it."""
    h = _head(result, head)
    rel = pd.DataFrame(h["reliability"])
    rel = rel[rel["count"] > 0]
    labels = [f"{lo:.2f}–{hi:.2f}" for lo, hi in zip(rel["lo"], rel["hi"])]
    fig, (ax,) = _figure(width=max(5.0, 0.45 * len(rel) + 2))
    bars = ax.bar(labels, rel["accuracy"], color=MODEL, label="accuracy")
    ax.plot(labels, rel["confidence"], "o", color="black", ms=4, label="mean confidence")
    ax.bar_label(bars, labels=[f"{c:,}" for c in rel["count"]], fontsize=7, padding=2)
    ax.set(ylim=(0, 1.3), xlabel="confidence bin", ylabel="top-1 accuracy",
           title=f"Accuracy by confidence, head {h['head']} (numbers: predictions per bin)")
    ax.tick_params(axis="x", labelrotation=60, labelsize=7)
    ax.legend(loc="upper left", fontsize=8, ncols=2)
    return fig


def _draw_prediction(ax: Axes, rows: pd.DataFrame) -> None:
    rows = rows.sort_values("rank")
    first = rows.iloc[0]
    colors = [TRUTH if t else MODEL for t in rows["is_true"]]
    ax.barh(rows["value"].astype(str), rows["probability"], color=colors)
    ax.invert_yaxis()
    ax.set(xlim=(0, 1), xlabel="probability", ylabel="predicted value")
    truth = first["true_value"]
    if truth is None or pd.isna(truth):
        title = f"value at {first['position']}: not in the file"
    elif rows["is_true"].any():
        title = f"value at {first['position']}: true {int(truth)} (green, rank {int(first['true_rank'])})"
    else:
        title = f"value at {first['position']}: true {int(truth)} at rank {int(first['true_rank'])}, not shown"
    ax.set_title(title, fontsize=10)


def prediction_bars(table: pd.DataFrame, head: int = 1) -> Figure:
    """Top-k candidates of one prediction (a predict_at table) with their probabilities; the true value in green."""
    rows = table[table["head"] == head]
    if rows.empty:
        raise ValueError(f"the prediction table has no head {head}; choose one of {sorted(table['head'].unique())}")
    fig, (ax,) = _figure(width=5.0, height=0.3 * len(rows) + 1.4)
    _draw_prediction(ax, rows)
    return fig


def context_and_prediction(context: np.ndarray, start: int, table: pd.DataFrame, head: int = 1) -> Figure:
    """The values before a position (left) and the top-k prediction of the value there (right)."""
    rows = table[table["head"] == head]
    fig = Figure(figsize=(11, 3.4), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[1.6, 1])
    positions = np.arange(start, start + len(context))
    left.plot(positions, context, "o-", ms=3, color="grey", label="context")
    first = rows.iloc[0]
    if first["true_value"] is not None and not pd.isna(first["true_value"]):
        left.plot([first["position"]], [first["true_value"]], "o", color=TRUTH, ms=7, label="true next value")
    best = rows.sort_values("rank").iloc[0]
    left.plot([first["position"]], [(best["lo"] + best["hi"]) / 2], "x", color=WRONG if not best["is_true"] else TRUTH,
              ms=9, mew=2, label="top-1 prediction")
    left.set(xlabel="position in the file", ylabel="value", title=f"The last {len(context)} values of context")
    left.ticklabel_format(axis="x", style="plain", useOffset=False)
    left.legend(fontsize=8, loc="upper left")
    _draw_prediction(right, rows)
    return fig


def _draw_comparison(ax: Axes, result: dict, key: str, title: str, entropy_rate: float | None) -> None:
    predictors = _predictors(result)
    names, values = list(predictors), [r["heads"][0][key] for r in predictors.values()]
    bars = ax.barh(names, values, color=[MODEL if n == "model" else "lightgrey" for n in names])
    ax.bar_label(bars, labels=[f"{v:.3f}" if key == "ce_bits" else f"{v:.1%}" for v in values], fontsize=8, padding=2)
    if entropy_rate is not None and key == "ce_bits":
        ax.axvline(entropy_rate, color=TRUTH, ls=":", lw=1.5, label=f"entropy rate {entropy_rate:.2f}")
        ax.legend(fontsize=8, loc="best")  # the bars' value labels end where the longest bars do
    ax.invert_yaxis()
    ax.set(title=title)
    ax.margins(x=0.2)


def key_figures(history: pd.DataFrame, result: dict, entropy_rate: float | None = None) -> Figure:
    """Four panels for the README: loss curves, bits and top-1 against the baselines, reliability."""
    n_values = result["tokenizer"]["n_values"]
    fig, axes = _figure(ncols=2, nrows=2, width=5.2, height=3.6)
    _draw_loss(axes[0], history, entropy_rate, math.log2(n_values))
    _draw_comparison(axes[1], result, "ce_bits", "Held-out bits per value (lower is better)", entropy_rate)
    _draw_comparison(axes[2], result, "top1", "Held-out top-1 accuracy (higher is better)", None)
    _draw_reliability(axes[3], _head(result, 1))
    fig.suptitle(result["verdict"]["text"].split(":")[0].capitalize() + f" — {result['verdict']['n']:,} held-out "
                 "predictions", fontsize=12, fontweight="bold")
    return fig


def run_comparison(histories: dict[str, pd.DataFrame], current: str | None = None,
                   entropy_rate: float | None = None, chance_bits: float | None = None) -> Figure:
    """Validation bits per value of several runs against step and against training time; `current` drawn bold."""
    fig, (by_step, by_time) = _figure(ncols=2, width=5.2)
    for i, (name, history) in enumerate(histories.items()):
        bold = name == current
        style = dict(color=MODEL if bold else f"C{i % 9 + 1}", lw=2.2 if bold else 1.1, alpha=1.0 if bold else 0.8,
                     zorder=3 if bold else 2, label=f"{name}{' (this run)' if bold else ''}: best "
                                                    f"{history['val_loss_bits'].min():.4f}")
        by_step.plot(history["step"], history["val_loss_bits"], **style)
        by_time.plot(history["elapsed_s"], history["val_loss_bits"], **style)
    for ax in (by_step, by_time):
        if chance_bits is not None:
            ax.axhline(chance_bits, color="black", ls="--", lw=1, label=f"chance: {chance_bits:.2f}")
        if entropy_rate is not None:
            ax.axhline(entropy_rate, color=TRUTH, ls=":", lw=1.5, label=f"entropy rate: {entropy_rate:.2f}")
        ax.set(ylabel="validation bits per value")
    by_step.set(xlabel="step", title="Validation loss by step")
    by_time.set(xlabel="training time (s)", title="Validation loss by time")
    by_step.legend(loc="best", fontsize=8)
    return fig
