"""Next-value predictions at one position of a file: top-k values with probabilities, and the truth when known.

A 16-bit (bytes16 or bits16) model lists full values with their exact probabilities P(first byte) P(second | first).
The unknown-value token (UNK) is never offered as a candidate: it stands for "a value not seen in training".
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .baselines import LOSSLESS
from .checkpoint import load_model
from .data import U16Stream, model_inputs
from .distributed import pick_device
from .errors import ConfigError, DataError
from .congruential import find_congruential
from .lagged import FIT, MAX_LAG, find_lagged_sum
from .linear import LinearScan
from .twister import Twister
from .seeded import Seeded
from .xorshift import xorshift_from_dict
from .values import BYTE, N_VALUES


def _check_topk(topk: int) -> None:
    if not 1 <= topk <= N_VALUES:
        raise ConfigError(f"--topk {topk} is out of range: it must be from 1 to {N_VALUES:,} (a model with fewer "
                          "values than that lists all of them)")


def predict_at(model, tokenizer, values: np.ndarray, idx: int, topk: int = 10) -> pd.DataFrame:
    """Top-k predictions of each head from the seq_len values before `idx` (head h predicts the value at idx+h-1)."""
    seq_len, n = model.cfg.seq_len, len(values)
    _check_topk(topk)
    if not seq_len <= idx <= n:
        raise DataError(f"--idx {idx} is out of range: it needs {seq_len} values of context, "
                        f"so choose an index from {seq_len} to {n} for this file of {n} values")
    context = torch.as_tensor(tokenizer.encode(np.asarray(values[idx - seq_len:idx])))[None]
    x = model_inputs(context, values, np.array([idx - seq_len]), model.linear)
    device = next(model.parameters()).device
    with torch.inference_mode():
        logp_all = model.predict(x.to(device), start=seq_len - 1).dense()[0].float().cpu()  # (H, classes)
    wide = logp_all.shape[-1] == N_VALUES
    rows = []
    for h in range(model.cfg.heads_ahead):
        logp, probs = logp_all[h], logp_all[h].exp()
        entropy = float(-(probs * logp).nan_to_num().sum() / math.log(2))
        where = idx + h
        truth = int(values[where]) if where < n else None
        true_token = int(tokenizer.encode(np.array([truth], dtype=np.uint16))[0]) if truth is not None else None
        values_only = probs[:tokenizer.n_values]  # the unknown-value class (UNK) is never a value to offer
        true_rank = int((values_only > probs[true_token]).sum()) + 1 if true_token is not None else None
        top = values_only.topk(min(topk, tokenizer.n_values))
        for rank, (p, tok) in enumerate(zip(top.values.tolist(), top.indices.tolist()), start=1):
            lo, hi = tokenizer.decode(tok)
            row = {"head": h + 1, "position": where, "rank": rank, "token": tok, "value": tokenizer.label(tok),
                   "lo": lo, "hi": hi, "probability": p, "is_true": tok == true_token,
                   "true_value": truth, "true_rank": true_rank, "entropy_bits": entropy}
            if wide:  # a 16-bit value: its bytes, and P(the token's first byte)
                row |= {"high_byte": lo // BYTE, "low_byte": lo % BYTE,
                        "p_first_byte": float(probs.view(BYTE, BYTE)[tok // BYTE].sum())}
            rows.append(row)
    table = pd.DataFrame(rows)
    table.attrs["first_byte"] = tokenizer.byte_names[0]
    return table


def linear_next(scan: LinearScan, values: np.ndarray, idx: int) -> str | None:
    """What the training block's linear recurrences say about the value at idx (from the values before it only)."""
    if not scan.linear_planes:
        return None
    bits, known = (int(a[0]) for a in scan.predict_bits(values, np.array([idx])))
    planes = [j for j in scan.linear_planes if known >> j & 1]
    lanes = {(p.stride, p.phase) for p in scan.planes if p.linear and p.phase is not None}
    if not planes and lanes and all(idx % stride != phase for stride, phase in lanes):
        where = " or ".join(f"{phase} mod {stride}" for stride, phase in sorted(lanes))
        return (f"linear recurrence (GF(2)): index {idx} is not in the lane where the recurrences hold (indices "
                f"{where}), no bit is predicted")
    if not planes:
        return f"linear recurrence (GF(2)): fewer than L values before index {idx}, no bit is predicted"
    of = scan.view_text
    if len(planes) == len(scan.planes) and not of:
        return f"linear recurrence (GF(2)): the value at index {idx} is {bits} (0x{bits:04x}), every bit predicted"
    shown = ", ".join(f"bit {j}{of} = {bits >> j & 1}" for j in planes)
    return f"linear recurrence (GF(2)): at index {idx}, {shown}; the other bits are not linear"


