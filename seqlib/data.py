"""Raw little-endian uint16 streams (other formats via formats.as_u16): validation, fingerprint, train/val split and
vectorised window batches."""
import contextlib
import dataclasses
import hashlib
import mmap
import os
import signal
import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .errors import ConfigError, DataError
from .formats import as_u16

SAMPLING = ("epoch", "random")  # epoch: each window once per epoch; random: windows drawn with replacement
CHUNK_BYTES = 1 << 16  # fingerprint: up to N_CHUNKS chunks of 64 KiB at fixed offsets
N_CHUNKS = 64


def open_u16(path: str | os.PathLike) -> np.memmap:
    """Memory-map a .u16 file read-only, refusing paths that cannot be a stream of uint16 values."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file; check the path, or write a stream with `python -m seqlib make-stream`")
    if p.is_dir():
        raise DataError(f"{p} is a directory; pass the path of a .u16 file inside it")
    size = p.stat().st_size
    if size == 0:
        raise DataError(f"{p} is an empty file (0 bytes); pass a .u16 file that holds at least one window of values")
    if size % 2:
        raise DataError(f"{p} has {size} bytes, an odd count; a .u16 file must be raw little-endian uint16 values "
                        f"with an even size (check that it is not truncated, or pass its format with --format)")
    return np.memmap(p, dtype="<u2", mode="r")


GATHER_GROUP = 16  # windows read per sparse_reads block: bounds the pages mapped at once (2 MB folios on new kernels)


def _mmap_of(values: np.ndarray) -> mmap.mmap | None:
    """The mmap under a memmap or a view of one; None for arrays in memory."""
    base = values
    while isinstance(base, np.ndarray):
        base = base.base
    return base if isinstance(base, mmap.mmap) and hasattr(mmap, "MADV_RANDOM") else None


@contextlib.contextmanager
def sparse_reads(values: np.ndarray) -> Iterator[None]:
    """Scattered reads from a memmap that leave the process's memory small, whatever the file's size.

    Inside, page faults read only the touched pages instead of megabytes of read-ahead; on exit the pages are
    unmapped from this process (they stay in the kernel's page cache, so a second read is still fast). Without the
    unmapping, every page a batch once touched would stay in RSS until most of a 2 GB file were counted in it.
    """
    base = _mmap_of(values)
    if base is None:
        yield
        return
    base.madvise(mmap.MADV_RANDOM)
    try:
        yield
    finally:
        base.madvise(mmap.MADV_DONTNEED)
        base.madvise(mmap.MADV_NORMAL)


def gather(values: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """Rows values[s : s + length] for each start, one vectorised index per group of GATHER_GROUP rows."""
    idx = np.asarray(starts, dtype=np.int64)[:, None] + np.arange(length)
    if _mmap_of(values) is None:
        return np.asarray(values[idx])
    out = np.empty(idx.shape, dtype=values.dtype)
    for i in range(0, len(idx), GATHER_GROUP):
        with sparse_reads(values):
            out[i : i + GATHER_GROUP] = values[idx[i : i + GATHER_GROUP]]
    return out


def _digest(buf: np.ndarray) -> str:
    """Size + blake2b of up to N_CHUNKS chunks of a byte buffer, at offsets that depend only on its size."""
    size = buf.size
    h = hashlib.blake2b(str(size).encode(), digest_size=16)
    for off in np.unique(np.linspace(0, max(size - CHUNK_BYTES, 0), N_CHUNKS).astype(np.int64)):
        with sparse_reads(buf):
            h.update(buf[off:off + CHUNK_BYTES])
    return f"{size}:{h.hexdigest()}"


def fingerprint(path: str | os.PathLike) -> str:
    """Cheap identity of a .u16 file: its size and a hash of 64 sampled chunks (reads at most 4 MiB)."""
    return _digest(open_u16(path).view(np.uint8))


@dataclasses.dataclass
class Split:
    """Contiguous train block, a gap of one window, then the validation block."""
    n_values: int
    train_start: int
    train_end: int
    val_start: int
    val_end: int
    gap: int
    fingerprint: str = ""

    def to_dict(self) -> dict:
        """Plain dict for checkpoints and JSON."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Split":
        """Inverse of to_dict."""
        return cls(**d)


def make_split(n_values: int, window: int, val_ratio: float = 0.1, fingerprint: str = "") -> Split:
    """Train = [0, train_end), validation = [train_end + window, n_values) holding about val_ratio of the values."""
    if not 0 < val_ratio < 1:
        raise ConfigError(f"val_ratio must be between 0 and 1, got {val_ratio}; use e.g. --val_ratio 0.1")
    val_start = n_values - int(round(n_values * val_ratio))
    train_end = val_start - window
    if train_end < window or n_values - val_start < window:
        raise DataError(f"split of {n_values} values gives train {max(train_end, 0)} and validation "
                        f"{n_values - val_start} values (gap {window}), each needs at least one window of {window}; "
                        f"use a longer file, a smaller --seq_len or another --val_ratio")
    return Split(n_values, 0, train_end, val_start, n_values, window, fingerprint)


class U16Stream:
    """A stream file opened once: values (memmap, or ndarray when in_memory) and its fingerprint.

    A file in another of formats.FORMATS is read from its .u16 conversion (formats.as_u16), made once.
    """

    def __init__(self, path: str | os.PathLike, in_memory: bool = False, format: str = "u16le"):
        self.path = str(path)
        self.values = open_u16(as_u16(path, format))
        self.fingerprint = _digest(self.values.view(np.uint8))
        if in_memory:
            self.values = np.array(self.values)

    @classmethod
    def from_array(cls, values: np.ndarray) -> "U16Stream":
        """A stream over an in-memory array (for tests and generated data)."""
        values = np.asarray(values)
        if values.size == 0:
            raise DataError("the array is empty; pass at least one window of values")
        if values.dtype != np.dtype("<u2") and (values.min() < 0 or values.max() > 65535):
            raise DataError(f"values span {values.min()}..{values.max()}, outside uint16; "
                            f"clip or rescale them to 0..65535")
        stream = cls.__new__(cls)
        stream.path = "<array>"
        stream.values = np.ascontiguousarray(values, dtype="<u2").ravel()
        stream.fingerprint = _digest(stream.values.view(np.uint8))
        return stream

    def __len__(self) -> int:
        return len(self.values)

    def check_window(self, window: int) -> None:
        """DataError if the stream is shorter than one window."""
        n = len(self)
        if n < window:
            raise DataError(f"{self.path}: file has {n} values, fewer than one window of {window}; "
                            f"use a longer file or --seq_len < {n}")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


class WindowBatches(Dataset):
    """Batch i of windows from values[start:end], a pure function of (seed, rank, i)."""

    def __init__(self, values: np.ndarray, start: int, end: int, *, seq_len: int, heads_ahead: int, batch_size: int,
                 tokenizer, seed: int = 0, mode: str = "epoch", max_samples: int | None = None, rank: int = 0,
                 world_size: int = 1, noise_p: float = 0.0, mask_p: float = 0.0, linear=None):
        _require(mode in SAMPLING, f"mode must be one of {', '.join(SAMPLING)}, got {mode!r}")
        _require(min(seq_len, heads_ahead, batch_size) >= 1,
                 f"seq_len, heads_ahead and batch_size must be >= 1, got {seq_len}, {heads_ahead}, {batch_size}")
        _require(0 <= rank < world_size, f"rank {rank} is outside 0..world_size-1 = 0..{world_size - 1}")
        _require(max_samples is None or max_samples >= 1, f"max_samples must be >= 1 or None, got {max_samples}")
        _require(noise_p >= 0 and mask_p >= 0 and noise_p + mask_p < 1,
                 f"noise_p={noise_p} and mask_p={mask_p} must be >= 0 with a sum below 1; use e.g. --noise_p 0.05")
        self.window = seq_len + heads_ahead
        if end - start < self.window:
            raise DataError(f"block [{start}, {end}) has {end - start} values, fewer than one window of "
                            f"{self.window}; use a longer file or a smaller --seq_len")
        self.values, self.start, self.end = values, start, end
        self.seq_len, self.heads_ahead, self.batch_size, self.tokenizer = seq_len, heads_ahead, batch_size, tokenizer
        self.seed, self.mode, self.rank, self.world_size = seed, mode, rank, world_size
        self.noise_p, self.mask_p, self.linear = noise_p, mask_p, linear
        # epoch windows: stride seq_len from an offset <= max_offset, so every epoch has the same count
        slack = end - start - self.window
        self.max_offset = min(seq_len - 1, slack)
        self.n_windows = (slack - self.max_offset) // seq_len + 1
        self.windows_per_epoch = min(self.n_windows, max_samples or self.n_windows)
        self.batches_per_epoch = self.windows_per_epoch // (batch_size * world_size)
        if mode == "random":
            self.batches_per_epoch = max(self.batches_per_epoch, 1)
        elif self.batches_per_epoch == 0:
            raise DataError(f"an epoch has {self.windows_per_epoch} windows, fewer than batch_size x world_size = "
                            f"{batch_size * world_size}; lower --batch_size or use a longer file")
        self._epoch, self._epoch_offset, self._epoch_order = -1, 0, np.empty(0, np.int32)

    def epoch_of(self, i: int) -> int:
        """The epoch that batch i belongs to."""
        return i // self.batches_per_epoch

    def _epoch_starts(self, epoch: int, first: int, count: int) -> np.ndarray:
        """Window starts first..first+count-1 of an epoch's visiting order (the same on every rank).

        The order is cached for the current epoch as int32 window numbers: 16 MB for the 4M windows of a 2 GB file.
        """
        if epoch != self._epoch:
            rng = np.random.default_rng([self.seed, epoch])
            self._epoch_offset = int(rng.integers(0, self.max_offset + 1))
            order = np.arange(self.n_windows, dtype=np.int32 if self.n_windows < 2**31 else np.int64)
            rng.shuffle(order)
            self._epoch, self._epoch_order = epoch, order[:self.windows_per_epoch]
        window_numbers = self._epoch_order[first:first + count].astype(np.int64)
        return self.start + self._epoch_offset + self.seq_len * window_numbers

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.rank, i])
        B = self.batch_size
        if self.mode == "random":
            starts = self.start + rng.integers(0, self.end - self.start - self.window + 1, B)
        else:
            g = (i % self.batches_per_epoch) * self.world_size + self.rank  # this rank's share of the global batches
            starts = self._epoch_starts(self.epoch_of(i), g * B, B)
        tokens = self.tokenizer.encode(gather(self.values, starts, self.window))
        x = tokens[:, :self.seq_len].copy()
        y = np.lib.stride_tricks.sliding_window_view(tokens[:, 1:], self.heads_ahead, axis=1)  # (B, seq_len, H)
        if self.noise_p or self.mask_p:
            u = rng.random(x.shape)
            noise = u < self.noise_p
            x[noise] = rng.integers(0, self.tokenizer.n_values, int(noise.sum()))
            x[(u >= self.noise_p) & (u < self.noise_p + self.mask_p)] = self.tokenizer.mask_token
        x = model_inputs(torch.from_numpy(x), self.values, starts, self.linear)
        return x, torch.from_numpy(np.ascontiguousarray(y))

    def __getstate__(self) -> dict:
        """Pickle a whole-file memmap by reference, so spawned workers do not copy the file."""
        state = self.__dict__.copy()
        if isinstance(self.values, np.memmap) and isinstance(self.values.base, mmap.mmap):
            state["values"] = (self.values.filename, self.values.offset, self.values.shape)
        return state

    def __setstate__(self, state: dict) -> None:
        if isinstance(state["values"], tuple):
            filename, offset, shape = state["values"]
            state["values"] = np.memmap(filename, dtype="<u2", mode="r", offset=offset, shape=shape)
        self.__dict__.update(state)


