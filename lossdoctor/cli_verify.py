"""The `lossdoctor verify` command's argparse layer (cli.py holds the others).

Modes:
  lossdoctor verify --baseline LOG... --treatment LOG...   groups of existing runs, no training
  lossdoctor verify [--device cpu] [--budget 10m] ...      the default recommendations, by training
  lossdoctor verify RUN... [...]                           the runs' findings and gap, by training
  lossdoctor verify --extrapolation [RUN]                  extrapolate checked against training
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from .cli_exits import VERIFY_FAIL_ON, verify_exit

EPILOG = """\
verdicts: confirmed (the recommended direction, one-sided p < 0.01), refuted
(the other direction, or far smaller than claimed), no effect (the 98% interval
inside the equivalence margin), inconclusive, not verifiable here (with why).
docs/verify.md.

exit codes: 0, whatever the verdicts, unless --fail-on says otherwise: with
--fail-on refuted, 1 when an experiment's verdict goes against what it
recommends (refuted, or no effect where an effect is recommended; confirmed or
refuted where it recommends that the loss does not change); with
--fail-on unsupported, 1 also when one is inconclusive or not verifiable here,
or none ran; 2 a usage or input error.

examples:
  lossdoctor verify --device cpu --out verify-out   the default recommendations
  lossdoctor verify out/train.log                   what analyze said of a run
  lossdoctor verify laptop.log gpu.log              ... and of the gap of two
  lossdoctor verify --device cpu --device cuda      hardware or configuration?
  lossdoctor verify --extrapolation                 does extrapolate hold here?
  lossdoctor verify --baseline s1/train.log s2/train.log s3/train.log \\
                    --treatment t1/train.log t2/train.log t3/train.log
"""


def add_parser(sub: Any) -> None:
    from .cli_args import FORMAT_HELP, MIN_WIDTH
    from .cli_args import width as _width
    v = sub.add_parser("verify", help="settle recommendations by A/B experiments over seeds, with a "
                                      "significance test (or compare groups of existing runs)",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    v.add_argument("runs", nargs="*", metavar="RUN",
                   help="runs whose findings (and gap, for two or more) to verify by training")
    v.add_argument("--baseline", nargs="+", metavar="LOG", help="logs of the baseline config (one per seed)")
    v.add_argument("--treatment", nargs="+", metavar="LOG", help="logs of the treatment config (one per seed)")
    v.add_argument("--step", type=int, metavar="N", help="with groups: compare val at step N "
                                                          "(default: the last step every log evaluated)")
    v.add_argument("--expect", choices=("lower", "higher"), default=None,
                   help="with groups: the direction the treatment should move val (default lower)")
    v.add_argument("--paired", action="store_true",
                   help="with groups: the logs pair up in the order given (same seeds): paired t-test")
    v.add_argument("--device", action="append", metavar="DEV",
                   help="cpu, cuda, cuda:N, mps; given twice, the same config is also trained on both")
    v.add_argument("--budget", type=_duration, default=None, metavar="TIME",
                   help="time budget for training, e.g. 10m, 90s, 1h (default 10m)")
    v.add_argument("--only", action="append", metavar="ID",
                   help="run only these experiments (repeatable; a rule's code, LD101, will do)")
    v.add_argument("--executor", choices=("local", "devices", "torchrun", "ray"), default=None,
                   help="where arms train: local (in this process, default), devices (one process per GPU), "
                        "torchrun (each arm as a DDP run over --nproc processes), ray (a Ray cluster; "
                        "pip install 'lossdoctor[ray]')")
    v.add_argument("--nproc", type=int, default=None, metavar="N",
                   help="with --executor torchrun: processes per arm (default: the GPUs here, else 1)")
    v.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="with --executor ray: the cluster to join (default: RAY_ADDRESS, else a local Ray)")
    v.add_argument("--extrapolation", action="store_true",
                   help="check `lossdoctor extrapolate`: train to N, predict M, train to M, compare")
    v.add_argument("--data", metavar="DIR|FILE", help="training data (as lossdoctor train --data)")
    v.add_argument("--seeds", type=int, default=None, metavar="N",
                   help="seeds per arm to start with, at least 2 (default 3)")
    v.add_argument("--out", metavar="DIR", default=None,
                   help="where trainings and results are kept; run again to resume (default verify-out)")
    v.add_argument("--format", choices=("rich", "plain", "json", "markdown"), default=None, help=FORMAT_HELP)
    v.add_argument("--width", type=_width, default=None, metavar="N",
                   help=f"console width, at least {MIN_WIDTH} (default: terminal)")
    v.add_argument("--fail-on", choices=VERIFY_FAIL_ON, default=None,
                   help="exit 1 when an experiment's verdict goes against its recommendation (refuted: "
                        "refuted, or no effect where an effect is recommended; confirmed or refuted where it "
                        "recommends no change in the loss), or does not support it "
                        "(unsupported: also inconclusive or not verifiable here, or none ran); default: exit 0 "
                        "whatever the verdicts")
    v.add_argument("--debug", action="store_true", help="show tracebacks")
    v.set_defaults(func=cmd_verify)



def cmd_verify(args: argparse.Namespace) -> int:
    from .errors import UsageError
    if bool(args.baseline) != bool(args.treatment):
        raise UsageError("verify: give both --baseline and --treatment logs, or neither")
    group_only = [f for f, given in (("--step", args.step is not None), ("--expect", args.expect is not None),
                                     ("--paired", args.paired)) if given]
    if group_only and not args.baseline:
        raise UsageError(f"verify {group_only[0]}: it is for groups of logs (--baseline LOG... --treatment LOG...); "
                         "experiments that train measure their own metric")
    training = [f"--{k.replace('_', '-')}" for k in TRAINING_ONLY if getattr(args, k) not in (None, False)]
    if args.baseline:
        if args.runs:
            raise UsageError("verify: RUN arguments are for training experiments; with --baseline and "
                             "--treatment give the logs there")
        if training:
            raise UsageError(f"verify {training[0]}: it is for experiments that train; --baseline and --treatment "
                             "compare logs that exist")
        report = _groups(args)
    else:
        _training_defaults(args)
        try:
            report = _train(args)
        except KeyboardInterrupt as e:  # Ctrl-C 130, SIGTERM 143, as a shell reports them
            from .errors import Terminated
            how = "terminated" if isinstance(e, Terminated) else "interrupted"
            print(f"lossdoctor verify: {how}; every finished training is kept in {args.out}: run the same "
                  "command again to resume", file=sys.stderr)
            return 143 if isinstance(e, Terminated) else 130
        _save(report, args.out)
    _print(args, report)
    return verify_exit(report, args.fail_on)


# options of the modes that train; None (or False) where not given
TRAINING_ONLY = ("device", "budget", "only", "executor", "nproc", "ray_address", "extrapolation", "data", "seeds",
                 "out")


def _training_defaults(args: argparse.Namespace) -> None:
    """Fill in the training options' defaults, and refuse what contradicts them."""
    from .errors import UsageError
    defaults = {"budget": 600.0, "executor": "local", "seeds": 3, "out": "verify-out"}  # 10 minutes
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.seeds < 2:
        raise UsageError(f"verify --seeds {args.seeds}: at least 2 (the seed noise needs two runs per arm)")
    if args.nproc is not None and args.executor != "torchrun":
        raise UsageError("verify --nproc: it is for --executor torchrun (processes per arm)")
    if args.ray_address is not None and args.executor != "ray":
        raise UsageError("verify --ray-address: it is for --executor ray")
    _out_folder(args.out)


