"""One unit of verify's training work: an arm-seed (ArmJob), and `run_job`, which trains it
and measures it. A job carries everything it needs as plain values (the config's values,
the data's path), so that it runs the same in this process, in a process per device, under
torchrun, or on a Ray worker (executors.py).

Kinds:
  train       train the config from its seed for max_iters steps, no eval in between; the
              val of the final model over FINAL_VAL_BATCHES batches from one fixed generator
              (the same batches for any model on the same data), and the val after
              `equal_tokens_at` steps when given
  eval noise  train once, then estimate the val EVAL_REPEATS times with each of two
              eval_iters, against a val over EVAL_REFERENCE_BATCHES batches
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ..errors import LossdoctorError
from ..trainer import Trainer
from ..trainer.config import TrainConfig, resolve

if TYPE_CHECKING:
    from ..trainer.data import Data

__all__ = ["ArmJob", "run_job", "val_loss", "EVAL_SEED", "FINAL_VAL_BATCHES", "EVAL_REFERENCE_BATCHES",
           "EVAL_REPEATS", "measure_speed", "TIMING_STEPS"]

EVAL_SEED = 20240  # the generator of the final val batches (the same in every arm)
FINAL_VAL_BATCHES = 100  # val batches of the final eval of a loss experiment (same batches in both arms)
EVAL_REFERENCE_BATCHES = 500  # the large-sample val an eval-noise experiment compares with
EVAL_REPEATS = 3  # logged-val draws per arm and seed in an eval-noise experiment
TIMING_STEPS = 5  # steps of a config timed, after WARMUP_STEPS, to plan the budget


@dataclass(frozen=True)
class ArmJob:
    """One arm at one seed: what to train and what to measure."""

    kind: Literal["train", "eval noise"]
    config: Mapping[str, Any] = field(hash=False)  # the TrainConfig's values; seed and device set
    eval_batch: int  # windows per val batch of the final eval (the base config's batch_size)
    equal_tokens_at: int | None = None  # train: also the val after this many steps
    eval_iters: tuple[int, int] = (0, 0)  # eval noise: (baseline, treatment) eval_iters
    data: str | None = None  # a path for load_data; None: the embedded corpus

    @property
    def steps(self) -> int:
        return int(self.config["max_iters"])

    def train_config(self) -> TrainConfig:
        return resolve(overrides=dict(self.config))


def run_job(job: ArmJob, data: Data | None = None, tick: Callable[[], None] | None = None) -> dict[str, float]:
    """Train and measure one arm-seed; tick() after each step. data: already loaded (else
    loaded from job.data). Raises LossdoctorError for a non-finite training loss."""
    if data is None:
        from ..trainer import load_data
        data = load_data(job.data)
    trainer = Trainer.setup(job.train_config(), data)
    if job.kind == "eval noise":
        return _eval_noise(trainer, job, tick)
    n = job.steps
    out: dict[str, float] = {}
    if job.equal_tokens_at is not None and job.equal_tokens_at < n:
        _steps(trainer, job.equal_tokens_at, tick)
        out["val_equal_tokens"] = val_loss(trainer, FINAL_VAL_BATCHES, EVAL_SEED, job.eval_batch)
        _steps(trainer, n - job.equal_tokens_at, tick)
    else:
        _steps(trainer, n, tick)
    out["val"] = val_loss(trainer, FINAL_VAL_BATCHES, EVAL_SEED, job.eval_batch)
    out.setdefault("val_equal_tokens", out["val"])
    return out


def _steps(trainer: Trainer, n: int, tick: Callable[[], None] | None) -> None:
    for _ in range(n):
        s = trainer.step()
        if not math.isfinite(s.loss):
            raise LossdoctorError(f"non-finite training loss at iter {s.iter_num}")
        if tick is not None:
            tick()


def _eval_noise(trainer: Trainer, job: ArmJob, tick: Callable[[], None] | None) -> dict[str, float]:
    """|val over eval_iters batches - val over EVAL_REFERENCE_BATCHES batches| for each arm's
    eval_iters, mean over EVAL_REPEATS draws, and the sd of the draws."""
    _steps(trainer, job.steps, tick)
    batch = int(job.config["batch_size"])
    ref = val_loss(trainer, EVAL_REFERENCE_BATCHES, EVAL_SEED, batch)
    out = {"reference": ref}
    # each model seed draws its own windows (the arms of one seed share theirs: paired), so that
    # seeds are independent samples of the eval's noise, not the same draws scored on other models
    first = EVAL_SEED + 1 + EVAL_REPEATS * int(job.config["seed"])
    for arm, k in zip(("baseline", "treatment"), job.eval_iters, strict=True):
        draws = [val_loss(trainer, k, first + r, batch) for r in range(EVAL_REPEATS)]
        out[arm] = sum(abs(v - ref) for v in draws) / len(draws)
        mean = sum(draws) / len(draws)
        out[f"{arm}_sd"] = math.sqrt(sum((v - mean) ** 2 for v in draws) / (len(draws) - 1))
    return out


def val_loss(trainer: Trainer, batches: int, seed: int, batch_size: int) -> float:
    """Mean val loss over `batches` batches of `batch_size` windows drawn from a generator
    seeded with `seed` (the same windows for any model on the same data), in eval mode."""
    import numpy as np
    import torch
    gen = torch.Generator().manual_seed(seed)
    val = trainer.splits["val"]
    device = trainer.cfg["device"]
    total = 0.0
    trainer.model.eval()
    with torch.no_grad():
        for _ in range(batches):
            ix = torch.randint(len(val) - trainer.block, (batch_size,), generator=gen).numpy()
            xy = torch.from_numpy(val[ix[:, None] + trainer.offsets].astype(np.int64)).to(device)
            with trainer.ctx:
                _, loss = trainer.model(xy[:, :-1].contiguous(), xy[:, 1:].contiguous())
            total += float(loss.item())
    trainer.model.train()
    return total / batches


def measure_speed(cfg: TrainConfig, data: Data, steps: int = TIMING_STEPS) -> tuple[float, float]:
    """(seconds per training step, seconds per forward-only val batch) of cfg on this
    machine: medians over `steps` steps after the warm-up steps, and `steps` val batches."""
    from ..trainer import WARMUP_STEPS
    trainer = Trainer.setup(resolve(base=cfg, overrides={"compile": False}), data)
    times = sorted(s.seconds for s in (trainer.step() for _ in range(WARMUP_STEPS + steps)) if not s.warmup)
    evals = []
    for i in range(steps):
        start = time.perf_counter()
        val_loss(trainer, 1, EVAL_SEED + i, int(cfg["batch_size"]))
        evals.append(time.perf_counter() - start)
    evals.sort()
    return times[len(times) // 2], evals[len(evals) // 2]
