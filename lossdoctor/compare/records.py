"""A folder of modded-nanogpt record runs, as its record rules judge them: the final val
losses' n, mean and sample sd, and a one-sided t-test that the mean is below the target
(3.28 on FineWeb val for the GPT-2 small track)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..run import Dialect, Run

TARGET = 3.28  # modded-nanogpt's GPT-2 small track: mean val loss below this, p < 0.01


@dataclass(frozen=True)
class RecordStats:
    n: int
    mean: float
    sd: float  # sample standard deviation (n - 1)
    target: float
    t: float  # (mean - target) / (sd / sqrt(n))
    p: float  # one-sided: P(T <= t) under mean = target; small: the mean is below the target


def record_stats(runs: Sequence[Run], target: float = TARGET) -> RecordStats | None:
    """The stats of two or more modded-nanogpt runs that each end with a finite val; None
    otherwise (other formats, or fewer than two)."""
    if len(runs) < 2 or any(r.format is not Dialect.MODDED for r in runs):
        return None
    finals = [float(r.evals.val[-1]) for r in runs if len(r.evals) and math.isfinite(r.evals.val[-1])]
    if len(finals) < 2:
        return None
    n = len(finals)
    mean = sum(finals) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in finals) / (n - 1))
    if sd == 0:
        t = -math.inf if mean < target else math.inf if mean > target else 0.0
    else:
        t = (mean - target) / (sd / math.sqrt(n))
    from scipy import stats
    return RecordStats(n, mean, sd, target, t, float(stats.t.cdf(t, n - 1)))
