"""Command line: `python -m seqlib train|evaluate|predict|make-stream|report ...` (also `python u16_seq_model.py ...`)."""
from __future__ import annotations

import argparse
import sys
import typing
from dataclasses import fields
from typing import Any, Callable

from .distributed import dist_info
from .errors import SeqlibError
from .model import ModelConfig
from .runs import add_parser as add_runs_parser
from .train import TrainConfig

MODEL_HELP = {
    "d_model": "width of the transformer",
    "nlayers": "number of transformer blocks",
    "nhead": "attention heads (must divide d_model)",
    "dim_ff": "SwiGLU hidden size (default: 8/3 d_model rounded up to a multiple of 64)",
    "seq_len": "context length in values",
    "dropout": "dropout probability",
    "heads_ahead": "output heads: head h predicts the value h steps ahead",
    "tie_embeddings": "tie head 1 to the input embedding",
    "lag_kernel": "each block first mixes the last N positions (causal depthwise convolution; 0: off)",
}
TRAIN_HELP = {
    "u16_path": "raw little-endian uint16 file (no header)",
    "run_dir": "run folder for checkpoints, history.csv and eval.json (default: next to --ckpt)",
    "ckpt": "path of the best checkpoint (default: RUN_DIR/model.pt)",
    "tokenizer": "auto | exact | quantile | uniform | bytes16 (lossless 16-bit: high byte, then low byte) | bits16 "
                 "(lossless 16-bit, bit by bit from the lowest: for arithmetic generators such as lagged Fibonacci)",
    "num_bins": "bins for quantile/uniform tokenizers",
    "max_vocab": "auto picks exact when the stream has at most this many distinct values; above it, bytes16 for "
                 "generator-like streams (values spread evenly over their range, jumping across it), else quantile",
    "val_ratio": "fraction of the file held out for validation (the end of the file)",
    "epochs": "passes over the training block (one pass sees each value once)",
    "max_steps": "stop after this many optimizer steps",
    "time_limit": "stop after this many seconds (the state is saved; --resume continues)",
    "batch": "windows per micro-batch",
    "gradient_accumulation": "micro-batches per optimizer step",
    "lr": "peak learning rate",
    "weight_decay": "AdamW weight decay (matrices only)",
    "warmup_ratio": "fraction of steps with linear warmup before the cosine decay",
    "min_lr_ratio": "final learning rate as a fraction of --lr",
    "grad_clip": "gradient-norm clipping",
    "eval_every": "validate every N optimizer steps",
    "eval_windows": "validation windows (the same ones at every evaluation)",
    "patience": "stop after N evaluations without improvement (default: never)",
    "sampling": "epoch (each window once per epoch) | random (with replacement)",
    "max_samples": "at most this many windows per epoch",
    "noise_p": "probability of replacing an input value by a random one (augmentation)",
    "mask_p": "probability of masking an input value (augmentation)",
    "use_amp": "mixed precision: bf16 autocast (fp16 + GradScaler on GPUs without bf16)",
    "compile": "torch.compile the model",
    "device": "auto | cpu | cuda | cuda:N",
    "seed": "random seed",
    "workers": "background processes prefetching batches (0: main process)",
    "in_memory": "load the whole file into RAM instead of memory-mapping it",
    "resume": "continue the run from RUN_DIR/latest.pt",
    "progress": "show a progress bar",
}


def _add_fields(parser: argparse.ArgumentParser, cls: type, helps: dict[str, str], keep_defaults: bool) -> None:
    """One flag per dataclass field named in `helps`; defaults stay None unless `keep_defaults`."""
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        if f.name not in helps:
            continue
        kind = hints[f.name]
        default = f.default if keep_defaults else None
        if kind is bool:
            parser.add_argument(f"--{f.name}", action=argparse.BooleanOptionalAction, default=default,
                                help=helps[f.name])
            continue
        base = next((t for t in typing.get_args(kind) if t is not type(None)), kind)
        parser.add_argument(f"--{f.name}", type=base, default=default,
                            help=f"{helps[f.name]} (default: {f.default})")


