"""The workbook the way a user sees it: JupyterLab in headless Chromium draws the training form, the progress bar and
the live plot of 02_train, the slider of 04_prediction_analysis redraws its chart; the HTML reports, opened from disk
with every other request blocked, show the verdict with working links, typeset math and draw the stored widgets.
Deselect with `-m "not browser"`; needs Debian's chromium (.ci/run installs it)."""
import json
import os
import re
import time

import pytest

import browser_harness as bh

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not bh.CHROMIUM.exists() and not os.environ.get("CI"),  # on CI a missing browser fails
                       reason=f"{bh.CHROMIUM} not found: install Debian's chromium "
                              "(apt-get install chromium; .ci/run does) to run the browser tests"),
]


@pytest.fixture(scope="module")
def workbook(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    paths = bh.prepare_workbook(root)
    paths["shots"] = root / "screenshots"
    paths["shots"].mkdir()
    paths["state"] = root / "jupyter"
    return paths


@pytest.fixture(scope="module")
def browser(workbook):
    with bh.chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def lab(workbook, browser):
    """A JupyterLab server on the temporary workbook and a Chromium page, both closed after the module."""
    offline = bh.Offline()
    with bh.jupyter_lab(workbook["lab"], workbook["state"]) as (base, token, log):
        print(f"jupyter lab: {base}, log {log}")
        with bh.new_page(browser, offline) as (page, errors):
            yield page, base, token, offline, errors


@pytest.fixture
def shots(workbook):
    """The screenshot folder, printed: pytest shows it with a failing test's output."""
    print(f"screenshots: {workbook['shots']}")
    return workbook["shots"]


def snap(page, shots, name, locator=None):
    path = shots / f"{name}.png"
    (locator or page).screenshot(path=str(path))
    return path


def test_train_notebook_draws_the_form_progress_and_live_plot(lab, shots):
    page, base, token, offline, _ = lab
    started = time.monotonic()
    bh.open_notebook(page, base, token, "02_train.ipynb")
    try:
        state = bh.run_all(page)
    finally:
        snap(page, shots, "02_train_page")
    print(f"02_train ran in the browser in {time.monotonic() - started:.0f} s")
    assert state["errors"] == [], f"a cell shows an error: {state['errors']}"

    form = bh.code_cell(page, "RunForm(")
    snap(page, shots, "02_train_form", form)
    label = page.locator(".widget-label", has_text=re.compile(r"^\s*d_model\s*$"))
    d_model = form.locator(".jp-OutputArea-output .widget-text").filter(has=label)
    assert d_model.count() == 1 and d_model.is_visible(), "the form has no visible d_model control"
    # smoke settings: the form starts from d_model = 32
    assert d_model.locator("input").input_value() == "32"
    for preset in ("Quick start", "High performance", "Memory efficient", "Notebook values", "Run training"):
        assert form.get_by_role("button", name=preset).is_visible(), f"no {preset!r} button"
    assert form.get_by_role("checkbox", name="new run folder").is_visible(), "no 'new run folder' checkbox"

    training = bh.code_cell(page, "trainer.fit()")
    training.scroll_into_view_if_needed()
    snap(page, shots, "02_train_training", training)
    bar = training.locator(".widget-hprogress .progress-bar").first
    track = training.locator(".widget-hprogress .progress").first
    assert bar.is_visible(), "no progress bar in the training cell"
    assert bar.bounding_box()["width"] >= 0.99 * track.bounding_box()["width"], "the progress bar did not reach the end"
    tqdm_row = training.locator(".widget-hbox", has=page.locator(".widget-hprogress")).first
    done = re.search(r"(\d+)/(\d+)", tqdm_row.inner_text())
    assert done and done.group(1) == done.group(2), f"the progress text does not show the end: {done}"
    plot = training.locator(".jp-OutputArea-output img[src^='data:image/png']")
    assert plot.count() >= 1 and plot.last.is_visible(), "no live loss plot image in the training cell"
    assert plot.last.evaluate("img => img.naturalWidth") > 100

    tracebacks = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                              has_text="Traceback")
    assert tracebacks.count() == 0
    print(f"requests blocked (not 127.0.0.1): {offline.blocked}")


def test_prediction_notebook_slider_redraws_the_topk_chart(lab, shots):
    page, base, token, _, _ = lab
    bh.open_notebook(page, base, token, "04_prediction_analysis.ipynb")
    try:
        state = bh.run_all(page)
    finally:
        snap(page, shots, "04_page")
    assert state["errors"] == [], f"a cell shows an error: {state['errors']}"

    explorer = bh.code_cell(page, "widgets.PositionExplorer(")
    explorer.scroll_into_view_if_needed()
    snap(page, shots, "04_explorer_before", explorer)
    chart = explorer.locator(".widget-output img[src^='data:image/png']").first
    readout = explorer.locator(".widget-slider .widget-readout").first
    assert chart.is_visible(), "no top-k chart under the position slider"
    before, position = chart.get_attribute("src"), readout.inner_text()

    handle = explorer.locator(".widget-slider .noUi-handle").first
    box = handle.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 120, box["y"] + box["height"] / 2, steps=8)
    page.mouse.up()

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and explorer.locator(
            ".widget-output img[src^='data:image/png']").first.get_attribute("src") == before:
        time.sleep(0.5)
    snap(page, shots, "04_explorer_after", explorer)
    assert readout.inner_text() != position, "the slider did not move"
    assert explorer.locator(".widget-output img[src^='data:image/png']").first.get_attribute("src") != before, \
        "the top-k chart did not change after moving the slider"


