"""What every reader of another trainer's output shares: its text as lines, the events in
them (tracebacks, stops, assertions, warnings), and one Run built from point lists.

A reader collects its points into a `Points` (step and value lists, with the line each
came from) and its config into `(key, value, line)` triples; `make_run` turns them into a
Run of one segment. Config keys are nanoGPT's where the meaning is the same (the reader
maps them) and the trainer's own otherwise; none of nanoGPT's defaults is assumed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import config as C
from ..run import (
    Dialect,
    EvalCurve,
    Event,
    Header,
    IterCurve,
    Measures,
    ModelArgs,
    Run,
    Series,
    UnparsedLine,
)
from . import lines as L
from .goback import processes, processes_note, segment_at

if TYPE_CHECKING:
    from .registry import Sample

LOG = "log"  # config origin: printed by the trainer (another trainer's key mapped to nanoGPT's)
NUMBER = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$|^[-+]?(?:nan|inf)$", re.I)


def text_lines(sample: Sample) -> list[str]:
    """The file's lines, decoded (invalid UTF-8 replaced), ANSI colours and `\\r` progress
    bars removed."""
    return list(iter_lines(sample))


def iter_lines(sample: Sample) -> Iterator[str]:
    """text_lines one at a time, the file read a piece at a time (chunks.py): a sniff
    that stops at its first clue, or a reader that keeps only what it finds, never holds
    the whole file."""
    from . import chunks
    from .nanogpt import clean
    size = chunks.LINE_CHUNK_BYTES
    pieces = chunks.of_file(sample.path, size) if sample.regular else chunks.of_array(sample.data, size)
    tail = ""
    for piece in pieces:
        parts = clean(piece.tobytes()).decode("utf-8", "replace").split("\n")
        yield from parts[:-1]
        tail = parts[-1]  # "" after a newline; else a line cut at chunks.LONG_LINE
        if tail and len(piece) >= chunks.LONG_LINE:
            yield tail
            tail = ""
    if tail:  # the last line has no newline; after one, nothing follows (no empty line)
        yield tail


_DIGITS = re.compile(r"\d+(?:\.(\d+))?")
SHAPE_LINES = 2000  # earlier lines a last line's shape is looked for among


def _shape(line: str) -> str:
    """A line with each number as its count of decimals: `step 9 | loss 9.4` for `step 12 |
    loss 3.2512`; a number cut short has fewer, a line cut short fewer fields."""
    return _DIGITS.sub(lambda m: f"9.{len(m.group(1))}" if m.group(1) is not None else "9", line.rstrip())


def cut_last(sample: Sample, lines: Sequence[str], whole: re.Pattern[str] | None = None) -> bool:
    """Whether the file ends inside its last line: text after its last newline whose shape no
    earlier line has (within SHAPE_LINES), so that it may be cut. A last line that ends as
    the run's own lines of its kind do is whole, and read; so is one that `whole` (a
    trainer's printf of fixed decimals, ending where the printf does) matches in full."""
    if not sample.cut_mid_line or not lines:
        return False
    if whole is not None and whole.fullmatch(lines[-1].strip()):
        return False
    shape = _shape(lines[-1])
    return not any(_shape(x) == shape for x in lines[-SHAPE_LINES - 1:-1])


def count_lines(data: bytes) -> int:
    """The lines of a file's bytes as `wc -l` counts them, and a last one with no newline."""
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def head_text(sample: Sample) -> str:
    """The file's first bytes as text, for a sniff."""
    return sample.head.decode("utf-8", "replace")


def number(text: str) -> float | None:
    """A finite or non-finite float, or None when `text` is not a number."""
    t = text.strip().replace(",", "")
    if not NUMBER.match(t):
        return None
    try:
        return float(t)
    except (ValueError, OverflowError):
        return None


def integer(text: str) -> int | None:
    """An integer step or count (`1,024` allowed), or None."""
    t = text.strip().replace(",", "")
    if not t.isdigit() or len(t) > 18:  # past int64
        return None
    return int(t)


MAX_STEP = 2**62  # steps at or past this (or negative) are no training step


POINTS_CAP = 100_000  # points kept per curve; past it every 2nd, 4th, ... is kept (and the last)


