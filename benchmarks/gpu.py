"""GPU benchmark in one short call: training tokens/s and MFU of seqlib next to a plain GPT of equal size (quick and
27M-class configs; bf16 and fp16 AMP, flash attention, eager and compiled), evaluation throughput, peak memory.

    python benchmarks/gpu.py            # on a CUDA machine: prints progress, appends its tables to RESULTS.md
    python benchmarks/gpu.py --dry-run  # anywhere: the same code paths with a tiny model on the CPU, nothing appended

On a lent GPU machine, where seqlib is not installed and only the command's output folder comes back, one call does it:
`PYTHONPATH=. PYTHONUNBUFFERED=1 python3 benchmarks/gpu.py; cp benchmarks/RESULTS.md $OUT/` (torch >= 2.4 there).

Without CUDA (and without --dry-run) it prints one line and exits 0. No training run starts later than --budget
(300) seconds into the call (the table says which were skipped), so that with evaluation the call stays under 8
minutes even where compilation is slow; on an H200 expect about 4 minutes, most of it compiling.
"""
from __future__ import annotations

import argparse
import gc
import math
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from common import markdown_table, report, timed
from seqlib.checkpoint import load_model
from seqlib.evaluate import evaluate
from seqlib.model import ModelConfig
from seqlib.sources import make_stream
from seqlib.train import TrainConfig, train
from throughput import CONFIGS, DATASHEET_PEAKS, SEQ_LEN, build, mode_name, train_step

GPU_CONFIGS = {"27M-class": CONFIGS["high-performance"], "quick": CONFIGS["quick"]}  # the one for MFU first
MODES = [(torch.bfloat16, False), (torch.float16, False), (torch.bfloat16, True)]  # (AMP dtype, compile)
TOKENS_PER_STEP = 65_536  # batch = 256 windows of 256: enough work per step for a large GPU
WARMUP, STEPS = 5, 20
EVAL_SAMPLES, EVAL_BATCH = 200_000, 512


def run_model(kind: str, sizes: dict, mode: tuple, device: torch.device, batch: int, warmup: int, steps: int,
              peak: float | None) -> dict:
    """Median tokens/s, MFU, peak memory and first-step time (with compilation) of one model in one mode."""
    if device.type == "cuda":  # what the earlier runs left behind does not count
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
    model = build(kind, sizes, device)
    step = train_step(model, *mode, batch, device)
    first = timed(step, device)
    for _ in range(warmup - 1):
        step()
    tok = batch * SEQ_LEN / statistics.median(timed(step, device) for _ in range(steps))
    return {"tok/s": tok, "MFU": f"{model.flops_per_token() * tok / peak:.1%}" if peak else "n/a",
            "peak GiB": (torch.cuda.max_memory_allocated(device) - before) / 2**30 if device.type == "cuda" else "n/a",
            "1st step s": first}


def training_rows(configs: dict, modes: list, device: torch.device, batch: int, warmup: int, steps: int,
                  deadline: float, peak: float | None) -> list[dict]:
    """One row per config and mode: both models' tokens/s, their ratio, MFU, peak memory and first step."""
    rows = []
    for config, sizes in configs.items():
        for mode in modes:
            runs = {}
            for kind in ("seqlib", "plain"):
                if time.perf_counter() < deadline:
                    print(f"  {config}, {mode_name(mode)}, {kind} ...", flush=True)
                    runs[kind] = run_model(kind, sizes, mode, device, batch, warmup, steps, peak)
            row = {"config": config, "mode": mode_name(mode)}
            if len(runs) < 2:
                rows.append({**row, "seqlib tok/s": "skipped: past the time budget"})
                continue
            row.update({"seqlib tok/s": runs["seqlib"]["tok/s"], "plain GPT tok/s": runs["plain"]["tok/s"],
                        "seqlib / plain": runs["seqlib"]["tok/s"] / runs["plain"]["tok/s"]})
            for key in ("MFU", "peak GiB", "1st step s"):
                row |= {f"seqlib {key}": runs["seqlib"][key], f"plain {key}": runs["plain"][key]}
            rows.append(row)
            print("   " + markdown_table([row]).splitlines()[-1], flush=True)
    return rows


