"""The trainer: AdamW, warmup + cosine schedule, AMP, accumulation, validation, early stopping, exact resume."""
from __future__ import annotations

import math
import signal
import sys
import threading
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Iterable, Iterator

import pandas as pd
import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from .checkpoint import RunPaths, atomic_write, check_writable, load_checkpoint, remove_leftovers, save_checkpoint
from .data import (SAMPLING, U16Stream, WindowBatches, batch_iterator, eval_windows, load_windows, make_split,
                   model_inputs, score_from)
from .distributed import all_reduce_sum, dist_info, pick_device, process_group
from .errors import ConfigError, SeqlibError
from .formats import FORMATS
from .congruential import Congruential, find_congruential
from .twister import Twister, find_twister
from .seeded import Seeded, find_seeded
from .xorshift import find_xorshift, xorshift_from_dict
from .lagged import LaggedSum, find_lagged_sum
from .linear import LinearScan, scan
from .lock import RunLock
from .model import ModelConfig, SeqModel
from .runs import write_summary
from .settings import check, flags, setting
from .tokenize import KINDS, Tokenizer, fit_tokenizer

LOG2E = 1.0 / math.log(2.0)
TOPK = (1, 3, 5)


class TrainingError(SeqlibError):
    """Training cannot go on (a NaN or infinite loss); the last good checkpoint is left as it was."""


@dataclass
class TrainConfig:
    """Everything about a run that is not the model's shape; the names are the CLI's flags."""

    u16_path: str = setting("", "the stream: raw little-endian uint16 (no header) unless --format says otherwise")
    format: str = setting("u16le", "u16le | u16be | u8 (one byte per value) | npy (1-D integer array) | text "
                                   "(whitespace-separated integers); other than u16le, the file is converted once "
                                   "into a cache (seqlib convert)", choices=tuple(FORMATS))
    run_dir: str | None = setting(None, "run folder for checkpoints, history.csv and eval.json (default: next to --ckpt)")
    ckpt: str | None = setting(None, "path of the best checkpoint (default: RUN_DIR/model.pt)")
    tokenizer: str = setting("auto", "auto | exact | quantile | uniform | bytes16 (lossless 16-bit: high byte, then low "
                                     "byte) | bits16 (lossless 16-bit, bit by bit from the lowest: for arithmetic "
                                     "generators such as lagged Fibonacci)", choices=("auto", *KINDS))
    num_bins: int = setting(256, "bins for quantile/uniform tokenizers", low=1, high=65536)
    max_vocab: int = setting(1024, "auto picks exact when the stream has at most this many distinct values; above it, "
                                   "bytes16 for generator-like streams (values spread evenly over their range, jumping "
                                   "across it), else quantile", low=1)
    val_ratio: float = setting(0.1, "fraction of the file held out for validation (the end of the file)", low=0.0,
                               high=1.0, low_open=True, high_open=True)
    epochs: int = setting(1, "passes over the training block (one pass sees each value once)", low=1)
    max_steps: int | None = setting(None, "stop after this many optimizer steps", low=1)
    time_limit: float | None = setting(None, "stop after this many seconds (the state is saved; --resume continues)",
                                       low=0.0, low_open=True)
    batch: int = setting(128, "windows per micro-batch", low=1)
    gradient_accumulation: int = setting(1, "micro-batches per optimizer step", low=1)
    lr: float = setting(3e-4, "peak learning rate", low=0.0, low_open=True)
    weight_decay: float = setting(0.1, "AdamW weight decay (matrices only)", low=0.0)
    warmup_ratio: float = setting(0.05, "fraction of steps with linear warmup before the cosine decay", low=0.0,
                                  high=1.0)
    min_lr_ratio: float = setting(0.1, "final learning rate as a fraction of --lr", low=0.0, high=1.0)
    grad_clip: float = setting(1.0, "gradient-norm clipping", low=0.0, low_open=True)
    eval_every: int = setting(500, "validate every N optimizer steps", low=1)
    eval_windows: int = setting(128, "validation windows (the same ones at every evaluation)", low=1)
    patience: int | None = setting(None, "stop after N evaluations without improvement (default: never)", low=1)
    sampling: str = setting("epoch", "epoch (each window once per epoch) | random (with replacement)",
                            choices=SAMPLING)
    max_samples: int | None = setting(None, "at most this many windows per epoch", low=1)
    noise_p: float = setting(0.0, "probability of replacing an input value by a random one (augmentation)", low=0.0,
                             high=1.0, high_open=True)
    mask_p: float = setting(0.0, "probability of masking an input value (augmentation)", low=0.0, high=1.0,
                            high_open=True)
    use_amp: bool = setting(False, "mixed precision: bf16 autocast (fp16 + GradScaler on GPUs without bf16)")
    compile: bool = setting(False, "torch.compile the model")
    device: str = setting("auto", "auto | cpu | cuda | cuda:N")
    seed: int = setting(0, "random seed")
    workers: int = setting(0, "background processes prefetching batches (0: main process)", low=0)
    in_memory: bool = setting(False, "load the whole file into RAM instead of memory-mapping it")
    linear: bool = setting(True, "scan the training block for linear recurrences over GF(2) (Berlekamp-Massey per bit "
                                 "plane); when planes are linear, the model also reads their predictions")
    resume: bool = setting(False, "continue the run from RUN_DIR/latest.pt")
    progress: bool = setting(True, "show a progress bar")

    def __post_init__(self) -> None:
        check(self)
        if self.noise_p + self.mask_p >= 1.0:
            raise ConfigError("--noise_p + --mask_p must stay below 1 so that some inputs are real")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def lr_at(step: int, total_steps: int, lr: float, warmup_ratio: float, min_lr_ratio: float) -> float:
    """Linear warmup over warmup_ratio of the steps, then cosine decay from lr to min_lr_ratio * lr."""
    warmup = round(warmup_ratio * total_steps)
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - 1 - warmup)
    floor = lr * min_lr_ratio
    return floor + 0.5 * (lr - floor) * (1.0 + math.cos(math.pi * min(1.0, progress)))


