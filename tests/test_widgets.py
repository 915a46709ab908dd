"""Notebook widgets: the form round-trips configs, presets set the guide's values, displays follow their controls."""
import numpy as np
import pandas as pd
import pytest

from seqlib import widgets
from seqlib.checkpoint import RunPaths, load_model
from seqlib.model import ModelConfig
from seqlib.sources import generate
from seqlib.train import TrainConfig


@pytest.fixture
def form(tmp_path) -> widgets.TrainingForm:
    train_cfg = TrainConfig(u16_path=str(tmp_path / "x.u16"), run_dir=str(tmp_path / "run"), batch=16, lr=2e-3,
                            max_steps=50, eval_every=25)
    return widgets.TrainingForm(train_cfg, ModelConfig(d_model=32, nlayers=1, nhead=2, seq_len=16))


def test_form_starts_from_the_configs_it_was_built_from(form):
    train_cfg, model_cfg = form.configs()
    assert train_cfg == form.train_cfg and model_cfg == form.model_cfg
    assert form.controls["dim_ff"].value == 0  # shown as auto: it is the default for d_model 32
    assert form.controls["patience"].value == 0 and train_cfg.patience is None


def test_configs_reflect_changed_controls(form):
    form.controls["d_model"].value = 48
    form.controls["nhead"].value = 3
    form.controls["lr"].value = 0.01
    form.controls["use_amp"].value = True
    form.controls["patience"].value = 4
    form.controls["max_steps"].value = 0
    train_cfg, model_cfg = form.configs()
    assert (model_cfg.d_model, model_cfg.nhead, model_cfg.dim_ff) == (48, 3, 128)
    assert (train_cfg.lr, train_cfg.use_amp, train_cfg.patience, train_cfg.max_steps) == (0.01, True, 4, None)
    assert train_cfg.u16_path == form.train_cfg.u16_path and train_cfg.batch == 16


def test_explicit_dim_ff_is_kept():
    form = widgets.TrainingForm(TrainConfig(), ModelConfig(d_model=64, nhead=4, dim_ff=100))
    assert form.controls["dim_ff"].value == 100 and form.configs()[1].dim_ff == 100


@pytest.mark.parametrize("name", list(widgets.PRESETS))
def test_presets_set_the_guides_values_and_keep_the_rest(form, name):
    form.controls["seq_len"].value = 24
    form.apply_preset(name)
    train_cfg, model_cfg = form.configs()
    chosen = {**train_cfg.to_dict(), **model_cfg.to_dict()}
    expected = dict(widgets.PRESETS[name])
    if expected["dim_ff"] is None:
        expected["dim_ff"] = ModelConfig(d_model=expected["d_model"], nhead=expected["nhead"]).dim_ff
    assert {k: chosen[k] for k in expected} == expected
    assert model_cfg.seq_len == 24


def test_guide_presets_have_the_documented_sizes():
    assert widgets.PRESETS["High performance"] == dict(
        d_model=512, nlayers=8, nhead=16, dim_ff=2048, epochs=10, gradient_accumulation=4, use_amp=True,
        eval_every=500, patience=5, lr=1e-3, warmup_ratio=0.1)
    assert {k: widgets.PRESETS["Quick start"][k] for k in ("d_model", "nlayers", "nhead", "epochs", "use_amp")} == dict(
        d_model=256, nlayers=6, nhead=8, epochs=5, use_amp=True)
    memory = widgets.PRESETS["Memory efficient"]
    assert (memory["d_model"], memory["nlayers"], memory["nhead"], memory["batch"],
            memory["gradient_accumulation"], memory["use_amp"]) == (256, 4, 8, 64, 8, True)


def test_notebook_values_button_undoes_a_preset(form):
    form.apply_preset("High performance")
    reset = form.children[0].children[-1]
    reset.click()
    assert form.configs() == (form.train_cfg, form.model_cfg)


def test_run_button_trains_with_the_forms_values(tmp_path, capsys):
    values, _ = generate("markov", 20_000, seed=0, k=4, order=1)
    path = tmp_path / "m.u16"
    values.astype("<u2").tofile(path)
    form = widgets.TrainingForm(TrainConfig(u16_path=str(path), run_dir=str(tmp_path / "run"), batch=8, max_steps=4,
                                            eval_every=2, eval_windows=8, progress=False),
                                ModelConfig(d_model=16, nlayers=1, nhead=2, seq_len=16))
    form.controls["nlayers"].value = 2
    form.controls["max_steps"].value = 6
    form.run()
    assert list(form.history["step"]) == [2, 4, 6]
    model, _, _ = load_model(RunPaths.resolve(tmp_path / "run").ckpt)
    assert model.cfg.nlayers == 2


def test_run_button_reports_a_bad_config_in_one_line(form, capsys):
    form.controls["nhead"].value = 5
    form.run()
    out = capsys.readouterr().out
    assert "error: nhead=5 does not divide d_model=32" in out and form.history is None


def test_tokenizer_chooser_refits_when_its_controls_change():
    values = np.random.default_rng(0).integers(0, 500, 20_000).astype(np.uint16)
    chooser = widgets.TokenizerChooser(values, kind="auto", num_bins=64, sample_size=10_000)
    assert chooser.tokenizer.kind == "exact" and chooser.num_bins.disabled
    assert "distinct values <= max_vocab" in chooser.status.value
    chooser.kind.value = "quantile"
    assert chooser.tokenizer.kind == "quantile" and chooser.tokenizer.n_values == 64
    chooser.num_bins.value = 16
    assert chooser.tokenizer.n_values == 16 and not chooser.num_bins.disabled
    assert "16 classes" in chooser.status.value


class FakeTrainer:
    class tokenizer:
        n_values = 16


def test_live_plot_updates_one_display_in_place(monkeypatch):
    shown = []

    class Handle:
        def update(self, image):
            shown.append(("update", image))

    def fake_display(image, display_id=False):
        shown.append(("display", image))
        return Handle()

    monkeypatch.setattr(widgets, "display", fake_display)
    live = widgets.LivePlot(entropy_rate=0.9)
    history = pd.DataFrame({"step": [1, 2], "train_loss_bits": [4.0, 3.0], "val_loss_bits": [4.0, 3.5],
                            "val_top1": [0.1, 0.2], "val_top3": [0.2, 0.4], "val_top5": [0.3, 0.5]})
    for n in (1, 2, 2):
        live.on_eval(FakeTrainer, history.head(n))
    assert [kind for kind, _ in shown] == ["display", "update", "update"]
    assert all(image.data.startswith(b"\x89PNG") for _, image in shown)


def test_position_explorer_predicts_at_the_slider_position(tmp_path):
    from seqlib.model import SeqModel
    from seqlib.tokenize import fit_tokenizer

    values, _ = generate("die", 500, seed=1, k=6)
    tokenizer = fit_tokenizer(values)
    model = SeqModel(ModelConfig(vocab_size=tokenizer.vocab_size, d_model=16, nlayers=1, nhead=2, seq_len=8,
                                 heads_ahead=2)).eval()
    explorer = widgets.PositionExplorer(model, tokenizer, values, start=100, end=200, topk=3)
    assert (explorer.position.min, explorer.position.max, explorer.position.value) == (100, 199, 100)
    explorer.position.value = 150
    assert set(explorer.table["position"]) == {150, 151}
    assert explorer.table.loc[explorer.table["head"] == 1, "true_value"].iloc[0] == values[150]
    explorer.head.value = 2
    assert "value at 151" in explorer.figure().axes[1].get_title()
