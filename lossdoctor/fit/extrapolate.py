"""Predict a run's loss at a later step, for each way of getting there.

One pass, in order:

1. points: the run's curves, their noise, and the points to fit (from past the warmup
   on): per-iteration losses thinned into bins plus the evals (points.py);
2. schedule: the LR of every step (nanoGPT's get_lr, rebuilt from the config; nanoGPT's
   defaults where the log does not show a value, said so) and eta = LR / peak (lr.py);
3. fit: the LR-annealing law with a calibrated shape (shape.py, calibration.py) to the
   val evals, and separately to the train stream: shape samples from the prior, weighted
   by the run's points; and the same law with the run's own, free shape (laws.fit_mtl_at,
   one fit per lam). The two form the ensemble, weighted by a backtest on the run itself
   (fit the train stream up to 70% of the run, predict the rest); a law whose backtest
   error is over 3x the best's gets no weight; from `Calibration.alone_from` steps on, and
   for the README CPU config fitted with --no-reference, the calibrated law
   alone, through L0 = 0 (`Calibration.alone`). The schedule-blind classic families (power
   law with offset, exponential, log-power) are fitted to the same points as baselines
   (streams.py). Other runs of the config (`calibrate`, the reference runs) join the fit.
   Where the calibration says so (`Calibration.repeat_r_star`) and the log shows the
   epochs, val's LR area counts each step at its worth once the data repeat (repeat.py);
4. scenarios: each scenario's LR schedule (scenarios.py), and each law's prediction
   under it;
5. interval: the fit's statistical spread (between shape samples, and each sample's
   (L0, A) covariance), the spread between the laws, a model-error term growing with log2
   of the horizon ratio (calibration.py, from leave-one-horizon-out backtests), and the
   noise of one logged eval (interval.py); inside the run, also how far the law misses
   the run's own points nearest the target, and past it the miss at its last step,
   fading (reference.carry).

Off the README CPU config below 2,000 steps, each estimate past the run is a mixture of the
ensemble and the calibrated law alone (`Calibration.alone_share`, blend.py); that, and a
scenario held where its LR reaches 0, are the passes around each prediction (passes.py).

An `Extrapolator` makes steps 1-3 once per run (the fits depend on the target step only
through whether the reference runs join, and through the peak LR when the schedule rises
beyond the last step) and reuses them for every target and scenario: the parts the fits
are made of are kept by `RunFits` (runfits.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

import numpy as np

from ..run import Run
from . import calibration as calibration_mod
from . import interval, limits, lr, points, reference, shape, streams
from . import notes as notes_mod
from . import scenarios as scenarios_mod
from .calibration import Calibration
from .limits import MAX_HORIZON, BeyondEpochs, unmodelled
from .parts import Fits, Observed, Predicted
from .passes import SCENARIOS, Passes
from .points import CannotExtrapolate
from .results import (
    Estimate,
    Extrapolation,
    LawWeights,
    Offsets,
    ReferenceInfo,
    Scenario,
)
from .scenarios import CustomLr, CustomSchedule
from .streams import Features, Stream

__all__ = ["MAX_HORIZON", "BeyondEpochs", "CannotExtrapolate", "CustomSchedule", "Estimate", "Extrapolation",
           "Extrapolator", "Scenario", "extrapolate", "unmodelled"]

STALLED = "val not extrapolated: it has stopped following train, and the data's size is unknown"


def extrapolate(run: Run, to: int, scenarios: tuple[str, ...] = SCENARIOS, level: float = 0.8,
                schedule: CustomLr | None = None, calibrate: Run | Sequence[Run] | None = None,
                reference: bool = True, dataset_tokens: int | None = None) -> Extrapolation:
    """Predict val and train loss at step `to` for each scenario.

    schedule: a custom LR schedule for scenario 'custom': a CustomSchedule (or a dict of
    warmup_iters, lr_decay_iters, min_lr, learning_rate), or an array of per-step LRs.
    calibrate: other runs of the same config at other horizons; fitted jointly.
    reference: join the shipped reference runs when the run's config is theirs
        (reference.py); False fits the run (and `calibrate`) alone.
    dataset_tokens: the train split's size in tokens, where the run does not say it (as
        compute_facts takes it): it sets the epochs, for repeated data and the epoch limit.

    Raises:
        CannotExtrapolate: the run does not allow a prediction (the message says why).
        UsageError: a bad argument: a target that is no whole number, a level not between
            0 and 1, a scenario not one of rerun, resume, constant and custom (or none at
            all), a schedule value no get_lr takes, a reference that is not True or False,
            a dataset_tokens that is no positive whole number, a run or calibrate that is
            no Run.
    """
    return Extrapolator(run, level=level, calibrate=calibrate, reference=reference,
                        dataset_tokens=dataset_tokens).extrapolate(to, scenarios, schedule)


class Extrapolator(Passes):
    """One run's fits, made once; predictions at any target step reuse them.

    Nothing is read or fitted before the first `extrapolate`: a run that cannot be
    extrapolated raises CannotExtrapolate there. The fits depend on the target only
    through whether the reference runs join (a target past the last step) and the peak LR
    (where the run's schedule would rise past its last step); each is made once per those.
    """

    def __init__(self, run: Run, *, level: float = 0.8, calibrate: Run | Iterable[Run] | None = (),
                 reference: bool = True, calibration: Calibration | None = None,
                 dataset_tokens: int | None = None) -> None:
        from ..errors import UsageError
        from ..facts import checked_dataset_tokens
        # one Run, none, or any iterable of them (a generator is read once, here)
        others = () if calibrate is None else (calibrate,) if isinstance(calibrate, Run) else calibrate
        try:
            self.calibrate = tuple(others)
        except TypeError:
            raise UsageError("calibrate: a Run or Runs (lossdoctor.load), "
                             f"not {limits.shown(calibrate)}") from None
        if not isinstance(run, Run) or not all(isinstance(r, Run) for r in self.calibrate):
            raise UsageError("run and calibrate: Run objects (lossdoctor.load), not paths")
        self.run = run
        self.dataset_tokens = checked_dataset_tokens(dataset_tokens)
        self.level = limits.interval_level(level)
        if not isinstance(reference, bool):
            raise UsageError(f"reference: True or False, not {limits.shown(reference)}")
        self.reference = reference
        self.calibration = calibration if calibration is not None else calibration_mod.for_config(run.config)
        self._done: dict[tuple[object, ...], object] = {}

    def extrapolate(self, to: int, scenarios: tuple[str, ...] = SCENARIOS,
                    schedule: CustomLr | None = None) -> Extrapolation:
        """Predict val and train loss at step `to` for each scenario (see `extrapolate`)."""
        step = limits.target_step(to)
        names = scenarios_mod.names(scenarios)
        custom = scenarios_mod.custom(schedule) if schedule is not None else None
        key = ("extrapolation", step, names, scenarios_mod.key(custom))
        return self._once(key, lambda: self._held(self._blended(step, names, custom), custom))

    # -- the steps, in order -----------------------------------------------------------

    def _extrapolate(self, to: int, scenarios: tuple[str, ...], custom: CustomSchedule | np.ndarray | None,
                     blend_error: bool = True) -> Extrapolation:
        joining = (reference.runs() if self.reference and self.calibrate and not reference.mismatch(self.run)
                   else ())  # where they may join: one of them given too is refused for any target
        if why := limits.unmodelled(self.run) or limits.not_joinable(self.run, self.calibrate, joining):
            raise CannotExtrapolate(why)
        cur = self._curves()
        first = min(int(cur.ev_step.min(initial=cur.last)), int(cur.it_step.min(initial=cur.last)))
        if to < first:
            raise CannotExtrapolate(f"target step {to:,} is before the first observed step ({first:,})")
        obs = self._observed()
        last = obs.points.last
        if why := limits.unknown_schedule(self.run) or limits.constant_resume(self.run):
            raise CannotExtrapolate(why)
        peak = obs.schedule.peak(max(to, last) + 1)
        try:
            limits.check(to, last, self._per_step(last), self._epochs_limit(obs, peak), self._basis(last)[1])
        except CannotExtrapolate:
            if to > last + 1:  # a run refused at any step is told so, not given a farthest step it is refused at
                self._extrapolate(last + 1, ("rerun",), None)
            raise
        use_reference = self.reference and to > last  # inside the observed range there is nothing to add
        fits = self._once(("fits", peak, use_reference), lambda: self._fit(obs, peak, use_reference))
        limits.misfit(fits.train, fits.own.designs["train"], obs.schedule.doubted, self.run)
        shown = self.run.config.trusted("warmup_iters") is not None  # not train.py's 2000 taken unseen
        limits.before_fit(to, obs.points.start, obs.schedule.warmup if shown and to <= last else 0)
        named = scenarios_mod.named(scenarios, custom, to, last)
        x = self._interval(to, obs, fits, [self._predict(n, sched, fits, obs, to) for n, sched in named], peak,
                           blend_error)
        asked = [s for s in scenarios if s != "custom"] if scenarios != SCENARIOS else []  # by name
        # what reading the run said (the log a directory gave, a config inferred) first
        return replace(x, notes=(*self.run.notes, *notes_mod.inside_note(asked, to, last), *x.notes))

    def _sibling(self, calibration: Calibration, calibrate: tuple[Run, ...]) -> Extrapolator:
        return Extrapolator(self.run, level=self.level, calibrate=calibrate, reference=self.reference,
                            calibration=calibration, dataset_tokens=self.dataset_tokens)

    def _observed(self) -> Observed:
        return self._once(("observed",), lambda: self._observe(self._curves()))

    def _observe(self, cur: points.Curves) -> Observed:
        """1-2. the points and the schedule."""
        sched = lr.read(self.run, cur.last)
        if self.run.config.trusted("warmup_iters") is not None:  # what ran, not train.py's 2000 taken unseen
            limits.in_warmup(cur.last, sched.warmup)
        pts = points.collect(self.run, cur, sched.warmup, self.calibration.start_fraction)
        return Observed(pts, sched, tuple(notes_mod.observed_notes(self.run, sched, pts)))

    def _fit(self, obs: Observed, peak: float, use_reference: bool) -> Fits:
        """3. the fits under the observed eta: with the other runs, and checked against them."""
        pts, own = obs.points, self._own(obs, peak)
        has_val = len(pts.val.steps) >= notes_mod.MIN_VAL_EVALS
        why_not = tuple(reference.mismatch(self.run)) if use_reference else ()
        joined: tuple[str, ...] = ("calibrate",) if self.calibrate else ()
        notes = [f"fitted jointly with {o.source} ({self._other(obs, o).last:,} steps)"
                 + (f"; {why}" if (why := notes_mod.unlogged_start(o)) else "") for o in self.calibrate]
        theirs = use_reference and not why_not and any(self.run.part_of(r) for r in reference.runs())
        if use_reference and not why_not and not theirs:
            joined += ("reference",)
        elif theirs:  # a cut of one: its own later points would be in the fit
            notes.append(f"the run is one of the reference runs ({reference.SOURCE}), or a part of one: they are not "
                         "joined, as its own points, and a longer run's past its end, would be in the fit")
        alone = self._law_alone(obs, peak, self.reference)

        def fit_both(joined: tuple[str, ...]) -> tuple[Stream, Stream | None]:
            return (self._stream(obs, "train", peak, joined, alone),
                    self._stream(obs, "val", peak, joined, alone) if has_val else None)

        train, val = fit_both(joined)
        ref = None
        if "reference" in joined:
            tr, va = own.designs["train"], own.designs["val"]
            off = Offsets(reference.offset(train.post.predict_u(tr.at.u).mean, tr.y),
                          reference.offset(val.post.predict_u(va.at.u).mean, va.y) if val else None)
            worst = max(abs(v) for v in off if v is not None)
            if worst > reference.TOLERANCE:
                notes.append(notes_mod.reference_dropped(worst, obs.points.last))
                joined = joined[:-1]
                train, val = fit_both(joined)
            else:
                ref = ReferenceInfo(reference.SOURCE, off, off)  # its end offset once the laws are weighted
                notes.append(f"the run's config is that of the reference runs ({reference.SOURCE}): "
                             "their points join the fit as further horizons; the run's own points lie "
                             + ", ".join(f"{v:+.3f} ({k})" for k, v in off._asdict().items() if v is not None)
                             + " nats off the joint fit")
        if not alone and "reference" not in joined and (why := limits.short_tail(self.run, pts.last)):
            raise CannotExtrapolate(why)
        if val is None:
            notes.append(f"{notes_mod.too_few_evals(len(pts.val.steps), pts.shown_from)}; "
                         "train is predicted from the per-iteration losses")
        said = self.calibration.alone(pts.last, self.reference)
        ruled_out = self._alone_ruled_out(obs, peak) if said and not alone else None
        fits = Fits(own, train, val, self._backtest(obs, peak, alone), alone, ruled_out, ref, why_not, tuple(notes))
        if ref is None:
            return fits
        # where the run stood against the joint fit at its end: its own fit's smoothed value
        # at its last step (what a target there gives) minus the joint fit's
        (own_train, own_val), (joint_train, joint_val) = (
            self._at_end(self._once(("fits", peak, False), lambda: self._fit(obs, peak, False)), obs),
            self._at_end(fits, obs))
        end = Offsets(own_train - joint_train,
                      own_val - joint_val if own_val is not None and joint_val is not None else None)
        return fits._replace(reference=ref._replace(end=end))

    def _at_end(self, fits: Fits, obs: Observed) -> tuple[float, float | None]:
        """The fits' ensemble (train, val) at the run's last step, as it ran."""
        p, w = self._predict("observed", None, fits, obs, obs.points.last), fits.backtest.weights
        return float(interval.mixed(p.train, w)[0]), None if p.val is None else float(interval.mixed(p.val, w)[0])

    def _predict(self, name: str, sched: CustomSchedule | np.ndarray | None, fits: Fits, obs: Observed,
                 to: int) -> Predicted:
        """4. one scenario: its schedule, and each law's prediction under it."""
        last, w = obs.points.last, fits.backtest.weights
        start, why = self._goes_on_from(name, obs)
        as_measured = False
        if name == "observed":
            flags, feats = "", fits.own.features
        else:
            rate, flags = scenarios_mod.lr(name, sched, obs.schedule, start, to,
                                           self.run.resumes_last())
            if name == "custom":  # a custom schedule that is a scenario's at every step is measured as it is
                as_measured = any(self._same_lr(rate, other, obs, to) for other in SCENARIOS)
            # the run's warmup steps count at the peak, as they were fitted (Tissue et al.); a custom
            # warmup's steps past them count at their own LR (notes.warmup_caveat)
            e = shape.eta(rate, obs.schedule.warmup)
            feats = Features(self._shapes(), e, like=fits.own.features, val_worth=self._worth(obs, len(e)))
            kept = limits.anneal_support(fits.own.features.e, e, obs.schedule.warmup)
            if kept < 1:  # the free law's annealing is not fitted that far
                w = LawWeights(1.0 - w.free * kept, w.free * kept)
        target = np.array([to])
        ends = fits.reference.end if fits.reference is not None and name != "observed" else None
        train = reference.carried(streams.laws_at(fits.train, feats.at("train", target)), ends and ends.train, to, last)
        caveat = notes_mod.warmup_caveat(sched, obs.schedule.warmup) if name == "custom" else (  # the lineage's
            f"goes on from step {start:,}, not {last:,} ({why}): the steps after it are trained again" if why else None)
        if name == "custom" and isinstance(sched, np.ndarray):
            caveat = notes_mod.PER_STEP
        if name == "constant" and to > start and not np.any(rate[start:]):  # (rate is set: not "observed")
            caveat = "; ".join(filter(None, (caveat, notes_mod.AT_ZERO)))
        if name in ("resume", "constant") and self.run.shows_no_save():
            caveat = "; ".join(filter(None, (caveat, notes_mod.NO_SAVE)))
        if fits.val is None:
            return Predicted(name, flags, train, None, None, feats, w, caveat, as_measured)
        val = reference.carried(streams.laws_at(fits.val, feats.at("val", target)), ends and ends.val, to, last)
        path = None
        if name != "observed" and to > last:  # inside the run the scenario's curve is not drawn
            steps = np.unique(np.linspace(last, to, 60).astype(int))
            path = reference.carried_path(interval.path(fits.val, feats.at("val", steps), w), ends and ends.val, last)
        return Predicted(name, flags, train, val, path, feats, w, caveat, as_measured)

    def _same_lr(self, rate: np.ndarray, name: str, obs: Observed, to: int) -> bool:
        """Whether `rate` is scenario `name`'s LR at every step to `to`."""
        start = self._goes_on_from(name, obs)[0]
        if to <= start:  # (inside the run a custom schedule is not measured at all)
            return False
        same = scenarios_mod.lr(name, None, obs.schedule, start, to, self.run.resumes_last())[0]
        return same.shape == rate.shape and bool(np.allclose(rate, same, rtol=1e-9, atol=0.0))

    def _interval(self, to: int, obs: Observed, fits: Fits, predicted: list[Predicted], peak: float,
                  blend_error: bool = True) -> Extrapolation:
        """5. each scenario's estimates with their intervals, and what is said about the fit
        (`blend_error`: with a blend's model error where it is blended, else the ensemble's)."""
        pts, w, level = obs.points, fits.backtest.weights, self.level
        last = pts.last
        overfit = points.overfitting(pts.curves, pts.sig_eval)
        # val flat while train falls, the data's size unknown: repetition the law cannot count
        stalled = points.val_stalled(pts.curves, pts.sig_eval) if to > last and not self._per_step(last) else None
        missed = (limits.val_misfit(fits.val, fits.own.designs["val"])
                  if fits.val is not None and overfit is None and not stalled else None)
        val_sd = eval_sd = interval.val_eval_sd(fits.val, pts.sig_eval)  # a val eval's, whatever the target
        ratio = to / last if last else float("inf")
        val_ratio = max(ratio, to / max(pts.val_last, 1))  # a crashed run's val may end evals before
        errors = self.calibration.errors_for(last)  # a run shorter than the calibration measures: another's
        alone = fits.alone and errors is self.calibration  # (the shorter one's law-alone error is of long runs)
        regime = self._blend_regime(obs, peak, to) if blend_error and errors is self.calibration else None
        short, ruled = regime == "blend", regime == "ruled out"  # their own model errors
        model_sd = errors.model_error(val_ratio, alone, short=short, ruled_out=ruled)
        train_model_sd = errors.model_error(ratio, alone, train=True, short=short, ruled_out=ruled)
        train_sd = pts.sig_eval
        if to <= last:  # the law's smoothed value: its interval carries how far it misses the run there
            train_sd, val_sd = interval.with_local_miss(fits, to, train_sd, val_sd)
        own = self._once(("fits", peak, False), lambda: self._fit(obs, peak, False)) if to > last else None
        custom = errors.custom or errors  # a schedule the backtests do not measure: another's model error
        mine = custom is errors
        custom_sd = (custom.model_error(val_ratio, alone, short=short and mine, ruled_out=ruled and mine),
                     custom.model_error(ratio, alone, train=True, short=short and mine, ruled_out=ruled and mine))
        out = []
        for p in predicted:
            msd, tsd = custom_sd if p.name == "custom" and not p.as_measured else (model_sd, train_model_sd)
            tr_sd, va_sd = train_sd, val_sd
            if own is not None:  # past it, how far the run's own fit, its laws weighed as here, missed at its end,
                tr_sd, va_sd = interval.with_local_miss(  # fading as its level does
                    own, last, train_sd, val_sd, reference.carry(to, last), p.weights)
            val = interval.estimate(p.val, p.weights, msd, va_sd, level) if p.val is not None else None
            train: Estimate | None = interval.estimate(p.train, p.weights, tsd, tr_sd, level)
            inside = p.name == "custom" and to <= last  # not measured inside the run (notes.CUSTOM_INSIDE)
            if inside:
                val = train = None
            elif min(e.mean for e in (val, train) if e is not None) < 0:
                val = train = None
            elif overfit is not None and (p.name != "observed" or to > overfit.best_step) or stalled or missed:
                val = None
            why = (notes_mod.CUSTOM_INSIDE if inside else
                   notes_mod.scenario_note(p.name, (w.free, p.weights.free), train is None, overfit, to))
            wider = notes_mod.CUSTOM_ERROR if p.name == "custom" and not inside and msd > model_sd else None
            note = "; ".join(n for n in (why,
                                         STALLED if stalled and val is None else None,
                                         missed[1] if missed else None, p.caveat, wider) if n) or None
            out.append(Scenario(p.name, p.flags, val, train, note, p.path, p.weights))
        notes = [*obs.notes, *fits.notes,
                 *notes_mod.fit_notes(self.run, self.calibration, to, last, fits, obs.schedule, val_ratio, regime)]
        if missed:
            notes.append(missed[0])
        if stalled:  # said instead of "val as if no data repeats"
            notes.append(f"{stalled}: the data likely repeat, and the log does not show "
                         f"{notes_mod.unshown_epochs(self.run)}: val is not extrapolated (--dataset-tokens gives the "
                         "data's size in tokens)")
        else:
            notes += notes_mod.epochs_notes(self.run, to, last, self._per_step(last), self.calibration)
        if (self.calibrate or fits.reference) and out and out[0].val is not None and to > last:
            first_sd = custom_sd[0] if out[0].name == "custom" and not predicted[0].as_measured else model_sd
            notes.append(self._alone(obs, out[0], predicted[0], fits, peak, to, first_sd))
        fit_path = None
        if fits.val is not None:
            steps = np.unique(np.linspace(pts.start, last, 60).astype(int))
            fit_path = interval.path(fits.val, fits.own.features.at("val", steps), w)
        # val fitted but extrapolated by no scenario: no schedule-blind val in its place
        withheld = fits.val is not None and to > last and bool(out) and all(sc.val is None for sc in out)
        model, baseline = self._model(obs, fits, to, withheld)
        return Extrapolation(to, last, ratio, model, self._fit_info(obs, fits, peak, eval_sd), tuple(out), baseline,
                             overfit, tuple(notes), fit_path, 1.0 if fits.alone else 0.0)