def _out_folder(out: str) -> None:
    """Refuse an --out that is a file, or lies under one: the trainings and results go in a
    folder, made where it is missing."""
    import os

    from .errors import UsageError
    here = os.path.abspath(out)
    while not os.path.exists(here) and os.path.dirname(here) != here:
        here = os.path.dirname(here)
    if not os.path.isdir(here):
        where = "is a file" if here == os.path.abspath(out) else f"lies under a file ({here})"
        raise UsageError(f"verify --out {out}: {where}, not a folder: give a folder for the trainings and results "
                         "(it is made where it is missing)")


def _save(report: Any, out: str) -> None:
    """The report's JSON beside the trainings, as OUT/verify.json (written whole, then renamed)."""
    import os

    from .fsio import atomic_text
    from .report.verify import to_json
    atomic_text(os.path.join(out, "verify.json"), to_json(report) + "\n")


def _groups(args: argparse.Namespace) -> Any:
    from .errors import UsageError
    from .readers import load
    from .verify.groups import verify_groups
    both = sorted({os.path.realpath(p) for p in args.baseline} & {os.path.realpath(p) for p in args.treatment})
    if both:
        raise UsageError(f"verify: {both[0]} is in both --baseline and --treatment: each log belongs to one arm")
    baseline = [load(p) for p in args.baseline]
    treatment = [load(p) for p in args.treatment]
    return verify_groups(baseline, treatment, step=args.step, expect=args.expect or "lower", paired=args.paired)


