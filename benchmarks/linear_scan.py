"""Linear-structure scan on one core: the 16-plane scan that finds MT19937's L = 19,937, the full default scan of a
random stream, and predict_bits for a training batch and for evaluation positions.

Prints a markdown table; --record also appends it to RESULTS.md.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from common import machine, markdown_table, met, report
from seqlib.data import open_u16
from seqlib.linear import scan

N_VALUES = 2_000_000
BATCH, WINDOW = 128, 257  # a training batch: B windows of WINDOW consecutive positions at random starts
EVAL_POSITIONS, EVAL_WINDOW = 100_000, 256


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(record: bool = False) -> None:
    rng = np.random.default_rng(0)
    mt = (np.random.RandomState(5489)._bit_generator.random_raw(N_VALUES) >> 16).astype(np.uint16)
    noise = np.frombuffer(os.urandom(2 * N_VALUES), np.uint16)
    with tempfile.TemporaryDirectory(prefix="seqlib-bench-") as tmp:
        path = Path(tmp) / "mt.u16"
        mt.tofile(path)
        values = open_u16(path)
        start = time.perf_counter()
        result = scan(values)
        t_mt = time.perf_counter() - start
        assert result.linear_planes == list(range(16)) and result.max_complexity_found == 19_937
        start = time.perf_counter()
        random_result = scan(noise)
        t_random = time.perf_counter() - start
        assert random_result.linear_planes == []

        def batch() -> None:
            starts = rng.integers(0, len(values) - WINDOW, BATCH)
            result.predict_bits(values, (starts[:, None] + np.arange(WINDOW)).ravel())

        t_batch = statistics.median(seconds(batch) for _ in range(20))
        # Evaluation: windows of EVAL_WINDOW consecutive positions, one window in every two, in the second half.
        starts = N_VALUES // 2 + 2 * EVAL_WINDOW * np.arange(EVAL_POSITIONS // EVAL_WINDOW)
        eval_pos = (starts[:, None] + np.arange(EVAL_WINDOW)).ravel()
        t_eval = statistics.median(seconds(lambda: result.predict_bits(values, eval_pos)) for _ in range(5))
        scattered = np.sort(rng.integers(20_000, N_VALUES, EVAL_POSITIONS))
        t_scattered = statistics.median(seconds(lambda: result.predict_bits(values, scattered)) for _ in range(3))
    taps = len(result.planes[0].taps)
    rows = [
        {"task": f"scan MT19937, {N_VALUES:,} values (L = 19,937 on 16 planes, 1M checked)",
         "measured": f"{t_mt:.2f} s", "target": "<= 20 s", "verdict": met(t_mt <= 20)},
        {"task": f"scan os.urandom, {N_VALUES:,} values, default max_complexity 65,536",
         "measured": f"{t_random:.2f} s", "target": "-", "verdict": "-"},
        {"task": f"predict_bits, training batch {BATCH} x {WINDOW} (memmap, MT19937)",
         "measured": f"{t_batch * 1e3:.1f} ms", "target": "<= 100 ms", "verdict": met(t_batch <= 0.1)},
        {"task": f"predict_bits, {EVAL_POSITIONS:,} evaluation positions in windows of {EVAL_WINDOW}",
         "measured": f"{t_eval * 1e3:.1f} ms", "target": "-", "verdict": "-"},
        {"task": f"predict_bits, {EVAL_POSITIONS:,} scattered positions", "measured": f"{t_scattered * 1e3:.1f} ms",
         "target": "-", "verdict": "-"},
    ]
    notes = [f"One core (sched_setaffinity). MT19937 planes share one recurrence with {taps} taps; predictions XOR "
             f"the shifted values of each tap (FFT only for dense recurrences on long runs)."]
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
