"""Groups of existing runs, no training: `lossdoctor verify --baseline LOG... --treatment LOG...`.

Each log is one sample: its final val (the last eval of the run's lineage), or its val at
one step that every log evaluated (`step`). The runs of a group must share their config:
a group whose runs differ in a key that changes what is learned or how it runs is refused,
naming the first such key and the two values. The two groups are compared with Welch's
t-test (unpaired: nothing ties the third baseline log to the third treatment log), or
with a paired t-test when the caller says the logs pair up in order (same seeds).
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..compare.sides import LEARNING_KEYS, MEASURE_KEYS, RUNTIME_KEYS, other_settings
from ..errors import InputError, UsageError, is_flag
from ..run import Run
from .results import ExperimentResult, VerifyReport
from .stats import Claim, Direction, Metric, noise_floor, verify

GROUP_KEYS = LEARNING_KEYS + RUNTIME_KEYS  # must agree within a group
MIN_PER_GROUP = 2


@dataclass(frozen=True)
class Sample:
    """One log's value."""

    source: str
    value: float  # val loss, nats
    step: int  # the step it was read at


def verify_groups(baseline: Sequence[Run], treatment: Sequence[Run], *, step: int | None = None,
                  expect: Direction = "lower", paired: bool = False) -> VerifyReport:
    """The two groups' val (final, or at `step`) compared: did the treatment move it the
    `expect` way?

    Raises:
        UsageError: fewer than 2 logs in a group, `paired` with groups of different sizes
            or with seeds shown that do not pair up one to one, an `expect` other than
            lower and higher, a group that is no list of Runs, a `step` that is no
            whole number, or a `paired` that is not True or False.
        InputError: a group mixes configs (the first differing key is named), a log is
            given twice (in a group, or in both), or a log has no val at the step compared.
    """
    if expect not in ("lower", "higher"):
        raise UsageError(f"expect: {expect!r} is not 'lower' or 'higher'")
    if not is_flag(paired):
        raise UsageError(f"paired: True or False, not {paired!r}")
    baseline, treatment, step = _checked(baseline, treatment, step)
    if paired and len(baseline) != len(treatment):
        raise UsageError(f"--paired: the groups differ in size ({len(baseline)} vs {len(treatment)})")
    ordered = _by_seed(baseline, treatment) if paired else None
    pairing = "by the seed each shows" if ordered is not None else "in the order given"
    treatment = ordered or treatment
    unit = _unit([*baseline, *treatment])
    at = step if step is not None else _common_final_step([*baseline, *treatment])
    if at == 0:
        raise InputError(baseline[0].source, "the eval compared is at step 0, before any training: each log's val "
                                             f"there is its model's initial loss; {_later([*baseline, *treatment])}")
    base = [_sample(r, at) for r in baseline]
    treat = [_sample(r, at) for r in treatment]
    val = "val loss" if unit == "nats" else f"val {unit}"  # nanochat's: val bpb
    metric = Metric(f"{val} at step {at:,}", unit, "lower", "loss")
    changed = _changed(baseline[0], treatment[0])
    # keys outside nanoGPT's (a fork's activation_type): no flag sets them
    other: list[tuple[str, object]] = [(d.key, d.reference) for d in other_settings(baseline[0], treatment[0])]
    flags = " ".join(f"--{k}={v!r}" if isinstance(v, str) else f"--{k}={v}" for k, v in changed)
    claim = Claim(metric, expect, recommendation=flags or "the treatment group's runs")
    result = verify([s.value for s in base], [s.value for s in treat], claim, paired=paired)
    how = (f"each log's val at step {at:,} is one sample ({len(base)} baseline, {len(treat)} treatment logs); "
           + (f"paired t-test on the per-pair differences (logs paired {pairing})" if paired
              else "Welch's t-test (unpaired groups)"))
    seeds = [r.config.trusted("seed") for r in baseline] if ordered is not None else []  # the pairs', by seed
    experiment = ExperimentResult("groups", _recommendation(changed + other, expect, val), flags, result, how,
                                  seeds=tuple(int(v) for v in seeds if isinstance(v, int) and not isinstance(v, bool)))
    notes = [] if changed or other else ["the two groups' logs show the same config: the difference tested is "
                                         "whatever the logs do not show (seeds, data, code)"]
    if other:
        keys = ", ".join(k for k, _ in other)
        notes.append(f"the groups differ in {keys} too, which no nanoGPT flag sets: the difference tested is "
                     "theirs as much as the flags'" if changed else
                     f"the groups differ in {keys} alone, which no nanoGPT flag sets: the difference tested is "
                     "theirs (no flags)")
    noise = noise_floor([s.value for s in base], [s.value for s in treat], paired=paired, unit=unit)
    return VerifyReport((experiment,), noise, "", None, tuple(notes))


