"""Self-contained HTML from nbconvert: no script or style is fetched from a CDN, so a report reads with the network off.

nbconvert's lab template loads MathJax, require.js and the widget manager from CDNs. No installed package ships a
standalone copy of either (JupyterLab has MathJax only inside its webpack chunks), and both would add megabytes to
every report, so instead:
- each formula of the markdown is drawn at export time by matplotlib's mathtext into a small inline SVG image
  (2 to 6 kB each, the TeX source as its alt text);
- each stored widget is drawn from its saved state as plain HTML and CSS (a snapshot: labels, values, buttons,
  sliders, progress bars, the figures of Output widgets), with no JavaScript.
"""
from __future__ import annotations

import base64
import functools
import html
import io
import re

from nbformat import NotebookNode

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
MATH_PX = 14  # formula size: the body text of nbconvert's lab template
# Code (fenced blocks, inline spans) is left alone; $$display$$ and $inline$ math are replaced; \$ is a dollar sign.
MATH = re.compile(r"(?P<code>```.*?```|`[^`\n]*`)|\$\$(?P<display>.+?)\$\$|(?<![\\$])\$(?P<inline>[^$\n]+?)\$",
                  re.S)
ANSI = re.compile(r"\x1b\[[0-9;]*m")
SNAPSHOT_TIP = "the widget as it was when the notebook ran; open the notebook in JupyterLab to use it"
CSS = """
img.math { vertical-align: baseline; }
img.math-display { display: block; margin: 0.6em auto; }
.widget-snapshot { font-family: var(--jp-ui-font-family); font-size: 13px; color: var(--jp-ui-font-color1); }
.widget-snapshot .widget-vbox { display: flex; flex-direction: column; gap: 2px; }
.widget-snapshot .widget-hbox { display: flex; flex-direction: row; flex-wrap: wrap; align-items: flex-start;
  gap: 4px; }
.widget-snapshot .widget-inline { display: flex; align-items: center; height: 28px; gap: 6px; }
.widget-snapshot .widget-label { display: inline-block; text-align: right; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; min-width: 0; }
.widget-snapshot input[type=number], .widget-snapshot select { height: 24px; box-sizing: border-box; min-width: 60px;
  flex: 1 1 auto; border: 1px solid #9e9e9e; background: #fff; color: inherit; font: inherit; }
.widget-snapshot .widget-button { height: 28px; padding: 0 12px; border: 0; background: #eee; color: inherit;
  font: inherit; }
.widget-snapshot .widget-button.mod-primary { background: #2196f3; color: #fff; }
.widget-snapshot .widget-button.mod-success { background: #4caf50; color: #fff; }
.widget-snapshot .widget-button.mod-danger { background: #f44336; color: #fff; }
.widget-snapshot .progress { flex: 1 1 auto; min-width: 120px; height: 18px; background: #eee; }
.widget-snapshot .progress-bar { height: 100%; background: #2196f3; }
.widget-snapshot .progress-bar.mod-success { background: #4caf50; }
.widget-snapshot .progress-bar.mod-danger { background: #f44336; }
.widget-snapshot .widget-slider input[type=range] { flex: 1 1 auto; }
.widget-snapshot .widget-readout { min-width: 6em; }
.widget-snapshot .widget-output img { max-width: 100%; }
"""
# The lab template without anything fetched from a CDN: require.js and the widget manager (widgets are drawn by
# static_widgets), MathJax (formulas are SVG images) and mermaid (not used); the widget state is not embedded.
TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}<style type="text/css">""" + CSS + """</style>{%- endblock extra_css -%}
"""


# --- formulas ------------------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def formula_img(tex: str, display: bool = False) -> str:
    """A formula as an <img> of inline SVG drawn by matplotlib's mathtext, aligned on the text's baseline."""
    from matplotlib import mathtext
    from matplotlib.font_manager import FontProperties

    prop = FontProperties(size=MATH_PX * (1.2 if display else 1.0))
    buf = io.BytesIO()
    depth = mathtext.math_to_image(f"${tex}$", buf, prop=prop, format="svg")  # 72 dpi: 1 pt is 1 px
    svg = re.sub(rb"<metadata>.*?</metadata>|<!--.*?-->|<\?xml[^>]*>|<!DOCTYPE[^>]*>", b"", buf.getvalue(), flags=re.S)
    height = float(re.search(rb'height="([\d.]+)pt"', svg).group(1))
    style = f"height:{height:.1f}px" + ("" if display else f";vertical-align:-{depth:.1f}px")
    return (f'<img class="math{" math-display" if display else ""}" alt="{html.escape(tex)}" style="{style}" '
            f'src="data:image/svg+xml;base64,{base64.b64encode(svg.strip()).decode()}">')


def _formula(match: re.Match) -> str:
    if match["code"]:
        return match["code"]
    display = match["display"] is not None
    tex = (match["display"] if display else match["inline"]).strip()
    try:
        return formula_img(tex, display)
    except ValueError:  # TeX that mathtext does not know stays readable as code
        return f"<code>{html.escape(tex)}</code>"


def render_math(markdown: str) -> str:
    """Markdown with every $...$ and $$...$$ formula replaced by its SVG image."""
    return MATH.sub(_formula, markdown)


# --- widgets -------------------------------------------------------------------------------------------------------

class _Snapshot:
    """Draws widget models of a notebook's stored widget state as static HTML."""

    def __init__(self, state: dict) -> None:
        self.models = {key: model["state"] for key, model in state.items()}
        self.names = {key: model["model_name"] for key, model in state.items()}

    @staticmethod
    def _ref(value: str) -> str:
        return value.removeprefix("IPY_MODEL_")

    def _sub(self, model: dict, key: str) -> dict:
        ref = model.get(key)
        return self.models.get(self._ref(ref), {}) if isinstance(ref, str) else {}

    def _style(self, model: dict) -> str:
        layout = self._sub(model, "layout")
        css = {k.replace("_", "-"): v for k, v in layout.items()
               if k in ("width", "height", "display", "margin", "padding", "justify_content", "align_items")
               and v is not None}
        return "; ".join(f"{k}: {v}" for k, v in css.items())

    def _label(self, model: dict) -> str:
        text = model.get("description") or ""
        if not text:
            return ""
        width = self._sub(model, "style").get("description_width") or ""
        style = f' style="width: {width}; flex: 0 0 {width}"' if width else ""
        body = text if model.get("description_allow_html") else html.escape(text)
        return f'<label class="widget-label"{style}>{body}</label>'

    def draw(self, key: str) -> str:
        """One widget (and its children) as HTML; "" for models that draw nothing (layouts, styles, unknown ones)."""
        model, name = self.models.get(key), self.names.get(key, "")
        if model is None:
            return ""
        kind = name.removesuffix("Model")
        style = self._style(model)
        attrs = f' style="{html.escape(style)}"' if style else ""
        if model.get("tooltip"):
            attrs += f' title="{html.escape(str(model["tooltip"]))}"'
        if kind in ("VBox", "HBox", "Box", "GridBox"):
            cls = "widget-hbox" if kind == "HBox" else "widget-vbox"
            children = "".join(self.draw(self._ref(c)) for c in model.get("children", []))
            return f'<div class="{cls}"{attrs}>{children}</div>'
        if kind in ("HTML", "Label"):
            value = model.get("value", "") if kind != "Label" else html.escape(model.get("value", ""))
            return f'<div class="widget-inline widget-html"{attrs}>{self._label(model)}<span>{value}</span></div>'
        if kind.endswith("Text"):  # Text, IntText, BoundedFloatText, ...
            value = html.escape(str(model.get("value", "")))
            kind_attr = "text" if kind == "Text" else "number"
            return (f'<div class="widget-inline widget-text"{attrs}>{self._label(model)}'
                    f'<input type="{kind_attr}" value="{value}" readonly></div>')
        if kind == "Checkbox":
            checked = " checked" if model.get("value") else ""
            return (f'<div class="widget-inline widget-checkbox"{attrs}>{self._label(model)}'
                    f'<input type="checkbox"{checked} disabled></div>')
        if kind in ("Dropdown", "Select"):
            labels, index = model.get("_options_labels", []), model.get("index")
            options = "".join(f'<option{" selected" if i == index else ""}>{html.escape(str(o))}</option>'
                              for i, o in enumerate(labels))
            return (f'<div class="widget-inline widget-dropdown"{attrs}>{self._label(model)}'
                    f"<select disabled>{options}</select></div>")
        if kind == "Button":
            mod = f" mod-{model['button_style']}" if model.get("button_style") else ""
            text = html.escape(model.get("description", ""))
            return f'<button class="widget-button{mod}" disabled{attrs}>{text}</button>'
        if kind in ("IntSlider", "FloatSlider"):
            lo, hi, value = model.get("min", 0), model.get("max", 100), model.get("value", 0)
            return (f'<div class="widget-inline widget-slider"{attrs}>{self._label(model)}'
                    f'<input type="range" min="{lo}" max="{hi}" step="{model.get("step") or "any"}" value="{value}" '
                    f'disabled><span class="widget-readout">{value}</span></div>')
        if kind in ("FloatProgress", "IntProgress"):
            lo, hi, value = model.get("min", 0), model.get("max", 100), model.get("value", 0)
            share = 0.0 if hi == lo else min(1.0, max(0.0, (value - lo) / (hi - lo)))
            mod = f" mod-{model['bar_style']}" if model.get("bar_style") else ""
            return (f'<div class="widget-inline widget-hprogress"{attrs}>{self._label(model)}<div class="progress">'
                    f'<div class="progress-bar{mod}" style="width: {100 * share:.1f}%"></div></div></div>')
        if kind == "Output":
            return f'<div class="widget-output"{attrs}>{"".join(map(self._output, model.get("outputs", [])))}</div>'
        return ""

    def _output(self, output: dict) -> str:
        """One output of an Output widget: an image, HTML or text."""
        data = output.get("data", {})
        if "image/png" in data:
            return f'<img src="data:image/png;base64,{data["image/png"].strip()}">'
        if "image/svg+xml" in data:
            return data["image/svg+xml"]
        if "text/html" in data:
            return "".join(data["text/html"])
        text = output.get("text") or data.get("text/plain") or "\n".join(output.get("traceback", []))
        return f"<pre>{html.escape(ANSI.sub('', ''.join(text)))}</pre>" if text else ""


