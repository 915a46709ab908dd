"""Helpers for tests/test_browser.py: a throw-away JupyterLab server and headless Chromium (Debian's `chromium`, driven
by Playwright) with every request blocked that leaves 127.0.0.1 (JupyterLab) or the local files (HTML reports)."""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import nbformat

from seqlib import report, runs

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the workbook copy -------------------------------------------------------------------------------------------

def with_parameters(src: Path, dst: Path, **values) -> Path:
    """Copy a notebook, rewriting `name = ...` lines of its parameters cell (values as Python literals)."""
    nb = nbformat.read(src, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    for name, value in values.items():
        cell.source, n = re.subn(rf"^{name} = [^#\n]*?(\s*#.*)?$", lambda m: f"{name} = {value!r}{m.group(1) or ''}",
                                 cell.source, count=1, flags=re.M)
        assert n == 1, f"no `{name} = ` line in the parameters cell of {src}"
    dst.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dst)
    return dst


def prepare_workbook(root: Path) -> dict[str, Path]:
    """root/run and root/out: report.build_reports on the built-in sample with smoke settings (the four notebooks,
    their HTML reports and index.html); root/lab: the folder JupyterLab serves, with 02 (training into root/lab/run02)
    and 04 (reading root/run), their parameters cells set to smoke settings."""
    run, out, lab = root / "run", root / "out", root / "lab"
    report.build_reports(run, out, smoke=True)
    data = runs.sample_data(run)
    run02 = lab / "run02"
    run02.mkdir(parents=True)
    shutil.copy(run / "tokenizer.json", run02 / "tokenizer.json")
    with_parameters(report.NOTEBOOK_DIR / "02_train.ipynb", lab / "02_train.ipynb",
                    data=str(data), run_dir=str(run02), smoke=True)
    with_parameters(report.NOTEBOOK_DIR / "04_prediction_analysis.ipynb", lab / "04_prediction_analysis.ipynb",
                    data=str(data), run_dir=str(run), smoke=True)
    return {"run": run, "out": out, "lab": lab, "run02": run02}


# --- JupyterLab --------------------------------------------------------------------------------------------------

LAB_SETTINGS = {
    # every cell stays in the page (the default windowing drops cells scrolled out of view)
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
}


@contextlib.contextmanager
def jupyter_lab(root: Path, state: Path):
    """`jupyter lab` on 127.0.0.1, a free port and a random token, serving root; yields (base_url, token, log path).
    The server is always stopped (terminate, then kill) when the block ends, failing or not."""
    port, token = free_port(), secrets.token_hex(16)
    settings = state / "settings"
    for name, value in LAB_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(state / "runtime"), JUPYTER_CONFIG_DIR=str(state / "config"),
               JUPYTER_PLATFORM_DIRS="1", PYTHONUNBUFFERED="1")
    cmd = [str(Path(sys.executable).with_name("jupyter")), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           "--LabApp.expose_app_in_browser=True", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={state / 'workspaces'}",
           "--ServerApp.terminals_enabled=False", "--LabApp.extension_manager=readonly"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers run as root
        cmd.append("--allow-root")
    log_path = state / "jupyter.log"
    base = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root)
        try:
            deadline = time.monotonic() + 90
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"jupyter lab exited with {proc.returncode}; log: {log_path}")
                try:
                    with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"jupyter lab did not answer on {base} within 90 s; log: {log_path}")
                time.sleep(0.5)
            yield base, token, log_path
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)


# --- the browser -------------------------------------------------------------------------------------------------

class Offline:
    """A Playwright route handler: data, blob and file URLs and requests to `hosts` go through, everything else is
    aborted (and recorded in .blocked). Offline(hosts=()) lets a page read local files only."""

    def __init__(self, hosts: tuple[str, ...] = ("127.0.0.1",)) -> None:
        self.hosts = hosts
        self.blocked: list[str] = []

    def __call__(self, route) -> None:
        url = route.request.url
        parsed = urlparse(url)
        if parsed.scheme in ("data", "blob", "file") or parsed.hostname in self.hosts:
            return route.continue_()
        self.blocked.append(url)
        return route.abort()


@contextlib.contextmanager
def chromium():
    """Headless Debian Chromium driven by Playwright (one per test module: the sync API does not nest)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def new_page(browser, offline: Offline, viewport=(1400, 1000)):
    """A page in a fresh browser context with the Offline route on every request; yields (page, page errors)."""
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    try:
        context.route("**/*", offline)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        yield page, errors
    finally:
        context.close()


# --- notebooks in JupyterLab -------------------------------------------------------------------------------------

NOTEBOOK_STATE_JS = """() => {
  const app = window.jupyterapp;
  const panel = app && app.shell.currentWidget;
  if (!panel || !panel.sessionContext || !panel.content || !panel.content.widgets) return null;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const code = panel.content.widgets.filter(c => c.model.type === 'code');
  const errors = [];
  for (const c of code) {
    for (let i = 0; i < c.model.outputs.length; i++) {
      const o = c.model.outputs.get(i);
      if (o.type === 'error') errors.push(o.toJSON());
    }
  }
  return {path: panel.context.path, kernel: kernel ? kernel.status : null, cells: code.length,
          pending: code.filter(c => c.model.executionCount === null).length, errors: errors};
}"""


def open_notebook(page, base: str, token: str, name: str, timeout: float = 90) -> dict:
    """Open a notebook in JupyterLab and wait until its kernel is idle."""
    page.goto(f"{base}/lab/tree/{name}?token={token}")
    return wait_for(page, lambda s: s and s["path"] == name and s["kernel"] == "idle", timeout, f"{name} kernel idle")


def run_all(page, timeout: float = 150) -> dict:
    """Run all cells and wait until every code cell has run and the kernel is idle (or a cell shows an error)."""
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    time.sleep(1)
    return wait_for(page, lambda s: s["errors"] or (s["kernel"] == "idle" and s["pending"] == 0), timeout,
                    "all cells run and the kernel idle")


def wait_for(page, done, timeout: float, what: str) -> dict:
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        state = page.evaluate(NOTEBOOK_STATE_JS)
        if done(state):
            return state
        time.sleep(0.5)
    raise TimeoutError(f"waited {timeout:.0f} s for {what}; last state: {state}")


def code_cell(page, text: str):
    """The JupyterLab code cell whose source contains text."""
    return page.locator(".jp-CodeCell").filter(has=page.locator(".jp-InputArea-editor", has_text=text)).first
