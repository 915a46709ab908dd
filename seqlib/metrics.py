"""Streaming prediction metrics: accuracy, cross-entropy, confidence, entropy and calibration per head.

Rules that a reader of the numbers needs:
- head h (1-based) predicts the token h steps ahead; "overall" pools every head, so its count is N * heads,
  while the top-level "count" is N, the number of scored positions.
- Ties: when the target shares its probability with other classes at the k-th place, it counts as a
  fractional hit (the expected hit under random tie-breaking), so a uniform prediction scores exactly k / V.
  "Correct" (for calibration and the correct/wrong histograms) is the top-1 hit with the same weight, so those
  counts are fractional under ties and whole numbers otherwise.
- "predicted" (worst list, confusion matrix) is the arg-max class; a prediction is "wrong" for the worst list
  when the target is not among the most probable classes. The confusion matrix has targets as rows.
- Positions default to the running row index over all updates (0, 1, 2, ...).
- Empty confidence bins report None as their mean confidence and accuracy.
- result() on an accumulator that has seen nothing raises SeqlibError (no NaN-filled report).

16-bit values predicted as bytes (BytePrediction, for the bytes16 and bits16 tokenizers) follow the same rules at
value level; their per-byte parts ("first_byte", "second_byte": the token's first and second byte, which are the
value's high and low byte for bytes16 and its low and high byte for bits16) are reported beside, with the greedy
top-1 and how often the enumerated top-k is provably exact (see prediction.py).
"""
import math

import pandas as pd
import torch

from .errors import ConfigError, SeqlibError
from .prediction import DensePrediction, Prediction, Scores
from .values import LN2

CHUNK_ELEMENTS = 1 << 24  # numbers handled per step (64 MiB of float32), so memory stays flat for any batch
MAX_CONFUSION_VOCAB = 64
PART_KEYS = ("ce_bits", "confidence_mean", "entropy_bits_mean", "ece")


