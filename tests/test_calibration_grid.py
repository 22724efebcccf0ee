"""The calibration grid's runs (fixtures/calibration), the held-out configs' runs
(fixtures/heldout), the repetition runs (fixtures/repetition) and the long runs
(fixtures/long): what the family backtests stand on."""

from __future__ import annotations

import json
import sys

import pytest

import lossdoctor
from conftest import FIXTURES

GRID = FIXTURES / "calibration"
HELD_OUT = FIXTURES / "heldout"
RUNS = sorted(p for p in GRID.iterdir() if p.is_dir() and not p.name.startswith("_"))
HELD_OUT_RUNS = sorted(p for p in HELD_OUT.iterdir() if p.is_dir())
REPETITION = FIXTURES / "repetition"
REPETITION_RUNS = sorted(p for p in REPETITION.iterdir() if p.is_dir())
LONG = FIXTURES / "long"
LONG_RUNS = sorted(p for p in LONG.iterdir() if p.is_dir())


def test_the_grid_has_its_configs_datasets_and_horizons():
    names = {p.name for p in RUNS}
    configs = {n.split("-")[0] for n in names}
    assert len(configs) >= 6 and {n.split("-")[1] for n in names} == {"shakespeare", "pycode"}
    for config in configs:
        for seed in ("s1", "s2"):
            assert {f"{config}-shakespeare-{seed}-{h}" for h in (400, 600, 800, 1000, 2000)} <= names


@pytest.mark.parametrize("run", RUNS + HELD_OUT_RUNS + REPETITION_RUNS + LONG_RUNS, ids=lambda p: p.name)
def test_each_run_keeps_its_log_and_a_truth_near_its_last_logged_val(run):
    assert (run / "train.log").exists() and not (run / "ckpt.pt").exists()
    truth = json.loads((run / "truth.json").read_text())
    assert truth["batches"] == 500 and truth["train_seconds"] > 0
    r = lossdoctor.load(run)
    ev, _ = r.curves()
    steps = int(run.name.rsplit("-", 1)[1])
    assert int(ev.step[-1]) == steps
    batches = int(r.config.get("eval_iters") or 50)  # 50 in the grid, 20 in the README CPU config
    assert abs(float(ev.val[-1]) - truth["val"]) < 0.05 * (50 / batches) ** 0.5  # one eval against 500 batches


def _family_benchmark():  # noqa: ANN202
    sys.path.insert(0, str(FIXTURES.parent / "benchmarks"))
    try:
        import extrapolation_family
    finally:
        sys.path.pop(0)
    return extrapolation_family


def test_the_family_benchmark_pairs_each_short_run_with_every_longer_one():
    cases = _family_benchmark().grid_cases(str(GRID))
    ratios = {c.ratio for c in cases if c.scenario == "rerun"}
    assert {1.5, 2.5, 5.0, 2.0} <= ratios
    assert {c.scenario for c in cases} == {"rerun", "resume", "constant"}
    for c in cases:
        assert c.to > int(c.short.rsplit("-", 1)[1]) and 1.5 < c.truth < 3.0


def test_the_held_out_configs_are_off_the_grid_and_predicted_from_2000_to_5000_steps():
    cases = _family_benchmark().heldout_cases(str(HELD_OUT))
    assert {c.config for c in cases} == {"d6w192", "batch24"}
    assert not {c.config for c in cases} & {p.name.split("-")[0] for p in RUNS}
    for c in cases:
        assert (c.source, c.scenario, c.ratio, c.to) == ("held-out", "rerun", 2.5, 5000)
        assert c.short.endswith(f"{c.config}-2000") and 1.3 < c.truth < 2.0


def test_the_repetition_runs_go_from_3_to_8_epochs_at_four_model_sizes():
    import lossdoctor
    cases = _family_benchmark().heldout_cases(str(REPETITION), "repetition")
    assert {c.config for c in cases} == {"r2w96", "r3w128", "r4w192", "r4w128"}
    params = set()
    for c in cases:
        facts = lossdoctor.analyze([c.short], diagnose_runs=False).facts[0]
        assert 3.0 < facts.value("epochs") < 3.2 and c.ratio == 2.5  # 3.1 -> 7.7 epochs
        params.add(round(facts.value("params") / 1e5))
    assert len(params) == 4


def test_the_long_runs_are_six_one_change_configs_off_every_other_family_from_2000_to_5000_steps():
    cases = _family_benchmark().heldout_cases(str(LONG), "long")
    configs = {c.config for c in cases}
    assert configs == {"lr2e-3", "lr5e-4", "drop0.1", "d3w96h4", "block32", "batch8"}
    others = {p.name.rsplit("-", 1)[0] for p in HELD_OUT_RUNS + REPETITION_RUNS} | {p.name.split("-")[0] for p in RUNS}
    assert not configs & others
    for c in cases:
        assert (c.source, c.ratio, c.to) == ("long", 2.5, 5000) and 1.5 < c.truth < 2.2
        assert c.short.endswith(f"{c.config}-2000") and c.scenario in ("rerun", "resume", "constant")
        facts = lossdoctor.analyze([c.short], diagnose_runs=False).facts[0]
        assert facts.value("epochs") < 1.6  # at most 3.8 at 5000 steps: under the 4-epoch limit
    assert {c.config for c in cases if c.scenario == "rerun"} == configs


def test_a_continued_long_run_starts_where_its_2000_step_run_ends():
    for run in (p for p in LONG_RUNS if "-resume-" in p.name or "-constant-" in p.name):
        ev, _ = lossdoctor.load(run).curves()
        short, _ = lossdoctor.load(LONG / f"{run.name.split('-resume-')[0].split('-constant-')[0]}-2000").curves()
        assert int(ev.step[0]) == 2000 and int(ev.step[-1]) == 5000
        assert abs(float(ev.val[0]) - float(short.val[-1])) < 0.05  # the same model, evaluated again


def test_the_family_benchmark_s_look_inside_the_fit_still_fits_it():
    """family_laws replaces Extrapolator._stream to read the val fit's chi2: a change of its
    signature must fail here, not in the benchmark."""
    bench = _family_benchmark()
    sys.path.insert(0, str(FIXTURES.parent / "benchmarks"))
    try:
        import family_laws
    finally:
        sys.path.pop(0)
    case = next(c for c in bench.heldout_cases(str(LONG), "long") if c.scenario == "rerun")
    errors = family_laws.repeat_errors(case)
    assert set(errors) == {"R* 15.4", "none", "own fit", "gap trend"}
    assert all(abs(e) < 0.5 for e in errors.values())


def test_train_has_its_own_model_error_where_one_is_measured():
    import math

    from lossdoctor.fit import calibration
    fam, default = calibration.FAMILY, calibration.DEFAULT
    assert fam.model_error(2.5, train=True) == pytest.approx(calibration.FAMILY_TRAIN_ERROR[1] * math.log2(2.5))
    assert fam.model_error(2.5, alone=True, train=True) == pytest.approx(
        calibration.ALONE_TRAIN_ERROR_PER_DOUBLING * math.log2(2.5))
    assert fam.model_error(2.5) == pytest.approx(calibration.FAMILY_ERROR_PER_DOUBLING * math.log2(2.5))  # val's
    assert fam.model_error(1.0, train=True) == 0.0  # inside the run
    assert default.model_error(2.5, train=True) == default.model_error(2.5)  # none measured apart: val's
