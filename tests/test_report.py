"""HTML for readers: formulas as inline SVG, stored widgets drawn statically, code-hidden exports, nothing fetched
from the network, and index.html with the verdict, key numbers, evidence and links."""
import base64
import re
from html.parser import HTMLParser

import ipywidgets as w
import nbformat
import pytest
from ipywidgets import embed
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from seqlib import index, offline, report


class Resources(HTMLParser):
    """Every URL an HTML page would load (script src, link href, img src, iframe src), its links, its visible text
    and its elements in order as (tag, attributes, text inside up to the next tag)."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.urls, self.text, self.links, self.elements, self._hidden = [], [], [], [], 0
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.elements.append([tag, attrs, ""])
        for key in ("src", "href"):
            if attrs.get(key) and (tag != "a" or key != "href"):
                self.urls.append(attrs[key])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag in ("script", "style"):
            self._hidden += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden:
            self.text.append(data)
            if self.elements:
                self.elements[-1][2] += data

    def after(self, tag, text):
        """The element after the first `tag` whose text is `text`."""
        i = next(i for i, (t, _, x) in enumerate(self.elements) if t == tag and x.strip() == text)
        return self.elements[i + 1]


def remote(urls):
    return [u for u in urls if re.match(r"^(https?:)?//", u)]


def test_formulas_become_inline_svg_images_and_code_is_left_alone():
    out = offline.render_math(r"chance is $\log_2$ of $V$; `$HOME` stays; $$H(X_k \mid X_1..X_{k-1})$$ and \$5")
    images = re.findall(r'<img class="math[^"]*" alt="([^"]*)"[^>]*src="data:image/svg\+xml;base64,([^"]+)"', out)
    assert [alt for alt, _ in images] == [r"\log_2", "V", r"H(X_k \mid X_1..X_{k-1})"]
    assert all(base64.b64decode(svg).startswith(b"<svg") for _, svg in images)
    assert "`$HOME`" in out and r"\$5" in out and r"$\log_2$" not in out
    assert 'class="math math-display"' in out


def test_tex_that_mathtext_cannot_draw_stays_readable_as_code():
    assert offline.render_math(r"a $\notacommand{x}$ b") == r"a <code>\notacommand{x}</code> b"


def widget_notebook():
    """A notebook with a formula, code and one widget output with its stored state, as papermill leaves it."""
    slider = w.IntSlider(7, min=0, max=10, description="position")
    form = w.VBox([w.BoundedIntText(32, description="d_model", style={"description_width": "150px"}), slider,
                   w.HBox([w.Button(description="Run training", button_style="primary"),
                           w.FloatProgress(5, min=0, max=10, bar_style="success")])])
    nb = new_notebook(cells=[new_markdown_cell(r"The loss: chance is $\log_2$ of the values."),
                             new_code_cell("form = make_the_form()\nform", outputs=[new_output(
                                 "display_data", data={offline.WIDGET_VIEW: {"model_id": form.model_id,
                                                                             "version_major": 2, "version_minor": 0},
                                                       "text/plain": "VBox(...)"})])])
    nb.metadata["widgets"] = {offline.WIDGET_STATE: {"state": embed.dependency_state([form], drop_defaults=False),
                                                     "version_major": 2, "version_minor": 0}}
    return nb


@pytest.fixture
def exported(tmp_path):
    nbformat.write(widget_notebook(), tmp_path / "nb.ipynb")
    full = report.export_html(tmp_path / "nb.ipynb", tmp_path / "nb.html").read_text()
    hidden = report.export_html(tmp_path / "nb.ipynb", tmp_path / "nb.nocode.html", code=False).read_text()
    return full, hidden


def test_exported_html_loads_nothing_from_the_network(exported):
    for page in exported:
        found = Resources(page)
        assert remote(found.urls) == []
        assert not re.search(r"cdnjs|unpkg|require\.min\.js|MathJax\.js|embed-amd", page)
        assert offline.WIDGET_STATE not in page  # the state is drawn, not shipped for a widget manager
        assert r"$\log_2$" not in " ".join(found.text)


def test_stored_widgets_are_drawn_from_their_state(exported):
    found = Resources(exported[0])
    tag, attrs, _ = found.after("label", "d_model")
    assert tag == "input" and (attrs["type"], attrs["value"]) == ("number", "32")
    tag, attrs, _ = found.after("label", "position")
    assert tag == "input" and (attrs["type"], attrs["min"], attrs["max"], attrs["value"]) == ("range", "0", "10", "7")
    button = next(e for e in found.elements if e[0] == "button")
    assert button[1]["class"] == "widget-button mod-primary" and button[2] == "Run training"
    bar = next(a for t, a, _ in found.elements if "progress-bar" in a.get("class", ""))
    assert bar["class"] == "progress-bar mod-success" and bar["style"] == "width: 50.0%"


def input_areas(found):
    """The code inputs and prompts of an exported page."""
    return [a["class"] for _, a, _ in found.elements
            if re.search(r"jp-InputArea-editor|jp-InputPrompt|jp-OutputPrompt", a.get("class", ""))]


def test_code_hidden_html_has_no_input_cells(exported):
    full, hidden = Resources(exported[0]), Resources(exported[1])
    assert input_areas(full) and "make_the_form" in "".join(full.text)
    assert input_areas(hidden) == [] and "make_the_form" not in exported[1]
    assert "The loss: chance is" in "".join(hidden.text) and "d_model" in "".join(hidden.text)  # the rest stays


def eval_result(**verdict):
    """The parts of an eval.json that index.html reads."""
    head = lambda bits, top1: {"heads": [{"ce_bits": bits, "top1": top1}]}
    return {"file": "/data/rolls.u16", "block": "held-out block of the training file",
            "tokenizer": {"kind": "exact", "n_values": 8},
            "model": head(0.9251, 0.799), "baselines": {"chance": head(3.0, 0.125), "markov-3": head(2.99, 0.13)},
            "verdict": {"text": "predictable: top-1 79.90% vs 13.00% for the best baseline", "n": 100_000,
                        "alpha": 0.001, "best_baseline": "markov-3", "chance_bits": 3.0, "p_model_vs_chance": 0.0,
                        "p_best_baseline_vs_chance": 0.31, "p_model_vs_best_baseline": 3e-12,
                        "gain_bits_vs_best_baseline_ci95": [2.05, 2.08], "gain_bits_vs_chance_ci95": [2.06, 2.09],
                        "best_baseline_gain_bits_vs_chance_ci95": [-0.0004, 0.0015],
                        "min_entropy_bits": {"model": 0.33, "markov-3": 2.9, "chance": 3.0}, **verdict}}


SUMMARY = {"run_dir": "/runs/report", "params": 81_234, "d_model": 64, "nlayers": 2, "nhead": 4,
           "tokenizer": "exact", "steps": 3000, "time_s": 480.2, "best_val_bits": 0.92}
LINKS = [(n, f"{n}.html", f"{n}{report.NOCODE_SUFFIX}") for n in report.NOTEBOOKS]


def test_p_values_read_as_bounds_and_intervals_as_ranges():
    assert [index.p_text(p) for p in (0.0, 1e-320, 3e-12, 4.2e-4, 0.24, None)] == [
        "p < 1e-300", "p < 1e-300", "p < 1e-11", "p < 1e-3", "p = 0.24", "—"]
    assert index.interval_text([0.012, 0.034]) == "0.0120 to 0.0340" and index.interval_text(None) == "—"


def test_evidence_has_one_row_per_predictor():
    table = index.evidence_table(eval_result())
    assert list(table["predictor"]) == ["model", "markov-3 (best baseline)", "chance"]
    model, base, chance = table.to_dict("records")
    assert (model["top-1 vs chance"], model["top-1 vs best baseline"]) == ("p < 1e-300", "p < 1e-11")
    assert model["bits saved vs best baseline (95% CI)"] == "2.0500 to 2.0800"
    assert base["bits saved vs chance (95% CI)"] == "-0.0004 to 0.0015" and base["top-1 vs chance"] == "p = 0.31"
    assert (chance["bits/value"], chance["top-1"], chance["top-1 vs chance"]) == ("3.0000", "12.50%", "—")
    assert (model["min-entropy (bits)"], base["min-entropy (bits)"]) == ("0.3300", "2.9000")


def test_evidence_without_todays_optional_keys_shows_dashes():
    result = eval_result()
    for key in ("p_model_vs_best_baseline", "gain_bits_vs_chance_ci95", "min_entropy_bits"):
        del result["verdict"][key]
    model = index.evidence_table(result).to_dict("records")[0]
    assert model["top-1 vs best baseline"] == model["bits saved vs chance (95% CI)"] == "—"
    assert model["min-entropy (bits)"] == "—"
    assert index.tests_table(result["verdict"]) is None


def test_new_verdict_keys_tests_and_min_entropy_are_shown():
    tests = [{"claim": "model beats chance", "test": "binomial", "p": 0.0, "ci95": [0.5, 0.6], "passed": True},
             {"claim": "model beats markov-3", "test": "bootstrap", "p_value": 2e-7, "passed": False}]
    result = eval_result(tests=tests, min_entropy={"model": {"bits": 0.25}, "chance": {"bits": 3.0}})
    table = index.tests_table(result["verdict"])
    assert table.to_dict("records")[0] == {"claim": "model beats chance", "test": "binomial", "p": "p < 1e-300",
                                           "ci95": "0.5000 to 0.6000", "passed": "yes", "p_value": "—"}
    assert table["p_value"].iloc[1] == "p < 1e-6"
    assert index.min_entropies(result["verdict"]) == {"model": 0.25, "chance": 3.0}
    page = index.index_html(result, SUMMARY, None, LINKS)
    assert '<div id="tests">' in page and "model beats markov-3" in page


def test_index_puts_the_verdict_numbers_figure_and_links_on_one_page():
    png = b"\x89PNG\r\n\x1a\n fake"
    page = index.index_html(eval_result(), SUMMARY, png, LINKS)
    found = Resources(page)
    text = " ".join(found.text)
    assert "Predictable: top-1 79.90% vs 13.00% for the best baseline." in text
    for shown in ("0.9251 bits/value, top-1 79.90%", "best baseline (markov-3)", "2.9900 bits/value",
                  "3.0000 bits/value, top-1 12.50% (8 values)", "model 0.3300, markov-3 2.9000, chance 3.0000",
                  "100,000 per head", "/data/rolls.u16", "81,234 parameters", "2 layers", "3,000 steps in 480 s"):
        assert shown in text, shown
    assert f'src="data:image/png;base64,{base64.b64encode(png).decode()}"' in page
    assert found.links == [f for _, full, nocode in LINKS for f in (nocode, full)]
    assert remote(found.urls) == []
