"""Run folders: the sample data, the tokenizer and eval files the notebooks share, summary.json, `seqlib runs`, the
comparison of runs and the form's "new run folder"."""
import json
import os

import numpy as np
import pytest

from seqlib import plots, runs
from seqlib.checkpoint import RunPaths
from seqlib.cli import main
from seqlib.errors import SeqlibError
from seqlib.evaluate import evaluate
from seqlib.model import ModelConfig
from seqlib.runform import RunForm
from seqlib.sources import SAMPLE
from seqlib.tokenize import fit_tokenizer
from seqlib.train import TrainConfig, train

TINY = ModelConfig(d_model=32, nlayers=1, nhead=2, seq_len=32)


def test_empty_data_means_the_sample_written_once_with_its_source(tmp_path):
    path, source = runs.workbook_data("", tmp_path)
    assert path == tmp_path / "sample.u16" and path.stat().st_size == 2 * SAMPLE["n"]
    assert source["kind"] == SAMPLE["kind"] and 0 < source["entropy_rate"] < np.log2(SAMPLE["k"])
    written = path.stat().st_mtime_ns
    assert runs.workbook_data("", tmp_path)[0].stat().st_mtime_ns == written


def test_a_users_file_has_no_known_source(tmp_path):
    data = tmp_path / "rolls.u16"
    np.arange(10, dtype="<u2").tofile(data)
    (tmp_path / "rolls.json").write_text("{}")  # an unrelated file beside it is not mistaken for a source
    assert runs.workbook_data(data, tmp_path / "run") == (data, None)


def test_tokenizer_round_trips_through_the_run_folder(tmp_path):
    assert runs.load_tokenizer(tmp_path) is None
    tokenizer = fit_tokenizer(np.array([5, 9, 9, 300], dtype=np.uint16))
    path = runs.save_tokenizer(tokenizer, tmp_path / "run")
    assert json.loads(path.read_text()) == tokenizer.to_dict()
    assert runs.load_tokenizer(tmp_path / "run").to_dict() == tokenizer.to_dict()


def test_missing_eval_names_the_notebook_that_writes_it(tmp_path):
    with pytest.raises(SeqlibError, match="run 03_evaluate.ipynb"):
        runs.load_eval(tmp_path)


def test_mistakes_table_shows_values_and_the_position_of_each_heads_target():
    worst = [{"position": 100, "head": 2, "confidence": 0.9, "predicted": 0, "target": 2, "predicted_value": "10",
              "target_value": "30"}]
    result = {"model": {"heads": [{"worst": []}, {"worst": worst}]}}
    table = runs.mistakes_table(result, head=2)
    assert table.to_dict("records") == [
        {"position": 101, "confidence": 0.9, "predicted value": "10", "true value": "30"}]
    assert runs.mistakes_table(result, head=1).empty


