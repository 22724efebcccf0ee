"""One call from paths to runs, their facts and their findings: what `lossdoctor analyze`
shows."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .compare import Comparison, compare
from .compare.records import RecordStats, record_stats
from .diagnose import Diagnosis, RuleSet, diagnose, load_rules
from .errors import InputError, UsageError, checked_path, is_flag
from .facts import Facts, compute_facts
from .nanogpt import CKPT_NAME
from .readers import Reader, discover, load_many
from .run import Dialect, Run

if TYPE_CHECKING:
    from .fit import Extrapolator


@dataclass(frozen=True)
class Analysis:
    """The runs read from the given paths, each with its derived facts and its diagnosis
    (the rules' findings)."""

    runs: tuple[Run, ...]  # in the order the paths gave them
    facts: tuple[Facts, ...]  # one per run, in that order
    diagnoses: tuple[Diagnosis, ...] = ()  # one per run, in that order; () with diagnose_runs=False
    rule_errors: tuple[str, ...] = ()  # rule files that did not load (the rest did)
    comparison: Comparison | None = None  # two or more runs: why the worse one is worse
    records: RecordStats | None = None  # two or more modded-nanogpt runs: the record rules' t-test
    fits: tuple[Extrapolator, ...] = field(default=(), compare=False, repr=False)  # one per run, shared by all
    skipped: tuple[str, ...] = ()  # with no paths given: files found here that hold no run, each with why


def analyze(paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str] | None = None, *,
            peak_flops: float | None = None,
            dataset_tokens: int | None = None, rules: RuleSet | None = None,
            rules_dirs: list[str] | str | None = None, diagnose_runs: bool = True,
            compare_runs: bool = True, readers: Sequence[Reader | str] | str | None = None,
            distinct: bool = False) -> Analysis:
    """Read each path (a log, a ckpt.pt, a run directory), derive its facts and apply the
    rules (built-in, plus `rules_dirs`, one folder or a list; or exactly `rules`). Two or
    more runs are compared: the gap between the best and the worst final val, cause by cause
    (compare.py). Each run is fitted once (fit.Extrapolator); rule effects and the
    comparison share that fit.

    With no paths (None), looks in the current directory for logs and `out*` run
    directories (a file found there that holds no run is skipped, with why, in `skipped`);
    an empty list is a UsageError (a glob that matched nothing), as is a flag
    (`diagnose_runs`, `compare_runs`, `distinct`) that is not True or False.
    A checkpoint given right after its own log is merged into that log's run. A file that
    holds several runs (a W&B panel export, a runs table) gives each of them. `readers`
    forces the formats tried, as Reader objects or format names (default: every format in
    the registry, detected). `distinct`: one run given twice (the same file, or a folder
    and the log it reads) is a UsageError, as on the command line; by default it is
    compared with itself.
    """
    skipped: list[str] = []
    if rules is not None and not isinstance(rules, RuleSet):
        raise UsageError(f"analyze: rules is a RuleSet (lossdoctor.diagnose.load_rules), not {rules!r}")
    if rules_dirs is not None and not isinstance(rules_dirs, (str, os.PathLike, list, tuple)):
        raise UsageError(f"analyze: rules_dirs is a folder or a list of folders, not {rules_dirs!r}")
    if paths is not None and not isinstance(paths, (str, os.PathLike, list, tuple)):
        raise UsageError(f"analyze: paths are a path or a list of them, not {type(paths).__name__} ({paths!r})")
    if isinstance(paths, (list, tuple)) and not paths:  # a glob that matched nothing: not "look around here"
        raise UsageError("analyze: paths is an empty list; give paths, or None to look in the current directory")
    for name, flag in (("diagnose_runs", diagnose_runs), ("compare_runs", compare_runs), ("distinct", distinct)):
        if not is_flag(flag):
            raise UsageError(f"analyze: {name} is True or False, not {flag!r}")
    listed = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths or ())  # one path, not its characters
    given = [checked_path("analyze", p) for p in listed]
    if given:
        if distinct:
            _twice(given)
        runs = tuple(load_many(given, readers=readers))
        if empty := next((r for r in runs if _nothing_logged(r)), None):
            raise InputError(empty.source, _nothing_text(empty))
        if distinct:
            # a folder and the log it reads (a folder with a ckpt.pt: "LOG + CKPT")
            _twice([r.source.split(" + ")[0] for r in runs], read=True)
    else:
        found, skipped = _discovered(readers)
        kept = []
        for r in found:  # a file that logged nothing is skipped, with why, as one that holds no run
            if _nothing_logged(r):
                skipped.append(f"{r.source}: {_nothing_text(r)}")
            else:
                kept.append(r)
        runs = tuple(kept)
    from .fit import Extrapolator
    facts = tuple(compute_facts(r, peak_flops=peak_flops, dataset_tokens=dataset_tokens) for r in runs)
    # each run fitted once, for every question asked of it
    fits = tuple(Extrapolator(r, dataset_tokens=dataset_tokens) for r in runs)
    comparison = compare(list(runs), list(facts), fits) if compare_runs and len(runs) > 1 else None
    records = record_stats(runs)
    if not diagnose_runs:
        return Analysis(runs, facts, comparison=comparison, records=records, fits=fits, skipped=tuple(skipped))
    if rules is None:
        rules = load_rules([rules_dirs] if isinstance(rules_dirs, (str, os.PathLike)) else rules_dirs)
    diagnoses = tuple(diagnose(r, f, rules, x) for r, f, x in zip(runs, facts, fits, strict=True))
    if comparison is not None:  # advice to the better run that the worse run already ran
        from dataclasses import replace

        from .compare.crosscheck import gone_on, not_borne_out, oom_not_borne_out
        comparison = gone_on(not_borne_out(comparison, runs, diagnoses), runs, diagnoses)
        comparison = replace(comparison, notes=comparison.notes + oom_not_borne_out(runs, facts, diagnoses))
    return Analysis(runs, facts, diagnoses, tuple(str(e) for e in rules.errors), comparison, records, fits,
                    tuple(skipped))