@dataclass
class Points:
    """One curve's points as a reader finds them, in file order, at most POINTS_CAP of
    them: a longer curve keeps every stride-th point it was given, evenly, plus its last
    (each a real point, not an average). `close()` before reading the lists."""

    step: list[int] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    line: list[int] = field(default_factory=list)
    n_dropped: int = 0  # points whose step is no int64 step
    first_dropped: int | None = None  # the line of the first
    seen: int = 0  # points given (steps in range)
    stride: int = 1
    last: tuple[int, float, int] | None = None  # the last point given, kept by close()

    def add(self, step: int, value: float, line: int) -> None:
        if not 0 <= step < MAX_STEP:
            self.n_dropped += 1
            self.first_dropped = self.first_dropped or line
            return
        index, self.seen = self.seen, self.seen + 1
        self.last = (step, value, line)
        if index % self.stride:
            return
        self.step.append(step)
        self.value.append(value)
        self.line.append(line)
        if len(self.step) > POINTS_CAP:  # kept point j was given j*stride-th: keep the even j
            self.stride *= 2
            self.step, self.value, self.line = self.step[::2], self.value[::2], self.line[::2]

    def close(self) -> None:
        """Keep the last point given, if the stride skipped it."""
        if self.last is not None and (not self.line or self.line[-1] != self.last[2]):
            self.step.append(self.last[0])
            self.value.append(self.last[1])
            self.line.append(self.last[2])

    def drop_line(self, line: int) -> None:
        """Forget the points read from `line` (a last line cut short: its values may be cut)."""
        if self.last is not None and self.last[2] == line:
            self.last = None
        keep = [i for i, n in enumerate(self.line) if n != line]
        self.step = [self.step[i] for i in keep]
        self.value = [self.value[i] for i in keep]
        self.line = [self.line[i] for i in keep]

    def __len__(self) -> int:
        return len(self.step)

    def series(self, unit: str = "") -> Series:
        return Series(np.array(self.step, np.int64), np.array(self.value, float), unit)


@dataclass
class Found:
    """What a reader found in a file; `make_run` builds the Run."""

    val: Points = field(default_factory=Points)
    eval_train: Points = field(default_factory=Points)  # an eval of the train split, same steps as val
    train: Points = field(default_factory=Points)  # the train loss per logged step
    time_ms: dict[int, float] = field(default_factory=dict)  # step -> wall time of that step
    config: list[tuple[str, Any, int | None]] = field(default_factory=list)  # (key, value, line)
    series: dict[str, Points] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)  # series name -> unit
    summary: dict[str, float] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unparsed: list[tuple[int, str]] = field(default_factory=list)  # the first of them (not_understood)
    n_unparsed: int = 0
    last_unparsed: int = 0  # the line of the last of them
    n_lines: int = 0
    vocab_size: int | None = None
    params: int | None = None
    init_from: str | None = None
    steps_done: int | None = None  # optimizer steps done as the trainer counts them, when the file says
    marks: set[str] = field(default_factory=set)  # what a reader noted of the grammar it met
    cut: bool = False  # the file ends inside its last line (cut_last): its values are not read
    derived: dict[str, str] = field(default_factory=dict)  # key: how it was computed (Found.derive)

    def cut_last_line(self) -> None:
        """The file ends inside its last line: its values are not read (a number cut after
        `lr 1.0` would read as 1.0), and a note says so."""
        for points in (self.val, self.eval_train, self.train, *self.series.values()):
            points.drop_line(self.n_lines)
        if self.last_unparsed == self.n_lines:  # said as cut, not as not understood
            self.n_unparsed -= 1
            if self.unparsed and self.unparsed[-1][0] == self.n_lines:
                self.unparsed.pop()
        self.notes.append(L.cut_note(self.n_lines))
        self.events.append(Event("truncated", self.n_lines, "the file ends inside this line", None, 0))

    def point(self, name: str, step: int, value: float, line: int, unit: str = "") -> None:
        self.series.setdefault(name, Points()).add(step, value, line)
        if unit:
            self.units[name] = unit

    def set(self, key: str, value: Any, line: int | None = None) -> None:
        self.config.append((key, value, line))

    def derive(self, key: str, value: Any, line: int | None, how: str) -> None:
        """A config value computed from what the log prints (config origin 'derived'),
        `how` said in its raw text: one process's count times the processes."""
        self.set(key, value, line)
        self.derived[key] = how

    def rows(self) -> dict[str, tuple[Any, int | None]]:
        """Each config key's (value, line), the last set of it."""
        return {key: (value, line) for key, value, line in self.config}

    def not_understood(self, line: int, text: str) -> None:
        """A line no pattern took: counted, and kept within MAX_KEPT_UNPARSED lines."""
        self.n_unparsed += 1
        self.last_unparsed = line
        L.keep_unparsed(self.unparsed, line, text)


