"""The LR schedule of each way to reach a later step, with its exact nanoGPT flags."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Union

import numpy as np

from ..errors import UsageError
from ..nanogpt import flag_value
from ..run import PRINTS_SAVES, Run
from .limits import as_float, shown
from .lr import LR_SETTINGS, GetLr, Schedule
from .points import CannotExtrapolate, Curves
from .results import Path, Scenario


@dataclass(frozen=True)
class CustomSchedule:
    """get_lr arguments for scenario 'custom'; None keeps the run's own."""

    warmup_iters: int | None = None
    lr_decay_iters: int | None = None
    min_lr: float | None = None
    learning_rate: float | None = None
    decay_lr: bool | None = None

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> CustomSchedule:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UsageError(f"unknown schedule key {unknown[0]!r} (use {', '.join(sorted(known))})")
        return cls(**dict(values))

    def over(self, params: GetLr) -> GetLr:
        """The run's get_lr arguments with this schedule's in their place."""
        return params._replace(**{f.name: getattr(self, f.name) for f in fields(self)
                                  if getattr(self, f.name) is not None})


# a custom schedule: get_lr arguments (a dict of them too), or the LR of every step
CustomLr = Union[CustomSchedule, Mapping[str, Any], np.ndarray]


def custom(schedule: CustomLr) -> CustomSchedule | np.ndarray:
    """A custom schedule as a CustomSchedule or an array of per-step LRs, each value checked
    as the CLI's --schedule checks it (UsageError: a bad argument)."""
    if isinstance(schedule, (CustomSchedule, Mapping)):
        sched = schedule if isinstance(schedule, CustomSchedule) else CustomSchedule.of(schedule)
        for f in fields(sched):
            check_value(f.name, getattr(sched, f.name))
        # a whole number of steps given as 100.0 is train.py's int 100 (its configurator
        # refuses a float for an int key), as the CLI's --schedule reads it
        whole: dict[str, Any] = {k: int(as_float(v)) for k, (kind, _) in SCHEDULE_KINDS.items()
                                 if kind is int and (v := getattr(sched, k)) is not None and not isinstance(v, int)}
        return replace(sched, **whole)
    try:
        lr = np.asarray(schedule, float)
    except (TypeError, ValueError):
        raise UsageError("a per-step schedule must be numbers, one LR per step") from None
    if lr.ndim != 1 or not np.isfinite(lr).all() or (lr < 0).any():
        raise UsageError("a per-step schedule must be one finite, non-negative LR per step")
    return lr


# (type, least value) of each numeric CustomSchedule key; learning_rate must be above its least
SCHEDULE_KINDS: dict[str, tuple[type, float]] = {"warmup_iters": (int, 0), "lr_decay_iters": (int, 1),
                                                 "min_lr": (float, 0.0), "learning_rate": (float, 0.0)}


def check_value(key: str, value: object) -> None:
    """Refuse a schedule value no get_lr takes (UsageError naming it), from Python
    or from the CLI's --schedule alike."""
    if value is None:
        return
    if key == "decay_lr":
        if not isinstance(value, bool):
            raise UsageError(f"schedule: decay_lr={shown(value)} is not True or False")
        return
    kind, least = SCHEDULE_KINDS[key]
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise UsageError(f"schedule: {key}={shown(value)} is not a number")
    number = as_float(value)
    if not math.isfinite(number) or number < least or (key == "learning_rate" and number == 0):
        bound = "above 0" if key == "learning_rate" else f"at least {least:g}"
        raise UsageError(f"schedule: {key}={shown(value)} must be a finite number {bound}")
    if kind is int and number != int(number):
        raise UsageError(f"schedule: {key}={shown(value)} is not a whole number of steps")


