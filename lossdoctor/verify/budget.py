"""How `lossdoctor verify` shares its time budget among experiments (plan_budget).

Throughput experiments get their timing windows first (MAX_WINDOWS when the rest still fits
its minimum) and torch.compile an allowance for its one-off compile. The loss experiments
share the rest equally ("water-filling"): each gets the same share; one whose smallest
meaningful version needs more than its share gets that minimum, one whose full-size
version needs less gets that, and the others share what is left. A cheap experiment thus
trains as long as an expensive one may, instead of shrinking with it.

An experiment with an arm more than SLOW_ARM times slower than the base config here (bf16
autocast on a CPU without bf16 units: ~16x) is deferred when even its minimum needs more
than its equal share: it would take the others' time and still be at its minimum. Its
verdict says what it needs and how to run it alone (`--only ID --budget ...`).

The looks of the sequential rule: an experiment plans looks only up to the seeds its
allotment could pay for (Scaled.max_seeds), so that a scaled-down experiment, which cannot
add seeds, is tested once at the full alpha instead of at alpha / looks.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from ..errors import LossdoctorError
from ..trainer.config import TrainConfig
from .design import (
    COMPILE_ALLOWANCE_S,
    MIN_SEEDS,
    MIN_STEPS,
    MIN_WINDOWS,
    STEP_KEYS,
    Experiment,
    Scaled,
    arm_configs,
    minimum_budget,
    scale,
    suggested,
)

__all__ = ["Times", "Plan", "speed_key", "arm_speeds", "plan_budget", "SLOW_ARM"]

SLOW_ARM = 4.0  # an arm this many times slower than the base config's step is a slow arm


@dataclass(frozen=True)
class Times:
    """Seconds measured here: a step and a val batch of the base config, a step of each arm."""

    step_s: float
    eval_s: float
    arms: dict[str, float]  # speed_key(arm config) -> seconds per step (compile off)


@dataclass(frozen=True)
class Plan:
    """Each experiment scaled to its share, and the ones deferred with why."""

    scaled: Mapping[str, Scaled]  # experiment id -> its scaled design
    deferred: Mapping[str, str]  # experiment id -> why it was left out of this budget


def speed_key(cfg: TrainConfig) -> str:
    """What decides a step's time: the config without step counts, seed, out_dir, compile."""
    skip = {*STEP_KEYS, "out_dir", "seed", "compile", "eval_iters"}
    return json.dumps({k: v for k, v in cfg.values.items() if k not in skip}, sort_keys=True)


def arm_speeds(e: Experiment, base: TrainConfig, times: Times) -> tuple[float, float]:
    b, t = arm_configs(e, base)
    return times.arms[speed_key(b)], times.arms[speed_key(t)]


