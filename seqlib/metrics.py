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

16-bit values predicted as bytes (ValueMetrics, for the bytes16 and bits16 tokenizers) follow the same rules at value
level, with what the factorisation P(v) = P(high) P(low | high) implies. "high" and "low" are the token's first and
second byte: the value's high and low byte for bytes16, its low and high byte for bits16 (a bijection of the values,
so every value-level number is the same either way).
- ce_bits is exact: CE(high byte) + CE(low byte | true high byte), the sum of the per-byte parts beside it.
- top-k, confidence and "predicted" come from enumerating the `width` most probable high bytes with all their low
  bytes (width x 256 values, exact joint probabilities): top-k is the accuracy of the k most probable values of
  that list (a target whose high byte is not listed is a miss). It is the model's true top-k wherever the list is
  provably complete, which "enumeration" reports: exact_share = share of predictions whose top_k-th listed value
  (top_k = the largest k) is at least as probable as the best high byte left out.
- ties among listed values count fractionally, as above; high bytes tied at the edge of the list are cut by topk,
  so a flat predictor (chance) scores about, not exactly, k / 65,536.
- top1_greedy: greedy decoding, the best high byte, then its best low byte.
- entropy_bits_mean is an upper bound: high bytes outside the enumeration count 8 bits for their low byte.
"""
import math
from dataclasses import dataclass
from typing import Callable

import pandas as pd
import torch

from .errors import ConfigError, SeqlibError

CHUNK_ELEMENTS = 1 << 24  # logits handled per step (64 MiB of float32), so memory stays flat for any batch
MAX_CONFUSION_VOCAB = 64
LN2 = math.log(2)
BYTE = 256  # a 16-bit value v = BYTE * high + low
N_VALUES = BYTE * BYTE
ENUM_WIDTH = 8  # high bytes enumerated for value-level top-k (see ValueMetrics)


def _hits(greater: torch.Tensor, equal: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Fractional top-k hit of each target, given how many classes beat it and how many tie with it."""
    return ((k - greater) / equal).clamp(0, 1)


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

    @torch.no_grad()
    def update(self, logits: torch.Tensor, targets: torch.Tensor, positions: torch.Tensor | None = None) -> None:
        """Add a batch: logits or log-probs (N, H, V), targets (N, H), optional positions (N,) for the worst list."""
        logits, targets = torch.as_tensor(logits), torch.as_tensor(targets)
        n, H, V = len(logits), self.heads, self.vocab_size
        if logits.shape != (n, H, V) or targets.shape != (n, H):
            raise SeqlibError(f"Metrics expects logits (N, {H}, {V}) and targets (N, {H}); got {tuple(logits.shape)} "
                              f"and {tuple(targets.shape)}; pass one column per head and the full vocabulary")
        if n == 0:
            return
        if targets.min() < 0 or targets.max() >= V:
            raise SeqlibError(f"targets must lie in [0, {V}), got {int(targets.min())}..{int(targets.max())}; "
                              f"score data tokens only (never MASK)")
        device = logits.device
        targets = targets.to(device)
        positions = (torch.arange(self.seen, self.seen + n, device=device) if positions is None
                     else torch.as_tensor(positions).to(device).long())
        self.state = {k: v.to(device) for k, v in self.state.items()}
        rows = max(1, CHUNK_ELEMENTS // (H * V))
        for s in range(0, n, rows):
            self._update_chunk(logits[s:s + rows], targets[s:s + rows], positions[s:s + rows])
        self.seen += n

    def _update_chunk(self, logits: torch.Tensor, targets: torch.Tensor, positions: torch.Tensor) -> None:
        """Accumulate one chunk of at most CHUNK_ELEMENTS logits."""
        logp = logits.float().log_softmax(-1)
        logp_t = logp.gather(-1, targets.unsqueeze(-1))
        greater = (logp > logp_t).sum(-1, keepdim=True, dtype=torch.int32)  # int32 sums are much faster on CPU
        equal = (logp == logp_t).sum(-1, keepdim=True, dtype=torch.int32).clamp_min(1)  # 0 only for NaN logits
        ks = torch.tensor(self.topk, device=logp.device)
        correct = _hits(greater, equal, torch.ones_like(greater)).squeeze(-1).double()
        max_logp, pred = logp.max(-1)
        entropy = -logp.exp().mul_(logp).nan_to_num_(0.0).sum(-1) / LN2  # 0 * -inf counts as 0
        self._add(logp_t.squeeze(-1).double(), _hits(greater, equal, ks), correct, max_logp.exp(), pred, entropy,
                  targets, positions)

    def _add(self, logp_t: torch.Tensor, hits: torch.Tensor, correct: torch.Tensor, conf: torch.Tensor,
             pred: torch.Tensor, entropy: torch.Tensor, targets: torch.Tensor, positions: torch.Tensor) -> None:
        """Accumulate per-prediction scores (n, H): target log-prob (float64), top-k hits (n, H, K), top-1 hit
        (float64), confidence, arg-max class, entropy in bits."""
        st, (n, H), B, V = self.state, logp_t.shape, self.bins, self.vocab_size
        st["count"] += n
        st["hits"] += hits.double().sum(0)
        st["nll"] -= logp_t.sum(0)
        st["conf"] += conf.double().sum(0)
        st["entropy"] += entropy.double().sum(0)

        head = torch.arange(H, device=logp_t.device)
        conf_bin = (head * B + (conf * B).long().clamp(0, B - 1)).flatten()
        ent_bin = (head * B + (entropy / math.log2(V) * B).long().clamp(0, B - 1)).flatten()

        def per_bin(index: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
            return torch.bincount(index, None if weights is None else weights.flatten(), minlength=H * B).view(H, B)

        st["conf_count"] += per_bin(conf_bin)
        st["conf_sum"] += per_bin(conf_bin, conf.double())
        st["conf_correct"] += per_bin(conf_bin, correct)
        st["ent_count"] += per_bin(ent_bin)
        st["ent_correct"] += per_bin(ent_bin, correct)
        if "confusion" in st:
            cell = ((head * V + targets) * V + pred).flatten()
            st["confusion"] += torch.bincount(cell, minlength=H * V * V).view(H, V, V)
        if self.n_worst:
            wrong_conf = torch.where(correct == 0, conf, -1.0)
            self._update_worst(wrong_conf, positions.unsqueeze(1).expand(n, H), pred, targets)

    def _update_worst(self, conf: torch.Tensor, pos: torch.Tensor, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Keep, per head, the n_worst most confident wrong predictions seen so far."""
        st = self.state
        conf = torch.cat([st["worst_conf"], conf])
        st["worst_conf"], idx = conf.topk(self.n_worst, dim=0)
        for key, new in (("worst_pos", pos), ("worst_pred", pred), ("worst_target", target)):
            st[key] = torch.cat([st[key], new]).gather(0, idx)

    def result(self) -> dict:
        """Metrics per head and pooled over all heads, as plain JSON types."""
        if self.seen == 0:
            raise SeqlibError("no predictions to score; call Metrics.update() with at least one batch before result()")
        st = {k: v.cpu() for k, v in self.state.items()}
        heads = [self._summary(st, [h], h + 1) for h in range(self.heads)]
        return {"count": self.seen, "heads": heads, "overall": self._summary(st, list(range(self.heads)), "all")}

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


@dataclass
class ByteFactors:
    """Predictions of 16-bit values as P(v) = P(high) P(low | high) for N rows and H heads, never as 65,536 classes.

    high: log-probabilities (N, H, 256) of the high byte. low_fn(high_bytes, rows): log-probabilities (n, H, m, 256)
    of the low byte given each of the m high bytes (n, H, m) of the rows `rows` (a slice of the underlying rows,
    which start at `offset`: slicing a ByteFactors keeps low_fn and moves the offset).
    """

    high: torch.Tensor
    low_fn: Callable[[torch.Tensor, slice], torch.Tensor]
    offset: int = 0

    def __len__(self) -> int:
        return len(self.high)

    def __getitem__(self, rows: slice) -> "ByteFactors":
        """The predictions of a slice of the rows."""
        start, _, step = rows.indices(len(self))
        if step != 1:
            raise ValueError(f"ByteFactors take contiguous row slices, got step {step}; slice without a step")
        return ByteFactors(self.high[rows], self.low_fn, self.offset + start)

    def low(self, high_bytes: torch.Tensor) -> torch.Tensor:
        """Low-byte log-probabilities (N, H, m, 256) given high bytes (N, H, m)."""
        return self.low_fn(high_bytes, slice(self.offset, self.offset + len(self)))

    def log_prob(self, values: torch.Tensor) -> torch.Tensor:
        """Exact log P(value) (N, H) of values (N, H) = log P(high) + log P(low | high)."""
        high, low = values // BYTE, (values % BYTE)[..., None]
        low_logp = self.low(high[..., None])[..., 0, :].gather(-1, low)[..., 0]
        return self.high.gather(-1, high[..., None])[..., 0] + low_logp

    def enumerate(self, width: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The `width` most probable high bytes (N, H, m), their log-probs (N, H, m) and low bytes' (N, H, m, 256)."""
        top_logp, top_high = self.high.topk(min(width, BYTE), dim=-1)
        return top_high, top_logp, self.low(top_high)

    def top_values(self, k: int, width: int = ENUM_WIDTH) -> tuple[torch.Tensor, torch.Tensor]:
        """The k most probable values (N, H, k) among those of the `width` best high bytes, and their log-probs."""
        top_high, top_logp, low = self.enumerate(width)
        logp, idx = (top_logp[..., None] + low).flatten(-2).topk(min(k, top_high.shape[-1] * BYTE), dim=-1)
        return top_high.gather(-1, idx // BYTE) * BYTE + idx % BYTE, logp


PART_KEYS = ("ce_bits", "confidence_mean", "entropy_bits_mean", "ece")


class ValueMetrics(Metrics):
    """Metrics of 16-bit values predicted as bytes (ByteFactors): the Metrics report at value level, per-byte beside.

    update() also returns each prediction's exact log P(target) and top-1 hit (N, H), for the verdict's tests.
    """

    def __init__(self, heads: int = 1, topk: tuple[int, ...] = (1, 3, 5), bins: int = 20, n_worst: int = 20,
                 width: int = ENUM_WIDTH):
        super().__init__(N_VALUES, heads, topk, bins, n_worst)
        if not 1 <= width <= BYTE:
            raise ConfigError(f"the enumeration width must be between 1 and {BYTE} high bytes, got {width}")
        self.width = width
        self.high, self.low = (Metrics(BYTE, heads, topk, bins, n_worst=0) for _ in range(2))
        self.state |= {"greedy": torch.zeros(heads, dtype=torch.float64),
                       "exact": torch.zeros(heads, dtype=torch.float64)}

    @torch.no_grad()
    def update(self, factors: ByteFactors, targets: torch.Tensor,
               positions: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Add a batch of N predictions (ByteFactors) of target values (N, H); returns log P(target) and top-1 hits."""
        targets = torch.as_tensor(targets)
        n, H = len(factors), self.heads
        if factors.high.shape != (n, H, BYTE) or targets.shape != (n, H):
            raise SeqlibError(f"ValueMetrics expects high-byte log-probs (N, {H}, {BYTE}) and targets (N, {H}); got "
                              f"{tuple(factors.high.shape)} and {tuple(targets.shape)}; pass one column per head")
        if n and (targets.min() < 0 or targets.max() >= N_VALUES):
            raise SeqlibError(f"targets must be 16-bit values in [0, {N_VALUES}), got "
                              f"{int(targets.min())}..{int(targets.max())}; score data values only (never MASK)")
        device = factors.high.device
        targets = targets.to(device)
        positions = (torch.arange(self.seen, self.seen + n, device=device) if positions is None
                     else torch.as_tensor(positions).to(device).long())
        self.state = {k: v.to(device) for k, v in self.state.items()}
        rows = max(1, CHUNK_ELEMENTS // (H * (self.width + 1) * BYTE))
        out = [self._update_values(factors[s:s + rows], targets[s:s + rows], positions[s:s + rows])
               for s in range(0, n, rows)]
        self.seen += n
        if not out:
            return torch.zeros(0, H, dtype=torch.float64), torch.zeros(0, H)
        return torch.cat([o[0] for o in out]), torch.cat([o[1] for o in out])

    def _update_values(self, f: ByteFactors, targets: torch.Tensor,
                       positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Accumulate one chunk; the value-level scores come from the enumerated high bytes."""
        high_t, low_t = targets // BYTE, targets % BYTE
        low_given_true = f.low(high_t[..., None])[..., 0, :]
        self.high.update(f.high, high_t, positions)
        self.low.update(low_given_true, low_t, positions)
        logp_t = (f.high.gather(-1, high_t[..., None])[..., 0].double()
                  + low_given_true.gather(-1, low_t[..., None])[..., 0].double())

        top_high, top_logp, low = f.enumerate(self.width)
        flat = (top_logp[..., None] + low).flatten(-2)  # joint log-probs of the listed values (n, H, width * 256)
        match = top_high == high_t[..., None]
        listed = match.any(-1)
        own = flat.gather(-1, (match.long().argmax(-1) * BYTE + low_t)[..., None])  # the target's entry in the list
        greater = (flat > own).sum(-1, keepdim=True, dtype=torch.int32)
        equal = (flat == own).sum(-1, keepdim=True, dtype=torch.int32).clamp_min(1)
        ks = torch.tensor(self.topk, device=flat.device)
        hits = _hits(greater, equal, ks) * listed[..., None]
        correct = (_hits(greater, equal, torch.ones_like(greater)).squeeze(-1) * listed).double()
        best, arg = flat.max(-1)
        pred = top_high.gather(-1, (arg // BYTE)[..., None])[..., 0] * BYTE + arg % BYTE

        def entropy_bits(logp: torch.Tensor) -> torch.Tensor:
            return -(logp.exp() * logp).nan_to_num(0.0).sum(-1) / LN2

        listed_mass = top_logp.exp()
        entropy = (entropy_bits(f.high) + (listed_mass * entropy_bits(low)).sum(-1)
                   + (1 - listed_mass.sum(-1)).clamp_min(0) * 8)
        kth = flat.topk(min(max(self.topk), flat.shape[-1]), dim=-1).values[..., -1]
        if self.width < BYTE:
            left_out = f.high.topk(self.width + 1, dim=-1).values[..., -1]
            self.state["exact"] += (kth >= left_out).double().sum(0)
        else:
            self.state["exact"] += len(targets)
        greedy = top_high[..., 0] * BYTE + low[..., 0, :].argmax(-1)
        self.state["greedy"] += (greedy == targets).double().sum(0)
        self._add(logp_t, hits, correct, best.exp(), pred, entropy, targets, positions)
        return logp_t, correct

    def result(self) -> dict:
        """The Metrics report at value level; each head dict adds top1_greedy, the enumeration and the byte parts."""
        res = super().result()
        high, low = self.high.result(), self.low.result()
        greedy, exact = self.state["greedy"].cpu(), self.state["exact"].cpu()
        sels = [[h] for h in range(self.heads)] + [list(range(self.heads))]
        for r, hr, lr, sel in zip([*res["heads"], res["overall"]], [*high["heads"], high["overall"]],
                                  [*low["heads"], low["overall"]], sels):
            r["top1_greedy"] = float(greedy[sel].sum() / r["count"])
            r["enumeration"] = {"width": self.width, "top_k": max(self.topk),
                                "exact_share": float(exact[sel].sum() / r["count"])}
            keys = [*(f"top{k}" for k in self.topk), *PART_KEYS]
            r["high_byte"] = {k: hr[k] for k in keys}
            r["low_byte"] = {k: lr[k] for k in keys}
        return res