def lr(name: str, sched: CustomSchedule | np.ndarray | None, run: Schedule, last: int, to: int,
       resumed: bool = False) -> tuple[np.ndarray, str]:
    """(LR at steps 0..to, flags) of scenario `name` (rerun, resume, constant or custom)
    after the run's `last` step; `sched` is the custom schedule. `resumed`: the run's last
    process ran with init_from=resume, so its command, given a fresh run's flags, would
    resume: those flags start with --init_from=scratch."""
    # a continuation at another LR (Schedule.origin): the fresh run and the cosine resume are
    # the run's original schedule's, its settings restored by flags over the last command's
    params = run.base
    restore = _restore(params, run.params)
    decay = f" --lr_decay_iters={to}" if params.decay_lr else ""  # train.py ignores it with decay_lr=False
    fresh = "--init_from=scratch " if resumed else ""
    if name == "rerun":
        lr = params._replace(lr_decay_iters=to).lr(np.arange(to + 1))
        return lr, f"{fresh}--max_iters={to}{restore}{decay}"
    if name == "resume":
        new = params._replace(lr_decay_iters=to).lr(np.arange(last, to + 1))
        return (np.concatenate([run.lr(0, last), new]), f"--init_from=resume --max_iters={to}{restore}{decay}")
    if name == "constant":  # on at its last process's min_lr (where its schedule ends)
        lr = np.concatenate([run.lr(0, last), np.full(to + 1 - last, run.params.min_lr)])
        return lr, (f"--init_from=resume --max_iters={to} --decay_lr=False "
                    f"--learning_rate={flag_value(run.params.min_lr, 'learning_rate')}")
    if name == "custom":
        if isinstance(sched, CustomSchedule):
            # a run that never decayed, given a decaying schedule: the keys left out are its config's
            dormant = run.dormant if run.origin is None and sched.decay_lr is not False else None
            p = sched.over(dormant._replace(decay_lr=True) if dormant is not None else params)
            _same_peak(p.learning_rate, params.learning_rate, "learning_rate")
            restore = "" if p.decay_lr == run.params.decay_lr else f" --decay_lr={p.decay_lr}"
            if p.decay_lr:
                _decaying(p, to)
            else:
                _constant(sched)
            peak = flag_value(p.learning_rate, "learning_rate")
            shape = (f" --warmup_iters={p.warmup_iters} --lr_decay_iters={p.lr_decay_iters} "
                     f"--min_lr={flag_value(p.min_lr, 'min_lr')}" if p.decay_lr else "")  # get_lr's, read by it alone
            return p.lr(np.arange(to + 1)), f"{fresh}--max_iters={to} --learning_rate={peak}{shape}{restore}"
        if sched is None:
            raise UsageError("scenario 'custom' needs a schedule")
        if len(sched) < to + 1:
            raise UsageError(f"the per-step schedule gives {len(sched)} LRs; {to + 1} are needed (steps 0 to {to:,})")
        _same_peak(float(np.max(sched[:to + 1])), params.learning_rate, "the per-step schedule's largest LR")
        return sched[:to + 1], f"{fresh}--max_iters={to}"  # no flag sets per-step LRs (notes.PER_STEP says so)
    raise CannotExtrapolate(f"unknown scenario {name!r}")


def _decaying(p: GetLr, to: int) -> None:
    """Refuse a decaying custom schedule get_lr cannot run, or one the law cannot follow to
    `to`: still inside its warmup there (UsageError / CannotExtrapolate naming it)."""
    if p.warmup_iters == p.lr_decay_iters:  # get_lr's (it - warmup) / (decay - warmup)
        raise UsageError(f"schedule: warmup_iters = lr_decay_iters = {p.lr_decay_iters:,}: nanoGPT's get_lr "
                         f"divides by zero at step {p.lr_decay_iters:,} (give lr_decay_iters above it)")
    if p.min_lr > p.learning_rate:
        raise CannotExtrapolate(f"the schedule's min_lr ({p.min_lr:g}) is above its learning_rate "
                                f"({p.learning_rate:g})")
    if p.warmup_iters >= to:
        raise CannotExtrapolate(f"the schedule is still in its warmup at step {to:,} (warmup_iters "
                                f"{p.warmup_iters:,}): the law is fitted past the run's warmup, near the peak LR, "
                                "and does not model training inside one")


def _constant(sched: CustomSchedule) -> None:
    """Refuse get_lr's keys given with decay_lr=False: train.py does not read them (UsageError)."""
    given = [k for k in ("warmup_iters", "lr_decay_iters", "min_lr") if getattr(sched, k) is not None]
    if given:
        them = "them" if len(given) > 1 else "it"
        raise UsageError(f"schedule: with decay_lr=False train.py reads no {', '.join(given)} (its LR is "
                         f"learning_rate at every step, with no warmup): leave {them} out")


def resume_step(run: Run, cur: Curves) -> tuple[int, str | None]:
    """The step `resume` and `constant` go on from: what a resume would load, where the
    run shows it is not its last step (`cur.last`): the step of a ckpt.pt given with the
    log, else of the last save its last process printed, else, where that process resumed
    and printed no save, the step it resumed from (its checkpoint is still that one), else,
    with always_save_checkpoint False, of its best val after step 0 (train.py then saves
    only when val improves); and why, or None where that is the last step."""
    last = cur.last
    ck = run.checkpoint
    if ck is not None and ck.iter_num is not None:
        return (ck.iter_num, f"the checkpoint given holds step {ck.iter_num:,}") if ck.iter_num < last else (last, None)
    saves = [s for s in run.last_process_saves() if s is not None]
    if saves:
        return (saves[-1], f"its last checkpoint save is at step {saves[-1]:,}") if saves[-1] < last else (last, None)
    seg = run.segments[-1] if run.segments else None
    if seg is not None and seg.init_from == "resume" and seg.first_step is not None and seg.first_step < last \
            and run.format in PRINTS_SAVES:
        return seg.first_step, "its last process printed no save: the checkpoint is the one it resumed from"
    later = cur.ev_step > 0
    if run.config.trusted("always_save_checkpoint") is False and later.any():
        best = int(cur.ev_step[later][int(np.argmin(cur.ev_val[later]))])
        if best < last:
            return best, (f"always_save_checkpoint=False: its checkpoint holds the best val's step, {best:,}")
    return last, None


