"""`lossdoctor sample`: text from checkpoints, side by side (trainer/sample.py)."""

from __future__ import annotations

import argparse
from typing import Any

from . import cli_args as args_mod

# characters one sample may ask for: about a minute of a small model on a CPU (some 2,000 a
# second), where 1e11 had run on for years without a word
MAX_NEW_TOKENS = 100_000


def _new_tokens(text: str) -> int:
    """--max-new-tokens: a count of at most MAX_NEW_TOKENS."""
    from .cli_args import positive_int
    n = positive_int(text)
    if n > MAX_NEW_TOKENS:
        raise argparse.ArgumentTypeError(f"{text}: at most {MAX_NEW_TOKENS:,} characters a sample")
    return n


def add_parser(sub: Any) -> None:
    from .cli_args import MIN_WIDTH
    from .cli_args import positive_float as _positive_float
    from .cli_args import positive_int as _positive_int
    from .cli_args import width as _width
    sm = sub.add_parser("sample", help="generate text from checkpoints, side by side",
                        description="Generate text from each checkpoint (nanoGPT's or lossdoctor's ckpt.pt) with the "
                                    "built-in model, side by side, each headed by its step and the val loss it "
                                    "records (the best; with always_save_checkpoint=True, the val at its save; for "
                                    "a final model saved when no eval improved, its last eval's val and step).")
    sm.add_argument("paths", nargs="+", metavar="CKPT", help="a ckpt.pt, or a run directory holding one")
    sm.add_argument("--start", default=None, help="text to start from, at least one character (default: a newline, "
                                                  "or the vocabulary's first character where it has none)")
    sm.add_argument("--max-new-tokens", type=_new_tokens, default=300, metavar="N",
                    help=f"characters to generate, at most {MAX_NEW_TOKENS:,} (default: 300)")
    sm.add_argument("--temperature", type=_positive_float, default=0.8,
                    help="below 1 sharper, above 1 more random (default: 0.8)")
    sm.add_argument("--top-k", type=_positive_int, default=200, metavar="K",
                    help="sample among the K likeliest characters (default: 200)")
    sm.add_argument("--seed", type=args_mod.seed, default=1337,
                    help="the same seed gives the same text (default: 1337)")
    sm.add_argument("--data", metavar="TEXT|DIR", help="the training text or data directory to decode with "
                                                     "(instead of the meta.pkl next to the checkpoint)")
    sm.add_argument("--meta", metavar="META.pkl", help="a nanoGPT meta.pkl to decode with (instead of the one "
                                                     "next to the checkpoint; not with --data)")
    sm.add_argument("--width", type=_width, default=None, metavar="N",
                    help=f"console width, at least {MIN_WIDTH} (default: terminal)")
    sm.add_argument("--debug", action="store_true", help="show tracebacks")
    sm.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Sample each checkpoint and print the texts side by side."""
    from .cli import _console as console
    from .errors import UsageError
    from .report.samples import render_samples
    from .trainer.sample import sample
    if args.data is not None and args.meta is not None:
        raise UsageError("--data and --meta both give the vocabulary: give one")
    if args.start == "":
        raise UsageError("--start is empty: the model needs at least one character to start from "
                         "(leave --start out for a newline, or the vocabulary's first character)")
    out = [sample(p, args.start, args.max_new_tokens, args.temperature, args.top_k, args.seed, args.data, args.meta)
           for p in args.paths]
    console(args).print(render_samples(out))
    return 0