def static_widgets(nb: NotebookNode) -> NotebookNode:
    """Replace each widget output by its snapshot as HTML, and drop the stored state the template would embed."""
    state = nb.metadata.pop("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    snapshot = _Snapshot(state)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).pop(WIDGET_VIEW, None)
            if view is not None:
                drawn = snapshot.draw(view["model_id"])
                output["data"]["text/html"] = f'<div class="widget-snapshot" title="{SNAPSHOT_TIP}">{drawn}</div>'
    return nb


def self_contained(nb: NotebookNode) -> NotebookNode:
    """The notebook with its formulas as images and its widgets as snapshots (HTMLExporter with TEMPLATE next)."""
    nb = static_widgets(nb)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = render_math(cell.source)
        for output in cell.get("outputs", []):
            if "text/markdown" in output.get("data", {}):
                output["data"]["text/markdown"] = render_math(output["data"]["text/markdown"])
    return nb


def exporter(code: bool = True):
    """An HTMLExporter (lab template) that loads nothing from the network; code=False hides inputs and prompts."""
    from nbconvert import HTMLExporter

    export = HTMLExporter(template_name="lab", exclude_input=not code, exclude_input_prompt=not code,
                          exclude_output_prompt=not code)
    export.raw_template = TEMPLATE
    return export