def _train(args: argparse.Namespace) -> Any:
    from .errors import UsageError
    from .verify.design import DEVICE
    devices = args.device or ["cpu"]
    bad = [d for d in devices if not DEVICE.match(d)]
    if bad:
        raise UsageError(f"verify --device {bad[0]}: not a device (cpu, cuda, cuda:N, mps)")
    if len(devices) > 2 or (len(devices) == 2 and devices[0] == devices[1]):
        raise UsageError("verify: give one --device, or two different ones to train the same config on both")
    seen = [os.path.realpath(p) for p in args.runs]
    if twice := next((p for i, p in enumerate(args.runs) if seen[i] in seen[:i]), None):
        raise UsageError(f"verify: {twice} is given twice: each run is verified once")
    if args.data is not None and not os.path.exists(args.data):  # said before a device that is absent hides it
        raise UsageError(f"verify --data {args.data}: no such file or directory")
    if args.extrapolation:
        _extrapolation_args(args, devices)
        return _extrapolation(args, devices[0])
    started = time.monotonic()
    experiments, base, notes, model, loaded = _experiments(args, devices[0])
    spent = time.monotonic() - started  # reading the runs and sizing the model
    if len(devices) == 2:
        from .verify.design import default_base_config, hardware_experiment
        experiments = (*experiments, hardware_experiment(devices[0], devices[1], base or default_base_config()))
    experiments = _only(args, experiments)
    from .verify.runner import run_experiments
    with _executor(args, devices[0]) as executor, _progress(args) as progress:
        return run_experiments(experiments, device=devices[0], budget_s=args.budget, seeds=args.seeds,
                               max_seeds=max(args.seeds, 6), out_dir=args.out, data=args.data, loaded=loaded,
                               progress=progress, base=base, notes=notes, scaled_model=model, executor=executor,
                               spent_s=spent)


def _experiments(args: argparse.Namespace, device: str) -> tuple[tuple[Any, ...], Any, tuple[str, ...], str, Any]:
    """(experiments, base config or None for the default, notes, how the model was shrunk,
    the data at args.data where it was loaded to size the model, else None)."""
    from .verify.design import default_experiments
    if not args.runs:
        return default_experiments(), None, (), "", None
    from .analysis import analyze
    from .trainer import load_data
    from .verify.from_runs import plan_from_runs
    from .verify.runner import absent_device
    from .verify.shrink import fit_model
    absent = absent_device(device) is not None  # every experiment is then `not verifiable here`
    analysis = analyze(list(args.runs))
    logged = _logged_data(analysis.runs[0]) if args.data is None else None
    from_log, data = logged is not None, None
    if logged is not None:  # the data the run's log names, found here: the experiments train on it too
        args.data, data = logged
    plan = plan_from_runs(analysis, "cpu" if absent else device)  # resolve() needs a device here
    notes = (*plan.notes, *_data_note(plan.base, args.data, from_log))
    if absent:  # nothing trains: no note of what training on this machine's CPU would change
        notes = tuple(n for n in notes if not n.startswith(("trained on ", "dtype ")))
    chosen = _only(args, plan.experiments)  # the model is sized for the experiments that will run
    if absent or all(e.kind == "code" for e in chosen):
        return chosen, plan.base, notes, "", None
    data = data if data is not None else load_data(args.data)  # loaded once: the experiments train on it
    shrunk, rescaled = fit_model(chosen, plan.base, args.budget, args.seeds, data)
    return rescaled, shrunk.config, (*notes, *([shrunk.text] if shrunk.text else [])), shrunk.text, data


def _logged_data(run: Any) -> tuple[str, Any] | None:
    """The data the run's log names (nanoGPT's `found vocab_size = N (inside
    PATH/meta.pkl)`, the trainer's text file), where it is readable here: a text file, or
    the data directory that holds the meta.pkl, with the data loaded; None otherwise."""
    from .errors import LossdoctorError
    from .trainer import load_data
    source = run.header.vocab_source
    if not source or source.startswith("gpt2"):
        return None
    path = source if not source.endswith(".pkl") else os.path.dirname(source) or "."
    try:
        return path, load_data(path)
    except LossdoctorError:
        return None


def _data_note(base: Any, data: str | None, from_log: bool = False) -> tuple[str, ...]:
    """Without --data the experiments train on the data the run's log names where it is
    found here, else on the embedded corpus (trainer.data): say which, unless that is what
    the run itself trained on."""
    from .trainer import EMBEDDED
    if from_log:
        return (f"the experiments train on the data the run's log names, {data} (--data gives other data)",)
    if data is not None or base["dataset"] == EMBEDDED:
        return ()
    return (f"the run trained on {base['dataset']!r}; without --data the experiments train on the embedded corpus "
            "(Python's own source text, not that data), where effects may differ: give the data with "
            "--data DIR|FILE (for tiny Shakespeare, its input.txt)",)


