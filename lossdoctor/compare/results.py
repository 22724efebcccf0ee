"""What a comparison of runs returns, as frozen dataclasses (the JSON form is report/compare.py's)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from typing import ClassVar, NamedTuple, TypeAlias

ConfigScalar: TypeAlias = bool | int | float | str | None  # a config value as the log showed it
UNKNOWN_ORIGIN = "unknown: the log does not show it"  # a KeyDiff side of a run without a header or that key
RESUMED_ORIGIN = "unknown: the log begins at step"  # a schedule key of a log that begins with a resume
CHANGED_ORIGIN = "unknown: the log resumed at step"  # a schedule key a resume within the log changed


@dataclass(frozen=True)
class Cause:
    """One step of the path from the worse run to the better one."""

    cause: str
    delta_val: float  # nats of the gap (worse - better) this cause accounts for
    interval: tuple[float, float]  # 80%
    method: str

    @property
    def by_construction(self) -> bool:
        """A share of 0 that the path gives by construction (equal lengths, the same
        schedule shape), not an estimate: no interval."""
        return self.delta_val == 0.0 and self.interval == (0.0, 0.0)


@dataclass(frozen=True)
class KeyDiff:
    """A config key whose effective value differs between the runs."""

    key: str
    other: ConfigScalar  # the worse run's value (None: unknown)
    reference: ConfigScalar  # the better run's value
    # default | config file | override | checkpoint | config dump | unknown | UNKNOWN_ORIGIN
    origin_other: str
    origin_reference: str
    kind: str  # learning | runtime | measurement


def keys_text(diffs: Iterable[KeyDiff]) -> str:
    """'batch_size 32 vs 64, dropout 0.0 vs 0.1': keys as the worse run and the better set them."""
    return ", ".join(f"{d.key} {d.other} vs {d.reference}" for d in diffs)


class WentOn(NamedTuple):
    """The worse run is the better run gone on (Comparison.went_on)."""

    step: int  # the step it went on from
    rewarmed: bool  # its resume put the LR back up its schedule
    overwritten: bool  # it saved over the better run's checkpoint (a save after the resume, same out_dir)
    lr: float | None = None  # the LR the better run's schedule had reached at `step` (None: not shown)
    ld706: bool = False  # LD706 finds the re-warm (the log holds the process before the resume)
    end: int | None = None  # the worse run's last step: as far as going on without the bump would go


class Pair(NamedTuple):
    """One quantity of both runs: int or float, None where unknown."""

    other: float | None  # the worse run's
    reference: float | None  # the better run's


@dataclass(frozen=True)
class Derived:
    """The runs side by side, quantity by quantity (facts of the same names)."""

    params: Pair
    tokens_per_iter: Pair
    steps_done: Pair
    tokens_seen: Pair
    train_flops: Pair
    epochs: Pair
    lr_final: Pair
    eval_iters: Pair
    eval_se: Pair
    dropout: Pair
    best_val: Pair
    best_val_step: Pair
    final_val: Pair
    final_train: Pair
    mfu_printed: Pair
    time_per_iter_ms: Pair

    def items(self) -> Iterator[tuple[str, Pair]]:
        """(fact name, pair) in the order of the fields."""
        for f in fields(self):
            yield f.name, getattr(self, f.name)


DERIVED = tuple(f.name for f in fields(Derived))


@dataclass(frozen=True)
class OverlapPoint:
    """Both curves at one shared x (a: the worse run, b: the better run)."""

    x: float
    a: float
    b: float
    diff: float  # a - b


@dataclass(frozen=True)
class Overlap:
    """Both curves at shared points of each axis; empty where the runs share no range."""

    steps: tuple[OverlapPoint, ...] = ()
    tokens: tuple[OverlapPoint, ...] = ()
    flops: tuple[OverlapPoint, ...] = ()

    def items(self) -> Iterator[tuple[str, tuple[OverlapPoint, ...]]]:
        """(axis, points) for steps, tokens and flops."""
        yield "steps", self.steps
        yield "tokens", self.tokens
        yield "flops", self.flops

    def any(self) -> bool:
        return bool(self.steps or self.tokens or self.flops)


@dataclass(frozen=True)
class Reachable:
    """The fewest steps of a rerun with the worse run's own config whose predicted val
    reaches the better run's (80% interval lo..hi)."""

    steps: int
    val: float
    lo: float
    hi: float
    flags: str  # the nanoGPT flags of that rerun
    ratio: float  # steps / the worse run's last step
    target: float = math.nan  # the better run's val aimed at
    what: str = "smoothed final val"  # which val that is: reach.target_name
    # the better run's settings where they differ, as flags, where they cost less than the
    # longer rerun: the better run reached the target with them in `instead_steps` steps
    instead: str | None = None
    instead_steps: int | None = None
    # (the step it stopped at, its cosine's end) of a better run stopped inside its decay: the
    # `instead` flags end the cosine where it stopped
    stopped: tuple[int, int] | None = None
    # the step the worse run's last checkpoint holds, where the `instead` flags resume it
    # (reach._resume_from): its own schedule is the better run's, run on to its length
    resume_from: int | None = None
    # the `instead` flags are the worse run's own max_iters and lr_decay_iters: it stopped
    # short of them, and the better run is its config run to the end ("out_dir": both
    # logs show one out_dir, whose ckpt.pt may be the better run's by now; "own": another)
    finish: str | None = None
    reachable: ClassVar[bool] = True

    @property
    def ran(self) -> int:
        """The worse run's last step (steps over ratio)."""
        return round(self.steps / self.ratio) if self.ratio > 0 else 0


