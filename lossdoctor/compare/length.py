"""The path's extrapolated steps: the worse run trained as long as the better one (its own
curve extrapolated, or the better run's curve read at the worse run's end), then on the
better run's LR schedule shape."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..facts import Facts
from ..run import Run
from .results import Cause, KeyDiff, ToReach
from .sides import RESUMED_HIDES, Side, changed_within

if TYPE_CHECKING:
    from ..fit.extrapolate import Estimate, Extrapolator
    from ..fit.scenarios import CustomSchedule

Z80 = 1.2816  # two-sided 80%
SCHEDULE_SHAPE = ("warmup_iters", "lr_decay_iters", "min_lr", "decay_lr", "max_iters")
FAR = 5  # a training-length extrapolation beyond this ratio gets a note


@dataclass(frozen=True)
class Step:
    """A cause on the path, where the worse run stands after it, and notes on it."""

    cause: Cause
    at: float
    notes: tuple[str, ...] = ()
    observed: bool = False  # read off the better run's own curve, at equal steps and schedule
    miss: float = 0.0  # nats: the worse run's smoothed end minus its law there (training_length)


def length_target(fa: Facts, fb: Facts) -> tuple[int, str] | None:
    """The step the worse run is extrapolated to, and how it was chosen: the better run's
    tokens seen at equal tokens per step, else its number of steps. The step is an index
    like the worse run's final step (nanoGPT's last eval, at step 5,000, follows 5,000
    updates; its steps_done, 5,001, counts the update made after it)."""
    tpi_a, steps_a, tok_a = fa.value("tokens_per_iter"), fa.value("steps_done"), fa.value("tokens_seen")
    tpi_b, steps_b, tok_b = fb.value("tokens_per_iter"), fb.value("steps_done"), fb.value("tokens_seen")
    if not tpi_a or not steps_a:
        return None
    extra = _extra(fa)
    if tok_b and tpi_b == tpi_a:
        to = int(round(tok_b / tpi_a)) - extra
        return to, f"tokens seen ({tok_a:,} -> {tok_b:,}: step {to:,} at {tpi_a:,} tokens per step)"
    if tok_b and steps_b:
        to = int(steps_b) - extra
        return to, (f"number of steps ({steps_a:,} -> {steps_b:,}); the better run's {tpi_b / tpi_a:.3g}x the worse "
                    f"run's tokens per step ({tpi_b:,} vs {tpi_a:,}: batch and context) count with the config below")
    to = int(steps_b or steps_a) - extra
    return to, f"number of steps ({steps_a:,} -> {steps_b or steps_a:,}; the better run's tokens are unknown)"


def _extra(fa: Facts) -> int:
    """The worse run's steps done past its last eval's step (nanoGPT: 1, the update after it)."""
    steps, final = fa.value("steps_done"), fa.value("final_step")
    return int(steps - final) if steps is not None and final is not None and 0 <= steps - final <= 1 else 0


def tokens_target(fa: Facts, fb: Facts) -> tuple[int, str] | None:
    """The step at which the worse run has seen the better run's tokens, where both runs'
    tokens are known and their tokens per step differ (length_target's equal steps would
    count those as config); None otherwise."""
    tpi_a, tok_a, tok_b = fa.value("tokens_per_iter"), fa.value("tokens_seen"), fb.value("tokens_seen")
    if not tpi_a or not tok_b or fb.value("tokens_per_iter") == tpi_a:
        return None
    to = int(round(tok_b / tpi_a)) - _extra(fa)  # an index, as the worse run's last eval's step
    return to, (f"tokens seen ({tok_a:,} -> {tok_b:,}: step {to:,} at {tpi_a:,} tokens per step; at equal steps "
                "the worse run would go past what the extrapolation measures)")


def training_length(a: Side, fit: Extrapolator, to: int, how: str) -> Step | None:
    """The worse run's law at its end minus the same law's rerun at step `to`, one fit's
    difference; None when the fit predicts no val there. The Step's `miss` is how far
    the run's smoothed final val lies off that law at its end (attribute.longer says it
    where it is beyond the eval noise); its `at` is the law's rerun at `to`.

    Raises:
        CannotExtrapolate: the run does not allow a prediction.
    """
    end = int(a.facts.value("final_step") or a.facts.value("steps_done"))
    x = fit.extrapolate(max(to, 1), scenarios=("rerun",))  # raises where the law does not describe the run
    here = _fitted_at(x.fit_path, end)  # the same fit's law at the run's end
    if here is None:  # no fitted path there: the law at the end from the fit inside the run
        inside = _val(fit, end, "rerun")
        here = inside.mean if inside is not None else None
    if here is None:
        return None
    if to == end:  # nothing to move: a share of 0 by construction, not an estimate with an interval
        return Step(Cause("training length", 0.0, (0.0, 0.0), f"the worse run is as long as the better run's {how}: "
                          "no share"), here, miss=a.start - here)
    there = x.scenarios[0].val
    if there is None:
        return None
    ratio = max(to, 1) / max(end, 1)
    v = here - there.mean  # one fit's own difference: its level at the end cancels
    past = to > x.last_step  # as extrapolate decides it: inside, the law on the run's own schedule
    cause = Cause("training length", v, (here - there.hi, here - there.lo),
                  f"the worse run's own curve {'extrapolated to' if past else 'read, inside the run, at'} the better "
                  f"run's {how}, {ratio:.1f}x its length (lossdoctor extrapolate, "
                  f"{'rerun' if past else 'the fitted law on its own schedule'}), from the fitted law at the run's "
                  f"end, {here:.4f} (an effect measured from the run's last logged val, as LD101's is, differs by "
                  "how far that val lies off the law)")
    far = (f"training length is extrapolated {round(ratio, 1):g}x beyond the worse run: its interval is wide "
           "and its value is a model's, not a measurement",) if ratio > FAR else ()
    return Step(cause, there.mean, far, miss=a.start - here)


def off_the_law(a: Side, miss: float) -> Step:
    """Where the worse run ended against its own law at its end: the steps after this one
    start from the law, so what lies between the two is said, not left in the rest."""
    w = Z80 * a.se
    return Step(Cause("fit at the run's end", miss, (miss - w, miss + w),
                      "the worse run's smoothed final val minus its fitted law at its last step: the law's shares "
                      "that follow start from the law, and this is how far the run's own end lies off it"),
                a.start - miss)


def _fitted_at(path: tuple[tuple[int, ...], tuple[float, ...]] | None, step: int) -> float | None:
    """The fitted law along the observed run (Extrapolation.fit_path) at `step`, where the
    path covers it. Past the run the reference runs may join the fit, and inside it they
    do not: a difference of the two fits would carry their offset."""
    if path is None or not path[0] or not path[0][0] <= step <= path[0][-1]:
        return None
    return float(np.interp(step, path[0], path[1]))


def observed_length(a: Side, b: Side, diff: tuple[KeyDiff, ...], why: str
                    ) -> tuple[list[Step], list[str], ToReach | None]:
    """`longer` where the worse run is not extrapolated (`why`): the length read off the
    better run's curve where it can be, else no share."""
    seen = length_observed(a, b, diff)
    if seen is None:
        return [], [f"training length not estimated: {why}"], None
    return [seen], [f"training length read off the better run's own curve, not extrapolated: {why}"], None


