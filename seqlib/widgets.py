"""ipywidgets for the notebooks: a tokenizer chooser, a training form with presets, a live training plot and a
position explorer. Each is a widget you display; the notebooks do their real work in plain cells, so a headless run
(papermill, `make report`) gives the same results and the widgets are there for interactive re-runs.
"""
from __future__ import annotations

import io
import typing
from dataclasses import replace

import ipywidgets as w
import numpy as np
from IPython.display import Image, display
from matplotlib.figure import Figure

from . import plots
from .errors import SeqlibError
from .explore import sample_blocks
from .model import ModelConfig
from .predict import predict_at
from .settings import base_type, flags
from .tokenize import KINDS, Tokenizer, auto_rule, fit_tokenizer
from .train import Callback, TrainConfig, Trainer

MODEL_FIELDS = ["d_model", "nlayers", "nhead", "dim_ff", "seq_len", "heads_ahead", "lag_kernel"]
TRAIN_FIELDS = ["batch", "lr", "warmup_ratio", "epochs", "max_steps", "time_limit", "gradient_accumulation",
                "use_amp", "patience", "eval_every", "noise_p", "mask_p"]
BINNED = ("quantile", "uniform")  # the tokenizers that use the bin count
OFF_MEANS = {"dim_ff": "auto", "max_steps": "none", "time_limit": "none", "patience": "never"}  # 0 in the form = None
PRESETS = {  # the guide's configurations (sized for a GPU)
    "Quick start": dict(d_model=256, nlayers=6, nhead=8, dim_ff=None, epochs=5, use_amp=True),
    "High performance": dict(d_model=512, nlayers=8, nhead=16, dim_ff=2048, epochs=10, gradient_accumulation=4,
                             use_amp=True, eval_every=500, patience=5, lr=1e-3, warmup_ratio=0.1),
    "Memory efficient": dict(d_model=256, nlayers=4, nhead=8, dim_ff=None, batch=64, gradient_accumulation=8,
                             use_amp=True),
}


def png(fig: Figure, dpi: int = 90) -> Image:
    """A figure as a PNG display object (shows the same whatever matplotlib backend the kernel uses)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return Image(data=buf.getvalue(), format="png")


def _redraw(output: w.Output, fig: Figure) -> None:
    """Replace what an Output widget shows by one figure."""
    with output:
        output.clear_output(wait=True)
        display(png(fig))


class TokenizerChooser(w.VBox):
    """Tokenizer kind and bin count, refitted on every change with the bin occupancy drawn below."""

    def __init__(self, values: np.ndarray, kind: str = "auto", num_bins: int = 256, max_vocab: int = 1024,
                 sample_size: int = 1_000_000, linear=None) -> None:
        self.values, self.max_vocab, self.sample_size, self.linear = values, max_vocab, sample_size, linear
        self.sample = sample_blocks(values, size=sample_size)
        self.kind = w.Dropdown(options=["auto", *KINDS], value=kind, description="tokenizer")
        self.num_bins = w.BoundedIntText(value=num_bins, min=1, max=65536, description="bins")
        self.status = w.HTML()
        self.plot = w.Output()
        super().__init__([w.HBox([self.kind, self.num_bins, self.status]), self.plot])
        self.kind.observe(self._refit, "value")
        self.num_bins.observe(self._refit, "value")
        self._refit()

    def _refit(self, _change: dict | None = None) -> None:
        self.tokenizer = fit_tokenizer(self.values, self.kind.value, self.num_bins.value, self.max_vocab,
                                       sample_size=self.sample_size, linear=self.linear)
        self.num_bins.disabled = self.tokenizer.kind not in BINNED
        why = (auto_rule(self.values, self.max_vocab, self.sample_size, linear=self.linear)["reason"]
               if self.kind.value == "auto" else "")
        self.status.value = f"&nbsp;→ <b>{self.tokenizer.kind}</b>, {self.tokenizer.vocab_size:,} classes. {why}"
        _redraw(self.plot, plots.bin_occupancy(self.tokenizer, self.sample))


def _control(cls: type, name: str, value: typing.Any) -> w.Widget:
    """An input for one config setting, bounded as the setting is and with its help as tooltip; optional fields show
    0 for None."""
    f = next(f for f in flags(cls) if f.name == name)
    kind, meta = base_type(cls, name), f.metadata
    style, layout = {"description_width": "150px"}, w.Layout(width="280px")
    label = f"{name} (0 = {OFF_MEANS[name]})" if name in OFF_MEANS else name
    value = 0 if value is None else value
    common = dict(value=value, description=label, tooltip=meta["help"], style=style, layout=layout)
    if kind is bool:
        return w.Checkbox(indent=True, **common)
    low = 0 if name in OFF_MEANS or meta["low"] is None else meta["low"]
    high = 10**9 if meta["high"] is None else meta["high"]
    if kind is int:
        return w.BoundedIntText(min=int(low), max=int(high), **common)
    return w.BoundedFloatText(min=low, max=high, **common)


class TrainingForm(w.VBox):
    """The hyperparameters of a run, built from configs, with the guide's presets and a Run button."""

    def __init__(self, train_cfg: TrainConfig, model_cfg: ModelConfig, tokenizer: Tokenizer | None = None,
                 entropy_rate: float | None = None) -> None:
        self.train_cfg, self.model_cfg, self.tokenizer = train_cfg, model_cfg, tokenizer
        self.entropy_rate, self.history = entropy_rate, None
        self.controls: dict[str, w.Widget] = {}
        for cls, cfg, names in ((ModelConfig, model_cfg, MODEL_FIELDS), (TrainConfig, train_cfg, TRAIN_FIELDS)):
            for name in names:
                self.controls[name] = _control(cls, name, getattr(cfg, name))
        self._set(self._initial())
        buttons = [w.Button(description=name, tooltip=str(values)) for name, values in PRESETS.items()]
        for button in buttons:
            button.on_click(lambda b: self.apply_preset(b.description))
        reset = w.Button(description="Notebook values", tooltip="the values of the parameters cell")
        reset.on_click(lambda _: self._set(self._initial()))
        run = w.Button(description="Run training", button_style="primary", icon="play")
        run.on_click(self.run)
        self.output = w.Output()
        columns = w.HBox([w.VBox([w.HTML("<b>Model</b>"), *(self.controls[n] for n in MODEL_FIELDS)]),
                          w.VBox([w.HTML("<b>Training</b>"), *(self.controls[n] for n in TRAIN_FIELDS)])])
        super().__init__([w.HBox([w.HTML("Presets:&nbsp;"), *buttons, reset]), columns, run, self.output])

    def _initial(self) -> dict[str, typing.Any]:
        """The configs' values; dim_ff shows as auto when it is the default for its d_model."""
        values = {n: getattr(self.model_cfg, n) for n in MODEL_FIELDS}
        values |= {n: getattr(self.train_cfg, n) for n in TRAIN_FIELDS}
        if values["dim_ff"] == ModelConfig(d_model=self.model_cfg.d_model, nhead=self.model_cfg.nhead).dim_ff:
            values["dim_ff"] = None
        return values

    def _set(self, values: dict[str, typing.Any]) -> None:
        for name, value in values.items():
            self.controls[name].value = 0 if value is None else value

    def apply_preset(self, name: str) -> None:
        """Set the controls to one of the guide's presets (other controls keep their values)."""
        self._set(PRESETS[name])

    def values(self) -> dict[str, typing.Any]:
        """What the controls say, with 0 turned back into None for the optional fields."""
        return {n: None if n in OFF_MEANS and c.value == 0 else c.value for n, c in self.controls.items()}

    def configs(self) -> tuple[TrainConfig, ModelConfig]:
        """The notebook's configs with the form's values (raises ConfigError for an invalid combination)."""
        values = self.values()
        model_cfg = replace(self.model_cfg, **{n: values[n] for n in MODEL_FIELDS})
        train_cfg = replace(self.train_cfg, **{n: values[n] for n in TRAIN_FIELDS})
        return train_cfg, model_cfg

    def run(self, _button: w.Button | None = None) -> None:
        """Train with the form's values, showing progress, live curves and any error below the form."""
        with self.output:
            self.output.clear_output()
            try:
                train_cfg, model_cfg = self.configs()
                live = LivePlot(self.entropy_rate, output=w.Output())
                display(live.output)
                self.history = Trainer(train_cfg, model_cfg, callbacks=[live], tokenizer=self.tokenizer).fit()
            except SeqlibError as e:
                print(f"error: {e}")