LCG_SEARCH = 200_000  # values before the index in which `predict` looks for a published LCG


def predict(ckpt: str | Path, u16_path: str | Path, idx: int, topk: int = 10, device: str = "cpu",
            format: str = "u16le") -> pd.DataFrame:
    """Load a checkpoint and a file, then `predict_at` one index; table.attrs["linear"] says what the training
    block's linear recurrences predict there (None when no bit plane is linear), table.attrs["lagged"] what a lagged
    sum fitted on the values before the index does (None when there is none), table.attrs["congruential"] what an
    LCG found in the values before the index does (None when there is none), table.attrs["twister"] what
    MT19937 behind the training block's die, its state recovered from the values before the index, does (None when the
    training block had none), table.attrs["xorshift"] the same for the xorshift-family generator it had (V8's
    Math.random() behind a die, a scrambled generator's outputs), table.attrs["seeded"] what the seeded library call
    the training block was found to be puts there."""
    _check_topk(topk)
    model, tokenizer, state = load_model(ckpt, pick_device(device))
    values = U16Stream(u16_path, format=format).values
    table = predict_at(model, tokenizer, values, idx, topk)
    scan = LinearScan.from_dict(state["linear"]) if state.get("linear") else None
    table.attrs["linear"] = None if scan is None else linear_next(scan, values, idx)
    start = max(0, idx - MAX_LAG - 2 * FIT)  # a lagged sum fitted on the values before idx only
    found = find_lagged_sum(values[start:idx]) if tokenizer.kind in LOSSLESS else None
    table.attrs["lagged"] = None if found is None else found.next_text(values, idx)
    lcg = find_congruential(values[max(0, idx - LCG_SEARCH):idx]) if tokenizer.kind in LOSSLESS else None
    table.attrs["congruential"] = None if lcg is None else lcg.next_text(values, idx)
    twister = Twister.from_dict(state["twister"]) if state.get("twister") and tokenizer.kind in LOSSLESS else None
    table.attrs["twister"] = None if twister is None else twister.next_text(values, idx)
    xorshift = (xorshift_from_dict(state["xorshift"]) if state.get("xorshift") and tokenizer.kind in LOSSLESS
                else None)
    table.attrs["xorshift"] = None if xorshift is None else xorshift.next_text(values, idx)
    seeded = Seeded.from_dict(state["seeded"]) if state.get("seeded") and tokenizer.kind in LOSSLESS else None
    table.attrs["seeded"] = None if seeded is None else seeded.next_text(values, idx)
    return table


def format_prediction(table: pd.DataFrame) -> str:
    """The text `seqlib predict` prints: one block per head."""
    out = []
    for head, rows in table.groupby("head"):
        first = rows.iloc[0]
        truth = ("not in the file" if first["true_value"] is None or pd.isna(first["true_value"])
                 else f"{int(first['true_value'])} (rank {int(first['true_rank'])})")
        out.append(f"head {head}: value at index {first['position']}; entropy {first['entropy_bits']:.3f} bits; "
                   f"truth {truth}")
        for r in rows.itertuples():
            mark = "  <- true" if r.is_true else ""
            if "high_byte" in table:  # a 16-bit value: show it in hex and P(its first byte) beside P(value)
                name = table.attrs.get("first_byte", "high byte")
                byte = r.high_byte if name == "high byte" else r.low_byte
                out.append(f"  {r.rank:>3}. {r.value:>13} (0x{int(r.value):04x})  p = {r.probability:.4f}  "
                           f"({name} 0x{byte:02x}: p = {r.p_first_byte:.4f}){mark}")
            else:
                out.append(f"  {r.rank:>3}. {r.value:>13}  p = {r.probability:.4f}{mark}")
    out += [table.attrs[key] for key in ("linear", "lagged", "congruential", "twister", "xorshift", "seeded")
            if table.attrs.get(key)]
    return "\n".join(out)
