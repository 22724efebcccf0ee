"""Repeated data: what a step is worth to val once the training data repeats.

Muennighoff et al. (2023), "Scaling Data-Constrained Language Models": U unique tokens
read 1 + R times are worth as much as D' = U * (1 + R* * (1 - exp(-R / R*))) new ones,
with R* = 15.4 (their fit, R*_D). The step that reads the data for the (1 + R)-th time
is then worth exp(-R / R*) of a step on new data (dD'/dD).

The val law counts each step's LR area at that worth,

    S1_val(s) = sum_(t<s) eta_t * exp(-max(epochs_t - 1, 0) / R*)

with epochs_t the epochs of the data read by the middle of step t. Train, measured on the
data being repeated, keeps each step's full area, and the annealing area is the
schedule's own: only the progress that carries over to unseen text slows down.

R* is the paper's, not fitted per run: a run of a few epochs does not pin it down
(docs/extrapolation.md, "Repeated data").
"""

from __future__ import annotations

import math

import numpy as np

R_STAR = 15.4  # repetitions after which a repeated token is worth 1/e of a new one


def worth(n: int, per_step: float, r_star: float = R_STAR) -> np.ndarray:
    """(n,) the worth to val of steps 0..n-1, with `per_step` epochs of the data per step."""
    seen = (np.arange(n) + 0.5) * per_step  # epochs read by the middle of each step
    out: np.ndarray = np.exp(-np.maximum(seen - 1.0, 0.0) / r_star)
    return out


def effective_epochs(epochs: float, r_star: float = R_STAR) -> float:
    """D' / U: the epochs of new data that `epochs` of repeated data are worth."""
    if epochs <= 1.0:
        return epochs
    return 1.0 + r_star * (1.0 - math.exp(-(epochs - 1.0) / r_star))
