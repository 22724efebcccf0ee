"""How the shape priors and the model error of fit/calibration.py are made from runs: one
shape and one (L0, A) fitted jointly over several runs' points (`calibrate`, with the
covariance of its estimate), and the model error a set of backtests leaves unexplained
(`model_error_fit`). benchmarks/calibrate_extrapolation.py and
benchmarks/extrapolation_family.py use them; lossdoctor itself reads only their results,
the literals in calibration.py."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from . import shape
from .calibration import START_FRACTION
from .shape import ShapePrior

# log alpha in [0.01, 2], log(1 - lam) for lam in [0.5, 0.9999], log r in [1e-7, 0.1]
THETA_BOUNDS = ([math.log(0.01), shape.LOG_ONE_MINUS_LAM[0], math.log(1e-7)],
                [math.log(2.0), shape.LOG_ONE_MINUS_LAM[1], math.log(0.1)])


@dataclass(frozen=True)
class CurveData:
    """One run's points for calibration: eta per step and (steps, y, sigma)."""

    name: str
    eta: np.ndarray  # (N+1,) LR / peak LR of the update at each step
    steps: np.ndarray
    y: np.ndarray
    sigma: np.ndarray


def joint_chi2(theta: np.ndarray, runs: Sequence[CurveData], origin: bool = False
               ) -> tuple[float, np.ndarray, np.ndarray]:
    """chi2 of one shape and one (L0, A) over all runs (`origin`: L0 = 0): (chi2, coef,
    weighted residuals)."""
    u = shape.u_segments(theta, [(c.steps, c.eta) for c in runs])
    y = np.concatenate([c.y for c in runs])
    w = 1.0 / np.concatenate([c.sigma for c in runs])
    coefs, _, chi2 = (shape.through_origin if origin else shape.lines)(u[None, :], y, w)
    coef = coefs[0]
    return float(chi2[0]), coef, (coef[0] + coef[1] * u - y) * w


def calibrate(runs: Sequence[CurveData], source: str, start_fraction: float = START_FRACTION,
              origin: bool = False) -> tuple[ShapePrior, dict[str, float]]:
    """The joint fit's shape and its covariance; also (L0, A) and the reduced chi2. The
    runs' points are from `start_fraction` of each run on; `origin`: the fit goes through
    L0 = 0, as the calibrated law alone does (Calibration.alone)."""
    from scipy.optimize import least_squares
    best: tuple[float, np.ndarray] | None = None
    for a in np.geomspace(0.03, 1.0, 16):  # grid, then polish from the best few
        for lam in (0.99, 0.995, 0.998, 0.999, 0.9995):
            for r in np.geomspace(1e-6, 1e-2, 9):
                t = shape.to_theta(float(a), lam, float(r))
                c2 = joint_chi2(t, runs, origin)[0]
                if best is None or c2 < best[0]:
                    best = (c2, t)
    assert best is not None

    def residuals(t: np.ndarray) -> np.ndarray:
        return joint_chi2(t, runs, origin)[2]

    res = least_squares(residuals, best[1], bounds=THETA_BOUNDS)
    theta = res.x if joint_chi2(res.x, runs, origin)[0] <= best[0] else best[1]
    chi2, coef, resid = joint_chi2(theta, runs, origin)
    dof = max(len(resid) - (4 if origin else 5), 1)
    red = max(1.0, chi2 / dof)
    h = _hessian(lambda t: joint_chi2(t, runs, origin)[0], theta)
    cov = np.linalg.pinv(h / 2.0) * red
    mean = (float(theta[0]), float(theta[1]), float(theta[2]))
    rows = tuple((float(row[0]), float(row[1]), float(row[2])) for row in cov)
    prior = ShapePrior(mean, rows, start_fraction, source)
    return prior, {"L0": float(coef[0]), "A": float(coef[1]), "reduced_chi2": chi2 / dof, "points": len(resid)}


def model_error_fit(cases: Sequence[tuple[float, float, float, float]], base: bool = True) -> tuple[float, float]:
    """The model error (base, per doubling of the horizon ratio) from backtests, each case
    (ratio, predicted, true, the prediction's sd without model error): the squared error
    the sd leaves unexplained, as a fraction of the true loss, fitted by
    (base + per * log2 ratio)^2 in least squares, both non-negative. `base=False`: per
    doubling only (cases at one ratio cannot tell the two apart)."""
    from scipy.optimize import least_squares
    x = np.array([math.log2(max(c[0], 1.0)) for c in cases])
    excess = np.array([max((c[1] - c[2]) ** 2 - c[3] ** 2, 0.0) / c[2] ** 2 for c in cases])
    if not len(cases) or not excess.any():
        return 0.0, 0.0
    start = math.sqrt(float(np.mean(excess)))

    def residuals(t: np.ndarray) -> np.ndarray:
        out: np.ndarray = (t[0] + t[1] * x) ** 2 - excess
        return out

    if not base:  # per^2 * x^2 = excess: linear in per^2, so in closed form
        x2 = x * x
        return 0.0, math.sqrt(max(float(x2 @ excess) / max(float(x2 @ x2), 1e-300), 0.0))
    res = least_squares(residuals, [start / 2, start / 2], bounds=([0, 0], [1, 1]))
    return float(res.x[0]), float(res.x[1])


def _hessian(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 0.05) -> np.ndarray:
    n = len(x)
    out = np.empty((n, n))
    f0 = f(x)
    for i in range(n):
        for j in range(i, n):
            ei, ej = np.eye(n)[i] * h, np.eye(n)[j] * h
            if i == j:
                v = (f(x + ei) - 2 * f0 + f(x - ei)) / h ** 2
            else:
                v = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (4 * h * h)
            out[i, j] = out[j, i] = v if np.isfinite(v) else 0.0
    # a direction the data do not bend in gets a wide, not an infinite, variance
    w, vec = np.linalg.eigh(out)
    w = np.maximum(w, 2.0 / 4.0)  # at most sd 2 in log units
    hess: np.ndarray = (vec * w) @ vec.T
    return hess