def all_ranks_accum(found: Found) -> None:
    """nanoGPT's gradient_accumulation_steps counts every process's micro-steps (train.py
    divides it by the world size); llm.c's and nanochat's `grad_accum_steps` is one
    process's: where the processes are shown, the first times their number."""
    rows = found.rows()
    (accum, line), (procs, _) = rows.get("grad_accum_steps", (None, 0)), rows.get("num_processes", (None, 0))
    if isinstance(accum, int) and isinstance(procs, int) and procs > 0:
        found.derive("gradient_accumulation_steps", accum * procs, line,
                     f"{accum} per process x {procs} {'process' if procs == 1 else 'processes'}")


def make_run(found: Found, source: str, fmt: Dialect, measures: Measures) -> Run:
    """The Run of what a reader found: one segment, its curves in file order (less the
    values of a last line cut short: Found.cut)."""
    if found.cut:
        found.cut_last_line()
    for p in (found.val, found.eval_train, found.train, *found.series.values()):
        p.close()
    ev, it, segments = processes(_eval_curve(found), _iter_curve(found), max(found.n_lines, 1), found.init_from)
    if len(segments) > 1:
        found.notes.append(processes_note(segments))
    cfg = config_of(found.config, found.derived)
    args = ModelArgs.from_mapping({**cfg.as_dict(), "vocab_size": found.vocab_size or cfg.get("vocab_size")})
    events = sorted(found.events + _first_nan(ev, it), key=lambda e: e.line or 0)
    if len(segments) > 1:  # each event is the process's whose lines hold it
        events = [replace(e, segment=segment_at(segments, e.line)) for e in events]
    total = cfg.get("total_batch_size")  # tokens per optimizer step, where the trainer prints it
    params_m = found.params / 1e6 if found.params and 0 < found.params < C.NUMBER_LIMIT else None
    header = Header(vocab_size=args.vocab_size, params_m=params_m,
                    init_from=found.init_from,
                    tokens_per_iter=total if isinstance(total, int) and not isinstance(total, bool) else None)
    notes = tuple(found.notes) + tuple(f"config value not used: {p}" for p in cfg.problems)
    notes += _point_notes(found)
    return Run(source=source, format=fmt, config=cfg, model_args=args, evals=ev, iters=it, events=tuple(events),
               segments=segments, header=header, unparsed=tuple(UnparsedLine(n, t) for n, t in found.unparsed),
               line_counts={"total": found.n_lines, "eval": len(ev), "iter": len(it), "unparsed": found.n_unparsed},
               notes=notes, measures=measures,
               series={k: p.series(found.units.get(k, "")) for k, p in found.series.items() if len(p)},
               summary=dict(found.summary), steps_done=found.steps_done)


def _point_notes(found: Found) -> tuple[str, ...]:
    """What was left out of the curves: points past int64, thinned curves."""
    notes = []
    curves = {"val": found.val, "train": found.train, **found.series}
    dropped = [p for p in (found.eval_train, *curves.values()) if p.n_dropped]
    if dropped:
        n = sum(p.n_dropped for p in dropped)
        first = min(p.first_dropped or 0 for p in dropped)
        notes.append(f"{n} point{'s' if n > 1 else ''} ignored: step negative or past {MAX_STEP:,} (line {first}"
                     f"{', ...' if n > 1 else ''})")
    for name, p in curves.items():
        if p.stride > 1:
            notes.append(f"{p.seen:,} {name} points: every {p.stride}th is kept (and the last), to bound memory")
    return tuple(notes)