class LivePlot(Callback):
    """Training callback that redraws loss and top-k curves after each validation, in place.

    Without an Output widget it updates a display handle, so a headless run keeps the final figure.
    """

    def __init__(self, entropy_rate: float | None = None, output: w.Output | None = None) -> None:
        self.entropy_rate, self.output, self.handle = entropy_rate, output, None

    def on_eval(self, trainer: Trainer, history) -> None:
        fig = plots.training_curves(history, self.entropy_rate, trainer.tokenizer.n_values)
        if self.output is not None:
            _redraw(self.output, fig)
        elif self.handle is None:
            self.handle = display(png(fig), display_id=True)
        else:
            self.handle.update(png(fig))


class PositionExplorer(w.VBox):
    """A slider over positions of a file: the context before it and the model's top-k for the value there."""

    def __init__(self, model, tokenizer: Tokenizer, values: np.ndarray, start: int = 0, end: int | None = None,
                 position: int | None = None, context: int = 64, topk: int = 10, head: int = 1) -> None:
        self.model, self.tokenizer, self.values, self.context, self.topk = model, tokenizer, values, context, topk
        first = max(start, model.cfg.seq_len)
        last = (len(values) if end is None else end) - 1
        self.position = w.IntSlider(value=first if position is None else position, min=first, max=last,
                                    description="position", continuous_update=False, layout=w.Layout(width="90%"))
        self.head = w.Dropdown(options=list(range(1, model.cfg.heads_ahead + 1)), value=head, description="head")
        self.plot = w.Output()
        super().__init__([w.HBox([self.position, self.head]), self.plot])
        self.position.observe(self._show, "value")
        self.head.observe(self._show, "value")
        self._show()

    def _show(self, _change: dict | None = None) -> None:
        self.table = predict_at(self.model, self.tokenizer, self.values, self.position.value, self.topk)
        _redraw(self.plot, self.figure())

    def figure(self) -> Figure:
        """The context and the prediction at the current position, as a figure."""
        idx = self.position.value
        lo = max(0, idx - self.context)
        return plots.context_and_prediction(np.asarray(self.values[lo:idx]), lo, self.table, self.head.value)
