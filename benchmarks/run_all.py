"""Run every benchmark and append its table to RESULTS.md: `make bench` (~25 min on 2 cores), `make bench-quick`.

On a machine that other processes share, OMP_NUM_THREADS=1 gives steadier numbers (the header shows the threads), and
the CPU throughput is then timed in CPU seconds. The GPU benchmark (gpu.py) runs where CUDA is, and says so elsewhere.
"""
from __future__ import annotations

import argparse
import time
from datetime import datetime

import data_pipeline
import eval_speed
import gpu
import quality
import real_generators
import throughput
from common import append, machine


def main(quick: bool = False) -> None:
    append(f"## {'Quick' if quick else 'Full'} run, {datetime.now():%Y-%m-%d %H:%M}\n\n{machine()}\n\n")
    start = time.perf_counter()
    for module in (throughput, eval_speed, data_pipeline, quality, gpu):
        began = time.perf_counter()
        module.main(quick)
        print(f"{module.__name__}: {time.perf_counter() - began:.0f} s\n", flush=True)
    if not quick:  # its 1M-value streams: with 2M, scoring one stream's degree-41,478 recurrence takes minutes
        real_generators.main(quick=True, write=True)
    append(f"Total time: {(time.perf_counter() - start) / 60:.1f} min\n\n")
    print(f"all benchmarks: {(time.perf_counter() - start) / 60:.1f} min; tables appended to benchmarks/RESULTS.md")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter version, about 6 minutes")
    main(parser.parse_args().quick)