def _unit(runs: Sequence[Run]) -> str:
    """The logs' val unit (nats, or nanochat's bits per byte), the same in every log: a
    loss in nats per token and one in bits per byte do not compare."""
    first = runs[0].measures.val_unit
    if (other := next((r for r in runs if r.measures.val_unit != first), None)) is not None:
        raise InputError(other.source, f"val in {other.measures.val_unit}, where {runs[0].source} has it in "
                                       f"{first}: a loss per token and bits per byte compare only through the "
                                       "tokenizer's bytes per token, which the logs do not give")
    return first


def _by_seed(baseline: list[Run], treatment: list[Run]) -> list[Run] | None:
    """The treatment logs in the order of the baseline's seeds, where every log shows its
    seed; None where one does not. Raises UsageError where the two groups' seeds differ:
    --paired pairs runs of the same seed."""
    seeds = [[r.config.trusted("seed") for r in g] for g in (baseline, treatment)]
    if any(v is None for g in seeds for v in g):
        return None
    if sorted(map(repr, seeds[0])) != sorted(map(repr, seeds[1])) or len(set(map(repr, seeds[0]))) < len(seeds[0]):
        raise UsageError(f"--paired: the baseline's seeds ({', '.join(map(str, seeds[0]))}) and the treatment's "
                         f"({', '.join(map(str, seeds[1]))}) do not pair up one to one; leave --paired out")
    by_seed = {repr(v): r for v, r in zip(seeds[1], treatment, strict=True)}
    return [by_seed[repr(v)] for v in seeds[0]]


def _checked(baseline: Sequence[Run], treatment: Sequence[Run], step: object
             ) -> tuple[list[Run], list[Run], int | None]:
    """The groups as lists and the step as an int, or the UsageError or InputError that
    verify_groups documents: no list of Runs, a step that is no whole number, a group of
    one, a log given twice, a group that mixes configs, a run in both groups."""
    if isinstance(baseline, Run) or isinstance(treatment, Run):
        raise UsageError("baseline and treatment: a list of Runs each (one per seed), not one Run")
    try:
        base, treat = list(baseline), list(treatment)  # a generator is read once
    except TypeError:
        raise UsageError("baseline and treatment: a list of Runs each (one per seed)") from None
    if not all(isinstance(r, Run) for r in (*base, *treat)):
        raise UsageError("baseline and treatment: Run objects (lossdoctor.load), not paths")
    if step is not None and (isinstance(step, bool) or not isinstance(step, numbers.Integral)):
        raise UsageError(f"step: a whole number of steps, not {step!r}")
    for name, group in (("baseline", base), ("treatment", treat)):
        if len(group) < MIN_PER_GROUP:
            raise UsageError(f"--{name}: give at least {MIN_PER_GROUP} logs (one per seed); got {len(group)}")
        _distinct(group, name)
        _same_config(group, name)
    for run in treat:
        if (twin := next((r for r in base if _same_run(run, r)), None)) is not None:
            raise InputError(run.source, f"is in both --baseline and --treatment (as {twin.source}): a run has no "
                                         "difference with itself")
    return base, treat, None if step is None else int(step)


def _same_run(a: Run, b: Run) -> bool:
    """Whether two logs are one run: the same file (and run in it), or the same losses."""
    def where(r: Run) -> tuple[str, str]:
        path, _, name = r.source.partition("#")
        return os.path.realpath(path), name
    ev, it = a.curves()
    return where(a) == where(b) or (len(ev) + len(it) > 0 and a.same_losses(b))