def plan_budget(experiments: Sequence[Experiment], base: TrainConfig, budget_s: float, seeds: int,
                times: Times, spent_s: float = 0.0, parallel: int = 1) -> Plan:
    """Each runnable experiment scaled to its share of budget_s - spent_s (spent_s: seconds
    already spent on timing), as the module says. parallel: arm-seeds of loss experiments
    that train at once (an executor's workers), so that their seconds of training count
    1/parallel against the wall-clock budget. Refuses a budget below the sum of the minimums
    of the experiments kept, naming the budget that would do."""
    timed = [e for e in experiments if e.kind == "throughput"]
    shared = [e for e in experiments if e.kind not in ("code", "throughput")]
    sps, ev = times.step_s, times.eval_s

    def minimum(e: Experiment) -> float:
        return minimum_budget(e, base, sps, ev, arm_speeds(e, base, times))

    def full(e: Experiment) -> float:
        s = scale(e, base, 1e12, sps, seeds, ev, arm_speeds(e, base, times))
        return s.cost_per_seed_s * (1 if s.windows else s.seeds)

    allow = sum(COMPILE_ALLOWANCE_S for e in timed if "--compile=True" in e.treatment)
    t_min, t_full = {e.id: minimum(e) for e in timed}, {e.id: full(e) for e in timed}
    s_min, s_full = {e.id: minimum(e) for e in shared}, {e.id: full(e) for e in shared}
    left_min = (budget_s - spent_s - sum(t_min.values()) - allow) * parallel
    deferred = _deferred(shared, base, times, s_min, left_min)
    shared = [e for e in shared if e.id not in deferred]
    need = sum(t_min.values()) + allow + sum(s_min[e.id] for e in shared) / parallel
    if budget_s - spent_s < need:
        _refuse(experiments, budget_s, sps, need + spent_s, spent_s)
    left = budget_s - spent_s - sum(t_full.values()) - allow
    timed_full = left * parallel >= sum(s_min[e.id] for e in shared)
    budgets = {e.id: (t_full if timed_full else t_min)[e.id] for e in timed}
    left = (budget_s - spent_s - sum(budgets.values()) - allow) * parallel  # arm-seconds of training
    budgets.update(_water_fill([e.id for e in shared], left, s_min, s_full))
    plans = {}
    for e in [*timed, *shared]:
        s = scale(e, base, budgets[e.id], sps, seeds, ev, arm_speeds(e, base, times))
        if s.windows or s.looks:  # timed windows, or scaled down with its looks planned
            plans[e.id] = s
            continue
        affordable = int(budgets[e.id] // s.cost_per_seed_s) if s.cost_per_seed_s > 0 else s.seeds
        plans[e.id] = replace(s, max_seeds=max(s.seeds, affordable))
    return Plan(plans, deferred)


def _water_fill(ids: Sequence[str], left: float, s_min: Mapping[str, float],
                s_full: Mapping[str, float]) -> dict[str, float]:
    """Equal shares of `left`, each at least its minimum and at most its full size (the
    full-size ones then share the surplus equally, for more seeds)."""
    budgets: dict[str, float] = {}
    pending = list(ids)
    while pending:
        share = left / len(pending)
        fixed = [i for i in pending if s_min[i] >= share or s_full[i] <= share]
        if not fixed:
            budgets.update({i: share for i in pending})
            return budgets
        for i in fixed:
            budgets[i] = s_min[i] if s_min[i] >= share else s_full[i]
            left -= budgets[i]
            pending.remove(i)
    full = [i for i in ids if budgets[i] == s_full[i]]
    for i in full:  # all at full size: the rest of the budget pays for more seeds
        budgets[i] += max(0.0, left) / len(full)
    return budgets


def _deferred(shared: Sequence[Experiment], base: TrainConfig, times: Times, s_min: Mapping[str, float],
              left: float) -> dict[str, str]:
    """Experiments with a slow arm whose minimum exceeds an equal share of `left`."""
    if len(shared) < 2:
        return {}
    share = left / len(shared)
    out = {}
    for e in shared:
        slow = max(arm_speeds(e, base, times)) / times.step_s
        if slow > SLOW_ARM and s_min[e.id] > share:
            out[e.id] = (f"an arm runs {slow:.0f}x slower than the base config on this device, so even its "
                         f"smallest meaningful run ({MIN_STEPS} steps x 2 arms x {MIN_SEEDS} seeds) needs "
                         f"{math.ceil(s_min[e.id])}s, more than its share ({share:.0f}s) of this budget; run it "
                         f"alone with `lossdoctor verify --only {e.id} --budget {math.ceil(s_min[e.id] / 60) + 1}m`")
    return out


def _refuse(experiments: Sequence[Experiment], budget_s: float, sps: float, need: float, spent_s: float) -> None:
    what = "this experiment" if len(experiments) == 1 else f"these {len(experiments)} experiments"
    raise LossdoctorError(f"a budget of {budget_s:.0f}s is too small for {what}: at {sps * 1000:.0f} ms "
                          "per training step here, the "
                          f"smallest meaningful runs (loss: {MIN_STEPS} steps x 2 arms x {MIN_SEEDS} seeds; "
                          f"throughput: {MIN_WINDOWS} windows per arm) need {math.ceil(need)}s "
                          f"(with {spent_s:.0f}s of timing); give --budget {suggested(need)}, which leaves room "
                          "for the next timing to come out slower")

