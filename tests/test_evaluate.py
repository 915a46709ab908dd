"""Evaluation and prediction: the verdict, the held-out block, baselines on the same positions, clear errors."""
import json

import numpy as np
import pytest
import torch

from seqlib.checkpoint import load_checkpoint, save_checkpoint
from seqlib.data import open_u16
from seqlib.errors import CheckpointError, DataError
from seqlib.evaluate import evaluate
from seqlib.summaries import format_report
from seqlib.model import ModelConfig
from seqlib.predict import format_prediction, predict
from seqlib.sources import generate, write_u16
from seqlib.train import TrainConfig, train

from conftest import write_source

TINY = ModelConfig(d_model=32, nlayers=2, nhead=2, seq_len=32)


def fit(path, run_dir, steps, **overrides):
    cfg = dict(u16_path=str(path), run_dir=str(run_dir), batch=32, epochs=100, max_steps=steps, eval_every=steps,
               eval_windows=32, lr=3e-3, progress=False)
    train(TrainConfig(**{**cfg, **overrides}), TINY)
    return run_dir / "model.pt"


@pytest.fixture(scope="module")
def markov_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("markov")
    path, info = write_source(tmp, "markov", 200_000, seed=11, k=4, order=2, concentration=0.5)
    return path, info, fit(path, tmp / "run", 600)


@pytest.mark.slow
def test_markov_stream_is_predictable_and_the_model_is_level_with_markov_2(markov_run):
    path, info, ckpt = markov_run
    result = evaluate(ckpt, path, max_samples=20_000, progress=False)
    v = result["verdict"]
    assert v["predictable"] and v["best_baseline"] in ("markov-2", "markov-3")
    assert result["block"].startswith("held-out")
    assert abs(result["model"]["heads"][0]["ce_bits"] - info.entropy_rate) < 0.08
    assert abs(v["gain_bits_vs_best_baseline"]) < 0.06
    assert json.loads((ckpt.parent / "eval.json").read_text())["verdict"]["text"] == v["text"]


@pytest.mark.slow
def test_baselines_are_scored_on_exactly_the_model_positions(markov_run):
    path, _, ckpt = markov_run
    result = evaluate(ckpt, path, max_samples=5_000, progress=False, write=False)
    counts = {r["heads"][0]["count"] for r in [result["model"], *result["baselines"].values()]}
    assert counts == {result["verdict"]["n"]}
    assert result["baselines"]["chance"]["heads"][0]["ce_bits"] == pytest.approx(2.0)


@pytest.mark.slow
def test_another_file_is_scored_whole_with_cross_fitted_baselines(markov_run, tmp_path):
    path, _, ckpt = markov_run
    other, _ = write_source(tmp_path, "markov", 50_000, seed=11, k=4, order=2, concentration=0.5)
    result = evaluate(ckpt, other, max_samples=10**9, progress=False, write=False)
    assert result["block"].startswith("whole file")
    assert result["verdict"]["n"] > 0.9 * 50_000


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_fair_die_is_never_called_predictable(tmp_path, seed):
    path, _ = write_source(tmp_path, "die", 80_000, seed=seed, k=6)
    result = evaluate(fit(path, tmp_path / "run", 100, seed=seed), path, max_samples=50_000, progress=False)
    assert not result["verdict"]["predictable"]
    assert result["verdict"]["text"].startswith("no structure found")
    assert "smallest effect" in format_report(result)


def test_predict_lists_bin_ranges_and_ranks_the_truth(tmp_path):
    values, _ = generate("markov", 40_000, seed=0, k=4, order=1)
    write_u16(tmp_path / "wide.u16", (values.astype(np.uint16) * 1000 + np.arange(40_000) % 7).astype(np.uint16))
    ckpt = fit(tmp_path / "wide.u16", tmp_path / "run", 20, tokenizer="uniform", num_bins=8)
    table = predict(ckpt, tmp_path / "wide.u16", idx=1000, topk=3)
    assert len(table) == 3 and (table["lo"] <= table["hi"]).all() and (table["hi"] > table["lo"]).any()
    assert table["value"].str.contains("–").any()
    assert 1 <= table["true_rank"].iloc[0] <= 9
    assert "head 1" in format_prediction(table)


def test_predict_past_the_end_names_the_valid_range(markov_file, tmp_path):
    path, _ = markov_file
    ckpt = fit(path, tmp_path / "run", 4)
    with pytest.raises(DataError, match="from 32 to 60000"):
        predict(ckpt, path, idx=60_001)
    with pytest.raises(DataError, match="out of range"):
        predict(ckpt, path, idx=5)
    assert predict(ckpt, path, idx=60_000)["true_value"].isna().all()


