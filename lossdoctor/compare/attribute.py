"""The gap split along one path from the worse run to the better one, one function per cause.

Each run is first reduced to a `Side`: its final loss, that loss without its eval noise
(smoothed), the noise of one eval, its best val and how far it overfit. The path then
goes eval noise, overfitting, the fit at the worse run's end (where it ends off its own
law), training length, LR schedule, device/precision and the config rest (or, when no
learning key differs, the unexplained rest); every cause moves the worse run's position,
and what is left at the end is the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ..config import CADENCE
from ..facts import Facts
from ..run import Run
from .data import same_data
from .length import (
    Z80,
    Step,
    known,
    length_target,
    lr_schedule,
    observed_length,
    off_the_law,
    same_schedule,
    tokens_target,
    training_length,
)
from .notes import size_unseen
from .reach import Worse, schedule_only, target_name, to_reach
from .rest import config_rest, missed_keys, path_matched, rest_keys, rest_spread, seeds_said, unexplained
from .results import Cause, KeyDiff, Reachable, ToReach, keys_text
from .rewarm import REWARM, rewarm
from .sides import DEFAULT_SE, Side, final

if TYPE_CHECKING:
    from ..fit.extrapolate import Extrapolator

NO_EVALS_WIDTH = 0.02  # half-width of the unattributed gap of runs without evals (nats)


@dataclass(frozen=True)
class Attribution:
    causes: tuple[Cause, ...]
    unexplained: Cause | None
    notes: tuple[str, ...] = ()
    to_reach: ToReach | None = None
    # the 80% half-width of the two finals' eval noise where the gap lies within it, as
    # logged and as smoothed, and both runs' noise is measured; None otherwise
    within_noise: float | None = None
    # (step, val) of the worse run's best val where it overfit and that best lies below the
    # better run's final val: stopping there closes the gap (no longer run is extrapolated)
    stop_at_best: tuple[int, float] | None = None


def attribute(ra: Run, rb: Run, fa: Facts, fb: Facts, diff: tuple[KeyDiff, ...], metric: str, gap: float,
              fit: Extrapolator, on_iters: bool = False) -> Attribution:
    """The gap of the worse run `ra` over the better `rb`, cause by cause; `fit` extrapolates
    `ra`; `on_iters`: the gap is between the runs' last iteration losses' means."""
    la, lb = final(fa, metric), final(fb, metric)
    if la is None or lb is None or on_iters:  # on iteration losses: nothing to smooth or extrapolate
        return without_evals(diff, gap, ra, rb)
    a, b = Side.of(ra, fa, metric, la), Side.of(rb, fb, metric, lb)
    w = Z80 * math.hypot(a.se, b.se)
    unit = ra.measures.val_unit if metric == "val" else "nats"
    causes = [eval_noise(a, b, metric, unit)]
    blind = [who for who, f in (("worse", fa), ("better", fb)) if metric == "val" and f.value("best_val") is None]
    cut = [who for who, r in (("worse", ra), ("better", rb))  # said only where it changes the path
           if metric == "val" and who not in blind and (a.overfit or b.overfit) and elided(r)]
    if (blind and (a.overfit or b.overfit)) or cut:  # one side's curve is not shown: whether it overfit is unknown
        a, b = replace(a, overfit=0.0), replace(b, overfit=0.0)  # both compared at their ends
    ovf = overfitting(a, b)
    if ovf is not None:
        causes.append(ovf)
    steps: list[Step] = []
    notes: list[str] = []
    reach: ToReach | None = None
    if metric == "val" and not a.overfit:
        steps, notes, reach = longer(a, b, diff, fit)
    # nothing to close, as logged and as smoothed: no length is the one thing to do (a raw gap
    # within the noise may hide a smoothed one beyond it, as a resume's bump does)
    within = abs(gap) <= w and abs(a.start - b.start) <= w
    measured = a.noise_known and b.noise_known
    # a re-warm whose share lies beyond 0 is a cost the noise hides, not none: its Do stays
    rewarmed = any(s.cause.cause == REWARM and s.cause.interval[0] > 0 for s in steps)
    if reach is not None and within and not rewarmed:
        reach = None
        notes = notes + [f"the gap is within the evals' noise (80%: ±{w:.3f}"
                         + ("" if measured else f", taking {DEFAULT_SE} {unit} for an eval whose noise is not shown")
                         + "): no longer run is needed to close it"]
    why = ("the runs are compared on train loss" if metric != "val" else
           "the worse run overfit: its length is not extrapolated" if a.overfit else "the notes say why")
    causes += [s.cause for s in steps]
    rest = (steps[-1].at if steps else a.start) - b.start  # at equal length and schedule
    device = device_precision(diff, w)
    size = size_unseen(fa, fb)  # a size that differs unseen: the rest is not the shown keys' alone
    config = None if size else config_rest(a, b, diff, rest, w, _rest_at(steps, fa, fb, bool(b.overfit)), steps)
    causes += [c for c in (device, config) if c is not None]
    unseen = not (ra.config.seen and rb.config.seen)
    evidence = is_evidence(a, b, diff)
    if (isinstance(reach, Reachable) and reach.instead is not None and not (config and config.interval[0] > 0)
            and not evidence):
        reach = replace(reach, instead=None, instead_steps=None)  # the settings are not shown to cost the worse run
    if not measured:  # the intervals' widths rest on it
        unmeasured = [f"the {w_} run's {_unmeasured(f)}" for w_, s, f in (("worse", a, fa), ("better", b, fb))
                      if not s.noise_known]
        notes.append(f"the intervals take {DEFAULT_SE} {unit} for one eval's noise, assumed, where it is not "
                     f"measured: {'; '.join(unmeasured)}")
    if blind:
        whose = f"the {blind[0]} run's best val is" if len(blind) == 1 else "both runs' best vals are"
        files = "its file holds its final val" if len(blind) == 1 else "their files hold their final vals"
        notes.append(f"overfitting not compared: {whose} unknown ({files} only, as a summary row does), so both runs "
                     "are taken at their ends")
    elif cut:
        whose = f"the {cut[0]} run's log leaves" if len(cut) == 1 else "both runs' logs leave"
        its = "its" if len(cut) == 1 else "a"
        notes.append(f"overfitting not compared: {whose} evals out (a `...` between them): {its} best val may be "
                     "among them, so both runs are taken at their ends")
    # where no learning key takes the rest, it carries the spread of the shares before it
    rest_cause = unexplained(diff, rest, w if rest_keys(diff) and not size else rest_spread(w, steps), unseen, steps,
                             why, size, seeds_said(ra, rb))
    lo, hi = rest_cause.interval
    estimated = [s for s in steps if not s.cause.by_construction and not s.observed]
    # beyond the noise: the law's miss
    if evidence and estimated and (lo > 0 or hi < 0) and not missed_keys(diff, steps):
        rest_cause = replace(rest_cause, cause="unexplained (the law's shortfall)", method=(
            "the runs differ only in length and schedule, so the better run shows what they are worth; the law's "
            "shares of them, above, fall this far short of it (an extrapolation that misses, see "
            "docs/benchmarks.md), or seed and eval noise"))
    step = fa.value("best_val_step")
    stop = ((int(step), a.best) if metric == "val" and a.overfit and isinstance(step, (int, float))
            and a.best < b.final and not within else None)
    return Attribution(tuple(causes), rest_cause, tuple(notes), reach, w if within and measured else None, stop)


def elided(run: Run) -> bool:
    """Whether the run's log leaves evals out: a line of `...` alone between two evals
    further apart than its eval_interval (a post's excerpt), so that its best val may be one
    it does not show; iteration lines left out between evals leave no eval out. Where the
    log does not show its eval_interval (the spacing of the evals it shows is no measure of
    the ones it left out), any `...` between evals counts."""
    ev = run.curves()[0]
    if len(ev) < 2:
        return False
    value = run.config.values.get("eval_interval")
    shown = run.config.trusted("eval_interval") if value is not None and value.origin != CADENCE else None
    every = float(shown) if isinstance(shown, (int, float)) and shown > 0 else None  # (not the shown evals' own)
    for e in run.events:
        if e.kind != "elided" or e.line is None or not int(ev.line.min()) < e.line < int(ev.line.max()):
            continue
        after = int(np.searchsorted(ev.line, e.line))  # the first eval past the `...`
        if every is None or ev.step[after] - ev.step[after - 1] > 1.5 * every:
            return True
    return False


def is_evidence(a: Side, b: Side, diff: tuple[KeyDiff, ...]) -> bool:
    """Whether the better run is the worse run's config run its way to its end: both configs
    shown, only length and schedule shape differ, the same data, and it did not overfit."""
    return (a.run.config.seen and b.run.config.seen and schedule_only(diff, first_peak(a.run)) and not b.overfit
            and same_data(a.run, b.run))


def first_peak(run: Run) -> object:
    """The learning_rate the run's lineage began with, where its first process shows one and
    no later process went on above it (a continuation at a lower LR, as at its min_lr); None
    otherwise, and where the log begins with a resume (the LR before it is not shown)."""
    head = run.head()
    if head is None or head.config is None or run.resumed_start() is not None:
        return None
    peak = head.config.trusted("learning_rate")
    later = [(run.segments[i].config or run.config).trusted("learning_rate") for i in run.lineage()]
    if not isinstance(peak, (int, float)) or any(not isinstance(lr, (int, float)) or lr > peak for lr in later):
        return None
    return peak


def longer(a: Side, b: Side, diff: tuple[KeyDiff, ...], fit: Extrapolator
           ) -> tuple[list[Step], list[str], ToReach | None]:
    """The worse run trained as long as the better one, then on its schedule shape; and how
    long it needs to reach the better run's best."""
    from ..fit.extrapolate import CannotExtrapolate
    ev, it = a.run.curves()  # the lineage the fit reads, not an earlier run in the same file
    last = int(max(ev.step.max(initial=0), it.step.max(initial=0)))
    out = a.run.config.trusted("out_dir")
    worse = Worse(last, a.run.resumes_last(), a.run.format.trainer == "nanogpt",
                  is_evidence(a, b, diff), b.run.format, out is not None and out == b.run.config.trusted("out_dir"),
                  str(a.run.format) if a.run.format.trainer == "" else "")

    def reach() -> ToReach:
        return to_reach(fit, a.facts, b.facts, diff, b.start, target_name(bool(b.overfit)), worse)

    def unextrapolated(why: str) -> tuple[list[Step], list[str], ToReach | None]:
        steps, notes, _ = observed_length(a, b, diff, why)  # the better run's length is too far: what is
        return steps, notes, reach()  # within reach, or the better run's settings, is still the advice

    def too_far(why: str) -> tuple[list[Step], list[str], ToReach | None]:
        """Past the horizon: the reason, unless val is predicted at no step past the run at
        all (too few evals), which is the reason then, not a farthest step."""
        try:
            x = fit.extrapolate(last + 1, scenarios=("rerun",))
        except CannotExtrapolate:
            return unextrapolated(why)
        from ..fit.notes import why_no_val
        s = x.scenarios[0]
        return unextrapolated(why_no_val(x, s) if s.val is None or x.model.val_parameters is None else why)

    target = length_target(a.facts, b.facts)
    if target is None:
        return unextrapolated("the worse run's tokens per step or length are unknown")
    to, how = target
    try:
        length = training_length(a, fit, to, how)
    except CannotExtrapolate as e:
        fewer = tokens_target(a.facts, b.facts)  # equal tokens, where equal steps go too far
        if fewer is None or fewer[0] >= to:
            return too_far(e.why)
        to, how = fewer
        try:
            length = training_length(a, fit, to, how)
        except CannotExtrapolate:
            return too_far(e.why)
    if length is None:  # too few evals to predict val: what the better run's curve shows, where it can
        from ..fit.notes import why_no_val
        x = fit.extrapolate(max(to, 1), scenarios=("rerun",))  # (made already: why it gave no val)
        s = x.scenarios[0]
        return unextrapolated(why_no_val(x, s) if s.val is None or x.model.val_parameters is None
                              else f"no val predicted at step {to:,}")
    notes = list(length.notes)
    fitted_to = fit.extrapolate(max(to, 1), scenarios=("rerun",)).last_step  # made once: what `to` is inside of
    try:  # from the law's value at `to`: the two shares below are the law's own differences
        sched = lr_schedule(a, b, fit, to, length.at, inside=to <= fitted_to)
    except CannotExtrapolate as e:
        sched = None
        notes.append(f"LR schedule not estimated: {e.why}")
    estimated = [s for s in (length, sched) if s is not None and not s.cause.by_construction]
    steps: list[Step] = []
    if estimated and abs(length.miss) > Z80 * a.se:  # the run ended off its law: said, not left in the rest
        steps.append(off_the_law(a, length.miss))
        shift = 0.0
    else:  # within the eval noise, or no share reads the law: the path goes on from where the run ended
        shift = length.miss
    steps += [replace(s, at=s.at + shift) for s in (length, sched) if s is not None]
    if sched is None and length.cause.by_construction:  # as long: a resume's re-warm is what differs
        warm, why = rewarm(a, a.facts, b.facts, steps[-1].at)
        steps += [warm] if warm is not None else []
        notes += [why] if why is not None else []
    return steps, notes, reach()


# -- the causes, in path order -----------------------------------------------------------

def eval_noise(a: Side, b: Side, metric: str, unit: str = "nats") -> Cause:
    """Each final is one noisy eval: observed minus smoothed, the worse run's minus the better's;
    0 by construction where neither run's eval noise is known (each final is taken as logged)."""
    if not (a.noise_known or b.noise_known):
        notes = dict.fromkeys(n for n in (s.facts["eval_se"].note for s in (a, b) if "eval_se" in s.facts) if n)
        why = "; ".join(notes) or "its eval batches or tokens are not shown"
        return Cause("eval noise", 0.0, (0.0, 0.0), f"not estimated: neither run's eval noise is known ({why}), so "
                     "a curve bending at its end cannot be told from noise, and each final is taken as logged")
    noise = (a.final - a.smoothed) - (b.final - b.smoothed)
    w = Z80 * math.hypot(a.se, b.se)
    return Cause("eval noise", noise, (noise - w, noise + w),
                 f"each final {metric} minus a straight line through its run's last evals, read at "
                 f"the last step (eval_iters {_shown(a.facts.value('eval_iters'))} vs "
                 f"{_shown(b.facts.value('eval_iters'))}: one eval's standard error {_se_text(a)} vs "
                 f"{_se_text(b)} {unit})")


def _shown(v: object) -> str:
    return "unknown" if v is None else str(v)


def _se_text(s: Side) -> str:
    known = s.facts["eval_se"].known if "eval_se" in s.facts else False
    return f"{s.se:.4f}" if known else f"{s.se:.4f} assumed"


def overfitting(a: Side, b: Side) -> Cause | None:
    """Smoothed final minus best of a run whose val turned up; None when neither did."""
    if not (a.overfit or b.overfit):
        return None
    v = a.overfit - b.overfit
    # each overfit is a difference of two evals of its own run: only the runs that overfit add noise
    w = Z80 * math.sqrt(2) * math.hypot(a.se if a.overfit else 0.0, b.se if b.overfit else 0.0)
    who = ("the better run's" if b.overfit and not a.overfit else
           "the worse run's" if a.overfit and not b.overfit else "both runs'")
    each = "; ".join(f"the {name} run's best {s.best:.4f} at step {s.facts.value('best_val_step')}, smoothed final "
                     f"{s.smoothed:.4f}" for name, s in (("worse", a), ("better", b)) if s.overfit)
    return Cause("overfitting", v, (v - w, v + w), f"measured: {who} smoothed final val minus its best val ({each})")


def device_precision(diff: tuple[KeyDiff, ...], w: float) -> Cause | None:
    """No share (0, within eval noise) when device, dtype or compile differ; None when not."""
    runtime = [d for d in known(diff) if d.kind == "runtime"]
    if not runtime:
        return None
    from .sides import SPLIT_KEYS
    split = [d for d in runtime if d.key in SPLIT_KEYS]  # the same tokens per step, split otherwise
    device = [d for d in runtime if d.key not in SPLIT_KEYS]
    said = []
    if device:
        said.append(keys_text(device)
                    + ": nanoGPT computes the same model on any device; fp32 and bf16 reach the same loss per step "
                    "within eval noise (the built-in trainer: 1.8857 vs 1.8856 at 2000 steps, docs/benchmarks.md)")
    if split:
        said.append(keys_text(split)
                    + ": the same tokens per step split into other micro-batches, whose gradients are summed into "
                    "the same update up to float rounding")
    name = "device/precision numerics" if device else SPLIT_CAUSE
    return Cause(name, 0.0, (-w, w), "; ".join(said) + "; the time per step differs, not the loss")


SPLIT_CAUSE = "micro-batch split"  # the cause's name where only the split of a step's tokens differs


def _rest_at(steps: list[Step], fa: Facts, fb: Facts, b_overfit: bool = False) -> str:
    """Where the rest is measured: at the length the worse run was moved to (equal tokens,
    or equal steps when the tokens per step differ or are unknown; with the schedule moved
    too where its share was estimated), else at the runs' ends. Where the better run's val
    turned up, the rest is against its best val, not its val at that length."""
    best = (f", against the better run's best val (step {fb.value('best_val_step'):,}), as if its val had stayed "
            "there" if b_overfit and fb.value("best_val_step") is not None else "")
    if not steps:
        return "between the runs' ends" + best
    _, schedule = path_matched(steps)
    length = next((s for s in steps if s.cause.cause == "training length"), None)
    in_steps = any(s.observed for s in steps) or length is None or "tokens seen (" not in length.cause.method
    return f"at equal {'steps' if in_steps else 'tokens'}" + (
        " and schedule" if schedule else ", each run's schedule shape as it was") + best


def _unmeasured(f: Facts) -> str:
    """Why a run's eval noise (eval_se) is not measured, from its fact: 'eval_se unknown
    (needs iter_loss_sd: finite iteration losses in the last 80%: 9, 20 needed)'."""
    fact = f["eval_se"] if "eval_se" in f else None
    return f"eval_se unknown ({fact.note})" if fact is not None and fact.note else "eval_se unknown"


def without_evals(diff: tuple[KeyDiff, ...], gap: float, ra: Run | None = None, rb: Run | None = None
                  ) -> Attribution:
    """Runs compared on iteration losses: the better run's own curve gives the training
    length share where it covers the worse run's last step and goes on past it; the rest
    is left unattributed."""
    from .sides import shows_config
    keys = [d.key for d in diff if d.kind == "learning"]
    shown = ra is None or rb is None or shows_config(ra) or shows_config(rb)
    seeds = "" if ra is None or rb is None else seeds_said(ra, rb)
    what = (f"{', '.join(keys)} differ" if keys else f"no learning config key differs{seeds}" if shown
            else "neither log shows its config: which keys differ is unknown")
    read = None if ra is None or rb is None else _length_on_train(ra, rb, diff)
    if read is None:
        return Attribution((), Cause("unexplained", gap, (gap - NO_EVALS_WIDTH, gap + NO_EVALS_WIDTH),
                                     f"no evals to model the curves: the whole gap is left unattributed ({what})"),
                           ("without evals the gap is not split into causes",))
    share, half, at, n = read
    rest, wide = gap - share, math.hypot(half, NO_EVALS_WIDTH)
    length = Cause("training length", share, (share - half, share + half),
                   f"the better run's own logged train loss over the worse run's final window (up to step {at:,}; "
                   f"{n} of its logged iterations) minus its final: what its steps after that gained; the runs' "
                   "schedule keys are not shown to differ")
    return Attribution((length,), Cause("unexplained", rest, (rest - wide, rest + wide),
                                        f"the gap at equal steps ({at:,}), left unattributed ({what})"),
                       ("without evals, only the training length is read, off the better run's own curve; the "
                        "gap at equal steps is not split into causes",))


def _length_on_train(ra: Run, rb: Run, diff: tuple[KeyDiff, ...]) -> tuple[float, float, int, int] | None:
    """(share, its 80% half-width, the step, the points averaged): the better run `rb`'s
    logged train loss over the steps of the worse run's final window (its last 5% of logged
    iterations, at least 10), less its own final, taken wholly past that step. Only for one
    trainer's runs whose schedule keys are not shown to differ (as length_observed), with
    at least 3 of rb's points in that span and its final window after it."""
    from ..facts.curve import diff_sd
    from .sides import final_window, iter_final
    if not same_schedule(ra, rb, diff):
        return None
    ita, itb = ra.curves()[1], rb.curves()[1]
    steps_a = ita.step[np.isfinite(ita.loss)]
    ok = np.isfinite(itb.loss)
    steps_b, loss_b = itb.step[ok], itb.loss[ok]
    n_a, n_b, end_b = final_window(ra, len(steps_a)), final_window(rb, len(loss_b)), iter_final(rb)
    if n_a is None or n_b is None or end_b is None:
        return None
    at, first = int(steps_a[-1]), int(steps_a[-n_a])  # the worse run's final window
    window = loss_b[(steps_b >= first) & (steps_b <= at)]
    if len(window) < 3 or len(loss_b) <= n_b or steps_b[-n_b] <= at:
        return None
    after = loss_b[steps_b > at]
    sd = diff_sd(after) if len(after) > 1 else 0.0
    return float(window.mean() - end_b), Z80 * sd * math.sqrt(1 / len(window) + 1 / n_b), at, len(window)


# -- pieces ------------------------------------------------------------------------------
