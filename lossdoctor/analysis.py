"""One call from paths to runs and their facts: what `lossdoctor analyze` shows."""

from __future__ import annotations

from dataclasses import dataclass

from .facts import Facts, compute_facts
from .readers import discover, load_many
from .run import Run
from .errors import InputError


@dataclass(frozen=True)
class Analysis:
    """The runs read from the given paths, each with its derived facts."""

    runs: tuple[Run, ...]
    facts: tuple[Facts, ...]


def analyze(paths: list[str] | None = None, *, peak_flops: float | None = None,
            dataset_tokens: int | None = None) -> Analysis:
    """Read each path (a log, a ckpt.pt, a run directory) and derive its facts.

    With no paths, looks in the current directory for logs and `out*/ckpt.pt`.
    A checkpoint given right after its own log is merged into that log's run.
    """
    if not paths:
        paths = discover(".")
        if not paths:
            raise InputError(".", "no training log or out*/ckpt.pt found in the current directory")
    runs = tuple(load_many(list(paths)))
    facts = tuple(compute_facts(r, peak_flops=peak_flops, dataset_tokens=dataset_tokens) for r in runs)
    return Analysis(runs, facts)