def _distinct(group: Sequence[Run], name: str) -> None:
    """Refuse a log given twice in a group (the same file, or the same losses): one run is
    one sample, and a copy would be counted as a seed of its own."""
    for i, run in enumerate(group):
        if (twin := next((r for r in group[:i] if _same_run(run, r)), None)) is not None:
            raise InputError(run.source, f"--{name} holds this run twice (as {twin.source} too): each log is "
                                         "one seed, and a copy would count as another")


def _same_config(group: Sequence[Run], name: str) -> None:
    first = group[0]
    for run in group[1:]:
        for key in GROUP_KEYS:
            a, b = _value(first, key), _value(run, key)
            if a is not None and b is not None and a != b:
                raise InputError(run.source, f"--{name} mixes configs: {key} is {b!r} here but {a!r} in "
                                             f"{first.source}; a group holds runs of one config (seeds only)")
        for d in other_settings(first, run):  # a fork's or a table's own keys (activation_type, ...)
            raise InputError(run.source, f"--{name} mixes configs: {d.key} is {d.reference!r} here but {d.other!r} in "
                                         f"{first.source}; a group holds runs of one config (seeds only)")


def _value(run: Run, key: str) -> object:
    cv = run.config.values.get(key)
    return cv.value if cv is not None and cv.known else None


def _changed(base: Run, treat: Run) -> list[tuple[str, object]]:
    """(key, treatment's value) for each key the groups' configs differ in."""
    out = []
    for key in GROUP_KEYS + MEASURE_KEYS:
        a, b = _value(base, key), _value(treat, key)
        if b is not None and a != b:
            out.append((key, b))
    return out


def _recommendation(changed: list[tuple[str, object]], expect: Direction, val: str = "val loss") -> str:
    what = ", ".join(f"{k} {v!r}" for k, v in changed) if changed else "the treatment group"
    return f"{what}: {val} {expect} than the baseline group"


def _common_steps(runs: Sequence[Run]) -> set[int]:
    """The steps every run evaluated at."""
    steps: set[int] | None = None
    for run in runs:
        ev, _ = run.curves()
        if not len(ev):
            raise InputError(run.source, "no val evals in this log: nothing to compare")
        mine = set(int(s) for s in ev.step)
        steps = mine if steps is None else steps & mine
    return steps or set()


def _common_final_step(runs: Sequence[Run]) -> int:
    """The last step every run evaluated at (its final eval when all runs end alike)."""
    steps = _common_steps(runs)
    if not steps:
        raise InputError(runs[-1].source, f"the logs share no eval step; {_evals(runs)}")
    return max(steps)


def _later(runs: Sequence[Run]) -> str:
    """What to pass instead of step 0: the later steps every log evaluated at, or that
    there are none, with the logs' evals."""
    later = sorted(s for s in _common_steps(runs) if s > 0)
    if later:
        shown = ", ".join(f"{s:,}" for s in later[-3:])
        return f"pass --step N for a later step all the logs evaluated at ({'..., ' if len(later) > 3 else ''}{shown})"
    return f"the logs share no later eval step; {_evals(runs)}"


def _evals(runs: Sequence[Run]) -> str:
    """The logs' eval steps, each distinct pattern once, to pick a common --step from."""
    seen: list[str] = []
    for run in runs:
        ev, _ = run.curves()
        steps = sorted({int(s) for s in ev.step})  # an eval logged twice (a resume) once
        gaps = {b - a for a, b in zip(steps, steps[1:], strict=False)}
        said = (f"every {gaps.pop():,} steps from {steps[0]:,} to {steps[-1]:,}" if len(gaps) == 1
                else ", ".join(f"{s:,}" for s in steps[:6]) + (", ..." if len(steps) > 6 else ""))
        if said not in seen:
            seen.append(said)
    return "their evals: " + "; ".join(seen) + "; compare logs that evaluated at a step in common"


def _sample(run: Run, step: int) -> Sample:
    ev, _ = run.curves()
    hit = np.flatnonzero(ev.step == step)
    if not len(hit):
        have = f"{int(ev.step[0]):,} to {int(ev.step[-1]):,}" if len(ev) else "none"
        raise InputError(run.source, f"no eval at step {step:,} in this log (its evals: {have})")
    value = float(ev.val[hit[-1]])
    if not np.isfinite(value):
        raise InputError(run.source, f"val at step {step:,} is not a number")
    return Sample(run.source, value, step)
