"""Baselines a sceptical reader asks for: chance, most common value, unigram and low-order Markov chains.

Every baseline model returns float64 log-probabilities, shape (N, V), of tokens[p] for the requested positions p,
using only tokens[: p - ahead + 1]. As predictors (TokenBaseline, ByteBaseline: one model per head) they return the
same Prediction as the model for the same windows, so one loop scores them all on exactly the same positions. For
16-bit tokens (bytes16, bits16), ByteBaseline predicts the first byte, then the second given it.
"""
import math
from typing import Protocol

import numpy as np
import torch

from .errors import ConfigError, DataError
from .congruential import LCG, Congruential
from .lagged import LAGGED, LAGGED_LINEAR, LaggedSum, Residuals
from .twister import TWISTER
from .seeded import SEED_REPLAY
from .xorshift import XORSHIFT
from .prediction import BytePrediction, DensePrediction, FixedPrediction, Prediction
from .values import BITS, BYTE, N_VALUES

UNUSED_LOGP = math.log(1e-30)  # classes chance never predicts (UNK): finite, so an UNK target costs ~100 bits, not inf
TABLE_MAX = 1 << 22  # dense Markov tables up to 32 MB: order 1 over up to 2,048 classes, order 2 over up to 161
COUNT_CHUNK = 1 << 22  # training positions counted per step
SCORE_CHUNK = 1 << 14  # positions scored per step by select_markov_order
BYTE_BITS = ((np.arange(BYTE)[:, None] >> np.arange(8)) & 1).astype(np.float64)  # (256, 8): the bits of every byte


class Baseline(Protocol):
    """What the evaluator needs from a baseline."""

    name: str

    def log_probs(self, tokens: np.ndarray, positions: np.ndarray, ahead: int | None = None) -> np.ndarray: ...


def _check_tokens(tokens: np.ndarray, vocab_size: int, what: str = "training block") -> np.ndarray:
    """Tokens as int64, refusing an empty array or values outside [0, vocab_size)."""
    tokens = np.asarray(tokens)
    if tokens.ndim != 1 or len(tokens) == 0 or not np.issubdtype(tokens.dtype, np.integer):
        raise DataError(f"the {what} must be a non-empty 1-D integer token array, got shape {tokens.shape} "
                        f"of {tokens.dtype}; pass tokenizer.encode(values)")
    if tokens.min() < 0 or tokens.max() >= vocab_size:
        raise DataError(f"the {what} has tokens {tokens.min()}..{tokens.max()} outside [0, {vocab_size}); "
                        f"pass the tokenizer's vocab_size and un-augmented tokens")
    return tokens.astype(np.int64, copy=False)


class _Fixed:
    """A baseline that ignores the context: the same log-probabilities at every position."""

    name: str
    logp: np.ndarray

    def log_probs(self, tokens: np.ndarray, positions: np.ndarray, ahead: int | None = None) -> np.ndarray:
        """The fixed distribution repeated for every position (ahead does not matter)."""
        return np.tile(self.logp, (len(positions), 1))


class Chance(_Fixed):
    """Uniform over the n_values data tokens; other classes (UNK) get probability 1e-30."""

    def __init__(self, n_values: int, vocab_size: int):
        if not 1 <= n_values <= vocab_size:
            raise ConfigError(f"Chance needs 1 <= n_values <= vocab_size, got {n_values} and {vocab_size}; "
                              f"pass tokenizer.n_values and tokenizer.vocab_size")
        self.name = "chance"
        self.logp = np.full(vocab_size, UNUSED_LOGP)
        self.logp[:n_values] = -math.log(n_values)


class MostCommon(_Fixed):
    """Mass 1 - eps on the training block's most common token, eps spread evenly over the other classes.

    eps defaults to the training share of all other tokens (at least 1e-6): the best cross-entropy a predictor
    can reach knowing only which token is the most common; its top-1 accuracy is that token's frequency.
    """

    def __init__(self, train_tokens: np.ndarray, vocab_size: int, eps: float | None = None):
        tokens = _check_tokens(train_tokens, vocab_size)
        counts = np.bincount(tokens, minlength=vocab_size)
        self.name, self.token = "most common", int(counts.argmax())
        self.eps = max(1.0 - counts[self.token] / len(tokens), 1e-6) if eps is None else eps
        if not 0.0 < self.eps < 1.0 or vocab_size < 2:
            raise ConfigError(f"MostCommon needs 0 < eps < 1 and vocab_size >= 2, got eps={self.eps}, "
                              f"vocab_size={vocab_size}")
        self.logp = np.full(vocab_size, math.log(self.eps / (vocab_size - 1)))
        self.logp[self.token] = math.log1p(-self.eps)


