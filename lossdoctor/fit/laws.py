"""Loss-curve laws and their fitting.

Schedule-aware: the LR-annealing law of Tissue et al. (2024), "MTL":

    L(s) = L0 + A * S1(s)^(-alpha) - C * S2(s)
    S1(s) = sum_{t<s} eta_t            (LR area; warmup counted at the peak LR)
    m_t   = lam * m_{t-1} + (eta_{t-1} - eta_t),   S2(s) = sum_{t<s} m_t

eta is the LR divided by its peak, so S1 is in "steps at peak LR". A re-warm (resume with
a new schedule) undoes at once the annealing of the drops below the level it rises to
(areas.py) and raises the loss: the law predicts the resume bump.
For fixed (alpha, lam) the law is linear in (L0, A, C): those are solved exactly (bounded
least squares) over a grid of (alpha, lam), and the best points are polished with
scipy's least_squares (soft-L1 loss, bounds).

Baselines, schedule-blind (the classic families; the same answer for every scenario):
a power law with an offset, L = a + b * s^(-c); an exponential, L = a + b * exp(-s / tau);
a log-power law, L = a + b * ln(s)^(-c). Each has its nonlinear parameter on a grid and
(a, b) solved exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

ALPHAS = np.geomspace(0.03, 1.5, 28)
LAMBDAS = (0.99, 0.995, 0.997, 0.998, 0.9985, 0.999, 0.9995)


@dataclass(frozen=True)
class Features:
    """S1 and S2 (for each lam) of a schedule, at every step 0..N."""

    s1: np.ndarray  # (N+1,) LR area before step s, in steps at peak LR
    s2: dict[float, np.ndarray]  # lam -> (N+1,)


def features(lr: np.ndarray, warmup_iters: int, lams: Sequence[float] = LAMBDAS) -> Features:
    """lr: (N,) the LR of the update at each step 0..N-1 (nanoGPT's get_lr)."""
    peak = float(lr.max()) if len(lr) else 1.0
    eta = lr / peak
    return areas(np.where(np.arange(len(eta)) < warmup_iters, 1.0, eta), lams)  # warmup at the peak


def areas(eta: np.ndarray, lams: Sequence[float] = LAMBDAS) -> Features:
    """S1 and S2 of a per-step eta (LR / peak LR), summed step by step."""
    from .areas import rises, undone
    s1 = np.concatenate([[0.0], np.cumsum(eta)])
    drop = np.concatenate([[0.0], np.maximum(eta[:-1] - eta[1:], 0.0)])  # (N,) eta_{t-1} - eta_t where it falls
    lam_array = np.asarray(lams, float)
    m = momentum(drop, lam_array)  # (N, K)
    nonzero = np.flatnonzero(eta != 0)
    moving = int(nonzero[-1]) + 1 if len(nonzero) else 0
    m[moving:] = 0.0  # steps at LR 0 for good realise no gain (areas.Eta)
    s2 = np.concatenate([np.zeros((1, len(lam_array))), np.cumsum(m, axis=0)]).T  # (K, N+1)
    s2 -= undone(rises(eta), lam_array, np.minimum(np.arange(len(eta) + 1), moving))  # what the rises undo
    return Features(s1, {lam: s2[k] for k, lam in enumerate(lams)})


def momentum(drop: np.ndarray, lams: np.ndarray) -> np.ndarray:
    """(N, K) m_t = drop_t + lam * m_(t-1) from m_(-1) = 0, for each lam, one step at a
    time: the same rounding as an IIR filter's direct recursion (scipy.signal.lfilter
    with b = [1], a = [1, -lam]), without importing scipy.signal (about 1 s)."""
    out = np.empty((len(drop), len(lams)))
    m = np.zeros(len(lams))
    for t, d in enumerate(drop.tolist()):
        m = d + lams * m
        out[t] = m
    return out


@dataclass(frozen=True)
class LawFit:
    name: str  # 'mtl', or a baseline: 'power', 'exponential', 'log-power'
    params: dict[str, float]
    sse: float  # weighted sum of squared residuals (in sigma units)

    def predict(self, steps: np.ndarray, feats: Features | None) -> np.ndarray:
        p = self.params
        steps = np.asarray(steps, int)
        if self.name == "power":
            out: np.ndarray = p["a"] + p["b"] * np.maximum(steps, 1.0) ** (-p["c"])
            return out
        if self.name == "exponential":
            out = p["a"] + p["b"] * np.exp(-steps / p["tau"])
            return out
        if self.name == "log-power":
            out = p["a"] + p["b"] * np.log(np.maximum(steps, 2.0)) ** (-p["c"])
            return out
        assert feats is not None
        return self.at(feats.s1[steps], feats.s2[p["lam"]][steps])

    def at(self, s1: np.ndarray, s2: np.ndarray) -> np.ndarray:
        """The MTL law where S1 and S2 (this fit's lam) are `s1`, `s2`."""
        p = self.params
        out: np.ndarray = p["L0"] + p["A"] * np.maximum(s1, 1e-9) ** (-p["alpha"]) - p["C"] * s2
        return out


def _nonneg(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, float]:
    """Weighted least squares with non-negative coefficients: (coef, sse), as lsq_linear's
    bounded-variable least squares gives it: the unbounded solution where it is
    non-negative, else BVLS from it. Grids of ill-conditioned or interpolating fits
    (a column near zero, no more points than coefficients) tie up to the last bits of
    these solutions, and these bits pick among them."""
    a, b = X * w[:, None], y * w
    coef: np.ndarray = np.linalg.lstsq(a, b, rcond=-1)[0]
    if not np.all(coef >= 0):
        from scipy.optimize import lsq_linear
        coef = lsq_linear(a, b, bounds=(np.zeros(X.shape[1]), np.inf), method="bvls").x
    r = (X @ coef - y) * w
    return coef, float(r @ r)


def fit_mtl(steps: np.ndarray, y: np.ndarray, sigma: np.ndarray, feats: Features,
            alpha: float | None = None, lam: float | None = None, polish: bool = True) -> list[LawFit]:
    """Fits for each lam (best alpha each), best first; `alpha`/`lam` fix those shape
    parameters."""
    out = [fit_mtl_at(feats.s1[steps], feats.s2[lm][steps], lm, y, sigma, alpha, polish)
           for lm in ((lam,) if lam is not None else LAMBDAS)]
    return sorted(out, key=lambda f: f.sse)


def fit_mtl_at(s1: np.ndarray, s2: np.ndarray, lam: float, y: np.ndarray, sigma: np.ndarray,
               alpha: float | None = None, polish: bool = True) -> LawFit:
    """The MTL law with a given lam, fitted where S1 and S2 of the points are `s1`, `s2`:
    alpha on a grid (or fixed), (L0, A, C) exactly, then polished."""
    w = 1.0 / sigma
    s1 = np.maximum(s1, 1e-9)
    best: tuple[float, float, np.ndarray] | None = None
    for a in ((alpha,) if alpha is not None else ALPHAS):
        X = np.column_stack([np.ones_like(s1), s1 ** (-a), -s2])
        coef, sse = _nonneg(X, y, w)
        if best is None or sse < best[0]:
            best = (sse, float(a), coef)
    assert best is not None
    sse, a, coef = best
    if polish and alpha is None:
        sse, a, coef = _polish(y, w, s1, s2, a, coef, sse)
    return LawFit("mtl", {"L0": float(coef[0]), "A": float(coef[1]), "alpha": a, "C": float(coef[2]), "lam": lam},
                  sse)


def _polish(y: np.ndarray, w: np.ndarray, s1: np.ndarray, s2: np.ndarray, a: float, coef: np.ndarray,
            sse: float) -> tuple[float, float, np.ndarray]:
    """least_squares on (L0, A, alpha, C) from the grid's best, soft-L1 loss, bounds."""
    from scipy.optimize import least_squares

    log_s1 = np.log(s1)

    def resid(p: np.ndarray) -> np.ndarray:
        out: np.ndarray = (p[0] + p[1] * s1 ** (-p[2]) - p[3] * s2 - y) * w
        return out

    def jac(p: np.ndarray) -> np.ndarray:  # (n, 4): d resid / d (L0, A, alpha, C)
        power = s1 ** (-p[2])
        return np.column_stack([w, power * w, -p[1] * power * log_s1 * w, -s2 * w])

    x0 = np.array([coef[0], coef[1], a, coef[2]])
    lo, hi = np.array([0.0, 0.0, ALPHAS[0], 0.0]), np.array([np.inf, np.inf, ALPHAS[-1], np.inf])
    x0 = np.clip(x0, lo, np.where(np.isfinite(hi), hi, x0 + 1))
    try:
        res = least_squares(resid, x0, jac=jac, bounds=(lo, hi), loss="soft_l1", f_scale=2.0,
                            max_nfev=200)
    except (ValueError, np.linalg.LinAlgError):
        return sse, a, coef
    r = resid(res.x)
    new = float(r @ r)
    if not np.isfinite(new) or new > sse:
        return sse, a, coef
    return new, float(res.x[2]), np.array([res.x[0], res.x[1], res.x[3]])


def fit_power(steps: np.ndarray, y: np.ndarray, sigma: np.ndarray) -> LawFit:
    """L = a + b * s^(-c): c on a grid, (a, b) exactly, a >= 0, b >= 0."""
    s = np.maximum(steps.astype(float), 1.0)
    return _baseline("power", "c", ALPHAS, lambda c: s ** (-c), y, sigma)


def fit_exponential(steps: np.ndarray, y: np.ndarray, sigma: np.ndarray) -> LawFit:
    """L = a + b * exp(-s / tau): tau on a grid from 1/10 to 10x the last step."""
    s = steps.astype(float)
    taus = np.geomspace(max(s.max(), 1.0) / 10, max(s.max(), 1.0) * 10, 28)
    return _baseline("exponential", "tau", taus, lambda t: np.exp(-s / t), y, sigma)


def fit_log_power(steps: np.ndarray, y: np.ndarray, sigma: np.ndarray) -> LawFit:
    """L = a + b * ln(s)^(-c): c on a grid."""
    ls = np.log(np.maximum(steps.astype(float), 2.0))
    return _baseline("log-power", "c", np.geomspace(0.1, 20, 28), lambda c: ls ** (-c), y, sigma)


def _baseline(name: str, key: str, grid: np.ndarray, basis: Callable[[float], np.ndarray], y: np.ndarray,
              sigma: np.ndarray) -> LawFit:
    w = 1.0 / sigma
    best: tuple[float, float, np.ndarray] | None = None
    for g in grid:
        X = np.column_stack([np.ones_like(y), basis(float(g))])
        coef, sse = _nonneg(X, y, w)
        if best is None or sse < best[0]:
            best = (sse, float(g), coef)
    assert best is not None
    sse, g, coef = best
    return LawFit(name, {"a": float(coef[0]), "b": float(coef[1]), key: g}, sse)


def aic(sse: float, n: int, k: int) -> float:
    """Akaike's criterion of a least-squares fit with k parameters, from its weighted sse."""
    return float(n * math.log(max(sse, 1e-12) / n) + 2 * k)
