"""One prediction type for every predictor (the model's output kinds, the baselines, the linear recurrences).

A Prediction holds, for N scored positions and H heads, a probability distribution over `classes` outcomes, and
answers what evaluation, validation, `predict` and the plots ask of it: log P(target), the top-k classes, and the
scores a Metrics accumulator adds up. Two layouts exist:

- DensePrediction: log-probabilities (N, H, V) of every class (FixedPrediction: the same at every row).
- BytePrediction: a 16-bit value v = 256 * first + second as P(first byte) * P(second byte | first byte), never as
  65,536 classes per row. Top-k, confidence and "predicted" come from enumerating the `width` most probable first
  bytes with all their second bytes (exact joint probabilities): the model's true top-k wherever the list is provably
  complete, which the "exact" score reports (the top_k-th listed value is at least as probable as the best first
  byte left out). Entropy is an upper bound: first bytes outside the enumeration count 8 bits for their second byte.

Ties: when the target shares its probability with other classes at the k-th place, it counts as a fractional hit
(the expected hit under random tie-breaking), so a uniform prediction scores exactly k / V. `argmax_hit` is the hit
of one definite guess (the first most probable class): what the verdict's exact tests count.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from .values import BYTE, LN2

ENUM_WIDTH = 8  # first bytes enumerated for value-level top-k


@dataclass
class Scores:
    """Per-prediction scores (n, H) of a chunk, as Metrics accumulates them."""

    logp_t: torch.Tensor  # log P(target), float64
    hits: torch.Tensor  # (n, H, K) fractional top-k hits
    correct: torch.Tensor  # fractional top-1 hit, float64
    argmax_hit: torch.Tensor  # the single best guess was right (bool)
    conf: torch.Tensor  # probability of the best guess
    pred: torch.Tensor  # the best guess (class)
    entropy: torch.Tensor  # bits
    parts: dict[str, tuple["Prediction", torch.Tensor]] = field(default_factory=dict)  # sub-predictions, targets
    extra: dict[str, torch.Tensor] = field(default_factory=dict)  # more per-prediction scores, averaged


def fractional_hits(greater: torch.Tensor, equal: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Fractional top-k hit of each target, given how many classes beat it and how many tie with it."""
    return ((k - greater) / equal).clamp(0, 1)


def entropy_bits(logp: torch.Tensor) -> torch.Tensor:
    """Entropy in bits over the last dimension; 0 * -inf counts as 0."""
    h = torch.einsum("...v,...v->...", logp.exp(), logp)  # a dot product: no tensor of the products
    nan = h.isnan()
    if nan.any():  # a class with log-probability -inf (0 * -inf): those rows the slow way
        h = torch.where(nan, (logp.exp() * logp).nan_to_num(0.0).sum(-1), h)
    return -h / LN2