class Unigram(_Fixed):
    """Add-alpha smoothed token frequencies of the training block."""

    def __init__(self, train_tokens: np.ndarray, vocab_size: int, alpha: float = 1.0):
        if alpha <= 0:
            raise ConfigError(f"Unigram needs alpha > 0 so that every class has a probability, got {alpha}")
        counts = np.bincount(_check_tokens(train_tokens, vocab_size), minlength=vocab_size) + alpha
        self.name, self.alpha = "unigram", alpha
        self.logp = np.log(counts / counts.sum())


class BitFrequencies(_Fixed):
    """Independent bits of a byte, each 1 with its add-one training frequency: what a biased bit source gives.

    Eight parameters where the byte unigram has 255 (and the value unigram 65,535), so a bias of a few points in
    every bit shows on far fewer values than the unigram needs to learn it.
    """

    def __init__(self, train_bytes: np.ndarray):
        bits = (_check_tokens(train_bytes, BYTE)[:, None] >> np.arange(8)) & 1
        p1 = (bits.sum(0) + 1.0) / (len(bits) + 2.0)
        self.name, self.p1 = "bit frequencies", p1
        self.logp = BYTE_BITS @ np.log(p1) + (1 - BYTE_BITS) @ np.log1p(-p1)


def _context_ids(tokens: np.ndarray, positions: np.ndarray, vocab_size: int, order: int, ahead: int) -> np.ndarray:
    """Mixed-radix id of tokens[p-ahead-order+1 .. p-ahead] for each position p (oldest token most significant)."""
    ids = np.zeros(len(positions), dtype=np.int64)
    for lag in range(ahead + order - 1, ahead - 1, -1):
        ids = ids * vocab_size + tokens[positions - lag]
    return ids


def _range_keys(tokens: np.ndarray, start: int, stop: int, vocab_size: int, order: int, ahead: int) -> np.ndarray:
    """_context_ids(...) * vocab_size + tokens[p] for the positions p in start..stop-1, from slices (no gathers)."""
    keys = np.zeros(stop - start, dtype=np.int64)
    for lag in [*range(ahead + order - 1, ahead - 1, -1), 0]:
        keys *= vocab_size
        keys += tokens[start - lag:stop - lag]
    return keys


