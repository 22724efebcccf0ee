"""The gap split along one path from the worse run to the better one, one function per cause.

Each run is first reduced to a `Side`: its final loss, that loss without its eval noise
(smoothed), the noise of one eval, its best val and how far it overfit. The path then
goes eval noise, overfitting, training length, LR schedule, device/precision and the
config rest (or, when no learning key differs, the unexplained rest); every cause moves
the worse run's position, and what is left at the end is the rest.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..facts import Facts
from ..run import Run
from .reach import to_reach
from .results import Cause, KeyDiff, ToReach
from .sides import Side, final

if TYPE_CHECKING:
    from ..fit.extrapolate import Estimate, Extrapolator
    from ..fit.scenarios import CustomSchedule

Z80 = 1.2816  # two-sided 80%
SCHEDULE_SHAPE = ("warmup_iters", "lr_decay_iters", "min_lr", "decay_lr", "max_iters")
NO_EVALS_WIDTH = 0.02  # half-width of the unattributed gap of runs without evals (nats)
FAR = 5  # a training-length extrapolation beyond this ratio gets a note
GROUPS = (("model size", ("n_layer", "n_head", "n_embd", "bias")), ("context length", ("block_size",)),
          ("batch size", ("batch_size", "gradient_accumulation_steps")),
          ("regularization", ("dropout", "weight_decay")),
          ("peak LR and optimizer", ("learning_rate", "beta1", "beta2", "grad_clip")))


@dataclass(frozen=True)
class Step:
    """A cause on the path, where the worse run stands after it, and notes on it."""

    cause: Cause
    at: float
    notes: tuple[str, ...] = ()
    observed: bool = False  # read off the better run's own curve, at equal steps and schedule


@dataclass(frozen=True)
class Attribution:
    causes: tuple[Cause, ...]
    unexplained: Cause | None
    notes: tuple[str, ...] = ()
    to_reach: ToReach | None = None


def attribute(ra: Run, rb: Run, fa: Facts, fb: Facts, diff: tuple[KeyDiff, ...], metric: str, gap: float,
              fit: Extrapolator) -> Attribution:
    """The gap of the worse run `ra` over the better `rb`, cause by cause; `fit` extrapolates `ra`."""
    la, lb = final(fa, metric), final(fb, metric)
    if la is None or lb is None:  # compared on iteration losses: nothing to smooth or extrapolate
        return without_evals(diff, gap)
    a, b = Side.of(ra, fa, metric, la), Side.of(rb, fb, metric, lb)
    w = Z80 * math.hypot(a.se, b.se)
    causes = [eval_noise(a, b, metric, ra.measures.val_unit if metric == "val" else "nats")]
    ovf = overfitting(a, b)
    if ovf is not None:
        causes.append(ovf)
    steps: list[Step] = []
    notes: list[str] = []
    reach: ToReach | None = None
    if metric == "val" and not a.overfit:
        steps, notes, reach = longer(a, b, diff, fit)
    if reach is not None and abs(gap) <= w:  # nothing to close: no length is the one thing to do
        reach = None
        notes = notes + [f"the gap is within the evals' noise (80%: +-{w:.3f}): no longer run is needed to close it"]
    why = ("the runs are compared on train loss" if metric != "val" else
           "the worse run overfit: its length is not extrapolated" if a.overfit else "the notes say why")
    causes += [s.cause for s in steps]
    rest = (steps[-1].at if steps else a.start) - b.start  # at equal length and schedule
    device = device_precision(diff, w)
    config = config_rest(a, b, diff, rest, w, _rest_at(steps, fa, fb))
    causes += [c for c in (device, config) if c is not None]
    unseen = not (ra.config.seen and rb.config.seen)
    return Attribution(tuple(causes), unexplained(diff, rest, w, unseen, steps, why), tuple(notes), reach)


def longer(a: Side, b: Side, diff: tuple[KeyDiff, ...], fit: Extrapolator
           ) -> tuple[list[Step], list[str], ToReach | None]:
    """The worse run trained as long as the better one, then on its schedule shape; and how
    long it needs to reach the better run's best."""
    from ..fit.extrapolate import CannotExtrapolate
    target = length_target(a.facts, b.facts)
    if target is None:
        return observed_length(a, b, diff, "the worse run's tokens per step or length are unknown")
    to, how = target
    try:
        length = training_length(a, fit, to, how)
    except CannotExtrapolate as e:
        return observed_length(a, b, diff, e.why)
    steps: list[Step] = []
    notes: list[str] = []
    if length is not None:
        steps.append(length)
        notes += length.notes
        try:
            sched = lr_schedule(a, b, fit, to, length.at)
        except CannotExtrapolate as e:
            sched = None
            notes.append(f"LR schedule not estimated: {e.why}")
        if sched is not None:
            steps.append(sched)
    return steps, notes, to_reach(fit, a.facts, b.facts, diff, b.start)


