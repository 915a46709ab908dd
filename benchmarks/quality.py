"""Learning quality vs the limit: held-out bits per value of a small model trained for a fixed time, per source."""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from common import cpu_seconds, met, report
from seqlib.evaluate import evaluate
from seqlib.model import ModelConfig
from seqlib.sources import SourceInfo, make_stream
from seqlib.train import Callback, TrainConfig, Trainer

SOURCES = {  # name: (kind, params)
    "fair d6": ("die", dict(k=6)),
    "biased d20": ("biased_die", dict(k=20)),
    "order-2 Markov, 16 symbols": ("markov", dict(k=16, order=2)),
    "sticky d6 (p=0.3)": ("sticky", dict(k=6, p=0.3)),
    "lagged sum k=8, lags 3 and 7, noise 0.2": ("lagged_sum", dict(k=8, a=3, b=7, noise=0.2)),
}
N_VALUES = 2_000_000
MODEL = dict(d_model=64, nlayers=2, nhead=4, seq_len=64)  # general settings, the same for every source
TRAIN = dict(batch=32, lr=3e-3, eval_every=100, use_amp=True, progress=False)
MAX_GAP = 0.02  # bits per value


class TimeSchedule(Callback):
    """Trainer callback that stretches the cosine schedule over the time limit, from the step rate so far."""

    def __init__(self, time_limit: float):
        self.time_limit, self.first_step_end = time_limit, None

    def on_step(self, trainer: Trainer, row: dict) -> None:
        """Set the schedule's length to the steps done plus those the remaining time allows at the rate so far."""
        now = time.perf_counter()
        if self.first_step_end is None:  # the first step includes one-off warm-up costs
            self.first_step_end = now
            return
        elapsed = now - self.first_step_end
        rate = (trainer.step - 1) / elapsed
        trainer.total_steps = trainer.step + max(1, int(rate * (self.time_limit - elapsed)))


def run_source(name: str, path: Path, info: SourceInfo, run_dir: Path, time_limit: float, max_samples: int) -> dict:
    """Train for time_limit seconds with a cosine schedule over that time, evaluate on the held-out block."""
    cpu, start = cpu_seconds(), time.perf_counter()
    cfg = TrainConfig(u16_path=str(path), run_dir=str(run_dir), epochs=10_000, time_limit=time_limit, **TRAIN)
    history = Trainer(cfg, ModelConfig(**MODEL), callbacks=[TimeSchedule(time_limit)]).fit()
    cores = (cpu_seconds() - cpu) / (time.perf_counter() - start)
    result = evaluate(run_dir / "model.pt", path, max_samples=max_samples, write=False, progress=False)
    model, verdict = result["model"]["heads"][0], result["verdict"]
    best = verdict["best_baseline"]
    baseline = result["baselines"][best]["heads"][0]
    lo, hi = verdict["gain_bits_vs_chance_ci95"]  # chance_bits - model bits, window bootstrap
    gap = model["ce_bits"] - info.entropy_rate
    below = verdict["chance_bits"] - lo < info.entropy_rate  # even the CI's upper end lies below the limit
    return {"source": name, "steps": int(history["step"].iloc[-1]), "cores used": cores, "val bits": model["ce_bits"],
            "entropy rate": info.entropy_rate, "gap": f"{gap:+.4f} ± {(hi - lo) / 2:.4f}",
            "top-1": f"{model['top1']:.2%}", "ideal top-1": f"{info.ideal_top1:.2%}",
            "best baseline": best, "baseline bits": baseline["ce_bits"], "baseline top-1": f"{baseline['top1']:.2%}",
            "verdict": verdict["text"].split(":")[0],
            f"gap <= {MAX_GAP}": "**BUG: below the entropy rate**" if below else met(gap <= MAX_GAP)}


def main(quick: bool = False, time_limit: float | None = None) -> None:
    time_limit = time_limit or (20.0 if quick else 120.0)
    rows = []
    with tempfile.TemporaryDirectory(prefix="seqlib-bench-") as tmp:
        for i, (name, (kind, params)) in enumerate(SOURCES.items()):
            path = Path(tmp) / f"{kind}.u16"
            info = make_stream(path, kind, N_VALUES, **params)
            rows.append(run_source(name, path, info, Path(tmp) / f"run{i}", time_limit, 20_000 if quick else 50_000))
    report(f"Learning quality vs the limit ({time_limit:.0f} s of CPU training per source)", rows, [
        f"d_model {MODEL['d_model']}, {MODEL['nlayers']} layers, {MODEL['nhead']} heads, seq_len {MODEL['seq_len']}, "
        f"batch {TRAIN['batch']}, lr {TRAIN['lr']}, bf16 AMP, cosine schedule stretched over the {time_limit:.0f} s "
        f"from the step rate; cores used = CPU time / wall time of training (of {os.cpu_count()}); {N_VALUES:,} values "
        "per source, evaluated (fp32) on the held-out 10%. gap = val bits - entropy rate ± half the 95% "
        "window-bootstrap interval; a val bits whose whole interval lies below the entropy rate is flagged as a bug."])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20 s per source instead of 120 s")
    parser.add_argument("--time_limit", type=float, help="seconds of training per source")
    args = parser.parse_args()
    main(args.quick, args.time_limit)
