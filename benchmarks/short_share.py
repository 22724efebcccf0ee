"""Below the blend window: the law alone's share in the grid's runs of 400 to 1,000 steps.

    OMP_NUM_THREADS=1 python benchmarks/short_share.py [--runs fixtures/calibration]   # about 2 minutes

Each of the calibration grid's reruns (benchmarks/extrapolation_family.py's cases, every
ratio) is predicted twice, without model error: by the ensemble with L0 fitted, and by the
calibrated-shape law alone through L0 = 0 (where the run's own backtest or a val that has
turned up rules that law out, the ensemble both times, as lossdoctor does), moved to the
run's end as the ensemble fits it, the difference fading past the run (blend.anchored). A
prediction with the law alone's share w is the mixture (1 - w) * ensemble + w * alone.

The share is chosen on half the grid's configs (the one minimizing the median |error| over
every ratio) and scored on the other half, both ways round; then the share shipped
(calibration.SHORT_SHARE) is scored on the whole grid beside the ensemble alone (w = 0).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import NamedTuple

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)
HALVES = ({"d2w64", "d3w96", "d4w128"}, {"d2w256", "d3w128", "d6w64"})  # by config, both datasets together
SHARES = np.round(np.arange(0.0, 1.0001, 0.05), 2)


class Pair(NamedTuple):
    config: str
    ratio: float
    ensemble: float  # val predicted by each, nats
    alone: float
    truth: float

    def error(self, w: float) -> float:
        return float((1 - w) * self.ensemble + w * self.alone - self.truth)


def pairs(runs: str) -> list[Pair]:
    from extrapolation_family import grid_cases, start

    import lossdoctor
    from lossdoctor.fit import Extrapolator, blend
    from lossdoctor.fit import calibration as cm
    out = []
    for c in grid_cases(runs):
        if c.scenario != "rerun":
            continue
        run, last = lossdoctor.load(c.short), start(c)
        ens, alone = (Extrapolator(run, calibration=cm.family(0.0, 0.0, "no model error", a)) for a in (None, last))
        e, a = (x.extrapolate(c.to, scenarios=("rerun",)) for x in (ens, alone))
        a = blend.anchored(a, blend.ends(ens.extrapolate(last), alone.extrapolate(last)))  # as lossdoctor blends
        ve, va = e.scenarios[0].val, a.scenarios[0].val
        assert ve is not None and va is not None  # every grid run predicts val
        out.append(Pair(c.config, c.ratio, ve.mean, va.mean, c.truth))
    return out


def figures(ps: list[Pair], w: float) -> str:
    """Median / worst |error| and mean error, over every ratio and at 2.5x."""
    def one(sel: list[Pair]) -> str:
        e = np.array([p.error(w) for p in sel])
        return f"{np.median(np.abs(e)):.3f} / {np.abs(e).max():.3f} / {e.mean():+.3f}" if len(e) else "-"
    at = {r: one([p for p in ps if p.ratio == r]) for r in (2.5, 5.0)}
    return f"all ratios {one(ps)}; 2.5x {at[2.5]}; 5x {at[5.0]}"


def best_share(ps: list[Pair]) -> float:
    return float(min(SHARES, key=lambda w: (np.median([abs(p.error(w)) for p in ps]), w)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", default=os.path.join(ROOT, "fixtures", "calibration"))
    args = ap.parse_args(argv)
    from lossdoctor.fit import calibration
    ps = pairs(args.runs)
    print("median / worst |error| / mean error (nats, val against the 500-batch truth)")
    for half in HALVES:
        chosen = [p for p in ps if p.config in half]
        scored = [p for p in ps if p.config not in half]
        w = best_share(chosen)
        print(f"chosen on {', '.join(sorted(half))}: w = {w:.2f}; on the other half ({len(scored)} cases):\n"
              f"  w = {w:.2f}: {figures(scored, w)}\n  w = 0   : {figures(scored, 0.0)}")
    w = calibration.SHORT_SHARE
    print(f"the whole grid ({len(ps)} cases):\n  shipped w = {w:.2f}: {figures(ps, w)}\n"
          f"  ensemble, w = 0: {figures(ps, 0.0)}\n  law alone, w = 1: {figures(ps, 1.0)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