# -- the causes, in path order -----------------------------------------------------------

def eval_noise(a: Side, b: Side, metric: str, unit: str = "nats") -> Cause:
    """Each final is one noisy eval: observed minus smoothed, the worse run's minus the better's."""
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
    w = Z80 * math.hypot(a.se, b.se) * math.sqrt(2)
    who = ("the better run's" if b.overfit and not a.overfit else
           "the worse run's" if a.overfit and not b.overfit else "both runs'")
    return Cause("overfitting", v, (v - w, v + w),
                 f"measured: {who} smoothed final val minus its best val (the better run's best "
                 f"{b.best:.4f} at step {b.facts.value('best_val_step')}, final {b.final:.4f})")


def length_target(fa: Facts, fb: Facts) -> tuple[int, str] | None:
    """The step the worse run is extrapolated to, and how it was chosen: the better run's
    tokens seen at equal tokens per step, else its number of steps. The step is an index
    like the worse run's final step (nanoGPT's last eval, at step 5,000, follows 5,000
    updates; its steps_done, 5,001, counts the update made after it)."""
    tpi_a, steps_a, tok_a = fa.value("tokens_per_iter"), fa.value("steps_done"), fa.value("tokens_seen")
    tpi_b, steps_b, tok_b = fb.value("tokens_per_iter"), fb.value("steps_done"), fb.value("tokens_seen")
    if not tpi_a or not steps_a:
        return None
    final_a = fa.value("final_step")
    extra = steps_a - final_a if final_a is not None and 0 <= steps_a - final_a <= 1 else 0
    if tok_b and tpi_b == tpi_a:
        to = int(round(tok_b / tpi_a)) - extra
        return to, f"tokens seen ({tok_a:,} -> {tok_b:,}: step {to:,} at {tpi_a:,} tokens per step)"
    if tok_b and steps_b:
        to = int(steps_b) - extra
        return to, (f"number of steps ({steps_a:,} -> {steps_b:,}); its {tpi_b / tpi_a:.1f}x more tokens per step "
                    f"({tpi_b:,} vs {tpi_a:,}: batch and context) count with the config below")
    to = int(steps_b or steps_a) - extra
    return to, f"number of steps ({steps_a:,} -> {steps_b or steps_a:,}; the better run's tokens are unknown)"


def training_length(a: Side, fit: Extrapolator, to: int, how: str) -> Step | None:
    """The worse run's own law at its end minus the same law at step `to` (a rerun); None
    when the fit predicts no val there.

    Raises:
        CannotExtrapolate: the run does not allow a prediction.
    """
    end = int(a.facts.value("final_step") or a.facts.value("steps_done"))
    there = _val(fit, max(to, 1), "rerun")
    here = _val(fit, end, "rerun")  # the law at its end
    if there is None or here is None:
        return None
    ratio = max(to, 1) / max(end, 1)
    v = here.mean - there.mean  # the law's own difference: its level at the end cancels
    cause = Cause("training length", v, (here.mean - there.hi, here.mean - there.lo),
                  f"the worse run's own curve extrapolated to the better run's {how}, "
                  f"{ratio:.1f}x its length (lossdoctor extrapolate, rerun)")
    far = (f"training length is extrapolated {round(ratio, 1):g}x beyond the worse run: its interval is wide "
           "and its value is a model's, not a measurement",) if ratio > FAR else ()
    return Step(cause, a.start - v, far)


