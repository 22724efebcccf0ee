"""The events in any trainer's output: tracebacks (their exception line), stops from
outside, assertions, llm.c's CUDA errors and warnings, found line by line."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..run import Event, EventKind
from . import lines as L

if TYPE_CHECKING:
    from .build import Found

ASSERTION = re.compile(r"Assertion [`'](.+?)' failed")
# llm.c's cudaCheck/cublasCheck: `[CUDA ERROR] at file train_gpt2.cu:362:`, the error's
# text on the next line, then exit
CUDA_ERROR = re.compile(r"^\[(CUDA|cuBLAS) ERROR\]:? (?:at file (\S+):)?\s*(.*)$")


def scan_events(lines: Iterable[tuple[int, str]], found: Found) -> None:
    """Tracebacks (their exception line), stops from outside, assertions and warnings, as
    Events in `found`."""
    pending, frames = False, list[str]()
    cuda: tuple[int, str, str] | None = None  # (line, where, its text so far) of a CUDA error
    for n, raw in lines:
        text = L.PREFIX.sub("", raw).strip()
        if cuda is not None:  # the error's text is on the line after `at file ...:`
            line, what, said = cuda
            found.events.append(_cuda_event(line, what, said or text))
            cuda = None
            if not said:
                continue
        if m := CUDA_ERROR.match(text):
            where = f" at {m.group(2)}" if m.group(2) else ""
            cuda = (n, f"{m.group(1)} error{where}", m.group(3).strip())
            continue
        if L.TRACEBACK.search(text):
            pending, frames = True, []
            continue
        if pending and (f := L.frame(text)) is not None:
            L.keep_frame(frames, f)
            continue
        if text.startswith("|"):  # a Markdown table row: a text that quotes a stop, not one
            continue
        kind = _event_kind(text, pending)
        if kind is None:
            continue
        found.events.append(Event(kind, n, text[:300], None, 0, tuple(frames) if kind == "traceback" else ()))
        if kind == "traceback":
            pending = False
    if cuda is not None:  # the file ends at the error's first line
        found.events.append(_cuda_event(*cuda))


def _cuda_event(line: int, what: str, said: str) -> Event:
    """llm.c's CUDA or cuBLAS error as the run's failure: 'CUDA error at F:L: out of memory'."""
    return Event("traceback", line, (f"{what}: {said}" if said else what)[:300], None, 0)


def _event_kind(text: str, pending: bool) -> EventKind | None:
    if ASSERTION.search(text):
        return "assertion"
    if L.INTERRUPT.search(text):
        return "interrupted"
    if pending and L.EXCEPTION.match(text):
        return "traceback"
    if L.WARNING.search(text):
        return "warning"
    return None
