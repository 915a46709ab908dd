"""The workbook: the four notebooks run headless in order on one run folder (smoke settings) and export to HTML."""
import json

import nbformat
import pytest

from seqlib import report

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """build_reports on the built-in sample with smoke=True: (run folder, output folder, written paths)."""
    root = tmp_path_factory.mktemp("workbook")
    paths = report.build_reports(root / "run", root / "out", smoke=True)
    return root / "run", root / "out", paths


def executed(out, name):
    return nbformat.read(out / f"{name}.ipynb", as_version=4)


def outputs(nb, kind):
    """Every output of the code cells that carries data of this MIME type."""
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs if kind in o.get("data", {})]


@pytest.mark.parametrize("name", report.NOTEBOOKS)
def test_stored_notebooks_have_no_outputs_and_one_parameters_cell(name):
    nb = nbformat.read(report.NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert [c for c in code if "parameters" in c.metadata.get("tags", [])] == [code[0]]
    assert nb.cells[0].cell_type == "markdown" and "**Reads**" in nb.cells[0].source
    assert nb.metadata.kernelspec.name == "python3"
    for line in ('data = ""', 'run_dir = "runs/workbook"', "smoke = False"):
        assert line in code[0].source


def test_build_reports_writes_every_notebook_html_and_the_key_figures(built):
    run, out, paths = built
    assert paths == [out / f"{n}.html" for n in report.NOTEBOOKS] + [out / "key_figures.png"]
    assert all(p.stat().st_size > 0 for p in paths)
    for name in ("sample.u16", "sample.u16.source.json", "tokenizer.json", "model.pt", "history.csv", "eval.json"):
        assert (run / name).is_file(), name


@pytest.mark.parametrize("name", report.NOTEBOOKS)
def test_each_notebook_runs_without_errors_and_shows_figures(built, name):
    nb = executed(built[1], name)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    assert len(outputs(nb, "image/png")) >= 2


def test_explore_notebook_saves_the_tokenizer_it_shows(built):
    run, out, _ = built
    nb = executed(out, "01_explore_and_bin")
    saved = json.loads((run / "tokenizer.json").read_text())
    alphabet = json.loads((run / "sample.u16.source.json").read_text())["alphabet"]
    assert saved["kind"] == "exact" and saved["lo"] == list(range(alphabet))
    html = "".join(o["data"]["text/html"] for o in outputs(nb, "text/html"))
    assert "conditional_bits" in html and "distinct" in html


def test_train_notebook_shows_the_history_table_and_live_plot(built):
    nb = executed(built[1], "02_train")
    html = "".join(o["data"]["text/html"] for o in outputs(nb, "text/html"))
    assert "val_loss_bits" in html and "val_top5" in html and "tokens_per_s" in html
    training_cell = next(c for c in nb.cells if "trainer.fit()" in c.source)
    assert any("image/png" in o.get("data", {}) for o in training_cell.outputs)


def test_evaluate_notebook_shows_metrics_against_baselines_and_a_bold_verdict(built):
    run, out, _ = built
    nb = executed(out, "03_evaluate")
    html = "".join(o["data"]["text/html"] for o in outputs(nb, "text/html"))
    for column in ("perplexity", "markov-1", "unigram", "chance", "vs chance: p", "90B H_min/value"):
        assert column in html
    verdict = json.loads((run / "eval.json").read_text())["verdict"]["text"]
    assert any(o["data"]["text/markdown"] == f"**Verdict — {verdict}.**" for o in outputs(nb, "text/markdown"))


def test_prediction_notebook_shows_mistakes_and_the_explorer(built):
    nb = executed(built[1], "04_prediction_analysis")
    html = "".join(o["data"]["text/html"] for o in outputs(nb, "text/html"))
    assert "confidence" in html and "true value" in html and "probability" in html
    assert outputs(nb, "application/vnd.jupyter.widget-view+json")


def test_html_reports_carry_the_widget_state(built):
    html = (built[1] / "02_train.html").read_text()
    assert report.WIDGET_STATE in html
    state = executed(built[1], "01_explore_and_bin").metadata.widgets[report.WIDGET_STATE]["state"]
    chooser_plot = [m for m in state.values() if m["model_name"] == "OutputModel"]
    assert any("image/png" in o.get("data", {}) for m in chooser_plot for o in m["state"]["outputs"])
