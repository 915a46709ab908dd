"""Held-out evaluation: the model next to every baseline on the same positions, and a verdict with its statistics."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from . import stats
from .baselines import (LINEAR, LOSSLESS, CongruentialPredictor, LaggedSumPredictor, TwisterPredictor,
                        SeededPredictor, XorshiftPredictor, baseline_predictors)
from .checkpoint import RunPaths, atomic_write, load_model
from .data import U16Stream, eval_windows, gather, model_inputs, score_from
from .distributed import pick_device
from .congruential import LCG, NONE_FOUND as CONGRUENTIAL_NONE, Congruential, find_congruential
from .errors import ConfigError, DataError
from .lagged import LAGGED, LAGGED_LINEAR, NONE_FOUND, LaggedSum, find_lagged_sum
from .linear import LinearScan, scan
from .metrics import Metrics
from .prediction import Prediction
from .runs import write_summary
from .train import amp_dtype
from .twister import NONE_FOUND as TWISTER_NONE, TWISTER, Twister, find_twister
from .seeded import NONE_FOUND as SEEDED_NONE, SEED_REPLAY, Seeded, find_seeded
from .xorshift import NONE_FOUND as XORSHIFT_NONE, find_xorshift, xorshift_from_dict

FIT_MAX = 20_000_000  # values of the training block the baselines are fitted on (its end)
MAX_UNSEEN = 0.01  # share of scored values the tokenizer never saw above which evaluation refuses
ALPHA = 1e-3  # significance level of the family of tests behind a "predictable" verdict (see stats.py)


@dataclass
class Segment:
    """Windows scored together, and the part of the file their baselines are fitted on."""

    starts: np.ndarray
    fit_start: int
    fit_end: int


@dataclass
class Windows:
    """A batch of evaluation windows: what every predictor may look at to predict their scored positions.

    Position `start` .. seq_len - 1 of each window are scored (each with at least `start` values of context); row
    (window i, position j) of a Prediction predicts the value at starts[i] + start + j + h for head h (1-based).
    """

    values: np.ndarray  # the whole stream (a predictor may read far back, e.g. the linear recurrences)
    starts: np.ndarray  # (B,) first value of each window
    raw: np.ndarray  # (B, seq_len + heads) the windows' values
    tokens: torch.Tensor  # (B, seq_len + heads) their tokens
    seq_len: int
    heads: int
    start: int

    @cached_property
    def targets(self) -> torch.Tensor:
        """Tokens (B * P, H) that each scored row predicts."""
        return self._ahead(self.tokens)

    @cached_property
    def target_values(self) -> np.ndarray:
        """Raw values (B * P, H) that each scored row predicts."""
        return self._ahead(torch.from_numpy(self.raw.astype(np.int64))).numpy()

    def _ahead(self, t: torch.Tensor) -> torch.Tensor:
        y = torch.stack([t[:, h:h + self.seq_len] for h in range(1, self.heads + 1)], dim=-1)[:, self.start:]
        return y.reshape(-1, self.heads)

    @cached_property
    def positions(self) -> np.ndarray:
        """File index (B * P,) of each row's head-1 target."""
        return (self.starts[:, None] + np.arange(self.start + 1, self.seq_len + 1)).reshape(-1)

    @cached_property
    def flat_tokens(self) -> np.ndarray:
        """The windows' tokens end to end, for baselines that index by position."""
        return self.tokens.reshape(-1).numpy()

    @cached_property
    def head_positions(self) -> list[np.ndarray]:
        """Per head, the index in flat_tokens of each row's target."""
        rows = np.arange(len(self.starts))[:, None] * (self.seq_len + self.heads)
        return [(rows + np.arange(self.start + h, self.seq_len + h)).reshape(-1) for h in range(1, self.heads + 1)]


class Predictor(Protocol):
    """Anything evaluate scores: a name and a Prediction for the scored rows of a batch of windows."""

    name: str

    def predict(self, windows: Windows) -> Prediction: ...


