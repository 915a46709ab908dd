"""The trainer: schedule, accumulation, resume, interrupts, NaN handling, AMP, and learning on known sources."""
import math
import signal

import numpy as np
import pytest
import torch

from seqlib.checkpoint import load_checkpoint
from seqlib.errors import ConfigError
from seqlib.model import ModelConfig
from seqlib.train import Callback, TrainConfig, Trainer, TrainingError, lr_at, train

from conftest import write_source

TINY = dict(d_model=32, nlayers=2, nhead=2, seq_len=32)


def tiny_run(path, tmp_path, **overrides):
    cfg = dict(u16_path=str(path), run_dir=str(tmp_path / "run"), batch=16, epochs=100, max_steps=8, eval_every=4,
               eval_windows=16, lr=3e-3, progress=False, seed=0)
    cfg.update(overrides)
    return TrainConfig(**cfg)


def test_lr_warms_up_linearly_then_decays_to_the_floor():
    total, lr = 100, 1e-3
    assert lr_at(0, total, lr, 0.1, 0.1) == pytest.approx(lr / 10)
    assert lr_at(9, total, lr, 0.1, 0.1) == pytest.approx(lr)
    assert lr_at(54, total, lr, 0.1, 0.1) == pytest.approx(0.55 * lr, rel=0.02)
    assert lr_at(99, total, lr, 0.1, 0.1) == pytest.approx(lr * 0.1)


def test_lr_without_warmup_starts_at_the_peak():
    assert lr_at(0, 10, 1e-3, 0.0, 0.0) == pytest.approx(1e-3)


@pytest.mark.parametrize("bad", [dict(lr=-1.0), dict(batch=0), dict(val_ratio=1.0), dict(noise_p=0.6, mask_p=0.5)])
def test_bad_train_values_raise_config_errors(bad):
    with pytest.raises(ConfigError):
        TrainConfig(u16_path="x.u16", ckpt="m.pt", **bad)


def test_gradient_accumulation_matches_one_large_batch(markov_file, tmp_path):
    path, _ = markov_file
    big = Trainer(tiny_run(path, tmp_path / "a", batch=8), ModelConfig(**TINY))
    small = Trainer(tiny_run(path, tmp_path / "b", batch=4, gradient_accumulation=2), ModelConfig(**TINY))
    x, y = big.train_data[0]
    for t in (big, small):
        for g in t.optimizer.param_groups:
            g["lr"] = 1e-2
    grads = {}
    for t in (big, small):  # capture the accumulated gradient just before the optimizer uses it
        t.optimizer.step = lambda t=t: grads.setdefault(id(t), [p.grad.clone() for p in t.raw_model.parameters()])
    big._train_step(iter([(x, y)]), 1)
    small._train_step(iter([(x[:4], y[:4]), (x[4:], y[4:])]), 2)
    # Gradients, not weights: Adam's first step is lr * sign(g), which turns a 1e-9 rounding difference in a gradient
    # near zero into a whole step.
    for p, q in zip(grads[id(big)], grads[id(small)]):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=1e-5)


class StopAt(Callback):
    """Sends SIGINT (Ctrl-C) to this process after optimizer step `step`."""

    def __init__(self, step):
        self.step = step

    def on_step(self, trainer, row):
        if row["step"] == self.step:
            signal.raise_signal(signal.SIGINT)


def test_interrupted_and_resumed_run_ends_exactly_like_an_uninterrupted_one(markov_file, tmp_path, capsys):
    path, _ = markov_file
    whole = Trainer(tiny_run(path, tmp_path / "whole"), ModelConfig(**TINY, dropout=0.1))
    whole.fit()
    interrupted = Trainer(tiny_run(path, tmp_path / "parts"), ModelConfig(**TINY, dropout=0.1), callbacks=[StopAt(4)])
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit()
    assert "--resume" in capsys.readouterr().out
    resumed = Trainer(tiny_run(path, tmp_path / "parts", resume=True))
    assert resumed.step == 4
    history = resumed.fit()
    a = load_checkpoint(tmp_path / "whole" / "run" / "latest.pt")
    b = load_checkpoint(tmp_path / "parts" / "run" / "latest.pt")
    assert a["step"] == b["step"] == 8
    for key in a["model"]:
        torch.testing.assert_close(a["model"][key], b["model"][key], atol=0, rtol=0)
    assert history["val_loss_bits"].iloc[-1] == pytest.approx(whole.history[-1]["val_loss_bits"], abs=0)


