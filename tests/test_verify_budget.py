"""How verify shares its budget: equal shares, minimums and full sizes respected, slow arms
deferred, looks only as many as the allotment pays for."""

from __future__ import annotations

import pytest

from lossdoctor.errors import LossdoctorError
from lossdoctor.verify.budget import SLOW_ARM, Times, _water_fill, plan_budget, speed_key
from lossdoctor.verify.design import MIN_STEPS, PLANNED_SEEDS, arm_configs, default_base_config, default_experiments

STEP_S, EVAL_S = 0.06, 0.01  # the README CPU config on a 2-core CPU


def _times(base, experiments, slow: float = 16.0) -> Times:
    arms = {}
    for e in experiments:
        for cfg in arm_configs(e, base):
            tokens = int(cfg["batch_size"]) / int(base["batch_size"])
            arms[speed_key(cfg)] = STEP_S * tokens * (slow if cfg["dtype"] == "bfloat16" else 1.0)
    return Times(STEP_S, EVAL_S, arms)


def test_water_fill_respects_minimums_and_full_sizes() -> None:
    got = _water_fill(["a", "b", "c"], 300.0, {"a": 150, "b": 10, "c": 10}, {"a": 900, "b": 40, "c": 900})
    assert got["a"] == 150 and got["b"] == 40  # a at its minimum, b at its full size
    assert got["c"] == pytest.approx(110)  # the rest
    assert sum(got.values()) == pytest.approx(300)


def test_water_fill_gives_the_surplus_to_full_size_experiments() -> None:
    got = _water_fill(["a", "b"], 100.0, {"a": 5, "b": 5}, {"a": 20, "b": 30})
    assert got == {"a": pytest.approx(45), "b": pytest.approx(55)}


def test_default_budget_defers_the_slow_bf16_loss_arm_and_shares_the_rest() -> None:
    base = default_base_config()
    experiments = default_experiments(base)
    plan = plan_budget(experiments, base, 600, 3, _times(base, experiments), spent_s=20)
    assert set(plan.deferred) == {"bf16-loss"}
    assert "--only bf16-loss" in plan.deferred["bf16-loss"]
    loss = [plan.scaled[i] for i in ("train-longer", "batch-24", "eval-iters")]
    assert all(min(int(s.baseline["max_iters"]), int(s.treatment["max_iters"])) >= MIN_STEPS for s in loss)
    # scaled down: planned for up to PLANNED_SEEDS seeds, looked at twice (start and end)
    assert all(s.looks == (s.seeds, s.max_seeds) and s.seeds == 3 and s.max_seeds <= PLANNED_SEEDS for s in loss)
    total = sum(s.cost_per_seed_s * (1 if s.windows else s.max_seeds) for s in plan.scaled.values())
    assert total <= 600 - 20


def test_an_experiment_alone_is_never_deferred() -> None:
    base = default_base_config()
    only = [e for e in default_experiments(base) if e.id == "bf16-loss"]
    times = _times(base, only, slow=2 * SLOW_ARM)
    with pytest.raises(LossdoctorError, match="too small"):
        plan_budget(only, base, 60, 3, times)
    plan = plan_budget(only, base, 3600, 3, times)
    assert not plan.deferred and plan.scaled["bf16-loss"].seeds >= 2


def test_a_big_budget_plans_more_looks() -> None:
    base = default_base_config()
    only = [e for e in default_experiments(base) if e.id == "batch-24"]
    plan = plan_budget(only, base, 10 * 3600, 3, _times(base, only))
    s = plan.scaled["batch-24"]
    assert s.text == "" and s.max_seeds > s.seeds
