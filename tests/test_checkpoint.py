"""Run folders and atomic checkpoints."""
from pathlib import Path

import pytest
import torch

from seqlib.checkpoint import RunPaths, load_checkpoint, save_checkpoint
from seqlib.errors import CheckpointError


def test_ckpt_alone_keeps_the_run_in_a_folder_named_after_it():
    paths = RunPaths.resolve(ckpt="out/quick_model.pt")
    assert paths.ckpt == Path("out/quick_model.pt") and paths.run_dir == Path("out/quick_model")
    assert paths.latest == Path("out/quick_model/latest.pt")


def test_a_model_pt_is_already_inside_its_run_folder():
    assert RunPaths.resolve(ckpt="runs/a/model.pt").run_dir == Path("runs/a")
    assert RunPaths.resolve(ckpt="runs/a/latest.pt").ckpt == Path("runs/a/model.pt")


def test_run_dir_holds_the_best_model():
    assert RunPaths.resolve(run_dir="runs/a").ckpt == Path("runs/a/model.pt")


def test_save_is_atomic_and_a_failed_save_says_why_and_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"step": 1, "w": torch.ones(3)})

    def broken_save(obj, f):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(CheckpointError, match="disk full.*previous file is unchanged"):
        save_checkpoint(path, {"step": 2})
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_a_torch_file_that_is_not_a_seqlib_checkpoint_is_refused(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a seqlib checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_a_directory_given_as_checkpoint_says_so(tmp_path):
    with pytest.raises(CheckpointError, match="directory"):
        load_checkpoint(tmp_path)
