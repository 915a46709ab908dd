"""Run folders: the files the notebooks share (data, tokenizer, eval.json), one-line summaries, and comparing runs.

A run folder holds history.csv once training has validated; summary.json (one JSON line) condenses it for `seqlib runs`
and is rewritten after every validation and every evaluation.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from .checkpoint import RunPaths
from .errors import DataError, SeqlibError
from .tokenize import Tokenizer, read_tokenizer

SAMPLE_NAME = "sample.u16"
SOURCE_SUFFIX = ".source.json"  # beside a generated stream: its SourceInfo (kind, parameters, entropy rate)
SUMMARY = "summary.json"
MISTAKE_COLUMNS = {"position": "position", "confidence": "confidence", "predicted_value": "predicted value",
                   "target_value": "true value"}
TABLE_COLUMNS = ["run", "data", "tokenizer", "d_model", "nlayers", "params", "steps", "time_s", "best_val_bits",
                 "model_bits", "baseline_bits", "verdict"]


def _number(spec: str):
    return lambda x: "" if pd.isna(x) else format(x, spec)


# how runs_table's numbers print (`seqlib runs`) and show (notebook 02: table.style.format(TABLE_FORMATS))
TABLE_FORMATS = {"d_model": _number(".0f"), "nlayers": _number(".0f"), "params": _number(",.0f"),
                 "steps": _number(".0f"), "time_s": _number(".0f"), "best_val_bits": _number(".4f"),
                 "model_bits": _number(".4f"), "baseline_bits": _number(".4f"),
                 "verdict": lambda x: "" if pd.isna(x) else x}


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
    for predictor in [result.get("model", {}), *result.get("baselines", {}).values()]:
        for head in [*predictor.get("heads", []), predictor.get("overall", {})]:
            for old, new in OLD_BYTE_KEYS.items():  # older eval.json files name the bytes high and low
                if old in head:
                    head[new] = head.pop(old)
    return result


HISTORY_COLUMNS = ("step", "train_loss_bits", "val_loss_bits")
OLD_BYTE_KEYS = {"high_byte": "first_byte", "low_byte": "second_byte"}


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


# --- summaries ---------------------------------------------------------------------------------------------------

def _checkpoint_facts(ckpt: Path) -> dict:
    """Data, configs, tokenizer and size of a run from its checkpoint, without reading the weights (mmap)."""
    import torch

    from .model import ModelConfig, SeqModel

    state = torch.load(ckpt, map_location="cpu", weights_only=True, mmap=True)
    train_cfg, model_cfg = state["train_config"], ModelConfig.from_dict(state["model_config"])
    with torch.device("meta"):  # the parameter count of the config, no memory allocated
        params = SeqModel(model_cfg).num_params()
    tokenizer = Tokenizer.from_dict(state["tokenizer"])
    return {"data": train_cfg["u16_path"], "fingerprint": state["split"]["fingerprint"], "tokenizer": tokenizer.kind,
            "n_values": tokenizer.n_values, "d_model": model_cfg.d_model, "nlayers": model_cfg.nlayers,
            "nhead": model_cfg.nhead, "seq_len": model_cfg.seq_len, "heads_ahead": model_cfg.heads_ahead,
            "params": params, "batch": train_cfg["batch"], "lr": train_cfg["lr"], "steps": state["step"]}


def _evaluation_facts(result: dict) -> dict:
    """The verdict and head-1 numbers of an eval.json result (keys absent from older results are left out)."""
    verdict = result.get("verdict", {})
    best = verdict.get("best_baseline")
    facts = {"verdict": verdict.get("text", "").split(":")[0], "n_eval": verdict.get("n"), "eval_data": result["file"],
             "model_bits": result["model"]["heads"][0]["ce_bits"], "top1": result["model"]["heads"][0]["top1"]}
    if best in result.get("baselines", {}):
        facts |= {"best_baseline": best, "baseline_bits": result["baselines"][best]["heads"][0]["ce_bits"]}
    return facts


def summarize(paths: RunPaths) -> dict:
    """A run's summary from its files: data, config essentials, steps, time, best validation bits, and the verdict of
    its eval.json when that is newer than the checkpoint it would describe."""
    summary = {"run": paths.run_dir.name, "run_dir": str(paths.run_dir), "checkpoint": str(paths.ckpt),
               "updated": time.strftime("%Y-%m-%d %H:%M:%S")}
    if paths.ckpt.is_file():
        summary |= _checkpoint_facts(paths.ckpt)
    if paths.history.is_file():
        history = pd.read_csv(paths.history)
        if len(history):
            best = history.loc[history["val_loss_bits"].idxmin()]
            last = history.iloc[-1]
            summary |= {"steps": int(last["step"]), "time_s": round(float(last["elapsed_s"]), 1),
                        "best_val_bits": float(best["val_loss_bits"]), "best_step": int(best["step"])}
    if paths.eval.is_file() and (not paths.ckpt.is_file() or paths.eval.stat().st_mtime >= paths.ckpt.stat().st_mtime):
        summary |= _evaluation_facts(json.loads(paths.eval.read_text()))
    return summary


def write_summary(paths: RunPaths) -> Path:
    """Write summarize(paths) to RUN_DIR/summary.json as one line (training and evaluation call this)."""
    path = paths.run_dir / SUMMARY
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{SUMMARY}.tmp")
    tmp.write_text(json.dumps(summarize(paths)) + "\n")
    tmp.replace(path)  # a reader never sees half a line
    return path


def _paths_of(run_dir: Path) -> RunPaths:
    """RunPaths of a folder found on disk: model.pt inside it, else the `--ckpt X.pt` beside folder X."""
    inside = run_dir / "model.pt"
    return RunPaths(run_dir, inside if inside.is_file() or not run_dir.with_suffix(".pt").is_file()
                    else run_dir.with_suffix(".pt"))


def find_runs(root: str | Path) -> list[RunPaths]:
    """Every run folder (a folder with history.csv) under root, root included, oldest first."""
    root = Path(root)
    folders = [p.parent for p in root.rglob("history.csv")]
    return [_paths_of(d) for d in sorted(folders, key=lambda d: (d / "history.csv").stat().st_mtime)]


def load_summary(paths: RunPaths) -> dict:
    """summary.json, rewritten first when it is missing or older than the files it condenses."""
    path = paths.run_dir / SUMMARY
    sources = [p for p in (paths.history, paths.eval, paths.ckpt) if p.is_file()]
    if not path.is_file() or any(p.stat().st_mtime > path.stat().st_mtime for p in sources):
        write_summary(paths)
    return json.loads(path.read_text())


def runs_table(root: str | Path = "runs") -> pd.DataFrame:
    """One row per run folder under root: what it trained on, its size, how long, how well, and the verdict."""
    root = Path(root)
    rows = []
    for paths in find_runs(root):
        summary = load_summary(paths)
        summary["run"] = str(paths.run_dir.relative_to(root)) if paths.run_dir != root else paths.run_dir.name
        summary["data"] = Path(summary.get("data", "")).name
        rows.append(summary)
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def comparable_histories(run_dir: str | Path) -> dict[str, pd.DataFrame]:
    """history.csv of run_dir and of the other run folders beside it trained on the same data (same fingerprint);
    run_dir's own first, then the others oldest first."""
    own = _paths_of(Path(run_dir))
    fingerprint = load_summary(own).get("fingerprint")
    others = [p for p in find_runs(own.run_dir.parent)
              if p.run_dir != own.run_dir and load_summary(p).get("fingerprint") == fingerprint]
    return {p.run_dir.name: pd.read_csv(p.history) for p in [own, *others]}


def next_run_dir(run_dir: str | Path) -> Path:
    """The first free folder NAME-2, NAME-3, ... beside run_dir NAME (a "new run folder" for each training run)."""
    run_dir = Path(run_dir)
    stem = run_dir.name.rsplit("-", 1)[0] if run_dir.name.rsplit("-", 1)[-1].isdigit() else run_dir.name
    n = 2
    while (run_dir.parent / f"{stem}-{n}").exists():
        n += 1
    return run_dir.parent / f"{stem}-{n}"


# --- `seqlib runs` -----------------------------------------------------------------------------------------------

def _print_runs(args: argparse.Namespace) -> None:
    table = runs_table(args.dir)
    if table.empty:
        raise SeqlibError(f"no run folders under {args.dir} (a run folder has a history.csv; train first)")
    print(table.to_string(index=False, formatters=TABLE_FORMATS))


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The `runs` subcommand of the command line."""
    p = sub.add_parser("runs", help="list the run folders under DIR: data, size, steps, time, bits, verdict")
    p.add_argument("dir", nargs="?", default="runs", help="folder to search for run folders (default: runs)")
    p.set_defaults(func=_print_runs)
