"""What a generator search found in the training block, as its predictor and the checkpoint use it: the error rate
from the search's check, and the plain dict a checkpoint keeps (LCGs, MT19937 and V8's xorshift128+ behind a die)."""
from __future__ import annotations

import dataclasses

from .errors import CheckpointError


class Found:
    """A mixin for the dataclasses the searches return; they have n_check (values predicted after the recovery in
    the search) and misses (of which wrong)."""

    n_check: int
    misses: int

    @property
    def eps(self) -> float:
        """P(a predicted value is wrong): add-one over the search's check, never 0."""
        return (self.misses + 1) / (self.n_check + 2)

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
