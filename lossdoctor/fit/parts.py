"""The parts an extrapolation is made of, between its steps (extrapolate.py): what it
observes of the run, the fits on it, and one scenario's laws before the interval."""

from __future__ import annotations

from typing import Literal, NamedTuple

from . import lr, streams
from .points import RunPoints
from .results import LawWeights, Path, ReferenceInfo
from .streams import Design, Features, LawValues, Stream

# whose model error the prediction from a run blended at the calibration's short share
# carries: the blend's, or the ensemble's where the run rules the law alone out
# (RunFits._blend_regime)
Regime = Literal["blend", "ruled out"]


class Observed(NamedTuple):
    """What the fits take from the run, whatever the target: its points and schedule."""

    points: RunPoints
    schedule: lr.Schedule
    notes: tuple[str, ...]


class Own(NamedTuple):
    """The run's own points under its observed eta, with the laws' features."""

    features: Features
    designs: dict[str, Design]  # "train", "val"


class Fits(NamedTuple):
    """The run's fits under one observed eta, with the other runs that joined them."""

    own: Own
    train: Stream
    val: Stream | None  # None: too few val evals
    backtest: streams.Backtest  # the law weights
    alone: bool  # the calibrated law alone, through L0 = 0 (Calibration.alone)
    ruled_out: str | None  # where the calibration says alone but the run rules it out: why (RunFits._alone_ruled_out)
    reference: ReferenceInfo | None  # the reference runs, when they joined
    why_not: tuple[str, ...]  # why the reference runs do not apply, where they were tried
    notes: tuple[str, ...]


class Predicted(NamedTuple):
    """One scenario's laws at the target step (and the val path), before the interval."""

    name: str
    flags: str
    train: tuple[LawValues, LawValues]
    val: tuple[LawValues, LawValues] | None
    path: Path | None
    features: Features  # under the scenario's eta
    weights: LawWeights  # the ensemble's, or the calibrated law alone past the run's annealing
    caveat: str | None = None  # what of the scenario's schedule the law does not model
    as_measured: bool = False  # a custom schedule whose LR is rerun's, resume's or constant's at every step
