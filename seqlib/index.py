"""index.html of a report folder, for readers: the verdict, the key numbers and figure, the evidence behind the
verdict, and links to the four notebooks (with their code and with it hidden). One file, nothing fetched."""
from __future__ import annotations

import base64
import html
import math
import time
from pathlib import Path

import pandas as pd

from .checkpoint import RunPaths
from .runs import load_eval, load_summary

DASH = "—"
ANSWERS = {  # what each notebook answers, in the words of its first cell
    "01_explore_and_bin": "What is in the file, and how values become tokens",
    "02_train": "Can a transformer learn to predict the stream, and how fast",
    "03_evaluate": "How predictable, and better than what: model against baselines, the verdict",
    "04_prediction_analysis": "When is the model right, and does it know",
}
STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; max-width: 1100px; margin: 2em auto;
  padding: 0 1em; color: #1a1a1a; line-height: 1.45; }
.verdict { font-size: 1.25em; font-weight: 600; padding: 0.8em 1em; border-left: 6px solid #2196f3;
  background: #f3f8fd; }
table { border-collapse: collapse; margin: 0.6em 0 1.4em; }
th, td { padding: 0.3em 0.8em; border-bottom: 1px solid #ddd; text-align: left; vertical-align: top; }
th { background: #f5f5f5; }
a { white-space: nowrap; }
img.figure { max-width: 100%; border: 1px solid #eee; }
.note { color: #555; font-size: 0.9em; }
"""


def p_text(p: float | None) -> str:
    """A p-value for readers: a bound below 1e-3 ("p < 1e-12", "p < 1e-300" for underflow), else two digits."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return DASH
    if p < 1e-300:
        return "p < 1e-300"
    if p < 1e-3:
        return f"p < 1e-{math.floor(-math.log10(p))}"
    return f"p = {p:.2g}"


def interval_text(interval) -> str:
    """A confidence interval as a range: "0.0120 to 0.0340"."""
    if not isinstance(interval, (list, tuple)) or len(interval) != 2:
        return DASH
    return f"{interval[0]:.4f} to {interval[1]:.4f}"


def _head1(result: dict, name: str) -> dict:
    predictor = result["model"] if name == "model" else result["baselines"].get(name, {})
    return predictor.get("heads", [{}])[0]


def min_entropies(verdict: dict) -> dict[str, float]:
    """Min-entropy bound per predictor: `min_entropy` when the verdict has it (numbers or dicts with "bits"),
    else the older `min_entropy_bits`."""
    values = verdict.get("min_entropy") or verdict.get("min_entropy_bits") or {}
    if not isinstance(values, dict):
        return {}
    return {k: v.get("bits") if isinstance(v, dict) else v for k, v in values.items()
            if isinstance(v, (int, float)) or (isinstance(v, dict) and isinstance(v.get("bits"), (int, float)))}


def evidence_table(result: dict) -> pd.DataFrame:
    """One row per predictor (model, best baseline, chance): bits, top-1, the tests against chance and the best
    baseline, with p-values as bounds and intervals as ranges; a missing number is a dash."""
    v, n_values = result["verdict"], result["tokenizer"]["n_values"]
    best = v.get("best_baseline")
    entropy = min_entropies(v)
    rows = []
    for name, label in (("model", "model"), (best, f"{best} (best baseline)")):
        if name is None:
            continue
        head = _head1(result, name)
        is_model = name == "model"
        rows.append({
            "predictor": label,
            "bits/value": f"{head['ce_bits']:.4f}" if "ce_bits" in head else DASH,
            "top-1": f"{head['top1']:.2%}" if "top1" in head else DASH,
            "top-1 vs chance": p_text(v.get("p_model_vs_chance" if is_model else "p_best_baseline_vs_chance")),
            "bits saved vs chance (95% CI)": interval_text(
                v.get("gain_bits_vs_chance_ci95" if is_model else "best_baseline_gain_bits_vs_chance_ci95")),
            "top-1 vs best baseline": p_text(v.get("p_model_vs_best_baseline")) if is_model else DASH,
            "bits saved vs best baseline (95% CI)":
                interval_text(v.get("gain_bits_vs_best_baseline_ci95")) if is_model else DASH,
            "min-entropy (bits)": f"{entropy[name]:.4f}" if name in entropy else DASH,
        })
    chance_bits = v.get("chance_bits", math.log2(n_values))
    rows.append({"predictor": "chance", "bits/value": f"{chance_bits:.4f}", "top-1": f"{1 / n_values:.2%}",
                 "min-entropy (bits)": f"{entropy.get('chance', chance_bits):.4f}"})
    return pd.DataFrame(rows).fillna(DASH)


def _cell(key: str, value) -> str:
    """One value of a verdict test as text: p-values as bounds, pairs as ranges."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)) and (key == "p" or key.startswith("p_") or key.endswith("_p")):
        return p_text(float(value))
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(x, (int, float)) for x in value):
        return interval_text(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return DASH if value is None else str(value)


def tests_table(verdict: dict) -> pd.DataFrame | None:
    """The verdict's individual tests (its `tests` list of dicts, when it has one) as text, one row per test."""
    tests = verdict.get("tests")
    if not isinstance(tests, list) or not all(isinstance(t, dict) for t in tests) or not tests:
        return None
    return pd.DataFrame([{k: _cell(k, x) for k, x in t.items()} for t in tests]).fillna(DASH)


def key_numbers(result: dict, summary: dict) -> list[tuple[str, str]]:
    """(what, value) pairs for the top of the page."""
    v, n_values = result["verdict"], result["tokenizer"]["n_values"]
    best, model = v.get("best_baseline"), _head1(result, "model")
    entropy = min_entropies(v)
    rows = [("model", f"{model['ce_bits']:.4f} bits/value, top-1 {model['top1']:.2%}")]
    if best is not None:
        base = _head1(result, best)
        rows.append((f"best baseline ({best})", f"{base.get('ce_bits', math.nan):.4f} bits/value, "
                                                f"top-1 {base.get('top1', math.nan):.2%}"))
    rows.append(("chance", f"{v.get('chance_bits', math.log2(n_values)):.4f} bits/value, top-1 {1 / n_values:.2%} "
                           f"({n_values:,} values)"))
    if entropy:
        unit = "bin" if result["tokenizer"]["kind"] in ("quantile", "uniform") else "value"
        rows.append(("min-entropy, NIST SP 800-90B style", ", ".join(f"{k} {x:.4f}" for k, x in entropy.items())
                     + f" bits per {unit}"))
    rows += [("predictions scored", f"{v.get('n', model.get('count', 0)):,} per head, on the "
                                    f"{result.get('block', 'held-out data')}"),
             ("data file", result.get("file", summary.get("data", DASH)))]
    if "params" in summary:
        rows.append(("model size", f"{summary['params']:,} parameters (d_model {summary['d_model']}, "
                                   f"{_count(summary['nlayers'], 'layer')}, {_count(summary['nhead'], 'head')}, "
                                   f"{summary['tokenizer']} tokenizer)"))
    if "steps" in summary:
        rows.append(("training", f"{summary['steps']:,} steps in {summary.get('time_s', math.nan):.0f} s, best "
                                 f"validation {summary.get('best_val_bits', math.nan):.4f} bits/value"))
    return rows


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, escape=True, border=0)


def index_html(result: dict, summary: dict, figure_png: bytes | None, links: list[tuple[str, str, str]]) -> str:
    """The page: links holds (notebook name, full HTML file, code-hidden HTML file)."""
    e = html.escape
    text = result["verdict"]["text"]
    numbers = "".join(f"<tr><th>{e(k)}</th><td>{e(str(x))}</td></tr>" for k, x in key_numbers(result, summary))
    figure = (f'<img class="figure" alt="key figures: loss curves, model against baselines, calibration" '
              f'src="data:image/png;base64,{base64.b64encode(figure_png).decode()}">' if figure_png else "")
    tests = tests_table(result["verdict"])
    notebooks = "".join(f"<tr><td>{e(name)}</td><td>{e(ANSWERS.get(name, ''))}</td>"
                        f'<td><a href="{e(nocode)}">for readers (code hidden)</a></td>'
                        f'<td><a href="{e(full)}">with code</a></td></tr>' for name, full, nocode in links)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>seqlib report: {e(Path(result.get("file", "")).name)}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>How predictable is {e(Path(result.get("file", "the stream")).name)}?</h1>
<p class="verdict" id="verdict">{e(text[0].upper() + text[1:])}.</p>
<h2>Key numbers</h2>
<table id="key-numbers">{numbers}</table>
{figure}
<h2>The evidence</h2>
<p>Each claim needs a one-sided test at α = {result["verdict"].get("alpha", 0.001)}: an exact binomial test of top-1
hits, or a bootstrap interval over whole windows of the bits per value saved. Bits are cross-entropy on held-out
data (lower is better); “bits saved” is how many fewer bits per value a predictor needs than chance or the best
baseline, so an interval above 0 is a real gain.</p>
<div id="evidence">{_table(evidence_table(result))}</div>
{f'<h3>Tests</h3><div id="tests">{_table(tests)}</div>' if tests is not None else ""}
<h2>The notebooks</h2>
<table id="notebooks"><tr><th>notebook</th><th>answers</th><th></th><th></th></tr>{notebooks}</table>
<p class="note">Written {e(time.strftime("%Y-%m-%d %H:%M"))} by seqlib from the run folder
{e(summary.get("run_dir", ""))}. Every page is self-contained: it needs no network.</p>
</body>
</html>
"""


def write_index(run_dir: str | Path, out_dir: str | Path, notebooks: list[str], nocode_suffix: str) -> Path:
    """Write out_dir/index.html from the run folder's eval.json and summary and out_dir/key_figures.png."""
    out_dir = Path(out_dir)
    figure = out_dir / "key_figures.png"
    links = [(name, f"{name}.html", f"{name}{nocode_suffix}") for name in notebooks]
    page = index_html(load_eval(run_dir), load_summary(RunPaths.resolve(run_dir)),
                      figure.read_bytes() if figure.is_file() else None, links)
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
