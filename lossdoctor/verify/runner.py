"""Run `lossdoctor verify`'s experiments with the built-in trainer, within a time budget.

Plan: a training step and a val batch of the base config, and a training step of every
other arm config, are timed here (a few steps after the warm-up; kept in OUT_DIR/plan.json
so that a rerun scales exactly as the first run did); budget.plan_budget then gives the
throughput experiments their windows (and torch.compile an allowance) and shares the rest
equally among the loss experiments, each scaled by design.scale.

Loss experiments: for each seed, both arms train from the same seed (the same initial
weights, and the same batches when the treatment keeps the batch shape), as jobs.ArmJob
run by an executor (executors.py; by default one after another in this process), with no
eval in between; the final model is evaluated on the val split
over FINAL_VAL_BATCHES batches drawn from one fixed generator, the same batches in both
arms. Seeds start at `seeds` and are added one at a time while sequential_decision says
continue, up to `max_seeds`, while the budget has room.

Persistence: each finished arm-seed (an eval-noise seed, a throughput measurement) is a
small JSON under OUT_DIR/<experiment id>/, written atomically (a temporary file, then
os.replace); a rerun with the same OUT_DIR reuses every one whose config matches and
trains only what is missing. A finished loss experiment's seed count is kept in
OUT_DIR/<experiment id>/done.json, so that a rerun ends where it ended; reused arm-seeds
count against the budget with the seconds they took. The report itself is returned;
`lossdoctor verify` saves its JSON (docs/verify.md) as OUT_DIR/verify.json.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..errors import LossdoctorError
from ..trainer.config import TrainConfig, resolve
from .budget import Times, plan_budget, speed_key
from .context import Context, Progress, arm_key, read_json, write_json
from .design import EVAL_NOISE_METRIC, Experiment, Scaled, arm_configs, default_base_config, flags_between
from .executors import Executor, LocalExecutor
from .jobs import FINAL_VAL_BATCHES, ArmJob, measure_speed
from .results import ExperimentResult, VerifyReport
from .sequential import sequential_decision
from .stats import NoiseFloor, Verification, noise_floor
from .throughput import TreatmentFailed, measure_windows, throughput_result

if TYPE_CHECKING:
    from ..trainer.data import Data

__all__ = ["run_experiments", "absent_device", "Progress", "FIRST_SEED",
           "ARM_TIMING_STEPS"]

FIRST_SEED = 1337  # nanoGPT's seed; seed i of an experiment is FIRST_SEED + i
ARM_TIMING_STEPS = 3  # steps of each other arm config timed


def _arm_jobs(experiment: Experiment, scaled: Scaled, seed: int,
              ctx: Context) -> list[tuple[str, TrainConfig, ArmJob]]:
    """(name, config, job) of each arm-seed that makes one seed of the experiment: both arms,
    or the one model of an eval-noise seed."""
    eval_batch = int(scaled.base["batch_size"])
    if experiment.kind == "eval noise":
        cfg = scaled.baseline
        iters = (int(scaled.baseline["eval_iters"]), int(scaled.treatment["eval_iters"]))
        return [(f"seed{seed}", cfg, ArmJob("eval noise", {**cfg.values, "seed": seed}, eval_batch,
                                             eval_iters=iters, data=ctx.data_path))]
    b_tok, t_tok = (int(c["batch_size"]) * int(c["gradient_accumulation_steps"])
                    for c in (scaled.baseline, scaled.treatment))
    jobs = []
    for arm, cfg in (("baseline", scaled.baseline), ("treatment", scaled.treatment)):
        at = None
        if experiment.kind == "loss at equal steps" and arm == "treatment" and t_tok > b_tok:
            at = round(int(cfg["max_iters"]) * b_tok / t_tok)
        jobs.append((f"{arm}-seed{seed}", cfg, ArmJob("train", {**cfg.values, "seed": seed}, eval_batch, at,
                                                      data=ctx.data_path)))
    return jobs


def _rows(experiment: Experiment, scaled: Scaled, seeds: Sequence[int], ctx: Context) -> list[dict[str, Any]]:
    """Both arms' metrics at each seed: from disk when they finished before, the rest trained
    now by the executor (each saved as it finishes)."""
    found: dict[str, dict[str, float]] = {}
    todo: list[tuple[str, TrainConfig, ArmJob]] = []
    for seed in seeds:
        for name, cfg, job in _arm_jobs(experiment, scaled, seed, ctx):
            record = read_json(ctx.path(experiment, name))
            if isinstance(record, dict) and record.get("config") == arm_key(cfg, ctx.data_id):
                ctx.skip(job.steps, record.get("seconds"))
                found[name] = dict(record["metrics"])
            else:
                todo.append((name, cfg, job))
    if todo:
        clock = [time.monotonic()]

        def start(i: int) -> None:
            name, _, job = todo[i]
            arm = f", {name.partition('-')[0]}" if "-" in name else ""
            ctx.what = f"{experiment.id}: seed {job.config['seed']}{arm}"

        def done(i: int, metrics: dict[str, float]) -> None:
            name, cfg, job = todo[i]
            now = time.monotonic()
            write_json(ctx.path(experiment, name), {"config": arm_key(cfg, ctx.data_id), "seed": job.config["seed"],
                                                     "metrics": metrics, "seconds": now - clock[0]})
            clock[0] = now
            found[name] = metrics

        ctx.executor.run([job for _, _, job in todo], done, ctx.tick, start)
    if experiment.kind == "eval noise":
        return [found[f"seed{seed}"] for seed in seeds]
    return [{"baseline": found[f"baseline-seed{s}"]["val"], "treatment": found[f"treatment-seed{s}"]["val"],
             "baseline_equal_tokens": found[f"baseline-seed{s}"]["val_equal_tokens"],
             "treatment_equal_tokens": found[f"treatment-seed{s}"]["val_equal_tokens"]} for s in seeds]


def _run_loss(experiment: Experiment, scaled: Scaled, ctx: Context) -> ExperimentResult:
    """A loss or eval-noise experiment, adding seeds while the sequential rule and the budget allow."""
    last = min(ctx.max_seeds, scaled.max_seeds or scaled.seeds)
    plan = [n for n in scaled.looks if n <= ctx.max_seeds] if scaled.looks else \
        list(range(scaled.seeds, max(scaled.seeds, last) + 1))
    rows: list[dict[str, Any]] = []
    key = [arm_key(scaled.baseline, ctx.data_id), arm_key(scaled.treatment, ctx.data_id), plan]
    done = read_json(ctx.path(experiment, "done"))
    final = done["seeds"] if isinstance(done, dict) and done.get("config") == key else None
    n = final if isinstance(final, int) and final in plan else scaled.seeds
    ctx.total += (n - scaled.seeds) * scaled.steps_per_seed
    cut_short = False  # the rule asked for another look and the budget had no room for it
    while True:
        rows += _rows(experiment, scaled, [FIRST_SEED + i for i in range(len(rows), n)], ctx)
        b, t = [r["baseline"] for r in rows], [r["treatment"] for r in rows]
        decision = sequential_decision(b, t, experiment.claim, paired=True, schedule=plan)
        if decision.action == "stop" or decision.next_seeds is None or n == final:
            break
        more = decision.next_seeds - n
        if not ctx.room(more * scaled.cost_per_seed_s / ctx.parallel):
            cut_short = True
            break
        ctx.total += more * scaled.steps_per_seed
        n = decision.next_seeds
    reason = decision.reason
    if n == final and isinstance(done, dict) and isinstance(done.get("reason"), str):
        reason = done["reason"]  # where this call found the run that stopped there, and why it stopped
    elif cut_short:
        reason += f"; the budget has no room for that look, so it stops at {n} seeds (a larger --budget allows more)"
    write_json(ctx.path(experiment, "done"), {"config": key, "seeds": n, "reason": reason})
    seeds = tuple(FIRST_SEED + i for i in range(n))
    return ExperimentResult(experiment.id, experiment.recommendation, flags_between(scaled.baseline, scaled.treatment),
                            decision.result, _loss_how(experiment, scaled, rows, reason),
                            scaled.text, seeds, experiment.expects)


def _loss_how(experiment: Experiment, scaled: Scaled, rows: Sequence[dict[str, Any]], seq: str) -> str:
    n = len(rows)
    if experiment.kind == "eval noise":
        sd_b = sum(r["baseline_sd"] for r in rows) / n
        sd_t = sum(r["treatment_sd"] for r in rows) / n
        return (f"{experiment.design}; sd of the logged val over the draws {sd_b:.4f} (eval_iters "
                f"{scaled.baseline['eval_iters']}) vs {sd_t:.4f} (eval_iters {scaled.treatment['eval_iters']}); "
                f"{n} seeds, {int(scaled.baseline['max_iters'])} steps each; sequential rule: {seq}")
    how = (f"{experiment.design}; paired seeds (same seed: same initial weights"
           f"{'' if scaled.baseline['batch_size'] != scaled.treatment['batch_size'] else ', same batches'}), "
           f"final val over {FINAL_VAL_BATCHES} val batches of {scaled.base['batch_size']} drawn from one fixed "
           f"generator in both arms; {n} seeds; sequential rule: {seq}")
    if any(r["treatment_equal_tokens"] != r["treatment"] for r in rows):
        diff = sum(r["treatment_equal_tokens"] - r["baseline_equal_tokens"] for r in rows) / n
        b_tok, t_tok = (int(c["batch_size"]) * int(c["gradient_accumulation_steps"])
                        for c in (scaled.baseline, scaled.treatment))
        at = round(int(scaled.treatment["max_iters"]) * b_tok / t_tok)
        how += f"; at equal tokens (the treatment after {at} steps) the mean val change is {diff:+.4f} nats"
    return how


def _run_throughput(experiment: Experiment, scaled: Scaled, ctx: Context, device: str) -> ExperimentResult:
    """A throughput experiment: its windows from disk when measured before, else measured now."""
    path = ctx.path(experiment, "windows")
    record = read_json(path)
    key = [arm_key(scaled.baseline, ctx.data_id), arm_key(scaled.treatment, ctx.data_id)]
    if isinstance(record, dict) and record.get("config") == key:
        ctx.skip(scaled.steps_per_seed, record.get("seconds"))
        return throughput_result(experiment, scaled, record["metrics"], FIRST_SEED, device)
    ctx.what = f"{experiment.id}: timing windows"
    started = time.monotonic()
    try:
        m = measure_windows(scaled, FIRST_SEED, ctx.data, os.path.join(ctx.out_dir, experiment.id), ctx.tick)
    except TreatmentFailed as e:
        why = "compile failed here" if "--compile=True" in experiment.treatment else "the treatment failed here"
        m = {"failed": f"{why}: {e}"}
    write_json(path, {"config": key, "metrics": m, "seconds": time.monotonic() - started})
    return throughput_result(experiment, scaled, m, FIRST_SEED, device)


def absent_device(device: str) -> str | None:
    import torch
    if device.startswith("cuda") and not torch.cuda.is_available():
        return "no cuda device"
    if device == "mps" and not torch.backends.mps.is_available():
        return "no mps device"
    return None


def _times(experiments: Sequence[Experiment], base: TrainConfig, ctx: Context,
           setup_s: float) -> tuple[Times, float, float, dict[str, Any] | None]:
    """The base config's step and val-batch times, and each arm's step time, measured here,
    with the seconds the measuring took and the seconds spent before it (`setup_s`: reading
    runs, sizing the model, imports); reused from OUT_DIR/plan.json when the base config
    and budget match, so that a rerun scales every experiment exactly as the first run did
    (a second or two more of imports would otherwise shift every scaled step count). The
    last item is the record for plan.json where it changed (None: all was reused), for the
    caller to keep once the budget holds."""
    path = os.path.join(ctx.out_dir, "plan.json")
    record = read_json(path)
    start = time.monotonic()
    if not (isinstance(record, dict) and record.get("config") == arm_key(base, ctx.data_id)
            and record.get("budget_s") == ctx.budget_s):
        step_s, eval_s = measure_speed(base, ctx.data)
        record = {"config": arm_key(base, ctx.data_id), "budget_s": ctx.budget_s, "seconds_per_step": step_s,
                  "seconds_per_eval_batch": eval_s, "arms": {speed_key(base): step_s}, "timing_s": 0.0,
                  "setup_s": setup_s}
    arms: dict[str, float] = record["arms"]
    measured = "timing_s" in record and record["timing_s"] == 0.0
    for e in experiments:
        if e.kind == "code":
            continue
        for cfg in arm_configs(e, base):
            if speed_key(cfg) not in arms:
                arms[speed_key(cfg)] = measure_speed(cfg, ctx.data, ARM_TIMING_STEPS)[0]
                measured = True
    if not isinstance(record.get("setup_s"), (int, float)):
        record["setup_s"], measured = setup_s, True
    if measured:  # unchanged when all was reused, so that a rerun plans exactly as before
        record["timing_s"] = float(record.get("timing_s", 0.0)) + time.monotonic() - start
    times = Times(float(record["seconds_per_step"]), float(record["seconds_per_eval_batch"]), arms)
    return times, float(record.get("timing_s", 0.0)), float(record["setup_s"]), record if measured else None


def _not_verifiable(e: Experiment, reason: str) -> ExperimentResult:
    return ExperimentResult(e.id, e.recommendation, " ".join(e.treatment),
                            Verification.not_verifiable(e.claim, reason), e.design or e.derived,
                            expects=e.expects)


def run_experiments(experiments: Sequence[Experiment], *, device: str = "cpu", budget_s: float = 600,
                    seeds: int = 3, max_seeds: int = 6, out_dir: str, data: Data | str | None = None,
                    loaded: Data | None = None, progress: Progress | None = None, base: TrainConfig | None = None,
                    executor: Executor | None = None, notes: Sequence[str] = (),
                    scaled_model: str = "", spent_s: float = 0.0) -> VerifyReport:
    """Run the experiments on `device` within about budget_s seconds; results in out_dir.

    data: a Data, a path for load_data, or None for the embedded corpus; loaded: the data
    at that path, where the caller has loaded it already (it is not read again). base: the base
    config (default nanoGPT's README CPU config). progress(done_steps, total_steps, what)
    is called after each training step. executor: where arm-seeds run (default: one after
    another in this process). notes: added to the report's; scaled_model: how the base
    model was shrunk to fit (shrink.Shrunk.text), put before each experiment's scaling;
    spent_s: seconds of the budget already spent before the call (on shrinking the model).
    Raises LossdoctorError for a budget too small; UsageError for an argument it cannot use.
    """
    from ..trainer import load_data
    from . import arguments as A
    A.experiments("run_experiments", experiments)
    A.whole("run_experiments", "max_seeds", max_seeds, A.whole("run_experiments", "seeds", seeds, 2))
    A.seconds("run_experiments", "budget_s", budget_s)
    A.config("run_experiments", "base", base)
    A.folder("run_experiments", "out_dir", out_dir)
    A.device("run_experiments", device)
    absent = absent_device(device)
    if absent is not None:
        return VerifyReport(tuple(_not_verifiable(e, e.derived if e.kind == "code" else absent) for e in experiments),
                            None, device, budget_s, tuple(notes))
    base_cfg = resolve(base=base if base is not None else default_base_config(device),
                       overrides={"device": device, "out_dir": os.path.join(out_dir, "runs")})
    missing = {e.id: why for e in experiments if (why := _absent_arm_device(e) or _unbuildable(e, base_cfg))}
    missing.update({e.id: why for e in experiments if e.id not in missing and e.kind != "code"
                    and (why := _too_big(e, base_cfg, device)) is not None})
    runnable = [e for e in experiments if e.id not in missing]
    if all(e.kind == "code" for e in runnable):  # nothing here trains: no timing, and no budget to refuse
        return VerifyReport(tuple(_not_verifiable(e, e.derived or missing[e.id]) for e in experiments), None, device,
                            budget_s, (*notes, "0 training steps taken in this call: no experiment here trains"))
    if loaded is None:
        loaded = data if data is not None and not isinstance(data, str) else load_data(data)
    ctx = Context(loaded, data if isinstance(data, str) else None, executor or LocalExecutor(loaded), out_dir,
                   budget_s, max_seeds, progress)
    times, timing_s, setup_s, record = _times(runnable, base_cfg, ctx, spent_s)
    ctx.spent += max(0.0, timing_s - (time.monotonic() - ctx.start)) + setup_s  # a reused timing counts too
    plan = plan_budget(runnable, base_cfg, budget_s, seeds, times, timing_s + setup_s, ctx.parallel)
    os.makedirs(out_dir, exist_ok=True)  # only now: a budget refused leaves OUT_DIR as it was
    if record is not None:
        write_json(os.path.join(out_dir, "plan.json"), record)
    ctx.total = sum(s.steps_per_seed * (1 if s.windows else s.seeds) for s in plan.scaled.values())
    ctx.reserved = sum(ctx.wall(s) for s in plan.scaled.values())
    why_not = {**missing, **plan.deferred}
    results = [_not_verifiable(e, e.derived or why_not[e.id]) if e.kind == "code" or e.id in why_not
               else _run_one(e, plan.scaled[e.id], ctx, device) for e in experiments]
    if scaled_model:
        results = [replace(r, scaled=f"{scaled_model}; {r.scaled}" if r.scaled else scaled_model)
                   if r.verification.verdict != "not verifiable here" else r for r in results]
    return VerifyReport(tuple(results), _noise(results), device, budget_s,
                        (*notes, f"one training step of the base config takes {times.step_s * 1000:.1f} ms here, "
                         f"one val batch {times.eval_s * 1000:.1f} ms",
                         f"{ctx.trained_steps} training steps taken in this call"))


def _run_one(e: Experiment, s: Scaled, ctx: Context, device: str) -> ExperimentResult:
    ctx.reserved -= ctx.wall(s)
    try:
        return _run_throughput(e, s, ctx, device) if e.kind == "throughput" else _run_loss(e, s, ctx)
    except LossdoctorError as err:  # a diverged arm: the finished arm-seeds stay saved
        return _not_verifiable(e, f"training failed here: {err}")


def _too_big(e: Experiment, base: TrainConfig, device: str) -> str | None:
    """Why an arm cannot fit this GPU's memory (cluster.estimate_training_memory), or None
    (always None off CUDA, where the memory is the machine's)."""
    from .cluster import device_memory, estimate_training_memory, exceeds_device_memory
    total = device_memory(device)
    if total is None:
        return None
    for cfg in arm_configs(e, base):
        if exceeds_device_memory(cfg.values, total):
            need = estimate_training_memory(cfg.values) / 2**30
            return (f"an arm needs about {need:.1f} GiB, more than this {total / 2**30:.0f} GiB device holds; "
                    f"halve batch_size and double gradient_accumulation_steps (the same tokens per step), "
                    "as torchrun's DDP keeps a whole copy on every GPU")
    return None


def _unbuildable(e: Experiment, base: TrainConfig) -> str | None:
    """Why an arm of `e` is no config the trainer takes on `base` (6 heads on a width of 128),
    or None: that experiment is not verifiable, the others still run."""
    if e.kind == "code":
        return None
    try:
        arm_configs(e, base)
    except LossdoctorError as err:
        return f"an arm is no config the trainer takes: {err}"
    return None


def _absent_arm_device(e: Experiment) -> str | None:
    """Why an arm's own --device cannot run here, or None."""
    for flag in (*e.baseline, *e.treatment):
        if flag.startswith("--device="):
            why = absent_device(flag.partition("=")[2])
            if why is not None:
                return why
    return None


def _noise(results: Sequence[ExperimentResult]) -> NoiseFloor | None:
    """Seed noise of the baseline arms of the first val-loss experiment with 2+ baseline
    seeds (not the eval-noise metric, |logged - reference| val: a loss, but not one that
    seeds move the way they move the val loss)."""
    for r in results:
        v = r.verification
        if (v.metric.kind == "loss" and v.metric.name != EVAL_NOISE_METRIC and v.baseline is not None
                and v.baseline.n >= 2):
            return noise_floor(v.baseline.values, unit=v.metric.unit)
    return None
