"""seqlib: learn streams of 16-bit values and measure, with evidence, how predictable they are.

The flow from file to verdict: data (U16Stream, splits, windows) -> tokenize -> model (SeqModel and its output kinds)
-> train (Trainer) -> predictors (the model, the baselines, the linear recurrences, the lagged sums, the published
LCGs, the Mersenne Twister behind a die) -> evaluate (metrics, statistics, verdict) -> predict, plots, widgets and
reports. The notebooks import from here only.

Every name loads on first use (PEP 562), so `import seqlib` loads neither torch nor pandas. evaluate, predict and
train are functions named like their modules: the import system binds a submodule on its package once loaded, which
would shadow the function, so the package's module type refuses exactly that binding for these three names.
"""
import importlib
import sys
import types
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("seqlib")
except PackageNotFoundError:  # a checkout on sys.path that was never installed
    __version__ = "0+unknown"

_EXPORTS = {
    "checkpoint": ["RunPaths", "load_checkpoint", "load_model"],
    "congruential": ["Congruential", "find_congruential"],
    "data": ["U16Stream"],
    "lagged": ["LaggedSum", "find_lagged_sum"],
    "linear": ["LinearScan", "scan"],
    "model": ["ModelConfig", "SeqModel"],
    "predict": ["predict_at"],
    "report": ["build_reports", "write_key_figures"],
    "runform": ["RunForm"],
    "runs": ["comparable_histories", "load_eval", "load_tokenizer", "mistakes_table", "next_run_dir", "runs_table",
             "save_tokenizer", "workbook_data"],
    "scrambled": ["Scrambled", "find_scrambled"],
    "seeded": ["Seeded", "find_seeded"],
    "sources": ["generate", "make_stream"],
    "stats": ["evidence_table"],
    "summaries": ["format_report", "summary_table"],
    "tokenize": ["auto_rule", "binning_loss", "fit_tokenizer"],
    "train": ["Callback", "TrainConfig", "Trainer"],
    "twister": ["Twister", "find_twister"],
    "xorshift": ["Xorshift", "find_xorshift"],
}
_MODULES = ["explore", "plots", "runs", "widgets"]
_FUNCTIONS = ["evaluate", "predict", "train"]  # each is the function of the same name in the module of that name
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted([*_WHERE, *_MODULES, *_FUNCTIONS])


class _Package(types.ModuleType):
    """seqlib's module type: seqlib.evaluate, .predict and .train stay the functions after their modules load."""

    def __setattr__(self, name: str, value: object) -> None:
        """Skip the import system's binding of those three submodules; set anything else."""
        if name in _FUNCTIONS and isinstance(value, types.ModuleType) and value.__name__ == f"{__name__}.{name}":
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str):
    if name in _FUNCTIONS:
        return getattr(importlib.import_module(f".{name}", __name__), name)
    if name in _MODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module 'seqlib' has no attribute {name!r}")
