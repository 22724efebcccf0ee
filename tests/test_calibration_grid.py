"""The calibration grid's runs (fixtures/calibration): what the family backtests stand on."""

from __future__ import annotations

import json
import sys

import pytest

import lossdoctor
from conftest import FIXTURES

GRID = FIXTURES / "calibration"
RUNS = sorted(p for p in GRID.iterdir() if p.is_dir() and not p.name.startswith("_"))


def test_the_grid_has_its_configs_datasets_and_horizons():
    names = {p.name for p in RUNS}
    configs = {n.split("-")[0] for n in names}
    assert len(configs) >= 6 and {n.split("-")[1] for n in names} == {"shakespeare", "pycode"}
    for config in configs:
        for seed in ("s1", "s2"):
            assert {f"{config}-shakespeare-{seed}-{h}" for h in (400, 600, 1000, 2000)} <= names


@pytest.mark.parametrize("run", RUNS, ids=lambda p: p.name)
def test_each_run_keeps_its_log_and_a_truth_near_its_last_logged_val(run):
    assert (run / "train.log").exists() and not (run / "ckpt.pt").exists()
    truth = json.loads((run / "truth.json").read_text())
    assert truth["batches"] == 500 and truth["train_seconds"] > 0
    ev, _ = lossdoctor.load(run).curves()
    steps = int(run.name.rsplit("-", 1)[1])
    assert int(ev.step[-1]) == steps
    assert abs(float(ev.val[-1]) - truth["val"]) < 0.05  # one eval of 50 batches against 500 batches


def test_the_family_benchmark_pairs_each_short_run_with_every_longer_one():
    sys.path.insert(0, str(FIXTURES.parent / "benchmarks"))
    try:
        from extrapolation_family import grid_cases
    finally:
        sys.path.pop(0)
    cases = grid_cases(str(GRID))
    ratios = {c.ratio for c in cases if c.scenario == "rerun"}
    assert {1.5, 2.5, 5.0, 2.0} <= ratios
    assert {c.scenario for c in cases} == {"rerun", "resume", "constant"}
    for c in cases:
        assert c.to > int(c.short.rsplit("-", 1)[1]) and 1.5 < c.truth < 3.0