class Prediction:
    """Distributions over `classes` outcomes for N rows (positions) and H heads."""

    classes: int
    row_cost: int  # numbers touched per row and head when scoring (bounds the chunk size)

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, rows: slice | torch.Tensor) -> "Prediction":
        raise NotImplementedError

    @property
    def heads(self) -> int:
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        raise NotImplementedError

    def log_prob(self, targets: torch.Tensor) -> torch.Tensor:
        """Exact log P(target) (N, H) of targets (N, H)."""
        raise NotImplementedError

    def top(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The k most probable classes (N, H, k) and their log-probabilities."""
        raise NotImplementedError

    def dense(self) -> torch.Tensor:
        """Log-probabilities of every class (N, H, classes): for a few rows (one position in `predict`)."""
        raise NotImplementedError

    def scores(self, targets: torch.Tensor, topk: tuple[int, ...]) -> Scores:
        raise NotImplementedError

    @staticmethod
    def report(extra: dict[str, float], topk: tuple[int, ...]) -> dict:
        """Keys a Metrics report adds from the averaged extra scores (none for a dense prediction)."""
        return {}


class DensePrediction(Prediction):
    """Log-probabilities (N, H, V) of every class; logits are normalised on the way in."""

    def __init__(self, logits: torch.Tensor):
        self.logp = torch.as_tensor(logits).float().log_softmax(-1)
        self.classes = self.logp.shape[-1]
        self.row_cost = self.classes

    def __len__(self) -> int:
        return len(self.logp)

    def __getitem__(self, rows: slice | torch.Tensor) -> "DensePrediction":
        """The predictions of some rows (a slice, or an index tensor)."""
        out = DensePrediction.__new__(DensePrediction)
        out.logp, out.classes, out.row_cost = self.logp[rows], self.classes, self.row_cost
        return out

    @property
    def heads(self) -> int:
        return self.logp.shape[1]

    @property
    def device(self) -> torch.device:
        return self.logp.device

    def log_prob(self, targets: torch.Tensor) -> torch.Tensor:
        return self.logp.gather(-1, targets.to(self.logp.device)[..., None])[..., 0]

    def top(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        logp, idx = self.logp.topk(min(k, self.classes), dim=-1)
        return idx, logp

    def dense(self) -> torch.Tensor:
        return self.logp

    def scores(self, targets: torch.Tensor, topk: tuple[int, ...]) -> Scores:
        logp = self.logp
        logp_t = logp.gather(-1, targets[..., None])
        greater = (logp > logp_t).sum(-1, keepdim=True, dtype=torch.int32)  # int32 sums are much faster on CPU
        equal = (logp == logp_t).sum(-1, keepdim=True, dtype=torch.int32).clamp_min(1)  # 0 only for NaN logits
        ks = torch.tensor(topk, device=logp.device)
        max_logp, pred = logp.max(-1)
        return Scores(logp_t[..., 0].double(), fractional_hits(greater, equal, ks),
                      fractional_hits(greater, equal, torch.ones_like(greater))[..., 0].double(), pred == targets,
                      max_logp.exp(), pred, entropy_bits(logp))


class FixedPrediction(DensePrediction):
    """The same log-probabilities (H, V) at each of N rows (a predictor that ignores the context): a DensePrediction
    over a broadcast view of one row, so that scoring N rows costs O(N), not O(N V)."""

    def __init__(self, logits: torch.Tensor, n: int):
        self.row = torch.as_tensor(logits).float().log_softmax(-1)
        self.logp = self.row.expand(n, *self.row.shape)
        self.classes, self.row_cost = self.row.shape[-1], 1

    def __getitem__(self, rows: slice | torch.Tensor) -> "FixedPrediction":
        """The predictions of some rows (a slice, or an index tensor)."""
        out = FixedPrediction.__new__(FixedPrediction)
        out.row, out.logp, out.classes, out.row_cost = self.row, self.logp[rows], self.classes, self.row_cost
        return out

    def scores(self, targets: torch.Tensor, topk: tuple[int, ...]) -> Scores:
        row, n = self.row, len(targets)
        head = torch.arange(row.shape[0], device=row.device)
        # per head and class: how many classes beat it and how many tie with it, once for every row
        greater = (row[:, None, :] > row[:, :, None]).sum(-1, dtype=torch.int32)[head, targets][..., None]
        equal = (row[:, None, :] == row[:, :, None]).sum(-1, dtype=torch.int32).clamp_min(1)[head, targets][..., None]
        ks = torch.tensor(topk, device=row.device)
        max_logp, pred = row.max(-1)
        pred = pred.expand(n, -1)
        return Scores(row[head, targets].double(), fractional_hits(greater, equal, ks),
                      fractional_hits(greater, equal, torch.ones_like(greater))[..., 0].double(), pred == targets,
                      max_logp.exp().expand(n, -1), pred, entropy_bits(row).expand(n, -1))


class BytePrediction(Prediction):
    """16-bit values as P(v) = P(first byte) P(second | first) for N rows and H heads (see the module docstring).

    first: log-probabilities (N, H, 256). second_fn(first_bytes, rows): log-probabilities (n, H, m, 256) of the second
    byte given each of the m first bytes (n, H, m) of the rows `rows` (an index tensor into the underlying rows:
    selecting rows keeps second_fn and narrows `rows`).
    """

    classes = BYTE * BYTE

    def __init__(self, first: torch.Tensor, second_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                 rows: torch.Tensor | None = None, width: int = ENUM_WIDTH):
        if not 1 <= width <= BYTE:
            raise ValueError(f"the enumeration width must be between 1 and {BYTE} first bytes, got {width}")
        self.first, self.second_fn, self.width = first, second_fn, width
        self.rows = torch.arange(len(first), device=first.device) if rows is None else rows
        self.row_cost = (width + 1) * BYTE

    def __len__(self) -> int:
        return len(self.first)

    def __getitem__(self, rows: slice | torch.Tensor) -> "BytePrediction":
        """The predictions of some rows (a slice, or an index tensor)."""
        return BytePrediction(self.first[rows], self.second_fn, self.rows[rows], self.width)

    def with_width(self, width: int) -> "BytePrediction":
        """The same prediction, enumerating `width` first bytes (256: exact top-k, entropy and confidence)."""
        return BytePrediction(self.first, self.second_fn, self.rows, width)

    @property
    def heads(self) -> int:
        return self.first.shape[1]

    @property
    def device(self) -> torch.device:
        return self.first.device

    def second(self, first_bytes: torch.Tensor) -> torch.Tensor:
        """Second-byte log-probabilities (N, H, m, 256) given first bytes (N, H, m)."""
        return self.second_fn(first_bytes, self.rows)

    def log_prob(self, targets: torch.Tensor) -> torch.Tensor:
        first, second = targets // BYTE, (targets % BYTE)[..., None]
        second_logp = self.second(first[..., None])[..., 0, :].gather(-1, second)[..., 0]
        return self.first.gather(-1, first[..., None])[..., 0] + second_logp

    def enumerate(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The `width` most probable first bytes (N, H, m), their log-probs (N, H, m) and second bytes' (N, H, m, 256)."""
        top_logp, top_first = self.first.topk(min(self.width, BYTE), dim=-1)
        return top_first, top_logp, self.second(top_first)

    def top(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The k most probable values among those of the `width` best first bytes, and their log-probs."""
        top_first, top_logp, second = self.enumerate()
        logp, idx = (top_logp[..., None] + second).flatten(-2).topk(min(k, top_first.shape[-1] * BYTE), dim=-1)
        return top_first.gather(-1, idx // BYTE) * BYTE + idx % BYTE, logp

    def dense(self) -> torch.Tensor:
        every = torch.arange(BYTE, device=self.first.device).expand(*self.first.shape[:2], BYTE)
        return (self.first[..., None] + self.second(every)).flatten(-2)

    def scores(self, targets: torch.Tensor, topk: tuple[int, ...]) -> Scores:
        first_t, second_t = targets // BYTE, targets % BYTE
        second_given_true = self.second(first_t[..., None])[..., 0, :]
        logp_t = (self.first.gather(-1, first_t[..., None])[..., 0].double()
                  + second_given_true.gather(-1, second_t[..., None])[..., 0].double())

        top_first, top_logp, second = self.enumerate()
        flat = (top_logp[..., None] + second).flatten(-2)  # joint log-probs of the listed values (n, H, width * 256)
        match = top_first == first_t[..., None]
        listed = match.any(-1)
        own = flat.gather(-1, (match.long().argmax(-1) * BYTE + second_t)[..., None])  # the target's entry
        greater = (flat > own).sum(-1, keepdim=True, dtype=torch.int32)
        equal = (flat == own).sum(-1, keepdim=True, dtype=torch.int32).clamp_min(1)
        ks = torch.tensor(topk, device=flat.device)
        hits = fractional_hits(greater, equal, ks) * listed[..., None]
        correct = (fractional_hits(greater, equal, torch.ones_like(greater))[..., 0] * listed).double()
        best, arg = flat.max(-1)
        pred = top_first.gather(-1, (arg // BYTE)[..., None])[..., 0] * BYTE + arg % BYTE
        listed_mass = top_logp.exp()
        entropy = (entropy_bits(self.first) + (listed_mass * entropy_bits(second)).sum(-1)
                   + (1 - listed_mass.sum(-1)).clamp_min(0) * 8)
        kth = flat.topk(min(max(topk), flat.shape[-1]), dim=-1).values[..., -1]
        if self.width < BYTE:
            exact = (kth >= self.first.topk(self.width + 1, dim=-1).values[..., -1]).double()
        else:
            exact = torch.ones_like(kth, dtype=torch.float64)
        greedy = top_first[..., 0] * BYTE + second[..., 0, :].argmax(-1)
        parts = {"first_byte": (DensePrediction(self.first), first_t),
                 "second_byte": (DensePrediction(second_given_true), second_t)}
        extra = {"top1_greedy": (greedy == targets).double(), "exact_share": exact,
                 "width": torch.full_like(exact, float(self.width))}
        return Scores(logp_t, hits, correct, pred == targets, best.exp(), pred, entropy, parts, extra)

    @staticmethod
    def report(extra: dict[str, float], topk: tuple[int, ...]) -> dict:
        return {"top1_greedy": extra["top1_greedy"],
                "enumeration": {"width": round(extra["width"]), "top_k": max(topk),
                                "exact_share": extra["exact_share"]}}