def same_schedule(ra: Run, rb: Run, diff: tuple[KeyDiff, ...]) -> bool:
    """Whether one step stands at the same point of both runs' schedules: one trainer's runs
    (a format that does not name its trainer is one only with itself) with no schedule key
    shown to differ."""
    ta, tb = ra.format.trainer, rb.format.trainer  # "" where the format does not say
    return (ta == tb != "" or ra.format == rb.format) and not any(d.key in SCHEDULE_SHAPE for d in known(diff))


def length_observed(a: Side, b: Side, diff: tuple[KeyDiff, ...]) -> Step | None:
    """The better run's own val at the worse run's last eval step minus its end: what its
    further steps gave it, measured, not extrapolated. Only where the two runs share their
    schedule (no schedule key shown to differ), so that at that step both stood at the same
    point of it; None where they do not, or the better run's curve does not reach it. The
    two must be one trainer's runs (a log and an out_dir of nanoGPT are): two trainers' steps
    and schedules differ whatever their keys say, and a format that does not name its
    trainer is one only with itself."""
    if not same_schedule(a.run, b.run, diff):
        return None
    ea, eb = a.run.curves()[0], b.run.curves()[0]
    ok = np.isfinite(eb.val)
    xs, ys = eb.step[ok].astype(float), eb.val[ok]
    # the worse run's last eval; with no eval curve (a checkpoint alone), its model's step
    last = a.facts.value("final_step")
    t = float(ea.step[-1]) if len(ea.step) else float(last) if isinstance(last, (int, float)) else None
    if t is None or len(xs) < 2 or not xs[0] <= t < xs[-1]:  # at its first eval too (step 0: no step trained yet)
        return None
    where = f"last eval (step {int(t):,})" if len(ea.step) else f"model's step ({int(t):,}, its checkpoint's)"
    v = float(np.interp(t, xs, ys)) - b.start
    w = Z80 * math.hypot(b.se, b.se)  # nats: two evals of the better run, each with one eval's noise
    cause = Cause("training length", v, (v - w, v + w),
                  f"the better run's own val at the worse run's {where} minus its end: "
                  "measured on one curve; the two runs' schedules are taken as the same up to there (no "
                  "schedule key is shown to differ)")
    return Step(cause, a.start - v, observed=True)