def _only(args: argparse.Namespace, experiments: tuple[Any, ...]) -> tuple[Any, ...]:
    from .errors import UsageError
    if not args.only:
        return experiments
    known = {e.id for e in experiments}
    codes = {e.id.split("-", 1)[0]: e.id for e in experiments if re.match(r"LD\d+-", e.id)}  # LD101 for LD101-...
    wanted = {codes.get(i, i) for i in args.only}
    unknown = [i for i in args.only if codes.get(i, i) not in known]
    if unknown:
        raise UsageError(f"verify --only {unknown[0]}: no such experiment (one of {', '.join(sorted(known))})")
    return tuple(e for e in experiments if e.id in wanted)


def _extrapolation_args(args: argparse.Namespace, devices: list[str]) -> None:
    """--extrapolation checks one config on one device: what it would not use is refused, not
    ignored."""
    from .errors import UsageError
    unused = [flag for flag, given in (("--only", args.only), ("a second --device", len(devices) > 1),
                                       ("a second RUN", len(args.runs) > 1),
                                       ("--executor", args.executor not in (None, "local"))) if given]
    if unused:
        raise UsageError(f"verify --extrapolation: {unused[0]} is not used by it (it trains one config, from the "
                         "first RUN or the default, on one device, here)")


def _extrapolation(args: argparse.Namespace, device: str) -> Any:
    from .trainer import load_data
    from .trainer.config import resolve
    from .verify.design import default_base_config
    from .verify.prediction import not_verifiable_report, run_extrapolation
    from .verify.runner import absent_device
    analysis = None
    if args.runs:  # read first: a RUN that cannot be read is an input error, whatever the device
        from .analysis import analyze
        analysis = analyze(list(args.runs[:1]), diagnose_runs=False)
    absent = absent_device(device)
    if absent is not None:
        return not_verifiable_report(device, args.budget, absent)
    base = default_base_config(device)
    notes: tuple[str, ...] = ()
    if analysis is not None:
        from .verify.from_runs import base_from_run
        base, notes = base_from_run(analysis, 0, device)
    base = resolve(base=base, overrides={"out_dir": args.out})
    with _progress(args) as progress:
        report = run_extrapolation(base, data=load_data(args.data), out_dir=args.out, budget_s=args.budget,
                                   seeds=args.seeds, progress=progress)
    return dataclasses.replace(report, notes=(*notes, *report.notes))


@contextlib.contextmanager
def _executor(args: argparse.Namespace, device: str) -> Iterator[Any]:
    """The executor of --executor (None: the runner's own, in this process), closed after."""
    if args.executor == "local":
        yield None
        return
    from .verify.executors import make_executor
    ex = make_executor(args.executor, device, None, args.data, nproc=args.nproc, address=args.ray_address)
    try:
        yield ex
    finally:
        close = getattr(ex, "close", None)
        if close is not None:
            close()


@contextlib.contextmanager
def _progress(args: argparse.Namespace) -> Iterator[Callable[[int, int, str], None] | None]:
    """A rich progress bar with an ETA on stderr; where stderr is not a terminal (a log
    file, CI), a line each time a new training starts, so that long work is never silent."""
    if not sys.stderr.isatty():
        last = [""]

        def line(done: int, total: int, what: str) -> None:
            if what != last[0]:
                last[0] = what
                print(f"lossdoctor verify: {what} ({done:,} of {total:,} steps done)", file=sys.stderr, flush=True)
        yield line
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
    bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[steps]}"),
                   TimeRemainingColumn(), console=Console(stderr=True), transient=True)
    task = bar.add_task("verify: timing", total=None, steps="")

    def update(done: int, total: int, what: str) -> None:
        bar.update(task, completed=done, total=total, description=what[:40], steps=f"{done:,}/{total:,} steps")

    with bar:
        yield update


def _print(args: argparse.Namespace, report: Any) -> None:
    fmt = args.format
    if fmt == "json":
        from .report.verify import to_json
        sys.stdout.write(to_json(report) + "\n")
    elif fmt == "markdown":
        from .report.verify import to_markdown
        sys.stdout.write(to_markdown(report))
    else:
        from .cli import _console
        from .report.verify import render
        _console(args).print(render(report))


def _duration(text: str) -> float:
    """'10m', '90s', '1h', '1h30m' or plain seconds -> seconds."""
    t = text.strip().lower()
    if re.fullmatch(r"-(\d+(\.\d+)?[hms]?)+", t):  # a duration below 0
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    if re.fullmatch(r"\d+(\.\d+)?", t):
        value = float(t)
    else:
        parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", t)
        if not parts or "".join(n + u for n, u in parts) != t:
            raise argparse.ArgumentTypeError(f"not a duration: {text} (e.g. 10m, 90s, 1h)")
        value = sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return value