def test_missing_and_damaged_checkpoints_give_one_line_errors(markov_file, tmp_path):
    path, _ = markov_file
    with pytest.raises(CheckpointError, match="not found"):
        evaluate(tmp_path / "none.pt", path)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        evaluate(tmp_path / "junk.pt", path)
    ckpt = fit(path, tmp_path / "run", 4)
    state = load_checkpoint(ckpt)
    state["model_config"]["d_model"] = 64
    save_checkpoint(tmp_path / "edited.pt", {k: v for k, v in state.items() if not k.startswith("format")})
    with pytest.raises(CheckpointError, match="do not match") as err:
        evaluate(tmp_path / "edited.pt", path)
    assert "\n" not in str(err.value)


@pytest.fixture(scope="module")
def lcg_run(tmp_path_factory):
    """A bytes16 model trained briefly on a full 16-bit LCG (tokenizer chosen by auto)."""
    tmp = tmp_path_factory.mktemp("lcg")
    path, info = write_source(tmp, "lcg", 40_000, seed=1)
    return path, fit(path, tmp / "run", 20)


def test_bytes16_model_is_scored_at_value_level_against_value_baselines(lcg_run):
    path, ckpt = lcg_run
    assert load_checkpoint(ckpt)["tokenizer"]["kind"] == "bytes16"
    result = evaluate(ckpt, path, max_samples=1_000, progress=False, write=False)
    v, model = result["verdict"], result["model"]["heads"][0]
    assert result["tokenizer"]["output"] == "bytes16" and v["chance_bits"] == 16.0
    assert set(result["baselines"]) == {"chance", "bit frequencies", "unigram", "high-byte markov-1", "high-byte markov-2",
                                        "high-byte markov-3", "linear recurrence (GF(2))",  # an LCG's low bits
                                        "LCG state recovery"}  # and the LCG, its constants read from the values
    assert result["baselines"]["chance"]["heads"][0]["ce_bits"] == pytest.approx(16.0, abs=1e-4)
    assert {r["heads"][0]["count"] for r in [result["model"], *result["baselines"].values()]} == {v["n"]}
    assert model["ce_bits"] == pytest.approx(model["first_byte"]["ce_bits"] + model["second_byte"]["ce_bits"], rel=1e-5)
    # SP 800-90B predictor estimates: even chance's is bounded by what 1,000 guesses can show (about log2(1000))
    assert 0 < v["min_entropy_bits"]["chance"] < 16.0 and 0 < v["min_entropy_bits"]["model"] <= 16.0
    assert v["min_entropy"]["chance"]["p_global_upper"] > 1 / 65536
    assert "high byte" in format_report(result) and "verdict:" in format_report(result, analyze=True)


def test_bits16_model_names_its_bytes_low_first_in_baselines_report_and_predictions(tmp_path):
    path, _ = write_source(tmp_path, "lcg", 20_000, seed=1)
    ckpt = fit(path, tmp_path / "run", 10, tokenizer="bits16")
    result = evaluate(ckpt, path, max_samples=500, progress=False, write=False)
    model = result["model"]["heads"][0]
    assert result["tokenizer"]["byte_names"] == ["low byte", "high byte"] and "low-byte markov-1" in result["baselines"]
    assert model["ce_bits"] == pytest.approx(model["first_byte"]["ce_bits"] + model["second_byte"]["ce_bits"], rel=1e-5)
    assert "as low byte + high byte" in format_report(result)
    table = predict(ckpt, path, idx=19_000, topk=4)
    assert (table["token"] == table["low_byte"] * 256 + table["high_byte"]).all()
    assert (table["value"].astype(int) == table["high_byte"] * 256 + table["low_byte"]).all()
    assert table["true_value"].iloc[0] == int(open_u16(path)[19_000]) and "(low byte 0x" in format_prediction(table)


def test_predict_lists_full_16_bit_values_with_exact_probabilities(lcg_run):
    path, ckpt = lcg_run
    table = predict(ckpt, path, idx=39_000, topk=5)
    assert len(table) == 5 and (table["lo"] == table["hi"]).all()
    assert (table["token"] == table["high_byte"] * 256 + table["low_byte"]).all()
    assert (table["probability"] <= table["p_first_byte"] + 1e-6).all() and table["probability"].is_monotonic_decreasing
    assert 1 <= table["true_rank"].iloc[0] <= 65536 and table["true_value"].iloc[0] == int(open_u16(path)[39_000])
    assert "0x" in format_prediction(table)
