"""Leave-one-config-out backtests of `lossdoctor extrapolate` on the calibration grid.

    python benchmarks/extrapolation_family.py [--runs fixtures/calibration] [--heldout fixtures/heldout]
                                              [--repetition fixtures/repetition] [--long fixtures/long]
                                              [--groundtruth DIR]

The grid (benchmarks/calibration_grid.py, kept in fixtures/calibration) holds six configs
on tiny Shakespeare and three on "pycode", each trained to max_iters = lr_decay_iters =
400, 600, 800, 1000 and 2000 with two seeds, and its 400-step run of seed 1 continued to
1000 (`resume`, `constant`). Each case predicts a longer run's final val from a shorter
run's log: `rerun` from each horizon to every longer one (from 400 steps: 1.5x, 2x, 2.5x
and 5x; from 600: 1.33x, 1.67x, 3.33x; from 800: 1.25x, 2.5x; from 1000: 2x), `resume`
and `constant` from 400 to 1000 (2.5x).
The truth is the longer run's final model on 500 random val batches (truth.json).

Leave one config out: a config (on every dataset it has) is predicted with the model
error calibrated on the other configs' cases alone. The interval's model error is the
error the fit's own spread does not explain, as a fraction of the loss, growing with
log2 of the horizon ratio (fit.calibrate.model_error_fit); the same fit over every
config is what lossdoctor ships for configs off the README CPU config (FAMILY in
fit/calibration.py, printed at the end).

nanoGPT's own runs in ../shared/groundtruth (the README CPU config, eval_iters=200) are a
further family, out of sample for all of it: 1000 -> 3000 steps (`rerun` at 3x; truth:
the logged val, sd ~0.005), and the constant-LR 5000-step run cut at 1000, 2000 and 3333
steps (`rerun` of a constant schedule at 5x, 2.5x and 1.5x).

The held-out configs (benchmarks/heldout_runs.py, kept in fixtures/heldout: the README CPU
config with 6 layers x 192, or with batch 24) are another: each 2000-step log predicted to
its 5000-step rerun (2.5x). The repetition runs (benchmarks/repetition_runs.py, kept in
fixtures/repetition: four model sizes from 3.1 to 7.7 epochs of their data) are a third,
and the long runs (benchmarks/long_runs.py, kept in fixtures/long: six more one-change
configs, 2000 -> 5000 steps) a fourth. These and nanoGPT's runs are predicted as
lossdoctor ships (calibration.for_config), with nothing fitted on them. A case
lossdoctor declines (past 4 epochs of the data) is listed apart, with what the law would
have said.

Prints per case, then per config and ratio, then per ratio: median and worst |error|, the
coverage of the 80% intervals, and the naive power law's median and worst |error|. Then
the resume bumps; each of the ensemble's two laws alone, on val and train, for the reruns
off the grid and the grid's at 2.5x; how the error off the grid follows the val the log
ends at; two one-parameter changes to how the law counts the schedule (family_annealing.py);
the law's ceiling on the grid (each config with shape priors calibrated on all of its own
runs, in sample); the grid's seed-to-seed spread; and the model error fitted over every
grid config.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
import tempfile
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from family_annealing import report_annealing_variants
from family_ceiling import report_own_shape
from family_laws import (
    alone_error,
    largest_backtest_ratio,
    law_table,
    level_trend,
    off_readme,
    report_acceleration,
    report_alone_by_start,
    report_backtests,
    report_laws,
    report_nearest,
    report_repeat,
    seed_spread,
    unlimited_epochs,
)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
HORIZONS = (400, 600, 800, 1000, 2000)  # the grid's; `rerun` from each to every longer one
FROM = 400  # the continuations (`resume`, `constant`) start from the 400-step run
CUTS = (3333, 2000, 1000)  # the constant-LR nanoGPT run cut here, predicted at 5000

if TYPE_CHECKING:
    from lossdoctor.fit import Calibration
    from lossdoctor.fit.results import Path


class Case(NamedTuple):
    config: str  # "d2w64", "d6w192", or "nanoGPT" for ../shared/groundtruth
    family: str  # config and dataset
    scenario: str
    ratio: float
    short: str  # the log predicted from
    to: int
    truth: float
    source: str = "grid"  # "grid" (calibrated leaving its config out); "held-out", "repetition", "long", "nanoGPT"
    # (as shipped)
    longer: str = ""  # the log of the run that reached `to` (its last eval's train loss: the train truth)


class Row(NamedTuple):
    case: Case
    mean: float
    lo: float
    hi: float
    sd: float  # the interval's sd without the model error
    power: float
    path: Path | None  # the predicted val along the scenario
    declined: str | None = None  # lossdoctor's refusal (beyond the epochs it measures); the row is the law's anyway
    last_val: float = float("nan")  # the short log's last logged val
    val_l0: float = float("nan")  # L0 of the val fit's heaviest shape sample
    train_backtest: float = float("nan")  # the calibrated law's train backtest, rms in sigma
    val_backtest: float = float("nan")  # the val fit on 70% of the evals, its error at the last (nats)
    residual: float = float("nan")  # rms of the fit's residuals on the run's own train points, in sigma
    train: tuple[float, float, float, float] | None = None  # the train prediction (mean, lo, hi, sd), where given
    train_truth: float = float("nan")  # the longer run's last logged train loss (an eval's)
    share: float = 0.0  # the law alone's share of the prediction (Extrapolation.alone_share)
    refused: bool = False  # not blended because the law alone's side refused (not ruled out by the run)


def grid_cases(runs: str) -> list[Case]:
    out = []
    names = sorted(n for n in os.listdir(runs) if os.path.exists(os.path.join(runs, n, "truth.json")))
    for name in names:
        parts = name.split("-")  # config, dataset, seed, steps
        if len(parts) != 4 or int(parts[3]) not in HORIZONS:
            continue
        config, dataset, seed, start = parts[0], parts[1], parts[2], int(parts[3])
        stem = "-".join(parts[:3])
        targets = [("rerun", t, f"{stem}-{t}") for t in HORIZONS if t > start]
        if start == FROM and seed == "s1":
            targets += [(k, int(FROM * 2.5), f"{stem}-{k}-{int(FROM * 2.5)}")
                        for k in ("resume", "constant")]
        for scenario, to, longer in targets:
            truth = os.path.join(runs, longer, "truth.json")
            if os.path.exists(truth):
                with open(truth, encoding="utf-8") as f:
                    value = json.load(f)["val"]
                out.append(Case(config, f"{config}-{dataset}", scenario, round(to / start, 2), os.path.join(runs, name),
                                to, value, longer=os.path.join(runs, longer)))
    return out


def heldout_cases(runs: str, source: str = "held-out") -> list[Case]:
    """Each config's shorter log (CONFIG-N) predicted to its rerun at 2.5x (CONFIG-2.5N):
    the held-out configs (2000 -> 5000), the repetition runs (3.1 -> 7.7 epochs), the long
    runs; and to its continuations where they were run (CONFIG-resume-2.5N,
    CONFIG-constant-2.5N: the long runs)."""
    out: list[Case] = []
    if not os.path.isdir(runs):
        return out
    for name in sorted(os.listdir(runs)):
        config, _, steps = name.rpartition("-")
        if not steps.isdigit() or not os.path.exists(os.path.join(runs, name, "truth.json")):
            continue
        to = int(steps) * 5 // 2
        for scenario, longer in (("rerun", f"{config}-{to}"), ("resume", f"{config}-resume-{to}"),
                                 ("constant", f"{config}-constant-{to}")):
            truth = os.path.join(runs, longer, "truth.json")
            if os.path.exists(truth):
                with open(truth, encoding="utf-8") as f:
                    value = json.load(f)["val"]
                out.append(Case(config, f"{config}-{source}", scenario, 2.5, os.path.join(runs, name), to, value,
                                source, os.path.join(runs, longer)))
    return out


def groundtruth_cases(folder: str, scratch: str) -> list[Case]:
    import lossdoctor
    out: list[Case] = []
    if not os.path.exists(os.path.join(folder, "gt_T3000.log")):
        return out
    ev, _ = lossdoctor.load(os.path.join(folder, "gt_T3000.log")).curves()
    out.append(Case("nanoGPT", "nanoGPT-shakespeare", "rerun", 3.0, os.path.join(folder, "gt_T1000.log"), 3000,
                    float(ev.val[-1]), "nanoGPT", os.path.join(folder, "gt_T3000.log")))
    const = os.path.join(folder, "const_5000.log")
    ev, _ = lossdoctor.load(const).curves()
    with open(const, encoding="utf-8") as f:
        lines = f.readlines()
    for cut in CUTS:
        end = next(i for i, line in enumerate(lines) if line.startswith(f"iter {cut}:"))
        path = os.path.join(scratch, f"const_5000_cut{cut}.log")
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(lines[: end + 1])
        out.append(Case("nanoGPT", "nanoGPT-constant", "rerun", round(5000 / cut, 1), path, 5000, float(ev.val[-1]),
                        "nanoGPT", const))
    return out


def predict(case: Case, calibration: Calibration) -> Row:
    """A grid case with `calibration`; any other as lossdoctor ships (the README CPU
    config, as nanoGPT's runs and r4w128: the reference runs and DEFAULT; other configs:
    FAMILY)."""
    import lossdoctor
    from lossdoctor.fit import Extrapolator
    extrapolate = importlib.import_module("lossdoctor.fit.extrapolate")  # the module, not its function
    cal = calibration if case.source == "grid" else None
    run, declined = lossdoctor.load(case.short), None
    try:
        x = Extrapolator(run, calibration=cal).extrapolate(case.to, scenarios=(case.scenario,))
    except extrapolate.BeyondEpochs as e:  # what the law would have said: is declining right?
        declined = str(e)
        with unlimited_epochs():
            x = Extrapolator(run, calibration=cal).extrapolate(case.to, scenarios=(case.scenario,))
    v = x.scenarios[0].val
    assert v is not None and x.baseline.val is not None
    ev, _ = run.curves()
    l0 = x.model.val_parameters.L0 if x.model.val_parameters is not None else float("nan")
    bt = x.model.laws.backtest_rms_sigma
    t = x.scenarios[0].train
    truth = float(lossdoctor.load(case.longer).curves()[0].train[-1]) if case.longer else float("nan")
    return Row(case, v.mean, v.lo, v.hi, v.sd, x.baseline.val, x.path(case.scenario), declined, float(ev.val[-1]), l0,
               bt.calibrated if bt else float("nan"),
               x.fit.backtest_error if x.fit.backtest_error is not None else float("nan"), x.fit.residual_scale,
               (t.mean, t.lo, t.hi, t.sd) if t is not None else None, truth, x.alone_share,
               any("is not blended in: cannot extrapolate" in n for n in x.notes))


def train_cases(rows: list[Row]) -> list[tuple[float, float, float, float]]:
    """(ratio, predicted, true, sd without model error) of the rows' train predictions, for
    model_error_fit: the grid's rows as predicted without model error, the long runs' as
    shipped (from 2000 steps: the calibrated law alone), its model error taken out."""
    from lossdoctor.fit import calibration
    assert all(r.case.source in ("grid", "long") for r in rows)
    out = []
    for r in rows:
        if r.train is None or not math.isfinite(r.train_truth):
            continue
        shipped = 0.0 if r.case.source == "grid" else calibration.FAMILY.model_error(
            r.case.ratio, alone=True, train=True) * r.train[0]
        out.append((r.case.ratio, r.train[0], r.train_truth, math.sqrt(max(r.train[3] ** 2 - shipped ** 2, 0.0))))
    return out


def train_coverage(label: str, rows: list[Row]) -> str:
    """How often the train interval holds the longer run's last logged train loss (an
    eval's, as the interval is), its median and worst |error| and its mean error."""
    got = [(r.train, r.train_truth) for r in rows if r.train is not None and math.isfinite(r.train_truth)]
    if not got:
        return f"{label:28s}   0"
    err = np.array([t[0] - truth for t, truth in got])
    cover = np.mean([t[1] <= truth <= t[2] for t, truth in got])
    return (f"{label:28s} {len(got):3d} {np.median(np.abs(err)):8.4f} {np.abs(err).max():7.4f} {cover:8.0%} "
            f"{err.mean():+8.4f}")


