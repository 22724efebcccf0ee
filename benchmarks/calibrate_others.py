"""What `--calibrate OTHER_RUN` does to a prediction's error and its interval's coverage.

    OMP_NUM_THREADS=1 python benchmarks/calibrate_others.py [--runs fixtures/calibration]

The calibration grid (benchmarks/calibration_grid.py) holds each Shakespeare config at 400,
600, 800, 1000 and 2000 steps with seeds 1 and 2. Each case predicts one run's final val at
a longer horizon, as lossdoctor ships it, alone and with other runs of its config given as
`--calibrate`, the way a user would give their earlier runs:

  shorter, same seed:  the 1000-step run to 2000, given the same seed's 400, 600 and 800
  shorter, other seed: the 1000-step run to 2000, given the other seed's 400, 600 and 800
  longer, other seed:  the 400-step run to 1000, given the other seed's 2000
  spanning, other seed: the 800-step run to 2000, given the other seed's 1000 and 2000

The truth is the longer run's final model on 500 val batches (truth.json). The grid's
model error (calibration.FAMILY) was fitted on these configs, so the coverage without
`--calibrate` is in sample; what the table shows is the change `--calibrate` makes.
Prints each case, then per kind: median and worst |error|, mean error, coverage of the
80% intervals and the median interval width, alone and calibrated.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import NamedTuple

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import lossdoctor  # noqa: E402
from lossdoctor import CannotExtrapolate  # noqa: E402

CONFIGS = ("d2w64", "d3w96", "d4w128", "d2w256", "d6w64", "d3w128")
# kind: (the run's steps, the target, the other runs' steps, whose seed: "same" or "other")
KINDS = {
    "shorter, same seed": (1000, 2000, (400, 600, 800), "same"),
    "shorter, other seed": (1000, 2000, (400, 600, 800), "other"),
    "longer, other seed": (400, 1000, (2000,), "other"),
    "spanning, other seed": (800, 2000, (1000, 2000), "other"),
}


class Case(NamedTuple):
    kind: str
    name: str
    truth: float
    alone: tuple[float, float, float]  # mean, lo, hi
    joint: tuple[float, float, float]


def _dir(runs: str, config: str, seed: int, steps: int) -> str:
    return os.path.join(runs, f"{config}-shakespeare-s{seed}-{steps}")


def _val(run: lossdoctor.Run, target: int, others: tuple[lossdoctor.Run, ...]) -> tuple[float, float, float]:
    """The rerun's predicted val at `target`: mean and the 80% interval."""
    x = lossdoctor.extrapolate(run, to=target, scenarios=("rerun",), level=0.8, calibrate=list(others))
    val = x.scenarios[0].val
    assert val is not None
    return val.mean, val.lo, val.hi


def cases(runs: str) -> list[Case]:
    out = []
    for kind, (steps, target, given, whose) in KINDS.items():
        for config in CONFIGS:
            for seed in (1, 2):
                other_seed = seed if whose == "same" else 3 - seed
                run = lossdoctor.load(_dir(runs, config, seed, steps))
                others = tuple(lossdoctor.load(_dir(runs, config, other_seed, s)) for s in given)
                with open(os.path.join(_dir(runs, config, seed, target), "truth.json")) as f:
                    truth = float(json.load(f)["val"])
                try:
                    case = Case(kind, f"{config} s{seed}", truth, _val(run, target, ()), _val(run, target, others))
                except CannotExtrapolate as e:
                    print(f"{kind:22s} {config} s{seed}: declined: {e}")
                    continue
                out.append(case)
                print(f"{kind:22s} {case.name:10s} truth {truth:.4f}  alone {_said(case.alone, truth)}  "
                      f"calibrated {_said(case.joint, truth)}", flush=True)
    return out


def _said(est: tuple[float, float, float], truth: float) -> str:
    mean, lo, hi = est
    inside = "in " if lo <= truth <= hi else "OUT"
    return f"{mean - truth:+.3f} [{lo:.3f}, {hi:.3f}] {inside}"


def summary(all_cases: list[Case]) -> None:
    print("\n| kind | n | alone: median / worst / mean error / coverage / width | "
          "calibrated: median / worst / mean error / coverage / width |")
    print("|---|---|---|---|")
    for kind in (*KINDS, "all"):
        group = [c for c in all_cases if kind in ("all", c.kind)]
        if group:
            print(f"| {kind} | {len(group)} | {_stats(group, 'alone')} | {_stats(group, 'joint')} |")


def _stats(group: list[Case], side: str) -> str:
    est = np.array([getattr(c, side) for c in group])  # (n, 3): mean, lo, hi
    truth = np.array([c.truth for c in group])
    err = est[:, 0] - truth
    inside = (est[:, 1] <= truth) & (truth <= est[:, 2])
    return (f"{np.median(np.abs(err)):.3f} / {np.abs(err).max():.3f} / {err.mean():+.3f} / "
            f"{inside.mean():.0%} / {np.median(est[:, 2] - est[:, 1]):.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", default=os.path.join(ROOT, "fixtures", "calibration"))
    args = ap.parse_args()
    summary(cases(args.runs))


if __name__ == "__main__":
    main()
