"""The verify entry points' arguments as they take them, or the UsageError that says what is
wrong: a bad argument from the library's user is said in their words, before any training,
not met as an AttributeError deep in a run."""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence

from ..errors import UsageError
from ..trainer.config import TrainConfig


def whole(where: str, name: str, value: object, least: int) -> int:
    """A whole number of at least `least` (no bool: True is not 1 seed)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < least:
        raise UsageError(f"{where}: {name} is a whole number of at least {least}, not {value!r}")
    return int(value)


def seconds(where: str, name: str, value: object) -> float:
    """A finite number of seconds above 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < float(value) < math.inf:
        raise UsageError(f"{where}: {name} is a number of seconds above 0, not {value!r}")
    return float(value)


def config(where: str, name: str, value: object, optional: bool = True) -> None:
    """A TrainConfig (trainer.resolve), or None where it may be left out."""
    if not (isinstance(value, TrainConfig) or (optional and value is None)):
        kind = "a TrainConfig or None" if optional else "a TrainConfig (lossdoctor.trainer.resolve)"
        raise UsageError(f"{where}: {name} is {kind}, not {value!r}")


def folder(where: str, name: str, value: object) -> None:
    """A path (str or os.PathLike), not empty."""
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise UsageError(f"{where}: {name} is a folder's path, not {value!r}")


def device(where: str, value: object) -> None:
    """A device the trainer takes: cpu, cuda, cuda:N or mps."""
    from .design import DEVICE
    if not isinstance(value, str) or not DEVICE.match(value):
        raise UsageError(f"{where}: device {value!r} is not a device (cpu, cuda, cuda:N, mps)")


def experiments(where: str, value: object) -> None:
    """A sequence of Experiment (design.default_experiments, hardware_experiment, ...)."""
    from .design import Experiment
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise UsageError(f"{where}: experiments is a list of Experiment, not {type(value).__name__}")
    for x in value:
        if not isinstance(x, Experiment):
            raise UsageError(f"{where}: experiments holds {x!r}, which is no Experiment "
                             "(lossdoctor.default_experiments() gives them)")