def observed_length(a: Side, b: Side, diff: tuple[KeyDiff, ...], why: str
                    ) -> tuple[list[Step], list[str], ToReach | None]:
    """`longer` where the worse run is not extrapolated (`why`): the length read off the
    better run's curve where it can be, else no share."""
    seen = length_observed(a, b, diff)
    if seen is None:
        return [], [f"training length not estimated: {why}"], None
    return [seen], [f"training length read off the better run's own curve, not extrapolated: {why}"], None


def length_observed(a: Side, b: Side, diff: tuple[KeyDiff, ...]) -> Step | None:
    """The better run's own val at the worse run's last eval step minus its end: what its
    further steps gave it, measured, not extrapolated. Only where the two runs share their
    schedule (no schedule key shown to differ), so that at that step both stood at the same
    point of it; None where they do not, or the better run's curve does not reach it. The
    two must be one trainer's runs (a log and an out_dir of nanoGPT are): two trainers' steps
    and schedules differ whatever their keys say, and a format that does not name its
    trainer is one only with itself."""
    ta, tb = a.run.format.trainer, b.run.format.trainer  # "" where the format does not say
    same = ta == tb != "" or a.run.format == b.run.format
    if any(d.key in SCHEDULE_SHAPE for d in _known(diff)) or not same:
        return None
    ea, eb = a.run.curves()[0], b.run.curves()[0]
    ok = np.isfinite(eb.val)
    xs, ys = eb.step[ok].astype(float), eb.val[ok]
    t = float(ea.step[-1]) if len(ea.step) else 0.0
    if len(xs) < 2 or not xs[0] < t < xs[-1]:
        return None
    v = float(np.interp(t, xs, ys)) - b.start
    w = Z80 * math.hypot(b.se, b.se)  # nats: two evals of the better run, each with one eval's noise
    cause = Cause("training length", v, (v - w, v + w),
                  f"the better run's own val at the worse run's last eval (step {int(t):,}) minus its end: "
                  "measured on one curve; the two runs' schedules are taken as the same up to there (no "
                  "schedule key is shown to differ)")
    return Step(cause, a.start - v, observed=True)


def lr_schedule(a: Side, b: Side, fit: Extrapolator, to: int, at: float) -> Step | None:
    """The same extrapolation with the better run's schedule shape; 0 when the shapes match,
    None when a schedule is unknown or the fit predicts no val.

    Raises:
        CannotExtrapolate: the run does not allow a prediction.
    """
    sched = schedule_shape(a.run, b.run, to)
    if sched is None:
        if schedule_shape(a.run, b.run, to, force=True) is None:
            return None
        return Step(Cause("LR schedule", 0.0, (-a.se, a.se),
                          "the same schedule shape in both runs (warmup steps, decay to "
                          "max_iters, min_lr = learning_rate/10 or as set): no share"), at)
    c = _val(fit, max(to, 1), "custom", sched)
    if c is None:
        return None
    v = at - c.mean
    half = abs(v) / 2 + a.se  # two predictions of one fit: half the share, plus noise
    return Step(Cause("LR schedule", v, (v - half, v + half),
                      "the same extrapolation with the better run's schedule shape "
                      f"(warmup, decay, min_lr ratio): {_sched_text(sched)}"), c.mean)


def device_precision(diff: tuple[KeyDiff, ...], w: float) -> Cause | None:
    """No share (0, within eval noise) when device, dtype or compile differ; None when not."""
    runtime = [d for d in _known(diff) if d.kind == "runtime"]
    if not runtime:
        return None
    keys = ", ".join(f"{d.key} {d.other} vs {d.reference}" for d in runtime)
    return Cause("device/precision numerics", 0.0, (-w, w),
                 f"{keys}: nanoGPT computes the same model on any device; fp32 and bf16 reach "
                 "the same loss per step within eval noise (the built-in trainer: 1.8857 vs "
                 "1.8856 at 2000 steps, docs/benchmarks.md); the time per step differs, not the loss")


