"""Config fields that carry their own help text and bounds, so the CLI flags, the notebook forms and the checks are
generated from one place (the dataclasses ModelConfig and TrainConfig)."""
from __future__ import annotations

import math
import typing
from dataclasses import Field, field, fields
from typing import Any

from .errors import ConfigError


def setting(default: Any, help: str, *, low: float | None = None, high: float | None = None, low_open: bool = False,
            high_open: bool = False, choices: tuple | None = None, flag: bool = True) -> Any:
    """A dataclass field with help text and bounds: low <= value <= high (< where *_open), or one of choices.

    None is always allowed for an Optional field (it means "off" or "automatic", as its help says). flag=False: set
    by seqlib itself (e.g. from the tokenizer), so no CLI flag or form control offers it."""
    return field(default=default, metadata={"help": help, "low": low, "high": high, "low_open": low_open,
                                            "high_open": high_open, "choices": choices, "flag": flag})


def base_type(cls: type, name: str) -> type:
    """The type of a dataclass field, without its Optional."""
    hint = typing.get_type_hints(cls)[name]
    return next((t for t in typing.get_args(hint) if t is not type(None)), hint)


def described(cls: type) -> list[Field]:
    """The fields of cls that carry help text and bounds."""
    return [f for f in fields(cls) if "help" in f.metadata]


def flags(cls: type) -> list[Field]:
    """The settings of cls that a user sets (CLI flags, form controls)."""
    return [f for f in described(cls) if f.metadata["flag"]]


def bounds_text(f: Field) -> str:
    """The allowed values of a setting in words, e.g. 'in [0, 1)' or 'one of epoch, random'."""
    m = f.metadata
    if m["choices"]:
        return "one of " + ", ".join(map(str, m["choices"]))
    if m["low"] is not None and m["high"] is not None:
        return f"in {'(' if m['low_open'] else '['}{m['low']:g}, {m['high']:g}{')' if m['high_open'] else ']'}"
    if m["low"] is not None:
        return f"{'>' if m['low_open'] else '>='} {m['low']:g}"
    if m["high"] is not None:
        return f"{'<' if m['high_open'] else '<='} {m['high']:g}"
    return ""


def check(cfg: Any) -> None:
    """Raise ConfigError, naming the flag and its allowed values, for the first setting of cfg that is out of bounds."""
    for f in described(type(cfg)):
        value, kind, m = getattr(cfg, f.name), base_type(type(cfg), f.name), f.metadata
        if value is None and typing.get_args(typing.get_type_hints(type(cfg))[f.name]):
            continue
        if kind is bool:
            ok = isinstance(value, bool)
        elif kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif kind is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        else:
            ok = isinstance(value, kind)
        if ok and m["choices"]:
            ok = value in m["choices"]
        if ok and m["low"] is not None:
            ok = value > m["low"] if m["low_open"] else value >= m["low"]
        if ok and m["high"] is not None:
            ok = value < m["high"] if m["high_open"] else value <= m["high"]
        if not ok:
            wanted = f"{'a finite number' if kind is float else f'a {kind.__name__}'} {bounds_text(f)}".rstrip()
            raise ConfigError(f"--{f.name}={value!r} is out of range: it must be {wanted} ({f.metadata['help']})")
