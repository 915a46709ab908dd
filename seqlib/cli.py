"""Command line: `seqlib train|evaluate|predict|make-stream|convert|report|workbook ...` (also `python -m seqlib`,
`python u16_seq_model.py`)."""
from __future__ import annotations

import argparse
import signal
import sys
from typing import Any, Callable

from . import __version__, formats, workbook
from .distributed import dist_info
from .errors import SeqlibError
from .model import ModelConfig
from .settings import base_type, bounds_text, flags
from .sources import GENERATORS
from .runs import add_parser as add_runs_parser
from .train import TrainConfig

def _help(cls: type, name: str) -> str:
    """A setting's help text, for flags of other commands that mean the same."""
    return next(f.metadata["help"] for f in flags(cls) if f.name == name)


def _add_fields(parser: argparse.ArgumentParser, cls: type, keep_defaults: bool) -> None:
    """One flag per user-facing setting of a config dataclass; defaults stay None unless `keep_defaults`."""
    for f in flags(cls):
        kind, default = base_type(cls, f.name), f.default if keep_defaults else None
        text = f.metadata["help"]
        if kind is bool:
            parser.add_argument(f"--{f.name}", action=argparse.BooleanOptionalAction, default=default, help=text)
            continue
        bounds = bounds_text(f)
        parser.add_argument(f"--{f.name}", type=kind, default=default,
                            help=f"{text} (default: {f.default}{'; ' + bounds if bounds else ''})")


def _chosen_tokenizer(cfg: TrainConfig):
    """The tokenizer chosen in notebook 01 (RUN_DIR/tokenizer.json), unless --tokenizer names a kind; None if none."""
    from .checkpoint import RunPaths
    from .tokenize import read_tokenizer

    path = RunPaths.resolve(cfg.run_dir, cfg.ckpt).tokenizer
    if not path.is_file():
        return None
    tokenizer = read_tokenizer(path)
    forced = cfg.tokenizer != "auto"
    if dist_info().is_main:
        print(f"note: --tokenizer {cfg.tokenizer} is given, so {path} ({tokenizer.kind}) is not used" if forced else
              f"using the tokenizer of {path} ({tokenizer.kind}, {tokenizer.vocab_size} classes)")
    return None if forced else tokenizer


def _train(args: argparse.Namespace) -> None:
    from .train import train

    model_args = {f.name: getattr(args, f.name) for f in flags(ModelConfig) if getattr(args, f.name) is not None}
    train_args = {f.name: getattr(args, f.name) for f in flags(TrainConfig) if getattr(args, f.name) is not None}
    # A resumed run checks just the flags given against its checkpoint and takes the others from it; a new one fills
    # in the defaults.
    model_cfg = model_args if args.resume else ModelConfig(**model_args)
    cfg = train_args if args.resume else TrainConfig(**train_args)
    history = train(cfg, model_cfg, tokenizer=None if args.resume else _chosen_tokenizer(cfg))
    if len(history) and dist_info().is_main:
        best = history.loc[history["val_loss_bits"].idxmin()]
        print(f"best validation loss {best['val_loss_bits']:.4f} bits/value (top-1 {best['val_top1']:.2%}) "
              f"at step {int(best['step'])}")


def _evaluate(args: argparse.Namespace) -> None:
    from .evaluate import evaluate
    from .summaries import format_report

    result = evaluate(args.ckpt, args.u16_path, max_samples=args.max_samples, use_amp=args.use_amp,
                      device=args.device, batch=args.batch, run_dir=args.run_dir, format=args.format)
    print(format_report(result, analyze=args.analyze_predictions))


def _predict(args: argparse.Namespace) -> None:
    from .predict import format_prediction, predict

    table = predict(args.ckpt, args.u16_path, args.idx, args.topk, device=args.device, format=args.format)
    print(format_prediction(table))


