"""A folder of modded-nanogpt record runs, as its record rules judge them: the final val
losses' n, mean and sample sd, and a one-sided t-test that the mean is below the target
(3.28 on FineWeb val for the GPT-2 small track)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..config import DEFAULT
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
    pooled: bool = True  # False: the runs are not repeats of one record; mean and sd mean nothing


def record_stats(runs: Sequence[Run], target: float = TARGET) -> RecordStats | None:
    """The stats of two or more modded-nanogpt runs that each end with a finite val; None
    otherwise (other formats, or fewer than two). A run whose evals repeat another's
    exactly (a copied log) counts once; where the finals do not spread at all (printed to
    4 decimals, two real runs can tie), or the runs are not repeats of one record (their
    last steps or printed settings differ), the t-test is not made."""
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
    if differ := _not_repeats(list(curves.values())):
        return RecordStats(n, mean, sd, target, None, None, differ, repeats, pooled=False)
    if sd == 0:
        return RecordStats(n, mean, sd, target, None, None, "the final vals are all equal: no spread to test",
                           repeats)
    t = (mean - target) / (sd / math.sqrt(n))
    from scipy import stats
    return RecordStats(n, mean, sd, target, t, float(stats.t.cdf(t, n - 1)), None, repeats)


def _not_repeats(runs: Sequence[Run]) -> str | None:
    """Why `runs` are not repeats of one record (the record rules' t-test pools repeats of
    one script), or None: their last evals come at other steps, or settings their logs print
    differ."""
    last = sorted({int(r.evals.step[-1]) for r in runs})
    if len(last) > 1:
        return f"they are not repeats of one record: their last evals come at steps {', '.join(map(str, last))}"
    shown = [{k: cv.value for k, cv in r.config.values.items() if cv.origin != DEFAULT} for r in runs]
    keys = sorted({k for c in shown for k in c if len({repr(c.get(k)) for c in shown}) > 1})
    if keys:
        return f"they are not repeats of one record: the settings their logs print differ in {', '.join(keys)}"
    return None