def lr_schedule(a: Side, b: Side, fit: Extrapolator, to: int, at: float, inside: bool = False) -> Step | None:
    """The same extrapolation with the better run's schedule shape; 0 when the shapes match,
    None when a schedule is unknown or the fit predicts no val. `at`: the law's value at
    `to` on the worse run's own path (a rerun to `to`, or, `inside` the run, its observed
    schedule, which the better run's shape is then compared with).

    Raises:
        CannotExtrapolate: the run does not allow a prediction.
    """
    from ..fit.extrapolate import CannotExtrapolate
    if a.run.resumed_start() is not None or b.run.resumed_start() is not None:
        return None  # the LR before a resumed log's first step is not in it
    if any(changed_within(s.run, k) for s in (a, b) for k in RESUMED_HIDES):
        return None  # a resume within the log went on with another schedule: two shapes, not one
    for who, side in (("worse", a), ("better", b)):
        if unshown := _unshown_schedule(side.run):  # said in the notes: the rest names the keys it holds
            raise CannotExtrapolate(f"the {who} run's log does not show its {', '.join(unshown)}")
    sched = schedule_shape(a.run, b.run, to, own=inside)
    if sched is not None and inside:  # the law, fitted to the run's own schedule, predicts another inside it
        raise CannotExtrapolate("the better run is no longer than the worse one, and inside the worse run the law is "
                                "not measured on a schedule other than the one it ran")  # (with the wrong sign)
    if sched is None:
        if schedule_shape(a.run, b.run, to, force=True, own=inside) is None:
            return None
        return Step(Cause("LR schedule", 0.0, (0.0, 0.0),
                          "the same schedule shape in both runs (warmup steps, decay to "
                          "max_iters, min_lr = learning_rate/10 or as set): no share"), at)
    c = _val(fit, max(to, 1), "custom", sched)
    if c is None:
        return None
    v = at - c.mean
    half = abs(v) / 2 + a.se  # two predictions of one fit: half the share, plus noise
    return Step(Cause("LR schedule", v, (v - half, v + half),
                      "the same extrapolation with the better run's schedule shape, against a rerun of the worse "
                      f"run to that length (warmup, decay, min_lr ratio): {_sched_text(sched)}"), c.mean)


def _unshown_schedule(run: Run) -> list[str]:
    """The get_lr keys a run's log does not show (decay_lr and learning_rate; with decay_lr
    on, the rest of them), whose shape the share would need."""
    from ..nanogpt import SCHEDULE_KEYS
    c = run.config
    keys = ("learning_rate",) if c.trusted("decay_lr") is False else ("decay_lr", *SCHEDULE_KEYS)
    return [k for k in dict.fromkeys(keys) if c.trusted(k) is None]


def known(diff: tuple[KeyDiff, ...]) -> list[KeyDiff]:
    """The differences where both runs show the key."""
    return [d for d in diff if d.other is not None and d.reference is not None]


def _val(fit: Extrapolator, to: int, scenario: str, schedule: CustomSchedule | None = None) -> Estimate | None:
    """The predicted val of `scenario` at step `to` (inside the run: the observed law's
    value for a rerun, the law under `schedule` for 'custom')."""
    out = fit.extrapolate(to, scenarios=(scenario,), schedule=schedule).scenarios
    return next((s.val for s in out if s.name == scenario), out[0].val)


def schedule_shape(ra: Run, rb: Run, to: int, force: bool = False, own: bool = False) -> CustomSchedule | None:
    """The better run's schedule shape stretched to `to` steps, at the worse run's peak LR,
    or None when the shapes match (nothing to estimate; with force, None only when a
    schedule is unknown). The shape is compared with a rerun of the worse run to `to`, or
    with `own`, its own schedule (a `to` inside the run)."""
    from ..facts.schedule import schedule_params
    from ..fit.scenarios import CustomSchedule
    pa, pb = schedule_params(ra.config), schedule_params(rb.config)
    if pa is None or pb is None:
        return None
    if not pb["decay_lr"]:  # the better run's constant LR (train.py: no warmup, no decay), at the worse run's peak
        lr = pa["learning_rate"]
        return None if not pa["decay_lr"] and not force else CustomSchedule(learning_rate=lr, decay_lr=False)
    span_b = max(rb.config.trusted("max_iters") or pb["lr_decay_iters"], 1)
    shape = {"warmup_iters": int(round(pb["warmup_iters"] / span_b * to)),
             "lr_decay_iters": int(round(pb["lr_decay_iters"] / span_b * to)),
             "min_lr": pa["learning_rate"] * pb["min_lr"] / pb["learning_rate"]}
    decay_a = pa["lr_decay_iters"] if own else to  # its own schedule, or a rerun's that ends at `to`
    mine = {"warmup_iters": pa["warmup_iters"], "lr_decay_iters": decay_a, "min_lr": pa["min_lr"]}
    same = (abs(shape["warmup_iters"] - mine["warmup_iters"]) <= max(1, 0.01 * to)
            and abs(shape["lr_decay_iters"] - decay_a) <= max(1, 0.01 * to)
            and math.isclose(shape["min_lr"], mine["min_lr"], rel_tol=0.01) and pa["decay_lr"])
    if same and not force:
        return None
    return CustomSchedule(shape["warmup_iters"], shape["lr_decay_iters"], shape["min_lr"], pa["learning_rate"], True)


def _sched_text(s: CustomSchedule) -> str:
    if s.decay_lr is False:
        return f"a constant LR of {s.learning_rate:g} (decay_lr=False)"
    return f"warmup {s.warmup_iters}, decay to step {s.lr_decay_iters}, min_lr {s.min_lr:g}"
