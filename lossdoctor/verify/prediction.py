"""`lossdoctor verify --extrapolation`: does `lossdoctor extrapolate` predict what training
then does?

For each seed the built-in trainer runs the base config to M steps (its schedule made for
M, evals every eval_interval, nanoGPT's log in OUT/extrapolation/seed<S>/train.log; a rerun
reuses a log whose done.json holds the same config). The
log cut after the eval at step N = M/2 is exactly what the run had shown at N (training is
deterministic, and nothing after N is in it); `extrapolate` predicts the val at M from that
cut (scenario `rerun`: the run's own schedule to M), and the truth is the logged val at M.

The verdict is on the miss, truth - prediction, over seeds (paired t-test): `no effect`
when the prediction is unbiased within the equivalence margin; and the report counts how
often the truth fell inside the prediction's interval.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import LossdoctorError, UsageError
from ..fsio import atomic_text
from ..trainer.config import TrainConfig, resolve
from .jobs import measure_speed
from .results import ExperimentResult, VerifyReport
from .stats import Claim, Metric, NoiseFloor, Verification, noise_floor, p_text, verify

if TYPE_CHECKING:
    from ..trainer.data import Data

__all__ = ["run_extrapolation", "not_verifiable_report", "MIN_EVALS_AT_N", "EXTRAPOLATION_ID"]

EXTRAPOLATION_ID = "extrapolation"
MIN_EVALS_AT_N = 5  # evals the log must hold at N (step 0 included) for a fit worth checking
MIN_STEPS = 100  # M below this is no training run to predict
FIRST_SEED = 1337
CLAIM = Claim.improves(Metric.loss("val at M: truth - prediction"), recommendation="lossdoctor extrapolate")


def _plan(base: TrainConfig, budget_s: float, seeds: int, step_s: float, eval_s: float) -> TrainConfig:
    """The base config with max_iters M (lr_decay_iters and warmup_iters in proportion) as
    long as `seeds` runs fit budget_s, at most the base's own max_iters; eval_interval in
    proportion too, but small enough for MIN_EVALS_AT_N evals by N = M/2; M a multiple of
    2 eval_interval, so that the run evaluates at N and at M."""
    m0 = int(base["max_iters"])
    if m0 < MIN_STEPS:  # no budget helps: M is at most the run's own length
        raise LossdoctorError(f"--extrapolation trains the run's config to M, at most its own max_iters ({m0}), and "
                              f"checks a prediction there: M must be at least {MIN_STEPS} steps; give a run of "
                              f"{MIN_STEPS} steps or more")
    per_eval = 2 * int(base["eval_iters"]) * eval_s  # seconds: train and val splits

    def shaped(m: int) -> TrainConfig:
        interval = max(1, min(round(int(base["eval_interval"]) * m / m0), (m // 2) // (MIN_EVALS_AT_N - 1)))
        m = max(2 * interval, m // (2 * interval) * 2 * interval)  # evals at N = M/2 and at M itself
        out = {k: max(1, round(int(base[k]) * m / m0)) for k in ("lr_decay_iters", "warmup_iters")}
        return resolve(base=base, overrides={"max_iters": m, "eval_interval": interval, **out})

    def cost(c: TrainConfig) -> float:
        m = int(c["max_iters"])
        return seeds * (m * step_s + (m // int(c["eval_interval"]) + 1) * per_eval)

    m = m0
    while m >= MIN_STEPS and cost(shaped(m)) > budget_s:
        m = int(m * 0.9)
    if m < MIN_STEPS:
        raise LossdoctorError(f"a budget of {budget_s:.0f}s is too small for --extrapolation: {seeds} runs of "
                              f"{MIN_STEPS} steps need {math.ceil(cost(shaped(MIN_STEPS)))}s here at "
                              f"{step_s * 1000:.0f} ms per step")
    return shaped(m)


def _cut(log: str, n: int, out: str) -> None:
    """The log's lines up to and including the eval line of step n."""
    with open(log, encoding="utf-8") as f, open(out, "w", encoding="utf-8") as g:
        for line in f:
            g.write(line)
            if line.startswith(f"step {n}:"):
                return
    raise LossdoctorError(f"{log}: no eval at step {n}")


