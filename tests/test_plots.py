"""Every figure draws from the data structures the rest of seqlib produces, without touching pyplot's state."""
import io

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

from seqlib import explore, plots
from seqlib.metrics import Metrics
from seqlib.sources import generate
from seqlib.tokenize import fit_tokenizer

VOCAB = 8


def metrics_result(sharpness: float, heads: int = 2, n: int = 2000, seed: int = 0) -> dict:
    """A Metrics result for logits that favour the target by `sharpness`."""
    g = torch.Generator().manual_seed(seed)
    targets = torch.randint(0, VOCAB, (n, heads), generator=g)
    logits = torch.randn(n, heads, VOCAB, generator=g)
    logits.scatter_add_(-1, targets[..., None], torch.full((n, heads, 1), sharpness))
    m = Metrics(VOCAB, heads=heads)
    m.update(logits, targets)
    return m.result()


@pytest.fixture
def result() -> dict:
    """An eval.json-shaped result: a model, two baselines and a verdict."""
    return {"tokenizer": {"kind": "exact", "n_values": VOCAB, "unseen_values": 0},
            "model": metrics_result(3.0), "baselines": {"chance": metrics_result(0.0), "unigram": metrics_result(0.5)},
            "verdict": {"text": "predictable: top-1 60% vs 13%", "n": 2000}}


@pytest.fixture
def history() -> pd.DataFrame:
    steps = np.arange(1, 6) * 10
    falling = 3.0 - np.log(steps) / 3
    rising = np.arange(1, 6)
    return pd.DataFrame({"step": steps, "epoch": steps / 50, "lr": 1e-3, "train_loss_bits": falling + 0.1,
                         "val_loss_bits": falling, "val_top1": 0.1 * rising, "val_top3": 0.15 * rising,
                         "val_top5": 0.18 * rising, "tokens_per_s": 1e4, "elapsed_s": steps / 10.0})


@pytest.fixture
def prediction() -> pd.DataFrame:
    """A predict_at-shaped table for two heads; head 1's true value is at rank 2, head 2's is outside the top 3."""
    rows = []
    for head, true_rank in ((1, 2), (2, 7)):
        for rank, p in enumerate([0.5, 0.3, 0.1], start=1):
            rows.append({"head": head, "position": 100 + head - 1, "rank": rank, "token": rank, "value": str(rank * 10),
                         "lo": rank * 10, "hi": rank * 10, "probability": p, "is_true": rank == true_rank,
                         "true_value": true_rank * 10, "true_rank": true_rank, "entropy_bits": 1.5})
    return pd.DataFrame(rows)


