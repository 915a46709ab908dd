"""torchrun with two CPU ranks (gloo): same learning as one process, one writer, resumable anywhere."""
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from seqlib.checkpoint import load_checkpoint
from seqlib.data import WindowBatches
from seqlib.evaluate import evaluate
from seqlib.tokenize import fit_tokenizer

from conftest import write_source

TRAIN = ["train", "--d_model", "32", "--nlayers", "2", "--nhead", "2", "--seq_len", "32", "--epochs", "100",
         "--eval_every", "40", "--lr", "1e-2", "--eval_windows", "64", "--no-progress"]


def run(args, cwd, torchrun=False):
    launcher = [shutil.which("torchrun", path=str(Path(sys.executable).parent)), "--standalone",
                "--nproc_per_node=2"] if torchrun else [sys.executable]
    done = subprocess.run([*launcher, "-m", "seqlib", *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_ranks_draw_different_windows():
    values = np.arange(50_000, dtype=np.uint16) % 7
    tok = fit_tokenizer(values)
    ranks = [WindowBatches(values, 0, len(values), seq_len=16, heads_ahead=1, batch_size=8, tokenizer=tok, rank=r,
                           world_size=2, mode=mode) for r in (0, 1) for mode in ("random", "epoch")]
    for mode in (0, 1):
        a, b = ranks[mode][0][0], ranks[2 + mode][0][0]
        assert not np.array_equal(a.numpy(), b.numpy())


@pytest.mark.slow
def test_two_ranks_learn_like_one_process_with_the_same_global_batch(tmp_path):
    path, info = write_source(tmp_path, "markov", 100_000, seed=11, k=4, order=2, concentration=0.5)
    out = run([*TRAIN, "--u16_path", path.name, "--run_dir", "ddp", "--batch", "16", "--max_steps", "120"],
              tmp_path, torchrun=True)
    assert "x 2 ranks = 32 windows" in out and out.count("best validation loss") == 1
    run([*TRAIN, "--u16_path", path.name, "--run_dir", "single", "--batch", "32", "--max_steps", "120"], tmp_path)
    written = sorted(p.name for p in (tmp_path / "ddp").iterdir())
    assert written == ["history.csv", "latest.pt", "model.pt", "summary.json"]
    ddp, single = (load_checkpoint(tmp_path / d / "latest.pt")["history"] for d in ("ddp", "single"))
    assert ddp[-1]["val_loss_bits"] < 2.0 - 0.2  # chance is log2(4) = 2 bits
    assert abs(ddp[-1]["val_loss_bits"] - single[-1]["val_loss_bits"]) < 0.1
    result = evaluate(tmp_path / "ddp" / "model.pt", path, max_samples=5000, progress=False, write=False)
    assert result["verdict"]["predictable"]
    run([*TRAIN, "--u16_path", path.name, "--run_dir", "ddp", "--batch", "16", "--max_steps", "160", "--resume"],
        tmp_path)
    assert load_checkpoint(tmp_path / "ddp" / "latest.pt")["step"] == 160


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["bytes16", "bits16"])
def test_two_ranks_train_a_16_bit_model_on_16_bit_values(tmp_path, kind):
    path, _ = write_source(tmp_path, "lcg", 60_000, seed=1)
    out = run([*TRAIN, "--u16_path", path.name, "--run_dir", "wide", "--batch", "16", "--max_steps", "80",
               "--tokenizer", kind], tmp_path, torchrun=True)
    assert "x 2 ranks = 32 windows" in out and out.count("best validation loss") == 1
    state = load_checkpoint(tmp_path / "wide" / "latest.pt")
    assert state["model_config"]["output"] == kind and state["step"] == 80
    assert state["history"][-1]["val_loss_bits"] < 16.0 - 4.0  # the low byte of an LCG follows from the last one
    result = evaluate(tmp_path / "wide" / "model.pt", path, max_samples=2000, progress=False, write=False)
    assert result["verdict"]["chance_bits"] == 16.0 and result["verdict"]["predictable"]