def test_resume_refuses_a_different_model_shape(markov_file, tmp_path):
    path, _ = markov_file
    Trainer(tiny_run(path, tmp_path, max_steps=4), ModelConfig(**TINY)).fit()
    with pytest.raises(ConfigError, match="d_model"):
        Trainer(tiny_run(path, tmp_path, resume=True), ModelConfig(**{**TINY, "d_model": 64}))


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(markov_file, tmp_path):
    path, _ = markov_file
    trainer = Trainer(tiny_run(path, tmp_path, max_steps=8, eval_every=2), ModelConfig(**TINY))

    class Poison(Callback):
        def on_step(self, t, row):
            if row["step"] == 4:
                with torch.no_grad():
                    t.raw_model.norm.weight.fill_(float("nan"))

    trainer.callbacks.append(Poison())
    with pytest.raises(TrainingError, match="untouched"):
        trainer.fit()
    saved = load_checkpoint(tmp_path / "run" / "latest.pt")
    assert saved["step"] == 2
    assert all(torch.isfinite(v).all() for v in saved["model"].values() if v.is_floating_point())


def test_nan_validation_loss_is_never_saved(markov_file, tmp_path):
    path, _ = markov_file
    trainer = Trainer(tiny_run(path, tmp_path, max_steps=8, eval_every=4), ModelConfig(**TINY))
    trainer.validate = lambda: {"val_loss_bits": float("nan")}
    with pytest.raises(TrainingError, match="validation loss"):
        trainer.fit()
    assert not (tmp_path / "run" / "latest.pt").exists()


def test_checkpoints_load_with_weights_only_and_hold_plain_state_dict_keys(markov_file, tmp_path):
    path, _ = markov_file
    Trainer(tiny_run(path, tmp_path, max_steps=4), ModelConfig(**TINY)).fit()
    for name in ("model.pt", "latest.pt"):
        state = torch.load(tmp_path / "run" / name, weights_only=True)
        assert not any(k.startswith(("_orig_mod.", "module.")) for k in state["model"])
    assert (tmp_path / "run" / "history.csv").read_text().startswith("step,")


def test_early_stopping_ends_the_run_after_patience_evaluations_without_improvement(markov_file, tmp_path):
    path, _ = markov_file
    trainer = Trainer(tiny_run(path, tmp_path, max_steps=40, eval_every=1, patience=2, lr=1e-7, warmup_ratio=0.0),
                      ModelConfig(**TINY))
    trainer.best_val_bits = -math.inf
    history = trainer.fit()
    assert len(history) == 2 and trainer.step == 2


def test_history_has_one_row_per_evaluation_with_the_documented_columns(markov_file, tmp_path):
    path, _ = markov_file
    history = train(tiny_run(path, tmp_path, use_amp=True), ModelConfig(**TINY, heads_ahead=2))
    assert list(history["step"]) == [4, 8]
    for col in ["epoch", "lr", "train_loss_bits", "val_loss_bits", "val_top1", "val_top3", "val_top5",
                "val_top1_h2", "val_loss_bits_h2", "tokens_per_s", "elapsed_s"]:
        assert np.isfinite(history[col]).all(), col


