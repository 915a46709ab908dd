"""Shared helpers of the benchmarks: machine description, timing, markdown tables and RESULTS.md."""
from __future__ import annotations

import os
import platform
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Callable

import torch

RESULTS = Path(__file__).with_name("RESULTS.md")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (the platform's processor string elsewhere)."""
    try:
        match = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    except OSError:
        match = None
    return match.group(1).strip() if match else platform.processor() or "unknown"


def machine() -> str:
    """One line: CPU, cores, torch and its threads, GPU, and the load average (other processes share the cores)."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"GPU: {gpu}, load average {load}")


def sync(device: torch.device | None) -> None:
    """Wait for queued GPU work, so that wall-clock times are the work's."""
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device | None = None) -> float:
    """Seconds one call of fn takes, device work included."""
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def cpu_seconds() -> float:
    """CPU time this process has used (all threads, user + system, at full resolution); over wall time it says how many
    cores it really got."""
    return time.process_time()


def vm_kib(field: str) -> int:
    """A field of /proc/self/status in KiB (VmHWM = peak resident set, VmRSS, RssAnon, RssFile)."""
    return int(re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M).group(1))


def fmt(x: object) -> str:
    """A table cell: thousands separators for large numbers, 4 significant digits for small ones."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return str(x)
    if isinstance(x, int) or abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.4g}"


def markdown_table(rows: list[dict]) -> str:
    """A GitHub markdown table with every row's keys as columns, in the order they first appear."""
    cols = list(dict.fromkeys(key for row in rows for key in row))
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(row.get(c, "")) for c in cols) + " |" for row in rows]
    return "\n".join(lines)


def report(title: str, rows: list[dict], notes: list[str] = ()) -> None:
    """Print a table and append it to RESULTS.md under the title, the date and the machine."""
    text = "\n".join([f"### {title}", "", f"{datetime.now():%Y-%m-%d %H:%M} · {machine()}", "",
                      markdown_table(rows), *(["", *notes] if notes else []), "", ""])
    print(text, flush=True)
    append(text)


def report_if(write: bool, title: str, rows: list[dict], notes: list[str] = ()) -> None:
    """report() with write; else print the same table without appending it to RESULTS.md."""
    if write:
        report(title, rows, notes)
    else:
        print(f"### {title}\n\n{markdown_table(rows)}\n\n" + "\n".join(notes))


def append(text: str) -> None:
    """Append to RESULTS.md, creating it with its title."""
    if not RESULTS.exists():
        RESULTS.write_text("# seqlib benchmark results\n\nAppended by `make bench` (`python benchmarks/run_all.py`) "
                           "and `make bench-quick`; newest at the end.\n\n")
    with RESULTS.open("a") as f:
        f.write(text)


def met(ok: bool) -> str:
    """Target verdict cell."""
    return "met" if ok else "**missed**"
