"""What an extrapolation gives: frozen values, down to the last number.

report/extrapolation.py turns an `Extrapolation` into the JSON document of
`lossdoctor extrapolate --format json` (docs/extrapolation.md, "JSON").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


@dataclass(frozen=True)
class Estimate:
    mean: float
    lo: float
    hi: float
    level: float
    sd: float


class Path(NamedTuple):
    """Predicted val along the way: over the observed steps (the fit), or from the last
    observed step to the target (a scenario)."""

    steps: tuple[int, ...]
    values: tuple[float, ...]


@dataclass(frozen=True)
class Scenario:
    name: str  # rerun | resume | constant | custom | observed
    flags: str  # exact nanoGPT flags
    val: Estimate | None
    train: Estimate | None
    note: str | None = None
    path: Path | None = None  # predicted val from the last observed step to the target
    # the laws' weights in this scenario: the ensemble's (ModelInfo.weights), or the free law's cut
    # where the scenario's LR falls past the run's own (its note says so)
    weights: LawWeights | None = None


class ShapeParams(NamedTuple):
    """The heaviest shape sample of a stream's fit, with its (L0, A)."""

    L0: float  # noqa: N815
    A: float  # noqa: N815
    alpha: float
    lam: float
    r: float


class PriorInfo(NamedTuple):
    """The val shape prior's mean shape, and what it was calibrated on."""

    alpha: float
    lam: float
    r: float
    calibrated_on: str


class LawWeights(NamedTuple):
    """Each law's weight in the ensemble (summing to 1)."""

    calibrated: float
    free: float


class LawErrors(NamedTuple):
    """Each law's backtest on the train stream: rms error of the held-out points, in sigma."""

    calibrated: float
    free: float


class BaselineFit(NamedTuple):
    """A schedule-blind classic family, L = a + b * f(s; shape), on the run's own points."""

    name: str  # power | exponential | log-power
    a: float
    b: float
    shape_name: str  # c | tau
    shape: float
    aic: float
    prediction: float  # at the target step

    @property
    def parameters(self) -> dict[str, float]:
        return {"a": self.a, "b": self.b, self.shape_name: self.shape}


class LawsInfo(NamedTuple):
    backtest_rms_sigma: LawErrors | None  # None: too few points to backtest
    baselines: tuple[BaselineFit, ...]


class Offsets(NamedTuple):
    """Mean of the run's own points minus the joint fit (nats)."""

    train: float
    val: float | None


class ReferenceInfo(NamedTuple):
    """The reference runs that joined the fit."""

    runs: str
    offset: Offsets
    # the run's own fit minus the joint fit at its last step: where the run stood against the
    # joint fit when it stopped, carried past its end fading (reference.carry)
    end: Offsets


class RepeatedData(NamedTuple):
    """How val counts repeated data (fit/repeat.py): the R* it uses, and the target's
    epochs of the training data with what they are worth in epochs of new data (None
    where the log does not show the epochs)."""

    r_star: float
    epochs: float | None
    effective_epochs: float | None


class ModelInfo(NamedTuple):
    name: str
    parameters: ShapeParams  # train stream
    val_parameters: ShapeParams | None
    prior: PriorInfo
    weights: LawWeights
    laws: LawsInfo
    reference: ReferenceInfo | None
    repeated_data: RepeatedData | None = None  # None: every step counts in full for val


class PointCounts(NamedTuple):
    train: int
    val: int
    start: int  # the fitted points are from this step on


class EffectiveSamples(NamedTuple):
    train: float
    val: float | None


class FitInfo(NamedTuple):
    residual_scale: float  # rms of the train points' residuals, in sigma (heaviest sample)
    eval_sigma: float  # one eval's noise (nats)
    val_eval_sigma: float  # one val eval's noise, from the evals' scatter where larger
    iter_sigma: float | None  # one iteration's noise; None without per-iteration losses
    points: PointCounts
    effective_samples: EffectiveSamples
    backtest_error: float | None  # fit 70% of the val evals, error on the last eval (nats)


class Baseline(NamedTuple):
    """The schedule-blind power law's prediction of val at the target step."""

    name: str
    val: float | None


class Overfitting(NamedTuple):
    best_step: int
    best_val: float


@dataclass(frozen=True)
class Extrapolation:
    target_step: int
    last_step: int
    horizon_ratio: float  # target_step / last_step
    model: ModelInfo
    fit: FitInfo
    scenarios: tuple[Scenario, ...]
    baseline: Baseline
    overfitting: Overfitting | None = None  # when val has turned up
    notes: tuple[str, ...] = field(default=())
    fit_path: Path | None = None  # predicted val over the observed steps
    # the calibrated law alone's share of the estimates past the run (blend.py): 0 for the
    # ensemble, 1 for the law alone, between for a run blended below ALONE_FROM steps
    # (SHORT_SHARE up to BLEND_FROM, then growing to 1)
    alone_share: float = 0.0

    def path(self, name: str) -> Path | None:
        """The predicted val path "fit", or that of the scenario `name`."""
        if name == "fit":
            return self.fit_path
        return next((s.path for s in self.scenarios if s.name == name), None)
