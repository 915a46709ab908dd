"""Linear structure over GF(2): per source, the scan (L per bit plane, time), the linear-recurrence predictor's held-out
bits and top-1, and for the sources where it matters, the model's bits with and without the linear inputs.

`python benchmarks/linear.py [--quick]`: the scans and predictors take seconds; each model run trains for
--time_limit seconds (default 180) on the mixed source (its lowest bit an LFSR of degree 89, out of the model's
window; the other bits a noisy lagged sum) and on MT19937.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from common import met, report
from quality import TimeSchedule
from seqlib.baselines import LINEAR
from seqlib.evaluate import evaluate
from seqlib.linear import scan
from seqlib.model import ModelConfig
from seqlib.sources import make_stream
from seqlib.train import TrainConfig, Trainer, train

N_VALUES = 2_000_000
SOURCES = {  # name: (kind, params, train a model with and without linear inputs?)
    "MT19937 (high 16 bits)": ("mt19937", {}, True),
    "LFSR degree 89": ("lfsr", dict(degree=89), False),
    "xorshift32 (low 16 bits)": ("xorshift", dict(state_bits=32, output="low"), False),
    "xoshiro128+ (low 16 bits)": ("xoshiro", dict(scrambler="+"), False),
    "xoshiro128** (low 16 bits)": ("xoshiro", dict(scrambler="**"), False),
    "LCG mod 2^16": ("lcg", {}, False),
    "rand() of Microsoft C: LCG mod 2^32, bits 16-30": ("lcg", dict(a=214013, c=2531011, m=2**32, shift=16, bits=15),
                                                         False),
    "additive lagged x(t-5) + x(t-17) mod 2^16": ("lagged_add", {}, False),
    "mixed: LFSR-89 bit + 2 x lagged sum mod 8": ("mixed", dict(k=8, degree=89), True),
    "fair d6 (no structure)": ("die", dict(k=6), False),
}
MODEL = dict(d_model=64, nlayers=2, nhead=4, seq_len=64)
TRAIN = dict(batch=32, lr=3e-3, eval_every=250, progress=False, epochs=10_000)
MAX_GAP = 0.05  # bits per value: the model with linear inputs on the mixed source


def ranges(values: list[int]) -> str:
    """[19937] * 16 -> '19,937 (all 16)'; else the distinct Ls."""
    distinct = sorted(set(values))
    return f"{distinct[0]:,} (all {len(values)})" if len(distinct) == 1 else ", ".join(f"{v:,}" for v in distinct)


def model_bits(path: Path, run_dir: Path, linear: bool, time_limit: float, max_samples: int) -> float:
    """Held-out bits per value of a small model trained for time_limit seconds, with or without linear inputs."""
    cfg = TrainConfig(u16_path=str(path), run_dir=str(run_dir), time_limit=time_limit, linear=linear, **TRAIN)
    Trainer(cfg, ModelConfig(**MODEL), callbacks=[TimeSchedule(time_limit)]).fit()  # the cosine over the time limit
    result = evaluate(run_dir / "model.pt", path, max_samples=max_samples, progress=False, write=False)
    return result["model"]["heads"][0]["ce_bits"]


def main(quick: bool = False, time_limit: float = 180.0) -> None:
    max_samples = 20_000 if quick else 100_000
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (kind, params, with_model) in SOURCES.items():
            path = Path(tmp) / f"{kind}.u16"
            info = make_stream(path, kind, N_VALUES // (4 if quick else 1), seed=1, **params)
            values = np.fromfile(path, dtype="<u2")
            started = time.perf_counter()
            found = scan(values[: int(len(values) * 0.9)])
            scan_s = time.perf_counter() - started
            lin = [p.L for p in found.planes if p.linear]
            row = {"source": name, "linear planes": f"{len(lin)} of {len(found.planes)}",
                   "L of the linear planes": ranges(lin) if lin else "—", "scan s": round(scan_s, 1),
                   "entropy rate": info.entropy_rate}
            if with_model and not quick:
                run = Path(tmp) / f"run_{kind}"
                row["model bits, linear inputs"] = model_bits(path, run, True, time_limit, max_samples)
                row["model bits, without"] = model_bits(path, Path(tmp) / f"run_{kind}_off", False, time_limit,
                                                        max_samples)
                if kind == "mixed":
                    gap = row["model bits, linear inputs"] - info.entropy_rate
                    row["target"] = f"{met(gap <= MAX_GAP)} (gap {gap:+.3f} ≤ {MAX_GAP})"
                ckpt = run / "model.pt"
            else:
                ckpt = Path(tmp) / f"run_{kind}" / "model.pt"
                train(TrainConfig(u16_path=str(path), run_dir=str(ckpt.parent), max_steps=1, **TRAIN),
                      ModelConfig(**MODEL))
            result = evaluate(ckpt, path, max_samples=max_samples, progress=False, write=False)
            if LINEAR in result["baselines"]:
                head = result["baselines"][LINEAR]["heads"][0]
                row["linear predictor bits"], row["linear predictor top-1"] = head["ce_bits"], head["top1"]
            row["verdict"] = result["verdict"]["text"].split(":")[0]
            rows.append(row)
            print(row, flush=True)
    report(f"Linear structure over GF(2) ({'quick' if quick else f'models {time_limit:.0f} s each'})", rows,
           [f"{N_VALUES // (4 if quick else 1):,} values per source; scan of the first 90% (the training block); the "
            f"linear predictor scored on up to {max_samples:,} held-out positions; model: d_model 64, 2 layers, "
            "seq_len 64, 2 CPU cores shared with other work."])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="scans and predictors only, a quarter of the values")
    parser.add_argument("--time_limit", type=float, default=180.0, help="seconds of training per model run")
    args = parser.parse_args()
    main(args.quick, args.time_limit)
