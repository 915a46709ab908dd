"""Data pipeline on a 2 GB .u16 file: WindowBatches vs a naive per-sample loader, open/fingerprint time, peak RSS."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from common import met, report, timed, vm_kib
from seqlib.data import U16Stream, WindowBatches, batch_iterator, fingerprint
from seqlib.tokenize import Tokenizer, fit_tokenizer

N_VALUES = 1_000_000_000  # 2 GB
CHUNK = 1 << 26  # values written per chunk (128 MiB)
BATCH, SEQ_LEN = 64, 256
TOKENIZER = "quantile"  # 256 bins, the usual choice for raw 16-bit data; pinned so that "auto" cannot change it
TRAIN_BATCH = 16  # the RSS training run: a small batch, so that activations do not hide the data's share


def write_file(path: Path, n: int) -> None:
    """n random uint16 values, written chunk by chunk and synced to disk."""
    rng = np.random.default_rng(0)
    with open(path, "wb") as f:
        for start in range(0, n, CHUNK):
            rng.integers(0, 1 << 16, min(CHUNK, n - start), dtype=np.uint16).tofile(f)
        f.flush()
        os.fsync(f.fileno())


def evict(path: Path) -> None:
    """Drop the file's pages from the page cache, for cold-cache timings."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def read_through(path: Path) -> None:
    """Read the whole file once, so that its pages are in the page cache (warm-cache timings)."""
    with open(path, "rb") as f:
        while f.read(CHUNK):
            pass


