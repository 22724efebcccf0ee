"""What an extrapolation says of its fit, beside its scenarios: the laws' parameters and
weights, the schedule-blind baselines, how val counts repeated data, and the fit's noise
and points (results.ModelInfo, Baseline, RepeatedData, FitInfo)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import laws, repeat, shape, streams
from .parts import Fits, Observed
from .results import (
    Baseline,
    EffectiveSamples,
    FitInfo,
    LawsInfo,
    ModelInfo,
    PointCounts,
    PriorInfo,
    RepeatedData,
)

MODEL_NAME = "lr-annealing law (Tissue et al. 2024) with a calibrated shape prior"
FREE_NAME = "lr-annealing law (Tissue et al. 2024) with the run's own, free shape"  # the calibrated law: weight 0
BASELINE_NAME = "power law in steps, a + b*s^-c"


def model(fits: Fits, families: Sequence[laws.LawFit], n: int, to: int, withheld: bool, prior: shape.ShapePrior,
          repeated: RepeatedData | None) -> tuple[ModelInfo, Baseline]:
    """The laws' parameters and weights, and the schedule-blind `families` (fitted to `n`
    points) at `to`; none where val is `withheld`: a baseline on val would say what the
    scenarios decline to."""
    baselines = () if withheld else tuple(streams.baseline(f, n, to) for f in families)
    power = next((b.prediction for b in baselines if b.name == "power"), None)
    bt = fits.backtest
    info = ModelInfo(MODEL_NAME if bt.weights.calibrated > 0 else FREE_NAME, streams.shape_params(fits.train.post),
                     streams.shape_params(fits.val.post) if fits.val else None,
                     PriorInfo(*shape.from_theta(np.array(prior.mean)), prior.source), bt.weights,
                     LawsInfo(bt.errors, baselines), fits.reference, repeated)
    return info, Baseline(BASELINE_NAME, power if fits.val is not None else None)


def repeated(r_star: float | None, per_step: float | None, to: int) -> RepeatedData | None:
    """How val counts repeated data at the target (None: it does not)."""
    if r_star is None:
        return None
    epochs = None if per_step is None else to * per_step
    return RepeatedData(r_star, epochs, None if epochs is None else repeat.effective_epochs(epochs, r_star))


def fit_info(obs: Observed, fits: Fits, val_sd: float, backtest: float | None) -> FitInfo:
    """The fit's noise, its points, and the val backtest's error."""
    pts, tr, post = obs.points, fits.own.designs["train"], fits.train.post
    return FitInfo(streams.residual_scale(fits.train, tr), pts.sig_eval, val_sd, pts.sig_iter,
                   PointCounts(len(tr.y), len(pts.val.y), pts.shown_from),
                   EffectiveSamples(post.ess, fits.val.post.ess if fits.val else None), backtest)
