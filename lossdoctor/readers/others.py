"""Another nanoGPT script's output pasted into a training log: sample.py's.

sample.py runs nanoGPT's configurator and builds the model, so it prints `Overriding:` and
`number of parameters` lines as train.py does, and a log that pastes both (a blog post's
"Training" then "Inference") reads as one more process. Its header is not a run's: its
overrides (out_dir, device, start) would replace the training config, and a run with no
losses would be counted. A span is sample.py's when it holds one of sample.py's own lines
(`Loading meta from ...`, `No meta.pkl found, ...`) and no line only train.py prints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .linereader import Record
from .nanogpt import trains


@dataclass(frozen=True)
class Span:
    """Lines first..last (1-based, inclusive) of another script's output."""

    first: int
    last: int


def sample_spans(bounds: list[int], records: list[Record], metric_lines: np.ndarray,
                 n_lines: int) -> list[Span]:
    """The process spans (between `bounds`, the segment starts) that are sample.py's."""
    out = []
    for k, first in enumerate(bounds):
        last = bounds[k + 1] - 1 if k + 1 < len(bounds) else max(n_lines, first)
        if np.any((metric_lines >= first) & (metric_lines <= last)):
            continue  # a metric: a training process
        mine = [r for r in records if first <= r.line <= last]
        if any(r.kind == "sample_py" for r in mine) and not trains(mine):
            out.append(Span(first, last))
    return out


def without(bounds: list[int], records: list[Record], spans: list[Span]) -> tuple[list[int], list[Record]]:
    """`bounds` and `records` without the spans: their lines are nobody's header. A span
    at the start of the file leaves the first segment starting at line 1."""
    if not spans:
        return bounds, records
    starts = {s.first for s in spans}
    kept = [b for b in bounds if b not in starts]
    if not kept or kept[0] != 1:
        kept = [1] + kept
    return kept, [r for r in records if not any(s.first <= r.line <= s.last for s in spans)]
