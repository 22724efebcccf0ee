"""The LR-annealing law with a calibrated shape, fitted to one run by weighting shapes.

    L(s) = L0 + A * u(s),   u(s) = S1(s)^(-alpha) - r * S2_lam(s)

S1 and S2 are the LR area and annealing area (areas.py; eta = LR / peak LR). The shape
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

The samples of a prior are drawn with a fixed seed: every fit under one prior weighs the
same shapes, so their u(s) under one eta (`Basis`) serve every fit and prediction there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .areas import Annealing, Eta

N_SAMPLES = 192
PROPOSAL_WIDEN = 2.0  # proposal sd / prior sd
LOG_ONE_MINUS_LAM = (math.log(1e-4), math.log(0.5))  # the bounds of log(1 - lam), in calibration and samples


@dataclass(frozen=True)
class ShapePrior:
    """A Gaussian over (log alpha, log(1 - lam), log r); what it was calibrated on."""

    mean: tuple[float, float, float]
    cov: tuple[tuple[float, float, float], ...]
    start_fraction: float  # fit points from this fraction of a run on (as calibrated)
    source: str


class Segment(NamedTuple):
    """One run's points under its own per-step eta."""

    steps: np.ndarray  # (P,) int
    y: np.ndarray  # (P,) loss
    sigma: np.ndarray  # (P,) sd of each point
    eta: np.ndarray  # (N,) LR / peak LR of the update at each step 0..N-1


def eta(lr: np.ndarray, warmup_iters: int, peak: float | None = None) -> np.ndarray:
    """LR / peak LR per step, warmup counted at the peak (as laws.features); the peak is
    the largest LR in `lr` unless given."""
    if peak is None:
        peak = float(lr.max()) if len(lr) else 0.0
    e = lr / (peak if peak > 0 else 1.0)
    return np.where(np.arange(len(e)) < warmup_iters, 1.0, e)


def s1(e: np.ndarray) -> np.ndarray:
    """(N+1,) LR area before each step 0..N, in steps at peak LR."""
    return np.concatenate([[0.0], np.cumsum(e)])


def s2(e: np.ndarray, lam: float) -> np.ndarray:
    """(N+1,) annealing area before each step: m_t = lam m_{t-1} + (eta_{t-1} - eta_t),
    a rise undoing the drops below its level (areas.py)."""
    from .laws import areas
    return areas(e, (lam,)).s2[lam]


def to_theta(alpha: float, lam: float, r: float) -> np.ndarray:
    return np.array([math.log(alpha), math.log(1.0 - lam), math.log(r)])


def from_theta(t: np.ndarray) -> tuple[float, float, float]:
    return float(np.exp(t[0])), float(1.0 - np.exp(t[1])), float(np.exp(t[2]))


class Samples(NamedTuple):
    """Shapes drawn from a prior's widened proposal."""

    thetas: np.ndarray  # (K, 3) log alpha, log(1 - lam), log r
    log_ratio: np.ndarray  # (K,) log(prior / proposal), up to a constant
    alpha: np.ndarray  # (K,)
    lam: np.ndarray  # (K,)
    r: np.ndarray  # (K,)


def samples(prior: ShapePrior, n: int = N_SAMPLES, seed: int = 0) -> Samples:
    thetas, log_ratio = sample(prior, n, seed)
    return _samples(thetas, log_ratio)


def _samples(thetas: np.ndarray, log_ratio: np.ndarray) -> Samples:
    return Samples(thetas, log_ratio, np.exp(thetas[:, 0]), 1.0 - np.exp(thetas[:, 1]), np.exp(thetas[:, 2]))


class Basis:
    """u(s) of every sample under one per-step eta, at any steps (each in 0..len(eta))."""

    anneal: Annealing

    def __init__(self, shapes: Samples, e: np.ndarray | Eta, like: Basis | None = None) -> None:
        self.shapes = shapes
        self.eta = e if isinstance(e, Eta) else Eta(e)
        self.anneal = Annealing(self.eta, shapes.lam, like.anneal if like is not None else None)

    def u(self, steps: np.ndarray) -> np.ndarray:
        """(K, len(steps))."""
        area = np.maximum(self.eta.s1(steps), 1e-9)
        sh = self.shapes
        out: np.ndarray = area[None, :] ** (-sh.alpha[:, None]) - sh.r[:, None] * self.anneal.at(steps)
        return out


class Prediction(NamedTuple):
    mean: np.ndarray  # (S,) weighted mean over the samples
    between: np.ndarray  # (S,) sd between the samples
    within: np.ndarray  # (S,) mean sd within a sample, from the covariance of its (L0, A)


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
        return Basis(_samples(self.thetas, np.zeros(len(self.thetas))), e).u(steps)

    def predict(self, e: np.ndarray, steps: np.ndarray) -> Prediction:
        """The prediction at `steps` under per-step eta `e`."""
        return self.predict_u(self.u(e, steps))

    def predict_u(self, u: np.ndarray) -> Prediction:
        """The prediction where the samples' u(s) are `u` (K, S)."""
        pred = self.coefs[:, :1] + self.coefs[:, 1:] * u  # (K, S)
        mean = self.weights @ pred
        between = np.sqrt(np.maximum(self.weights @ (pred - mean) ** 2, 0.0))
        var_in = (self.covs[:, 0, 0][:, None] + 2 * self.covs[:, 0, 1][:, None] * u
                  + self.covs[:, 1, 1][:, None] * u ** 2)  # (K, S)
        within = np.sqrt(np.maximum(self.weights @ var_in, 0.0))
        return Prediction(mean, between, within)

    def best(self) -> int:
        """The heaviest sample."""
        return int(np.argmax(self.weights))


