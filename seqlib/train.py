"""The trainer: AdamW, warmup + cosine schedule, AMP, accumulation, validation, early stopping, exact resume."""
from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Iterable

import pandas as pd
import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from .checkpoint import RunPaths, load_checkpoint, save_checkpoint
from .data import U16Stream, WindowBatches, batch_iterator, eval_windows, load_windows, make_split, score_from
from .distributed import all_reduce_sum, destroy_process_group, dist_info, init_process_group, pick_device
from .errors import ConfigError, SeqlibError
from .metrics import ByteFactors
from .model import ModelConfig, SeqModel
from .runs import write_summary
from .tokenize import Tokenizer, fit_tokenizer

LOG2E = 1.0 / math.log(2.0)
TOPK = (1, 3, 5)


class TrainingError(SeqlibError):
    """Training cannot go on (a NaN or infinite loss); the last good checkpoint is left as it was."""


@dataclass
class TrainConfig:
    """Everything about a run that is not the model's shape; the names are the CLI's flags."""

    u16_path: str = ""
    run_dir: str | None = None
    ckpt: str | None = None
    tokenizer: str = "auto"
    num_bins: int = 256
    max_vocab: int = 1024
    val_ratio: float = 0.1
    epochs: int = 1
    max_steps: int | None = None
    time_limit: float | None = None
    batch: int = 128
    gradient_accumulation: int = 1
    lr: float = 3e-4
    weight_decay: float = 0.1
    warmup_ratio: float = 0.05
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    eval_every: int = 500
    eval_windows: int = 128
    patience: int | None = None
    sampling: str = "epoch"
    max_samples: int | None = None
    noise_p: float = 0.0
    mask_p: float = 0.0
    use_amp: bool = False
    compile: bool = False
    device: str = "auto"
    seed: int = 0
    workers: int = 0
    in_memory: bool = False
    resume: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        positive = ["epochs", "batch", "gradient_accumulation", "eval_every", "eval_windows", "num_bins", "max_vocab"]
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name} must be at least 1, got {getattr(self, name)}")
        for name in ["max_steps", "max_samples", "patience"]:
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"--{name} must be at least 1 when given, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ConfigError(f"--lr must be positive, got {self.lr}")
        for name in ["warmup_ratio", "min_lr_ratio", "noise_p", "mask_p"]:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"--{name} must lie in [0, 1], got {getattr(self, name)}")
        if self.noise_p + self.mask_p >= 1.0:
            raise ConfigError("--noise_p + --mask_p must stay below 1 so that some inputs are real")
        if not 0.0 < self.val_ratio < 1.0:
            raise ConfigError(f"--val_ratio must lie strictly between 0 and 1, got {self.val_ratio}")
        if self.time_limit is not None and self.time_limit <= 0:
            raise ConfigError(f"--time_limit must be a positive number of seconds, got {self.time_limit}")
        if self.sampling not in ("epoch", "random"):
            raise ConfigError(f"--sampling must be 'epoch' or 'random', got {self.sampling!r}")
        if self.workers < 0:
            raise ConfigError(f"--workers must be 0 or more, got {self.workers}")

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


def score_batch(logits: torch.Tensor, y: torch.Tensor, start: int) -> torch.Tensor:
    """Per head: [CE sum in nats, top-1 hits, top-3 hits, top-5 hits, count] over positions >= start."""
    logits, y = logits[:, start:].float(), y[:, start:]
    heads, vocab = logits.shape[2], logits.shape[3]
    logp = torch.log_softmax(logits, dim=-1)
    ce = -logp.gather(-1, y.unsqueeze(-1)).squeeze(-1)
    top = logp.topk(min(max(TOPK), vocab), dim=-1).indices
    hits = top == y.unsqueeze(-1)
    cols = [ce.sum(dim=(0, 1))] + [hits[..., :k].any(-1).sum(dim=(0, 1)).float() for k in TOPK]
    cols.append(torch.full((heads,), float(y.shape[0] * y.shape[1]), device=logits.device))
    return torch.stack(cols, dim=1)


def score_factors(factors: ByteFactors, y: torch.Tensor) -> torch.Tensor:
    """score_batch for 16-bit values predicted as bytes, y (N, H); top-k among the values of the best high bytes."""
    ce = -factors.log_prob(y)
    hits = factors.top_values(max(TOPK))[0] == y.unsqueeze(-1)
    cols = [ce.sum(0)] + [hits[..., :k].any(-1).sum(0).float() for k in TOPK]
    cols.append(torch.full((y.shape[1],), float(y.shape[0]), device=ce.device))
    return torch.stack(cols, dim=1)


