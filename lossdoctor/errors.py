"""lossdoctor's exceptions.

The hierarchy:

* LossdoctorError          anything lossdoctor reports to the user instead of a traceback
  + InputError             a file or directory that cannot be read as a training run
    - CheckpointError      a checkpoint that cannot be read safely (code needed, LFS pointer, ...)
      . RefusedCheckpoint  one refused for safety (its pickle would run code, a zip bomb)
  + UsageError             a bad argument to the library or the CLI

The CLI turns every LossdoctorError into one line on stderr and exit code 2.
Findings about a run (NaN losses, overfitting, ...) are data, never exceptions.
"""

from __future__ import annotations

import os


class LossdoctorError(Exception):
    """Base class of every error lossdoctor reports to the user."""


class InputError(LossdoctorError):
    """A file or directory that cannot be read as a training run."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class CheckpointError(InputError):
    """A checkpoint that cannot be loaded safely or is not a checkpoint."""


class RefusedCheckpoint(CheckpointError):
    """A checkpoint refused for safety (its pickle would run code, a zip bomb): never read
    around, where a damaged one beside its log leaves the log to read."""


class UsageError(LossdoctorError):
    """A bad argument given to the library or the CLI."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill PID`, a scheduler's stop), raised where Ctrl-C would be, so that a
    training saves its state alike and its log says which of the two stopped it."""


def is_flag(value: object) -> bool:
    """Whether `value` is True or False: a bool, or numpy's (np.True_, from a comparison)."""
    kind = type(value)
    return isinstance(value, bool) or (kind.__module__ == "numpy" and kind.__name__ in ("bool", "bool_"))


def checked_path(where: str, value: object) -> str:
    """`value` as a path (a str or os.PathLike), or the UsageError naming `where` and what
    was given instead."""
    if not isinstance(value, (str, os.PathLike)):
        raise UsageError(f"{where}: a path is a str or os.PathLike, not {type(value).__name__} ({value!r})")
    path = os.fspath(value)
    if isinstance(path, str) and not path.strip():  # an unset shell variable's "": it would read as nothing
        raise UsageError(f"{where}: an empty path ({path!r}): name a log file or a run directory")
    return path