def _restore(origin: GetLr, last: GetLr) -> str:
    """Flags that set `origin`'s LR settings over the `last` command's, where they differ
    (" --learning_rate=0.002 --min_lr=0.0002 --decay_lr=True"); "" where none does."""
    out = ""
    for key in LR_SETTINGS:
        v, was = getattr(origin, key), getattr(last, key)
        if v != was:  # (origin decays: lr.read sets it only then, so every key of it matters)
            out += f" --{key}={flag_value(v, key)}"
    return out


def _same_peak(peak: float, runs: float, what: str) -> None:
    """Refuse a custom schedule whose peak LR is not the run's: the laws count the LR over
    its peak, so a fresh run at another peak would be predicted as if at the run's."""
    if not math.isclose(peak, runs, rel_tol=0.01):
        raise CannotExtrapolate(f"{what} {peak:g} is not the run's peak LR ({runs:g}): the law counts the LR "
                                "relative to its peak, and one run does not show how the loss depends on the peak "
                                "(`lossdoctor verify` can train both)")


ASKED = ("rerun", "resume", "constant", "custom")  # what a caller may ask for ("observed" is an answer)


def names(scenarios: object) -> tuple[str, ...]:
    """The scenario names asked for: one name (not its letters) or several, each one of
    ASKED (none: with a schedule, 'custom' alone); UsageError otherwise."""
    got = (scenarios,) if isinstance(scenarios, str) else scenarios
    if not isinstance(got, (tuple, list)):
        raise UsageError(f"scenarios: one or more of {', '.join(ASKED)}, not {shown(scenarios)}")
    bad = [s for s in got if s not in ASKED]
    if bad:
        hint = " (a target inside the run gives it)" if bad[0] == "observed" else ""
        raise UsageError(f"scenarios: {shown(bad[0])} is not one of {', '.join(ASKED)}{hint}")
    return tuple(dict.fromkeys(got))  # each once, as the CLI asks them


def named(scenarios: tuple[str, ...], custom: CustomSchedule | np.ndarray | None, to: int, last: int
          ) -> list[tuple[str, CustomSchedule | np.ndarray | None]]:
    """The scenarios to predict at `to`, each with its custom schedule: inside the observed
    range "observed" (the run as it ran) and 'custom' where a schedule is given (the run's
    law under another schedule, a fresh run's); beyond it, 'custom' wherever a schedule is
    given."""
    out: list[tuple[str, CustomSchedule | np.ndarray | None]] = (
        [("observed", None)] if to <= last else [(s, None) for s in scenarios if s != "custom"])
    if custom is not None or "custom" in scenarios:
        if custom is None:
            raise UsageError("scenario 'custom' needs a schedule")
        out.append(("custom", custom))
    if not out:
        raise UsageError(f"no scenario to predict: name one or more of {', '.join(ASKED)}")
    return out


def key(custom: CustomSchedule | np.ndarray | None) -> object:
    """A custom schedule as a key of the extrapolations made (an array by its digest)."""
    if isinstance(custom, np.ndarray):
        return ("lr", len(custom), hashlib.sha1(np.ascontiguousarray(custom).tobytes()).hexdigest())
    return custom


def frozen_from(rate: np.ndarray, start: int, to: int) -> int:
    """The step from which `rate` (the LR at steps 0..to) is 0 through `to`, at least
    `start` (where a continuation goes on from): no step after it updates a weight, so the
    loss at `to` is the loss there; `to` where the step before `to` has a LR above 0."""
    moving = np.flatnonzero(rate[:to] > 0)
    if len(moving) and moving[-1] == to - 1:
        return to
    return max(int(moving[-1]) + 1 if len(moving) else 0, start)


def held(sc: Scenario, there: Scenario, frozen: int, at: int, to: int) -> Scenario:
    """Scenario `sc` at `to`, whose LR is 0 from step `frozen` on: `there`, the same
    scenario predicted at `at` (`frozen`, or one step past the run where that is inside
    it), with `sc`'s flags and its path held flat to `to`, said."""
    path = there.path
    if path is not None and path.steps and path.steps[-1] < to:
        path = Path((*path.steps, to), (*path.values, path.values[-1]))
    past = f" (predicted one step past the run, at {at:,})" if at != frozen else ""
    said = (f"its LR is 0 from step {frozen:,}: no later step updates a weight, so the loss at step {to:,} is the "
            f"loss there, as predicted{past}")
    return replace(there, flags=sc.flags, path=path, note="; ".join(filter(None, (there.note, said))))


def held_notes(notes: list[str], there: tuple[str, ...], name: str) -> list[str]:
    """The notes with those that quote scenario `name`'s values (they begin with its name)
    taken from its prediction where it is held (`there`), not at the target."""
    def of(n: str) -> bool:
        return n.startswith((f"{name} ", f"{name}'s ", f"{name}:"))
    return [n for n in notes if not of(n)] + [n for n in there if of(n)]