def _seed(cfg: TrainConfig, seed: int, folder: str, data: Data, tick: Callable[[], None]) -> dict[str, Any]:
    """Train one seed to M (reused when its log is complete) and predict M from the cut at N."""
    from ..fit import CannotExtrapolate, Extrapolator
    from ..readers import load
    from ..trainer import Event, train
    from ..trainer.data import fingerprint
    m, interval = int(cfg["max_iters"]), int(cfg["eval_interval"])
    n = (m // 2) // interval * interval
    log = os.path.join(folder, "train.log")
    done = os.path.join(folder, "done.json")
    run_cfg = resolve(base=cfg, overrides={"seed": seed, "out_dir": folder, "always_save_checkpoint": False})
    key = json.dumps({**run_cfg.values, "data": fingerprint(data)}, sort_keys=True)  # reused: same config and data
    if _read(done) != key:

        def count(event: Event) -> None:
            if event.kind == "iter":
                tick()

        result = train(run_cfg, data, callbacks=[count], echo=False)
        if result.stopped:
            raise LossdoctorError(f"seed {seed}: {result.stopped}")
        atomic_text(done, key)
    truth = [v for step, _, v in _evals(log) if step == m]
    cut = os.path.join(folder, f"cut_at_{n}.log")
    _cut(log, n, cut)
    try:
        x = Extrapolator(load(cut)).extrapolate(m, scenarios=("rerun",))
    except CannotExtrapolate as e:
        raise LossdoctorError(f"seed {seed}: extrapolate could not predict from the log cut at step {n}: {e}") from e
    est = x.scenarios[0].val
    if est is None or not truth:
        raise LossdoctorError(f"seed {seed}: no prediction or no eval at step {m}")
    return {"n": n, "m": m, "prediction": est.mean, "lo": est.lo, "hi": est.hi, "level": est.level,
            "truth": truth[-1]}


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return None


def _evals(log: str) -> list[tuple[int, float, float]]:
    from ..readers import load
    ev = load(log).evals
    return [(int(s), float(t), float(v)) for s, t, v in zip(ev.step, ev.train, ev.val, strict=True)]


def run_extrapolation(base: TrainConfig, *, data: Data, out_dir: str, budget_s: float, seeds: int = 3,
                      progress: Callable[[int, int, str], None] | None = None) -> VerifyReport:
    """Check `extrapolate` against training, as the module says; results in out_dir. The
    timing of a step comes out of the budget before the trainings are planned; the time
    spent in all is said (the fits and each training's start-up are not planned for).
    Raises UsageError for an argument it cannot use."""
    from ..trainer.data import Data
    from . import arguments as A
    A.config("run_extrapolation", "base", base, optional=False)
    if not isinstance(data, Data):
        raise UsageError(f"run_extrapolation: data is a Data (lossdoctor.trainer.load_data), not {data!r}")
    A.folder("run_extrapolation", "out_dir", out_dir)
    A.seconds("run_extrapolation", "budget_s", budget_s)
    A.whole("run_extrapolation", "seeds", seeds, 2)
    start = time.perf_counter()
    step_s, eval_s = measure_speed(base, data)
    cfg = _plan(base, budget_s - (time.perf_counter() - start), seeds, step_s, eval_s)
    rows, done = [], 0
    for i in range(seeds):
        seed = FIRST_SEED + i

        def tick(seed: int = seed) -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(done, seeds * int(cfg["max_iters"]), f"extrapolation: seed {seed}")

        rows.append(_seed(cfg, seed, os.path.join(out_dir, EXTRAPOLATION_ID, f"seed{seed}"), data, tick))
    spent = time.perf_counter() - start
    over = ", over it by the fits and the trainings' start-ups, which the plan does not count" \
        if spent > budget_s else ""
    return VerifyReport((_result(cfg, base, rows),), _noise(rows), str(cfg["device"]), budget_s,
                        (f"one training step takes {step_s * 1000:.1f} ms here",
                         f"{seeds} trainings of {int(cfg['max_iters']):,} steps took {spent:.1f} s of the "
                         f"{budget_s:g} s budget{over}"))


def not_verifiable_report(device: str, budget_s: float, why: str) -> VerifyReport:
    """The report of a prediction check that cannot run here (no such device)."""
    r = ExperimentResult(EXTRAPOLATION_ID, "lossdoctor extrapolate predicts the val at M from the log at N = M/2",
                         "", Verification.not_verifiable(CLAIM, why), "", expects="no effect")
    return VerifyReport((r,), None, device, budget_s)


def _result(cfg: TrainConfig, base: TrainConfig, rows: list[dict[str, Any]]) -> ExperimentResult:
    pred = [r["prediction"] for r in rows]
    truth = [r["truth"] for r in rows]
    v: Verification = _as_bias(verify(pred, truth, CLAIM, paired=True))
    inside = sum(r["lo"] <= r["truth"] <= r["hi"] for r in rows)
    level = rows[0]["level"]
    misses = ", ".join(f"{r['truth'] - r['prediction']:+.3f}" for r in rows)
    n, m = rows[0]["n"], rows[0]["m"]
    how = (f"each seed trained to step {m}; its log cut after the eval at step {n} is what the run showed there; "
           f"`extrapolate` (scenario rerun) predicted val at {m} from the cut; the truth is the logged val at {m}. "
           f"The truth fell inside the {level:.0%} interval for {inside} of {len(rows)} seeds; misses "
           f"(truth - prediction) {misses} nats")
    scaled = ""
    if int(cfg["max_iters"]) != int(base["max_iters"]):
        scaled = (f"max_iters {base['max_iters']} -> {cfg['max_iters']} (lr_decay_iters, warmup_iters, "
                  "eval_interval in proportion): the check is at this horizon, not at the base's")
    return ExperimentResult(EXTRAPOLATION_ID, f"lossdoctor extrapolate predicts val at step {m} from the log at "
                            f"step {n}", f"--max_iters={m}", v, how, scaled,
                            tuple(FIRST_SEED + i for i in range(len(rows))), "no effect")


def _as_bias(v: Verification) -> Verification:
    """The verdict's reason said as what it is here: a prediction expected unbiased that the
    truth lies below (too pessimistic) or above (too optimistic), by how much; the test's
    direction (CLAIM's "lower") is only how the one-sided test is run."""
    if v.verdict not in ("confirmed", "refuted") or v.effect is None or v.p_value is None:
        return v
    e = v.effect.estimate  # truth - prediction, mean over the seeds
    how = "too pessimistic: the truth lies below it" if e < 0 else "too optimistic: the truth lies above it"
    test = f"one-sided p = {p_text(v.p_value / 2, v.alpha)} < alpha {v.alpha:g}"  # as stats.verify says it
    return dataclasses.replace(v, reason=f"the prediction is biased, {how} by {abs(e):.4g} nats on average; {test}")


def _noise(rows: list[dict[str, Any]]) -> NoiseFloor | None:
    """Seed noise of the truths (the val at M over seeds)."""
    truths = [r["truth"] for r in rows]
    return noise_floor(truths, unit="nats") if len(truths) >= 2 else None
