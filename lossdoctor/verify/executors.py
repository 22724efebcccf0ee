"""Where verify's arm-seeds (jobs.ArmJob) run.

An executor runs a batch of independent jobs and calls done(i, metrics) as each finishes,
so that the runner saves it at once (an interrupted verify keeps every finished arm-seed).
`LocalExecutor` runs them one after another in this process, with a tick after every step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from .jobs import ArmJob, run_job

if TYPE_CHECKING:
    from ..trainer.data import Data

__all__ = ["Executor", "LocalExecutor", "Done", "Tick", "Start"]

Done = Callable[[int, dict[str, float]], None]  # (index of the job in the batch, its metrics)
Tick = Callable[[int], None]  # steps finished since the last call
Start = Callable[[int], None]  # (index of the job that starts)


class Executor(Protocol):
    name: str
    workers: int  # jobs that run at once

    def run(self, jobs: Sequence[ArmJob], done: Done, tick: Tick, start: Start | None = None) -> None:
        """Run every job: start(i) as job i starts, tick(steps) as steps finish, done(i,
        metrics) as job i finishes. Raises the first job's error after the others have
        finished (or been cancelled)."""
        ...


class LocalExecutor:
    """Jobs one after another in this process, on the already loaded data."""

    name = "local"
    workers = 1

    def __init__(self, data: Data) -> None:
        self.data = data

    def run(self, jobs: Sequence[ArmJob], done: Done, tick: Tick, start: Start | None = None) -> None:
        for i, job in enumerate(jobs):
            if start is not None:
                start(i)
            done(i, run_job(job, self.data, lambda: tick(1)))
