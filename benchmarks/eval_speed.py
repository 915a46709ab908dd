"""Evaluation throughput: predictions/s of seqlib.evaluate on the quick config, next to the model's forward alone,
and where the rest of the time goes."""
from __future__ import annotations

import argparse
import cProfile
import math
import pstats
import tempfile
import time
from pathlib import Path

import torch

from common import met, report
from seqlib.checkpoint import load_model
from seqlib.evaluate import evaluate
from seqlib.model import ModelConfig
from seqlib.sources import make_stream
from seqlib.train import TrainConfig, train

QUICK = dict(d_model=256, nlayers=6, nhead=8)
N_VALUES, BATCH = 2_000_000, 64  # evaluate's default batch
MIN_SHARE = 0.85  # target: the model's forward's share of evaluate's time
PARTS = {  # part of the breakdown: the (file, function) whose cumulative time it is
    "model forward (ModelPredictor.predict)": ("evaluate.py", "predict"),
    "baselines: fitting": ("baselines.py", "baseline_predictors"),
    "baselines: predictions": ("baselines.py", "predict"),
    "scoring (Metrics.update)": ("metrics.py", "update"),
    "loading the checkpoint": ("checkpoint.py", "load_model"),
}


def forward_seconds(model: torch.nn.Module, n_windows: int, use_amp: bool) -> float:
    """Time of the model's forward alone over n_windows windows, in evaluate's batches."""
    x = torch.randint(0, model.cfg.vocab_size, (BATCH, model.cfg.seq_len))
    start = time.perf_counter()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_amp):
        for i in range(0, n_windows, BATCH):
            model.predict(x[: n_windows - i], model.cfg.seq_len // 2)
    return time.perf_counter() - start


def breakdown(run) -> dict[str, float]:
    """Seconds of each part of PARTS in one profiled call of run(), and the rest."""
    profile = cProfile.Profile()
    start = time.perf_counter()
    profile.runcall(run)
    total = time.perf_counter() - start
    stats = pstats.Stats(profile).stats  # {(file, line, function): (calls, primitive, own, cumulative, callers)}
    parts = {part: sum(cumulative for (f, _, fn), (*_, cumulative, _) in stats.items()
                       if f.endswith(file) and fn == name) for part, (file, name) in PARTS.items()}
    return {**parts, "everything else": total - sum(parts.values()), "total": total}


def main(quick: bool = False) -> None:
    max_samples = 5_000 if quick else 25_000
    rows, parts = [], []
    with tempfile.TemporaryDirectory(prefix="seqlib-bench-") as tmp:
        path, run_dir = Path(tmp) / "die256.u16", Path(tmp) / "run"
        make_stream(path, "die", N_VALUES, k=256)
        train(TrainConfig(u16_path=str(path), run_dir=str(run_dir), max_steps=1, batch=16, eval_windows=8,
                          progress=False), ModelConfig(**QUICK))  # a checkpoint: one step from random weights
        model = load_model(run_dir / "model.pt")[0]
        for use_amp in (False, True):
            run = lambda: evaluate(run_dir / "model.pt", path, max_samples=max_samples, use_amp=use_amp,
                                   write=False, progress=False)
            start = time.perf_counter()
            n = run()["model"]["count"]
            seconds = time.perf_counter() - start
            forward = forward_seconds(model, math.ceil(n / (model.cfg.seq_len // 2)), use_amp)
            precision = "bf16 AMP" if use_amp else "fp32"
            rows.append({"precision": precision, "predictions": n, "evaluate s": seconds,
                         "predictions/s": n / seconds, "forward only, predictions/s": n / forward,
                         "forward share": f"{forward / seconds:.0%}",
                         f"share >= {MIN_SHARE:.0%}": met(forward / seconds >= MIN_SHARE)})
            parts.append({"precision": precision, **{k: f"{v:.2f} s" for k, v in breakdown(run).items()}})
    report("Evaluation throughput (quick config, CPU)", rows, [
        f"seqlib.evaluate (write=False) of a quick-config checkpoint (vocab 257) on a {N_VALUES:,}-value d256 stream: "
        f"model + chance/most-common/unigram/Markov 1-3 baselines + statistics; each window of {model.cfg.seq_len} "
        f"scores its last {model.cfg.seq_len // 2} positions; forward only = the model's forward on as many windows, "
        f"batch {BATCH}."])
    report("Where evaluation's time goes (one more call, under cProfile)", parts, [
        "Cumulative time of ModelPredictor.predict, baseline_predictors (fitting every baseline on the training "
        "block), the baselines' predict, Metrics.update and load_model; cProfile adds a little to each."])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="5,000 predictions instead of 25,000")
    main(parser.parse_args().quick)
