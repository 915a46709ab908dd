"""Workbook helpers: the sample data, the tokenizer and eval files the notebooks share through the run folder."""
import json

import numpy as np
import pytest

from seqlib import report
from seqlib.errors import SeqlibError
from seqlib.sources import SAMPLE
from seqlib.tokenize import fit_tokenizer


def test_empty_data_means_the_sample_written_once_with_its_source(tmp_path):
    path, source = report.workbook_data("", tmp_path)
    assert path == tmp_path / "sample.u16" and path.stat().st_size == 2 * SAMPLE["n"]
    assert source["kind"] == SAMPLE["kind"] and 0 < source["entropy_rate"] < np.log2(SAMPLE["k"])
    written = path.stat().st_mtime_ns
    assert report.workbook_data("", tmp_path)[0].stat().st_mtime_ns == written


def test_a_users_file_has_no_known_source(tmp_path):
    data = tmp_path / "rolls.u16"
    np.arange(10, dtype="<u2").tofile(data)
    (tmp_path / "rolls.json").write_text("{}")  # an unrelated file beside it is not mistaken for a source
    assert report.workbook_data(data, tmp_path / "run") == (data, None)


def test_tokenizer_round_trips_through_the_run_folder(tmp_path):
    assert report.load_tokenizer(tmp_path) is None
    tokenizer = fit_tokenizer(np.array([5, 9, 9, 300], dtype=np.uint16))
    path = report.save_tokenizer(tokenizer, tmp_path / "run")
    assert json.loads(path.read_text()) == tokenizer.to_dict()
    assert report.load_tokenizer(tmp_path / "run").to_dict() == tokenizer.to_dict()


def test_missing_eval_names_the_notebook_that_writes_it(tmp_path):
    with pytest.raises(SeqlibError, match="run 03_evaluate.ipynb"):
        report.load_eval(tmp_path)


def test_mistakes_table_shows_values_and_the_position_of_each_heads_target():
    worst = [{"position": 100, "head": 2, "confidence": 0.9, "predicted": 0, "target": 2, "predicted_value": "10",
              "target_value": "30"}]
    result = {"model": {"heads": [{"worst": []}, {"worst": worst}]}}
    table = report.mistakes_table(result, head=2)
    assert table.to_dict("records") == [
        {"position": 101, "confidence": 0.9, "predicted value": "10", "true value": "30"}]
    assert report.mistakes_table(result, head=1).empty