def _rest_at(steps: list[Step], fa: Facts, fb: Facts) -> str:
    """Where the rest is measured: at the length the worse run was moved to (equal tokens,
    or equal steps when the tokens per step differ or are unknown; with the schedule moved
    too where its share was estimated), else at the runs' ends."""
    if not steps:
        return "between the runs' ends"
    _, schedule = _matched(steps)
    target = length_target(fa, fb)
    in_steps = any(s.observed for s in steps) or target is None or not target[1].startswith("tokens seen")
    return f"at equal {'steps' if in_steps else 'tokens'}" + (
        " and schedule" if schedule else ", each run's schedule shape as it was")


def _matched(steps: Sequence[Step]) -> tuple[bool, bool]:
    """Whether the path moved the worse run to the better run's length, and to its schedule
    (a length read off the better run's own curve does both)."""
    observed = any(s.observed for s in steps)
    causes = {s.cause.cause for s in steps}
    return observed or "training length" in causes, observed or "LR schedule" in causes


def config_rest(a: Side, b: Side, diff: tuple[KeyDiff, ...], rest: float, w: float,
                at: str = "at equal tokens and schedule") -> Cause | None:
    """The rest (`at` the point the path reached), put on the learning keys that still
    differ; None when none does."""
    learning = _rest_keys(diff)
    if not learning:
        return None
    keys = ", ".join(f"{d.key} {d.other} vs {d.reference}" for d in learning)
    na, nb = a.facts.value("params"), b.facts.value("params")
    size = ""
    if na and nb and na != nb:
        shrink = (na / nb) ** 0.34
        size = (f"; by the L(N, D) form of Hoffmann et al. 2022 (exponent 0.34 on N, quoted, not fitted) "
                f"{nb / 1e6:.2f}M instead of {na / 1e6:.2f}M parameters multiplies the model-size term "
                f"of the loss by {1 / shrink:.2f} for the smaller model")
    return Cause(rest_name({d.key for d in learning}), rest, (rest - w, rest + w),
                 f"the rest {at}, on the keys that differ ({keys}); two runs "
                 f"cannot split it between them: runs that change one key at a time can (`lossdoctor verify` "
                 f"with both runs trains them, one key at a time over seeds){size}")


def unexplained(diff: tuple[KeyDiff, ...], rest: float, w: float, unseen: bool = False,
                steps: list[Step] | None = None, why: str = "the notes say why") -> Cause:
    """The rest when no known learning key differs; else 0, with the eval noise as its
    interval. Keys that a run does not show get nothing: the rest stays unexplained, and
    says why: a log shows no config (`unseen`), or schedule keys differ whose share the
    path's `steps` did not estimate (`why` not)."""
    if _rest_keys(diff):
        return Cause("unexplained", 0.0, (-w, w), "all of the gap is assigned; the interval is the eval noise")
    hidden = [d.key for d in diff if d.kind == "learning" and d not in _known(diff)]
    if hidden or unseen:
        what = f" ({len(hidden)} learning keys unknown)" if hidden else ""
        return Cause("unexplained", rest, (rest - w, rest + w),
                     f"a log shows no config{what}, so nothing is put on config; its header or ckpt.pt would "
                     "let the rest be split")
    length, schedule = _matched(steps or ())
    missed = [d.key for d in _known(diff) if d.kind == "learning" and d.key in SCHEDULE_SHAPE
              and not (schedule or d.key == "max_iters" and length)]
    if missed:
        return Cause("unexplained", rest, (rest - w, rest + w),
                     f"the runs differ in {', '.join(missed)} (training length and schedule keys), whose share "
                     f"could not be estimated ({why}); no other learning key differs")
    other = " other" if steps else ""
    return Cause("unexplained", rest, (rest - w, rest + w),
                 f"no{other} learning config key differs: seed, data order, or a change the logs do not show")


