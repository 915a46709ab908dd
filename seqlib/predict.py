"""Next-value predictions at one position of a file: top-k values with probabilities, and the truth when known.

A bytes16 or bits16 model lists full 16-bit values with their exact probabilities P(first byte) P(second | first).
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
from .errors import DataError
from .metrics import BYTE


def predict_at(model, tokenizer, values: np.ndarray, idx: int, topk: int = 10) -> pd.DataFrame:
    """Top-k predictions of each head from the seq_len values before `idx` (head h predicts the value at idx+h-1)."""
    seq_len, n = model.cfg.seq_len, len(values)
    if not seq_len <= idx <= n:
        raise DataError(f"--idx {idx} is out of range: it needs {seq_len} values of context, "
                        f"so choose an index from {seq_len} to {n} for this file of {n} values")
    context = torch.as_tensor(tokenizer.encode(np.asarray(values[idx - seq_len : idx])))[None]
    device = next(model.parameters()).device
    if model.cfg.factorized:
        return _predict_values(model, tokenizer, context.to(device), values, idx, topk)
    with torch.inference_mode():
        logp = torch.log_softmax(model(context.to(device))[0, -1].float(), dim=-1).cpu()
    rows = []
    for h in range(model.cfg.heads_ahead):
        probs = logp[h].exp()
        entropy = float(-(probs * logp[h]).nan_to_num().sum() / math.log(2))
        where = idx + h
        truth = int(values[where]) if where < n else None
        true_token = int(tokenizer.encode(np.array([truth], dtype=np.uint16))[0]) if truth is not None else None
        values_only = probs[: tokenizer.n_values]  # the unknown-value class (UNK) is never a value to offer
        true_rank = int((values_only > probs[true_token]).sum()) + 1 if true_token is not None else None
        top = values_only.topk(min(topk, len(values_only)))
        for rank, (p, tok) in enumerate(zip(top.values.tolist(), top.indices.tolist()), start=1):
            lo, hi = tokenizer.decode(tok)
            rows.append({"head": h + 1, "position": where, "rank": rank, "token": tok, "value": tokenizer.label(tok),
                         "lo": lo, "hi": hi, "probability": p, "is_true": tok == true_token,
                         "true_value": truth, "true_rank": true_rank, "entropy_bits": entropy})
    return pd.DataFrame(rows)


def _predict_values(model, tokenizer, context: torch.Tensor, values: np.ndarray, idx: int,
                    topk: int) -> pd.DataFrame:
    """predict_at for a factorized model: exact probabilities of all 65,536 values (one position is cheap).

    p_first_byte is P(the token's first byte): the value's high byte for bytes16, its low byte for bits16
    (table.attrs["first_byte"] names it)."""
    n, heads = len(values), model.cfg.heads_ahead
    with torch.inference_mode():
        factors = model.factors(context, start=context.shape[1] - 1)
        every_first = torch.arange(BYTE, device=context.device).expand(1, heads, BYTE)
        logp_all = (factors.high[..., None] + factors.low(every_first))[0].flatten(-2).cpu()  # (H, token)
    rows = []
    for h in range(heads):
        logp, probs = logp_all[h], logp_all[h].exp()
        entropy = float(-(probs * logp).nan_to_num().sum() / math.log(2))
        where = idx + h
        truth = int(values[where]) if where < n else None
        true_token = int(tokenizer.encode(np.array([truth]))[0]) if truth is not None else None
        true_rank = int((probs > probs[true_token]).sum()) + 1 if truth is not None else None
        top = probs.topk(topk)
        for rank, (p, tok) in enumerate(zip(top.values.tolist(), top.indices.tolist()), start=1):
            v = int(tokenizer.lo[tok])
            rows.append({"head": h + 1, "position": where, "rank": rank, "token": tok, "value": str(v), "lo": v, "hi": v,
                         "probability": p, "is_true": tok == true_token, "true_value": truth, "true_rank": true_rank,
                         "entropy_bits": entropy, "high_byte": v // BYTE, "low_byte": v % BYTE,
                         "p_first_byte": float(factors.high[0, h, tok // BYTE].exp())})
    table = pd.DataFrame(rows)
    table.attrs["first_byte"] = tokenizer.byte_names[0]
    return table


def predict(ckpt: str | Path, u16_path: str | Path, idx: int, topk: int = 10, device: str = "cpu") -> pd.DataFrame:
    """Load a checkpoint and a file, then `predict_at` one index."""
    model, tokenizer, _ = load_model(ckpt, pick_device(device))
    return predict_at(model, tokenizer, U16Stream(u16_path).values, idx, topk)


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
