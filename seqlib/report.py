"""The workbook's reports: run the four notebooks headless on one run folder, export each as self-contained HTML
(with its code, and with the code hidden for readers), and write index.html with the verdict on top."""
from __future__ import annotations

import time
from pathlib import Path
from queue import Empty

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from traitlets import Type

from . import offline
from .checkpoint import RunPaths, load_checkpoint
from .errors import SeqlibError
from .index import write_index
from .runs import load_eval, load_history, sample_data, workbook_data
from .workbook import NOTEBOOK_DIR

NOTEBOOKS = ["01_explore_and_bin", "02_train", "03_evaluate", "04_prediction_analysis"]
NOCODE_SUFFIX = ".nocode.html"  # the code-hidden export of NN_name.ipynb is NN_name.nocode.html
KERNEL_QUIET = ["--log-level=CRITICAL"]  # the kernel's own log lines; cell errors still come back through papermill
POLL_S = 0.5  # longest wait on one poll of a kernel channel


def write_key_figures(run_dir: str | Path, path: str | Path = "docs/key_figures.png", dpi: int = 110) -> Path:
    """The README thumbnail: plots.key_figures from a run folder's history.csv and eval.json."""
    from . import plots

    paths = RunPaths.resolve(run_dir)
    history, result = load_history(run_dir), load_eval(run_dir)
    data = load_checkpoint(paths.ckpt)["train_config"]["u16_path"]
    _, source = workbook_data(data, run_dir)
    fig = plots.key_figures(history, result, source["entropy_rate"] if source else None)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


class _SlicedPollChannel(AsyncZMQSocketChannel):
    """Waits for a kernel message in short polls.

    An open-ended asyncio poll of pyzmq sometimes misses the wake-up of a message that has arrived: a notebook with
    widgets then hung after its last message in about one run in five (pyzmq 27, jupyter_client 8, nbclient 0.11).
    A poll with a timeout looks again when it expires, so a missed wake-up costs at most POLL_S.
    """

    async def get_msg(self, timeout: float | None = None) -> dict:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = POLL_S if deadline is None else max(0.0, min(POLL_S, deadline - time.monotonic()))
            try:
                return await super().get_msg(timeout=left)
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise


class SlicedPollKernelClient(AsyncKernelClient):
    """The kernel client that build_reports runs notebooks with (see _SlicedPollChannel)."""

    shell_channel_class = Type(_SlicedPollChannel)
    iopub_channel_class = Type(_SlicedPollChannel)


def export_html(notebook: str | Path, html: str | Path, code: bool = True) -> Path:
    """Export an executed notebook to self-contained HTML (offline.py); code=False hides the code cells' inputs."""
    import nbformat

    nb = offline.self_contained(nbformat.read(notebook, as_version=4))
    body, _ = offline.exporter(code).from_notebook_node(nb)
    Path(html).write_text(body, encoding="utf-8")
    return Path(html)


def _run_notebook(name: str, executed: Path, data: Path, run_dir: Path, smoke: bool) -> None:
    """Execute one notebook of the workbook with papermill (its parameters cell gets data, run_dir and smoke)."""
    import papermill
    from jupyter_client import AsyncKernelManager

    papermill.execute_notebook(NOTEBOOK_DIR / f"{name}.ipynb", executed, kernel_name="python3",
                               parameters={"data": str(data), "run_dir": str(run_dir), "smoke": smoke},
                               cwd=NOTEBOOK_DIR, progress_bar=False, extra_arguments=KERNEL_QUIET,
                               km=AsyncKernelManager(kernel_name="python3",
                                                     client_class=f"{__name__}.SlicedPollKernelClient"))


def build_reports(run_dir: str | Path, out_dir: str | Path, data: str | Path | None = None,
                  smoke: bool = False) -> list[Path]:
    """Run the four notebooks in order on one run folder; write out_dir/NN_name.ipynb, .html and .nocode.html,
    key_figures.png and index.html (the last path returned), printing progress."""
    import papermill

    run_dir, out_dir = Path(run_dir).resolve(), Path(out_dir).resolve()
    if not NOTEBOOK_DIR.is_dir():
        raise SeqlibError(f"notebooks not found in {NOTEBOOK_DIR}; reinstall seqlib (its wheel ships them)")
    data = sample_data(run_dir) if data is None else Path(data).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    written, started = [], time.perf_counter()
    for i, name in enumerate(NOTEBOOKS, start=1):
        step = f"[{i}/{len(NOTEBOOKS)}] {name}"
        print(f"{step} ...", flush=True)
        executed, begun = out_dir / f"{name}.ipynb", time.perf_counter()
        try:
            _run_notebook(name, executed, data, run_dir, smoke)
        except papermill.PapermillExecutionError as e:
            export_html(executed, out_dir / f"{name}.html")
            raise SeqlibError(f"{name} failed in cell {e.exec_count}: {e.ename}: {e.evalue}; "
                              f"see {out_dir / name}.html") from e
        written += [export_html(executed, out_dir / f"{name}.html"),
                    export_html(executed, out_dir / f"{name}{NOCODE_SUFFIX}", code=False)]
        print(f"{step} done in {time.perf_counter() - begun:.0f} s ({time.perf_counter() - started:.0f} s so far)",
              flush=True)
    written.append(write_key_figures(run_dir, out_dir / "key_figures.png"))
    written.append(write_index(run_dir, out_dir, NOTEBOOKS, NOCODE_SUFFIX))
    print(f"reports written in {time.perf_counter() - started:.0f} s; open {written[-1]}", flush=True)
    return written