def amp_dtype(device: torch.device, use_amp: bool) -> torch.dtype | None:
    """bf16 where the hardware has it (CPUs, recent GPUs), fp16 on older GPUs; None without AMP."""
    if not use_amp:
        return None
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


class Callback:
    """Hooks the trainer calls; override the ones you need (each does nothing by default)."""

    def on_step(self, trainer: "Trainer", row: dict[str, float]) -> None:
        """After each optimizer step: step, lr, train_loss_bits."""

    def on_eval(self, trainer: "Trainer", history: pd.DataFrame) -> None:
        """After each validation, once its history row and checkpoints are written (main process only)."""


# Settings of one invocation rather than of the run: a resumed run takes them from this session, never the checkpoint.
SESSION = ("u16_path", "run_dir", "ckpt", "time_limit", "device", "workers", "in_memory", "compile", "progress",
           "resume")


class Stopped(KeyboardInterrupt):
    """A run ended by a signal; signum says which (the CLI exits with 128 + signum, as a shell would)."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Interrupts:
    """Within the block, SIGINT (Ctrl-C) or SIGTERM (kill, a scheduler's pre-emption, torchrun stopping its workers)
    sets `requested`, which the loop reads between steps; a second one raises Stopped at once. Outside the main
    thread, where no handler can be set, the signals act as they always do."""
    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested, self.signum, self._previous = False, signal.SIGINT, {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise Stopped(signum)
        self.requested, self.signum = True, signum
        again = "Ctrl-C" if signum == signal.SIGINT else "the signal"
        print(f"\n{signal.Signals(signum).name}: saving at the end of this step ({again} again to stop at once, "
              "without saving)", file=sys.stderr, flush=True)

    def __enter__(self) -> "Interrupts":
        if threading.current_thread() is threading.main_thread():
            self._previous = {signum: signal.signal(signum, self._handle) for signum in self.SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, signal.SIG_DFL if previous is None else previous)


class Trainer:
    """Trains a SeqModel on one .u16 file; single process or one rank of a torchrun job (see train()).

    The run folder is locked (RunLock) from the start until fit() ends; close() releases a Trainer that is never fit.
    cfg and model_cfg may be dicts of only the settings given (the CLI's flags): then a resumed run compares the
    model's with its checkpoint and takes every other setting from it, but for those of this session (SESSION).
    """

    def __init__(self, cfg: TrainConfig | dict[str, Any], model_cfg: ModelConfig | dict[str, Any] | None = None,
                 callbacks: Iterable[Callback] = (), tokenizer: Tokenizer | None = None) -> None:
        given = cfg if isinstance(cfg, dict) else None
        cfg = TrainConfig(**given) if given is not None else cfg
        self.cfg, self.callbacks, self._given = cfg, list(callbacks), given
        self.dist = dist_info()
        self.device = pick_device(cfg.device, self.dist)
        self.paths = RunPaths.resolve(cfg.run_dir, cfg.ckpt)
        self._lock = self._claim_run_folder() if self.is_main else None
        try:
            self._build(cfg, model_cfg, tokenizer)
        except BaseException:
            self.close()
            raise

    def _build(self, cfg: TrainConfig, model_cfg: ModelConfig | dict[str, Any] | None,
               tokenizer: Tokenizer | None) -> None:
        """The resumed state, data, tokenizer, model, optimizer and batches."""
        resumed = load_checkpoint(self.paths.latest) if cfg.resume else None
        if resumed is not None:
            self.cfg = cfg = self._resumed_train_config(resumed)
            model_cfg = self._resumed_model_config(resumed, model_cfg)
            tokenizer = Tokenizer.from_dict(resumed["tokenizer"])
        elif isinstance(model_cfg, dict):
            model_cfg = ModelConfig(**model_cfg)
        self._build_data_split(model_cfg or ModelConfig(), resumed)
        train_values = self.stream.values[self.split.train_start:self.split.train_end]
        self.linear = self._scan(train_values, self.split.train_start, resumed)
        self.lagged = self._searched("lagged", find_lagged_sum, LaggedSum.from_dict, "lagged-sum search",
                                     train_values, resumed)
        self.congruential = self._searched("congruential", find_congruential, Congruential.from_dict, "LCG search",
                                           train_values, resumed)
        self.twister = self._searched("twister", lambda v: find_twister(v, self.linear), Twister.from_dict,
                                      "MT19937 search", train_values, resumed)
        self.xorshift = self._searched("xorshift", lambda v: find_xorshift(v, self.linear, self.split.train_start),
                                       xorshift_from_dict, "xorshift-family search", train_values, resumed)
        self.seeded = self._searched("seeded", lambda v: find_seeded(v, self.split.train_start), Seeded.from_dict,
                                     "seed search", train_values, resumed)
        self.tokenizer = tokenizer or fit_tokenizer(train_values, cfg.tokenizer, cfg.num_bins, cfg.max_vocab,
                                                    seed=cfg.seed, linear=self.linear)
        self.model_cfg = replace(model_cfg or ModelConfig(), vocab_size=self.tokenizer.vocab_size,
                                 output=self.tokenizer.output,
                                 linear_inputs=self.linear is not None and bool(self.linear.linear_planes) and (
                                     self.linear.view == (0, 1) or self.tokenizer.output == "tokens"))
        self._build_model()
        self._build_optimizer()
        self._build_batches()
        self.val_x, self.val_y = self._validation_windows()
        self.step, self.best_val_bits, self.bad_evals, self.history = 0, math.inf, 0, []
        self.train_losses: list[float] = []  # losses (nats) of the steps since the last validation
        self.saved_step: int | None = None  # step of this run's latest.pt
        if resumed is not None:
            self._restore(resumed)

    # --- construction ---

    def _claim_run_folder(self) -> RunLock:
        """Before any work: check that the checkpoints can be written, lock the run folder, and remove temporary files
        of saves that were killed."""
        for path in (self.paths.latest, self.paths.ckpt):
            check_writable(path)
        lock = RunLock(self.paths.lock).acquire()
        for path in (self.paths.latest, self.paths.ckpt, self.paths.history):
            for leftover in remove_leftovers(path):
                print(f"removed {leftover}, left by a save that was interrupted", file=sys.stderr)
        return lock

    def close(self) -> None:
        """Release the run folder (fit() does so when it ends)."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _build_data_split(self, model_cfg: ModelConfig, resumed: dict | None) -> None:
        """Open the file and split it into train | gap | validation."""
        self.stream = U16Stream(self.cfg.u16_path, in_memory=self.cfg.in_memory, format=self.cfg.format)
        window = model_cfg.seq_len + model_cfg.heads_ahead
        self.stream.check_window(window)
        self.split = make_split(len(self.stream), window, self.cfg.val_ratio, self.stream.fingerprint)
        if resumed is not None and resumed["split"]["fingerprint"] != self.split.fingerprint:
            raise ConfigError(f"{self.cfg.u16_path} is not the file this run was trained on; "
                              "resume with the original file")

    def _scan(self, train_values, train_start: int, resumed: dict | None) -> LinearScan | None:
        """The GF(2) scan of the training block, which starts at value train_start of the file (the checkpoint's when
        resuming; None with --no-linear)."""
        if resumed is not None:
            return LinearScan.from_dict(resumed["linear"]) if resumed.get("linear") else None
        if not self.cfg.linear:
            return None
        found = scan(train_values, start=train_start)
        if self.is_main:
            print(f"linear scan of the training block: {found.describe()}")
        return found

    def _searched(self, key: str, search, load, what: str, train_values, resumed: dict | None):
        """What `search` finds in the training block (None: nothing), kept in the checkpoint under `key` for evaluate:
        the lagged sum, the LCG, MT19937, the xorshift-family generator, the seeded call; the checkpoint's (read by
        `load`) when
        resuming."""
        if resumed is not None and key in resumed:
            return None if resumed[key] is None else load(resumed[key])
        found = search(train_values)
        if found is not None and self.is_main:
            print(f"{what} of the training block: {found.describe()}")
        return found

    def _build_model(self) -> None:
        """The model on its device, wrapped for DDP under torchrun and compiled on request."""
        torch.manual_seed(self.cfg.seed)
        self.raw_model = SeqModel(self.model_cfg).to(self.device)
        self.raw_model.linear = self.linear if self.model_cfg.linear_inputs else None
        if self.raw_model.linear is not None:
            self.raw_model.out.init_prior(torch.as_tensor(self.tokenizer.bit_signs(self.linear.view),
                                                          dtype=torch.float32),
                                          torch.as_tensor(self.linear.log_odds(), dtype=torch.float32))
        self.ddp = DistributedDataParallel(self.raw_model) if self.dist.enabled else None
        model = self.ddp or self.raw_model
        self.model = torch.compile(model) if self.cfg.compile else model

    def _build_optimizer(self) -> None:
        """AdamW (fused on CUDA) and the gradient scaler that fp16 autocast needs."""
        self.optimizer = torch.optim.AdamW(self.raw_model.param_groups(self.cfg.weight_decay), lr=self.cfg.lr,
                                           betas=(0.9, 0.95), fused=self.device.type == "cuda")
        self.amp_dtype = amp_dtype(self.device, self.cfg.use_amp)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)

    def _build_batches(self) -> None:
        """Training batches (a pure function of seed, rank and batch index) and the schedule's length."""
        cfg = self.cfg
        self.train_data = WindowBatches(
            self.stream.values, self.split.train_start, self.split.train_end,
            seq_len=self.model_cfg.seq_len, heads_ahead=self.model_cfg.heads_ahead, batch_size=cfg.batch,
            tokenizer=self.tokenizer, seed=cfg.seed, mode=cfg.sampling, max_samples=cfg.max_samples,
            rank=self.dist.rank, world_size=self.dist.world_size, noise_p=cfg.noise_p, mask_p=cfg.mask_p,
            linear=self.raw_model.linear,
        )
        self.steps_per_epoch = max(1, self.train_data.batches_per_epoch // cfg.gradient_accumulation)
        self.total_steps = min(cfg.epochs * self.steps_per_epoch, cfg.max_steps or math.inf)

    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    @property
    def tokens_per_step(self) -> int:
        """Input positions in one optimizer step over all ranks (the global batch times seq_len)."""
        return self.cfg.batch * self.cfg.gradient_accumulation * self.dist.world_size * self.model_cfg.seq_len

    def _resumed_train_config(self, state: dict) -> TrainConfig:
        """The settings of a resumed run: the checkpoint's, except this session's and those given (with a note where
        they change the run, which then no longer equals a straight one)."""
        saved = TrainConfig.from_dict(state.get("train_config", {}))
        session = {name: getattr(self.cfg, name) for name in SESSION}
        cfg = replace(saved, **session, **{k: v for k, v in (self._given or {}).items() if k not in SESSION}) \
            if self._given is not None else self.cfg
        changed = [f"--{f.name} {getattr(cfg, f.name)} (was {getattr(saved, f.name)})" for f in flags(TrainConfig)
                   if f.name not in SESSION and getattr(cfg, f.name) != getattr(saved, f.name)]
        if changed and self.is_main:
            print(f"note: resuming with {', '.join(changed)}: from here the run differs from one never interrupted",
                  file=sys.stderr)
        return cfg

    def _resumed_model_config(self, state: dict, given: ModelConfig | dict[str, Any] | None) -> ModelConfig:
        """The checkpoint's model config; ConfigError when a given setting differs from it."""
        saved = ModelConfig.from_dict(state["model_config"])
        if isinstance(given, ModelConfig):
            given = {f.name: getattr(given, f.name) for f in fields(ModelConfig) if f.metadata.get("flag", True)}
        for name, value in (given or {}).items():
            if value != getattr(saved, name):
                raise ConfigError(f"--{name} {value} differs from the checkpoint's {getattr(saved, name)}; "
                                  "drop the flag to resume, or start a new run folder")
        return saved

    def _validation_windows(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The same validation windows at every evaluation, spread over the held-out block, split over ranks."""
        window = self.model_cfg.seq_len + self.model_cfg.heads_ahead
        starts = eval_windows(self.split.val_start, self.split.val_end, self.model_cfg.seq_len,
                              self.model_cfg.heads_ahead, max_windows=self.cfg.eval_windows)
        starts = starts[self.dist.rank::self.dist.world_size]
        tokens = load_windows(self.stream.values, starts, window, self.tokenizer)
        t, h = self.model_cfg.seq_len, self.model_cfg.heads_ahead
        x = model_inputs(tokens[:, :t], self.stream.values, starts, self.raw_model.linear)
        return x, torch.stack([tokens[:, k:k + t] for k in range(1, h + 1)], dim=-1)

    def _autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    # --- validation ---

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Validation loss (bits per value) and top-k accuracy per head on the fixed held-out windows."""
        self.model.eval()
        heads = self.model_cfg.heads_ahead
        totals = torch.zeros(heads, 2 + len(TOPK), device=self.device)  # per head: CE nats, top-k hits, count
        start = score_from(self.model_cfg.seq_len)
        for i in range(0, len(self.val_x), self.cfg.batch):
            x = self.val_x[i:i + self.cfg.batch].to(self.device)
            y = self.val_y[i:i + self.cfg.batch, start:].reshape(-1, heads).to(self.device)
            with self._autocast():
                pred = self.raw_model.predict(x, start)
            hits = pred.top(max(TOPK))[0] == y[..., None]
            totals += torch.stack([-pred.log_prob(y).float().sum(0),
                                   *(hits[..., :k].any(-1).sum(0).float() for k in TOPK),
                                   torch.full((heads,), float(len(y)), device=self.device)], dim=1)
        self.model.train()
        totals = all_reduce_sum(totals).cpu()
        count = totals[:, -1].clamp(min=1)
        out = {"val_loss_bits": (totals[:, 0].sum() / count.sum()).item() * LOG2E}
        for h in range(heads):
            suffix = "" if h == 0 else f"_h{h + 1}"
            if h > 0:
                out[f"val_loss_bits{suffix}"] = (totals[h, 0] / count[h]).item() * LOG2E
            for j, k in enumerate(TOPK):
                out[f"val_top{k}{suffix}"] = (totals[h, 1 + j] / count[h]).item()
        if heads > 1:
            out["val_loss_bits_h1"] = (totals[0, 0] / count[0]).item() * LOG2E
        return out

    # --- the loop ---

    def fit(self) -> pd.DataFrame:
        """Train until the epochs, --max_steps, --time_limit or early stopping end it; return the history.

        The run folder is locked throughout. Ctrl-C (SIGINT) or SIGTERM ends the run after the current step with its
        whole state saved, then raises Stopped (a KeyboardInterrupt); --resume goes on from there as if nothing had
        happened.
        """
        if self.is_main and self._lock is None:  # fit() again, after an earlier one ended
            self._lock = RunLock(self.paths.lock).acquire()
        try:
            with Interrupts() as interrupts:
                interrupted = self._loop(interrupts)
                if interrupted and self.is_main:
                    save_checkpoint(self.paths.latest, self._state(full=True))
                    self.saved_step = self.step
        except KeyboardInterrupt:  # a second signal, or Ctrl-C outside the main thread: in the middle of a step
            if self.is_main:
                print(f"\nstopped at once, without saving, after step {self.step}; {self._last_saved()}")
            raise
        finally:
            self.close()
        if interrupted:
            if self.is_main:
                print(f"\ninterrupted after step {self.step}; state saved to {self.paths.latest}. "
                      "Resume with the same command plus --resume")
            raise Stopped(interrupts.signum)
        return self.history_frame()

    def _last_saved(self) -> str:
        """Where the run can go on from, in words."""
        if self.saved_step is None:
            return "nothing of this run was saved yet"
        return f"the last good state ({self.paths.latest}, step {self.saved_step}) is untouched"

    def _loop(self, interrupts: Interrupts) -> bool:
        """The training loop; True when a signal stopped it before its end."""
        cfg, accum = self.cfg, self.cfg.gradient_accumulation
        # The data order is a function of the batch index, so a resumed run continues with the batch it would have seen.
        batches = batch_iterator(self.train_data, start=self.step * accum, workers=cfg.workers,
                                 pin_memory=self.device.type == "cuda")
        bar = tqdm(total=self.total_steps, initial=self.step, desc="train", unit="step",
                   disable=not (self.is_main and cfg.progress), dynamic_ncols=True)
        started = window_start = time.perf_counter()
        steps_in_window = 0
        if self.is_main:
            print(f"global batch {cfg.batch} x {accum} accumulation x {self.dist.world_size} ranks "
                  f"= {cfg.batch * accum * self.dist.world_size} windows of {self.model_cfg.seq_len}; "
                  f"{self.total_steps} steps on {self.device}"
                  + (f" with {self.amp_dtype} autocast" if self.amp_dtype else ""))
        while self.step < self.total_steps:
            # 1. the learning rate of this step: linear warmup, then cosine decay
            lr = lr_at(self.step, self.total_steps, cfg.lr, cfg.warmup_ratio, cfg.min_lr_ratio)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            # 2. forward, backward and the optimizer step over `accum` micro-batches
            loss = self._train_step(batches, accum)
            self.step += 1
            steps_in_window += 1
            self.train_losses.append(loss)
            bar.update(1)
            bar.set_postfix(loss_bits=f"{loss * LOG2E:.4f}", lr=f"{lr:.2e}")
            for cb in self.callbacks:
                cb.on_step(self, {"step": self.step, "lr": lr, "train_loss_bits": loss * LOG2E})
            # 3. every eval_every steps, at the end and when time is up: validate, log, checkpoint, maybe stop early
            out_of_time, interrupted = self._agree(
                cfg.time_limit is not None and time.perf_counter() - started > cfg.time_limit, interrupts.requested)
            if self.step % cfg.eval_every == 0 or self.step == self.total_steps or out_of_time:
                elapsed = time.perf_counter() - window_start
                # the next window of losses starts empty, and so latest.pt saves it
                train_loss, self.train_losses = sum(self.train_losses) / len(self.train_losses), []
                stop = self._evaluate(lr, train_loss, steps_in_window * self.tokens_per_step / elapsed,
                                      time.perf_counter() - started)
                window_start, steps_in_window = time.perf_counter(), 0
                if stop or out_of_time:
                    break
            # 4. Ctrl-C: stop here, between two steps, where the whole state can be saved (fit saves it)
            if interrupted and self.step < self.total_steps:
                bar.close()
                return True
        bar.close()
        return False

    def _train_step(self, batches: Iterator, accum: int) -> float:
        """One optimizer step over `accum` micro-batches; returns their mean loss in nats."""
        total = torch.zeros((), device=self.device)
        for micro in range(accum):
            x, y = next(batches)
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            # DDP averages gradients on the last micro-batch only
            sync = self.ddp.no_sync() if self.ddp is not None and micro < accum - 1 else nullcontext()
            with sync:
                with self._autocast():
                    _, loss = self.model(x, y)
                self.scaler.scale(loss / accum).backward()
            total += loss.detach()
        mean = all_reduce_sum(total / accum).item() / self.dist.world_size
        if not math.isfinite(mean):
            self.optimizer.zero_grad(set_to_none=True)
            raise TrainingError(f"loss became {mean} at step {self.step + 1}; {self._after_nan()}")
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.raw_model.parameters(), self.cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        return mean

    def _after_nan(self) -> str:
        """What is left after a NaN, and how to go on."""
        fix = "lower --lr, add --warmup_ratio or drop --use_amp"
        if self.saved_step is None:
            return f"nothing of this run was saved yet: {fix}, and start again"
        return f"{self._last_saved()}: {fix}, then --resume"

    def _agree(self, *flags: bool) -> list[bool]:
        """Each flag, true on every rank when any rank says so (so that no rank waits for another)."""
        return [bool(v > 0) for v in all_reduce_sum(torch.tensor([float(f) for f in flags], device=self.device))]

    def _evaluate(self, lr: float, train_loss: float, tokens_per_s: float, elapsed: float) -> bool:
        """Validate, log a history row, write checkpoints; True when early stopping says to stop."""
        row = {"step": self.step, "epoch": self.step / self.steps_per_epoch, "lr": lr,
               "train_loss_bits": train_loss * LOG2E, **self.validate(),
               "tokens_per_s": tokens_per_s, "elapsed_s": elapsed}
        if not math.isfinite(row["val_loss_bits"]):
            raise TrainingError(f"validation loss became {row['val_loss_bits']} at step {self.step}; "
                                f"{self._after_nan()}")
        self.history.append(row)
        improved = row["val_loss_bits"] < self.best_val_bits
        if improved:
            self.best_val_bits, self.bad_evals = row["val_loss_bits"], 0
        else:
            self.bad_evals += 1
        if self.is_main:
            if improved:
                save_checkpoint(self.paths.ckpt, self._state(full=False))
            save_checkpoint(self.paths.latest, self._state(full=True))
            self.saved_step = self.step
            with atomic_write(self.paths.history) as f:
                f.write(self.history_frame().to_csv(index=False).encode())
            write_summary(self.paths)
            for cb in self.callbacks:
                cb.on_eval(self, self.history_frame())
        return self.cfg.patience is not None and self.bad_evals >= self.cfg.patience

    def history_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.history)

    # --- checkpoints ---

    def _state(self, full: bool) -> dict[str, Any]:
        """Everything needed to use the model (and, when full, to resume training exactly)."""
        state = {
            "model_config": self.model_cfg.to_dict(), "train_config": self.cfg.to_dict(),
            "tokenizer": self.tokenizer.to_dict(), "split": self.split.to_dict(),
            "linear": None if self.linear is None else self.linear.to_dict(),
            "lagged": None if self.lagged is None else self.lagged.to_dict(),
            "congruential": None if self.congruential is None else self.congruential.to_dict(),
            "twister": None if self.twister is None else self.twister.to_dict(),
            "xorshift": None if self.xorshift is None else self.xorshift.to_dict(),
            "seeded": None if self.seeded is None else self.seeded.to_dict(),
            "model": self.raw_model.state_dict(), "step": self.step, "best_val_bits": self.best_val_bits,
            "bad_evals": self.bad_evals, "history": list(self.history),
        }
        if full:  # the data order and augmentation are functions of the step (WindowBatches), so need no state
            state |= {"optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict(),
                      "rng_cpu": torch.get_rng_state(), "train_losses": list(self.train_losses)}
            if self.device.type == "cuda":
                state["rng_cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def _restore(self, state: dict[str, Any]) -> None:
        self.raw_model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.step, self.best_val_bits = state["step"], state["best_val_bits"]
        self.bad_evals, self.history = state["bad_evals"], list(state["history"])
        self.train_losses, self.saved_step = list(state.get("train_losses", [])), self.step
        torch.set_rng_state(state["rng_cpu"])
        if "rng_cuda" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng_cuda"], self.device)
        if self.is_main:
            print(f"resumed {self.paths.latest} at step {self.step} of {self.total_steps}")


def train(cfg: TrainConfig | dict[str, Any], model_cfg: ModelConfig | dict[str, Any] | None = None,
          **kwargs: Any) -> pd.DataFrame:
    """Train one run and return its history (under torchrun: inside the job's process group); see Trainer for the
    dict forms of the configs."""
    info = dist_info()
    device = cfg.get("device", "auto") if isinstance(cfg, dict) else cfg.device
    with process_group(info, pick_device(device, info)):
        return Trainer(cfg, model_cfg, **kwargs).fit()
