"""The evaluation as text and tables: what `seqlib evaluate` prints and the notebooks show."""
from __future__ import annotations

import pandas as pd

from .linear import LinearScan
from .stats import evidence_table


def summary_table(result: dict) -> pd.DataFrame:
    """One row per predictor and head: top-1/3/5, bits per value, perplexity."""
    rows = []
    for name, r in [("model", result["model"]), *result["baselines"].items()]:
        for head in r["heads"]:
            rows.append({"predictor": name, "head": head["head"], "top1": head["top1"], "top3": head["top3"],
                         "top5": head["top5"], "bits": head["ce_bits"], "perplexity": head["perplexity"],
                         "count": head["count"]})
    return pd.DataFrame(rows)


def value_parts_text(head: dict, byte_names: tuple[str, str] = ("high byte", "low byte")) -> str:
    """How a 16-bit model's value-level numbers decompose: per byte, greedy decoding, the enumeration."""
    hi, lo, enum = head["first_byte"], head["second_byte"], head["enumeration"]
    first, second = byte_names
    return (f"16-bit values as {first} + {second} (model, head 1): {first} top-1 {hi['top1']:.2%}, "
            f"{hi['ce_bits']:.4f} bits; {second} given the true {first} top-1 {lo['top1']:.2%}, {lo['ce_bits']:.4f} "
            f"bits; value bits = their sum. Greedy top-1 {head['top1_greedy']:.2%}; top-k from the {enum['width']} most "
            f"probable {first}s, the top-{enum['top_k']} list provably exact for {enum['exact_share']:.1%} of predictions")


def linear_lines(result: dict) -> list[str]:
    """The GF(2) scan behind the linear predictor (one line, and its table when some plane is linear), and the
    lagged-sum search behind the lagged-sum predictor, the LCG search behind the LCG predictor and the MT19937 and V8
    Math.random() searches behind theirs (a line each)."""
    if "linear" not in result:
        return []
    scan = LinearScan.from_dict(result["linear"]["scan"])
    lines = [f"linear scan (Berlekamp-Massey per bit plane of the training block): {scan.describe()}"]
    if scan.linear_planes:
        lines.append(scan.table().to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    if "lagged" in result:  # evaluations written before the lagged sums have none
        lines.append(f"lagged-sum search (on the training block): {result['lagged']['text']}")
    if "congruential" in result:  # nor an LCG search before it
        lines.append(f"LCG search (published generators, on the training block): {result['congruential']['text']}")
    if "twister" in result:  # nor an MT19937 search before it
        lines.append(f"MT19937 search (on the training block): {result['twister']['text']}")
    if "xorshift" in result:  # nor an xorshift-family search before it
        lines.append(f"xorshift-family search (on the training block): {result['xorshift']['text']}")
    if "seeded" in result:  # nor a seed search before it
        lines.append(f"seed search (on the training block): {result['seeded']['text']}")
    return [*lines, ""]


def format_report(result: dict, analyze: bool = False) -> str:
    """The text `seqlib evaluate` prints."""
    v = result["verdict"]
    unseen, scored = result.get("unseen_values", 0), result.get("scored_values", 0)
    left_out = (f"; {unseen:,} of {scored:,} values ({unseen / scored:.2%}) the tokenizer never saw are left out of "
                f"every score" if unseen else "; every value was seen by the tokenizer")
    lines = [f"evaluated on the {result['block']} ({result['file']}): {v['n']:,} predictions per head{left_out}",
             result["context_rule"], "",
             summary_table(result).to_string(index=False, float_format=lambda x: f"{x:.4f}"), "",
             *linear_lines(result), f"evidence (alpha = {v['alpha']:g}; tests in docs/statistics.md; 90B H_min: the "
             "SP 800-90B predictor estimate, the lower of its global and local bounds, in bits per value):",
             evidence_table(v).to_string(index=False), "", "verdict: " + v["text"]]
    if result["tokenizer"]["output"] != "tokens":
        names = tuple(result["tokenizer"].get("byte_names", ("high byte", "low byte")))
        lines[5:5] = [value_parts_text(result["model"]["heads"][0], names), ""]
    if analyze:
        head = result["model"]["heads"][0]
        lines += ["", "model head 1: confidence mean {:.4f}, entropy mean {:.4f} bits, ECE {:.4f}".format(
            head["confidence_mean"], head["entropy_bits_mean"], head["ece"])]
        rel = pd.DataFrame(head["reliability"])
        lines += ["accuracy by confidence bin:", rel[rel["count"] > 0].to_string(index=False, float_format=lambda x: f"{x:.3f}")]
        if head["worst"]:
            lines += ["most confident wrong predictions:", pd.DataFrame(head["worst"]).head(10).to_string(index=False)]
    if "written_to" in result:
        lines += ["", f"wrote {result['written_to']}"]
    return "\n".join(lines)