@pytest.mark.slow
def test_model_learns_an_order_2_markov_source_to_its_entropy_rate(tmp_path):
    path, info = write_source(tmp_path, "markov", 200_000, seed=11, k=4, order=2, concentration=0.5)
    history = train(tiny_run(path, tmp_path, max_steps=600, eval_every=100, eval_windows=64, batch=32,
                             warmup_ratio=0.05), ModelConfig(**TINY))
    assert history["val_loss_bits"].iloc[-1] < info.entropy_rate + 0.1


@pytest.mark.slow
def test_model_on_a_fair_die_stays_at_chance(tmp_path):
    path, _ = write_source(tmp_path, "die", 100_000, seed=2, k=6)
    history = train(tiny_run(path, tmp_path, max_steps=150, eval_every=50, eval_windows=64), ModelConfig(**TINY))
    assert abs(history["val_loss_bits"].iloc[-1] - math.log2(6)) < 0.03


@pytest.mark.slow
def test_model_uses_relative_lags_to_learn_a_lagged_sum(tmp_path):
    path, info = write_source(tmp_path, "lagged_sum", 300_000, seed=4, k=8, a=3, b=7, noise=0.0)
    history = train(tiny_run(path, tmp_path, max_steps=400, eval_every=100, eval_windows=64, batch=32),
                    ModelConfig(d_model=64, nlayers=2, nhead=4, seq_len=32))
    assert history["val_top1"].iloc[-1] > 0.6  # chance is 1/8


@pytest.mark.parametrize("kind", ["bytes16", "bits16"])
def test_16_bit_run_with_two_heads_and_amp_logs_value_metrics_and_resumes_exactly(tmp_path, kind):
    path, _ = write_source(tmp_path, "lagged_add", 30_000, seed=2)
    model_cfg = ModelConfig(**TINY, heads_ahead=2)
    whole = Trainer(tiny_run(path, tmp_path / "whole", tokenizer=kind, use_amp=True, max_steps=6, eval_every=3),
                    model_cfg)
    assert whole.model_cfg.output == kind and whole.model_cfg.vocab_size == 65536
    history = whole.fit()
    assert np.isfinite(history[["val_loss_bits", "val_top1", "val_top5", "val_loss_bits_h2"]].to_numpy()).all()
    # about 16 bits per value at the start; a bitwise model's first Adam steps overshoot (its products of context
    # and bit vectors grow fast) before it learns: in benchmarks/wide.py it is at 13.4 bits by step 250
    assert 15.0 < history["val_loss_bits"].iloc[0] < (17.5 if kind == "bytes16" else 21.0)
    parts = Trainer(tiny_run(path, tmp_path / "parts", tokenizer=kind, use_amp=True, max_steps=6, eval_every=3),
                    model_cfg, callbacks=[StopAt(3)])
    with pytest.raises(KeyboardInterrupt):
        parts.fit()
    Trainer(tiny_run(path, tmp_path / "parts", resume=True, use_amp=True, max_steps=6, eval_every=3)).fit()
    a = load_checkpoint(tmp_path / "whole" / "run" / "latest.pt")
    b = load_checkpoint(tmp_path / "parts" / "run" / "latest.pt")
    assert a["model_config"]["output"] == kind and b["tokenizer"] == {"kind": kind}
    for key in a["model"]:
        torch.testing.assert_close(a["model"][key], b["model"][key], atol=0, rtol=0)


@pytest.mark.parametrize("kind", ["bytes16", "bits16"])
def test_tiny_model_learns_an_lcg_mod_2_8_written_as_u16_far_above_chance(tmp_path, kind):
    path, info = write_source(tmp_path, "lcg", 60_000, seed=1, m=256)
    history = train(tiny_run(path, tmp_path, tokenizer=kind, max_steps=500, eval_every=250, batch=32, lr=2e-2),
                    ModelConfig(d_model=32, nlayers=1, nhead=2, seq_len=16))
    assert info.ideal_top1 == 1.0
    assert history["val_top1"].iloc[-1] > 0.5  # chance: 1 / 65,536 values, or 1 / 256 knowing the high byte is 0
