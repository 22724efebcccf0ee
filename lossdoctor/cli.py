"""The `lossdoctor` command: a thin argparse layer over the library.

Exit codes: 0 success, 2 usage or input error (one line on stderr naming the file).
Heavy modules (numpy, rich, torch) are imported inside the commands, so that
`lossdoctor --help` starts fast.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2

EPILOG = """\
exit codes:
  0  success
  2  usage error, or an input that cannot be read (the reason names the file)

examples:
  lossdoctor analyze train.log
  lossdoctor analyze out-shakespeare-char            # a run directory: its log and ckpt.pt
  lossdoctor analyze train.log out/ckpt.pt           # a log and its checkpoint, merged
  lossdoctor analyze train.log --format json
"""

NOT_YET = {
    "extrapolate": "predict the loss at a future step",
    "verify": "check recommendations by training",
    "train": "the built-in nanoGPT-compatible trainer",
}


def _parser() -> argparse.ArgumentParser:
    from . import __version__
    p = argparse.ArgumentParser(
        prog="lossdoctor", description="Explain a training run's loss from its own logs and checkpoints.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"lossdoctor {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    a = sub.add_parser("analyze", help="read runs and report their config, curves and derived facts",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("paths", nargs="*", metavar="PATH",
                   help="nanoGPT log, ckpt.pt, or run directory (default: logs and out*/ckpt.pt here)")
    a.add_argument("--format", choices=("rich", "plain", "json"), default=None,
                   help="output format (default: rich on a terminal, plain otherwise)")
    a.add_argument("--peak-flops", type=_positive_float, metavar="FLOPS",
                   help="peak FLOP/s of the device the run used, e.g. 989e12 (H100 SXM bf16) "
                        "or a GPU name such as H100; MFU is recomputed against it")
    a.add_argument("--dataset-tokens", type=_positive_int, metavar="N",
                   help="tokens in the training split, for epochs")
    a.add_argument("--width", type=_positive_int, default=None, help="console width (default: terminal)")
    a.add_argument("--debug", action="store_true", help="show tracebacks")
    a.set_defaults(func=_cmd_analyze)

    for name, what in NOT_YET.items():
        n = sub.add_parser(name, help=f"{what} (not implemented yet)", add_help=False)
        n.add_argument("rest", nargs=argparse.REMAINDER)
        n.set_defaults(func=_not_yet(name, what))
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: --help/--version exit 0, usage errors exit 2
        return int(e.code or 0)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    func: Callable[[argparse.Namespace], int] = args.func
    from .errors import LossdoctorError
    try:
        return func(args)
    except LossdoctorError as e:
        if getattr(args, "debug", False):
            raise
        print(f"lossdoctor: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("lossdoctor: interrupted", file=sys.stderr)
        return 130


def _cmd_analyze(args: argparse.Namespace) -> int:
    from .analysis import analyze
    peak = _peak_flops(args.peak_flops)
    result = analyze(args.paths or None, peak_flops=peak, dataset_tokens=args.dataset_tokens)
    if args.format == "json":
        from .report.json_report import to_json
        sys.stdout.write(to_json(result) + "\n")
        return EXIT_OK
    from rich.console import Console
    from .report.terminal import render
    plain = args.format == "plain" or (args.format is None and not sys.stdout.isatty())
    console = Console(width=args.width, no_color=plain, highlight=False,
                      force_terminal=False if plain else None)
    console.print(render(result))
    return EXIT_OK


def _peak_flops(value: float | str | None) -> float | None:
    if value is None or isinstance(value, float):
        return value
    from .facts.speed import peak_flops_for
    from .errors import UsageError
    peak = peak_flops_for(value)
    if peak is None:
        raise UsageError(f"--peak-flops: unknown device {value!r}; give a number such as 312e12")
    return peak


def _positive_float(text: str) -> float | str:
    try:
        x = float(text)
    except ValueError:
        return text  # a device name, resolved later
    if not x > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return x


def _positive_int(text: str) -> int:
    try:
        x = int(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text}") from None
    if x <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return x


def _not_yet(name: str, what: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        print(f"lossdoctor {name} ({what}) is not implemented yet; `lossdoctor analyze` is.",
              file=sys.stderr)
        return EXIT_ERROR
    return run


if __name__ == "__main__":
    sys.exit(main())
