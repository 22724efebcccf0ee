"""Readers for build-nanogpt's train_gpt2.py: its stdout (dialect `build-nanogpt`) and its
log/log.txt (`build-nanogpt-log`).

stdout:

    total desired batch size: 524288
    => calculated gradient accumulation steps: 2
    num decayed parameter tensors: 50, with 124,354,560 parameters
    num non-decayed parameter tensors: 98, with 121,344 parameters
    validation loss: 10.8906
    HellaSwag accuracy: 2503/10042=0.2493
    step     0 | loss: 10.890430 | lr 8.3916e-07 | norm: 6.5682 | dt: 10578.11ms | tok/sec: 49563.48

log.txt: `N train X`, `N val X`, `N hella X`. An eval is printed before the step line of
its step, so `validation loss` belongs to the next step printed (the step line follows it).
Loss is one step's mean over its micro-batches, in nats (GPT-2 tokens).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..run import Dialect, Measures
from . import lines as L
from .build import Found, all_ranks_accum, cut_last, make_run, number, numbered, point_lines, text_lines
from .events import scan_events

if TYPE_CHECKING:
    from ..run import Run
    from .registry import Sample

STEP = re.compile(r"^step\s+(\d+) \| loss: (\S+) \| lr (\S+) \| norm: (\S+) \| dt: ([\d.]+)ms \| tok/sec: ([\d.]+)")
NEAR = re.compile(r"^(?:step\s+\d|validation loss: )")  # another version's wording, or a corrupt line
VAL = re.compile(r"^validation loss: (\S+)")
HELLA = re.compile(r"^HellaSwag accuracy: \d+/\d+=([\d.]+)")
BATCH = re.compile(r"^total desired batch size: (\d+)")
ACCUM = re.compile(r"^=> calculated gradient accumulation steps: (\d+)")
SAMPLE_RANK = re.compile(r"^rank (\d+) sample \d+: ")
LOG_LINE = re.compile(r"^(\d+) (train|val|hella) (\S+)$")
CRASH_CLUE = re.compile(r"File \"[^\"]*train_gpt2\.py\"")  # a traceback's frame in its script
NANOGPT_HEADER = re.compile(r"\s*(?:Overriding|tokens per iteration will be|found vocab_size|step \d+: train loss"
                            r"|iter \d+: loss)")  # nanoGPT's lines: a fork's train_gpt2.py crash stays nanoGPT's


def sniff_stdout(sample: Sample) -> bool:
    """Its step lines, or a crash in train_gpt2.py before any."""
    if sample.binary:
        return False
    return sample.memo("build-nanogpt.step", lambda: _clues(sample))


def _clues(sample: Sample) -> bool:
    """Tried before nanoGPT's sniff, which reads a whole file (a second for 20,000 lines of
    build-nanogpt's): its step lines, which nanoGPT never prints; or a crash inside its
    train_gpt2.py in a file with none of nanoGPT's header lines (nanoGPT's config/train_gpt2.py
    is named in its `Overriding config with` line, never in a traceback's frame)."""
    lines = text_lines(sample)
    if any(STEP.match(x) for x in lines[:5000]):
        return True
    return (any("Traceback" in x for x in lines) and any(CRASH_CLUE.search(x) for x in lines)
            and not any(NANOGPT_HEADER.match(x) for x in lines))


def sniff_log(sample: Sample) -> bool:
    """`N train X` / `N val X` / `N hella X` from the first line on."""
    if sample.binary:
        return False
    first = [x for x in sample.head.decode("utf-8", "replace").splitlines()[:5] if x.strip()]  # CRLF too
    return bool(first) and all(LOG_LINE.match(x) for x in first[:-1] or first)


def read_stdout(sample: Sample) -> Run:
    found = Found()
    lines = text_lines(sample)
    found.n_lines, found.cut = len(lines), cut_last(sample, lines)
    pending: list[tuple[str, float, int]] = []  # evals printed before their step's line
    groups: dict[bool, int] = {}  # the optimizer's groups, decayed or not -> parameters: together, all
    ranks = (0, 0)  # (processes, line): every rank prints its samples, `rank R sample i:`
    for n, line in numbered(lines):
        if m := STEP.match(line):
            step = int(m.group(1))
            for name, value, k in pending:
                (found.val.add(step, value, k) if name == "val" else found.point("hellaswag", step, value, k))
            pending = []
            if (loss := number(m.group(2))) is not None:
                found.train.add(step, loss, n)
            found.time_ms[step] = float(m.group(5))
            for name, g in (("lr", 3), ("norm", 4), ("tok/sec", 6)):
                if (x := number(m.group(g))) is not None:
                    found.point(name, step, x, n, "tokens/s" if name == "tok/sec" else "")
        elif (m := VAL.match(line)) and (v := number(m.group(1))) is not None:
            pending.append(("val", v, n))
        elif (m := HELLA.match(line)) and (h := number(m.group(1))) is not None:
            pending.append(("hella", h, n))
        elif m := BATCH.match(line):
            found.set("total_batch_size", int(m.group(1)), n)
        elif m := ACCUM.match(line):  # per rank (total_batch_size // (B * T * world)): not nanoGPT's all-ranks key
            found.set("grad_accum_steps", int(m.group(1)), n)
        elif (m := L.DECAYED.match(line) or L.NODECAY.match(line)) is not None:
            groups[m.re is L.DECAYED] = L.to_int(m.group(2))
        elif (m := SAMPLE_RANK.match(line)) and (rank := int(m.group(1))) + 1 > ranks[0]:
            ranks = (rank + 1, n)
        elif NEAR.match(line):  # a step or val line the patterns above do not take
            found.not_understood(n, line)
    if len(groups) == 2:
        found.params = sum(groups.values())
    if ranks[0]:
        found.derive("num_processes", ranks[0], ranks[1], f"the highest rank printing samples ({ranks[0] - 1}) + 1")
        all_ranks_accum(found)
    last = found.train.step[-1] + 1 if len(found.train) else 0
    for name, value, k in pending:  # the final eval, after the last step
        (found.val.add(last, value, k) if name == "val" else found.point("hellaswag", last, value, k))
    scan_events(numbered(lines), found)
    return make_run(found, sample.path, Dialect.BUILD_NANOGPT, Measures(eval_train=False))


def read_log(sample: Sample) -> Run:
    found = point_lines(sample, LOG_LINE, {"train": "train", "val": "val", "hella": "hellaswag"})
    return make_run(found, sample.path, Dialect.BUILD_NANOGPT_LOG, Measures(eval_train=False))
