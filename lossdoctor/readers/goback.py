"""The processes of another trainer's output: where its steps go back in file order, a
run restarted into the same file, a resume from an earlier checkpoint, or two copies
`cat`'d. nanoGPT's own logs are split by processes.py, from their headers too."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ..run import EvalCurve, IterCurve, Segment


def processes(ev: EvalCurve, it: IterCurve, n_lines: int, init_from: str | None
              ) -> tuple[EvalCurve, IterCurve, tuple[Segment, ...]]:
    """The file's processes, split where its steps go back in file order: a run restarted
    into the same file, a resume from an earlier checkpoint, or two copies `cat`'d. Only the
    iteration steps count where there are any (an eval printed after later train lines goes
    back by design, a restart sends both back); else the evals'. A process that starts past
    the first one's first step resumed (its lineage goes back to the one before it); one
    that starts where the first did is a fresh run. A process begins at its first point:
    an eval between two processes' iterations is the later one's where its step goes back
    below the earlier one's last and is at most the later one's first (llm.c's val before
    its first step line; a late-printed eval of the earlier one stays its own), and the
    lines after a process's last point (its traceback, the next one's header) stay its
    own. Evals after the last iteration line whose steps go back to the run's first step are
    one more process (a restart that crashed after its first eval; an eval of an earlier
    checkpoint at the end is not). A file whose steps only go down (a table sorted by
    descending step) is one. Each point gets its process's index; a file whose points have
    no lines (JSON) is one."""
    kind = it if len(it) > 1 else ev
    order = np.argsort(kind.line, kind="stable")
    lines, steps = kind.line[order], kind.step[order]
    starts, top = [], None  # the highest step of the process so far
    descending = len(steps) > 2 and bool((np.diff(steps) <= 0).all())
    for k, (n, st) in enumerate(zip(lines.tolist(), steps.tolist(), strict=True)):
        if descending:
            break
        if top is not None and st < top and n > lines[k - 1] > 0:  # the first point of another process
            before = int(lines[k - 1])  # its own evals before it count: those whose steps go back too
            gap = (ev.line > before) & (ev.line < n) & (ev.step < top) & (ev.step <= st)
            starts.append(int(ev.line[gap].min()) if gap.any() else n)
            top = st
        top = st if top is None else max(top, st)
    # a last process of evals only: a crash after its first
    if kind is it and len(lines) and lines[-1] > 0 and not descending:
        last, lo = int(lines[-1]), (starts[-1] if starts else 1)
        done = ev.step[(ev.line >= lo) & (ev.line < last)]
        begun = int(min(ev.step.min(initial=steps[0]), steps.min()))  # the run's first step: a fresh restart's
        tail = (ev.line > last) & (ev.step < (done.max() if len(done) else 0)) & (ev.step <= begun + 1)
        if tail.any():
            starts.append(int(ev.line[tail].min()))
    if descending:  # read in step order
        ev, it = (_by_step(c) for c in (ev, it))
    bounds = [1, *starts]

    def index(at: np.ndarray) -> np.ndarray:  # a point without a line (0) is the first process's
        return np.maximum(np.searchsorted(bounds, at, side="right") - 1, 0).astype(np.int32)
    ev, it = replace(ev, segment=index(ev.line)), replace(it, segment=index(it.line))
    all_steps = np.concatenate([ev.step, it.step])
    first = int(all_steps.min()) if len(all_steps) else None
    out = []
    for k, lo in enumerate(bounds):
        hi = bounds[k + 1] - 1 if k + 1 < len(bounds) else n_lines
        mine = np.concatenate([ev.step[ev.segment == k], it.step[it.segment == k]])
        lo_step = int(mine.min()) if len(mine) else None
        went_on = k > 0 and lo_step is not None and first is not None and lo_step > first + 1
        how = "resume" if went_on else init_from if len(bounds) == 1 else None  # the file's init_from: whose?
        out.append(Segment(k, lo, max(hi, lo), how, 1, int((ev.segment == k).sum()), int((it.segment == k).sum()),
                           lo_step, int(mine.max()) if len(mine) else None))
    return ev, it, tuple(out)


def _by_step(curve: Any) -> Any:
    """`curve` (an EvalCurve or IterCurve) in step order."""
    order = np.argsort(curve.step, kind="stable")
    return replace(curve, **{name: getattr(curve, name)[order] for name in curve.__dataclass_fields__})


def segment_at(segments: tuple[Segment, ...], line: int | None) -> int:
    """The index of the process whose lines hold `line` (the first's for a line unknown)."""
    if line is None:
        return 0
    return next((s.index for s in reversed(segments) if s.first_line <= line), 0)


def processes_note(segments: tuple[Segment, ...]) -> str:
    """The note on a file whose steps go back (processes)."""
    backs = [f"line {s.first_line:,} (to step {s.first_step:,}, after step {segments[s.index - 1].last_step:,})"
             for s in segments[1:] if s.first_step is not None and segments[s.index - 1].last_step is not None]
    return (f"the file holds {len(segments)} processes: its steps go back at {', '.join(backs[:3])}"
            f"{' ...' if len(backs) > 3 else ''}; the curves are the last one's, and, where it starts past the "
            "first one's first step, those of the one it resumed from")