@dataclass(frozen=True)
class Cost:
    """What the better run's settings cost on the worse run's machine."""

    ratio: float  # their FLOPs per step over the worse run's
    hours: float | None  # `steps` of them at the worse run's measured FLOPs per second; None: its speed unknown
    steps: int | None
    approximate: bool = False  # a FLOP count inferred from a printed MFU (an average), not from the model
    # the hours `steps` take at the better run's own logged time per step, where its log shows
    # one: on its own machine, where a small model's steps cost more than their FLOPs say
    own_hours: float | None = None


@dataclass(frozen=True)
class Unreachable:
    """Why training longer does not reach the better run's val."""

    why: str
    steps_tried: int | None = None  # the longest rerun tried, when the search ran
    flags: str | None = None  # the better run's config where it differs, and its length, as flags
    target: float = math.nan
    what: str = "smoothed final val"
    # the flags are the better run's length and schedule (and a fresh start): no other key
    # differs, both configs shown (reach.schedule_only), so the better run reached it that way
    same_config: bool = False
    # no val is predicted on the way (a refusal, val not extrapolated): whether a longer
    # run reaches is unknown, not shown to fall short
    cannot_tell: bool = False
    cost: Cost | None = None  # of the flags' settings, where they change the FLOPs per step
    # the longest rerun predicted ends above the target, but its interval holds it: not shown
    # to reach, and not shown not to
    may_reach: bool = False
    # some of the flags set keys the worse run's log does not show: they may not differ
    unshown: bool = False
    # the step the worse run's last checkpoint holds, where the flags resume it (as Reachable's),
    # and the step they run it to
    resume_from: int | None = None
    resume_to: int | None = None
    # where the target is the better run's best val and its final val lies above it (it
    # overfit): the rerun of the worse run's own config that reaches that final val
    final: Reachable | None = None
    reachable: ClassVar[bool] = False


ToReach: TypeAlias = Reachable | Unreachable


@dataclass(frozen=True)
class TableRow:
    """One run of three or more, against the best final."""

    run: str  # its source
    final: float | None
    gap: float | None  # final - the best run's final
    params: float | None
    tokens_seen: float | None
    best_val: float | None
    reference: bool  # the best run
    metric: str  # val | train


@dataclass(frozen=True)
class Comparison:
    reference: int  # index of the better run
    other: int  # index of the worse run
    metric: str  # "val", or "train" when fewer than two runs have a finite final val
    gap: float | None  # final metric of worse - better (in `unit`)
    comparable: bool
    diff: tuple[KeyDiff, ...]
    derived: Derived | None  # None when there is no gap to explain
    overlap: Overlap | None  # None when there is no gap to explain
    attribution: tuple[Cause, ...]
    unexplained: Cause | None
    notes: tuple[str, ...] = ()
    to_reach: ToReach | None = None  # what the worse run needs to reach the better's best
    table: tuple[TableRow, ...] = ()  # N > 2: one row per run
    unit: str = "nats"  # of the gap and the shares: the runs' val unit (nats, or bpb for nanochat)
    unattributed: str | None = None  # why a gap is left whole (a run that never trained); None otherwise
    # (quantity, worse run's status, better run's): the side-by-side values that are
    # "inferred" or "assumed", not read or computed from what the run shows, or "rounded"
    # as the run shows them ("" where they are read or computed)
    derived_status: tuple[tuple[str, str, str], ...] = ()
    # the 80% half-width of the finals' eval noise where the gap lies within it (both runs'
    # noise measured); None otherwise
    within_noise: float | None = None
    # (step, val): the worse run overfit, and its best val, at that step, lies below the
    # better run's final val: keeping that model closes the gap in final val
    stop_at_best: tuple[int, float] | None = None
    # rule ids of the better run's findings whose advice the worse run already ran, and
    # ended higher (crosscheck.not_borne_out): the verdict says so beside them
    not_borne_out: tuple[str, ...] = ()
    # the better run's log is the worse run resumed (notes.continuation): one run's two
    # stretches, nothing to change; the verdict's Do says so
    continues: bool = False
    # the better run's log holds the worse run's already, and goes on from its end (notes.held):
    # one file is the whole run, no `cat` to do
    held: bool = False
    # the worse run is the better run gone on (its log continues the better one's, or holds
    # it as its first process): WentOn, where it went on from and how; the better run's
    # model is the one to keep, or to train again where it is gone, and the Do says so
    went_on: WentOn | None = None
    # rule ids of the worse run's findings that tell it to train longer or to end its LR
    # decay at its max_iters, where the better run continues it (`continues`,
    # crosscheck.gone_on): the run did go on, so the verdict leaves them out of the worse
    # run's top findings and names them on a line of their own
    gone_on: tuple[str, ...] = ()