BOOKKEEPING = ("epoch", "epoch_index")  # series a trainer writes with no metric logged
# files that hold a trainer's settings whatever it logged: their config is no sign of a run
SETTINGS_FILES = (Dialect.HF_TRAINER, Dialect.LIGHTNING, Dialect.WANDB_PANEL, Dialect.WANDB_RUNS,
                  Dialect.WANDB_SUMMARY, Dialect.CSV)


def _nothing_logged(run: Run) -> bool:
    """No eval, no iteration, no further metric, no end-of-run value, no config, no
    checkpoint and no event (a crash, a stop): a file of a known format that recorded
    nothing, such as a trainer_state.json whose log_history is empty or a metrics CSV of its
    header alone (a trainer's epoch count and its settings are no metric). Rules would pass
    on it; there is nothing to judge. (A nanoGPT log of its header alone, a run just
    started, is judged: the config rules apply.)"""
    metrics = [s for name, s in run.series.items() if name not in BOOKKEEPING]
    printed = run.config.seen and run.format.has_log and run.format not in SETTINGS_FILES  # a header, not a file's
    return not (len(run.evals) or len(run.iters) or any(len(s.value) for s in metrics)
                or run.summary or printed or run.checkpoint is not None or run.events)


def _nothing_text(run: Run) -> str:
    return (f"holds no loss or metric value: nothing to judge until the run logs one (read as "
            f"{'; '.join((run.format.value, *run.notes))})")


def _twice(paths: list[str], read: bool = False) -> None:
    """Raise UsageError where one file is given twice (`read`: the runs' sources, where a
    folder reads a log given too): a run compared with itself."""
    seen: dict[str, str] = {}
    for p in paths:
        key = os.path.realpath(p) if os.path.exists(p) else p
        if key in seen and p != "-":  # stdin twice is load_many's to refuse
            twice = (f"{p} is read twice (a folder given reads its log)" if read else
                     f"{p} is given twice (as {seen[key]} before it)")
            raise UsageError(f"{twice}: a run compared with itself has no gap; give two different runs")
        seen[key] = p


def _discovered(readers: Sequence[Reader | str] | str | None) -> tuple[list[Run], list[str]]:
    """The runs of the logs and run directories found here (readers.discover), and for each
    file that holds none, the reader's one-line reason: a stray file that merely looks like
    a log does not stop the rest."""
    found = discover(".")
    good: list[str] = []
    skipped: list[str] = []
    try:  # together: a checkpoint joins the log before it
        runs = load_many(found, readers=readers)
    except InputError:  # one of them holds no run: find which, and read the others
        for p in found:
            try:
                load_many([p], readers=readers)
                good.append(p)
            except InputError as e:
                ck = os.path.join(p, CKPT_NAME)
                if os.path.isdir(p) and os.path.isfile(ck):  # a folder whose log does not read: its checkpoint
                    good.append(ck)
                skipped.append(str(e))
        runs = load_many(good, readers=readers) if good else []
    if not runs:
        from .readers import LOOKS_FOR
        raise InputError(".", f"no training log or out* run directory found in the current directory "
                              f"(looked for {LOOKS_FOR})" + (f"; {'; '.join(skipped)}" if skipped else ""))
    return runs, skipped
