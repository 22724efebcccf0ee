"""The LR-annealing law with a calibrated shape, fitted to one run by weighting shapes.

    L(s) = L0 + A * u(s),   u(s) = S1(s)^(-alpha) - r * S2_lam(s)

S1 and S2 are laws.py's LR area and annealing area (eta = LR / peak LR). The shape
theta = (alpha, lam, r) says how the loss bends with LR area and how much annealing
lowers it; (L0, A) set the level and scale. One short run cannot pin the shape down:
the split between "more LR area" and "annealing bonus" is not in its data, and a free fit
extrapolates wildly (its shape wanders with a few noisy evals). So the shape has a prior,
calibrated on the built-in trainer's own runs of one config at several horizons
(calibration.py), and the run's data weigh samples drawn from it:

    weight(theta) = prior(theta) / proposal(theta) * exp(-chi2_run(theta) / (2 tau))

with (L0, A) solved exactly for each sample (weighted least squares, L0 >= 0, A >= 0),
and tau = max(1, the best sample's reduced chi2): a law that misfits every sample does
not make one sample's weight absolute. The proposal is the prior with twice its sd, so
that a run whose shape is off the prior still finds samples near its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

N_SAMPLES = 192
PROPOSAL_WIDEN = 2.0  # proposal sd / prior sd


@dataclass(frozen=True)
class ShapePrior:
    """A Gaussian over (log alpha, log(1 - lam), log r); what it was calibrated on."""

    mean: tuple[float, float, float]
    cov: tuple[tuple[float, float, float], ...]
    start_fraction: float  # fit points from this fraction of a run on (as calibrated)
    source: str


def eta(lr: np.ndarray, warmup_iters: int) -> np.ndarray:
    """LR / peak LR per step, warmup counted at the peak (as laws.features)."""
    peak = float(lr.max()) if len(lr) and lr.max() > 0 else 1.0
    e = lr / peak
    return np.where(np.arange(len(e)) < warmup_iters, 1.0, e)


def s1(e: np.ndarray) -> np.ndarray:
    """(N+1,) LR area before each step 0..N, in steps at peak LR."""
    return np.concatenate([[0.0], np.cumsum(e)])


def s2(e: np.ndarray, lam: float) -> np.ndarray:
    """(N+1,) annealing area before each step: m_t = lam m_{t-1} + (eta_{t-1} - eta_t)."""
    from scipy.signal import lfilter
    drop = np.concatenate([[0.0], e[:-1] - e[1:]])
    return np.concatenate([[0.0], np.cumsum(lfilter([1.0], [1.0, -lam], drop))])


def to_theta(alpha: float, lam: float, r: float) -> np.ndarray:
    return np.array([math.log(alpha), math.log(1.0 - lam), math.log(r)])


def from_theta(t: np.ndarray) -> tuple[float, float, float]:
    return float(np.exp(t[0])), float(1.0 - np.exp(t[1])), float(np.exp(t[2]))


@dataclass(frozen=True)
class Posterior:
    """Shape samples weighted by one run's data, each with its exact (L0, A)."""

    thetas: np.ndarray  # (K, 3) log alpha, log(1-lam), log r
    coefs: np.ndarray  # (K, 2) L0, A
    covs: np.ndarray  # (K, 2, 2) covariance of (L0, A), scaled by tau
    weights: np.ndarray  # (K,) summing to 1
    chi2_min: float
    dof: int
    ess: float  # effective number of samples, 1 / sum(w^2)

    def u(self, e: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """(K, len(steps)) u(s) of every sample under per-step eta `e`."""
        area = np.maximum(s1(e)[steps], 1e-9)
        out = np.empty((len(self.thetas), len(steps)))
        for k, t in enumerate(self.thetas):
            a, lam, r = from_theta(t)
            out[k] = area ** (-a) - r * s2(e, lam)[steps]
        return out

    def predict(self, e: np.ndarray, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Weighted mean (len(steps),), sd between samples, and mean sd within (from the
        covariance of each sample's (L0, A))."""
        u = self.u(e, steps)  # (K, S)
        pred = self.coefs[:, :1] + self.coefs[:, 1:] * u  # (K, S)
        mean = self.weights @ pred
        between = np.sqrt(np.maximum(self.weights @ (pred - mean) ** 2, 0.0))
        var_in = (self.covs[:, 0, 0][:, None] + 2 * self.covs[:, 0, 1][:, None] * u
                  + self.covs[:, 1, 1][:, None] * u ** 2)  # (K, S)
        within = np.sqrt(np.maximum(self.weights @ var_in, 0.0))
        return mean, between, within


def distance(post: Posterior, prior: ShapePrior) -> float:
    """How far the posterior's mean shape lies from the prior's, in prior sd (Mahalanobis)."""
    d = post.weights @ post.thetas - np.array(prior.mean)
    return float(math.sqrt(d @ np.linalg.inv(np.array(prior.cov)) @ d))


def sample(prior: ShapePrior, n: int = N_SAMPLES, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3) thetas from the widened proposal, and log(prior / proposal) of each."""
    rng = np.random.default_rng(seed)
    mean, cov = np.array(prior.mean), np.array(prior.cov)
    thetas = rng.multivariate_normal(mean, cov * PROPOSAL_WIDEN ** 2, size=n)
    thetas[:, 1] = np.minimum(thetas[:, 1], math.log(0.5))  # lam >= 0.5
    inv = np.linalg.inv(cov)
    d = thetas - mean
    q = np.einsum("ki,ij,kj->k", d, inv, d)
    log_ratio = -0.5 * q + 0.5 * q / PROPOSAL_WIDEN ** 2  # N(0, cov) / N(0, w^2 cov), up to a constant
    return thetas, log_ratio


def fit(segments: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]], prior: ShapePrior,
        n: int = N_SAMPLES) -> Posterior:
    """Weigh shape samples by runs' points: segments of (steps, y, sigma, eta), each under
    its own per-step eta, sharing one (L0, A) (runs of one config)."""
    thetas, log_ratio = sample(prior, n)
    y = np.concatenate([sg[1] for sg in segments])
    w = 1.0 / np.concatenate([sg[2] for sg in segments])
    areas = [np.maximum(s1(sg[3])[sg[0]], 1e-9) for sg in segments]
    coefs, covs, chi2 = np.empty((n, 2)), np.empty((n, 2, 2)), np.empty(n)
    for k, t in enumerate(thetas):
        coefs[k], covs[k], chi2[k] = _line(u_segments(t, segments, areas), y, w)
    dof = max(len(y) - 2, 1)
    tau = max(1.0, float(chi2.min()) / dof)
    logw = log_ratio - 0.5 * chi2 / tau
    weights = np.exp(logw - logw.max())
    weights /= weights.sum()
    return Posterior(thetas, coefs, covs * tau, weights, float(chi2.min()), dof,
                     float(1.0 / np.sum(weights ** 2)))


def u_segments(theta: np.ndarray, segments: list, areas: list | None = None) -> np.ndarray:
    """u(s) of one shape at every segment's steps, concatenated; segments hold (steps, ..., eta)."""
    a, lam, r = from_theta(theta)
    areas = areas or [np.maximum(s1(sg[-1])[sg[0]], 1e-9) for sg in segments]
    return np.concatenate([area ** (-a) - r * s2(sg[-1], lam)[sg[0]] for area, sg in zip(areas, segments)])


def _line(u: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """y = L0 + A u by weighted least squares with L0 >= 0, A >= 0: (coef, cov, chi2)."""
    X = np.column_stack([np.ones_like(u), u]) * w[:, None]
    yw = y * w
    xtx = X.T @ X
    try:
        inv = np.linalg.inv(xtx)
    except np.linalg.LinAlgError:
        inv = np.linalg.pinv(xtx)
    coef = inv @ (X.T @ yw)
    if coef[1] < 0:  # no fall: a constant
        coef = np.array([max(float(np.sum(yw * w) / np.sum(w * w)), 0.0), 0.0])
    elif coef[0] < 0:  # through the origin
        coef = np.array([0.0, float(np.sum(X[:, 1] * yw) / np.sum(X[:, 1] ** 2))])
    res = X @ coef - yw
    return coef, inv, float(res @ res)
