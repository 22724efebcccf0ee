"""Helpers of benchmarks/extrapolation_family.py: two one-parameter changes to how the law
counts the schedule, each tried on the grid's 2.5x cases and on the long runs' (2000 ->
5000) as shipped otherwise, to see whether one setting serves `rerun`, `resume` and
`constant` in both regimes.

* the LR area as the sum of eta^p instead of eta (p > 1: a step at a low LR is worth
  less than its area);
* the annealing memory: the prior's log(1 - lam) moved up by k (a memory e^k times
  shorter), with log r moved by the same k or not at all.

And one change to how far the run's own curve may move the annealing's size: the prior's
sd of log r times s (s > 1: the run's own anneal weighs more against the calibration's).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING
from unittest import mock

import numpy as np

if TYPE_CHECKING:
    from extrapolation_family import Case, Row

    from lossdoctor.fit import Calibration
    from lossdoctor.fit.shape import ShapePrior

POWERS = (1.0, 1.3, 1.6, 2.0)  # p of the LR area sum(eta^p)
MEMORY_SHIFTS = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (2.0, 0.0), (2.0, 2.0), (3.0, 0.0), (3.0, 3.0))
RATE_SD = (1.0, 1.41, 2.0)  # s: the prior's sd of log r times s


@contextlib.contextmanager
def area_power(p: float) -> Iterator[None]:
    """The LR area S1 summed as eta^p: each step's area counted at eta^(p - 1) of its worth
    (areas.Eta's `worth`, which S1 alone reads; the annealing drops stay eta's own)."""
    from lossdoctor.fit import areas
    init = areas.Eta.__init__

    def powered(self: areas.Eta, e: np.ndarray, like: areas.Eta | None = None,
                worth: np.ndarray | None = None) -> None:
        extra = np.asarray(e, float) ** (p - 1)  # p >= 1: eta of 0 counts 0
        init(self, e, like, extra if worth is None else worth * extra)
    with mock.patch.object(areas.Eta, "__init__", powered):
        yield


def shorter_memory(cal: Calibration, k: float, rk: float) -> Calibration:
    """`cal` with both priors' log(1 - lam) moved up by k and log r by rk."""
    def moved(prior: ShapePrior) -> ShapePrior:
        mean = list(prior.mean)
        mean[1] += k
        mean[2] += rk
        return dataclasses.replace(prior, mean=tuple(mean))
    return dataclasses.replace(cal, val_prior=moved(cal.val_prior), train_prior=moved(cal.train_prior))


def wider_rate(cal: Calibration, s: float) -> Calibration:
    """`cal` with both priors' sd of log r times s (its variance and covariances scaled so)."""
    def widened(prior: ShapePrior) -> ShapePrior:
        scale = np.array([1.0, 1.0, s])
        cov = np.array(prior.cov) * np.outer(scale, scale)
        return dataclasses.replace(prior, cov=tuple(tuple(float(v) for v in row) for row in cov))
    return dataclasses.replace(cal, val_prior=widened(cal.val_prior), train_prior=widened(cal.train_prior))


def _within(rows: list[Row]) -> str:
    """The predicted resume bumps over the paired ones, and how many lie within 30%."""
    from extrapolation_family import bumps as bump_list
    ratios = [pred / paired for _, pred, _, paired in bump_list(rows) if paired]
    return (f"bumps over paired {' '.join(f'{r:.2f}' for r in ratios)}, "
            f"{sum(abs(r - 1) <= 0.3 for r in ratios)} of {len(ratios)} within 30%")


def _summary(rows: list[Row]) -> str:
    out = []
    for source in ("grid", "long"):
        for scenario in ("rerun", "resume", "constant"):
            e = np.array([r.mean - r.case.truth for r in rows if r.case.source == source
                          and r.case.scenario == scenario])
            if len(e):
                out.append(f"{source} {scenario} {np.median(np.abs(e)):.3f} ({np.mean(e):+.3f})")
    return "; ".join(out)


def report_annealing_variants(cases: list[Case]) -> None:
    """Median |error| (mean signed error) per regime and scenario at 2.5x, for each p and
    each memory shift (the grid with its model error left at 0: the means do not depend
    on it; the long runs as shipped, FAMILY)."""
    from extrapolation_family import bumps as bump_list
    from extrapolation_family import predict, shipped

    from lossdoctor.fit import calibration
    sel = [c for c in cases if abs(c.ratio - 2.5) < 0.01 and c.source in ("grid", "long")]
    bare = shipped(0.0, 0.0, "no model error")
    print("\nthe LR area as sum(eta^p), 2.5x: median |error| (mean error) per regime and scenario")
    for p in POWERS:
        with area_power(p):
            print(f"p = {p:g}: {_summary([predict(c, bare) for c in sel])}")
    grid = [c for c in sel if c.source == "grid"]
    print("\nthe grid's 2.5x with a shorter annealing memory: the prior's log(1 - lam) + k, log r + rk")
    for k, rk in MEMORY_SHIFTS:
        rows = [predict(c, shorter_memory(bare, k, rk)) for c in grid]
        bumps = [pred for _, pred, _, paired in bump_list(rows) if paired is not None]
        print(f"k = {k:g}, rk = {rk:g}: {_summary(rows)}; predicted bumps {min(bumps):+.3f} to {max(bumps):+.3f}, "
              f"{sum(b > 0 for b in bumps)} of {len(bumps)} positive as paired")
    print("\nthe run's own anneal weighing more: the prior's sd of log r times s (2.5x; the grid as above, "
          "the long runs with FAMILY)")
    for scale in RATE_SD:
        rows = [predict(c, wider_rate(bare, scale)) for c in grid]
        long = [predict_with(c, wider_rate(calibration.FAMILY, scale)) for c in sel if c.source == "long"]
        print(f"s = {scale:g}: {_summary(rows + long)}; grid {_within(rows)}; long {_within(long)}")


def predict_with(case: Case, cal: Calibration) -> Row:
    """A case of any family predicted with `cal` (extrapolation_family.predict gives it to
    the grid's alone)."""
    from extrapolation_family import predict
    return predict(case._replace(source="grid"), cal)._replace(case=case)
