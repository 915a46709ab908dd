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

from .checkpoint import load_model
from .data import U16Stream
from .distributed import pick_device
from .errors import ConfigError, DataError
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
    device = next(model.parameters()).device
    with torch.inference_mode():
        logp_all = model.predict(context.to(device), start=seq_len - 1).dense()[0].float().cpu()  # (H, classes)
    wide = logp_all.shape[-1] == N_VALUES
    rows = []
    for h in range(model.cfg.heads_ahead):
        logp, probs = logp_all[h], logp_all[h].exp()
        entropy = float(-(probs * logp).nan_to_num().sum() / math.log(2))
        where = idx + h
        truth = int(values[where]) if where < n else None
        true_token = int(tokenizer.encode(np.array([truth], dtype=np.uint16))[0]) if truth is not None else None
        true_rank = int((probs > probs[true_token]).sum()) + 1 if true_token is not None else None
        candidates = probs.clone()
        if tokenizer.unk_token is not None:
            candidates[tokenizer.unk_token] = -1.0
        top = candidates.topk(min(topk, tokenizer.n_values))
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


def predict(ckpt: str | Path, u16_path: str | Path, idx: int, topk: int = 10, device: str = "cpu",
            format: str = "u16le") -> pd.DataFrame:
    """Load a checkpoint and a file, then `predict_at` one index."""
    _check_topk(topk)
    model, tokenizer, _ = load_model(ckpt, pick_device(device))
    return predict_at(model, tokenizer, U16Stream(u16_path, format=format).values, idx, topk)


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
    return "\n".join(out)
