"""Held-out evaluation: the model next to every baseline on the same positions, and a verdict with its statistics."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import stats
from tqdm.auto import tqdm

from .baselines import fit_baselines, fit_byte_baselines
from .checkpoint import RunPaths, load_model
from .data import U16Stream, eval_windows, gather, score_from
from .distributed import pick_device
from .metrics import ByteFactors, Metrics, ValueMetrics
from .runs import write_summary
from .train import amp_dtype

ALPHA = 1e-3  # significance level of every test behind a "predictable" verdict
FIT_MAX = 20_000_000  # values of the training block the baselines are fitted on (its end)
Z_NIST = 2.576  # the 99% upper bound of NIST SP 800-90B's predictor estimates


@dataclass
class Segment:
    """Windows scored together, and the part of the file their baselines are fitted on."""

    starts: np.ndarray
    fit_start: int
    fit_end: int


def binomial_p(hits: int, n: int, p0: float) -> float:
    """One-sided exact binomial test: P(X >= hits) for X ~ Bin(n, p0)."""
    return float(stats.binom.sf(hits - 1, n, min(max(p0, 0.0), 1.0)))


def min_entropy_bits(p_hat: float, n: int, n_values: int) -> float:
    """NIST SP 800-90B style: H_min = -log2(max(p', 1/V)) with p' the 99% upper bound of the top-1 rate."""
    p_upper = min(1.0, p_hat + Z_NIST * math.sqrt(p_hat * (1 - p_hat) / max(1, n - 1)))
    return -math.log2(max(p_upper, 1.0 / n_values))


def detectable_gain(p0: float, n: int, power: float = 0.8) -> float:
    """Smallest top-1 gain over p0 that the binomial test at ALPHA finds with the given power."""
    z = stats.norm.ppf(1 - ALPHA) + stats.norm.ppf(power)
    return float(z * math.sqrt(max(p0 * (1 - p0), 1e-12) / max(1, n)))


def format_p(p: float) -> str:
    """A p-value as text; underflow reads as a bound, never as zero."""
    return "p < 1e-300" if p < 1e-300 else f"p = {p:.2g}"


def bootstrap_ci(diff: np.ndarray, counts: np.ndarray, n_boot: int = 2000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Confidence interval of sum(diff)/sum(counts), resampling whole windows (positions within one are dependent)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(diff), size=(n_boot, len(diff)))
    means = diff[idx].sum(1) / counts[idx].sum(1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def _segments(stream: U16Stream, state: dict, seq_len: int, heads: int, max_windows: int) -> tuple[str, list[Segment]]:
    """The held-out block when this is the training file; else the whole file, baselines cross-fitted on halves."""
    split = state["split"]
    if stream.fingerprint == split["fingerprint"]:
        starts = eval_windows(split["val_start"], split["val_end"], seq_len, heads, max_windows=max_windows)
        fit_start = max(split["train_start"], split["train_end"] - FIT_MAX)
        return "held-out block of the training file", [Segment(starts, fit_start, split["train_end"])]
    n, mid = len(stream), len(stream) // 2
    halves = [(0, mid, mid, min(n, mid + FIT_MAX)), (mid, n, max(0, mid - FIT_MAX), mid)]
    return "whole file (not the training file; baselines fitted on one half, scored on the other)", [
        Segment(eval_windows(a, b, seq_len, heads, max_windows=max(1, max_windows // 2)), fa, fb)
        for a, b, fa, fb in halves
    ]


def evaluate(ckpt: str | Path, u16_path: str | Path, *, max_samples: int = 100_000, use_amp: bool = False,
             device: str = "auto", batch: int = 64, run_dir: str | Path | None = None, orders: tuple[int, ...] = (1, 2, 3),
             progress: bool = True, write: bool = True) -> dict[str, Any]:
    """Score the model and the baselines on the same held-out positions; return (and write) eval.json's contents.

    A bytes16 or bits16 (factorized) model is scored at value level (ValueMetrics) against value-level baselines;
    its per-byte parts ("high_byte", "low_byte" keys) are the token's first and second byte (byte_names says which
    byte of the value each is).
    """
    dev = pick_device(device)
    model, tokenizer, state = load_model(ckpt, dev)
    cfg, wide = model.cfg, tokenizer.factorized
    seq_len, heads, start = cfg.seq_len, cfg.heads_ahead, score_from(cfg.seq_len)
    stream = U16Stream(u16_path)
    stream.check_window(seq_len + heads)
    per_window = seq_len - start
    block, segments = _segments(stream, state, seq_len, heads, max(1, math.ceil(max_samples / per_window)))
    window = seq_len + heads
    new_metrics = (lambda: ValueMetrics(heads=heads)) if wide else (lambda: Metrics(cfg.vocab_size, heads=heads))
    model_metrics = new_metrics()
    names: list[str] = []
    base_metrics: dict[str, Metrics] = {}
    ce_windows: dict[str, list[np.ndarray]] = {}
    hit_windows: dict[str, list[np.ndarray]] = {}
    dtype = amp_dtype(dev, use_amp)
    unseen = 0
    bar = tqdm(total=sum(len(s.starts) for s in segments), desc="evaluate", unit="window", disable=not progress)
    for seg in segments:
        fit_tokens = tokenizer.encode(np.asarray(stream.values[seg.fit_start : seg.fit_end]))
        baselines = (fit_byte_baselines(fit_tokens, heads, orders, tokenizer.byte_names[0]) if wide else
                     fit_baselines(fit_tokens, cfg.vocab_size, tokenizer.n_values, heads_ahead=heads, orders=orders))
        if not names:
            names = list(baselines)
            base_metrics = {name: new_metrics() for name in names}
            ce_windows = {name: [] for name in ["model", *names]}
            hit_windows = {name: [] for name in ["model", *names]}
        for i in range(0, len(seg.starts), batch):
            starts = seg.starts[i : i + batch]
            raw = gather(stream.values, starts, window)
            tokens = torch.from_numpy(tokenizer.encode(raw))
            unseen += tokenizer.unseen(raw)
            y = torch.stack([tokens[:, h : h + seq_len] for h in range(1, heads + 1)], dim=-1)[:, start:]
            with torch.inference_mode(), torch.autocast(dev.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                if wide:
                    pred = model.factors(tokens[:, :seq_len].to(dev), start)
                else:
                    pred = model(tokens[:, :seq_len].to(dev))[:, start:].float().cpu()
            positions = torch.as_tensor(starts)[:, None] + torch.arange(start + 1, seq_len + 1)
            _score("model", pred, y, positions, model_metrics, ce_windows, hit_windows)
            flat = tokens.reshape(-1).numpy()
            rows = np.arange(len(starts))[:, None] * window
            head_positions = [(rows + np.arange(start + h, seq_len + h)).reshape(-1) for h in range(1, heads + 1)]
            for name in names:
                if wide:
                    pred = baselines[name].factors(flat, head_positions)
                else:
                    logp = np.stack([baselines[name][h - 1].log_probs(flat, head_positions[h - 1], ahead=h)
                                     for h in range(1, heads + 1)], axis=1).reshape(len(starts), per_window, heads, -1)
                    pred = torch.as_tensor(logp, dtype=torch.float32)
                _score(name, pred, y, positions, base_metrics[name], ce_windows, hit_windows)
            bar.update(len(starts))
    bar.close()
    result = {
        "file": str(u16_path), "checkpoint": str(ckpt), "block": block, "context_rule":
        f"each scored value has {start} to {seq_len - 1} values of context (positions {start}..{seq_len - 1} "
        f"of windows taken at stride {per_window})",
        "tokenizer": {"kind": tokenizer.kind, "n_values": tokenizer.n_values,
                      "unseen_values": unseen, "factorized": wide,
                      **({"byte_names": list(tokenizer.byte_names)} if wide else {})},
        "model": model_metrics.result(),
        "baselines": {name: m.result() for name, m in base_metrics.items()},
    }
    for head in result["model"]["heads"]:
        for w in head["worst"]:
            w["predicted_value"], w["target_value"] = tokenizer.label(w["predicted"]), tokenizer.label(w["target"])
    result["verdict"] = verdict(result, {k: np.concatenate(v) for k, v in ce_windows.items()},
                                {k: np.concatenate(v) for k, v in hit_windows.items()}, tokenizer.n_values, per_window)
    if write:
        paths = RunPaths.resolve(run_dir, ckpt)
        paths.run_dir.mkdir(parents=True, exist_ok=True)
        paths.eval.write_text(json.dumps(result, indent=1))
        write_summary(paths)
        result["written_to"] = str(paths.eval)
    return result


def _score(name: str, pred: torch.Tensor | ByteFactors, y: torch.Tensor, positions: torch.Tensor, metrics: Metrics,
           ce_windows: dict, hit_windows: dict) -> None:
    """Feed (windows, positions, heads, V) logits or log-probs to an accumulator; keep head 1's per-window sums for
    the tests. ByteFactors (rows = windows x positions) go to a ValueMetrics, whose top-1 is the one guess per position.
    """
    if isinstance(pred, ByteFactors):
        n, p, h = y.shape
        logp_t, hits = metrics.update(pred, y.reshape(n * p, h), positions.reshape(-1))
        ce_windows[name].append((-logp_t[:, 0].cpu() / math.log(2)).reshape(n, p).sum(1).numpy())
        hit_windows[name].append(hits[:, 0].cpu().reshape(n, p).sum(1).numpy())
        return
    n, p, h, v = pred.shape
    metrics.update(pred.reshape(n * p, h, v), y.reshape(n * p, h), positions.reshape(-1))
    logp = torch.log_softmax(pred[:, :, 0], dim=-1)
    target = y[:, :, 0]
    ce_windows[name].append((-logp.gather(-1, target.unsqueeze(-1)).squeeze(-1) / math.log(2)).sum(1).double().numpy())
    hit_windows[name].append((logp.argmax(-1) == target).sum(1).numpy())


def verdict(result: dict, ce: dict[str, np.ndarray], hits: dict[str, np.ndarray], n_values: int,
            per_window: int) -> dict[str, Any]:
    """Is the stream predictable, by how much, and does the model add anything beyond the best baseline?"""
    counts = np.full(len(ce["model"]), per_window, dtype=np.float64)
    n = int(counts.sum())
    heads = {name: r["heads"][0] for name, r in result["baselines"].items()}
    best = min(heads, key=lambda k: heads[k]["ce_bits"])
    chance_bits = math.log2(n_values)
    model = result["model"]["heads"][0]
    model_hits, best_hits = int(hits["model"].sum()), int(hits[best].sum())
    p_model_chance = binomial_p(model_hits, n, 1.0 / n_values)
    p_best_chance = binomial_p(best_hits, n, 1.0 / n_values)
    p_model_best = binomial_p(model_hits, n, max(best_hits / n, 1.0 / n_values))
    gain_chance = bootstrap_ci(chance_bits * counts - ce["model"], counts)
    gain_best_chance = bootstrap_ci(chance_bits * counts - ce[best], counts)
    gain_best = bootstrap_ci(ce[best] - ce["model"], counts)

    def significant(p_top1: float, bits_saved: np.ndarray) -> bool:
        """Either test at ALPHA / 2 (so both together at ALPHA): exact binomial on top-1, or the one-sided
        window-bootstrap bound on bits per value (the stronger evidence on wide streams, where top-1 stays tiny)."""
        return p_top1 < ALPHA / 2 or bootstrap_ci(bits_saved, counts, level=1 - ALPHA)[0] > 0

    model_structure = significant(p_model_chance, chance_bits * counts - ce["model"])
    base_structure = significant(p_best_chance, chance_bits * counts - ce[best])
    model_beats_best = significant(p_model_best, ce[best] - ce["model"])
    top1, best_top1, chance_top1 = model["top1"], best_hits / n, 1.0 / n_values
    gain_bits = (ce[best].sum() - ce["model"].sum()) / n
    if model_beats_best:
        text = (f"predictable: top-1 {top1:.2%} vs {best_top1:.2%} for the best baseline ({best}) and {chance_top1:.2%} "
                f"for chance ({format_p(p_model_best)}), {gain_bits:.4f} bits/value below it "
                f"[95% CI {gain_best[0]:.4f} to {gain_best[1]:.4f}]")
    elif model_structure or base_structure:
        text = (f"predictable, and simple statistics explain it: {best} reaches {heads[best]['ce_bits']:.4f} bits/value "
                f"(top-1 {best_top1:.2%}) against {chance_bits:.4f} for chance ({format_p(min(p_best_chance, p_model_chance))}); "
                f"the model ({model['ce_bits']:.4f} bits, top-1 {top1:.2%}) adds no significant gain over it "
                f"({gain_bits:+.4f} bits/value)")
    else:
        text = (f"no structure found at this sample size: top-1 {top1:.2%} vs {chance_top1:.2%} for chance "
                f"({format_p(p_model_chance)}, n = {n:,}), {model['ce_bits']:.4f} bits/value vs {chance_bits:.4f}; "
                f"smallest effect this test could detect ≈ {detectable_gain(chance_top1, n):.2%} points of top-1 accuracy")
    return {
        "predictable": bool(model_structure or base_structure or model_beats_best),
        "model_beats_baselines": bool(model_beats_best),
        "text": text, "n": n, "alpha": ALPHA, "best_baseline": best, "chance_bits": chance_bits,
        "p_model_vs_chance": p_model_chance, "p_best_baseline_vs_chance": p_best_chance,
        "p_model_vs_best_baseline": p_model_best,
        "gain_bits_vs_best_baseline": gain_bits, "gain_bits_vs_best_baseline_ci95": list(gain_best),
        "gain_bits_vs_chance_ci95": list(gain_chance), "best_baseline_gain_bits_vs_chance_ci95": list(gain_best_chance),
        "min_entropy_bits": {"model": min_entropy_bits(top1, n, n_values),
                             best: min_entropy_bits(best_top1, n, n_values), "chance": chance_bits},
        "detectable_top1_gain": detectable_gain(max(chance_top1, best_top1), n),
    }


def summary_table(result: dict) -> pd.DataFrame:
    """One row per predictor and head: top-1/3/5, bits per value, perplexity."""
    rows = []
    for name, r in [("model", result["model"]), *result["baselines"].items()]:
        for head in r["heads"]:
            rows.append({"predictor": name, "head": head["head"], "top1": head["top1"], "top3": head["top3"],
                         "top5": head["top5"], "bits": head["ce_bits"], "perplexity": head["perplexity"],
                         "count": head["count"]})
    return pd.DataFrame(rows)


def value_parts_text(head: dict, byte_names: tuple[str, str] = ("high byte", "low byte")) -> str:
    """How a factorized model's value-level numbers decompose: per byte, greedy decoding, the enumeration."""
    hi, lo, enum = head["high_byte"], head["low_byte"], head["enumeration"]
    first, second = byte_names
    return (f"16-bit values as {first} + {second} (model, head 1): {first} top-1 {hi['top1']:.2%}, "
            f"{hi['ce_bits']:.4f} bits; {second} given the true {first} top-1 {lo['top1']:.2%}, {lo['ce_bits']:.4f} "
            f"bits; value bits = their sum. Greedy top-1 {head['top1_greedy']:.2%}; top-k from the {enum['width']} most "
            f"probable {first}s, the top-{enum['top_k']} list provably exact for {enum['exact_share']:.1%} of predictions")


def format_report(result: dict, analyze: bool = False) -> str:
    """The text `seqlib evaluate` prints."""
    v = result["verdict"]
    lines = [f"evaluated on the {result['block']}: {v['n']:,} predictions per head", result["context_rule"], "",
             summary_table(result).to_string(index=False, float_format=lambda x: f"{x:.4f}"), "",
             "min-entropy (NIST SP 800-90B style, bits per token): " +
             ", ".join(f"{k} {x:.4f}" for k, x in v["min_entropy_bits"].items()), "", "verdict: " + v["text"]]
    if result["tokenizer"].get("factorized"):
        names = tuple(result["tokenizer"].get("byte_names", ("high byte", "low byte")))
        lines[5:5] = [value_parts_text(result["model"]["heads"][0], names), ""]
    if analyze:
        head = result["model"]["heads"][0]
        lines += ["", "model head 1: confidence mean {:.4f}, entropy mean {:.4f} bits, ECE {:.4f}".format(
            head["confidence_mean"], head["entropy_bits_mean"], head["ece"])]
        rel = pd.DataFrame(head["reliability"])
        lines += ["accuracy by confidence bin:", rel[rel["count"] > 0].to_string(index=False, float_format=lambda x: f"{x:.3f}")]
        if head["worst"]:
            lines += ["most confident wrong predictions:", pd.DataFrame(head["worst"]).head(10).to_string(index=False)]
    if "written_to" in result:
        lines += ["", f"wrote {result['written_to']}"]
    return "\n".join(lines)