def texts(fig: Figure) -> str:
    """Every title, label, legend entry and tick label of a figure, joined."""
    out = [fig.get_suptitle()]
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        out += [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
        if ax.get_legend():
            out += [t.get_text() for t in ax.get_legend().get_texts()]
    return "\n".join(out)


def renders(fig: Figure) -> bool:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue().startswith(b"\x89PNG")


def test_value_histogram_draws_one_bar_per_value_for_small_alphabets():
    fig = plots.value_histogram(np.array([1, 1, 2, 5, 5, 5], dtype=np.uint16))
    (ax,) = fig.axes
    assert [p.get_height() for p in ax.patches] == pytest.approx([2 / 6, 1 / 6, 3 / 6])
    assert renders(fig)


def test_value_histogram_bins_wide_alphabets():
    values = np.random.default_rng(0).integers(0, 65536, 50_000).astype(np.uint16)
    (ax,) = plots.value_histogram(values, bins=32).axes
    assert len(ax.patches) == 32
    assert sum(p.get_height() for p in ax.patches) == pytest.approx(1.0)


def test_stream_figures_draw_from_explore_outputs():
    values, info = generate("lagged_sum", 20_000, seed=1)
    sample = explore.sample_blocks(values, size=10_000, block=1000)
    acf = explore.autocorrelation(sample, max_lag=8)
    figs = [plots.lag_plot(sample, lags=(1, 3)), plots.autocorrelation_plot(acf, n_pairs=sample.size),
            plots.entropy_estimates(explore.block_entropies(sample, 3), max_bits=4.0, entropy_rate=info.entropy_rate),
            plots.bin_occupancy(fit_tokenizer(values, "quantile", num_bins=4), sample)]
    assert len(figs[0].axes) == 2
    assert "true entropy rate: 0.92 bits" in texts(figs[2])
    assert "4 value tokens, 0 empty" in texts(figs[3])
    assert all(renders(f) for f in figs)


def test_bin_occupancy_counts_empty_tokens():
    tok = fit_tokenizer(np.arange(8, dtype=np.uint16), "exact")
    fig = plots.bin_occupancy(tok, np.array([0, 0, 1, 2], dtype=np.uint16))
    assert "8 value tokens, 5 empty" in texts(fig)


def test_bin_occupancy_draws_wide_vocabularies_as_one_outline():
    tok = fit_tokenizer(np.arange(10, dtype=np.uint16), "bytes16")
    fig = plots.bin_occupancy(tok, np.random.default_rng(0).integers(0, 65536, 50_000).astype(np.uint16))
    (ax,) = fig.axes
    assert len(ax.patches) == 1 and "65,536 value tokens" in ax.get_title()
    assert renders(fig)


def test_training_curves_show_chance_and_entropy_rate(history):
    fig = plots.training_curves(history, entropy_rate=0.92, n_values=16)
    legend = texts(fig)
    assert "chance: 4.00" in legend and "entropy rate: 0.92" in legend and "top-5" in legend
    loss_ax = fig.axes[0]
    assert list(loss_ax.lines[1].get_ydata()) == list(history["val_loss_bits"])
    assert renders(fig)


def test_loss_and_topk_curves_draw_without_reference_lines(history):
    loss, topk = plots.loss_curves(history), plots.topk_curves(history)
    assert "chance" not in texts(loss) and "entropy rate" not in texts(loss)
    assert len(topk.axes[0].lines) == 3
    assert renders(loss) and renders(topk)


def test_per_head_bars_has_a_bar_per_predictor_and_head(result):
    fig = plots.per_head_bars(result)
    top1_ax = fig.axes[0]
    assert len(top1_ax.patches) == 3 * 2
    assert {"model", "chance", "unigram"} <= set(texts(fig).splitlines())
    assert top1_ax.patches[0].get_height() == pytest.approx(result["model"]["heads"][0]["top1"])


def test_reliability_and_confidence_figures_use_the_requested_head(result):
    for head in (1, 2):
        assert f"head {head}" in texts(plots.reliability_diagram(result, head))
        assert f"head {head}" in texts(plots.confidence_histograms(result, head))
        assert f"head {head}" in texts(plots.accuracy_by_confidence(result, head))
    with pytest.raises(ValueError, match="heads 1..2"):
        plots.reliability_diagram(result, head=3)


def test_accuracy_by_confidence_labels_each_bin_with_its_count(result):
    fig = plots.accuracy_by_confidence(result)
    rel = pd.DataFrame(result["model"]["heads"][0]["reliability"])
    nonempty = rel[rel["count"] > 0]
    ax = fig.axes[0]
    assert [p.get_height() for p in ax.patches] == pytest.approx(list(nonempty["accuracy"]))
    assert [t.get_text() for t in ax.texts] == [f"{c:,}" for c in nonempty["count"]]


def test_confidence_histograms_normalise_each_group(result):
    fig = plots.confidence_histograms(result, density=True)
    for ax in fig.axes:
        for patch in ax.patches:
            heights = patch.get_path().vertices[:, 1]
            assert heights.max() <= 1.0
    assert renders(fig)


def test_prediction_bars_mark_the_true_value(prediction):
    fig = plots.prediction_bars(prediction, head=1)
    ax = fig.axes[0]
    colors = [p.get_facecolor() for p in ax.patches]
    assert colors[1] != colors[0] and colors[2] == colors[0]
    assert "true 20 (green, rank 2)" in ax.get_title()
    assert "true 70 at rank 7, not shown" in plots.prediction_bars(prediction, head=2).axes[0].get_title()
    with pytest.raises(ValueError, match="no head 3"):
        plots.prediction_bars(prediction, head=3)


def test_context_and_prediction_plots_context_and_truth(prediction):
    context = np.arange(100, dtype=np.uint16) % 7
    fig = plots.context_and_prediction(context, 0, prediction)
    assert "The last 100 values of context" in texts(fig)
    assert "true next value" in texts(fig)
    assert renders(fig)


def test_key_figures_has_four_panels_titled_by_the_verdict(history, result):
    fig = plots.key_figures(history, result, entropy_rate=0.92)
    assert len(fig.axes) == 4
    assert fig.get_suptitle().startswith("Predictable — 2,000 held-out predictions")
    assert renders(fig)


def test_figures_stay_out_of_pyplot(history, result):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    plots.key_figures(history, result)
    plots.training_curves(history)
    assert plt.get_fignums() == before
