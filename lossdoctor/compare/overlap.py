"""Where two runs' curves overlap: both at shared steps, tokens seen and FLOPs, what the
overlap leaves out, and each run's row of the side-by-side table."""

from __future__ import annotations

import os

import numpy as np

from ..facts import Facts
from ..run import Run
from .results import Overlap, OverlapPoint, TableRow

OVERLAP_POINTS = 5


def overlap(ra: Run, rb: Run, fa: Facts, fb: Facts, metric: str, iterations: bool = False) -> Overlap:
    """Both curves at up to 5 evenly spaced shared points of steps, tokens seen and FLOPs:
    the evals, or on train loss between runs without evals (`iterations`: where one has
    none past step 0, compare.iter_final), the iteration losses smoothed."""
    n = min(_window(ra), _window(rb))  # one smoothing for both: a longer running mean lags more
    ca, cb = _curve(ra, metric, iterations, n), _curve(rb, metric, iterations, n)
    if ca is None or cb is None:
        return Overlap()
    (sta, ya), (stb, yb) = ca, cb
    scale = {"steps": (1.0, 1.0),
             "tokens": (fa.value("tokens_per_iter"), fb.value("tokens_per_iter")),
             "flops": (_flops_per_step(fa), _flops_per_step(fb))}
    axes: dict[str, tuple[OverlapPoint, ...]] = {}
    for axis, (sa, sb) in scale.items():
        if not sa or not sb:
            continue
        xa, xb = sta * float(sa), stb * float(sb)
        # from the first eval after step 0 of either run: interpolating from step 0 says nothing
        lo = max(xa[xa > 0][0] if (xa > 0).any() else 0.0, xb[xb > 0][0] if (xb > 0).any() else 0.0)
        hi = min(xa[-1], xb[-1])
        if hi < lo or lo <= 0:  # hi == lo: one shared eval, still a point both curves show
            continue
        xs = np.linspace(lo, hi, OVERLAP_POINTS)
        if axis == "steps":  # whole steps, as the logs count them (lo and hi are logged steps)
            xs = np.round(xs)
        axes[axis] = tuple(_point(float(x), xa, ya, xb, yb) for x in np.unique(xs))
    return Overlap(**axes)


SMOOTH = 25  # iterations a train point averages, where a run has no evals to compare along the way


def _window(run: Run) -> int:
    """The running mean a run's iteration losses want: SMOOTH of one step's losses (of a
    quarter of them, where they are fewer than 4 SMOOTH); 1 for a window's mean or an EMA,
    smoothed already."""
    n_iters = len(run.curves()[1])
    return min(SMOOTH, max(n_iters // 4, 1)) if run.measures.train == "step" else 1


def _curve(run: Run, metric: str, iterations: bool = False, n: int | None = None
           ) -> tuple[np.ndarray, np.ndarray] | None:
    """(steps, losses) to compare along: the evals' `metric`, else on train loss (where the
    evals hold none: HF, Lightning; `iterations`: the runs are compared on them) the
    iteration losses in running means of `n` (the run's own _window where not given; 1
    where they are smoothed already); None with fewer than two points."""
    ev, it = run.curves()
    if len(ev) >= 2 and (metric != "train" or run.measures.eval_train and not iterations):
        return ev.step, getattr(ev, metric)
    n = _window(run) if n is None or run.measures.train != "step" else n
    if metric != "train" or len(it) < 2 * n or len(it) < 2:
        return None
    return it.step[n - 1:], np.convolve(it.loss, np.ones(n) / n, mode="valid")


def _point(x: float, xa: np.ndarray, ya: np.ndarray, xb: np.ndarray, yb: np.ndarray) -> OverlapPoint:
    va, vb = float(np.interp(x, xa, ya)), float(np.interp(x, xb, yb))
    return OverlapPoint(x, va, vb, va - vb)


def _flops_per_step(f: Facts) -> float | None:
    fpt, tpi = f.value("flops_per_token"), f.value("tokens_per_iter")
    return float(fpt) * float(tpi) if fpt and tpi else None


def table_row(run: Run, f: Facts, final_: float | None, best: float, metric: str, reference: bool,
              apart: bool = False) -> TableRow:
    """One run's row against the best final (`best`); no gap for a run whose losses do not
    compare with the best run's (`apart`)."""
    return TableRow(run.source, final_, None if final_ is None or apart else final_ - best, f.value("params"),
                    f.value("tokens_seen"), f.value("best_val"), reference, metric)


def overlap_notes(ov: Overlap, ra: Run, rb: Run, metric: str, iterations: bool = False) -> list[str]:
    """What the overlap leaves out: no shared range, a run with no curve, or an axis."""
    if not ov.any():
        flat = [r.source for r in (ra, rb) if _curve(r, metric, iterations) is None]
        if flat:  # one value each: there is no range to share
            which = "each run shows" if len(flat) == 2 else f"{os.path.basename(flat[0])} shows"
            what = "train loss" if metric == "train" else metric
            return [f"{which} its final {what} alone, no curve: the runs are compared at their ends, by their "
                    "configs"]
        return ["the runs share no range of steps, tokens or FLOPs: they are compared at their ends, by "
                "their configs and, where a curve allows it, by extrapolation"]
    empty = [axis for axis, pts in ov.items() if not pts]
    if empty:
        return [f"at equal {' and '.join(empty)} the curves share no range past the first eval "
                "(or the quantity is unknown): those comparisons are not shown"]
    return []
