"""seqlib: learn streams of 16-bit values and measure, with evidence, how predictable they are.

The flow from file to verdict: data (U16Stream, splits, windows) -> tokenize -> model (SeqModel and its output kinds)
-> train (Trainer) -> predictors (the model, the baselines, the linear recurrences) -> evaluate (metrics, statistics,
verdict) -> predict, plots, widgets and reports. The notebooks import from here only.

Names load on first use (PEP 562), so `python -m seqlib` does not pay for the workbook's imports; evaluate, predict
and train are bound at import, because their names are also modules' (a lazy name would be shadowed by the module
as soon as anything imported it).
"""
import importlib
from importlib.metadata import PackageNotFoundError, version

from .evaluate import evaluate
from .predict import predict
from .train import train

try:
    __version__ = version("seqlib")
except PackageNotFoundError:  # a checkout on sys.path that was never installed
    __version__ = "0+unknown"

_EXPORTS = {
    "checkpoint": ["RunPaths", "load_checkpoint", "load_model"],
    "data": ["U16Stream"],
    "linear": ["LinearScan", "scan"],
    "model": ["ModelConfig", "SeqModel"],
    "predict": ["predict_at"],
    "report": ["build_reports", "write_key_figures"],
    "runform": ["RunForm"],
    "runs": ["comparable_histories", "load_eval", "load_tokenizer", "mistakes_table", "next_run_dir", "runs_table",
             "save_tokenizer", "workbook_data"],
    "sources": ["generate", "make_stream"],
    "stats": ["evidence_table"],
    "summaries": ["format_report", "summary_table"],
    "tokenize": ["auto_rule", "binning_loss", "fit_tokenizer"],
    "train": ["Callback", "TrainConfig", "Trainer"],
}
_MODULES = ["explore", "plots", "runs", "widgets"]
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted([*_WHERE, *_MODULES, "evaluate", "predict", "train"])


def __getattr__(name: str):
    if name in _MODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module 'seqlib' has no attribute {name!r}")