def _ignore_sigint(worker_id: int) -> None:
    """Ctrl-C reaches the workers too (the terminal signals the whole process group); the trainer handles it alone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def batch_iterator(dataset: Dataset, start: int = 0, workers: int = 0,
                   pin_memory: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches start, start+1, ... forever; workers > 0 prefetch them in background processes."""
    pin = pin_memory and torch.cuda.is_available()
    if workers > 0:
        yield from DataLoader(dataset, batch_size=None, sampler=range(start, sys.maxsize), num_workers=workers,
                              pin_memory=pin, persistent_workers=True, worker_init_fn=_ignore_sigint)
    else:
        for i in range(start, sys.maxsize):
            x, y = dataset[i]
            yield (x.pin_memory(), y.pin_memory()) if pin else (x, y)


def score_from(seq_len: int) -> int:
    """First scored position of an evaluation window: each prediction has at least seq_len // 2 values of context."""
    return seq_len // 2


def eval_windows(start: int, end: int, seq_len: int, heads_ahead: int, max_windows: int | None = None) -> np.ndarray:
    """Window starts in [start, end) whose scored positions (t >= score_from) tile the block without overlap."""
    window = seq_len + heads_ahead
    if end - start < window:
        raise DataError(f"block [{start}, {end}) has {end - start} values, fewer than one window of {window}; "
                        f"use a longer file or a smaller --seq_len")
    starts = np.arange(start, end - window + 1, seq_len - score_from(seq_len), dtype=np.int64)
    if max_windows is not None and max_windows < len(starts):
        _require(max_windows >= 1, f"max_windows must be >= 1 or None, got {max_windows}")
        starts = starts[np.linspace(0, len(starts) - 1, max_windows).round().astype(np.int64)]
    return starts


def load_windows(values: np.ndarray, starts: np.ndarray, window: int, tokenizer) -> torch.Tensor:
    """Tokens of the windows at starts, as a LongTensor (N, window)."""
    return torch.from_numpy(tokenizer.encode(gather(values, starts, window)))


def model_inputs(tokens: torch.Tensor, values: np.ndarray, starts: np.ndarray, linear=None) -> torch.Tensor:
    """What the model reads for windows of tokens (B, T) at `starts` of the stream `values`: the tokens, plus with a
    linear scan (linear.LinearScan) the recurrences' predicted bits of each position's next value, (B, T, 2)."""
    if linear is None:
        return tokens
    side = linear.side_channel(values, starts, tokens.shape[1])
    return torch.stack([tokens, torch.from_numpy(side)], dim=-1)
