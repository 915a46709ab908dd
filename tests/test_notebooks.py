"""The workbook: the four notebooks run headless in order on one run folder (smoke settings) and export to HTML."""
import html
import json
import re

import nbformat
import pytest

from seqlib import offline, report

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
    assert paths == [out / f"{n}{suffix}" for n in report.NOTEBOOKS for suffix in (".html", report.NOCODE_SUFFIX)] + [
        out / "key_figures.png", out / "index.html"]
    assert all(p.stat().st_size > 0 for p in paths)
    for name in ("sample.u16", "sample.u16.source.json", "tokenizer.json", "model.pt", "history.csv", "eval.json",
                 "summary.json"):
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


def test_train_notebook_compares_runs_and_lists_the_run_folders(built):
    nb = executed(built[1], "02_train")
    comparison = next(c for c in nb.cells if "plots.run_comparison(" in c.source)
    assert any("image/png" in o.get("data", {}) for o in comparison.outputs)
    table = next(c for c in nb.cells if "runs.runs_table(" in c.source)
    assert "best_val_bits" in table.outputs[0]["data"]["text/html"]


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


def test_html_reports_draw_the_stored_widgets(built):
    html = (built[1] / "02_train.html").read_text()
    assert offline.WIDGET_STATE not in html and ">d_model</label>" in html and ">Run training</button>" in html
    state = executed(built[1], "01_explore_and_bin").metadata.widgets[offline.WIDGET_STATE]["state"]
    chooser_plot = [m for m in state.values() if m["model_name"] == "OutputModel"]
    assert any("image/png" in o.get("data", {}) for m in chooser_plot for o in m["state"]["outputs"])
    explorer = (built[1] / "04_prediction_analysis.html").read_text()
    assert 'type="range"' in explorer and re.search(r'class="widget-output"><img[^>]+src="data:image/png', explorer)


@pytest.mark.parametrize("name", report.NOTEBOOKS)
def test_reports_load_nothing_from_the_network_and_hide_code_for_readers(built, name):
    out = built[1]
    for page in (out / f"{name}.html", out / f"{name}{report.NOCODE_SUFFIX}"):
        text = page.read_text()
        assert not re.search(r"""<(script|link|img|iframe)[^>]+(src|href)=["']?(https?:)?//""", text), page
    assert "hl-ipython3" in (out / f"{name}.html").read_text()
    assert "hl-ipython3" not in (out / f"{name}{report.NOCODE_SUFFIX}").read_text()  # no code cell input


def test_index_shows_the_verdict_and_links_every_report(built):
    run, out, _ = built
    page = (out / "index.html").read_text()
    verdict = json.loads((run / "eval.json").read_text())["verdict"]
    assert html.escape(verdict["text"][1:]) in page and '<div id="evidence">' in page
    links = re.findall(r'<a href="([^"]+)"', page)
    assert sorted(links) == sorted(f"{n}{s}" for n in report.NOTEBOOKS for s in (".html", report.NOCODE_SUFFIX))
    assert all((out / link).is_file() for link in links)
    assert json.loads((run / "summary.json").read_text())["verdict"] == verdict["text"].split(":")[0]


def test_prediction_candidates_never_offer_unk(built):
    nb = executed(built[1], "04_prediction_analysis")
    candidates = next(c for c in nb.cells if "explorer.table[" in c.source).outputs[0]["data"]["text/html"]
    assert "UNK" not in candidates and "MASK" not in candidates and candidates.count("<tr>") >= 2