def alone_train_error(first: list[Row]) -> tuple[float, float]:
    """Train's model error per doubling where the calibrated law is used alone, fitted on
    the long runs' cases without model error (every scenario, 2.5x: per doubling only), and
    the 80% coverage it gives each long config with the fit of the other five."""
    from lossdoctor.fit import calibrate
    from lossdoctor.fit.interval import z
    long = [r for r in first if r.case.source == "long" and r.train is not None]
    per = calibrate.model_error_fit(train_cases(long), base=False)[1]
    inside = []
    for config in sorted({r.case.config for r in long}):
        other = calibrate.model_error_fit(train_cases([r for r in long if r.case.config != config]), base=False)[1]
        for ratio, mean, truth, sd in train_cases([r for r in long if r.case.config == config]):
            inside.append(abs(mean - truth) <= z(0.8) * math.hypot(sd, other * math.log2(ratio) * mean))
    return per, float(np.mean(inside)) if inside else float("nan")


def bumps(rows: list[Row]) -> list[tuple[str, float, float, float | None]]:
    """The resume bump of each `resume` case: val at the first eval after the resume step
    minus val at it, predicted (along the predicted path), as logged (two 50-batch evals),
    and paired over 500 batches where benchmarks/resume_bump_runs.py measured it."""
    import lossdoctor
    out = []
    for r in rows:
        c = r.case
        if c.scenario != "resume":
            continue
        stem, _, start = os.path.basename(c.short).rpartition("-")
        resumed = os.path.join(os.path.dirname(c.short), f"{stem}-resume-{c.to}")
        ev, _ = lossdoctor.load(resumed).curves()
        after = ev.step > int(start)
        if not after.any() or not (ev.step == int(start)).any():
            continue
        first = int(ev.step[after][0])
        truth = float(ev.val[after][0] - ev.val[ev.step == int(start)][-1])
        assert r.path is not None
        steps, values = r.path
        paired = _paired_bump(os.path.dirname(c.short), stem, first)
        out.append((c.family, float(np.interp(first, steps, values) - values[0]), truth, paired))
    return out