@pytest.fixture
def report_page(browser):
    """A page that may read local files only: every other request is aborted (offline.blocked)."""
    offline = bh.Offline(hosts=())
    with bh.new_page(browser, offline) as (page, errors):
        yield page, offline, errors


def test_index_shows_the_verdict_and_its_links_open_offline(workbook, report_page, shots):
    page, offline, errors = report_page
    index = workbook["out"] / "index.html"
    page.goto(index.as_uri())
    snap(page, shots, "index")
    verdict = json.loads((workbook["run"] / "eval.json").read_text())["verdict"]["text"]
    shown = page.locator("#verdict")
    assert shown.is_visible() and shown.inner_text().lower() == f"{verdict}.".lower()
    assert page.locator("#key-numbers").get_by_text("best baseline").is_visible()
    assert page.locator("#evidence table tr").count() == 4, "one evidence row per predictor (model, baseline, chance)"
    figure = page.locator("img.figure")
    assert figure.is_visible() and figure.evaluate("img => img.naturalWidth") > 500
    hrefs = page.locator("#notebooks a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert len(hrefs) == 2 * len(bh.report.NOTEBOOKS)
    for href in hrefs:
        target = index.parent / href
        assert target.is_file(), f"index.html links {href}, which does not exist"
        page.goto(index.as_uri())
        page.locator(f"#notebooks a[href='{href}']").click()
        page.wait_for_load_state()
        assert page.url == target.as_uri() and page.locator(".jp-Notebook .jp-Cell").count() > 5, f"{href} is empty"
    assert offline.blocked == [] and errors == [], f"blocked {offline.blocked}, page errors {errors}"


@pytest.mark.parametrize("name", ["01_explore_and_bin.html", "02_train.nocode.html", "03_evaluate.html"])
def test_html_report_typesets_math_offline(workbook, report_page, shots, name):
    page, offline, _ = report_page
    page.goto((workbook["out"] / name).as_uri())
    formulas = page.locator("img.math")
    assert formulas.count() >= 1, "no formula drawn"
    for i in range(formulas.count()):
        formula = formulas.nth(i)
        formula.scroll_into_view_if_needed()
        assert formula.evaluate("img => img.complete && img.naturalWidth > 0"), f"formula {i} did not draw"
    snap(page, shots, name.replace(".", "_"), formulas.first.locator("xpath=.."))
    text = page.locator("body").inner_text()
    assert not re.search(r"\$[^$\n]{1,80}\$", text), "raw TeX between dollar signs is visible"
    assert not re.search(r"\\(log|text|mid|alpha)", text), "raw TeX commands are visible"
    assert offline.blocked == []


def test_html_report_draws_the_stored_widgets_offline(workbook, report_page, shots):
    page, offline, errors = report_page
    page.goto((workbook["out"] / "02_train.html").as_uri())
    snap(page, shots, "02_train_html")
    label = page.locator(".widget-label", has_text=re.compile(r"^\s*d_model\s*$"))
    form = page.locator(".jp-OutputArea-output").filter(has=label).first
    form.scroll_into_view_if_needed()
    snap(page, shots, "02_train_html_form", form)
    assert label.first.is_visible(), "the stored form's d_model label is not drawn"
    assert page.locator(".widget-text").filter(has=label).locator("input").first.input_value() == "32"
    for preset in ("Quick start", "High performance", "Memory efficient", "Run training"):
        assert page.get_by_role("button", name=preset).first.is_visible(), f"no {preset!r} button"
    bar = page.locator(".widget-hprogress .progress-bar").first
    track = page.locator(".widget-hprogress .progress").first
    assert bar.is_visible(), "the stored progress bar is not drawn"
    assert bar.bounding_box()["width"] >= 0.99 * track.bounding_box()["width"], "the stored progress is not at the end"

    page.goto((workbook["out"] / "04_prediction_analysis.nocode.html").as_uri())
    slider = page.locator(".widget-slider input[type=range]").first
    slider.scroll_into_view_if_needed()
    snap(page, shots, "04_html_explorer", page.locator(".widget-snapshot").first)
    assert slider.is_visible() and page.locator(".widget-slider .widget-label", has_text="position").is_visible()
    readout = page.locator(".widget-slider .widget-readout").first.inner_text()
    assert int(readout) == int(slider.input_value()), "the slider and its readout disagree"
    chart = page.locator(".widget-output img").first
    assert chart.is_visible() and chart.evaluate("img => img.naturalWidth") > 100, "no top-k chart under the slider"
    assert offline.blocked == [] and errors == [], f"blocked {offline.blocked}, page errors {errors}"