def _sum_by_key(keys: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique keys with their summed counts."""
    order = np.argsort(keys, kind="stable")
    keys, counts = keys[order], counts[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return keys[starts], np.add.reduceat(counts, starts)


class Markov:
    """Order-k Markov chain P(x_p | x_{p-ahead-order+1 .. p-ahead}) from sparse counts of the training block.

    Smoothing is additive: each context gets alpha * V pseudo-counts, spread as the (add-one) unigram distribution
    rather than evenly, so a context never seen in training, or a position with too little context before it,
    gets exactly the unigram distribution. Counts are stored sparsely (CSR over sorted context ids), so V = 256
    with order 3 needs memory in proportion to the distinct (context, next) pairs only.
    """

    def __init__(self, train_tokens: np.ndarray, vocab_size: int, order: int, ahead: int = 1, alpha: float = 0.5):
        if order < 1 or ahead < 1 or alpha <= 0:
            raise ConfigError(f"Markov needs order >= 1, ahead >= 1 and alpha > 0, got {order}, {ahead}, {alpha}")
        if vocab_size ** (order + 1) > np.iinfo(np.int64).max:
            raise ConfigError(f"Markov order {order} over {vocab_size} tokens overflows 64-bit context ids; "
                              f"use a lower order or fewer bins")
        tokens = _check_tokens(train_tokens, vocab_size)
        first = order + ahead - 1
        if len(tokens) <= first:
            raise DataError(f"the training block has {len(tokens)} tokens, too few for one Markov-{order} context "
                            f"{ahead} ahead; use a longer block or a lower order")
        self.name, self.vocab_size, self.order, self.ahead = f"markov-{order}", vocab_size, order, ahead
        self.alpha = alpha
        self.prior = alpha * vocab_size * np.exp(Unigram(tokens, vocab_size).logp)
        n_keys = vocab_size ** (order + 1)
        dense = np.zeros(n_keys if n_keys <= TABLE_MAX else 0, dtype=np.int64)  # counting there beats sorting
        parts = []
        for s in range(first, len(tokens), COUNT_CHUNK):
            keys = _range_keys(tokens, s, min(s + COUNT_CHUNK, len(tokens)), vocab_size, order, ahead)
            if len(dense):
                dense += np.bincount(keys, minlength=n_keys)
            else:
                parts.append(np.unique(keys, return_counts=True))
        if len(dense):
            keys = np.flatnonzero(dense)
            counts = dense[keys]
        else:
            keys, counts = parts[0] if len(parts) == 1 else _sum_by_key(*map(np.concatenate, zip(*parts)))
        self.contexts, starts = np.unique(keys // vocab_size, return_index=True)
        self.starts = np.append(starts, len(keys))
        self.next_tokens, self.counts = keys % vocab_size, counts
        self.totals = np.add.reduceat(counts, starts)
        self.table = None  # log-probabilities (contexts, V) of every seen context, where they fit in TABLE_MAX
        if len(self.contexts) * vocab_size <= TABLE_MAX:
            probs = np.tile(self.prior, (len(self.contexts), 1))
            probs[np.repeat(np.arange(len(self.contexts)), np.diff(self.starts)), self.next_tokens] += self.counts
            self.table = np.log(probs / (alpha * vocab_size + self.totals)[:, None])

    def log_probs(self, tokens: np.ndarray, positions: np.ndarray, ahead: int | None = None) -> np.ndarray:
        """Dense (N, V) log-probabilities of tokens[p] for each p; ahead, if given, must be the fitted one."""
        if ahead not in (None, self.ahead):
            raise ConfigError(f"{self.name} was fitted {self.ahead} ahead but asked for {ahead}; "
                              f"fit one Markov per head (fit_baselines does)")
        positions = np.asarray(positions, dtype=np.int64)
        V = self.vocab_size
        denom = np.full(len(positions), self.alpha * V)
        has_context = np.flatnonzero(positions >= self.order + self.ahead - 1)
        ids = _context_ids(np.asarray(tokens), positions[has_context], V, self.order, self.ahead)
        row = np.minimum(np.searchsorted(self.contexts, ids), len(self.contexts) - 1)
        seen = self.contexts[row] == ids
        who, row = has_context[seen], row[seen]
        if self.table is not None:  # rows of seen contexts from the table, the others the prior's
            logp = np.empty((len(positions), V))
            logp[:] = np.log(self.prior / (self.alpha * V))
            logp[who] = self.table[row]
            return logp
        lengths = self.starts[row + 1] - self.starts[row]
        entry = np.arange(lengths.sum()) + np.repeat(self.starts[row] - (np.cumsum(lengths) - lengths), lengths)
        denom[who] += self.totals[row]
        # log((prior + counts) / denom): a class never seen after the context keeps log(prior) - log(denom), so only
        # the counted entries need a log of their own (one dense pass instead of a dense division and log)
        log_denom = np.log(denom)
        logp = np.log(self.prior) - log_denom[:, None]
        rows, cols = np.repeat(who, lengths), self.next_tokens[entry]
        logp[rows, cols] = np.log(self.prior[cols] + self.counts[entry]) - log_denom[rows]
        return logp


def fit_baselines(train_tokens: np.ndarray, vocab_size: int, n_values: int, heads_ahead: int = 1,
                  orders: tuple[int, ...] = (1, 2, 3)) -> dict[str, list[Baseline]]:
    """Every baseline fitted on the training block, one per head (head h predicts h ahead), keyed by name."""
    tokens = _check_tokens(train_tokens, vocab_size)
    fixed = [Chance(n_values, vocab_size), MostCommon(tokens, vocab_size), Unigram(tokens, vocab_size)]
    out: dict[str, list[Baseline]] = {b.name: [b] * heads_ahead for b in fixed}
    for order in orders:
        out[f"markov-{order}"] = [Markov(tokens, vocab_size, order, ahead=h) for h in range(1, heads_ahead + 1)]
    return out


class TokenBaseline:
    """A predictor from one baseline model per head (head h predicts h ahead)."""

    def __init__(self, name: str, per_head: list[Baseline]):
        self.name, self.per_head = name, per_head

    def predict_at(self, tokens: np.ndarray, positions: list[np.ndarray]) -> DensePrediction:
        """Predictions of tokens[p] for head h at positions[h-1] (each using tokens up to p - h)."""
        if all(isinstance(b, _Fixed) for b in self.per_head):
            return FixedPrediction(torch.as_tensor(np.stack([b.logp for b in self.per_head]), dtype=torch.float32),
                                   len(positions[0]))
        logp = np.stack([b.log_probs(tokens, p, ahead=h) for h, (b, p) in enumerate(zip(self.per_head, positions), 1)],
                        1)
        return DensePrediction(torch.as_tensor(logp, dtype=torch.float32))

    def predict(self, windows) -> DensePrediction:
        """Predictions of the scored positions of a batch of evaluation windows (evaluate.Windows)."""
        return self.predict_at(windows.flat_tokens, windows.head_positions)


class ByteBaseline:
    """A value-level baseline over 16-bit values: P(first byte | context) from a token baseline over first bytes (one
    per head), times P(second byte | first byte) from a fixed table (256, 256) of log-probabilities."""

    def __init__(self, name: str, high: list[Baseline], low_logp: np.ndarray):
        self.name, self.high = name, high
        self.low_logp = torch.as_tensor(low_logp, dtype=torch.float32)

    def predict_at(self, values: np.ndarray, positions: list[np.ndarray]) -> BytePrediction:
        """Predictions of values[p] for head h at positions[h-1] (each using values up to p - h)."""
        high = np.asarray(values, dtype=np.int64) // BYTE
        logp = np.stack([b.log_probs(high, p, ahead=h) for h, (b, p) in enumerate(zip(self.high, positions), 1)], 1)
        return BytePrediction(torch.as_tensor(logp, dtype=torch.float32),
                              lambda high_bytes, rows: self.low_logp[high_bytes])

    def predict(self, windows) -> BytePrediction:
        """Predictions of the scored positions of a batch of evaluation windows (evaluate.Windows)."""
        return self.predict_at(windows.flat_tokens, windows.head_positions)


def fit_byte_baselines(train_values: np.ndarray, heads_ahead: int = 1, orders: tuple[int, ...] = (1, 2, 3),
                       first: str = "high byte") -> dict[str, ByteBaseline]:
    """Value-level baselines for 16-bit tokens, keyed by name: chance (16 bits), independent bits with their training
    frequencies, the add-one unigram over the 65,536 values, and Markov chains of the given orders on the token's
    first byte (named `first`: the value's high byte for bytes16, its low byte for bits16) with the unigram's
    P(second byte | first byte)."""
    values = _check_tokens(train_values, N_VALUES)
    high = values // BYTE
    counts = np.bincount(values, minlength=N_VALUES).reshape(BYTE, BYTE) + 1.0
    low_unigram = np.log(counts / counts.sum(1, keepdims=True))
    second_bits = BitFrequencies(values % BYTE).logp
    out = {"chance": ByteBaseline("chance", [Chance(BYTE, BYTE)] * heads_ahead, np.full((BYTE, BYTE), -math.log(BYTE))),
           "bit frequencies": ByteBaseline("bit frequencies", [BitFrequencies(high)] * heads_ahead,
                                           np.tile(second_bits, (BYTE, 1))),
           # add-256 on high bytes = add-one on values: P(high) P(low | high) is exactly the value unigram
           "unigram": ByteBaseline("unigram", [Unigram(high, BYTE, alpha=BYTE)] * heads_ahead, low_unigram)}
    for order in orders:
        name = f"{first.replace(' ', '-')} markov-{order}"
        out[name] = ByteBaseline(name, [Markov(high, BYTE, order, ahead=h) for h in range(1, heads_ahead + 1)],
                                 low_unigram)
    return out


def mean_nll_bits(baseline: Baseline, tokens: np.ndarray, positions: np.ndarray, ahead: int | None = None) -> float:
    """Mean cross-entropy in bits of a baseline at the given positions of tokens (scored in chunks)."""
    total = 0.0
    for s in range(0, len(positions), SCORE_CHUNK):
        p = positions[s:s + SCORE_CHUNK]
        total -= baseline.log_probs(tokens, p, ahead)[np.arange(len(p)), tokens[p]].sum()
    return total / len(positions) / math.log(2)


def select_markov_order(train_tokens: np.ndarray, val_tokens: np.ndarray, vocab_size: int, orders: tuple[int, ...],
                        ahead: int = 1, max_positions: int = 200_000) -> int:
    """The order whose Markov chain has the lowest cross-entropy on the first max_positions of validation."""
    val = _check_tokens(val_tokens, vocab_size, "validation block")
    positions = np.arange(max(orders) + ahead - 1, min(len(val), max(orders) + ahead - 1 + max_positions))
    if len(positions) == 0:
        raise DataError(f"the validation block has {len(val)} tokens, too few to score Markov-{max(orders)}; "
                        f"use a longer block or lower orders")
    ce = {order: mean_nll_bits(Markov(train_tokens, vocab_size, order, ahead), val, positions) for order in orders}
    return min(ce, key=ce.get)


LINEAR = "linear recurrence (GF(2))"
LOSSLESS = ("exact", "bytes16", "bits16")  # the tokenizers whose tokens are values, so their bits can be predicted
LINEAR_ALPHA = 0.5  # add-alpha pseudo-counts of the values' distribution given their linear bits


class LinearRecurrence:
    """The GF(2) recurrences of the linear bit planes (linear.scan) as a predictor beside the baselines.

    At a position p it reads the true values before p (up to L of them, far beyond the model's window, never p or
    later): a linear plane's bit is the recurrence's with probability 1 - eps (eps from the scan's check, never 0).
    The other bits come from the training block: for a small alphabet (one token per value) the value distribution
    given the linear bits, so a die whose parity is linear puts its mass on the faces of the predicted parity; for
    16-bit values, each other bit's training frequency (bit by bit, which is exact for values that fill their range
    evenly, as a generator's do). Head h > 1 would need values after the context, so it gets no linear bits.
    """

    name = LINEAR

    def __init__(self, scan, train_values: np.ndarray, tokenizer):
        self.scan, self.tokenizer = scan, tokenizer
        # byte-factored tokens are bits of the values themselves: a die's planes of another view do not apply there
        usable = tokenizer.output == "tokens" or scan.view == (0, 1)
        self.eps = {p.plane: p.eps for p in scan.planes if p.linear and usable}
        values = np.asarray(train_values, dtype=np.int64)
        n_bits = 16 if tokenizer.output != "tokens" else max(1, len(scan.planes))
        seen = scan.viewed(values) if tokenizer.output == "tokens" else values
        self.ones = np.array([((seen >> j) & 1).mean() for j in range(n_bits)]).clip(1e-6, 1 - 1e-6)
        if tokenizer.output == "tokens":
            self._fit_tokens(values)

    def _fit_tokens(self, values: np.ndarray) -> None:
        """log Q(token | its value's linear bits) from the training block, add-alpha within each bit pattern."""
        tok = self.tokenizer
        lin_mask = sum(1 << j for j in self.eps)
        self.token_values = np.asarray(tok.lo[:tok.n_values], dtype=np.int64)
        counts = np.bincount(tok.encode(values), minlength=tok.vocab_size)[:tok.n_values] + LINEAR_ALPHA
        _, group = np.unique(self.scan.viewed(self.token_values) & lin_mask, return_inverse=True)
        self.log_q = np.log(counts / np.bincount(group, weights=counts)[group])

    def _bit_log_probs(self, windows) -> tuple[np.ndarray, np.ndarray]:
        """log P(bit j = 0) and log P(bit j = 1), (rows, H, bits), at every scored row and head."""
        rows, H, n_bits = len(windows.positions), windows.heads, len(self.ones)
        p1 = np.broadcast_to(self.ones, (rows, H, n_bits)).copy()
        bits, known = self.scan.predict_bits(windows.values, windows.positions)
        for j, eps in self.eps.items():  # head 1 only: its context ends just before the predicted value
            k = ((known >> j) & 1).astype(bool)
            p1[k, 0, j] = np.where((bits[k] >> j) & 1, 1 - eps, eps)
        return np.log1p(-p1), np.log(p1)

    def predict(self, windows) -> Prediction:
        log0, log1 = self._bit_log_probs(windows)
        if self.tokenizer.output == "tokens":
            tv = self.scan.viewed(self.token_values)
            tb = ((tv[:, None] >> np.arange(log0.shape[-1])) & 1).astype(np.float64)  # (V, bits) of the scan's view
            logp = log0 @ (1 - tb).T + log1 @ tb.T + self.log_q  # (rows, H, V): P(linear bits) Q(value | them)
            logp = np.concatenate([logp, np.full((*logp.shape[:2], self.tokenizer.vocab_size - len(tv)),
                                                 UNUSED_LOGP)], -1)
            return DensePrediction(torch.as_tensor(logp, dtype=torch.float32))
        # 16-bit values: the token's first byte is the value's high byte (bytes16) or its low byte (bits16)
        first_planes = np.arange(8, 16) if self.tokenizer.kind == "bytes16" else np.arange(8)
        second_planes = np.arange(8) if self.tokenizer.kind == "bytes16" else np.arange(8, 16)

        def byte_logp(planes: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(log0[..., planes] @ (1 - BYTE_BITS).T + log1[..., planes] @ BYTE_BITS.T,
                                   dtype=torch.float32)

        first, second = byte_logp(first_planes), byte_logp(second_planes)
        return BytePrediction(first, lambda first_bytes, rows: second[rows][..., None, :].expand(
            *first_bytes.shape, BYTE))


class LaggedSumPredictor:
    """A LaggedSum as a predictor beside the baselines, for lossless tokens (exact, bytes16, bits16).

    Head h predicts the value at t + h - 1 from the values before t: it uses the sum only when every lag is at least
    h; otherwise, and before the first `history` values of the file, it predicts uniformly (chance). found=None
    (a segment where the search found nothing) predicts uniformly everywhere.

    With linear (a linear.LinearScan), the product of both experts, LAGGED_LINEAR: P(v) is proportional to
    P_sum(v) f(v) with f(v) = prod over the linear planes j of 2 P_j(bit j of v), P_j the recurrence's (1 - eps or
    eps, head 1 only). The sum pins a value down to its carry, a linear low bit can pin the carry down: glibc's
    random() & 0xFFFF becomes exact. f averages to 1 over uniform bits, so the escape mass keeps its weight.
    """

    def __init__(self, found: LaggedSum | None, tokenizer, linear=None):
        self.found, self.tokenizer, self.linear = found, tokenizer, linear
        self.name = LAGGED if linear is None else LAGGED_LINEAR
        r = found.residuals if found else Residuals([], [], 1.0)
        self.r = torch.tensor(r.values, dtype=torch.int64)
        self.probs = torch.tensor(r.probs, dtype=torch.float64)
        self.escape, self.size = r.escape, r.size  # the escape mass covers the residues modulo `size`

    def _mass(self, windows) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The values the kept residuals point at (N, H, K), their probabilities, and the escape mass (N, H)."""
        N, H = len(windows.positions), windows.heads
        usable = torch.zeros(N, H, dtype=torch.bool)
        base = torch.zeros(N, H, dtype=torch.int64)
        if self.found is not None:
            for h in range(1, min(H, min(self.found.lags)) + 1):
                target = windows.positions + h - 1
                ok = target >= self.found.history
                usable[:, h - 1] = torch.from_numpy(ok)
                base[ok, h - 1] = torch.from_numpy(self.found.base(windows.values, target[ok]))
        point = self.found.value(base[..., None], self.r) if self.found is not None else base[..., None] + self.r
        mass = self.probs * usable[..., None]
        escape = torch.where(usable, self.escape, 1.0).double()
        return point, mass, escape

    def _log_factors(self, windows) -> torch.Tensor:
        """log f_j(bit) (N, H, 2, 16): log 2 P_j(bit) for the known linear bits of head 1, 0 for every other."""
        N, H = len(windows.positions), windows.heads
        out = torch.zeros(N, H, 2, BITS, dtype=torch.float64)
        if self.linear is None or (self.linear.view != (0, 1) and self.tokenizer.output != "tokens"):
            return out  # byte-factored tokens are bits of the values themselves, not of a die's view
        bits, known = self.linear.predict_bits(windows.values, windows.positions)
        for p in (p for p in self.linear.planes if p.linear):
            k = torch.from_numpy(((known >> p.plane) & 1).astype(bool))
            one = torch.from_numpy(((bits >> p.plane) & 1).astype(bool))[k]
            right, wrong = math.log(2 * (1 - p.eps)), math.log(2 * p.eps)
            out[k, 0, 1, p.plane] = torch.where(one, right, wrong).double()
            out[k, 0, 0, p.plane] = torch.where(one, wrong, right).double()
        return out

    def _seen(self, values: torch.Tensor) -> torch.Tensor:
        """The values whose bits are the linear planes (linear.LinearScan.viewed)."""
        return values if self.linear is None else self.linear.viewed(values)

    @staticmethod
    def _log_weight(values: torch.Tensor, logf: torch.Tensor, planes: torch.Tensor) -> torch.Tensor:
        """sum over `planes` of log f_j(bit j of each value): values (N, H, m), logf (N, H, 2, 16) -> (N, H, m)."""
        bit = (values[..., None] >> planes) & 1  # (N, H, m, planes)
        f = logf[..., planes]  # (N, H, 2, planes)
        return torch.where(bit.bool(), f[:, :, None, 1], f[:, :, None, 0]).sum(-1)

    def predict(self, windows) -> Prediction:
        point, mass, escape = self._mass(windows)
        logf = self._log_factors(windows)
        every = torch.arange(BITS)
        mass = mass * self._log_weight(self._seen(point), logf, every).exp()  # the points' weights f(v)
        total = mass.sum(-1) + escape  # the normaliser: f averages to 1 over the escape mass's uniform values
        tok = self.tokenizer
        if tok.output == "tokens":
            lut = torch.from_numpy(tok.lut)
            token = lut[point]
            valid = token < tok.n_values
            token_values = torch.from_numpy(tok.lo[:tok.n_values]).expand(*escape.shape, -1)
            probs = (escape / self.size)[..., None] * self._log_weight(self._seen(token_values), logf, every).exp()
            probs.scatter_add_(-1, token.clamp_max(tok.n_values - 1), mass * valid)
            logp = torch.cat([probs.log(), torch.full((*escape.shape, tok.vocab_size - tok.n_values), UNUSED_LOGP,
                                                      dtype=torch.float64)], -1)
            return DensePrediction(logp.float())  # normalised there, over the tokens' values
        # bytes16: the token's first byte is the value's high byte; bits16: its low byte
        high_first = tok.kind == "bytes16"
        first_b, second_b = (point >> 8, point & 0xFF) if high_first else (point & 0xFF, point >> 8)
        first_planes, second_planes = (every[8:], every[:8]) if high_first else (every[:8], every[8:])
        byte = torch.arange(BYTE).expand(*escape.shape, -1)
        g1 = self._log_weight(byte, logf, first_planes).exp()  # f of the first byte's planes, per first byte
        g2 = self._log_weight(byte, logf, second_planes).exp()
        first = ((escape / BYTE)[..., None] * g1).scatter_add_(-1, first_b, mass) / total[..., None]

        def second(first_bytes: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
            f, s, m = first_b[rows], second_b[rows], mass[rows]
            match = f[:, :, None, :] == first_bytes[..., None]  # (n, H, width, K)
            floor = (escape[rows] / N_VALUES)[..., None] * g1[rows].gather(-1, first_bytes)  # (n, H, width)
            out = floor[..., None] * g2[rows][:, :, None, :]
            out.scatter_add_(-1, s[:, :, None, :].expand_as(match), match * m[:, :, None, :])
            joint = first[rows].gather(-1, first_bytes) * total[rows][..., None]  # P(first byte), unnormalised
            return (out / joint[..., None]).log().float()

        return BytePrediction(first.log().float(), second)


class CongruentialPredictor:
    """A Congruential (a published LCG found in the training block) as a predictor, for lossless tokens; any other
    found generator with the same interface (look, deep, eps, window) too (TwisterPredictor).

    Per window it recovers the generator's state from the `found.look` values just before the window (as the linear
    recurrences, it reads the stream beyond the window: a state needs 21 throws of a die, more than a short window's
    context), or jumps ahead the state of an earlier window that fitted (Congruential.window); a row is predicted
    only when every value from the state's first to the row's last was the generator's (and the values that chose
    the state lie before its target): then the predicted value gets 1 - eps and every value a share of eps
    (1 - eps + eps / 65,536 in all for 16-bit tokens) at every head, the state fixing all later values;
    eps = found.eps. Other rows, and every row for found=None, predict uniformly. A generator whose recovery takes
    seconds (Congruential.deep: Java's nextInt(6), about 5 s when it succeeds) is recovered where its jump fails,
    DEEP_TRIES times at most; after a failed recovery the next waits for 1, 2, 4, ... more failed windows. So a
    reseeded stream is followed again, and a stream the generator did not make costs a few tries.
    Every input of a row is a value before its head-1 target.
    """

    name = LCG
    DEEP_TRIES = 8

    def __init__(self, found: Congruential | None, tokenizer):
        self.found, self.tokenizer = found, tokenizer
        self._last: tuple[int, int] | None = None  # (file index, state there) of the last window that fitted
        self._tries = 0  # deep recoveries so far
        self._wait, self._backoff = 0, 1  # failed windows before the next deep recovery, and the wait after a failure

    def _deep_recovery(self) -> bool:
        """Whether a window whose jump failed may try a deep recovery (counting down the wait when not)."""
        if self._wait:
            self._wait -= 1
            return False
        return self._tries < self.DEEP_TRIES

    def _window(self, seen: np.ndarray, start: int) -> tuple[np.ndarray, int]:
        """found.window for the values `seen` from file index `start` on, with the deep recoveries' budget."""
        deep = self.found.deep
        predicted, usable_from, self._last = self.found.window(seen, start, self._last, recover=not deep)
        if deep and not (predicted >= 0).any() and self._deep_recovery():
            self._tries += 1
            predicted, usable_from, last = self.found.window(seen, start, None)
            if (predicted >= 0).any():
                self._last, self._wait, self._backoff = last, 0, 1
            else:  # keep the last state that fitted: a window may fail for a value or two that are not its
                self._wait, self._backoff = self._backoff, 2 * self._backoff
        return predicted, usable_from

    def _points(self, windows) -> tuple[torch.Tensor, torch.Tensor]:
        """The predicted value (N, H) of every row and head, and whether the row is predicted (N,)."""
        N, H, P = len(windows.positions), windows.heads, windows.seq_len - windows.start
        if self.found is None:
            return torch.zeros(N, H, dtype=torch.int64), torch.zeros(N, dtype=torch.bool)
        raw, look = windows.raw.astype(np.int64), self.found.look
        context_end = windows.start + 1 + np.arange(P)  # offsets before a row's head-1 target
        heads = windows.start + np.arange(P)[:, None] + np.arange(1, H + 1)  # (P, H) offsets of the targets
        points, ok = np.empty((N // P, P, H), np.int64), np.empty((N // P, P), bool)
        for i, start in enumerate(windows.starts.tolist()):
            before = min(start, look)  # the values just before the window, where the file has them
            seen = np.concatenate([np.asarray(windows.values[start - before:start], np.int64), raw[i]])
            predicted, usable_from = self._window(seen, start - before)
            offset = np.arange(len(seen))
            wrong = np.cumsum((predicted != seen) & (offset >= np.argmax(predicted >= 0)))  # misses from the state on
            ok[i] = (wrong[before + context_end - 1] == 0) & (before + context_end >= usable_from)
            points[i] = predicted[before + heads].clip(0)
        return torch.from_numpy(points.reshape(N, H)), torch.from_numpy(ok.reshape(N))

    def predict(self, windows) -> Prediction:
        point, ok = self._points(windows)
        eps = self.found.eps if self.found is not None else 0.5  # no row is predicted then: any eps in (0, 1)
        tok, N, H = self.tokenizer, *point.shape
        if tok.output == "tokens":
            hit = torch.where(ok, math.log1p(-eps), -math.inf)[:, None].expand(N, H)  # log of the point's extra mass
            token = torch.from_numpy(tok.lut)[point]
            seen = token < tok.n_values
            floor = torch.where(ok, math.log(eps / tok.n_values), -math.log(tok.n_values))[:, None, None]
            logp = floor.expand(N, H, tok.n_values).clone().double()
            at = token.clamp_max(tok.n_values - 1)[..., None]
            logp.scatter_(-1, at, torch.logaddexp(logp.gather(-1, at), torch.where(seen, hit, -math.inf)[..., None]))
            logp = torch.cat([logp, torch.full((N, H, tok.vocab_size - tok.n_values), UNUSED_LOGP,
                                               dtype=torch.float64)], -1)
            return DensePrediction(logp.float())
        # bytes16: the token's first byte is the value's high byte; bits16: its low byte
        first_b, second_b = (point >> 8, point & 0xFF) if tok.kind == "bytes16" else (point & 0xFF, point >> 8)
        okh = ok[:, None].expand(N, H)
        first = torch.where(okh, eps / BYTE, 1 / BYTE).double()[..., None].expand(N, H, BYTE).clone()
        first.scatter_add_(-1, first_b[..., None], torch.where(okh, 1 - eps, 0.0).double()[..., None])

        def second(first_bytes: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
            on = okh[rows][..., None] & (first_bytes == first_b[rows][..., None])  # (n, H, width): the point's byte
            floor = torch.where(on, eps / N_VALUES / ((1 - eps) + eps / BYTE), 1 / BYTE).double()
            out = floor[..., None].expand(*first_bytes.shape, BYTE).clone()
            top = torch.where(on, (1 - eps) / ((1 - eps) + eps / BYTE), 0.0).double()
            out.scatter_add_(-1, second_b[rows][:, :, None, None].expand(*first_bytes.shape, 1), top[..., None])
            return out.log().float()

        return BytePrediction(first.log().float(), second)


class TwisterPredictor(CongruentialPredictor):
    """A Twister (the Mersenne Twister behind a die, found in the training block) as a predictor: as
    CongruentialPredictor, with the generator's state recovered from the 20,001 values before a window, or stepped
    ahead from the last window that fitted and recovered again where that fails (Twister.window)."""

    name = TWISTER


class XorshiftPredictor(CongruentialPredictor):
    """What find_xorshift found in the training block (V8's Math.random() behind a die, a scrambled generator's
    outputs) as a predictor: as CongruentialPredictor, with the state recovered from the values before a window (4
    refills of V8's cache; a scrambled generator's outputs), or stepped ahead from the last window that fitted and
    recovered again where that fails (Xorshift.window, Scrambled.window). Named after the generator found (`name`:
    the same in every segment)."""

    def __init__(self, found, tokenizer, name: str | None = None):
        super().__init__(found, tokenizer)
        self.name = name or (XORSHIFT if found is None else found.predictor)


class SeededPredictor(CongruentialPredictor):
    """A Seeded (a library call with a seed people type, found in the training block) as a predictor: as
    CongruentialPredictor, with the call's values replayed at the window's file indices, used where the 16 values
    before the window match them (Seeded.window)."""

    name = SEED_REPLAY


def baseline_predictors(train_values: np.ndarray, tokenizer, heads_ahead: int = 1, orders: tuple[int, ...] = (1, 2, 3),
                        linear=None) -> list:
    """Every baseline as a predictor, fitted on the training block's values (value level for 16-bit tokens), and the
    linear recurrences of a scan (linear.LinearScan) when one is given."""
    tokens = tokenizer.encode(train_values)
    if tokenizer.output != "tokens":
        out = list(fit_byte_baselines(tokens, heads_ahead, orders, tokenizer.byte_names[0]).values())
    else:
        fitted = fit_baselines(tokens, tokenizer.vocab_size, tokenizer.n_values, heads_ahead, orders)
        out = [TokenBaseline(name, per_head) for name, per_head in fitted.items()]
    if linear is not None and tokenizer.kind in LOSSLESS:  # a bin's bits are not a value's
        out.append(LinearRecurrence(linear, train_values, tokenizer))
    return out
