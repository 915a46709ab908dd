"""The workbook: helpers the notebooks share, running the four notebooks headless and exporting them as HTML."""
from __future__ import annotations

import json
import time
from pathlib import Path
from queue import Empty

import pandas as pd
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from traitlets import Type

from .checkpoint import RunPaths, load_checkpoint
from .errors import DataError, SeqlibError
from .tokenize import Tokenizer, read_tokenizer
from .workbook import NOTEBOOK_DIR

NOTEBOOKS = ["01_explore_and_bin", "02_train", "03_evaluate", "04_prediction_analysis"]
SAMPLE_NAME = "sample.u16"
SOURCE_SUFFIX = ".source.json"  # beside a generated stream: its SourceInfo (kind, parameters, entropy rate)
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
KERNEL_QUIET = ["--log-level=CRITICAL"]  # the kernel's own log lines; cell errors still come back through papermill
MISTAKE_COLUMNS = {"position": "position", "confidence": "confidence", "predicted_value": "predicted value",
                   "target_value": "true value"}
POLL_S = 0.5  # longest wait on one poll of a kernel channel


def _source_path(data: Path) -> Path:
    return data.with_name(data.name + SOURCE_SUFFIX)


def sample_data(run_dir: str | Path) -> Path:
    """The built-in sample stream in the run folder (written once), with its SourceInfo beside it."""
    from .sources import make_sample

    path = Path(run_dir) / SAMPLE_NAME
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        info = make_sample(path)
        _source_path(path).write_text(json.dumps(info.to_dict(), indent=1))
    return path


def workbook_data(data: str | Path, run_dir: str | Path) -> tuple[Path, dict | None]:
    """The notebook's data file ("" = the built-in sample) and what is known about its source (None if nothing)."""
    path = sample_data(run_dir) if str(data) == "" else Path(data)
    info = _source_path(path)
    return path, json.loads(info.read_text()) if info.is_file() else None


def save_tokenizer(tokenizer: Tokenizer, run_dir: str | Path) -> Path:
    """Write tokenizer.json (Tokenizer.to_dict) into the run folder."""
    path = RunPaths.resolve(run_dir).tokenizer
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(tokenizer.to_dict()))
    return path


def load_tokenizer(run_dir: str | Path) -> Tokenizer | None:
    """The run folder's tokenizer.json, or None when there is none (training then fits one)."""
    path = RunPaths.resolve(run_dir).tokenizer
    return read_tokenizer(path) if path.is_file() else None


def load_eval(run_dir: str | Path) -> dict:
    """The run folder's eval.json."""
    path = RunPaths.resolve(run_dir).eval
    if not path.is_file():
        raise SeqlibError(f"{path} not found; run 03_evaluate.ipynb (or `seqlib evaluate`) for this run folder first")
    try:
        result = json.loads(path.read_text())
    except ValueError as e:
        raise DataError(f"{path} is not valid JSON ({e}); run 03_evaluate.ipynb (or `seqlib evaluate`) again") from None
    if not isinstance(result, dict) or "verdict" not in result:
        raise DataError(f"{path} is not an evaluation; run 03_evaluate.ipynb (or `seqlib evaluate`) again")
    return result


HISTORY_COLUMNS = ("step", "train_loss_bits", "val_loss_bits")


def load_history(run_dir: str | Path) -> pd.DataFrame:
    """The run folder's history.csv, one row per validation; DataError when it is missing or damaged."""
    paths = RunPaths.resolve(run_dir)
    fix = f"train into {paths.run_dir} again (02_train.ipynb or `seqlib train`, with --resume to go on)"
    if not paths.history.is_file():
        raise SeqlibError(f"{paths.history} not found; {fix}")
    try:
        history = pd.read_csv(paths.history)
    except (ValueError, UnicodeDecodeError) as e:  # pandas' ParserError and EmptyDataError are ValueErrors
        raise DataError(f"{paths.history} is damaged ({str(e).strip().splitlines()[0]}); {fix}") from None
    bad = [c for c in HISTORY_COLUMNS if c not in history or not pd.api.types.is_numeric_dtype(history[c])]
    if bad:
        raise DataError(f"{paths.history} is damaged (column {', '.join(bad)} missing or not numbers); {fix}")
    if history.empty:
        raise DataError(f"{paths.history} has no rows; {fix}")
    return history


def mistakes_table(result: dict, head: int = 1, n: int = 10) -> pd.DataFrame:
    """The model's most confident wrong predictions of one head: where, how confident, predicted and true value."""
    worst = pd.DataFrame(result["model"]["heads"][head - 1]["worst"], columns=MISTAKE_COLUMNS).head(n)
    worst["position"] += head - 1  # stored positions are head 1's target; head h predicts h - 1 values further
    return worst[list(MISTAKE_COLUMNS)].rename(columns=MISTAKE_COLUMNS)


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


def export_html(notebook: str | Path, html: str | Path) -> Path:
    """Export an executed notebook to HTML, widget state included (the widgets draw in the browser)."""
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(notebook, as_version=4))
    Path(html).write_text(body, encoding="utf-8")
    return Path(html)


def build_reports(run_dir: str | Path, out_dir: str | Path, data: str | Path | None = None,
                  smoke: bool = False) -> list[Path]:
    """Run the four notebooks in order on one run folder; write out_dir/NN_name.ipynb and .html, and key_figures.png."""
    import papermill
    from jupyter_client import AsyncKernelManager

    run_dir, out_dir = Path(run_dir).resolve(), Path(out_dir).resolve()
    if not NOTEBOOK_DIR.is_dir():
        raise SeqlibError(f"notebooks not found in {NOTEBOOK_DIR}; reinstall seqlib (its wheel ships them)")
    data = sample_data(run_dir) if data is None else Path(data).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for i, name in enumerate(NOTEBOOKS, start=1):
        started = time.perf_counter()
        print(f"[{i}/{len(NOTEBOOKS)}] {name} ...", flush=True)
        executed = out_dir / f"{name}.ipynb"
        try:
            papermill.execute_notebook(NOTEBOOK_DIR / f"{name}.ipynb", executed, kernel_name="python3",
                                       parameters={"data": str(data), "run_dir": str(run_dir), "smoke": smoke},
                                       cwd=NOTEBOOK_DIR, progress_bar=False, extra_arguments=KERNEL_QUIET,
                                       km=AsyncKernelManager(kernel_name="python3",
                                                             client_class=f"{__name__}.SlicedPollKernelClient"))
        except papermill.PapermillExecutionError as e:
            export_html(executed, out_dir / f"{name}.html")
            raise SeqlibError(f"{name} failed in cell {e.exec_count}: {e.ename}: {e.evalue}; "
                              f"see {out_dir / name}.html") from e
        written.append(export_html(executed, out_dir / f"{name}.html"))
        print(f"[{i}/{len(NOTEBOOKS)}] {name} done in {time.perf_counter() - started:.0f} s", flush=True)
    written.append(write_key_figures(run_dir, out_dir / "key_figures.png"))
    return written