def naive_batch(path: Path, tokenizer: Tokenizer, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The per-sample way: a fresh memmap per batch, one slice per window, then stack the list."""
    values = np.memmap(path, dtype="<u2", mode="r")
    xs, ys = [], []
    for s in rng.integers(0, len(values) - SEQ_LEN, BATCH):
        tokens = torch.from_numpy(tokenizer.encode(values[s : s + SEQ_LEN + 1]))
        xs.append(tokens[:-1])
        ys.append(tokens[1:, None])
    return torch.stack(xs), torch.stack(ys)


def rates(fns: dict[str, Callable[[], object]], budget: float) -> dict[str, float]:
    """Calls per second of each fn; calls are interleaved so that every fn sees the same load."""
    spent, calls = dict.fromkeys(fns, 0.0), 0
    while sum(spent.values()) < budget:
        for name, fn in fns.items():
            spent[name] += timed(fn)
        calls += 1
    return {name: calls / s for name, s in spent.items()}


def row(measurement: str, value: str, target: str = "", ok: bool | None = None) -> dict:
    """One line of the table."""
    return {"measurement": measurement, "value": value, "target": target, "verdict": "" if ok is None else met(ok)}


def child(mode: str, path: str, steps: int) -> None:
    """In a fresh process: yield batches, or train briefly, then print the peak RSS (MB) as JSON."""
    imported = vm_kib("VmHWM")
    if mode == "batches":
        stream = U16Stream(path)
        data = WindowBatches(stream.values, 0, len(stream), seq_len=SEQ_LEN, heads_ahead=1, batch_size=BATCH,
                             tokenizer=fit_tokenizer(stream.values, TOKENIZER), mode="epoch")
        for _ in zip(range(steps), batch_iterator(data)):
            pass
    else:
        from seqlib.model import ModelConfig  # the trainer's imports (pandas, ...) are not part of the batches run
        from seqlib.train import TrainConfig, Trainer

        with tempfile.TemporaryDirectory() as run_dir:
            trainer = Trainer(TrainConfig(u16_path=path, run_dir=run_dir, max_steps=steps, eval_every=steps,
                                          batch=TRAIN_BATCH, tokenizer=TOKENIZER, use_amp=True, progress=False),
                              ModelConfig(d_model=64, nlayers=2, nhead=4, seq_len=SEQ_LEN))
            trainer.fit()
    print(json.dumps({"imported": imported / 1024, "peak": vm_kib("VmHWM") / 1024,
                      "anon": vm_kib("RssAnon") / 1024, "file": vm_kib("RssFile") / 1024}))


def peak_rss(mode: str, path: Path, steps: int, warm: bool = True) -> dict[str, float]:
    """Peak RSS (MB) of a child process that runs `mode` on the file, with its pages in the page cache or not."""
    if warm:
        read_through(path)
    else:
        evict(path)
    out = subprocess.run([sys.executable, __file__, "--child", mode, str(path), "--steps", str(steps)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(quick: bool = False) -> None:
    budget, steps, train_steps = (3.0, 50, 10) if quick else (10.0, 200, 50)
    with tempfile.TemporaryDirectory(prefix="seqlib-bench-") as tmp:
        path = Path(tmp) / "stream.u16"
        t_write = timed(lambda: write_file(path, N_VALUES))
        evict(path)
        t_open = timed(lambda: U16Stream(path))
        evict(path)
        t_fp_cold, t_fp_warm = timed(lambda: fingerprint(path)), timed(lambda: fingerprint(path))
        read_through(path)
        stream = U16Stream(path)
        t_tok = timed(lambda: fit_tokenizer(stream.values, TOKENIZER))
        tokenizer = fit_tokenizer(stream.values, TOKENIZER)
        data = {mode: WindowBatches(stream.values, 0, len(stream), seq_len=SEQ_LEN, heads_ahead=1, batch_size=BATCH,
                                    tokenizer=tokenizer, mode=mode) for mode in ("random", "epoch")}
        index, rng = iter(range(sys.maxsize)), np.random.default_rng(0)
        speed = rates({"random": lambda: data["random"][next(index)], "epoch": lambda: data["epoch"][next(index)],
                       "naive": lambda: naive_batch(path, tokenizer, rng)}, budget)
        del stream, data
        opened = f"open + fit tokenizer + {steps} batches (epoch)"
        trained = f"training {train_steps} steps (d_model 64, 2 layers, batch {TRAIN_BATCH} x {SEQ_LEN}, AMP)"
        rss = [(f"{opened}, warm cache", 300, peak_rss("batches", path, steps)),
               (f"{opened}, cold cache", 300, peak_rss("batches", path, steps, warm=False)),
               (f"{trained}, warm cache", 500, peak_rss("train", path, train_steps))]

    speedup = speed["random"] / speed["naive"]
    rows = [
        row(f"write the file ({N_VALUES * 2 / 1e9:.0f} GB, chunks of {CHUNK * 2 >> 20} MiB)", f"{t_write:.1f} s"),
        row("open U16Stream (validate + fingerprint, cold cache)", f"{t_open * 1e3:.1f} ms"),
        row("fingerprint, cold cache", f"{t_fp_cold * 1e3:.1f} ms", "< 100 ms", t_fp_cold < 0.1),
        row("fingerprint, warm cache", f"{t_fp_warm * 1e3:.1f} ms"),
        row("fit_tokenizer (quantile, 1M-value sample)", f"{t_tok * 1e3:.0f} ms"),
        row(f"WindowBatches random, {BATCH} x {SEQ_LEN}", f"{speed['random']:,.0f} batches/s"),
        row(f"WindowBatches epoch, {BATCH} x {SEQ_LEN}", f"{speed['epoch']:,.0f} batches/s"),
        row("naive: memmap per batch, list of per-sample slices", f"{speed['naive']:,.0f} batches/s"),
        row("WindowBatches (random) / naive", f"{speedup:.1f}x", ">= 20x", speedup >= 20),
    ]
    for what, limit, r in rss:
        value = (f"{r['peak']:.0f} MB (after imports {r['imported']:.0f}; at exit anonymous {r['anon']:.0f}, "
                 f"file-backed {r['file']:.0f})")
        rows.append(row(f"peak RSS: {what}", value, f"< {limit} MB", r["peak"] < limit))
    report("Data pipeline (2 GB .u16 file)", rows,
           [f"batches/s interleaved over {budget:.0f} s of calls, page cache warm; peak RSS = VmHWM of a child process "
            "(the memmap's file-backed pages count in it: they are page cache, shared and reclaimable, while the "
            "anonymous part is the process's own memory)."])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter timings")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=200, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.steps)
    else:
        main(args.quick)