def _paired_bump(runs: str, stem: str, step: int) -> float | None:
    """The 500-batch truth of the run resumed and stopped at `step` minus that of the
    checkpoint it resumed from: its `base_val` (the long runs), or the grid's 400-step run."""
    bump = os.path.join(runs, f"{stem}-bump-{step}", "truth.json")
    if not os.path.exists(bump):
        return None
    with open(bump, encoding="utf-8") as f:
        record = json.load(f)
    if "base_val" in record:
        return float(record["val"] - record["base_val"])
    base = os.path.join(runs, f"{stem}-{FROM}", "truth.json")
    if not os.path.exists(base):
        return None
    with open(base, encoding="utf-8") as f:
        return float(record["val"] - json.load(f)["val"])


def summary(label: str, rows: list[Row]) -> str:
    e = np.abs([r.mean - r.case.truth for r in rows])
    p = np.abs([r.power - r.case.truth for r in rows])
    cover = np.mean([r.lo <= r.case.truth <= r.hi for r in rows])
    return (f"{label:28s} {len(rows):3d} {np.median(e):8.4f} {e.max():7.4f} {cover:8.0%} "
            f"{np.median(p):8.4f} {p.max():7.4f}")


def shipped(base: float, per: float, source: str, train: tuple[float, float] | None = None,
            short: tuple[float, float] | None = None, ruled_out: tuple[float, float] | None = None) -> Calibration:
    """FAMILY's law, blend and repeated-data term with the ensemble's model error (base,
    per doubling) and train's, the blend's up to calibration.BLEND_FROM (`short`: val's
    and train's per doubling), where the grid's runs are, and the ensemble's where such a
    run rules the law alone out (`ruled_out`)."""
    from lossdoctor.fit import calibration
    return calibration.family(base, per, source, calibration.ALONE_FROM, train=train,
                              blend_from=calibration.BLEND_FROM, short_share=calibration.SHORT_SHARE,
                              short_error=short, ruled_out_error=ruled_out)


