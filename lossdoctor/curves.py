"""A run's curves: numpy arrays, one entry per logged line, read-only through the curve
(`run.py`'s Run holds them; readers build them, nothing else writes them)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# nats: a fresh model's loss is about ln(vocab), under 15 for any vocabulary in use; one
# far beyond it is a divergence or a corrupt number, and would overflow the fits' sums
MAX_LOSS = 1e4


class _ReadOnly:
    """Arrays read-only through the curve, as made and as unpickled or deep-copied (which
    set the attributes without __post_init__)."""

    def __post_init__(self) -> None:
        _read_only(self)

    def __setstate__(self, state: dict[str, object]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)
        _read_only(self)


@dataclass(frozen=True, eq=False)
class Series(_ReadOnly):
    """A further metric over steps (HellaSwag, CORE, grad norm, LR, tokens/s)."""

    step: np.ndarray  # (K,) int64
    value: np.ndarray  # (K,) float64
    unit: str = ""


def _read_only(curve: object) -> None:
    """A curve's arrays cannot be written through it (each is a read-only view; the arrays
    it was made from are left as they were): a Run is immutable in depth, as its facts and
    fits, computed once, assume."""
    for name, value in list(vars(curve).items()):
        if isinstance(value, np.ndarray):
            view = value.view()
            view.setflags(write=False)
            object.__setattr__(curve, name, view)


@dataclass(frozen=True, eq=False)
class EvalCurve(_ReadOnly):
    """`step N: train loss X, val loss Y` points, in file order."""

    step: np.ndarray  # (E,) int64, iteration number of the eval
    train: np.ndarray  # (E,) float64, mean of eval_iters batches in eval mode; nan allowed
    val: np.ndarray  # (E,) float64
    segment: np.ndarray  # (E,) int32, index into Run.segments
    line: np.ndarray  # (E,) int64, 1-based line number in the source

    def __len__(self) -> int:
        return int(self.step.shape[0])


@dataclass(frozen=True, eq=False)
class IterCurve(_ReadOnly):
    """`iter N: loss X, time Yms, mfu Z%` points, in file order."""

    step: np.ndarray  # (I,) int64, the step's 0-based index; the steps done when format.counts_steps
    loss: np.ndarray  # (I,) float64, last micro-batch loss x grad_accum, train mode
    time_ms: np.ndarray  # (I,) float64, wall time of that iteration incl. any eval before it
    mfu: np.ndarray  # (I,) float64 percent of A100 bf16 peak; nan when not printed
    segment: np.ndarray  # (I,) int32
    line: np.ndarray  # (I,) int64

    def __len__(self) -> int:
        return int(self.step.shape[0])


def empty_evals() -> EvalCurve:
    z = np.zeros(0)
    zi = np.zeros(0, np.int64)
    return EvalCurve(zi, z, z, np.zeros(0, np.int32), zi)


def empty_iters() -> IterCurve:
    z = np.zeros(0)
    zi = np.zeros(0, np.int64)
    return IterCurve(zi, z, z, z, np.zeros(0, np.int32), zi)