class ModelPredictor:
    """The trained model as a predictor."""

    name = "model"

    def __init__(self, model, device: torch.device, use_amp: bool = False):
        self.model, self.device, self.dtype = model, device, amp_dtype(device, use_amp)

    def predict(self, windows: Windows) -> Prediction:
        x = model_inputs(windows.tokens[:, :windows.seq_len], windows.values, windows.starts, self.model.linear)
        x = x.to(self.device)
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=self.dtype or torch.float32,
                                                    enabled=self.dtype is not None):
            return self.model.predict(x, windows.start)


class Scoreboard:
    """Metrics per predictor, and each prediction's head-1 outcome in file order for the verdict's tests."""

    def __init__(self, classes: int, heads: int):
        self.classes, self.heads = classes, heads
        self.metrics: dict[str, Metrics] = {}
        self.bits: dict[str, list[np.ndarray]] = {}
        self.hits: dict[str, list[np.ndarray]] = {}
        self.blocks: list[np.ndarray] = []

    def add(self, name: str, pred: Prediction, windows: Windows, keep: np.ndarray) -> None:
        """Score the rows `keep` of one predictor's prediction for a batch of windows."""
        if name not in self.metrics:
            self.metrics[name], self.bits[name], self.hits[name] = Metrics(self.classes, self.heads), [], []
        rows = torch.from_numpy(np.flatnonzero(keep))
        if len(rows) < len(pred):
            pred = pred[rows.to(pred.device)]
        logp_t, hit = self.metrics[name].update(pred, windows.targets[rows], torch.from_numpy(windows.positions)[rows])
        self.bits[name].append((-logp_t[:, 0].cpu() / math.log(2)).numpy())
        self.hits[name].append(hit[:, 0].cpu().numpy())

    def add_blocks(self, window_ids: np.ndarray) -> None:
        self.blocks.append(window_ids)

    def outcomes(self) -> tuple[dict[str, stats.Outcomes], np.ndarray]:
        """Per predictor: bits and top-1 hits (n,) of head 1 at every scored position; and each position's window."""
        return ({name: stats.Outcomes(np.concatenate(self.bits[name]), np.concatenate(self.hits[name]))
                 for name in self.metrics}, np.concatenate(self.blocks))


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


def _linear_scan(state: dict, fit_values: np.ndarray, fit_start: int, training_file: bool,
                 alpha: float) -> LinearScan:
    """The GF(2) scan of the block the baselines are fitted on, value fit_start on of the file: the checkpoint's own
    when that is the training block (it was scanned at training), else a new one."""
    if training_file and state.get("linear") is not None and state["linear"]["alpha"] == alpha:
        return LinearScan.from_dict(state["linear"])
    return scan(fit_values, alpha=alpha, start=fit_start)


def _searched(state: dict, key: str, search, load, fit_values: np.ndarray, training_file: bool):
    """What `search` finds in the block the baselines are fitted on (the lagged sum, the LCG, MT19937, the
    xorshift-family generator, the seeded call): the checkpoint's for the training block (it was searched at
    training, `load` reads it; older checkpoints have none), else a new search."""
    if training_file and key in state:
        return None if state[key] is None else load(state[key])
    return search(fit_values)


def _binned(tokenizer) -> str:
    """What the verdict scored when the tokens are bins of the values."""
    bins = f"{tokenizer.n_values:,} {tokenizer.kind} bins of the values"
    return bins + (" (equally frequent by construction, which also hides how the values themselves are distributed)"
                   if tokenizer.kind == "quantile" else "")