class Trainer:
    """Trains a SeqModel on one .u16 file; single process or one rank of a torchrun job."""

    def __init__(
        self,
        cfg: TrainConfig,
        model_cfg: ModelConfig | None = None,
        callbacks: Iterable[Any] = (),
        tokenizer: Tokenizer | None = None,
    ) -> None:
        self.cfg, self.callbacks = cfg, list(callbacks)
        self.dist = dist_info()
        self.device = pick_device(cfg.device, self.dist)
        init_process_group(self.dist, self.device)
        self.paths = RunPaths.resolve(cfg.run_dir, cfg.ckpt)
        resumed = load_checkpoint(self.paths.latest) if cfg.resume else None
        if resumed is not None:
            model_cfg = self._resumed_model_config(resumed, model_cfg)
            tokenizer = Tokenizer.from_dict(resumed["tokenizer"])
        model_cfg = model_cfg or ModelConfig()

        self.stream = U16Stream(cfg.u16_path, in_memory=cfg.in_memory)
        window = model_cfg.seq_len + model_cfg.heads_ahead
        self.stream.check_window(window)
        self.split = make_split(len(self.stream), window, cfg.val_ratio, self.stream.fingerprint)
        if resumed is not None and resumed["split"]["fingerprint"] != self.split.fingerprint:
            raise ConfigError(f"{cfg.u16_path} is not the file this run was trained on; resume with the original file")
        train_values = self.stream.values[self.split.train_start : self.split.train_end]
        self.tokenizer = tokenizer or fit_tokenizer(train_values, cfg.tokenizer, cfg.num_bins, cfg.max_vocab, seed=cfg.seed)
        self.model_cfg = replace(model_cfg, vocab_size=self.tokenizer.vocab_size, factorized=self.tokenizer.factorized,
                                 bitwise=self.tokenizer.bitwise)

        torch.manual_seed(cfg.seed)
        self.raw_model = SeqModel(self.model_cfg).to(self.device)
        self.optimizer = torch.optim.AdamW(
            self.raw_model.param_groups(cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.95),
            fused=self.device.type == "cuda",
        )
        self.amp_dtype = amp_dtype(self.device, cfg.use_amp)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        self.ddp = DistributedDataParallel(self.raw_model) if self.dist.enabled else None
        model = self.ddp or self.raw_model
        self.model = torch.compile(model) if cfg.compile else model

        self.train_data = WindowBatches(
            self.stream.values, self.split.train_start, self.split.train_end,
            seq_len=self.model_cfg.seq_len, heads_ahead=self.model_cfg.heads_ahead, batch_size=cfg.batch,
            tokenizer=self.tokenizer, seed=cfg.seed, mode=cfg.sampling, max_samples=cfg.max_samples,
            rank=self.dist.rank, world_size=self.dist.world_size, noise_p=cfg.noise_p, mask_p=cfg.mask_p,
        )
        self.steps_per_epoch = max(1, self.train_data.batches_per_epoch // cfg.gradient_accumulation)
        self.total_steps = min(cfg.epochs * self.steps_per_epoch, cfg.max_steps or math.inf)
        self.val_x, self.val_y = self._validation_windows()

        self.step, self.best_val_bits, self.bad_evals, self.history = 0, math.inf, 0, []
        if resumed is not None:
            self._restore(resumed)

    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    @property
    def tokens_per_step(self) -> int:
        """Input positions in one optimizer step over all ranks (the global batch times seq_len)."""
        return self.cfg.batch * self.cfg.gradient_accumulation * self.dist.world_size * self.model_cfg.seq_len

    def _resumed_model_config(self, state: dict, given: ModelConfig | None) -> ModelConfig:
        saved = ModelConfig.from_dict(state["model_config"])
        if given is not None:
            for f in fields(ModelConfig):
                if f.name not in ("vocab_size", "factorized", "bitwise") and getattr(given, f.name) != getattr(saved, f.name):
                    raise ConfigError(
                        f"--{f.name} {getattr(given, f.name)} differs from the checkpoint's {getattr(saved, f.name)}; "
                        "drop the flag to resume, or start a new run folder"
                    )
        return saved

    def _validation_windows(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The same validation windows at every evaluation, spread over the held-out block, split over ranks."""
        window = self.model_cfg.seq_len + self.model_cfg.heads_ahead
        starts = eval_windows(self.split.val_start, self.split.val_end, self.model_cfg.seq_len,
                              self.model_cfg.heads_ahead, max_windows=self.cfg.eval_windows)
        starts = starts[self.dist.rank :: self.dist.world_size]
        tokens = load_windows(self.stream.values, starts, window, self.tokenizer)
        return tokens[:, : self.model_cfg.seq_len], self._targets(tokens)

    def _targets(self, tokens: torch.Tensor) -> torch.Tensor:
        t, h = self.model_cfg.seq_len, self.model_cfg.heads_ahead
        return torch.stack([tokens[:, k : k + t] for k in range(1, h + 1)], dim=-1)

    def _autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Validation loss (bits per value) and top-k accuracy per head on the fixed held-out windows."""
        self.model.eval()
        totals = torch.zeros(self.model_cfg.heads_ahead, 2 + len(TOPK), device=self.device)
        start, heads = score_from(self.model_cfg.seq_len), self.model_cfg.heads_ahead
        for i in range(0, len(self.val_x), self.cfg.batch):
            x = self.val_x[i : i + self.cfg.batch].to(self.device)
            y = self.val_y[i : i + self.cfg.batch].to(self.device)
            with self._autocast():
                out = self.raw_model.factors(x, start) if self.model_cfg.factorized else self.model(x)
            if isinstance(out, ByteFactors):
                totals += score_factors(out, y[:, start:].reshape(-1, heads))
            else:
                totals += score_batch(out, y, start)
        self.model.train()
        totals = all_reduce_sum(totals).cpu()
        count = totals[:, -1].clamp(min=1)
        out = {"val_loss_bits": (totals[:, 0].sum() / count.sum()).item() * LOG2E}
        for h in range(self.model_cfg.heads_ahead):
            suffix = "" if h == 0 else f"_h{h + 1}"
            if h > 0:
                out[f"val_loss_bits{suffix}"] = (totals[h, 0] / count[h]).item() * LOG2E
            for j, k in enumerate(TOPK):
                out[f"val_top{k}{suffix}"] = (totals[h, 1 + j] / count[h]).item()
        if self.model_cfg.heads_ahead > 1:
            out["val_loss_bits_h1"] = (totals[0, 0] / count[0]).item() * LOG2E
        return out

    def fit(self) -> pd.DataFrame:
        """Train until the epochs, --max_steps, --time_limit or early stopping end it; return the history."""
        try:
            self._loop()
        except KeyboardInterrupt:
            if self.is_main:
                save_checkpoint(self.paths.latest, self._state(full=True))
                print(f"\ninterrupted at step {self.step}; state saved to {self.paths.latest}. "
                      "Resume with the same command plus --resume")
            raise
        finally:
            destroy_process_group()
        return self.history_frame()

    def _loop(self) -> None:
        cfg, accum = self.cfg, self.cfg.gradient_accumulation
        batches = batch_iterator(self.train_data, start=self.step * accum, workers=cfg.workers,
                                 pin_memory=self.device.type == "cuda")
        bar = tqdm(total=self.total_steps, initial=self.step, desc="train", unit="step",
                   disable=not (self.is_main and cfg.progress), dynamic_ncols=True)
        started = window_start = time.perf_counter()
        steps_in_window, losses = 0, []
        if self.is_main:
            print(f"global batch {cfg.batch} x {accum} accumulation x {self.dist.world_size} ranks "
                  f"= {cfg.batch * accum * self.dist.world_size} windows of {self.model_cfg.seq_len}; "
                  f"{self.total_steps} steps on {self.device}"
                  + (f" with {self.amp_dtype} autocast" if self.amp_dtype else ""))
        while self.step < self.total_steps:
            lr = lr_at(self.step, self.total_steps, cfg.lr, cfg.warmup_ratio, cfg.min_lr_ratio)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            loss = self._train_step(batches, accum)
            self.step += 1
            steps_in_window += 1
            losses.append(loss)
            bar.update(1)
            bar.set_postfix(loss_bits=f"{loss * LOG2E:.4f}", lr=f"{lr:.2e}")
            for cb in self.callbacks:
                if hasattr(cb, "on_step"):
                    cb.on_step(self, {"step": self.step, "lr": lr, "train_loss_bits": loss * LOG2E})
            out_of_time = self._agree(cfg.time_limit is not None and time.perf_counter() - started > cfg.time_limit)
            if self.step % cfg.eval_every == 0 or self.step == self.total_steps or out_of_time:
                elapsed = time.perf_counter() - window_start
                stop = self._evaluate(lr, sum(losses) / len(losses), steps_in_window * self.tokens_per_step / elapsed,
                                      time.perf_counter() - started)
                window_start, steps_in_window, losses = time.perf_counter(), 0, []
                if stop or out_of_time:
                    break
        bar.close()

    def _train_step(self, batches, accum: int) -> float:
        """One optimizer step over `accum` micro-batches; returns their mean loss in nats."""
        total = torch.zeros((), device=self.device)
        for micro in range(accum):
            x, y = next(batches)
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            sync = self.ddp.no_sync() if self.ddp is not None and micro < accum - 1 else nullcontext()
            with sync:
                with self._autocast():
                    out = self.model(x, y) if self.model_cfg.factorized else self.model(x)
                    loss = self.raw_model.loss(out, y)
                self.scaler.scale(loss / accum).backward()
            total += loss.detach()
        mean = all_reduce_sum(total / accum).item() / self.dist.world_size
        if not math.isfinite(mean):
            self.optimizer.zero_grad(set_to_none=True)
            raise TrainingError(
                f"loss became {mean} at step {self.step + 1}; the last good checkpoint ({self.paths.latest}) is "
                "untouched: lower --lr, add --warmup_ratio or drop --use_amp, then --resume"
            )
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.raw_model.parameters(), self.cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        return mean

    def _agree(self, flag: bool) -> bool:
        """True on every rank when any rank says so (so that no rank waits for another)."""
        return bool(all_reduce_sum(torch.tensor([float(flag)], device=self.device)).item() > 0)

    def _evaluate(self, lr: float, train_loss: float, tokens_per_s: float, elapsed: float) -> bool:
        """Validate, log a history row, write checkpoints; True when early stopping says to stop."""
        row = {"step": self.step, "epoch": self.step / self.steps_per_epoch, "lr": lr,
               "train_loss_bits": train_loss * LOG2E, **self.validate(),
               "tokens_per_s": tokens_per_s, "elapsed_s": elapsed}
        if not math.isfinite(row["val_loss_bits"]):
            raise TrainingError(
                f"validation loss became {row['val_loss_bits']} at step {self.step}; the last good checkpoint "
                f"({self.paths.latest}) is untouched: lower --lr or drop --use_amp, then --resume"
            )
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
            self.history_frame().to_csv(self.paths.history, index=False)
            write_summary(self.paths)
            for cb in self.callbacks:
                if hasattr(cb, "on_eval"):
                    cb.on_eval(self, self.history_frame())
        return self.cfg.patience is not None and self.bad_evals >= self.cfg.patience

    def history_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.history)

    def _state(self, full: bool) -> dict[str, Any]:
        """Everything needed to use the model (and, when full, to resume training exactly)."""
        state = {
            "model_config": self.model_cfg.to_dict(), "train_config": self.cfg.to_dict(),
            "tokenizer": self.tokenizer.to_dict(), "split": self.split.to_dict(),
            "model": self.raw_model.state_dict(), "step": self.step, "best_val_bits": self.best_val_bits,
            "bad_evals": self.bad_evals, "history": list(self.history),
        }
        if full:
            state |= {"optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict(),
                      "rng_cpu": torch.get_rng_state()}
            if self.device.type == "cuda":
                state["rng_cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def _restore(self, state: dict[str, Any]) -> None:
        self.raw_model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.step, self.best_val_bits = state["step"], state["best_val_bits"]
        self.bad_evals, self.history = state["bad_evals"], list(state["history"])
        torch.set_rng_state(state["rng_cpu"])
        if "rng_cuda" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng_cuda"], self.device)
        if self.is_main:
            print(f"resumed {self.paths.latest} at step {self.step} of {self.total_steps}")


def train(cfg: TrainConfig, model_cfg: ModelConfig | None = None, **kwargs: Any) -> pd.DataFrame:
    """Train one run and return its history."""
    return Trainer(cfg, model_cfg, **kwargs).fit()
