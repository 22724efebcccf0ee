"""Where a nanoGPT log's processes start: header lines after metrics, steps that go back,
and which of the processes cut off by their steps alone read as resumes."""

from __future__ import annotations

import numpy as np

from ..run import Header, IterCurve, Segment
from .linereader import Record
from .lines import STARTS_PROCESS


def header_bounds(records: list[Record], metric_lines: np.ndarray) -> list[int]:
    """Segment starts: a process's header lines that come after metric lines."""
    bounds = [1]
    for r in records:
        if r.kind not in STARTS_PROCESS:
            continue
        since = np.searchsorted(metric_lines, r.line) - np.searchsorted(metric_lines, bounds[-1])
        if since > 0:
            bounds.append(r.line)
    return bounds


def regression_bounds(bounds: list[int], line: np.ndarray, step: np.ndarray, is_eval: np.ndarray) -> list[int]:
    """Also start a segment where steps go back with no header: appended runs, or a resume
    whose header was not kept. line, step and is_eval: every metric line (iter and eval) in
    file order. One process evaluates once at a step, so an eval past step 0 at or below an
    earlier eval's step, with iterations between them, goes back too (train.py's resume
    evaluates again at the step it loaded); two evals at one step with nothing between
    them are one process's (a fork that prints each of two val sets the same way)."""
    out = list(bounds)
    edges = bounds + [np.iinfo(np.int64).max]
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (line >= lo) & (line < hi)
        seg_line, seg_step, seg_eval = line[sel], step[sel], is_eval[sel]
        while (cut := _first_back(seg_step, seg_eval)) is not None:
            out.append(int(seg_line[cut]))
            seg_line, seg_step, seg_eval = seg_line[cut:], seg_step[cut:], seg_eval[cut:]
    return sorted(set(out))


def _first_back(step: np.ndarray, is_eval: np.ndarray) -> int | None:
    """The first index whose step lies below an earlier metric's, or that is an eval again
    at or below an earlier eval's step past 0, with iterations since (None: none is)."""
    if len(step) < 2:
        return None
    top = np.maximum.accumulate(step)
    back = np.flatnonzero(step[1:] < top[:-1]) + 1
    back = back[~_displaced(back, step, top, is_eval)]
    firsts = [int(back[0])] if len(back) else []
    idx = np.flatnonzero(is_eval)  # the evals' places among the metric lines
    if len(idx) > 1:
        s = step[idx]
        again = (s[1:] <= np.maximum.accumulate(s)[:-1]) & (s[1:] > 0) & (np.diff(idx) > 1)
        firsts += [int(idx[np.flatnonzero(again)[0] + 1])] if again.any() else []
    return min(firsts, default=None)


def _displaced(back: np.ndarray, step: np.ndarray, top: np.ndarray, is_eval: np.ndarray) -> np.ndarray:
    """Which of the iteration lines at `back` (each below an earlier step, `top` the
    running maximum) are one line out of place, not a process going back: a step not logged
    before it, after which the steps go on past where they had been (two lines swapped by
    a copy, `iter 1235` before `iter 1234`). A restart logs its steps again; a resume
    evaluates again at a step evaluated before."""
    if not len(back):
        return np.zeros(0, bool)
    seen: dict[int, int] = {}
    for k, st in enumerate(step.tolist()):  # the first index of each step
        seen.setdefault(st, k)
    nxt = np.minimum(back + 1, len(step) - 1)
    return np.array([not is_eval[k] and seen[int(step[k])] == k and (k + 1 == len(step) or step[n] > top[k - 1])
                     for k, n in zip(back.tolist(), nxt.tolist(), strict=True)], bool)


def resumes(header: Header, steps: np.ndarray, before: Segment) -> bool:
    """Whether a process cut off by its steps alone (no header), its first metric an eval,
    reads as a resume of the one before it: it starts past step 0, at or before where that
    one stopped, as train.py's resume evaluates first at its checkpoint's step (saved at an
    eval). One that starts at 0 is another run."""
    return (header.init_from is None and len(steps) > 0 and before.last_step is not None
            and 0 < int(steps.min()) <= before.last_step)


def resume_notes(segments: tuple[Segment, ...], lines: list[int]) -> tuple[str, ...]:
    """What is said of the processes read as resumes with no header (their first lines):
    each, or, past three, all in one note."""
    if len(lines) > 3:
        steps = [next(s.first_step for s in segments if s.first_line == n) for n in lines]
        shown = ", ".join(f"{st:,} (line {n:,})" for st, n in zip(steps[:3], lines[:3], strict=True))
        return (f"{len(lines)} times the steps come again or go back with no header, at steps {shown} and later: "
                "each is read as train.py resuming from a checkpoint at that step (inferred; the log has no "
                "`Resuming training` line)",)
    return tuple(_resume_note(segments, n) for n in lines)


def _resume_note(segments: tuple[Segment, ...], line: int) -> str:
    seg = next(s for s in segments if s.first_line == line)
    prev = segments[seg.index - 1]
    moved = (f"step {seg.first_step:,} comes again" if seg.first_step == prev.last_step
             else f"the steps go back from {prev.last_step:,} to {seg.first_step:,}")
    config = ""
    if seg.config is prev.config and prev.config is not None and prev.config.seen:
        config = ", with the config of the run before it (assumed: the process shows none of its own)"
    return (f"{moved} at line {line:,} with no header: read as train.py resuming from a checkpoint at step "
            f"{seg.first_step:,} (inferred; the log has no `Resuming training` line){config}")


def in_step_order(it: IterCurve) -> tuple[IterCurve, str | None]:
    """The iteration curve with each process's lines in step order, and the note on lines
    out of place (_displaced: two lines swapped by a copy), or None where none is."""
    order = np.lexsort((it.step, it.segment))  # by process, then step; stable within both
    if np.array_equal(order, np.arange(len(order))):
        return it, None
    moved = order != np.arange(len(order))
    first = int(it.line[np.flatnonzero(moved)[0]])
    fields = ("step", "loss", "time_ms", "mfu", "segment", "line")
    note = (f"{int(moved.sum()):,} iteration lines are out of step order (the first at line {first:,}): read in "
            "step order")
    return IterCurve(*(getattr(it, f)[order] for f in fields)), note
