"""One run's fits' parts, each made once and kept: the shape samples of its priors, its
points under its observed eta, the other runs that join it, the streams fitted on them,
the backtest that weighs the laws, the epochs per step, and what the run rules out and says
beside its prediction (the law alone, a blend's model error, its val without the other
runs). `Extrapolator`
(extrapolate.py) makes the pass from them; a prediction at another target or under
another scenario reuses them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, cast

import numpy as np

from ..run import Run
from . import describe, interval, limits, notes, points, reference, repeat, shape, streams
from . import scenarios as scenarios_mod
from .calibration import Calibration
from .parts import Fits, Observed, Own, Predicted, Regime
from .results import Baseline, FitInfo, LawWeights, ModelInfo, Scenario
from .streams import Design, Features, Stream

T = TypeVar("T")


class RunFits:
    """The memo of one run's parts (keyed by what each depends on) and how each is made."""

    run: Run
    calibrate: tuple[Run, ...]  # other runs of the config, fitted jointly
    reference: bool  # the reference runs may join (where the config is theirs)
    calibration: Calibration
    dataset_tokens: int | None
    level: float  # the intervals' level, 0.8 by default
    _done: dict[tuple[object, ...], object]

    def _once(self, key: tuple[object, ...], make: Callable[[], T]) -> T:
        if key not in self._done:
            self._done[key] = make()
        return cast(T, self._done[key])

    def _curves(self) -> points.Curves:
        return self._once(("curves",), lambda: points.curves(self.run))

    def _shapes(self) -> dict[str, shape.Samples]:
        """The shape samples of the train and the val prior."""
        cal = self.calibration
        return self._once(("shapes",), lambda: {"train": shape.samples(cal.train_prior),
                                                 "val": shape.samples(cal.val_prior)})

    def _own(self, obs: Observed, peak: float) -> Own:
        """The run's own points with their features under the observed eta."""
        def make() -> Own:
            e = obs.schedule.eta(peak)
            feats = Features(self._shapes(), e, val_worth=self._worth(obs, len(e)))
            return Own(feats, {k: feats.design(k, getattr(obs.points, k)) for k in ("train", "val")})
        return self._once(("own", peak), make)

    def _other(self, obs: Observed, o: Run) -> points.Joined:
        """Another run's points: from the run's start (or the other's start fraction) on."""
        return self._once(("other", id(o)), lambda: points.joined(o, obs.points.start,
                                                                    self.calibration.start_fraction))

    def _joined(self, obs: Observed, kind: str, which: str) -> list[Design]:
        """The other runs' points ("calibrate" or "reference") with their features."""
        def make() -> list[Design]:
            runs = self.calibrate if which == "calibrate" else reference.runs()
            segs = [getattr(self._other(obs, o), kind) for o in runs]
            return [Features(self._shapes(), sg.eta, val_worth=self._worth(obs, len(sg.eta))).design(
                kind, points.Points(sg.steps, sg.y, sg.sigma)) for sg in segs]
        return self._once(("joined", kind, which), make)

    def _law_alone(self, obs: Observed, peak: float, referenced: bool) -> bool:
        """Whether the fits are the calibrated law alone, the reference runs asked for
        (`referenced`: joined where the config is theirs) or not: where the calibration says
        so, unless the run's own backtest rules that law out."""
        return self.calibration.alone(obs.points.last, referenced) and self._alone_ruled_out(obs, peak) is None

    def _blend_regime(self, obs: Observed, peak: float, to: int) -> Regime | None:
        """Where the prediction at `to` is past a run the calibration blends at its
        short_share (Calibration.short_blend): "blend", the ensemble's side of it, which
        carries the blend's model error; "ruled out", the ensemble alone where the run rules
        the law alone out (extrapolate._blended), with the error measured on such runs; else
        None."""
        cal, last = self.calibration, obs.points.last
        if not (to > last and cal.short_blend(last) and 0 < cal.alone_share(last, self.reference) < 1):
            return None
        return "blend" if self._alone_ruled_out(obs, peak) is None else "ruled out"

    def _epochs_limit(self, obs: Observed, peak: float) -> float:
        """The most epochs the run is predicted to (Calibration.epochs_limit), with the law
        it gets: the ensemble's where the calibrated law alone, whose limit is farther, is
        ruled out by the run (a run whose val has turned up, the likeliest to repeat its data)."""
        cal, last = self.calibration, obs.points.last
        if cal.alone(last, referenced=False) and self._alone_ruled_out(obs, peak) is not None:
            return cal.max_epochs
        return cal.epochs_limit(last)

    def _alone_ruled_out(self, obs: Observed, peak: float) -> str | None:
        """Why the run rules the calibrated law alone out, where the calibration would use
        it: its own backtest (streams.refuted), or its val has turned up or stopped following
        train (the law alone is measured on runs whose val still falls: a memorizing run's
        train heading for 0 is not a law through L0 = 0 that flattens above it); None where
        none of these."""
        errors = self._backtest(obs, peak, True).errors
        if errors is not None and streams.refuted(errors):
            return notes.refuted(errors)
        if (turn := points.overfitting(obs.points.curves, obs.points.sig_eval)) is not None:
            return (f"val has turned up (its best {turn.best_val:.4f} at step {turn.best_step:,}), and the law "
                    "alone is measured on runs whose val still falls")
        if points.val_stalled(obs.points.curves, obs.points.sig_eval) is not None:  # before it turns up
            return "val has stopped following train, and the law alone is measured on runs whose val still falls"
        return None

    def _resume_step(self, obs: Observed) -> tuple[int, str | None]:
        """Where `resume` and `constant` go on from (scenarios.resume_step), and why where
        it is not the last step."""
        return self._once(("resume step",), lambda: scenarios_mod.resume_step(self.run, obs.points.curves))

    def _goes_on_from(self, name: str, obs: Observed) -> tuple[int, str | None]:
        """Where scenario `name` goes on from: a continuation's resume step, else the last."""
        return self._resume_step(obs) if name in ("resume", "constant") else (obs.points.last, None)

    def _backtest(self, obs: Observed, peak: float, alone: bool) -> streams.Backtest:
        """The law weights, from a backtest on the run's own train stream."""
        return self._once(("backtest", peak, alone), lambda: streams.law_weights(
            self._own(obs, peak).designs["train"], self._shapes()["train"], obs.points.last, alone))

    def _per_step(self, last: int) -> float | None:
        """Epochs of the training data per step (None: the log does not show them)."""
        return self._basis(last)[0]

    def _basis(self, last: int) -> tuple[float | None, str | None]:
        """Epochs per step, and the note where they rest on an assumed train split."""
        return self._once(("epochs",), lambda: limits.epochs_basis(self.run, last, self.dataset_tokens))

    def _worth(self, obs: Observed, n: int) -> np.ndarray | None:
        """(n,) what each step's LR area counts for val once the data repeats (repeat.py;
        None: all of it, where the calibration does not count it or the log does not show
        the epochs). Other runs joined are of the run's config: the same epochs per step."""
        per_step, r_star = self._per_step(obs.points.last), self.calibration.repeat_r_star
        return None if per_step is None or r_star is None else repeat.worth(n, per_step, r_star)

    def _stream(self, obs: Observed, kind: str, peak: float, joined: tuple[str, ...], alone: bool) -> Stream:
        """One stream fitted on the run's own points and the `joined` other runs' (`alone`:
        the calibrated law alone, through L0 = 0)."""
        def make() -> Stream:
            own = self._own(obs, peak).designs[kind]
            designs = [own] + [d for which in joined for d in self._joined(obs, kind, which)]
            return streams.fit_stream(streams.concat(designs) if len(designs) > 1 else own, self._shapes()[kind],
                                      alone)
        return self._once(("stream", kind, peak, joined, alone), make)

    def _alone(self, obs: Observed, first: Scenario, p: Predicted, fits: Fits, peak: float, to: int,
               model_sd: float) -> str:
        """The first scenario's val from the run's own points alone, against that with the others."""
        assert first.val is not None
        bare = self._law_alone(obs, peak, self.reference and fits.reference is None)  # the run's own points
        alone = self._stream(obs, "val", peak, (), bare)
        weights = self._backtest(obs, peak, bare).weights  # the run alone's, its free law's share cut as p's was
        if p.weights != fits.backtest.weights and fits.backtest.weights.free > 0:
            kept = p.weights.free / fits.backtest.weights.free
            weights = LawWeights(1.0 - weights.free * kept, weights.free * kept)
        a = interval.estimate(streams.laws_at(alone, p.features.at("val", np.array([to]))), weights,
                              model_sd, interval.val_eval_sd(alone, obs.points.sig_eval), self.level)
        joined = " and ".join(w for w in ("the other runs" if self.calibrate else "",
                                           "the reference runs" if fits.reference else "") if w)
        return notes.without_them(first.name, joined, a, first.val)

    # -- what is said about the fit -------------------------------------------------------

    def _model(self, obs: Observed, fits: Fits, to: int, withheld: bool) -> tuple[ModelInfo, Baseline]:
        """The laws and their baselines at `to` (describe.model), the families fitted once."""
        on = obs.points.val if fits.val is not None else obs.points.train
        families = self._once(("families", fits.val is not None), lambda: streams.families(on))
        repeated = describe.repeated(self.calibration.repeat_r_star, self._per_step(obs.points.last), to)
        return describe.model(fits, families, len(on.y), to, withheld, self.calibration.val_prior, repeated)

    def _fit_info(self, obs: Observed, fits: Fits, peak: float, val_sd: float) -> FitInfo:
        backtest = self._once(("val backtest", peak, fits.alone), lambda: streams.val_backtest(
            fits.own.designs["val"], fits.own.features, obs.points.curves, fits.alone))
        return describe.fit_info(obs, fits, val_sd, backtest)
