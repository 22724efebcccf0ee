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
    t: float | None  # (mean - target) / (sd / sqrt(n)); None where it has no spread to test
    p: float | None  # one-sided: P(T <= t) under mean = target; small: the mean is below the target
    why_no_test: str | None = None  # why t and p are None
    repeats: int = 0  # runs left out: the same curve as another given (a copy of a log)


def record_stats(runs: Sequence[Run], target: float = TARGET) -> RecordStats | None:
    """The stats of two or more modded-nanogpt runs that each end with a finite val; None
    otherwise (other formats, or fewer than two). A run whose evals repeat another's
    exactly (a copied log) counts once; where the finals do not spread at all (printed to
    4 decimals, two real runs can tie), the t-test is not made: it would divide by 0."""
    if len(runs) < 2 or any(r.format is not Dialect.MODDED for r in runs):
        return None
    curves = {(r.evals.step.tobytes(), r.evals.val.tobytes()): r for r in runs
              if len(r.evals) and math.isfinite(r.evals.val[-1])}
    finals = [float(r.evals.val[-1]) for r in curves.values()]
    repeats = sum(1 for r in runs if len(r.evals) and math.isfinite(r.evals.val[-1])) - len(finals)
    if len(finals) < 2:
        return None
    n = len(finals)
    mean = sum(finals) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in finals) / (n - 1))
    if sd == 0:
        return RecordStats(n, mean, sd, target, None, None, "the final vals are all equal: no spread to test",
                           repeats)
    t = (mean - target) / (sd / math.sqrt(n))
    from scipy import stats
    return RecordStats(n, mean, sd, target, t, float(stats.t.cdf(t, n - 1)), None, repeats)
