"""The command line: the guide's commands verbatim, one-line errors with a non-zero exit code."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from seqlib.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
GUIDE_TRAIN_FLAGS = ["--u16_path", "--d_model", "--nlayers", "--nhead", "--dim_ff", "--epochs", "--use_amp", "--ckpt",
                     "--gradient_accumulation", "--eval_every", "--patience", "--lr", "--warmup_ratio", "--batch",
                     "--workers", "--max_samples"]


def test_train_accepts_every_flag_of_the_guide():
    args = build_parser().parse_args(
        ["train", "--u16_path", "r.u16", "--d_model", "512", "--nlayers", "8", "--nhead", "16", "--dim_ff", "2048",
         "--epochs", "10", "--gradient_accumulation", "4", "--use_amp", "--eval_every", "500", "--patience", "5",
         "--lr", "1e-3", "--warmup_ratio", "0.1", "--batch", "64", "--workers", "8", "--max_samples", "1000",
         "--ckpt", "best_model.pt"])
    assert (args.d_model, args.nlayers, args.nhead, args.dim_ff, args.epochs) == (512, 8, 16, 2048, 10)
    assert args.use_amp and args.gradient_accumulation == 4 and args.lr == 1e-3 and args.workers == 8
    help_text = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    assert all(flag in help_text for flag in GUIDE_TRAIN_FLAGS)


def test_evaluate_and_predict_accept_the_guide_flags():
    parser = build_parser()
    args = parser.parse_args(["evaluate", "--u16_path", "r.u16", "--ckpt", "b.pt", "--max_samples", "100000",
                              "--analyze_predictions", "--use_amp"])
    assert args.analyze_predictions and args.use_amp and args.max_samples == 100_000
    args = parser.parse_args(["predict", "--u16_path", "r.u16", "--ckpt", "b.pt", "--idx", "1000000", "--topk", "10"])
    assert (args.idx, args.topk) == (1_000_000, 10)


def test_guide_commands_run_verbatim_end_to_end(tmp_path):
    run = lambda *a: subprocess.run([sys.executable, str(ROOT / "u16_seq_model.py"), *a], cwd=tmp_path,
                                    capture_output=True, text=True, timeout=300)
    made = subprocess.run([sys.executable, "-m", "seqlib", "make-stream", "--kind", "sticky", "--n", "30000",
                           "--param", "k=6", "rolls.u16"], cwd=tmp_path, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    trained = run("train", "--u16_path", "rolls.u16", "--d_model", "32", "--nlayers", "2", "--nhead", "2",
                  "--seq_len", "32", "--epochs", "1", "--max_steps", "10", "--use_amp", "--ckpt", "quick_model.pt")
    assert trained.returncode == 0, trained.stderr
    assert (tmp_path / "quick_model.pt").exists() and (tmp_path / "quick_model" / "history.csv").exists()
    evaluated = run("evaluate", "--u16_path", "rolls.u16", "--ckpt", "quick_model.pt", "--max_samples", "2000",
                    "--analyze_predictions", "--use_amp")
    assert evaluated.returncode == 0, evaluated.stderr
    assert "verdict:" in evaluated.stdout and (tmp_path / "quick_model" / "eval.json").exists()
    predicted = run("predict", "--u16_path", "rolls.u16", "--ckpt", "quick_model.pt", "--idx", "29000", "--topk", "4")
    assert predicted.returncode == 0 and "head 1" in predicted.stdout


@pytest.mark.parametrize("argv, message", [
    (["train", "--u16_path", "missing.u16", "--ckpt", "m.pt"], "no such file"),
    (["train", "--u16_path", "odd.u16", "--ckpt", "m.pt"], "odd"),
    (["train", "--u16_path", "odd.u16", "--ckpt", "m.pt", "--nhead", "3"], "does not divide"),
    (["evaluate", "--u16_path", "odd.u16", "--ckpt", "none.pt"], "not found"),
])
def test_bad_inputs_exit_non_zero_with_one_line(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "odd.u16").write_bytes(b"\x00" * 1001)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_additive_generator_trains_in_bits16_by_auto_and_predict_prints_full_values(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["make-stream", "--kind", "lagged_add", "--n", "20000", "gen.u16"]) == 0
    assert main(["train", "--u16_path", "gen.u16", "--d_model", "32", "--nlayers", "1", "--nhead", "2", "--seq_len",
                 "32", "--max_steps", "4", "--eval_every", "2", "--ckpt", "gen.pt", "--no-progress"]) == 0
    # its lowest bit planes are linear under nonlinear higher ones: the mark of addition with carries
    assert torch.load(tmp_path / "gen.pt", weights_only=True)["tokenizer"] == {"kind": "bits16"}
    capsys.readouterr()
    assert main(["predict", "--u16_path", "gen.u16", "--ckpt", "gen.pt", "--idx", "19000", "--topk", "3"]) == 0
    out = capsys.readouterr().out
    assert out.count("(0x") == 3 and "low byte 0x" in out and "linear recurrence (GF(2)): at index 19000, bit 0" in out
    truth = int(np.fromfile(tmp_path / "gen.u16", "<u2")[19000])  # x[t] = x[t-17] + x[t-5] exactly, found before 19000
    assert f"lagged sum: x[t] = x[t-17] + x[t-5] + r (mod 2^16) puts the value at index 19000 at {truth} " in out


def test_predict_recovers_a_published_lcg_from_the_values_before_the_index(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["make-stream", "--kind", "lcg", "--n", "20000", "--param", "a=214013", "--param", "c=2531011",
                 "--param", f"m={2**32}", "--param", "shift=16", "--param", "bits=15", "msvc.u16"]) == 0  # MSVC rand()
    assert main(["train", "--u16_path", "msvc.u16", "--d_model", "32", "--nlayers", "1", "--nhead", "2", "--seq_len",
                 "32", "--max_steps", "2", "--eval_every", "2", "--ckpt", "msvc.pt", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["predict", "--u16_path", "msvc.u16", "--ckpt", "msvc.pt", "--idx", "19000"]) == 0
    truth = int(np.fromfile(tmp_path / "msvc.u16", "<u2")[19000])
    assert (f"LCG state recovery: x' = 214,013 x + 2,531,011 (mod 2^32) (MSVC rand(), QuickC) puts the value at index "
            f"19000 at {truth}") in capsys.readouterr().out
