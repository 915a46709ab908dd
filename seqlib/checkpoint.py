"""Run folders and checkpoints: atomic writes, safe loads (weights_only=True), one-line errors."""
from __future__ import annotations

import glob
import os
import pickle
import pickletools
import re
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator

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

    @property
    def lock(self) -> Path:
        """Held (fcntl.flock) by the process that trains into this folder; see lock.py."""
        return self.run_dir / ".lock"


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def _why_not_writable(folder: Path, e: OSError) -> str:
    """Why `folder` cannot be written: a file where a folder should be, a folder that refuses files, or the system's
    message."""
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if isinstance(e, (FileNotFoundError, PermissionError)):
        return f"{existing} does not let this process create files in it ({e.strerror})"
    return e.strerror or str(e) or type(e).__name__


def check_writable(path: str | os.PathLike) -> None:
    """Create the folder of `path` and a temporary file in it, as a save would; CheckpointError saying why not.

    Run before training, so that an impossible --ckpt or --run_dir is found before any work is done.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=".tmp", dir=path.parent)
        os.close(fd)
        Path(tmp).unlink(missing_ok=True)  # the lock holder may have removed it as a leftover
    except OSError as e:
        raise CheckpointError(f"cannot write {path}: {_why_not_writable(path.parent, e)}; "
                              "choose a --ckpt or --run_dir in a folder you can write to") from None


def remove_leftovers(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of saves of `path` that were killed before their rename; return them.

    Only the process that holds the run folder's lock may call this: it would delete another writer's file in flight.
    """
    path = Path(path)
    if not path.parent.is_dir():
        return []
    leftovers = [p for p in path.parent.glob(f"{glob.escape(_temp_prefix(path))}*.tmp") if p.is_file()]
    for p in leftovers:
        p.unlink(missing_ok=True)
    return leftovers


@contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary file that replaces `path` only once the block ends without an error (temporary file, fsync, rename).

    A crash or kill -9 at any moment leaves either the old file or the new one, and at worst a temporary
    `.NAME.*.tmp` beside it, which remove_leftovers deletes. OSError becomes a one-line CheckpointError.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise CheckpointError(f"cannot write {path}: {_why_not_writable(path.parent, e)}; the previous file is "
                              "unchanged: free some space or choose another --ckpt or --run_dir") from e
    finally:
        if tmp is not None and Path(tmp).exists():
            Path(tmp).unlink()


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write `state` to a temporary file beside `path`, then rename it into place (never a half-written file)."""
    with atomic_write(path) as f:
        torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, **state}, f)


def _refusal(e: pickle.UnpicklingError) -> str | None:
    """What torch's weights-only unpickler refused, in words; None when the file is not a pickle at all."""
    text = str(e)
    if found := re.search(r"GLOBAL ([\w.]+)", text):
        return f"it asks for the Python object {found.group(1)}"
    if found := re.search(r"Unsupported operand (\d+)", text):
        op = next((op for op in pickletools.opcodes if ord(op.code) == int(found.group(1))), None)
        return f"it uses the pickle instruction {op.name} (torch.save never writes it)" if op else None
    return None


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a seqlib checkpoint with torch.load(weights_only=True)."""
    path = Path(path)
    if not path.is_file():
        hint = "it is a directory; pass the .pt file inside it" if path.is_dir() else "train first or fix --ckpt"
        raise CheckpointError(f"checkpoint {path} not found: {hint}")
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": noise beside the error below
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        # Never `from e` nor torch's text: it advises weights_only=False, which would run a hostile file's code.
        why = _refusal(e)
        if why is None:
            raise CheckpointError(f"cannot read checkpoint {path}: it is corrupt or not a seqlib checkpoint") from None
        raise CheckpointError(
            f"refused {path}: {why}, but seqlib checkpoints hold only tensors and plain "
            "containers (dicts, lists, numbers, strings); it was not written by seqlib or was altered, and nothing in "
            "it was run: delete it, or retrain") from None
    except Exception as e:
        first = str(e).strip().splitlines()[0].split(". ")[0] if str(e).strip() else ""
        raise CheckpointError(f"cannot read checkpoint {path} ({type(e).__name__}{': ' + first if first else ''}); "
                              "it is corrupt or not a seqlib checkpoint") from e
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
