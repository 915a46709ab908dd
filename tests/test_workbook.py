"""`seqlib workbook DIR` copies the four notebooks out; `seqlib --version` reports the installed version."""
import subprocess
import sys
from importlib.metadata import version

import pytest

import seqlib
from seqlib import report
from seqlib.cli import main
from seqlib.errors import SeqlibError
from seqlib.workbook import NOTEBOOK_DIR, copy_workbook


def test_notebooks_are_found_where_this_seqlib_keeps_them():
    assert sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb")) == report.NOTEBOOKS
    assert report.NOTEBOOK_DIR == NOTEBOOK_DIR


def test_workbook_copies_the_four_notebooks_and_says_how_to_open_them(tmp_path, capsys):
    assert main(["workbook", str(tmp_path / "my work")]) == 0
    copied = sorted((tmp_path / "my work").iterdir())
    assert [p.stem for p in copied] == report.NOTEBOOKS
    assert all(p.read_bytes() == (NOTEBOOK_DIR / p.name).read_bytes() for p in copied)
    assert f"jupyter lab '{tmp_path / 'my work'}'" in capsys.readouterr().out


def test_workbook_refuses_to_overwrite_a_notebook_with_one_line_unless_forced(tmp_path, capsys):
    (tmp_path / "02_train.ipynb").write_text("my edits")
    assert main(["workbook", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "02_train.ipynb exists" in err and "--force" in err and "\n" not in err
    assert (tmp_path / "02_train.ipynb").read_text() == "my edits"
    assert not (tmp_path / "01_explore_and_bin.ipynb").exists()  # nothing copied when one would be overwritten
    assert main(["workbook", str(tmp_path), "--force"]) == 0
    assert (tmp_path / "02_train.ipynb").read_bytes() == (NOTEBOOK_DIR / "02_train.ipynb").read_bytes()


def test_workbook_refuses_a_file_as_its_folder(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(SeqlibError, match="is a file"):
        copy_workbook(tmp_path / "f")


def test_version_comes_from_the_package_metadata(capsys):
    assert seqlib.__version__ == version("seqlib")
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out == f"seqlib {seqlib.__version__}\n"


def test_python_m_seqlib_prints_the_version():
    shown = subprocess.run([sys.executable, "-m", "seqlib", "--version"], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0 and shown.stdout == f"seqlib {seqlib.__version__}\n"
