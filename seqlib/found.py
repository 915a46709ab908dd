"""What a generator search found in the training block, as its predictor and the checkpoint use it: the error rate
from the search's check, and the plain dict a checkpoint keeps (LCGs, MT19937 and V8's xorshift128+ behind a die)."""
from __future__ import annotations

import dataclasses

import numpy as np

from .errors import CheckpointError


class Found:
    """A mixin for the dataclasses the searches return; they have n_check (values predicted after the recovery in
    the search) and misses (of which wrong), and a generator behind a die also `predictor` (its predictor's name),
    `_name` (the generator's), `look` and `window` (as CongruentialPredictor uses them)."""

    n_check: int
    misses: int

    @property
    def eps(self) -> float:
        """P(a predicted value is wrong): add-one over the search's check, never 0."""
        return (self.misses + 1) / (self.n_check + 2)

    def next_text(self, values: np.ndarray, idx: int) -> str:
        """What the generator predicts for the value at idx, its state recovered from the values just before it, for
        `predict`."""
        k = self.look
        if idx < k:
            return f"{self.predictor}: fewer than {k:,} values before index {idx}, nothing is predicted"
        predicted, usable, _ = self.window(np.asarray(values[idx - k:idx + 1], np.int64), idx - k, None)
        if usable > k or predicted[k] < 0:
            return f"{self.predictor}: the {k:,} values before index {idx} are not throws of {self._name}"
        return (f"{self.predictor}: {self._name}, its state recovered from the {k:,} values before index {idx}, puts "
                f"the value there at {predicted[k]}")

    def to_dict(self) -> dict:
        """Plain ints and strings, for checkpoints and JSON (a modulus of 2^64 is a Python int, which torch.load
        with weights_only accepts)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict):
        """The inverse of to_dict."""
        try:
            return cls(**d)
        except TypeError as e:
            raise CheckpointError(f"not a {cls.__name__} dict ({e}); pass the dict that {cls.__name__}.to_dict() "
                                  f"wrote") from e


ALPHABET = 1 << 17  # values in which a die shows all its faces (a d1000 needs more than 4,640)


def complete_die(values: np.ndarray, n: int, span: int, faces_max: int, even: bool = False, powers: bool = False
                 ) -> tuple[np.ndarray, int, int] | None:
    """(the first n values as int64, lo, d) where they are at least `span` and form the complete alphabet lo..lo +
    d - 1 of a d <= faces_max (even with `even`) that is not a power of two (a power of two's faces are bits, which
    the GF(2) scan predicts whole where the generator's bits are linear; with `powers`, 4, 8, ... are dice too, for a
    scrambler whose higher bits are not), else None: the dice a generator's state is searched behind."""
    v = np.asarray(values[:n], np.int64)
    if len(v) < span:
        return None
    lo, d = int(v.min()), int(v.max() - v.min()) + 1
    power = d & (d - 1) == 0 and not (powers and d >= 4)
    if d > faces_max or even and d % 2 or power or len(np.unique(v)) != d:
        return None
    return v, lo, d
