"""Helpers of benchmarks/extrapolation_family.py: each of the ensemble's laws alone, how
the error follows the val a log ends at, and the grid's seed-to-seed spread."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING
from unittest import mock

import numpy as np

if TYPE_CHECKING:
    from extrapolation_family import Case, Row

    from lossdoctor.fit import Calibration


@contextlib.contextmanager
def unlimited_epochs() -> Iterator[None]:
    """No epoch limit: what the law would say where lossdoctor declines."""
    from lossdoctor.fit import calibration
    with mock.patch.object(calibration.Calibration, "epochs_limit", lambda self, last: float("inf")):
        yield


def off_readme(case: Case) -> bool:
    """Whether the short run's log shows a config other than the README CPU config's (it
    gets calibration.FAMILY, not DEFAULT and the reference runs)."""
    import lossdoctor
    from lossdoctor.fit import calibration
    return bool(calibration.mismatch(lossdoctor.load(case.short).config))


# as shipped; the ensemble as its train backtest weighs it, the calibrated-shape law alone
# and the free-shape law alone, each with L0 fitted per run (no Calibration.alone_from)
LAWS = ("shipped", "ensemble", "calibrated", "free")


def law_errors(case: Case, calibration: Calibration) -> dict[str, tuple[float, float, float]]:
    """(val error, train error, the val fit's L0) of a case under each of LAWS. The train
    truth is the longer run's last logged eval (train loss over eval_iters batches)."""
    import dataclasses

    import lossdoctor
    from lossdoctor.fit import Extrapolator, streams
    from lossdoctor.fit import calibration as calibration_mod
    from lossdoctor.fit.results import LawWeights
    ev, _ = lossdoctor.load(case.longer).curves()
    train_truth = float(ev.train[-1])
    run = lossdoctor.load(case.short)
    shipped = calibration if case.source == "grid" else calibration_mod.for_config(run.config)
    weigh, out = streams.law_weights, {}
    for law in LAWS:
        forced = {"calibrated": LawWeights(1.0, 0.0), "free": LawWeights(0.0, 1.0)}.get(law)

        def weights(*args: object, forced: LawWeights | None = forced) -> streams.Backtest:
            b = weigh(*args)  # type: ignore[arg-type]
            return b if forced is None else b._replace(weights=forced)
        cal = shipped if law == "shipped" else dataclasses.replace(shipped, alone_from=None)
        with mock.patch.object(streams, "law_weights", weights), unlimited_epochs():
            x = Extrapolator(run, calibration=cal).extrapolate(case.to, scenarios=(case.scenario,))
        s = x.scenarios[0]
        assert s.val is not None and s.train is not None
        l0 = x.model.val_parameters.L0 if x.model.val_parameters is not None else float("nan")
        out[law] = (s.val.mean - case.truth, s.train.mean - train_truth, l0)
    return out


def law_table(cases: list[Case], calibration: Calibration) -> list[tuple[Case, dict[str, tuple[float, float, float]]]]:
    """law_errors of the reruns out of the grid, and of the grid's at 2.5x."""
    return [(c, law_errors(c, calibration)) for c in cases
            if c.scenario == "rerun" and (c.source != "grid" or c.ratio == 2.5)]


def report_laws(table: list[tuple[Case, dict[str, tuple[float, float, float]]]]) -> None:
    print("\neach law alone (error in nats, val against the 500-batch truth, train against the longer run's last "
          "eval; ensemble, calibrated and free with L0 fitted per run)\n" + f"{'case':28s} "
          + " ".join(f"{'val ' + law:>15s}" for law in LAWS) + " " + " ".join(f"{'train ' + law:>17s}" for law in LAWS))
    groups: dict[str, list[dict[str, tuple[float, float, float]]]] = {}
    for c, e in table:
        label = "grid 2.5x" if c.source == "grid" else c.source
        groups.setdefault(label if c.source in ("grid", "nanoGPT") or off_readme(c) else f"{label}, README config",
                          []).append(e)
        if c.source != "grid":
            print(f"{os.path.basename(c.short):28s} " + " ".join(f"{e[law][0]:+15.4f}" for law in LAWS) + " "
                  + " ".join(f"{e[law][1]:+17.4f}" for law in LAWS))
    for label, errs in groups.items():
        med = [float(np.median([abs(e[law][k]) for e in errs])) for k in (0, 1) for law in LAWS]
        half = len(LAWS)
        print(f"{'median |error|, ' + label:28s} " + " ".join(f"{m:15.4f}" for m in med[:half]) + " "
              + " ".join(f"{m:17.4f}" for m in med[half:]) + f"  (n={len(errs)})")


def level_trend(rows: list[Row], errors: dict[str, tuple[float, float]] | None = None,
                label: str = "as shipped") -> str:
    """How the error of the reruns out of the grid and out of the README CPU config follows
    the val their log ends at: the correlation, the slope, and each run's error with its
    val fit's L0. `errors`: (error, L0) of the same reruns by short log, from another fit
    (law_errors), instead of the rows' own."""
    sel = [r for r in rows if r.case.source in ("held-out", "repetition", "long") and off_readme(r.case)
           and r.case.scenario == "rerun"]
    if len(sel) < 3:
        return ""
    level = np.array([r.last_val for r in sel])
    own = {r.case.short: (r.mean - r.case.truth, r.val_l0) for r in sel}
    pairs = [(errors or own)[r.case.short] for r in sel]
    err = np.array([p[0] for p in pairs])
    slope = float(np.polyfit(level, err, 1)[0])
    runs = ", ".join(f"{os.path.basename(r.case.short)} {r.last_val:.3f} -> {e:+.3f} (L0 {l0:.2f})"
                     for r, (e, l0) in sorted(zip(sel, pairs, strict=True), key=lambda q: q[0].last_val))
    return (f"\nerror {label} against the val the log ends at, {len(sel)} reruns off the grid and off the README "
            f"CPU config: r = {np.corrcoef(level, err)[0, 1]:.2f}, {slope:+.2f} nats of error per nat of val; "
            f"val -> error (the val fit's L0): {runs}")


def report_backtests(rows: list[Row]) -> str:
    """Whether the run's own backtests flag the grid's misses at 2.5x: each case's |error|
    beside the calibrated law's train backtest (rms, sigma) and the val backtest (nats),
    with their rank correlations."""
    from scipy.stats import spearmanr
    sel = sorted((r for r in rows if r.case.source == "grid" and r.case.scenario == "rerun" and r.case.ratio == 2.5),
                 key=lambda r: abs(r.mean - r.case.truth))
    if len(sel) < 3:
        return ""
    err = [abs(r.mean - r.case.truth) for r in sel]
    rho_t = spearmanr(err, [r.train_backtest for r in sel]).statistic
    rho_v = spearmanr(err, [r.val_backtest for r in sel]).statistic
    cases = "\n".join(f"  {os.path.basename(r.case.short):30s} error {r.mean - r.case.truth:+.3f}  train backtest "
                      f"{r.train_backtest:5.2f} sigma  val backtest {r.val_backtest:+.3f}" for r in sel)
    return (f"\nthe run's own backtests against the grid's 2.5x rerun errors ({len(sel)} cases, by |error|): rank "
            f"correlation with the train backtest {rho_t:+.2f}, with the val backtest {rho_v:+.2f}\n{cases}")


def seed_spread(cases: list[Case]) -> dict[int, float]:
    """The sd of one seed's truth at each grid horizon, from the two seeds' differences: a
    predictor of the expected loss is off one seed's truth by about 0.67 of it (median)."""
    truths: dict[tuple[str, int], dict[str, float]] = {}
    for c in cases:
        if c.source == "grid" and c.scenario == "rerun":
            seed = os.path.basename(c.short).split("-")[2]
            truths.setdefault((c.family, c.to), {})[seed] = c.truth
    diffs: dict[int, list[float]] = {}
    for (_, to), by_seed in truths.items():
        if len(by_seed) == 2:
            a, b = by_seed.values()
            diffs.setdefault(to, []).append(a - b)
    return {to: float(np.sqrt(np.mean(np.square(d)) / 2)) for to, d in sorted(diffs.items())}


def alone_error(cases: list[Case]) -> tuple[float, list[tuple[Case, bool]], list[tuple[Case, bool]]]:
    """The model error per doubling of the horizon where the calibrated law is used alone
    (Calibration.alone_error_per_doubling), fitted on the long runs' cases (every scenario,
    all at 2.5x, so per doubling only); with the 80% coverage it gives: each long config
    with the fit of the other five, and the held-out and repetition runs off the README CPU
    config with the fit of all six."""
    import dataclasses
    import math

    import lossdoctor
    from lossdoctor.fit import Extrapolator, calibrate
    from lossdoctor.fit import calibration as calibration_mod
    from lossdoctor.fit.interval import z

    def bare(c: Case) -> tuple[Case, float, float]:
        run = lossdoctor.load(c.short)
        cal = dataclasses.replace(calibration_mod.for_config(run.config), alone_error_per_doubling=0.0)
        with unlimited_epochs():
            v = Extrapolator(run, calibration=cal).extrapolate(c.to, scenarios=(c.scenario,)).scenarios[0].val
        assert v is not None
        return c, v.mean, v.sd

    long = [bare(c) for c in cases if c.source == "long"]
    check = [bare(c) for c in cases if c.source in ("held-out", "repetition") and off_readme(c)]

    def fit(sel: list[tuple[Case, float, float]]) -> float:
        return calibrate.model_error_fit([(c.ratio, m, c.truth, sd) for c, m, sd in sel], base=False)[1]

    def covered(c: Case, mean: float, sd: float, per: float) -> bool:
        return abs(mean - c.truth) <= z(0.8) * math.hypot(sd, per * math.log2(c.ratio) * mean)

    per = fit(long)
    loco = [(c, covered(c, m, sd, fit([o for o in long if o[0].config != c.config]))) for c, m, sd in long]
    return per, loco, [(c, covered(c, m, sd, per)) for c, m, sd in check]


# val's repeated-data term (lossdoctor/fit/repeat.py), four ways: the paper's R* (as
# shipped), none, R* picked per run by its own val fit (the lowest chi2 of PICK_R and
# none), and the train prediction plus the run's own val - train gap, carried on linearly
# in log epochs from the second half of its evals
REPEAT = ("R* 15.4", "none", "own fit", "gap trend")
PICK_R = (3.0, 6.0, 15.4, 40.0)


def repeat_errors(case: Case) -> dict[str, float]:
    """The val error of a case under each of REPEAT (the epoch limit lifted)."""
    import dataclasses

    import lossdoctor
    from lossdoctor.fit import Extrapolator, limits, repeat
    from lossdoctor.fit import calibration as calibration_mod
    run = lossdoctor.load(case.short)
    base = calibration_mod.for_config(run.config)

    def val(r_star: float | None) -> tuple[float, float, float]:
        """(val error, train prediction, the run's val fit's chi2)."""
        chi2: list[float] = []
        ex = Extrapolator(run, calibration=dataclasses.replace(base, repeat_r_star=r_star))
        stream = Extrapolator._stream

        def record(self: Extrapolator, obs: object, kind: str, peak: float, joined: tuple[str, ...],
                   alone: bool) -> object:
            s = stream(self, obs, kind, peak, joined, alone)  # type: ignore[arg-type]
            if kind == "val" and not chi2:
                chi2.append(s.post.chi2_min)
            return s
        with mock.patch.object(Extrapolator, "_stream", record), unlimited_epochs():
            s = ex.extrapolate(case.to, scenarios=(case.scenario,)).scenarios[0]
        assert s.val is not None and s.train is not None
        return s.val.mean - case.truth, s.train.mean, chi2[0]

    tried = {r: val(r) for r in dict.fromkeys((repeat.R_STAR, None, *PICK_R))}  # R_STAR is among PICK_R
    ev, _ = run.curves()
    per_step = limits.epochs_basis(run, int(ev.step[-1]))[0]
    assert per_step is not None  # these runs' logs show their tokens per step and data
    half = ev.step >= ev.step[-1] / 2
    slope, cut = np.polyfit(np.log(ev.step[half] * per_step), (ev.val - ev.train)[half], 1)
    gap = slope * np.log(case.to * per_step) + cut
    return {"R* 15.4": tried[repeat.R_STAR][0], "none": tried[None][0],
            "own fit": min(tried.values(), key=lambda t: t[2])[0],
            "gap trend": tried[repeat.R_STAR][1] + float(gap) - case.truth}


def report_repeat(cases: list[Case]) -> None:
    """REPEAT on the reruns out of the grid (the grid's runs stay within 1 epoch, where
    the term is 0)."""
    sel = [c for c in cases if c.source in ("held-out", "repetition", "long") and c.scenario == "rerun"]
    print("\nval's repeated-data term on the reruns off the grid (error in nats; R* 15.4 as shipped; own fit: "
          f"R* of {', '.join(f'{r:g}' for r in PICK_R)} or none, by the run's val fit; gap trend: train's "
          "prediction plus the val - train gap, linear in log epochs)\n"
          f"{'case':28s} " + " ".join(f"{k:>10s}" for k in REPEAT))
    errs = []
    for c in sel:
        e = repeat_errors(c)
        errs.append(e)
        print(f"{os.path.basename(c.short):28s} " + " ".join(f"{e[k]:+10.4f}" for k in REPEAT))
    for label, f in (("median |error|", np.median), ("worst |error|", np.max)):
        print(f"{label:28s} " + " ".join(f"{float(f([abs(e[k]) for e in errs])):10.4f}" for k in REPEAT))


def report_nearest(cases: list[Case]) -> None:
    """The reference runs chosen by the data alone: joined to every rerun off the grid and
    off the README CPU config whose points lie within reference.TOLERANCE of the joint fit,
    whatever its config (lossdoctor joins them only for the README CPU config)."""
    import lossdoctor
    from lossdoctor.fit import Extrapolator, reference
    sel = [c for c in cases if c.source in ("held-out", "repetition", "long") and c.scenario == "rerun"
           and off_readme(c)]
    print(f"\nthe reference runs joined by their offset alone (within {reference.TOLERANCE} nats), on the reruns off "
          "the grid and off the README CPU config (error in nats)")
    for c in sel:
        run = lossdoctor.load(c.short)
        with mock.patch.object(reference, "mismatch", lambda run: []), unlimited_epochs():
            x = Extrapolator(run).extrapolate(c.to, scenarios=("rerun",))
        v, ref = x.scenarios[0].val, x.model.reference
        assert v is not None
        said = (f"joined, offsets {', '.join(f'{o:+.3f}' for o in ref.offset if o is not None)}" if ref
                else "not joined: off by more")
        print(f"{os.path.basename(c.short):28s} {v.mean - c.truth:+.4f}  {said}")


def report_alone_by_start(cases: list[Case]) -> None:
    """The grid's reruns from each start, with the ensemble (as shipped below
    calibration.ALONE_FROM) and with the calibrated law alone through L0 = 0 (as shipped
    from it on), the model error left out: where the switch could move to."""
    import lossdoctor
    from lossdoctor.fit import Extrapolator
    from lossdoctor.fit import calibration as calibration_mod
    print("\nthe grid's reruns by the step they start from: the ensemble against the calibrated law alone through "
          "L0 = 0 (error in nats: median, worst, mean)")
    for start in sorted({int(c.short.rsplit("-", 1)[1]) for c in cases if c.source == "grid"}):
        sel = [c for c in cases if c.source == "grid" and c.scenario == "rerun" and c.short.endswith(f"-{start}")]
        if not sel:
            continue
        line = f"from {start:5d} steps (n={len(sel):2d})"
        for label, alone_from in (("ensemble", None), ("alone, L0 = 0", start)):
            cal = calibration_mod.family(0.0, 0.0, "no model error", alone_from)
            errs = []
            for c in sel:
                v = Extrapolator(lossdoctor.load(c.short), calibration=cal).extrapolate(
                    c.to, scenarios=("rerun",)).scenarios[0].val
                assert v is not None
                errs.append(v.mean - c.truth)
            e = np.abs(errs)
            line += f"   {label}: {np.median(e):.4f}, {e.max():.4f}, {np.mean(errs):+.4f}"
        print(line)


def largest_backtest_ratio(paths: list[str]) -> tuple[float, str]:
    """The largest ratio of the calibrated law's backtest error (alone, through L0 = 0) to
    the free law's, over runs predicted to twice their length without the reference runs,
    with the run it is on: how far the runs the alone law is measured on go
    (streams.REFUTED)."""
    import lossdoctor
    from lossdoctor.fit import Extrapolator, streams
    from lossdoctor.fit import calibration as calibration_mod
    cal = calibration_mod.family(0.0, 0.0, "no model error", 0)
    worst, where = 0.0, ""
    for path in paths:
        run = lossdoctor.load(path)
        x = Extrapolator(run, calibration=cal, reference=False)
        with unlimited_epochs(), mock.patch.object(streams, "REFUTED", float("inf")):
            e = x.extrapolate(2 * int(run.curves()[1].step.max()), scenarios=("rerun",)).model.laws.backtest_rms_sigma
        if e is not None and e.calibrated / e.free > worst:
            name = path if os.path.isdir(path) else os.path.dirname(path)
            worst, where = e.calibrated / e.free, os.path.basename(name.rstrip("/"))
    return worst, where


def report_acceleration(cases: list[Case]) -> None:
    """No law at all: the grid's 2.5x reruns predicted from the log's own val slope per
    doubling of steps (least squares over its second half) times the doublings to the
    target, times the median acceleration of the other configs' cases (how much faster
    than that straight line in log steps their truths fell). Leave one config out, as the
    law; what a calibrated acceleration alone would give."""
    import lossdoctor
    sel = [c for c in cases if c.source == "grid" and c.scenario == "rerun" and abs(c.ratio - 2.5) < 0.01]
    rows = []
    for c in sel:
        ev, _ = lossdoctor.load(c.short).curves()
        last = int(ev.step.max())
        m = ev.step >= last / 2
        slope, icept = np.polyfit(np.log2(ev.step[m]), ev.val[m], 1)  # nats per doubling
        at_end = slope * np.log2(last) + icept
        rows.append((c, slope * np.log2(c.to / last), at_end))
    errs = []
    for c, straight, at_end in rows:
        k = np.median([(o.truth - e) / s for o, s, e in rows if o.config != c.config])
        errs.append(at_end + k * straight - c.truth)
    e = np.abs(errs)
    print(f"\nno law, the run's own val slope per doubling times the other configs' median acceleration, on the "
          f"grid's {len(sel)} 2.5x reruns: median {np.median(e):.3f}, worst {e.max():.3f}, mean {np.mean(errs):+.3f}")

