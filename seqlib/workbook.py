"""The workbook's four notebooks: where an install keeps them, and `seqlib workbook DIR`, which copies them out."""
from __future__ import annotations

import argparse
import shlex
import shutil
from importlib import resources
from pathlib import Path

from .errors import SeqlibError


def _notebook_dir() -> Path:
    """seqlib/notebooks in an installed wheel (package data, see pyproject.toml), else the checkout's notebooks/."""
    installed = resources.files("seqlib") / "notebooks"
    if installed.is_dir():
        return Path(str(installed))
    return Path(__file__).resolve().parents[1] / "notebooks"  # a checkout, used in place or installed editable


NOTEBOOK_DIR = _notebook_dir()


def copy_workbook(dest: str | Path, force: bool = False) -> list[Path]:
    """Copy the notebooks into dest (made if needed); SeqlibError rather than overwrite one, unless force."""
    notebooks = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
    if not notebooks:
        raise SeqlibError(f"no notebooks in {NOTEBOOK_DIR}; reinstall seqlib")
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise SeqlibError(f"{dest} is a file; pass a folder for the notebooks")
    present = [dest / nb.name for nb in notebooks if (dest / nb.name).exists()]
    if present and not force:
        raise SeqlibError(f"{present[0]} exists ({len(present)} of the {len(notebooks)} notebooks are there already); "
                          f"pass --force to overwrite them, or choose another folder")
    dest.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copyfile(nb, dest / nb.name)) for nb in notebooks]


def _workbook_command(args: argparse.Namespace) -> None:
    copied = copy_workbook(args.dir, force=args.force)
    print(f"copied {len(copied)} notebooks to {args.dir}: {', '.join(p.name for p in copied)}")
    print(f"open them with: jupyter lab {shlex.quote(str(args.dir))}  (each one's first cell takes your data file)")


def register(sub: argparse._SubParsersAction) -> None:
    """The `seqlib workbook DIR [--force]` subcommand."""
    p = sub.add_parser("workbook", help="copy the four notebooks into a folder of your choice")
    p.add_argument("dir", help="folder for the notebooks (made if missing)")
    p.add_argument("--force", action="store_true", help="overwrite notebooks already in DIR")
    p.set_defaults(func=_workbook_command)