def forward_seconds(model: torch.nn.Module, n_windows: int, batch: int, device: torch.device) -> float:
    """The model's forward alone over n_windows windows (bf16 autocast), in evaluate's batches."""
    x = torch.randint(0, model.cfg.vocab_size, (batch, model.cfg.seq_len), device=device)

    def run() -> None:
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16):
            for i in range(0, n_windows, batch):
                model.predict(x[: n_windows - i], model.cfg.seq_len // 2)

    return timed(run, device)


def evaluation_rows(device: torch.device, samples: int, batch: int, n_values: int, model_cfg: dict) -> list[dict]:
    """seqlib.evaluate of a (one-step) quick-config checkpoint on a d256 stream: predictions/s, the forward's share."""
    with tempfile.TemporaryDirectory(prefix="seqlib-gpu-") as tmp:
        path, run_dir = Path(tmp) / "die256.u16", Path(tmp) / "run"
        make_stream(path, "die", n_values, k=256)
        train(TrainConfig(u16_path=str(path), run_dir=str(run_dir), max_steps=1, batch=16, eval_windows=8,
                          device=device.type, use_amp=True, progress=False), ModelConfig(**model_cfg))
        model = load_model(run_dir / "model.pt", device)[0]
        kwargs = dict(max_samples=samples, use_amp=True, device=device.type, batch=batch, write=False, progress=False)
        evaluate(run_dir / "model.pt", path, **{**kwargs, "max_samples": batch * model.cfg.seq_len // 2})  # warm-up
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        start = time.perf_counter()
        n = evaluate(run_dir / "model.pt", path, **kwargs)["model"]["count"]
        seconds = time.perf_counter() - start
        forward = forward_seconds(model, math.ceil(n / (model.cfg.seq_len // 2)), batch, device)
        row = {"predictions": n, "evaluate s": seconds, "predictions/s": n / seconds,
               "forward only, predictions/s": n / forward, "forward share": f"{forward / seconds:.0%}"}
        if device.type == "cuda":
            row["peak GiB"] = torch.cuda.max_memory_allocated(device) / 2**30
        return [row]


def publish(title: str, rows: list[dict], notes: list[str], dry_run: bool) -> None:
    """Append a table to RESULTS.md, or only print it in a dry run."""
    if dry_run:
        print("\n".join([f"### {title} (dry run)", "", markdown_table(rows), "", *notes, ""]), flush=True)
    else:
        report(title, rows, notes)


def main(quick: bool = False, dry_run: bool = False, budget: float = 300.0) -> None:
    """quick (make bench-quick): half the timed steps."""
    start = time.perf_counter()
    if not dry_run and not torch.cuda.is_available():
        print("gpu.py: no CUDA device here; nothing measured (python benchmarks/gpu.py --dry-run checks the script)")
        return
    if dry_run:  # the same code on the CPU, tiny and short
        device, name, peak = torch.device("cpu"), "CPU (dry run)", None
        kernels = [SDPBackend.FLASH_ATTENTION, SDPBackend.MATH]
        configs = {"tiny": dict(d_model=64, nlayers=2, nhead=4)}
        batch, warmup, steps = 2, 1, 2
        eval_args = dict(samples=2_000, batch=16, n_values=200_000, model_cfg=configs["tiny"])
    else:
        device = torch.device("cuda")
        name = torch.cuda.get_device_name(device)
        peak = next((p for key, p in DATASHEET_PEAKS.items() if key in name), None)
        kernels = [SDPBackend.FLASH_ATTENTION]  # a run that cannot use it fails rather than timing another kernel
        configs, batch, warmup, steps = GPU_CONFIGS, TOKENS_PER_STEP // SEQ_LEN, WARMUP, STEPS // (2 if quick else 1)
        eval_args = dict(samples=EVAL_SAMPLES, batch=EVAL_BATCH, n_values=2_000_000, model_cfg=CONFIGS["quick"])
    print(f"gpu.py: {name}, torch {torch.__version__}; training runs until {budget:.0f} s, then evaluation", flush=True)
    with sdpa_kernel(kernels):  # both models call SDPA on CUDA
        rows = training_rows(configs, MODES, device, batch, warmup, steps, start + budget, peak)
    peak_text = (f"the datasheet's dense bf16 / fp16 peak, {peak / 1e12:.0f} TFLOP/s" if peak
                 else "a datasheet peak (none known for this device)")
    publish("GPU training throughput", rows, [
        f"{name}; batch {batch} x seq_len {SEQ_LEN}; forward + backward + clip + fused AdamW (GradScaler for fp16); "
        f"tokens/s from the median of {steps} timed steps after {warmup} warm-up step(s) (the first, with compilation, "
        f"shown apart); attention: SDPA's {' / '.join(k.name.lower() for k in kernels)} kernel, both models; MFU = "
        f"flops_per_token x tokens/s over "
        f"{peak_text}. {time.perf_counter() - start:.0f} s so far."], dry_run)
    print("  evaluation ...", flush=True)
    publish("GPU evaluation throughput", evaluation_rows(device, **eval_args), [
        f"seqlib.evaluate (bf16 autocast, batch {eval_args['batch']} windows, write=False) of a one-step checkpoint "
        f"({eval_args['model_cfg']}) on a d256 stream: model + chance/most-common/unigram/Markov 1-3 baselines + "
        f"statistics; forward only = the model's forward on as many windows. The call took "
        f"{time.perf_counter() - start:.0f} s."], dry_run)
    print(f"gpu.py: done in {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="half the timed steps")
    parser.add_argument("--dry-run", action="store_true",
                        help="a tiny model on the CPU: checks the script, appends nothing")
    parser.add_argument("--budget", type=float, default=300.0,
                        help="seconds after which no training run starts (the one running then ends first)")
    args = parser.parse_args()
    main(args.quick, args.dry_run, args.budget)
