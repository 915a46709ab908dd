"""Run folders and checkpoints: atomic writes, safe loads (weights_only=True), one-line errors."""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError

FORMAT = "seqlib-checkpoint"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class RunPaths:
    """Where one run keeps its files; the notebooks and the CLI both read and write these."""

    run_dir: Path
    ckpt: Path

    @classmethod
    def resolve(cls, run_dir: str | os.PathLike | None = None, ckpt: str | os.PathLike | None = None) -> "RunPaths":
        """`--run_dir D` keeps everything in D (best model D/model.pt); `--ckpt X.pt` alone uses the folder X/ beside it.

        A checkpoint named model.pt or latest.pt is already inside its run folder.
        """
        if run_dir is None and ckpt is None:
            raise CheckpointError("no run given: pass --ckpt PATH.pt or --run_dir DIR")
        if run_dir is None:
            ckpt = Path(ckpt)
            if ckpt.name in ("model.pt", "latest.pt"):
                return cls(ckpt.parent, ckpt.parent / "model.pt")
            return cls(ckpt.with_suffix(""), ckpt)
        run_dir = Path(run_dir)
        return cls(run_dir, Path(ckpt) if ckpt is not None else run_dir / "model.pt")

    @property
    def latest(self) -> Path:
        return self.run_dir / "latest.pt"

    @property
    def history(self) -> Path:
        return self.run_dir / "history.csv"

    @property
    def eval(self) -> Path:
        return self.run_dir / "eval.json"

    def eval_for(self, data: str | os.PathLike) -> Path:
        """Where the evaluation on a file other than the training file goes: named after that file."""
        return self.run_dir / f"eval-{Path(data).stem}.json"

    @property
    def tokenizer(self) -> Path:
        return self.run_dir / "tokenizer.json"

    @property
    def figures(self) -> Path:
        return self.run_dir / "figures"


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write `state` to a temporary file beside `path`, then rename it into place (never a half-written file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, **state}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a seqlib checkpoint with torch.load(weights_only=True)."""
    path = Path(path)
    if not path.is_file():
        hint = "it is a directory; pass the .pt file inside it" if path.is_dir() else "train first or fix --ckpt"
        raise CheckpointError(f"checkpoint {path} not found: {hint}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"cannot read checkpoint {path} ({first}); it is corrupt or not a seqlib checkpoint") from e
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a seqlib checkpoint; pass a .pt file written by `seqlib train`")
    if state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format {state.get('format_version')}, this seqlib reads {FORMAT_VERSION}; "
            "retrain or use the seqlib version that wrote it"
        )
    return state


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu"):
    """The trained model (eval mode), its tokenizer and the checkpoint's other contents."""
    from .linear import LinearScan
    from .model import ModelConfig, SeqModel
    from .tokenize import Tokenizer

    state = load_checkpoint(path)
    for key in ("model_config", "tokenizer", "model", "split"):
        if key not in state:
            raise CheckpointError(f"{path} has no {key!r}; it was not written by `seqlib train`")
    model = SeqModel(ModelConfig.from_dict(state["model_config"]))
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not match its model config ({str(e).splitlines()[0]}); "
                              "the file is damaged or was edited") from e
    if model.cfg.linear_inputs:
        model.linear = LinearScan.from_dict(state["linear"])
    return model.to(device).eval(), Tokenizer.from_dict(state["tokenizer"]), state
