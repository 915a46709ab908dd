"""The training form of notebook 02 with a "new run folder" checkbox, so that runs can be compared side by side."""
from __future__ import annotations

from dataclasses import replace

import ipywidgets as w

from .model import ModelConfig
from .runs import next_run_dir
from .train import TrainConfig
from .widgets import TrainingForm


class RunForm(TrainingForm):
    """TrainingForm whose Run button can train into a new folder beside the notebook's: runs/NAME-2, -3, ..."""

    def __init__(self, *args, new_folder: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.new_folder = w.Checkbox(value=new_folder, description="new run folder", indent=False,
                                     tooltip="train into the next free NAME-2, NAME-3, ... beside the run folder")
        self.target = w.HTML()
        run = next(c for c in self.children if isinstance(c, w.Button))
        self.children = tuple(w.HBox([run, self.new_folder, self.target]) if c is run else c for c in self.children)
        self.new_folder.observe(self._show_target, "value")
        self._show_target()

    def _folder(self) -> str:
        return str(next_run_dir(self.train_cfg.run_dir)) if self.new_folder.value else str(self.train_cfg.run_dir)

    def _show_target(self, _change: dict | None = None) -> None:
        self.target.value = f"&nbsp;→ trains into <code>{self._folder()}</code>"

    def configs(self) -> tuple[TrainConfig, ModelConfig]:
        """The form's configs; with the box ticked, run_dir is the next free folder (and the checkpoint goes in it)."""
        train_cfg, model_cfg = super().configs()
        if self.new_folder.value:
            train_cfg = replace(train_cfg, run_dir=self._folder(), ckpt=None)
        return train_cfg, model_cfg

    def run(self, _button: w.Button | None = None) -> None:
        super().run(_button)
        self._show_target()  # the folder just used is taken now