class Errors(NamedTuple):
    """The model errors fitted on a set of grid cases (model_error_fit)."""

    val: tuple[float, float]  # the ensemble's, where it stands alone (base, per doubling)
    train: tuple[float, float]
    short: tuple[float, float]  # the blend's up to BLEND_FROM: (val, train) per doubling
    ruled_out: tuple[float, float]  # the ensemble's where such a run rules the law alone out


def errors(ensemble: list[Row], blended: list[Row]) -> Errors:
    """The ensemble's model errors from its own predictions of the grid's cases, the
    blend's from the cases lossdoctor blends (its predictions as shipped, alone share
    strictly between 0 and 1), and the ensemble's from the cases where the run rules the
    law alone out (share 0: every grid run lies where the calibration blends)."""
    from lossdoctor.fit import calibrate

    def per(rows: list[Row]) -> tuple[float, float]:
        return (calibrate.model_error_fit([(r.case.ratio, r.mean, r.case.truth, r.sd) for r in rows], base=False)[1],
                calibrate.model_error_fit(train_cases(rows), base=False)[1])

    return Errors(calibrate.model_error_fit([(r.case.ratio, r.mean, r.case.truth, r.sd) for r in ensemble]),
                  calibrate.model_error_fit(train_cases(ensemble)), per([r for r in blended if 0 < r.share < 1]),
                  per([r for r in blended if r.share == 0 and not r.refused]))