def _train(args: argparse.Namespace) -> None:
    from .train import train

    model_args = {k: getattr(args, k) for k in MODEL_HELP if getattr(args, k) is not None}
    model_cfg = ModelConfig(**model_args) if model_args or not args.resume else None
    cfg = TrainConfig(**{k: getattr(args, k) for k in TRAIN_HELP})
    history = train(cfg, model_cfg)
    if len(history) and dist_info().is_main:
        best = history.loc[history["val_loss_bits"].idxmin()]
        print(f"best validation loss {best['val_loss_bits']:.4f} bits/value (top-1 {best['val_top1']:.2%}) "
              f"at step {int(best['step'])}")


def _evaluate(args: argparse.Namespace) -> None:
    from .evaluate import evaluate, format_report

    result = evaluate(args.ckpt, args.u16_path, max_samples=args.max_samples, use_amp=args.use_amp,
                      device=args.device, batch=args.batch, run_dir=args.run_dir)
    print(format_report(result, analyze=args.analyze_predictions))


def _predict(args: argparse.Namespace) -> None:
    from .predict import format_prediction, predict

    print(format_prediction(predict(args.ckpt, args.u16_path, args.idx, args.topk, device=args.device)))


def _report(args: argparse.Namespace) -> None:
    from .report import build_reports

    for path in build_reports(args.run, args.out, data=args.data, smoke=args.smoke):
        print(f"wrote {path}")


def _number(text: str) -> int | float:
    return float(text) if any(c in text for c in ".eE") else int(text)


def _make_stream(args: argparse.Namespace) -> None:
    from .sources import make_stream

    params = {name: _number(value) for name, value in (p.split("=", 1) for p in args.param)}
    info = make_stream(args.out, args.kind, args.n, seed=args.seed, **params)
    print(f"wrote {args.n:,} values to {args.out}: {info.kind} {info.params}, "
          f"entropy rate {info.entropy_rate:.4f} bits/value, ideal top-1 {info.ideal_top1:.2%}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seqlib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a model on a .u16 file")
    _add_fields(p, ModelConfig, MODEL_HELP, keep_defaults=False)
    _add_fields(p, TrainConfig, TRAIN_HELP, keep_defaults=True)
    p.set_defaults(func=_train)

    p = sub.add_parser("evaluate", help="score a checkpoint against baselines on held-out data, with a verdict")
    p.add_argument("--u16_path", required=True, help=TRAIN_HELP["u16_path"])
    p.add_argument("--ckpt", required=True, help="checkpoint written by train")
    p.add_argument("--run_dir", help="where eval.json goes (default: the checkpoint's run folder)")
    p.add_argument("--max_samples", type=int, default=100_000, help="predictions to score per head")
    p.add_argument("--analyze_predictions", action="store_true",
                   help="also print calibration and the most confident mistakes")
    p.add_argument("--use_amp", action="store_true", help=TRAIN_HELP["use_amp"])
    p.add_argument("--batch", type=int, default=64, help="windows per forward pass")
    p.add_argument("--device", default="auto", help=TRAIN_HELP["device"])
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("predict", help="top-k next values at one index of a file")
    p.add_argument("--u16_path", required=True, help=TRAIN_HELP["u16_path"])
    p.add_argument("--ckpt", required=True, help="checkpoint written by train")
    p.add_argument("--idx", type=int, required=True, help="index of the value to predict (context: the values before)")
    p.add_argument("--topk", type=int, default=10, help="how many candidates to list")
    p.add_argument("--device", default="cpu", help=TRAIN_HELP["device"])
    p.set_defaults(func=_predict)

    p = sub.add_parser("make-stream", help="write a stream with known entropy rate (for trials and tests)")
    p.add_argument("out", help="output .u16 path")
    p.add_argument("--kind", default="markov", help="die | biased_die | markov | sticky | lagged_sum | lcg | lagged_add")
    p.add_argument("--n", type=int, default=2_000_000, help="number of values")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="source parameter, e.g. k=6")
    p.set_defaults(func=_make_stream)
    p = sub.add_parser("report", help="run the four notebooks and write HTML reports")
    p.add_argument("--run", default="runs/report", help="run folder the notebooks share")
    p.add_argument("--out", default="reports", help="folder for the executed notebooks and HTML reports")
    p.add_argument("--data", help="a .u16 file (default: the built-in sample stream)")
    p.add_argument("--smoke", action="store_true", help="tiny settings that finish in a minute")
    p.set_defaults(func=_report)
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
    except KeyboardInterrupt:
        return 130
    return 0
