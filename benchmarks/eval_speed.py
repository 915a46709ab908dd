"""Evaluation throughput: predictions/s of seqlib.evaluate on the quick config, next to the model's forward alone,
and where the rest of the time goes."""
from __future__ import annotations

import argparse
import cProfile
import math
import pstats
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

from common import cpu_seconds, met, report
from throughput import cpu_clock
from seqlib.checkpoint import load_model
from seqlib.evaluate import evaluate
from seqlib.model import ModelConfig
from seqlib.sources import make_stream
from seqlib.train import TrainConfig, train

QUICK = dict(d_model=256, nlayers=6, nhead=8)
N_VALUES, BATCH = 2_000_000, 64  # evaluate's default batch
MIN_SHARE = 0.85  # target: the model's forward's share of evaluate's time
ROUNDS = 3  # alternating calls of evaluate and of the forward alone, per precision
PARTS = {  # part of the breakdown: the (file, function) whose cumulative time it is
    "model forward (ModelPredictor.predict)": ("evaluate.py", "predict"),
    "baselines: fitting": ("baselines.py", "baseline_predictors"),
    "baselines: predictions": ("baselines.py", "predict"),
    "scoring (Metrics.update)": ("metrics.py", "update"),
    "loading the checkpoint": ("checkpoint.py", "load_model"),
}


def forward(model: torch.nn.Module, n_windows: int, use_amp: bool) -> None:
    """The model's forward alone over n_windows windows, in evaluate's batches."""
    x = torch.randint(0, model.cfg.vocab_size, (BATCH, model.cfg.seq_len))
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_amp):
        for i in range(0, n_windows, BATCH):
            model.predict(x[: n_windows - i], model.cfg.seq_len // 2)


def clock() -> Callable[[], float]:
    """CPU seconds with one thread (OMP_NUM_THREADS=1), which other processes on a shared machine change less than
    the wall clock; with more threads, the wall clock (CPU time would count the forward's threads, not its time)."""
    return cpu_seconds if cpu_clock(torch.device("cpu")) else time.perf_counter


def seconds(fn: Callable[[], object]) -> float:
    """Seconds of one call, by clock()."""
    now = clock()
    start = now()
    fn()
    return now() - start


def breakdown(run) -> dict[str, float]:
    """Seconds of each part of PARTS in one profiled call of run(), and the rest."""
    now = clock()
    profile = cProfile.Profile(now)
    start = now()
    profile.runcall(run)
    total = now() - start
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
            n = run()["model"]["count"]  # also the warm-up
            windows = math.ceil(n / (model.cfg.seq_len // 2))
            times = [(seconds(run), seconds(lambda: forward(model, windows, use_amp))) for _ in range(ROUNDS)]
            whole, alone = (statistics.median(t) for t in zip(*times))
            precision = "bf16 AMP" if use_amp else "fp32"
            rows.append({"precision": precision, "predictions": n, "evaluate CPU s": whole,
                         "predictions/s": n / whole, "forward only, predictions/s": n / alone,
                         "forward share": f"{alone / whole:.1%}",
                         f"share >= {MIN_SHARE:.0%}": met(alone / whole >= MIN_SHARE)})
            parts.append({"precision": precision, **{k: f"{v:.2f} s" for k, v in breakdown(run).items()}})
    unit = "CPU seconds (one thread)" if clock() is cpu_seconds else "wall seconds"
    report("Evaluation throughput (quick config, CPU)", rows, [
        f"seqlib.evaluate (write=False) of a quick-config checkpoint (vocab 257) on a {N_VALUES:,}-value d256 stream: "
        f"model + chance/most-common/unigram/Markov 1-3 baselines + statistics; each window of {model.cfg.seq_len} "
        f"scores its last {model.cfg.seq_len // 2} positions; forward only = the model's forward on as many windows, "
        f"batch {BATCH}. Times: the median of {ROUNDS} alternating calls of each, in {unit}."])
    report("Where evaluation's time goes (one more call, under cProfile)", parts, [
        "Cumulative time of ModelPredictor.predict, baseline_predictors (fitting every baseline on the training "
        f"block), the baselines' predict, Metrics.update and load_model, in {unit}; cProfile adds a little to each."])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="5,000 predictions instead of 25,000")
    main(parser.parse_args().quick)
