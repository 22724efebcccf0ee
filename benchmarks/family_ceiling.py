"""Helper of benchmarks/extrapolation_family.py: the law's ceiling on the calibration
grid, each config with shape priors calibrated on its own runs (in sample), and out of
sample with the other configs' spread of shapes as its prior."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from extrapolation_family import Case

    from lossdoctor.fit import Calibration
    from lossdoctor.fit.calibrate import CurveData
    from lossdoctor.fit.shape import ShapePrior


def _curve(path: str, stream: str) -> CurveData:
    """A log's points of one stream (from calibration.START_FRACTION of it on, as the
    extrapolation takes them) with its per-step eta, as calibrate.calibrate takes them."""
    import lossdoctor
    from lossdoctor.fit import calibrate, calibration, lr
    from lossdoctor.fit import points as pts
    run = lossdoctor.load(path)
    cur = pts.curves(run)
    sched = lr.read(run, cur.last)
    e = sched.eta(sched.peak(cur.last + 1))
    p = pts.collect(run, cur, sched.warmup, calibration.START_FRACTION)
    stream_points = p.val if stream == "val" else p.train
    return calibrate.CurveData(os.path.basename(path), np.concatenate([e, e[-1:]]), *stream_points)


def _own_priors(cases: list[Case], origin: bool) -> tuple[dict[str, tuple[ShapePrior, ShapePrior]],
                                                          dict[str, float]]:
    """Each grid family's (val, train) shape priors, calibrated on all of its reruns
    (`origin`: through L0 = 0), and the reduced chi2 of its val calibration."""
    from lossdoctor.fit import calibrate
    out, chi2 = {}, {}
    for fam in sorted({c.family for c in cases}):
        mine = sorted({c.short for c in cases if c.family == fam} | {c.longer for c in cases if c.family == fam})
        logs = [os.path.join(m, "train.log") for m in mine]
        (val, info), (train, _) = (calibrate.calibrate([_curve(p, st) for p in logs], fam, origin=origin)
                                   for st in ("val", "train"))
        out[fam], chi2[fam] = (val, train), info["reduced_chi2"]
    return out, chi2


def _population(priors: list[ShapePrior]) -> ShapePrior:
    """The spread of shapes over configs: the mean and covariance of their priors' means."""
    from lossdoctor.fit import calibration
    from lossdoctor.fit.shape import ShapePrior
    x = np.array([p.mean for p in priors])  # (configs, 3)
    cov = np.cov(x.T) + np.eye(3) * 1e-4  # a floor: two configs alike leave no direction at 0
    return ShapePrior((float(x[:, 0].mean()), float(x[:, 1].mean()), float(x[:, 2].mean())),
                      tuple((float(r[0]), float(r[1]), float(r[2])) for r in cov), calibration.START_FRACTION,
                      "the other configs' shapes")


def _grid_errors(cases: list[Case], cal_for: Callable[[Case], Calibration]) -> dict[float, list[float]]:
    """Each case's val error, by ratio, with the calibration `cal_for` gives it."""
    import lossdoctor
    from lossdoctor.fit import Extrapolator
    errs: dict[float, list[float]] = {}
    for c in cases:
        x = Extrapolator(lossdoctor.load(c.short), calibration=cal_for(c)).extrapolate(c.to, scenarios=("rerun",))
        v = x.scenarios[0].val
        if v is None:  # val not extrapolated (its fit misses its own evals): said in the row, not scored
            print(f"  {c.family} {os.path.basename(c.short)} -> {c.to}: no val predicted")
            continue
        errs.setdefault(c.ratio, []).append(v.mean - c.truth)
    return errs


def _features(config: str) -> np.ndarray:
    """A grid config's place among the others: log parameters (12 L W^2), log tokens per
    step, log peak LR, dropout (x10) and log context, from its flags (calibration_grid)."""
    from calibration_grid import CONFIGS
    v = {f[2:].split("=")[0]: float(f.split("=")[1]) for f in CONFIGS[config]}
    return np.array([math.log(12 * v["n_layer"] * v["n_embd"] ** 2), math.log(v["block_size"] * v["batch_size"]),
                     math.log(v["learning_rate"]), 10 * v["dropout"], math.log(v["block_size"])])


def _nearest(config: str) -> str:
    """The other grid config nearest `config`, each feature in units of its sd over the grid."""
    from calibration_grid import CONFIGS
    x = {c: _features(c) for c in CONFIGS}
    sd = np.array(list(x.values())).std(axis=0) + 1e-9
    return min((c for c in CONFIGS if c != config), key=lambda c: float(np.linalg.norm((x[c] - x[config]) / sd)))


