"""Reader for a run's output that holds no metric at all (dialect `crash-log`): a
traceback, a failed assertion, or a stop from outside (a scheduler's time limit, a signal)
before the first logged step. The Run has no curves; its events say how it ended, which
the crash facts and rules read. The last reader tried: a format that knows the trainer's
lines claims its own crashes first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..run import Dialect, Measures
from .build import Found, make_run, numbered, text_lines
from .events import scan_events

if TYPE_CHECKING:
    from ..run import Run
    from .registry import Sample


def _found(sample: Sample) -> Found:
    def make() -> Found:
        found = Found()
        lines = text_lines(sample)
        found.n_lines = len(lines)
        scan_events(numbered(lines), found)
        return found
    return sample.memo("crash.events", make)


def sniff(sample: Sample) -> bool:
    """A text file with a traceback, a failed assertion or a stop signal."""
    return not sample.binary and any(e.kind in ("traceback", "assertion", "interrupted")
                                     for e in _found(sample).events)


def read(sample: Sample) -> Run:
    found = _found(sample)
    found.notes.append("no metric in this output: the run stopped before its first logged step, or printed "
                       "its metrics to another file (a scheduler's .err file holds stderr only, the metrics "
                       "are in its .out)")
    return make_run(found, sample.path, Dialect.CRASH, Measures(train="none", eval_train=False))