def _report(args: argparse.Namespace) -> None:
    from .report import build_reports

    for path in build_reports(args.run, args.out, data=args.data, smoke=args.smoke):
        print(f"wrote {path}")


def _number(text: str) -> int | float | str:
    """A --param value: an int or a float where it reads as one, else the text (e.g. output=low)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _make_stream(args: argparse.Namespace) -> None:
    from .sources import make_stream

    params = {name: _number(value) for name, value in (p.split("=", 1) for p in args.param)}
    info = make_stream(args.out, args.kind, args.n, seed=args.seed, **params)
    print(f"wrote {args.n:,} values to {args.out}: {info.kind} {info.params}, "
          f"entropy rate {info.entropy_rate:.4f} bits/value, ideal top-1 {info.ideal_top1:.2%}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seqlib", description=__doc__)
    parser.add_argument("--version", action="version", version=f"seqlib {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a model on a .u16 file")
    _add_fields(p, ModelConfig, keep_defaults=False)
    _add_fields(p, TrainConfig, keep_defaults=False)
    p.set_defaults(func=_train)

    p = sub.add_parser("evaluate", help="score a checkpoint against baselines on held-out data, with a verdict")
    p.add_argument("--u16_path", required=True, help=_help(TrainConfig, "u16_path"))
    p.add_argument("--format", default="u16le", choices=list(formats.FORMATS), help=_help(TrainConfig, "format"))
    p.add_argument("--ckpt", required=True, help="checkpoint written by train")
    p.add_argument("--run_dir", help="where eval.json goes (default: the checkpoint's run folder)")
    p.add_argument("--max_samples", type=int, default=100_000, help="predictions to score per head")
    p.add_argument("--analyze_predictions", action="store_true",
                   help="also print calibration and the most confident mistakes")
    p.add_argument("--use_amp", action="store_true", help=_help(TrainConfig, "use_amp"))
    p.add_argument("--batch", type=int, default=64, help="windows per forward pass")
    p.add_argument("--device", default="auto", help=_help(TrainConfig, "device"))
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("predict", help="top-k next values at one index of a file")
    p.add_argument("--u16_path", required=True, help=_help(TrainConfig, "u16_path"))
    p.add_argument("--format", default="u16le", choices=list(formats.FORMATS), help=_help(TrainConfig, "format"))
    p.add_argument("--ckpt", required=True, help="checkpoint written by train")
    p.add_argument("--idx", type=int, required=True, help="index of the value to predict (context: the values before)")
    p.add_argument("--topk", type=int, default=10, help="how many candidates to list")
    p.add_argument("--device", default="cpu", help=_help(TrainConfig, "device"))
    p.set_defaults(func=_predict)

    p = sub.add_parser("make-stream", help="write a stream with known entropy rate (for trials and tests)")
    p.add_argument("out", help="output .u16 path")
    p.add_argument("--kind", default="markov", help=" | ".join(GENERATORS))
    p.add_argument("--n", type=int, default=2_000_000, help="number of values")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="source parameter, e.g. k=6")
    p.set_defaults(func=_make_stream)
    formats.register(sub)
    p = sub.add_parser("report", help="run the four notebooks and write HTML reports")
    p.add_argument("--run", default="runs/report", help="run folder the notebooks share")
    p.add_argument("--out", default="reports", help="folder for the executed notebooks and HTML reports")
    p.add_argument("--data", help="a .u16 file (default: the built-in sample stream)")
    p.add_argument("--smoke", action="store_true", help="tiny settings that finish in a minute")
    p.set_defaults(func=_report)
    workbook.register(sub)
    add_runs_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], Any] = args.func
    try:
        func(args)
    except SeqlibError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # the system's fault (a full disk, a file that went away), not the user's input
        print(f"error: {f'{e.filename}: ' if e.filename else ''}{e.strerror or e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:  # Ctrl-C, or a run stopped by SIGTERM: the shell's 128 + signal number
        return 128 + getattr(e, "signum", signal.SIGINT)
    return 0