def distance(post: Posterior, prior: ShapePrior) -> float:
    """How far the posterior's mean shape lies from the prior's, in prior sd (Mahalanobis)."""
    d = post.weights @ post.thetas - np.array(prior.mean)
    return float(math.sqrt(d @ np.linalg.inv(np.array(prior.cov)) @ d))


def sample(prior: ShapePrior, n: int = N_SAMPLES, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3) thetas from the widened proposal, and log(prior / proposal) of each."""
    rng = np.random.default_rng(seed)
    mean, cov = np.array(prior.mean), np.array(prior.cov)
    thetas = rng.multivariate_normal(mean, cov * PROPOSAL_WIDEN ** 2, size=n)
    thetas[:, 1] = np.clip(thetas[:, 1], *LOG_ONE_MINUS_LAM)  # lam in [0.5, 0.9999]: at 1, S2 divides by 0
    inv = np.linalg.inv(cov)
    d = thetas - mean
    q = np.einsum("ki,ij,kj->k", d, inv, d)
    log_ratio = -0.5 * q + 0.5 * q / PROPOSAL_WIDEN ** 2  # N(0, cov) / N(0, w^2 cov), up to a constant
    return thetas, log_ratio


def fit(segments: Sequence[Segment], prior: ShapePrior, n: int = N_SAMPLES) -> Posterior:
    """Weigh shape samples by runs' points: segments each under its own per-step eta,
    sharing one (L0, A) (runs of one config)."""
    shapes = samples(prior, n)
    u = np.concatenate([Basis(shapes, sg.eta).u(sg.steps) for sg in segments], axis=1)
    return fit_u(shapes, u, np.concatenate([sg.y for sg in segments]),
                 np.concatenate([sg.sigma for sg in segments]))


def fit_u(shapes: Samples, u: np.ndarray, y: np.ndarray, sigma: np.ndarray, origin: bool = False) -> Posterior:
    """`fit` where the samples' u(s) at the points are given: (K, P). `origin`: L0 = 0,
    only A is fitted (the L0 the joint calibration fits found; calibration.ALONE_FROM)."""
    coefs, covs, chi2 = (through_origin if origin else lines)(u, y, 1.0 / sigma)
    dof = max(len(y) - 2, 1)
    tau = max(1.0, float(chi2.min()) / dof)
    logw = shapes.log_ratio - 0.5 * chi2 / tau
    weights = np.exp(logw - logw.max())
    weights /= weights.sum()
    return Posterior(shapes.thetas, coefs, covs * tau, weights, float(chi2.min()), dof,
                     float(1.0 / np.sum(weights ** 2)))


def u_segments(theta: np.ndarray, segments: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """u(s) of one shape at every segment's steps, concatenated; segments hold (steps, eta)."""
    one = _samples(theta[None, :], np.zeros(1))
    return np.concatenate([Basis(one, e).u(steps)[0] for steps, e in segments])


def lines(u: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """y = L0 + A u_k for every row u_k of `u` (K, P), by weighted least squares with
    L0 >= 0, A >= 0: (coef (K, 2), unconstrained covariance (K, 2, 2), chi2 (K,))."""
    w2 = w * w
    su, suu = u @ w2, (u * u) @ w2
    xtx = np.empty((len(u), 2, 2))
    xtx[:, 0, 0] = np.sum(w2)
    xtx[:, 0, 1] = xtx[:, 1, 0] = su
    xtx[:, 1, 1] = suu
    xty = np.column_stack([np.full(len(u), y @ w2), u @ (w2 * y)])
    try:
        inv = np.linalg.inv(xtx)
    except np.linalg.LinAlgError:
        inv = np.array([_inv(m) for m in xtx])
    coef = np.einsum("kij,kj->ki", inv, xty)
    flat = coef[:, 1] < 0  # no fall: a constant
    coef[flat] = [max(float(xty[0, 0] / xtx[0, 0, 0]), 0.0), 0.0]
    origin = ~flat & (coef[:, 0] < 0)  # through the origin
    coef[origin, 0] = 0.0
    coef[origin, 1] = xty[origin, 1] / suu[origin]
    res = (coef[:, :1] + coef[:, 1:] * u - y) * w
    return coef, inv, np.einsum("kp,kp->k", res, res)


def through_origin(u: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """y = A u_k for every row u_k of `u` (K, P), A >= 0, by weighted least squares: as
    `lines`, with L0 = 0 and no variance."""
    w2 = w * w
    suu = np.maximum((u * u) @ w2, 1e-300)
    a = np.maximum((u @ (w2 * y)) / suu, 0.0)
    coef = np.column_stack([np.zeros(len(u)), a])
    cov = np.zeros((len(u), 2, 2))
    cov[:, 1, 1] = 1.0 / suu
    res = (a[:, None] * u - y) * w
    return coef, cov, np.einsum("kp,kp->k", res, res)


def _inv(m: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.inv(m)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(m)
