"""What all of one `lossdoctor verify` call's experiments share (the data and its
fingerprint, the executor, the budget, progress), and how a finished arm-seed is kept on
disk and found again: a small JSON written atomically, reused only when its config and
its data's fingerprint match (`arm_key`)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..fsio import atomic_json
from ..trainer.config import TrainConfig
from ..trainer.data import fingerprint
from .design import Experiment, Scaled
from .executors import Executor

if TYPE_CHECKING:
    from ..trainer.data import Data

Progress = Callable[[int, int, str], None]  # (done steps, total steps, what is running)


def write_json(path: str, obj: Any) -> None:
    """Write obj as JSON atomically: a kill mid-write leaves the old file or none."""
    atomic_json(path, obj, indent=1)


def read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def arm_key(cfg: TrainConfig, data_id: str) -> dict[str, Any]:
    """What a result on disk must match to be reused: the config, and the data's fingerprint."""
    return {**{k: v for k, v in cfg.values.items() if k not in ("out_dir", "seed")}, "data": data_id}


class Context:
    """What all experiments of one run share: data, executor, budget, progress, persistence."""

    def __init__(self, data: Data, data_path: str | None, executor: Executor, out_dir: str, budget_s: float,
                 max_seeds: int, progress: Progress | None) -> None:
        self.data, self.data_path, self.executor = data, data_path, executor
        self.data_id = fingerprint(data)  # what a result on disk must have trained on to be reused
        self.out_dir, self.budget_s, self.max_seeds = out_dir, budget_s, max_seeds
        self.progress = progress
        self.start = time.monotonic()
        self.done, self.total, self.what = 0, 0, ""
        self.reserved = 0.0  # planned seconds of the experiments not yet run
        self.trained_steps = 0  # training steps taken in this call (reused arm-seeds not counted)
        self.spent = 0.0  # seconds the reused arm-seeds took when they ran
        self.parallel = max(1, int(getattr(executor, "workers", 1)))  # arm-seeds that train at once

    def wall(self, s: Scaled) -> float:
        """Planned wall-clock seconds of a scaled experiment: a loss experiment's arm-seeds
        run `parallel` at a time; throughput windows always here, one after another."""
        if s.windows:
            return s.cost_per_seed_s
        seeds = min(max(s.seeds, s.max_seeds), self.max_seeds)  # the last look's seeds
        return s.cost_per_seed_s * seeds / self.parallel

    def tick(self, steps: int = 1) -> None:
        self.done += steps
        self.trained_steps += steps
        if self.progress is not None:
            self.progress(self.done, self.total, self.what)

    def skip(self, steps: int, seconds: Any) -> None:
        """Steps of an arm-seed reused from disk, and the seconds they took then (they count
        as spent, so that a resumed run adds no more seeds than an unbroken one)."""
        self.spent += float(seconds) if isinstance(seconds, (int, float)) else 0.0
        self.done += steps
        if self.progress is not None:
            self.progress(self.done, self.total, self.what)

    def room(self, seconds: float) -> bool:
        """Whether `seconds` more fit in the budget after what is reserved for later experiments."""
        return time.monotonic() - self.start + self.spent + seconds + self.reserved <= self.budget_s

    def path(self, experiment: Experiment, name: str) -> str:
        return os.path.join(self.out_dir, experiment.id, f"{name}.json")