def _shipped() -> Calibration:
    """FAMILY's law and blend with no model error (the means do not depend on it)."""
    from extrapolation_family import shipped
    return shipped(0.0, 0.0, "no model error")


def report_own_shape(cases: list[Case]) -> None:
    """The law's ceiling on the grid: each grid family (config and dataset) predicted with
    shape priors calibrated on every one of its own reruns (calibrate.calibrate, as the
    README CPU config's are made), the runs it is predicted to included: with L0 fitted
    (the ensemble, as it stands alone below 2000 steps where the law alone is ruled out),
    and through L0 = 0 (priors and fit, as the calibrated law alone). In sample on purpose:
    a prior chosen per config, from its features or its nearest neighbours, is hardly
    better than its own. Then the same law
    through L0 = 0 out of sample: the prior of a config left out is the spread of the
    other configs' shapes (and the README CPU config's prior), and the run's own points
    must find its shape in it."""
    from lossdoctor.fit import Calibration, calibrate, calibration
    sel = [c for c in cases if c.source == "grid" and c.scenario == "rerun"]
    free, origin, chi2 = _own_priors(sel, False)[0], *_own_priors(sel, True)
    readme = (calibration.VAL_PRIOR, calibration.TRAIN_PRIOR)

    def own(priors: dict[str, tuple[ShapePrior, ShapePrior]], alone_from: int | None) -> Callable[[Case], Calibration]:
        return lambda c: Calibration(*priors[c.family], calibration.START_FRACTION, 0.0, 0.0, c.family, alone_from)

    def others(c: Case) -> Calibration:
        rest = [p for fam, p in origin.items() if not fam.startswith(f"{c.config}-")] + [readme]
        return Calibration(_population([p[0] for p in rest]), _population([p[1] for p in rest]),
                           calibration.START_FRACTION, 0.0, 0.0, f"without {c.config}", 0)

    def nearest(c: Case) -> Calibration:  # the nearest other config's own priors, as shipped otherwise
        fam = f"{_nearest(c.config)}-{c.family.split('-', 1)[1]}"
        val, train = free.get(fam) or free[f"{_nearest(c.config)}-shakespeare"]
        return dataclasses.replace(_shipped(), val_prior=val, train_prior=train, source=f"{fam}'s priors")

    print("\nthe law's ceiling: each grid family predicted with shape priors calibrated on all of its own reruns, "
          "the truths' runs included (in sample); then through L0 = 0 with the other configs' shapes as the prior "
          "(leave one config out). Per ratio: median |error|, worst, mean error")
    for label, cal_for in (("own priors, L0 fitted (the ensemble)", own(free, None)),
                           ("own priors through L0 = 0, the law alone", own(origin, 0)),
                           ("the other configs' shapes, through L0 = 0", others),
                           ("the nearest other config's own priors (L0 fitted), blended as shipped", nearest)):
        errs = _grid_errors(sel, cal_for)
        print(label + ": " + "; ".join(
            f"{ratio:g}x {np.median(np.abs(e)):.3f}, {np.max(np.abs(e)):.3f}, {np.mean(e):+.3f}"
            for ratio, e in sorted(errs.items())))
    for label, fams in (("the grid's Shakespeare families", [f for f in origin if f.endswith("-shakespeare")]),
                        ("its pycode families", [f for f in origin if not f.endswith("-shakespeare")])):
        print(f"the val exponent alpha, calibrated through L0 = 0, of {label}: "
              + ", ".join(f"{fam.split('-')[0]} {math.exp(origin[fam][0].mean[0]):.3f}" for fam in fams)
              + f"; reduced chi2 {min(chi2[f] for f in fams):.1f} to {max(chi2[f] for f in fams):.1f}")
    off = [c for c in cases if c.source in ("long", "held-out", "repetition") and c.scenario == "rerun"]
    fits = [calibrate.calibrate([_curve(os.path.join(p, "train.log"), "val") for p in (c.short, c.longer)],
                                  c.config, origin=True) for c in off]
    print("of the long, held-out and repetition configs (their two reruns each): "
          + ", ".join(f"{c.config} {math.exp(p.mean[0]):.3f}" for c, (p, _) in zip(off, fits, strict=True))
          + f"; reduced chi2 {min(i['reduced_chi2'] for _, i in fits):.1f} to "
          f"{max(i['reduced_chi2'] for _, i in fits):.1f}; the README CPU config's prior "
          f"{math.exp(readme[0].mean[0]):.3f}")