def without_evals(diff: tuple[KeyDiff, ...], gap: float) -> Attribution:
    """Runs compared on iteration losses: the whole gap is left unattributed."""
    keys = [d.key for d in diff if d.kind == "learning"]
    what = f"{', '.join(keys)} differ" if keys else "no learning config key differs"
    return Attribution((), Cause("unexplained", gap, (gap - NO_EVALS_WIDTH, gap + NO_EVALS_WIDTH),
                                 f"no evals to model the curves: the whole gap is left unattributed ({what})"),
                       ("without evals the gap is not split into causes",))


# -- pieces ------------------------------------------------------------------------------

def rest_name(keys: set[str]) -> str:
    """'model size, context length, batch size and regularization' from the differing keys."""
    names = [n for n, ks in GROUPS if keys & set(ks)]
    if "model size" in names and not keys & (set(dict(GROUPS)["model size"]) - {"n_head"}):  # heads keep the size
        names[names.index("model size")] = "attention heads"
    if keys - {k for _, ks in GROUPS for k in ks}:
        names.append("other config")
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _rest_keys(diff: tuple[KeyDiff, ...]) -> list[KeyDiff]:
    """The learning keys both runs show that differ, other than the schedule shape and the
    run's length."""
    return [d for d in _known(diff) if d.kind == "learning" and d.key not in SCHEDULE_SHAPE]


def _known(diff: tuple[KeyDiff, ...]) -> list[KeyDiff]:
    """The differences where both runs show the key."""
    return [d for d in diff if d.other is not None and d.reference is not None]


def _val(fit: Extrapolator, to: int, scenario: str, schedule: CustomSchedule | None = None) -> Estimate | None:
    """The predicted val of `scenario` at step `to` (inside the run: the observed law's
    value for a rerun, the law under `schedule` for 'custom')."""
    out = fit.extrapolate(to, scenarios=(scenario,), schedule=schedule).scenarios
    return next((s.val for s in out if s.name == scenario), out[0].val)


def schedule_shape(ra: Run, rb: Run, to: int, force: bool = False) -> CustomSchedule | None:
    """The better run's schedule shape stretched to `to` steps, at the worse run's peak LR,
    or None when the shapes match (nothing to estimate; with force, None only when a
    schedule is unknown)."""
    from ..facts.schedule import schedule_params
    from ..fit.scenarios import CustomSchedule
    pa, pb = schedule_params(ra.config), schedule_params(rb.config)
    if pa is None or pb is None:
        return None
    if not pb["decay_lr"]:  # the better run's constant LR (train.py: no warmup, no decay), at the worse run's peak
        lr = pa["learning_rate"]
        return None if not pa["decay_lr"] and not force else CustomSchedule(0, to, lr, lr, False)
    span_b = max(rb.config.trusted("max_iters") or pb["lr_decay_iters"], 1)
    shape = {"warmup_iters": int(round(pb["warmup_iters"] / span_b * to)),
             "lr_decay_iters": int(round(pb["lr_decay_iters"] / span_b * to)),
             "min_lr": pa["learning_rate"] * pb["min_lr"] / pb["learning_rate"]}
    mine = {"warmup_iters": pa["warmup_iters"], "lr_decay_iters": to, "min_lr": pa["min_lr"]}  # a rerun
    same = (abs(shape["warmup_iters"] - mine["warmup_iters"]) <= max(1, 0.01 * to)
            and abs(shape["lr_decay_iters"] - to) <= max(1, 0.01 * to)
            and math.isclose(shape["min_lr"], mine["min_lr"], rel_tol=0.01) and pa["decay_lr"])
    if same and not force:
        return None
    return CustomSchedule(shape["warmup_iters"], shape["lr_decay_iters"], shape["min_lr"], pa["learning_rate"], True)


def _sched_text(s: CustomSchedule) -> str:
    if s.decay_lr is False:
        return f"a constant LR of {s.learning_rate:g} (decay_lr=False)"
    return f"warmup {s.warmup_iters}, decay to step {s.lr_decay_iters}, min_lr {s.min_lr:g}"
