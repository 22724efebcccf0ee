"""A prediction's value and interval: the ensemble of the laws at one step.

The interval at `level` is the square root of the sum of four variances: each law's own
statistical spread (for the calibrated shape: between its samples, plus each sample's
(L0, A) covariance; for the free shape: between its lam), the spread between the laws,
the model error (calibration.py: a fraction of the predicted loss growing with log2 of
the horizon ratio), and the noise of one logged eval.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np

from .results import Estimate, LawWeights, Path
from .streams import At, Design, LawValues, Stream, laws_at

if TYPE_CHECKING:
    from collections.abc import Callable

    from .parts import Fits


def z(level: float) -> float:
    """The normal quantile of a central interval at `level`."""
    return NormalDist().inv_cdf(0.5 + level / 2)


def mixed(at: tuple[LawValues, LawValues], w: LawWeights) -> np.ndarray:
    """The ensemble's mean from the calibrated and the free law's values (at each step)."""
    cal, free = at
    out: np.ndarray = w.calibrated * cal.mean + w.free * free.mean
    return out


def estimate(at: tuple[LawValues, LawValues], w: LawWeights, model_sd: float, eval_sd: float, level: float
             ) -> Estimate:
    """The ensemble's value at one step, from the calibrated and the free law there."""
    (cal, free), wc, wf = at, w.calibrated, w.free
    mean = float(mixed(at, w)[0])
    between = math.sqrt(wc * (cal.mean[0] - mean) ** 2 + wf * (free.mean[0] - mean) ** 2)
    stat = math.sqrt(wc * cal.sd[0] ** 2 + wf * free.sd[0] ** 2)
    sd = math.sqrt(stat ** 2 + between ** 2 + (model_sd * mean) ** 2 + eval_sd ** 2)
    half = z(level) * sd
    return Estimate(mean, max(mean - half, 0.0), mean + half, level, sd)  # a cross-entropy is never below 0


LOCAL_POINTS = 5  # the fitted points nearest a target inside the run, whose mean miss the interval carries


def local_miss(stream: Stream, d: Design, at: Callable[[np.ndarray], At], w: LawWeights, to: int) -> float:
    """How far the ensemble misses the run's own points nearest `to`, on average (nats), less
    what their own noise accounts for: a target inside the run is the law's smoothed value,
    and where the law bends otherwise than the run there, its interval must carry that miss,
    not the eval noise alone."""
    near = np.argsort(np.abs(d.at.steps - to), kind="stable")[:LOCAL_POINTS]
    miss = float(np.mean(d.y[near] - mixed(laws_at(stream, at(d.at.steps[near])), w)))
    noise = float(np.mean(d.sigma[near] ** 2)) / len(near)  # what the points' own noise adds to miss^2
    return math.sqrt(max(0.0, miss ** 2 - noise))


def with_local_miss(fits: Fits, to: int, train_sd: float, val_sd: float, share: float = 1.0,
                    weights: LawWeights | None = None) -> tuple[float, float]:
    """The train and val noise of an estimate inside the run, with the law's miss there
    (times `share`: past the run, the miss at its last step, fading), the laws weighed as
    the fits' backtest weighs them, or by `weights` (a scenario's)."""
    w, feats, d = weights or fits.backtest.weights, fits.own.features, fits.own.designs
    miss = local_miss(fits.train, d["train"], lambda s: feats.at("train", s), w, to)
    train_sd = math.hypot(train_sd, share * miss)
    if fits.val is not None:
        miss = local_miss(fits.val, d["val"], lambda s: feats.at("val", s), w, to)
        val_sd = math.hypot(val_sd, share * miss)
    return train_sd, val_sd


def val_eval_sd(val: Stream | None, sig_eval: float) -> float:
    """One logged val's noise: the train batches' noise over eval_iters, or more where the
    val evals scatter more around the fit (val batches vary more than train batches)."""
    return sig_eval * math.sqrt(max(1.0, val.post.chi2_min / val.post.dof)) if val else sig_eval


def path(stream: Stream, at: At, w: LawWeights) -> Path:
    """The ensemble's val along the steps where the features are `at`."""
    return Path(tuple(int(v) for v in at.steps), tuple(float(v) for v in mixed(laws_at(stream, at), w)))