def loco(cases: list[Case]) -> tuple[list[Row], list[Row], list[Row]]:
    """Every case without model error (as shipped, and the grid's by the ensemble alone),
    then each config's cases with the model errors fitted on the other configs' cases (the
    means do not depend on the model error)."""
    from lossdoctor.fit import calibration
    first = [predict(c, shipped(0.0, 0.0, "no model error")) for c in cases]
    bare = calibration.family(0.0, 0.0, "no model error", calibration.ALONE_FROM)  # the ensemble below 2000 steps
    ensemble = [predict(c, bare) for c in cases if c.source == "grid"]
    rows = [r for r in first if r.case.source != "grid"]  # as shipped: no model error to leave out
    for config in sorted({c.config for c in cases if c.source == "grid"}):
        e = errors([r for r in ensemble if r.case.config != config],
                   [r for r in first if r.case.source == "grid" and r.case.config != config])
        cal = shipped(*e.val, f"the grid without {config}", e.train, e.short, e.ruled_out)
        rows += [predict(c, cal) for c in cases if c.config == config and c.source == "grid"]
    return first, ensemble, rows


def start(case: Case) -> int:
    """The step a grid case's short run ends at (its name's last part)."""
    return int(os.path.basename(case.short).rsplit("-", 1)[1])


def report(rows: list[Row]) -> None:
    print(f"{'case':40s} {'ratio':>5s} {'pred':>7s} {'80% interval':>17s} {'truth':>7s} {'err':>7s} {'power':>7s}")
    for r in rows:
        c = r.case
        print(f"{os.path.basename(c.short) + ' ' + c.scenario:40s} {c.ratio:5.2f} {r.mean:7.4f} "
              f"[{r.lo:.4f}, {r.hi:.4f}] {c.truth:7.4f} {r.mean - c.truth:+7.4f} {r.power - c.truth:+7.4f}")
    head = f"{'':28s} {'n':>3s} {'median':>8s} {'worst':>7s} {'coverage':>8s} {'power md':>8s} {'worst':>7s}"
    print("\nper family and ratio (|error| in nats against the truth; power: the naive power law)\n" + head)
    for fam in sorted({r.case.family for r in rows}):
        for ratio in sorted({r.case.ratio for r in rows if r.case.family == fam}):
            sel = [r for r in rows if r.case.family == fam and r.case.ratio == ratio and r.case.scenario == "rerun"]
            if sel:
                print(summary(f"{fam} rerun {ratio:g}x", sel))
    print("\noverall\n" + head)
    for scenario in ("rerun", "resume", "constant"):
        for ratio in sorted({r.case.ratio for r in rows if r.case.scenario == scenario}):
            sel = [r for r in rows if r.case.scenario == scenario and r.case.ratio == ratio
                   and r.case.source == "grid"]
            if sel:
                print(summary(f"grid {scenario} {ratio:g}x", sel))
            starts = sorted({start(r.case) for r in sel})
            for begin in starts if len(starts) > 1 else ():  # a ratio reached from more than one horizon
                print(summary(f"  from {begin} steps", [r for r in sel if start(r.case) == begin]))
    grid = [r for r in rows if r.case.source == "grid" and r.case.scenario == "rerun"]
    print(summary("grid rerun, all ratios", grid))
    for source, label in (("held-out", "held-out configs, 2.5x"), ("repetition", "repetition runs, 2.5x"),
                          ("long", "long runs, 2.5x"), ("nanoGPT", "nanoGPT's own runs, all")):
        for scenario in ("rerun", "resume", "constant"):
            sel = [r for r in rows if r.case.source == source and r.declined is None and r.case.scenario == scenario]
            if sel:
                print(summary(label if scenario == "rerun" else f"{label}, {scenario}", sel))
    off = [r for r in rows if r.case.source in ("held-out", "repetition", "long") and r.case.scenario == "rerun"
           and off_readme(r.case)]
    print(summary("off the grid and off README", off), "(rerun 2.5x: the runs that get FAMILY from 2000 steps)")
    print("\ntrain: the 80% interval against the longer run's last logged train loss (an eval's; the grid with "
          "train's model error fitted leaving its config out, the others as shipped)\n"
          f"{'':28s} {'n':>3s} {'median':>8s} {'worst':>7s} {'coverage':>8s} {'mean err':>8s}")
    for source in ("grid", "held-out", "repetition", "long", "nanoGPT"):
        print(train_coverage(f"{source}, every scenario", [r for r in rows if r.case.source == source]))
    for r in rows:
        if r.declined:
            print(f"declined: {os.path.basename(r.case.short)} -> {r.case.to}: {r.declined}; the law would say "
                  f"{r.mean:.4f} [{r.lo:.4f}, {r.hi:.4f}] against {r.case.truth:.4f} "
                  f"(error {r.mean - r.case.truth:+.4f})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", default=os.path.join(ROOT, "fixtures", "calibration"))
    ap.add_argument("--heldout", default=os.path.join(ROOT, "fixtures", "heldout"))
    ap.add_argument("--repetition", default=os.path.join(ROOT, "fixtures", "repetition"))
    ap.add_argument("--long", default=os.path.join(ROOT, "fixtures", "long"))
    ap.add_argument("--groundtruth", default=os.path.join(ROOT, "..", "shared", "groundtruth"))
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        cases = (grid_cases(args.runs) + heldout_cases(args.heldout) + heldout_cases(args.repetition, "repetition")
                 + heldout_cases(args.long, "long") + groundtruth_cases(args.groundtruth, scratch))
        first, ensemble, rows = loco(cases)
        laws = law_table(cases, shipped(0.0, 0.0, "no model error"))
        alone = alone_error(cases)
    report(rows)
    bare = [r for r in first if r.case.source == "grid" and r.case.scenario == "rerun"]
    print(summary("grid reruns, model error 0", bare), "(the README CPU config's model error)")
    print("\nresume bump (val at the first eval after resuming minus val at the resume step; logged: two "
          "50-batch evals; paired: the same 500 batches)")
    for family, pred, truth, paired in bumps(first):
        ratio = pred / truth if truth else float("nan")
        both = f"  paired {paired:+.4f}  ratio {pred / paired:.2f}" if paired else ""
        print(f"{family:28s} predicted {pred:+.4f}  logged {truth:+.4f}  ratio {ratio:.2f}{both}")
    report_laws(laws)
    report_repeat(cases)
    report_nearest(cases)
    report_alone_by_start(cases)
    report_acceleration(cases)
    report_own_shape(cases)
    report_annealing_variants(cases)
    alone_runs = sorted({c.short for c in cases if c.source != "nanoGPT" and c.short.endswith("-2000")})
    worst, where = largest_backtest_ratio([os.path.join(r, "train.log") if os.path.isdir(r) else r
                                           for r in alone_runs])
    print(f"\nthe calibrated law's backtest error over the free law's, alone through L0 = 0, on the {len(alone_runs)} "
          f"2000-step runs off the grid (long, held-out, repetition): at most {worst:.2f} ({where}); lossdoctor "
          "leaves the calibrated law alone for the ensemble past streams.REFUTED")
    print(report_backtests(rows))
    worst = max(first, key=lambda r: r.residual)
    print(f"\nthe largest residual scale over the {len(first)} cases (rms of the law's misses on the run's own "
          f"train points): {worst.residual:.2f} sigma ({os.path.basename(worst.case.short)}); lossdoctor declines "
          f"past limits.MISFIT")
    print(level_trend(rows))
    print(level_trend(rows, {c.short: (e["ensemble"][0], e["ensemble"][2]) for c, e in laws},
                      "of the ensemble with L0 fitted"))
    spread = seed_spread(cases)
    print("\nseed-to-seed sd of the grid's truths (two seeds; against one seed's truth, a predictor of the "
          "expected loss errs by about 0.67 sd, median): "
          + ", ".join(f"{to} steps {sd:.4f}" for to, sd in spread.items()))
    grid = [r for r in first if r.case.source == "grid"]
    e = errors(ensemble, grid)
    print(f"\nthe model error over every grid config (fit/calibration.py): the ensemble's, where it stands alone, "
          f"and the blend's up to BLEND_FROM (val, train; {sum(0 < r.share < 1 for r in grid)} grid cases blended):\n"
          f"FAMILY_ERROR_BASE = {e.val[0]:.4f}\nFAMILY_ERROR_PER_DOUBLING = {e.val[1]:.4f}\n"
          f"SHORT_ERROR = ({e.short[0]:.4f}, {e.short[1]:.4f})\n"
          f"RULED_OUT_ERROR = ({e.ruled_out[0]:.4f}, {e.ruled_out[1]:.4f})  "
          f"({sum(r.share == 0 and not r.refused for r in grid)} cases)")
    per_alone, loco_cover, check_cover = alone
    print(f"the model error where the calibrated law is used alone, over the long runs' {len(loco_cover)} cases "
          f"(every scenario, 2.5x):\nALONE_ERROR_PER_DOUBLING = {per_alone:.4f}\n80% coverage: long runs, each "
          f"config with the other five's fit, {np.mean([ok for _, ok in loco_cover]):.0%} of {len(loco_cover)}; "
          f"held-out and repetition runs off the README CPU config {np.mean([ok for _, ok in check_cover]):.0%} "
          f"of {len(check_cover)}")
    tbase, tper = e.train
    talone, tcover = alone_train_error(first)
    print(f"train's model error over every grid config, and over the long runs' cases where the calibrated law is "
          f"used alone (each long config with the other five's fit: {tcover:.0%} coverage):\n"
          f"FAMILY_TRAIN_ERROR = ({tbase:.4f}, {tper:.4f})\nALONE_TRAIN_ERROR_PER_DOUBLING = {talone:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
