"""The `lossdoctor` command: a thin argparse layer over the library.

Exit codes: 0 success, 2 usage or input error, or a prediction declined (one line on stderr
naming the file).
Heavy modules (numpy, rich, torch) are imported inside the commands, so that
`lossdoctor --help` starts fast.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from . import cli_args as args_mod
from .cli_exits import EXIT_ERROR, error, guarded
from .cli_train import run_train

if TYPE_CHECKING:
    from rich.console import Console

    from .diagnose import Diagnosis

EXIT_OK, EXIT_FINDINGS = 0, 1

EPILOG = """\
exit codes:
  0    success
  1    analyze: a finding at or above --fail-on; verify: a verdict at its
       --fail-on; rules test: a case failed
  2    usage error, an input that cannot be read (a rule file of --rules that
       does not load among them), or a run extrapolate cannot predict to that
       step (the reason names the file and says why)
  130  interrupted (Ctrl-C; train and verify keep what they finished)
  143  terminated (SIGTERM, a scheduler's stop; kept alike)
  141  the output's reader went away (| head)

examples:
  lossdoctor analyze train.log
  lossdoctor analyze out-shakespeare-char    # a run directory: log and ckpt.pt
  lossdoctor analyze train.log out/ckpt.pt   # a log and its checkpoint, merged
  lossdoctor analyze cpu.log gpu.log         # the gap between runs, by cause
  lossdoctor analyze train.log --format json
  lossdoctor analyze train.log --rules my_rules/ --fail-on warning
  lossdoctor rules list
  lossdoctor rules show LD101
  lossdoctor extrapolate out-shakespeare-char --to 1000
  lossdoctor train lossdoctor/configs/shakespeare_char_cpu.yaml --data=input.txt
"""



class WholeWords(argparse.HelpFormatter):
    """Option help wrapped at spaces only: a flag or a value is never cut in two."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        import textwrap
        return textwrap.wrap(" ".join(text.split()), width, break_long_words=False, break_on_hyphens=False)


class RawWholeWords(WholeWords, argparse.RawDescriptionHelpFormatter):
    """WholeWords, with the description and the epilog (examples) as written."""


class Parser(argparse.ArgumentParser):
    """argparse with lossdoctor's one-line errors: `lossdoctor: error: ...` and where the
    usage is, not the usage block (docs/errors.md)."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("lossdoctor").strip()
        where = f"lossdoctor {command} --help" if command else "lossdoctor --help"
        error(f"lossdoctor: error: {command + ': ' if command else ''}{message} ({where} shows the usage)")
        self.exit(EXIT_ERROR)

    def innermost(self, args: argparse.Namespace) -> argparse.ArgumentParser:
        """The parser of the innermost command `args` chose ('rules list'), else this one."""
        parser: argparse.ArgumentParser = self
        while parser._subparsers is not None:
            action = next((a for a in parser._subparsers._group_actions
                           if isinstance(a, argparse._SubParsersAction)), None)
            chosen = getattr(args, action.dest, None) if action is not None and action.dest else None
            if action is None or chosen not in action.choices:
                break
            parser = action.choices[chosen]
        return parser


def _parser() -> Parser:
    from . import __version__
    p = Parser(
        prog="lossdoctor", description="Explain a training run's loss from its own logs and checkpoints.",
        epilog=EPILOG, formatter_class=RawWholeWords)
    p.add_argument("--version", action="version", version=f"lossdoctor {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    _add_analyze(sub)
    from .cli_rules import add_parser as add_rules
    add_rules(sub)
    _add_extrapolate(sub)
    from .cli_sample import add_parser as add_sample
    add_sample(sub)
    t = sub.add_parser("train", help="train with the built-in nanoGPT-compatible trainer",
                       add_help=False)
    t.add_argument("rest", nargs=argparse.REMAINDER)
    t.set_defaults(func=run_train)
    from .cli_verify import add_parser as add_verify
    add_verify(sub)
    return p


Subparsers = Any  # argparse's _SubParsersAction


def _add_input_format(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input-format", default=None, metavar="NAME",
                   help="read every path in this format instead of detecting it (nanogpt, nanochat, "
                        "modded-nanogpt, llmc, hf-trainer, lightning-csv, ...: docs/formats.md)")


def _readers(args: argparse.Namespace) -> list[Any] | None:
    """The one reader --input-format names (a usage error naming the formats otherwise)."""
    from .errors import UsageError
    from .readers import READERS, names
    if args.input_format is None:
        return None
    if not args.input_format.strip():  # an unset shell variable's: no format named
        raise UsageError(f"--input-format {args.input_format!r}: an empty name (formats: {', '.join(names())})")
    from .readers.registry import ALIASES
    found = [r for r in READERS if r.name == ALIASES.get(args.input_format, args.input_format)]
    if not found:
        raise UsageError(f"--input-format {args.input_format}: no such format (formats: {', '.join(names())})")
    return found


def _add_analyze(sub: Subparsers) -> None:
    a = sub.add_parser("analyze", aliases=["compare"],
                       help="read runs and report their config, curves, facts and findings; with two "
                            "or more runs, why the worse one is worse (compare: the same)",
                       epilog=EPILOG, formatter_class=RawWholeWords)
    a.add_argument("paths", nargs="*", metavar="PATH", type=args_mod.input_path,
                   help="a training log (any format read; - for stdin), ckpt.pt, or run directory (default: logs "
                        "and out*/ run directories here)")
    a.add_argument("--format", choices=("rich", "plain", "json", "markdown"), default=None,
                   help=args_mod.FORMAT_HELP)
    _add_input_format(a)
    a.add_argument("--peak-flops", type=args_mod.positive_float, metavar="FLOPS",
                   help="peak FLOP/s of the device the run used, e.g. 989e12 (H100 SXM bf16) "
                        "or a GPU name such as H100; MFU is recomputed against it")
    a.add_argument("--dataset-tokens", type=args_mod.positive_int, metavar="N",
                   help="tokens in the training split, for epochs")
    a.add_argument("--rules", action="append", metavar="DIR",
                   help="a directory of rule files added to the built-in ones (same id: yours wins); repeatable")
    a.add_argument("--fail-on", choices=("info", "warning", "error"), default=None,
                   help="exit 1 when a finding at this severity or above is present")
    a.add_argument("--width", type=args_mod.width, default=None, metavar="N",
                   help=f"console width, at least {args_mod.MIN_WIDTH} (default: terminal)")
    a.add_argument("--plot", type=args_mod.plot_file, metavar="FILE.png",
                   help="draw train and val of each run against steps and tokens, best val marked, and "
                        "for one run its fit and extrapolation (needs matplotlib)")
    a.add_argument("-v", "--verbose", action="store_true",
                   help="show everything: each run's config with origins, curves, all facts, events, "
                        "and the gap's tables and methods")
    a.add_argument("--debug", action="store_true", help="show tracebacks")
    a.set_defaults(func=_cmd_analyze)


def _add_extrapolate(sub: Subparsers) -> None:
    x = sub.add_parser("extrapolate", help="predict the loss at a later step, per way of getting there",
                       epilog="scenarios: rerun (fresh run with --max_iters=N --lr_decay_iters=N), resume "
                              "(--init_from=resume with the new schedule), constant (resume at the run's "
                              "min_lr; its LR, for a constant-LR run), custom (--schedule)", formatter_class=WholeWords)
    x.add_argument("path", metavar="LOG|CKPT|DIR", type=args_mod.input_path)
    x.add_argument("--to", type=args_mod.positive_int, required=True, metavar="N", help="target step")
    _add_input_format(x)
    x.add_argument("--level", type=args_mod.interval_level, default=0.8, help="interval level (default 0.8)")
    x.add_argument("--scenario", action="append", choices=("rerun", "resume", "constant", "custom"),
                   help="scenarios to predict (default: rerun, resume, constant; custom with --schedule)")
    x.add_argument("--schedule", metavar="SPEC|FILE",
                   help="custom LR schedule: 'warmup_iters=100, lr_decay_iters=5000, min_lr=1e-4' (the run's "
                        "own for keys left out; learning_rate, if given, must be the run's peak: one run does not "
                        "show how the loss depends on it; decay_lr=False: constant at it) or a file with one LR "
                        "per step")
    x.add_argument("--calibrate", metavar="OTHER_RUN", action="append",
                   help="a run of the same config at another horizon, fitted jointly (repeatable)")
    x.add_argument("--no-reference", dest="reference", action="store_false",
                   help="do not join the shipped reference runs of nanoGPT's README CPU config "
                        "(joined by default when the run's config is theirs)")
    x.add_argument("--dataset-tokens", type=args_mod.positive_int, metavar="N",
                   help="tokens in the training split, where the run does not show them: its epochs, "
                        "for repeated data and how far it is predicted")
    x.add_argument("--format", choices=("rich", "plain", "json", "markdown"), default=None, help=args_mod.FORMAT_HELP)
    x.add_argument("--plot", type=args_mod.plot_file, metavar="FILE.png",
                   help="plot the curve, the fit and each scenario (needs matplotlib)")
    x.add_argument("--width", type=args_mod.width, default=None, metavar="N",
                   help=f"console width, at least {args_mod.MIN_WIDTH} (default: terminal)")
    x.add_argument("--debug", action="store_true", help="show tracebacks")
    x.set_defaults(func=_cmd_extrapolate)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        if argv[:1] == ["train"]:  # nanoGPT-style --key=value: not argparse's to judge
            args = argparse.Namespace(command="train", rest=[a for a in argv[1:] if a != "--debug"],
                                      func=run_train, debug="--debug" in argv[1:])
        else:
            args, extra = parser.parse_known_args(_negative_values(argv))
            if extra:  # said by the innermost command's parser, which names its --help,
                # unless they came before the command
                command = getattr(args, "command", None)
                before = command in argv and any(argv.index(x) < argv.index(command) for x in extra if x in argv)
                inner = parser if before else parser.innermost(args)
                inner.error(f"unrecognized arguments: {' '.join(extra)}{_dashed_hint(inner, extra)}")
    except SystemExit as e:  # argparse: --help/--version exit 0, usage errors exit 2
        return int(e.code or 0)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    func: Callable[[argparse.Namespace], int] = args.func
    return guarded(func, args)


def _dashed_hint(parser: argparse.ArgumentParser, extra: list[str]) -> str:
    """'; did you mean --max-new-tokens?' for an option given with underscores (nanoGPT's
    sample.py spells them so) that the command takes with dashes; '' otherwise."""
    taken = {o for a in parser._actions for o in a.option_strings}
    said = [d for x in extra if x.startswith("--") and (d := x.split("=", 1)[0].replace("_", "-")) in taken
            and d != x.split("=", 1)[0]]
    return f"; did you mean {', '.join(dict.fromkeys(said))}?" if said else ""


def _negative_values(argv: list[str]) -> list[str]:
    """`--budget -5m` as `--budget=-5m`: argparse takes a value that starts with a dash
    for an option unless it is a plain negative number, and would say "expected one
    argument" instead of what is wrong with it."""
    out: list[str] = []
    for i, a in enumerate(argv):
        if a == "--":  # the end of options: what follows is paths, whatever they look like
            return out + argv[i:]
        if out and out[-1].startswith("--") and "=" not in out[-1] and re.fullmatch(r"-\d[\w.]*", a):
            out[-1] += "=" + a
        else:
            out.append(a)
    return out


def _cmd_analyze(args: argparse.Namespace) -> int:
    from .analysis import analyze
    from .errors import UsageError
    if args.paths.count(args_mod.STDIN) > 1:
        raise UsageError("- (stdin) is given more than once: it holds one log")
    # a gate with a rule left out is no gate: the rules are loaded and checked before the runs are read
    from .diagnose import load_rules
    rules = load_rules(args.rules)
    _no_rule_errors(rules.errors)
    if args.plot:
        from .report.plot import check_path
        check_path(args.plot)
    peak = args_mod.peak_flops(args.peak_flops)
    result = analyze(args.paths or None, peak_flops=peak, dataset_tokens=args.dataset_tokens,
                     rules=rules, readers=_readers(args), distinct=True)
    for why in result.skipped:
        print(f"lossdoctor: skipped {why}", file=sys.stderr)
    if args.plot:
        from .report.plot import plot_runs
        plot_runs(result.runs, result.facts, args.plot, fit=result.fits[0] if len(result.runs) == 1 else None)
    if args.format == "json":
        from .report.json_report import to_json
        sys.stdout.write(to_json(result) + "\n")
    elif args.format == "markdown":
        from .report.markdown import analysis_markdown
        sys.stdout.write(analysis_markdown(result))
    else:
        from .report.terminal import render
        _console(args).print(render(result, verbose=args.verbose))
    return _exit_for(result.diagnoses, args.fail_on)


def _exit_for(diagnoses: Sequence[Diagnosis], fail_on: str | None) -> int:
    """EXIT_FINDINGS when a finding is at or above `fail_on`."""
    if fail_on is None:
        return EXIT_OK
    from .diagnose import SEVERITIES
    level = SEVERITIES.index(fail_on)
    hit = any(SEVERITIES.index(f.severity) >= level for d in diagnoses for f in d.findings)
    return EXIT_FINDINGS if hit else EXIT_OK


def _console(args: argparse.Namespace) -> Console:
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:  # the reader went away (`| head`): main() says it
            self.quiet = True
            raise BrokenPipeError

    fmt = getattr(args, "format", None)
    plain = fmt == "plain" or (fmt is None and not sys.stdout.isatty())
    # markup off: text from a log ('wandb.login(key=[your_api_key])') is shown as written;
    # rich asked for is colour wherever it goes (`| less -R`, a file, TERM=dumb), but for
    # NO_COLOR, which rich honours (bold and dim stay)
    asked = fmt == "rich"
    dumb = os.environ.get("TERM", "").lower() in ("dumb", "unknown")  # where rich would use no colour
    console = _Console(width=getattr(args, "width", None), no_color=True if plain else None, highlight=False,
                       markup=False, force_terminal=False if plain else (True if asked else None),
                       color_system="standard" if asked and dumb else "auto")
    if console.width < args_mod.MIN_WIDTH:  # a narrow pane or COLUMNS: the report needs its columns
        console.width = args_mod.MIN_WIDTH
    console.width = min(console.width, args_mod.MAX_WIDTH)  # a COLUMNS with extra zeros: layout, not padding
    return console


def _no_rule_errors(errors: Sequence[object]) -> None:
    """A rule that does not load is an input error: the first, and how many more."""
    if errors:
        from .errors import UsageError
        more = len(errors) - 1
        raise UsageError(f"{errors[0]}" + (f" (and {more} more: `lossdoctor rules test DIR` lists them)"
                                           if more else ""))


def _cmd_extrapolate(args: argparse.Namespace) -> int:
    import lossdoctor

    from .errors import InputError, UsageError
    from .fit.extrapolate import extrapolate
    if args.plot:
        from .report.plot import check_path
        check_path(args.plot)
    schedule = args_mod.read_schedule(args.schedule) if args.schedule is not None else None
    default = ("rerun", "resume", "constant") + (("custom",) if schedule is not None else ())
    scenarios = tuple(dict.fromkeys(args.scenario or default))  # one row each, however often asked
    if "custom" in scenarios and schedule is None:
        raise UsageError("--scenario custom needs --schedule SPEC|FILE (docs/extrapolation.md)")
    if schedule is not None and "custom" not in scenarios:
        raise UsageError("--schedule is the custom scenario's: add --scenario custom, or leave --scenario out")
    if schedule is not None and not isinstance(schedule, dict) and len(schedule) < args.to + 1:
        raise UsageError(f"{args.schedule}: {len(schedule)} LRs; --to {args.to} needs {args.to + 1}, one per "
                         f"step 0..{args.to}")
    run = lossdoctor.load(args.path, readers=_readers(args))
    others = [lossdoctor.load(p) for p in args.calibrate or ()]
    from .fit import CannotExtrapolate
    try:
        result = extrapolate(run, args.to, scenarios=scenarios, level=args.level, schedule=schedule,
                             calibrate=others or None, reference=args.reference,
                             dataset_tokens=args.dataset_tokens)
    except CannotExtrapolate as e:  # name the run: the reason alone does not say which file (a folder: its log)
        raise InputError(run.source.split(" + ")[0] if os.path.isdir(args.path) else args.path, str(e)) from None
    if args.plot:
        from .report.plot import plot_extrapolation
        plot_extrapolation(run, result, args.plot)
    if args.format == "json":
        from .report.extrapolation import to_json
        sys.stdout.write(to_json(run, result) + "\n")
        return EXIT_OK
    if args.format == "markdown":
        from .report.markdown import extrapolation_markdown
        sys.stdout.write(extrapolation_markdown(run, result))
        return EXIT_OK
    from .report.extrapolation import render
    _console(args).print(render(run, result))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
