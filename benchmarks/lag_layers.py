"""Lag mixing in the first block only (lag_layers=1) against every block (lag_layers=nlayers) on the 16-bit output
kinds: held-out bits per value and top-1 after the same number of steps, the two runs of a pair back to back.

Equal steps, not equal time: the first-block model takes less time per step, so where it is no worse after the
same steps it is no worse within the same time either, and the comparison does not depend on the load of a shared
machine. The GF(2) scan is off (--no-linear): its linear inputs alone predict every bit of the LCG, and the question
is what the trunk learns.

    python benchmarks/lag_layers.py                  # 2,000 steps per run, 8 runs
    python benchmarks/lag_layers.py --steps 300      # a quick look
    python benchmarks/lag_layers.py --case lagged_add/bits16 --seeds 1 2
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import cpu_seconds, markdown_table, met, report_if
from wide import MODEL, TRAIN
from seqlib.evaluate import evaluate
from seqlib.model import ModelConfig
from seqlib.sources import make_stream
from seqlib.train import TrainConfig, Trainer

CASES = [  # (source label, kind, params, output kind)
    ("lagged add x(t-5) + x(t-17) mod 2^16", "lagged_add", dict(a=5, b=17, m=65536), "bits16"),
    ("LCG mod 2^16", "lcg", dict(a=25173, c=13849, m=65536), "bits16"),
    ("sticky, 4,096 values, p=0.5", "sticky", dict(k=4096, p=0.5), "bytes16"),
    ("LCG mod 2^16", "lcg", dict(a=25173, c=13849, m=65536), "bytes16"),
]
VARIANTS = {"first block": 1, "every block": MODEL["nlayers"]}  # lag_layers
N_VALUES = 1_000_000
TOLERANCE = 0.01  # bits per value: the first-block model may trail by this much and still count as no worse


def run(path: Path, output: str, lag_layers: int, run_dir: Path, steps: int, seed: int, max_samples: int) -> dict:
    """Train one model for `steps` steps and score it on the held-out block."""
    cfg = TrainConfig(u16_path=str(path), run_dir=str(run_dir), tokenizer=output, max_steps=steps, seed=seed,
                      linear=False, **{**TRAIN, "eval_every": steps})
    cpu = cpu_seconds()
    Trainer(cfg, ModelConfig(**MODEL, lag_layers=lag_layers)).fit()
    cpu = cpu_seconds() - cpu
    head = evaluate(run_dir / "model.pt", path, max_samples=max_samples, write=False, progress=False)
    head = head["model"]["heads"][0]
    return {"bits": head["ce_bits"], "top1": head["top1"], "cpu s": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="training steps of each run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds (a row per case and seed)")
    parser.add_argument("--case", choices=[f"{kind}/{output}" for _, kind, _, output in CASES], help="only this one")
    parser.add_argument("--max_samples", type=int, default=20_000, help="held-out predictions scored per run")
    parser.add_argument("--write", action="store_true", help="also append the table to benchmarks/RESULTS.md")
    args = parser.parse_args()
    rows, started = [], time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="seqlib-lag-") as tmp:
        for i, (label, kind, params, output) in enumerate(CASES):
            if args.case not in (None, f"{kind}/{output}"):
                continue
            path = Path(tmp) / f"{kind}-{i}.u16"
            info = make_stream(path, kind, N_VALUES, seed=1, **params)
            for seed in args.seeds:
                res = {name: run(path, output, lag, Path(tmp) / f"run{i}-{lag}-{seed}", args.steps, seed,
                                 args.max_samples) for name, lag in VARIANTS.items()}
                first, every = res["first block"], res["every block"]
                row = {"source": label, "output": output, "seed": seed, "entropy rate": info.entropy_rate}
                for name, r in res.items():
                    row[f"bits, {name}"], row[f"top-1, {name}"] = r["bits"], f"{r['top1']:.2%}"
                row["CPU s per run (first / every)"] = f"{first['cpu s']:.0f} / {every['cpu s']:.0f}"
                row[f"first block no worse (<= +{TOLERANCE})"] = met(first["bits"] <= every["bits"] + TOLERANCE)
                rows.append(row)
                print(markdown_table([row]), flush=True)
    notes = [f"{args.steps:,} steps per run, model {MODEL}, train {TRAIN}, {N_VALUES:,} values per source (last 10% "
             f"held out), {args.max_samples:,} held-out predictions per run, no linear inputs; the two runs of a row "
             f"have the same seed, so the same initial trunk and batches; {(time.perf_counter() - started) / 60:.1f} "
             "min"]
    title = f"Lag mixing in the first block vs every block, 16-bit outputs ({args.steps:,} steps per run, CPU)"
    report_if(args.write, title, rows, notes)


if __name__ == "__main__":
    main()