def config_of(values: Iterable[tuple[str, Any, int | None]], derived: dict[str, str] | None = None) -> C.Config:
    """A Config of exactly the values a run shows (no defaults: `seen`, defaults not
    trusted), those computed from them (`derived`: key -> how) of origin 'derived'; a
    nanoGPT key whose value has the wrong type is unknown (Config.problems)."""
    out: dict[str, C.ConfigValue] = {}
    problems = []
    for key, value, line in values:
        raw = str(value)[:200]
        how = (derived or {}).get(key)
        origin, raw = (C.DERIVED, how) if how is not None else (LOG, raw)
        if (why := C.wrong_type(key, value)) is not None:
            problems.append(f"{key} = {raw[:40]} ({why}): treated as unknown")
            out[key] = C.ConfigValue(key, None, origin, False, raw, line)
        else:
            out[key] = C.ConfigValue(key, value, origin, raw=raw, line=line)
    return C.Config(out, seen=bool(out), defaults_ok=False, problems=tuple(problems),
                    defaults_why="it is another trainer's, whose defaults are not train.py's")


def _eval_curve(found: Found) -> EvalCurve:
    v = found.val
    train = dict(zip(zip(found.eval_train.step, found.eval_train.line, strict=True), found.eval_train.value,
                     strict=True))
    tr = np.array([train.get((s, n), math.nan) for s, n in zip(v.step, v.line, strict=True)], float)
    return EvalCurve(np.array(v.step, np.int64), tr, np.array(v.value, float), np.zeros(len(v), np.int32),
                     np.array(v.line, np.int64))


def _iter_curve(found: Found) -> IterCurve:
    t = found.train
    time_ms = np.array([found.time_ms.get(s, math.nan) for s in t.step], float)
    return IterCurve(np.array(t.step, np.int64), np.array(t.value, float), time_ms, np.full(len(t), math.nan),
                     np.zeros(len(t), np.int32), np.array(t.line, np.int64))


def _first_nan(ev: EvalCurve, it: IterCurve) -> list[Event]:
    found = []
    for name, curve, values in (("train loss", it, it.loss), ("val", ev, ev.val)):
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            i = int(bad[0])
            found.append(Event("first_nan", int(curve.line[i]), f"first non-finite {name} at step "
                               f"{int(curve.step[i])}", int(curve.step[i]), 0))
    return sorted(found, key=lambda e: e.line or 0)[:1]


def point_lines(sample: Sample, pattern: re.Pattern[str], kinds: Mapping[str, str],
                fields: re.Pattern[str] | None = None, whole: re.Pattern[str] | None = None) -> Found:
    """A file of one point per line, `pattern` matching (step, kind, value[, rest]): `kinds`
    maps each kind to "train", "val" or a series name; `fields` finds `name:value` pairs in
    the rest of a train line (llm.c's `lr:` and `norm:`); `whole`, a last line that is
    complete without its newline (cut_last). Other lines are kept unparsed."""
    found = Found()
    lines = text_lines(sample)
    found.n_lines, found.cut = len(lines), cut_last(sample, lines, whole)
    for n, line in numbered(lines):
        m = pattern.match(line.strip())
        if m is None:
            if line.strip():
                found.not_understood(n, line)
            continue
        step, where, value = integer(m.group(1)), kinds[m.group(2)], number(m.group(3))
        if step is None or value is None:
            continue
        if where == "train":
            found.train.add(step, value, n)
            for name, v in fields.findall(m.group(4)) if fields is not None else ():
                if (x := number(v)) is not None:
                    found.point(name, step, x, n)
        elif where == "val":
            found.val.add(step, value, n)
        else:
            found.point(where, step, value, n)
    return found


def numbered(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    """(1-based line number, line) of every line."""
    return enumerate(lines, 1)


def keyed_numbers(text: str, pattern: re.Pattern[str]) -> Mapping[str, float]:
    """`key value` pairs that `pattern` finds in `text`, as numbers (the rest skipped)."""
    out = {}
    for key, value in pattern.findall(text):
        v = number(value)
        if v is not None:
            out[key] = v
    return out
