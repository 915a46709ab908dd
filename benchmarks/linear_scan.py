"""Linear-structure scan on one core: the 16-plane scan that finds MT19937's L = 19,937, the lanes of MT19937-64
written as 16-bit values, the full default scan of a random stream (with and without the lane screen), and
predict_bits for a training batch and for evaluation positions.

Prints a markdown table; --record also appends it to RESULTS.md. Wall and CPU time are both shown: on a machine
that other processes share, the CPU time is the cost of the work itself.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from common import cpu_seconds, machine, markdown_table, met, report
import seqlib.linear as linear
from seqlib.data import open_u16
from seqlib.linear import LinearScan, scan
from seqlib.sources import generate

N_VALUES = 2_000_000
BATCH, WINDOW = 128, 257  # a training batch: B windows of WINDOW consecutive positions at random starts
EVAL_POSITIONS, EVAL_WINDOW = 100_000, 256


def measure(fn: Callable[[], object], repeat: int = 1) -> tuple[float, float]:
    """Median wall-clock and CPU seconds of repeated calls."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), cpu_seconds()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(cpu_seconds() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def row(task: str, times: tuple[float, float], unit: str, target: float | None = None) -> dict:
    scale = 1e3 if unit == "ms" else 1.0
    wall, cpu = times
    return {"task": task, "wall": f"{wall * scale:.1f} {unit}", "CPU": f"{cpu * scale:.1f} {unit}",
            "target": f"<= {target:g} {unit}" if target else "-",
            "verdict": met(wall * scale <= target) if target else "-"}


def main(record: bool = False) -> None:
    rng = np.random.default_rng(0)
    mt = (np.random.RandomState(5489)._bit_generator.random_raw(N_VALUES) >> 16).astype(np.uint16)
    noise = np.frombuffer(os.urandom(2 * N_VALUES), np.uint16)
    found: dict[str, LinearScan] = {}
    with tempfile.TemporaryDirectory(prefix="seqlib-bench-") as tmp:
        path = Path(tmp) / "mt.u16"
        mt.tofile(path)
        values = open_u16(path)
        t_mt = measure(lambda: found.update(mt=scan(values)))
        t_mt64 = measure(lambda: found.update(mt64=scan(generate("mt19937_64", N_VALUES, mt_seed=5489)[0])))
        t_random = measure(lambda: found.update(random=scan(noise)), repeat=3)
        lanes = linear.STRIDES, linear.PHASE_STRIDES
        linear.STRIDES = linear.PHASE_STRIDES = ()  # the same scan without the lanes: what their screens cost
        t_no_lanes = measure(lambda: scan(noise), repeat=3)
        linear.STRIDES, linear.PHASE_STRIDES = lanes
        result = found["mt"]
        assert result.linear_planes == list(range(16)) and result.max_complexity_found == 19_937
        assert found["mt64"].linear_planes == list(range(16)) and found["mt64"].max_complexity_found == 79_748
        assert found["random"].linear_planes == []

        def batch() -> None:
            starts = rng.integers(0, len(values) - WINDOW, BATCH)
            result.predict_bits(values, (starts[:, None] + np.arange(WINDOW)).ravel())

        t_batch = measure(batch, repeat=20)
        # Evaluation: windows of EVAL_WINDOW consecutive positions, one window in every two, in the second half.
        starts = N_VALUES // 2 + 2 * EVAL_WINDOW * np.arange(EVAL_POSITIONS // EVAL_WINDOW)
        eval_pos = (starts[:, None] + np.arange(EVAL_WINDOW)).ravel()
        t_eval = measure(lambda: result.predict_bits(values, eval_pos), repeat=5)
        scattered = np.sort(rng.integers(20_000, N_VALUES, EVAL_POSITIONS))
        t_scattered = measure(lambda: result.predict_bits(values, scattered), repeat=3)
    rows = [
        row(f"scan MT19937, {N_VALUES:,} values (L = 19,937 on 16 planes, 1M checked)", t_mt, "s", 20),
        row(f"scan MT19937-64 written as 16-bit values, {N_VALUES:,} values (4 lanes of L = 19,937)", t_mt64, "s", 20),
        row(f"scan os.urandom, {N_VALUES:,} values, default max_complexity 65,537 (median of 3)", t_random, "s"),
        row("  the same without the lanes' screens (median of 3)", t_no_lanes, "s"),
        row(f"predict_bits, training batch {BATCH} x {WINDOW} (memmap, MT19937)", t_batch, "ms", 100),
        row(f"predict_bits, {EVAL_POSITIONS:,} evaluation positions in windows of {EVAL_WINDOW}", t_eval, "ms"),
        row(f"predict_bits, {EVAL_POSITIONS:,} scattered positions", t_scattered, "ms"),
    ]
    notes = [f"One core (sched_setaffinity), numpy {np.__version__}. MT19937's planes share one recurrence with "
             f"{len(result.planes[0].taps)} taps: predict_bits XORs one shifted slice of values per tap (FFT "
             f"convolution only for dense recurrences on long runs)."]
    if record:
        report("Linear-structure scan (one core)", rows, notes)
    else:
        print(f"{machine()}\n\n{markdown_table(rows)}\n\n{notes[0]}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--record", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    main(args.record)