class Metrics:
    """Streaming accumulator of prediction metrics, per head and over all heads, in constant memory."""

    def __init__(self, vocab_size: int, heads: int = 1, topk: tuple[int, ...] = (1, 3, 5), bins: int = 20,
                 n_worst: int = 20):
        if vocab_size < 2 or heads < 1 or bins < 1 or n_worst < 0 or not topk or min(topk) < 1:
            raise ConfigError(f"Metrics needs vocab_size >= 2, heads >= 1, bins >= 1, n_worst >= 0 and top-k >= 1; got "
                              f"vocab_size={vocab_size}, heads={heads}, bins={bins}, n_worst={n_worst}, topk={topk}")
        self.vocab_size, self.heads, self.topk, self.bins, self.n_worst = vocab_size, heads, tuple(topk), bins, n_worst
        H, B, V = heads, bins, vocab_size
        f64, i64 = torch.float64, torch.int64
        self.state = {
            "count": torch.zeros(H, dtype=i64),
            "hits": torch.zeros(H, len(self.topk), dtype=f64),
            "nll": torch.zeros(H, dtype=f64),  # sum of -ln p(target)
            "conf": torch.zeros(H, dtype=f64),
            "entropy": torch.zeros(H, dtype=f64),  # bits
            "conf_count": torch.zeros(H, B, dtype=i64),
            "conf_sum": torch.zeros(H, B, dtype=f64),
            "conf_correct": torch.zeros(H, B, dtype=f64),
            "ent_count": torch.zeros(H, B, dtype=i64),
            "ent_correct": torch.zeros(H, B, dtype=f64),
            "worst_conf": torch.full((n_worst, H), -1.0),  # -1 marks an empty slot
            "worst_pos": torch.zeros(n_worst, H, dtype=i64),
            "worst_pred": torch.zeros(n_worst, H, dtype=i64),
            "worst_target": torch.zeros(n_worst, H, dtype=i64),
        }
        if V <= MAX_CONFUSION_VOCAB:
            self.state["confusion"] = torch.zeros(H, V, V, dtype=i64)
        self.seen = 0
        self.kind: type[Prediction] = DensePrediction
        self.parts: dict[str, Metrics] = {}  # per-part accumulators: the two bytes of a 16-bit value

    @torch.no_grad()
    def update(self, pred: Prediction | torch.Tensor, targets: torch.Tensor,
               positions: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Add N predictions (a Prediction, or logits / log-probs (N, H, V)) of targets (N, H), with optional positions
        (N,) for the worst list. Returns log P(target) (float64) and the hit of the single best guess (N, H)."""
        pred = pred if isinstance(pred, Prediction) else DensePrediction(pred)
        targets = torch.as_tensor(targets)
        n, H, V = len(pred), self.heads, self.vocab_size
        if pred.classes != V or pred.heads != H or targets.shape != (n, H):
            raise SeqlibError(f"Metrics expects logits or predictions over {V} classes for {H} heads and targets (N, {H}); got "
                              f"{pred.classes} classes for {pred.heads} heads and targets {tuple(targets.shape)}; "
                              f"pass one column per head and the full vocabulary")
        if n and (targets.min() < 0 or targets.max() >= V):
            what = "16-bit values" if V == 1 << 16 else "tokens"
            raise SeqlibError(f"targets must be {what} in [0, {V}), got {int(targets.min())}..{int(targets.max())}; "
                              f"score data values only (never MASK)")
        device = pred.device
        targets = targets.to(device)
        positions = (torch.arange(self.seen, self.seen + n, device=device) if positions is None
                     else torch.as_tensor(positions).to(device).long())
        self.state = {k: v.to(device) for k, v in self.state.items()}
        rows = max(1, CHUNK_ELEMENTS // (H * pred.row_cost))
        out = []
        for s in range(0, n, rows):
            scores = pred[s:s + rows].scores(targets[s:s + rows], self.topk)
            self._add(scores, targets[s:s + rows], positions[s:s + rows])
            out.append((scores.logp_t, scores.argmax_hit))
        self.seen += n
        self.kind = type(pred)
        if not out:
            return torch.zeros(0, H, dtype=torch.float64), torch.zeros(0, H, dtype=torch.bool)
        return torch.cat([o[0] for o in out]), torch.cat([o[1] for o in out])

    def _add(self, s: Scores, targets: torch.Tensor, positions: torch.Tensor) -> None:
        """Accumulate one chunk of scores; parts go to their own accumulators, extra scores to per-head sums."""
        st, (n, H), B, V = self.state, s.logp_t.shape, self.bins, self.vocab_size
        st["count"] += n
        st["hits"] += s.hits.double().sum(0)
        st["nll"] -= s.logp_t.sum(0)
        st["conf"] += s.conf.double().sum(0)
        st["entropy"] += s.entropy.double().sum(0)

        head = torch.arange(H, device=s.logp_t.device)
        conf_bin = (head * B + (s.conf * B).long().clamp(0, B - 1)).flatten()
        ent_bin = (head * B + (s.entropy / math.log2(V) * B).long().clamp(0, B - 1)).flatten()

        def per_bin(index: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
            return torch.bincount(index, None if weights is None else weights.flatten(), minlength=H * B).view(H, B)

        st["conf_count"] += per_bin(conf_bin)
        st["conf_sum"] += per_bin(conf_bin, s.conf.double())
        st["conf_correct"] += per_bin(conf_bin, s.correct)
        st["ent_count"] += per_bin(ent_bin)
        st["ent_correct"] += per_bin(ent_bin, s.correct)
        if "confusion" in st:
            cell = ((head * V + targets) * V + s.pred).flatten()
            st["confusion"] += torch.bincount(cell, minlength=H * V * V).view(H, V, V)
        if self.n_worst:
            wrong_conf = torch.where(s.correct == 0, s.conf, -1.0)
            self._update_worst(wrong_conf, positions.unsqueeze(1).expand(n, H), s.pred, targets)
        for name, value in s.extra.items():
            key = f"extra_{name}"
            st[key] = st.get(key, torch.zeros(H, dtype=torch.float64, device=value.device)) + value.double().sum(0)
        for name, (part, part_targets) in s.parts.items():
            if name not in self.parts:
                self.parts[name] = Metrics(part.classes, H, self.topk, self.bins, n_worst=0)
            self.parts[name].update(part, part_targets, positions)

    def _update_worst(self, conf: torch.Tensor, pos: torch.Tensor, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Keep, per head, the n_worst most confident wrong predictions seen so far."""
        st = self.state
        conf = torch.cat([st["worst_conf"], conf])
        st["worst_conf"], idx = conf.topk(self.n_worst, dim=0)
        for key, new in (("worst_pos", pos), ("worst_pred", pred), ("worst_target", target)):
            st[key] = torch.cat([st[key], new]).gather(0, idx)

    def result(self) -> dict:
        """Metrics per head and pooled over all heads, as plain JSON types (with each part's headline numbers)."""
        if self.seen == 0:
            raise SeqlibError("no predictions to score; call Metrics.update() with at least one batch before result()")
        st = {k: v.cpu() for k, v in self.state.items()}
        sels = [[h] for h in range(self.heads)] + [list(range(self.heads))]
        rows = [self._summary(st, sel, head) for sel, head in zip(sels, [*range(1, self.heads + 1), "all"])]
        parts = {name: m.result() for name, m in self.parts.items()}
        for i, (row, sel) in enumerate(zip(rows, sels)):
            extra = {k[len("extra_"):]: float(v[sel].sum() / row["count"]) for k, v in st.items()
                     if k.startswith("extra_")}
            row.update(self.kind.report(extra, self.topk) if extra else {})
            for name, part in parts.items():
                r = [*part["heads"], part["overall"]][i]
                row[name] = {k: r[k] for k in (*(f"top{k}" for k in self.topk), *PART_KEYS)}
        return {"count": self.seen, "heads": rows[:-1], "overall": rows[-1]}

    def _summary(self, st: dict, sel: list[int], head: int | str) -> dict:
        """The per-head dict of the contract, pooled over the heads in sel."""
        B, V = self.bins, self.vocab_size
        pooled = {k: st[k][sel].sum(0) for k in ("count", "hits", "nll", "conf", "entropy", "conf_count", "conf_sum",
                                                   "conf_correct", "ent_count", "ent_correct")}
        n = int(pooled["count"])
        ce_nats = pooled["nll"] / n
        ce_bits = ce_nats / LN2
        out = {"head": head, "count": n}
        out.update({f"top{k}": float(pooled["hits"][j] / n) for j, k in enumerate(self.topk)})
        out.update(ce_bits=float(ce_bits), ce_nats=float(ce_nats), perplexity=float(torch.exp2(ce_bits)),
                   confidence_mean=float(pooled["conf"] / n), entropy_bits_mean=float(pooled["entropy"] / n))
        counts, conf_sum, correct = pooled["conf_count"], pooled["conf_sum"], pooled["conf_correct"]
        out["ece"] = float((correct - conf_sum).abs().sum() / n)
        out["reliability"] = {
            "lo": [b / B for b in range(B)],
            "hi": [(b + 1) / B for b in range(B)],
            "count": counts.tolist(),
            "confidence": [float(s / c) if c else None for s, c in zip(conf_sum, counts)],
            "accuracy": [float(a / c) if c else None for a, c in zip(correct, counts)],
        }
        out["confidence_hist"] = {"edges": [b / B for b in range(B + 1)], "correct": correct.tolist(),
                                  "wrong": (counts - correct).tolist()}
        ent_counts, ent_correct = pooled["ent_count"], pooled["ent_correct"]
        out["entropy_hist"] = {"edges": [math.log2(V) * b / B for b in range(B + 1)], "correct": ent_correct.tolist(),
                               "wrong": (ent_counts - ent_correct).tolist()}
        out["worst"] = self._worst(st, sel)
        out["confusion"] = st["confusion"][sel].sum(0).tolist() if "confusion" in st else None
        return out

    def _worst(self, st: dict, sel: list[int]) -> list[dict]:
        """The n_worst most confident wrong predictions among the heads in sel, most confident first."""
        conf = st["worst_conf"][:, sel].T.flatten()
        order = conf.argsort(descending=True, stable=True)[:self.n_worst]
        heads = torch.tensor(sel).repeat_interleave(self.n_worst)
        pos, pred, target = (st[k][:, sel].T.flatten() for k in ("worst_pos", "worst_pred", "worst_target"))
        return [{"position": int(pos[i]), "head": int(heads[i]) + 1, "confidence": float(conf[i]),
                 "predicted": int(pred[i]), "target": int(target[i])} for i in order if conf[i] >= 0]

    def summary_table(self) -> pd.DataFrame:
        """One row per head and one for all heads pooled, with the headline columns."""
        res = self.result()
        columns = ["count", *(f"top{k}" for k in self.topk), "ce_bits", "perplexity", "confidence_mean",
                   "entropy_bits_mean", "ece"]
        rows = [*res["heads"], res["overall"]]
        return pd.DataFrame([[r[c] for c in columns] for r in rows], columns=columns,
                            index=pd.Index([r["head"] for r in rows], name="head"))