def tiny_train(data, run_dir, steps=8, **overrides):
    cfg = TrainConfig(u16_path=str(data), run_dir=str(run_dir), batch=8, max_steps=steps, eval_every=4,
                      eval_windows=8, lr=3e-3, progress=False, **overrides)
    return train(cfg, TINY)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two runs on one file (b evaluated, a not) and one on another file, all under root: (root, data)."""
    from seqlib.sources import make_stream

    root = tmp_path_factory.mktemp("runs")
    data, other = root / "markov.u16", root / "die.u16"
    make_stream(data, "markov", 40_000, seed=1, k=4)
    make_stream(other, "die", 40_000, seed=2, k=6)
    tiny_train(data, root / "a", steps=8)
    tiny_train(data, root / "b", steps=12)
    evaluate(root / "b" / "model.pt", data, max_samples=500, run_dir=root / "b", progress=False)
    tiny_train(other, root / "c", steps=4)
    return root, data


def summary_file(run_dir):
    lines = (run_dir / "summary.json").read_text().splitlines()
    assert len(lines) == 1, "summary.json is one line"
    return json.loads(lines[0])


def test_training_writes_a_one_line_summary_of_the_run(trained):
    root, data = trained
    summary = summary_file(root / "a")
    assert summary["data"] == str(data) and summary["steps"] == 8 and summary["tokenizer"] == "exact"
    assert (summary["d_model"], summary["nlayers"], summary["seq_len"]) == (32, 1, 32)
    assert summary["params"] > 1000 and summary["time_s"] >= 0
    assert 0 < summary["best_val_bits"] < 3 and summary["best_step"] in (4, 8)
    assert "verdict" not in summary


def test_evaluation_adds_its_verdict_to_the_summary(trained):
    root, _ = trained
    summary = summary_file(root / "b")
    result = runs.load_eval(root / "b")
    assert summary["verdict"] == result["verdict"]["text"].split(":")[0]
    assert summary["model_bits"] == result["model"]["heads"][0]["ce_bits"]
    assert summary["best_baseline"] == result["verdict"]["best_baseline"]
    assert summary["n_eval"] == result["verdict"]["n"]


def test_retraining_a_run_folder_drops_its_stale_verdict(trained, tmp_path):
    root, data = trained
    tiny_train(data, tmp_path / "run", steps=4)
    evaluate(tmp_path / "run" / "model.pt", data, max_samples=300, run_dir=tmp_path / "run", progress=False)
    assert "verdict" in summary_file(tmp_path / "run")
    tiny_train(data, tmp_path / "run", steps=4)  # eval.json is now older than the checkpoint it described
    assert "verdict" not in summary_file(tmp_path / "run")


def test_runs_table_lists_every_run_folder_oldest_first(trained):
    root, _ = trained
    table = runs.runs_table(root)
    assert list(table["run"]) == ["a", "b", "c"]
    assert list(table["steps"]) == [8, 12, 4] and list(table["data"]) == ["markov.u16", "markov.u16", "die.u16"]
    assert table["verdict"].notna().tolist() == [False, True, False]
    assert list(table.columns) == runs.TABLE_COLUMNS


def test_a_missing_or_stale_summary_is_rebuilt_from_the_run_folder(trained, tmp_path):
    root, data = trained
    tiny_train(data, tmp_path / "old", steps=4)
    (tmp_path / "old" / "summary.json").unlink()  # a run folder from before summaries existed
    assert runs.runs_table(tmp_path)["steps"].tolist() == [4]
    assert summary_file(tmp_path / "old")["steps"] == 4
    history = tmp_path / "old" / "history.csv"
    summary = tmp_path / "old" / "summary.json"
    os.utime(summary, (1, 1))  # older than history.csv: rewritten on the next read
    assert runs.load_summary(RunPaths(tmp_path / "old", tmp_path / "old" / "model.pt"))["steps"] == 4
    assert summary.stat().st_mtime >= history.stat().st_mtime


def test_runs_command_prints_the_table(trained, capsys):
    root, _ = trained
    assert main(["runs", str(root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["run", "data", "tokenizer"] and len(lines) == 4
    assert lines[2].split()[0] == "b" and ("no structure" in lines[2] or "predictable" in lines[2])


def test_runs_command_says_when_there_is_no_run(tmp_path, capsys):
    assert main(["runs", str(tmp_path)]) == 2
    assert "no run folders under" in capsys.readouterr().err


def test_comparable_histories_are_the_runs_on_the_same_file_own_first(trained):
    root, _ = trained
    histories = runs.comparable_histories(root / "b")
    assert list(histories) == ["b", "a"]  # c trained on another file
    assert histories["b"]["step"].iloc[-1] == 12
    fig = plots.run_comparison(histories, "b", entropy_rate=1.0, chance_bits=2.0)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels[0].startswith("b (this run): best") and labels[1].startswith("a: best")
    assert len(fig.axes[0].lines) == 4  # two runs, chance, entropy rate


def test_next_run_dir_is_the_first_free_numbered_folder(tmp_path):
    assert runs.next_run_dir(tmp_path / "workbook") == tmp_path / "workbook-2"
    (tmp_path / "workbook-2").mkdir()
    (tmp_path / "workbook-3").mkdir()
    assert runs.next_run_dir(tmp_path / "workbook") == tmp_path / "workbook-4"
    assert runs.next_run_dir(tmp_path / "workbook-3") == tmp_path / "workbook-4"


def test_form_trains_into_a_new_run_folder_when_ticked(trained, tmp_path):
    _, data = trained
    cfg = TrainConfig(u16_path=str(data), run_dir=str(tmp_path / "workbook"), batch=8, max_steps=4, eval_every=4,
                      eval_windows=8, progress=False)
    form = RunForm(cfg, TINY)
    assert form.configs()[0].run_dir == str(tmp_path / "workbook")
    form.new_folder.value = True
    assert "workbook-2" in form.target.value
    form.run()
    assert (tmp_path / "workbook-2" / "summary.json").is_file() and not (tmp_path / "workbook").exists()
    assert form.configs()[0].run_dir == str(tmp_path / "workbook-3")
    labels = [c.description for c in form.children[2].children if hasattr(c, "description")]
    assert labels[:2] == ["Run training", "new run folder"]


def test_an_old_eval_json_with_high_and_low_byte_keys_reads_with_the_new_names(tmp_path):
    head = {"head": 1, "ce_bits": 3.0, "high_byte": {"ce_bits": 1.0}, "low_byte": {"ce_bits": 2.0}}
    old = {"verdict": {"text": "x"}, "model": {"heads": [head], "overall": dict(head, head="all")}, "baselines": {}}
    (tmp_path / "eval.json").write_text(json.dumps(old))
    result = runs.load_eval(tmp_path)
    for h in (result["model"]["heads"][0], result["model"]["overall"]):
        assert h["first_byte"] == {"ce_bits": 1.0} and h["second_byte"] == {"ce_bits": 2.0} and "high_byte" not in h