def evaluate(ckpt: str | Path, u16_path: str | Path, *, max_samples: int = 100_000, use_amp: bool = False,
             device: str = "auto", batch: int = 64, run_dir: str | Path | None = None, orders: tuple[int, ...] = (1, 2, 3),
             progress: bool = True, write: bool = True, format: str = "u16le", alpha: float = ALPHA) -> dict[str, Any]:
    """Score the model and the baselines on the same held-out positions; return (and write) the evaluation's JSON.

    A 16-bit (bytes16 or bits16) model is scored at value level against value-level baselines; its per-byte parts
    ("first_byte", "second_byte" keys) are the token's first and second byte (byte_names says which byte of the value
    each is). Values the tokenizer never saw are left out of every score and test (counted in "unseen_values").
    """
    for name, value in (("max_samples", max_samples), ("batch", batch)):
        if value < 1:
            raise ConfigError(f"--{name} {value} is out of range: it must be at least 1")
    dev = pick_device(device)
    model, tokenizer, state = load_model(ckpt, dev)
    cfg = model.cfg
    seq_len, heads, start = cfg.seq_len, cfg.heads_ahead, score_from(cfg.seq_len)
    stream = U16Stream(u16_path, format=format)
    stream.check_window(seq_len + heads)
    per_window = seq_len - start
    block, segments = _segments(stream, state, seq_len, heads, max(1, math.ceil(max_samples / per_window)))
    scores = Scoreboard(cfg.vocab_size, heads)
    model_predictor = ModelPredictor(model, dev, use_amp)
    scored = unseen = n_windows = 0
    distinct = np.zeros(1 << 16, dtype=bool)
    scans = [_linear_scan(state, stream.values[seg.fit_start:seg.fit_end], seg.fit_start, len(segments) == 1, alpha)
             for seg in segments]
    any_linear = any(found.linear_planes for found in scans)  # then every segment has the predictor (maybe empty)
    sums = [_searched(state, "lagged", find_lagged_sum, LaggedSum.from_dict,
                      stream.values[seg.fit_start:seg.fit_end], len(segments) == 1) for seg in segments]
    with_sum = tokenizer.kind in LOSSLESS and any(s is not None for s in sums)  # uniform in a segment without one
    lcgs = [_searched(state, "congruential", find_congruential, Congruential.from_dict,
                      stream.values[seg.fit_start:seg.fit_end], len(segments) == 1) for seg in segments]
    with_lcg = tokenizer.kind in LOSSLESS and any(g is not None for g in lcgs)
    twisters = [_searched(state, "twister", lambda v, found=found: find_twister(v, found), Twister.from_dict,
                          stream.values[seg.fit_start:seg.fit_end], len(segments) == 1)
                for seg, found in zip(segments, scans)]
    with_twister = tokenizer.kind in LOSSLESS and any(t is not None for t in twisters)
    xorshifts = [_searched(state, "xorshift", lambda v, found=found, seg=seg: find_xorshift(v, found, seg.fit_start),
                           xorshift_from_dict, stream.values[seg.fit_start:seg.fit_end], len(segments) == 1)
                 for seg, found in zip(segments, scans)]
    xorshift_names = [x.predictor for x in xorshifts if x is not None]  # one generator: one name in every segment
    with_xorshift = tokenizer.kind in LOSSLESS and bool(xorshift_names)
    seededs = [_searched(state, "seeded", lambda v, seg=seg: find_seeded(v, seg.fit_start), Seeded.from_dict,
                         stream.values[seg.fit_start:seg.fit_end], len(segments) == 1) for seg in segments]
    with_seeded = tokenizer.kind in LOSSLESS and any(s is not None for s in seededs)
    bar = tqdm(total=sum(len(s.starts) for s in segments), desc="evaluate", unit="window", disable=not progress)
    for seg, found, lagged, lcg, twister, xorshift, seeded in zip(segments, scans, sums, lcgs, twisters, xorshifts,
                                                                  seededs):
        fit_values = np.asarray(stream.values[seg.fit_start:seg.fit_end])
        distinct[fit_values] = True
        predictors = [model_predictor, *baseline_predictors(fit_values, tokenizer, heads, orders,
                                                            found if any_linear else None)]
        if with_sum:  # the sum alone, and with the linear bits where there are some (its product with them)
            predictors += [LaggedSumPredictor(lagged, tokenizer), *([LaggedSumPredictor(lagged, tokenizer, found)]
                                                                      if any_linear else [])]
        predictors += [CongruentialPredictor(lcg, tokenizer)] if with_lcg else []
        predictors += [TwisterPredictor(twister, tokenizer)] if with_twister else []
        predictors += [XorshiftPredictor(xorshift, tokenizer, xorshift_names[0])] if with_xorshift else []
        predictors += [SeededPredictor(seeded, tokenizer)] if with_seeded else []
        for i in range(0, len(seg.starts), batch):
            starts = seg.starts[i:i + batch]
            raw = gather(stream.values, starts, seq_len + heads)
            windows = Windows(stream.values, starts, raw, torch.from_numpy(tokenizer.encode(raw)), seq_len, heads,
                              start)
            keep = tokenizer.seen(windows.target_values).all(-1)
            scored, unseen = scored + len(keep), unseen + int((~keep).sum())
            for predictor in predictors:
                scores.add(predictor.name, predictor.predict(windows), windows, keep)
            scores.add_blocks(np.repeat(np.arange(n_windows, n_windows + len(starts)), per_window)[keep])
            n_windows += len(starts)
            bar.update(len(starts))
    bar.close()
    if unseen > MAX_UNSEEN * scored:
        raise DataError(f"{unseen:,} of {scored:,} scored values ({unseen / scored:.1%}) were never seen by the "
                        f"tokenizer: the checkpoint was probably trained on another kind of file; evaluate it on a file "
                        f"from the same source, or train a model on {u16_path}")
    result = {
        "file": str(u16_path), "checkpoint": str(ckpt), "block": block, "context_rule":
        f"each scored value has {start} to {seq_len - 1} values of context (positions {start}..{seq_len - 1} "
        f"of windows taken at stride {per_window})",
        "tokenizer": {"kind": tokenizer.kind, "n_values": tokenizer.n_values, "output": tokenizer.output,
                      **({"byte_names": list(tokenizer.byte_names)} if tokenizer.output != "tokens" else {})},
        "unseen_values": unseen, "scored_values": scored,
        "model": scores.metrics["model"].result(),
        "baselines": {name: m.result() for name, m in scores.metrics.items() if name != "model"},
    }
    for head in result["model"]["heads"]:
        for w in head["worst"]:
            w["predicted_value"], w["target_value"] = tokenizer.label(w["predicted"]), tokenizer.label(w["target"])
    outcomes, blocks = scores.outcomes()
    linear = scans[0]  # the training block's scan (or the first half's, for another file)
    result["linear"] = {"scan": linear.to_dict(), "text": linear.describe(), "planes": linear.linear_planes}
    lagged = sums[0]
    result["lagged"] = {"found": None if lagged is None else lagged.to_dict(),
                        "text": NONE_FOUND if lagged is None else lagged.describe()}
    lcg = lcgs[0]
    result["congruential"] = {"found": None if lcg is None else lcg.to_dict(),
                              "text": CONGRUENTIAL_NONE if lcg is None else lcg.describe()}
    twister = twisters[0]
    result["twister"] = {"found": None if twister is None else twister.to_dict(),
                         "text": TWISTER_NONE if twister is None else twister.describe()}
    xorshift = xorshifts[0]
    result["xorshift"] = {"found": None if xorshift is None else xorshift.to_dict(),
                          "text": XORSHIFT_NONE if xorshift is None else xorshift.describe()}
    found = {LINEAR: linear.describe()} if linear.linear_planes else {}
    found |= {LCG: lcg.describe()} if lcg is not None else {}
    found |= {TWISTER: twister.describe()} if twister is not None else {}
    found |= {xorshift.predictor: xorshift.describe()} if xorshift is not None else {}
    seeded = seededs[0]
    result["seeded"] = {"found": None if seeded is None else seeded.to_dict(),
                        "text": SEEDED_NONE if seeded is None else seeded.describe()}
    found |= {SEED_REPLAY: seeded.describe()} if seeded is not None else {}
    found |= {LAGGED: lagged.describe()} if lagged is not None else {}
    found |= {LAGGED_LINEAR: lagged.describe(linear)} if lagged and linear.linear_planes else {}
    n_distinct = int(distinct.sum())
    result["verdict"] = stats.verdict(
        outcomes, blocks, n_values=tokenizer.n_values, bits_per_value=math.log2(max(2, tokenizer.n_values)),
        alpha=alpha, distinct_values=n_distinct, single_value=int(distinct.argmax()) if n_distinct == 1 else None,
        found=found,
        binned=None if tokenizer.kind in LOSSLESS else _binned(tokenizer))
    if write:
        paths = RunPaths.resolve(run_dir, ckpt)
        paths.run_dir.mkdir(parents=True, exist_ok=True)
        target = paths.eval if block.startswith("held-out") else paths.eval_for(u16_path)
        with atomic_write(target) as f:  # never a half-written eval.json for the notebooks to read
            f.write(json.dumps(result, indent=1).encode())
        write_summary(paths)
        result["written_to"] = str(target)
    return result
