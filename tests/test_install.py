"""The built wheel, installed in a fresh venv, runs the workbook from its own package data, not from this checkout.

The venv gets seqlib alone (--no-deps); a .pth file lends it this interpreter's site-packages for torch and the rest,
so nothing is downloaded. Those paths come after the venv's own, and .pth files inside them are not run, so an
editable install of this checkout that lives there is not seen either.
"""
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

from seqlib import report
from seqlib.sources import generate, write_u16

ROOT = Path(__file__).resolve().parents[1]
BUILD_INPUTS = ["pyproject.toml", "README.md", "LICENSE", "seqlib", "notebooks"]

pytestmark = pytest.mark.slow


def run(*argv, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=600, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, argv))} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> tuple[Path, dict]:
    """(bin folder of a venv holding only the wheel built from this checkout, environment to run it in)."""
    root = tmp_path_factory.mktemp("install")
    src = root / "src"  # a copy, so the build leaves no build/ in the checkout and sees no stale one
    src.mkdir()
    for name in BUILD_INPUTS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        else:
            shutil.copy(ROOT / name, src / name)
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", root / "dist", src)
    (wheel,) = (root / "dist").glob("seqlib-*.whl")
    env_dir = root / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", env_dir)
    python = env_dir / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", wheel)
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    lent = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "_seqlib_test_deps.pth").write_text("".join(f"{p}\n" for p in lent))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    # Jupyter's data: the venv's own first (the python3 kernel registered below runs the venv's python, as `make`
    # registers it), then the lent environment's (nbconvert's HTML templates)
    jupyter_path = [env_dir / "share" / "jupyter", Path(sys.prefix) / "share" / "jupyter"]
    env |= {"PATH": f"{env_dir / 'bin'}{os.pathsep}{env['PATH']}", "SEQLIB_CACHE": str(root / "cache"),
            "JUPYTER_PATH": os.pathsep.join(map(str, jupyter_path))}
    run(python, "-m", "ipykernel", "install", "--sys-prefix", "--name", "python3", env=env, cwd=root)
    return env_dir / "bin", env


def test_installed_seqlib_and_its_kernel_are_the_wheels_with_the_projects_version(venv, tmp_path):
    bin_dir, env = venv
    located = run(bin_dir / "python", "-c", "import seqlib; print(seqlib.__file__)", env=env, cwd=tmp_path)
    assert Path(located.stdout.strip()).is_relative_to(bin_dir.parent)
    kernel = run(bin_dir / "python", "-c", "from jupyter_client.kernelspec import get_kernel_spec; "
                 "print(get_kernel_spec('python3').argv[0])", env=env, cwd=tmp_path)
    assert Path(kernel.stdout.strip()) == bin_dir / "python"  # so the notebooks import the wheel's seqlib too
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert run(bin_dir / "seqlib", "--version", env=env, cwd=tmp_path).stdout == f"seqlib {version}\n"


def test_installed_workbook_command_copies_the_packaged_notebooks(venv, tmp_path):
    bin_dir, env = venv
    out = run(bin_dir / "seqlib", "workbook", "wb", env=env, cwd=tmp_path).stdout
    assert sorted(p.stem for p in (tmp_path / "wb").iterdir()) == report.NOTEBOOKS and "jupyter lab wb" in out


def test_installed_smoke_report_runs_the_four_notebooks_on_a_users_file(venv, tmp_path):
    bin_dir, env = venv
    values, _ = generate("sticky", 30_000, seed=1, k=6)
    write_u16(tmp_path / "rolls.u16", values)
    done = run(bin_dir / "seqlib", "report", "--smoke", "--data", "rolls.u16", "--run", "run", "--out", "out", env=env,
               cwd=tmp_path)
    assert done.stdout.count(" done in ") == len(report.NOTEBOOKS)
    written = sorted(p.name for p in (tmp_path / "out").glob("*.html"))
    assert written == sorted(["index.html", *(f"{name}{suffix}" for name in report.NOTEBOOKS
                                               for suffix in (".html", report.NOCODE_SUFFIX))])
    assert all((tmp_path / "out" / name).stat().st_size > 10_000 for name in written)
    assert (tmp_path / "out" / "key_figures.png").is_file() and (tmp_path / "run" / "eval.json").is_file()
