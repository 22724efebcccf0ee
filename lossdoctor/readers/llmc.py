"""Readers for llm.c's train_gpt2cu: its stdout (dialect `llmc`) and its `-o` main.log
(`llmc-main`).

stdout:

    | micro batch size B    | 32          |     (a config table of `| name | value |` rows)
    val loss 11.008742                          (printed before the step it precedes)
    step    1/19560 | loss 11.010252 (+nanz)| norm 15.1374 (+nanz)| lr 8.57e-07 | 4621.47 ms
        | 29.2% bf16 MFU | 113446 tok/s                                   (one line)
    HellaSwag: 2500/10042 = 0.248954

A `val loss` line belongs to the last step printed before it (0 before any); one after a
process's `| Parameter |` table and before its first step line, to the step before that one
(0 in a fresh run, S in one resumed at S). main.log:
`s:N trl:X [lr:Y norm:Z]` per step, `s:N tel:X` per eval, `s:N eval:X` for HellaSwag.
The loss is one step's mean over its micro-batches, in nats (GPT-2 tokens). Config rows map
onto nanoGPT's keys where the meaning is the same (B -> batch_size, T -> block_size, ...).
"""

from __future__ import annotations

import re
from collections import deque
from itertools import islice
from typing import TYPE_CHECKING

from ..run import Dialect, Event, Measures
from .build import (
    SHAPE_LINES,
    Found,
    all_ranks_accum,
    cut_last,
    integer,
    iter_lines,
    make_run,
    number,
    numbered,
    point_lines,
)
from .events import scan_events

if TYPE_CHECKING:
    from ..run import Run
    from .registry import Sample

# a line cut anywhere after its loss (a process killed mid-print, its time limit's message
# run on) still gives its step and loss: what follows the loss is optional, field by field
STEP = re.compile(r"^step\s+(\d+)/(\d+) \| loss\s+([-+\w.]+)(?:.*?\| norm\s+([-+\w.]+))?"
                  r"(?:.*?\| lr ([-+\w.]+)(?: \||$))?(?: ([\d.]+) ms(?: \| ([\d.]+)% bf16 MFU \| (\d+) tok/s)?)?")
VAL = re.compile(r"^val loss (\S+)")
# a step or val line that its pattern does not take: another version's wording, or a corrupt line
NEAR = re.compile(r"^(?:step\s+\d|val loss )")
SAVE = re.compile(r"^Writing checkpoint at step (\d+)")
HELLA = re.compile(r"HellaSwag: (\d+)/(\d+) = ([\d.]+)")
ROW = re.compile(r"^\| ([^|]+?)\s+\| ([^|]+?)\s+\|$")
MAIN = re.compile(r"^s:(\d+) (trl|tel|eval):(\S+)(.*)$")
MAIN_FIELD = re.compile(r"(lr|norm):(\S+)")
# a last line with no newline that ends as train_gpt2.cu's printf does (`%f` is 6 decimals,
# main.log's values %.4f, its lr %.6f and norm %.2f) is whole, though no earlier line is alike
_F = r"(?:-?\d+\.\d{6}|-?nan|-?inf)"
WHOLE = re.compile(rf"val loss {_F}|HellaSwag: \d+/\d+ = {_F}|total average iteration time: {_F} ms"
                   r"|step\s+\d+/\d+ \| loss .* tok/s")
MAIN_WHOLE = re.compile(r"s:\d+ (?:tel|eval):(?:-?\d+\.\d{4}|-?nan|-?inf)"
                        r"|s:\d+ trl:\S+ lr:\d+\.\d{6} norm:(?:\d+\.\d{2}|-?nan|-?inf)")
ROWS = {"micro batch size B": "batch_size", "sequence length T": "block_size", "total batch size": "total_batch_size",
        "learning rate (LR)": "learning_rate", "warmup iterations": "warmup_iters", "weight decay": "weight_decay",
        "final LR fraction": "final_lr_frac", "val_loss_every": "eval_interval", "val_max_steps": "val_max_steps",
        "num_layers L": "n_layer", "num_heads NH": "n_head", "channels C": "n_embd",
        "vocab_size V": "vocab_size", "train_num_batches": "max_iters", "num_processes": "num_processes",
        "LR scheduler": "lr_scheduler", "precision": "dtype", "device": "device_name", "peak TFlops": "peak_tflops",
        "num_parameters": "num_parameters", "max_steps": "max_steps", "resume": "resume"}


# train_gpt2cu's integer flags, as a command line or a shell's `Aborted ... ./train_gpt2cu -b 48`
# line shows them: what a run that stopped before its table printed ran with
COMMAND_FLAG = re.compile(r"(?:^|\s)-([a-z]) (\S+)")
# the binary run by its path (./train_gpt2cu, /opt/llm.c/train_gpt2cu) or first on its line, not
# named in a sentence
RUN_LINE = re.compile(r"(?:^\s*(?:[$+]\s+)?|\S*/)train_gpt2cu ")
COMMAND = {"b": "batch_size", "t": "block_size", "d": "total_batch_size", "x": "max_iters", "u": "warmup_iters",
           "v": "eval_interval"}
COMMAND_FLOAT = {"l": "learning_rate", "c": "weight_decay", "q": "final_lr_frac"}
SINGLE_GPU = "Multi-GPU support is disabled. Using a single GPU."
GRAD_ACCUM = re.compile(r"^=> setting grad_accum_steps=(\d+)")  # total batch / (B * T * processes)


def sniff_stdout(sample: Sample) -> bool:
    """llm.c's step lines, its `| Parameter | Value |` table, or its C assertion."""
    if sample.binary:
        return False
    head = sample.head.decode("utf-8", "replace")
    return ("| Parameter " in head or "train_gpt2.cu" in head or "train_gpt2cu" in head
            or bool(sample.memo("llmc.step", lambda: any(STEP.match(x) for x in islice(iter_lines(sample), 2000)))))


def sniff_main(sample: Sample) -> bool:
    """main.log's `s:N trl:X` / `s:N tel:X` lines from the first line on."""
    if sample.binary:
        return False
    first = [x for x in sample.head.decode("utf-8", "replace").splitlines()[:5] if x.strip()]
    return bool(first) and all(MAIN.match(x) for x in first[:-1] or first)


def read_stdout(sample: Sample) -> Run:
    """Streamed: one line at a time, twice (values, then events), never the whole file."""
    found = Found()
    last = 0
    command: list[tuple[str, object, int]] = []  # from a `./train_gpt2cu -b 48 ...` line: below the table
    single: int | None = None  # the line that says one GPU ran
    # evals (val, HellaSwag) after a process's table and before its first step line: their step
    # is that line's - 1 (0 for a fresh run, S for one resumed at S), known only once it is printed
    pending: list[tuple[str, float, int]] | None = None
    recent: deque[str] = deque(maxlen=SHAPE_LINES + 1)  # the last lines, for cut_last
    for n, line in numbered(iter_lines(sample)):
        found.n_lines = n
        recent.append(line)
        if "train_gpt2cu " in line and (run := RUN_LINE.search(line)):  # the last command run is what ran
            flags = COMMAND_FLAG.findall(line[run.end():])
            command = [(COMMAND[f], x, n) for f, raw in flags if f in COMMAND and (x := integer(raw)) is not None]
            command += [(COMMAND_FLOAT[f], v, n) for f, raw in flags
                        if f in COMMAND_FLOAT and (v := number(raw)) is not None]
        if SINGLE_GPU in line:
            single = n
        if "| Parameter " in line:  # a process's table: its first val comes before its first step line
            pending, last = [], 0
        if m := STEP.match(line):
            for name, v, at in pending or ():  # they measured the model its first step starts from
                _eval(found, name, int(m.group(1)) - 1, v, at)
            pending = None
            last = _step(found, n, m)
        elif m := VAL.match(line):
            if (v := number(m.group(1))) is None:
                found.not_understood(n, line)
            elif pending is not None:
                pending.append(("val", v, n))
            else:
                found.val.add(last, v, n)
        elif m := HELLA.search(line):
            if pending is not None:
                pending.append(("hellaswag", float(m.group(3)), n))
            else:
                found.point("hellaswag", last, float(m.group(3)), n)
        elif m := ROW.match(line.strip()):
            _row(found, n, m.group(1).strip(), m.group(2).strip())
        elif m := SAVE.match(line):
            found.events.append(Event("checkpoint_saved", n, line.strip(), int(m.group(1)), 0))
        elif m := GRAD_ACCUM.match(line):  # per process: nanoGPT's key counts all (all_ranks_accum)
            found.set("grad_accum_steps", int(m.group(1)), n)
        elif NEAR.match(line):
            found.not_understood(n, line)
    for name, v, at in pending or ():  # no step line after them: a process that stopped at its first eval
        _eval(found, name, last, v, at)
    scan_events(numbered(iter_lines(sample)), found)
    shown = {key for key, _, _ in found.config}  # the table, where printed, is what ran
    for key, value, n in command + ([("num_processes", 1, single)] if single is not None else []):
        if key not in shown:
            found.set(key, value, n)
    _schedule(found)
    all_ranks_accum(found)
    found.cut = cut_last(sample, list(recent), WHOLE)
    return make_run(found, sample.path, Dialect.LLMC, Measures(eval_train=False))


def _eval(found: Found, name: str, step: int, value: float, line: int) -> None:
    """A val loss or a HellaSwag accuracy at `step`."""
    if name == "val":
        found.val.add(step, value, line)
    else:
        found.point(name, step, value, line)


def _schedule(found: Found) -> None:
    """llm.c's schedule in nanoGPT's keys, where its table names it: `cosine` decays from the
    peak over train_num_batches (after the warmup) to the peak x final LR fraction, as
    nanoGPT's cosine does over lr_decay_iters to min_lr; `constant` is decay_lr=False."""
    rows = found.rows()
    kind, line = rows.get("lr_scheduler", (None, None))
    if kind == "constant":
        found.set("decay_lr", False, line)
    if kind != "cosine" or "max_iters" not in rows:
        return
    found.set("decay_lr", True, line)
    found.set("lr_decay_iters", rows["max_iters"][0], rows["max_iters"][1])
    lr, frac = rows.get("learning_rate", (None, None))[0], rows.get("final_lr_frac", (None, None))[0]
    if isinstance(lr, (int, float)) and isinstance(frac, (int, float)):
        found.set("min_lr", lr * frac, rows["final_lr_frac"][1])


def _step(found: Found, n: int, m: re.Match[str]) -> int:
    step = int(m.group(1))
    if (loss := number(m.group(3))) is not None:
        found.train.add(step, loss, n)
    if m.group(6) is not None:
        found.time_ms[step] = float(m.group(6))
    if len(found.time_ms) > 2 * len(found.train) + 16:  # drop the times of points thinned out (Points)
        kept = {*found.train.step, step}
        found.time_ms = {s: t for s, t in found.time_ms.items() if s in kept}
    for name, group, unit in (("norm", 4, ""), ("lr", 5, ""), ("mfu", 7, "%"), ("tok/sec", 8, "tokens/s")):
        if m.group(group) is not None and (v := number(m.group(group))) is not None:
            found.point(name, step, v, n, unit)
    return step


def _row(found: Found, n: int, name: str, value: str) -> None:
    key = ROWS.get(name)
    if key is None:
        return
    t = value.strip()
    v: object = integer(t) if not t.startswith("-") else None if (u := integer(t[1:])) is None else -u  # `-1`
    if v is None:
        v = number(value)
    found.set(key, value if v is None else v, n)
    if key == "vocab_size" and isinstance(v, int):
        found.vocab_size = v
    if key == "num_parameters" and isinstance(v, int):
        found.params = v
    if key == "resume" and v == 1:
        found.init_from = "resume"


def read_main(sample: Sample) -> Run:
    """llm.c's main.log. Its train lines carry `lr:` and `norm:` since mid-2024; a file whose
    first train lines do not may be an older llm.c or a PyTorch script that writes the same
    lines (`llmc-style`): its flags are not llm.c's for certain."""
    found = point_lines(sample, MAIN, {"trl": "train", "tel": "val", "eval": "hellaswag"}, MAIN_FIELD, MAIN_WHOLE)
    trl = [x for x in islice(iter_lines(sample), 200) if " trl:" in x]
    dialect = Dialect.LLMC_MAIN if any(MAIN_FIELD.search(x) for x in trl) or not trl else Dialect.LLMC_STYLE
    if dialect is Dialect.LLMC_STYLE:
        found.notes.append("`s:N trl:X` lines without lr: or norm: fields: an llm.c main.log of before mid-2024, "
                           "or a PyTorch script writing that format (modded-nanogpt's first train_gpt2.py); "
                           "findings give nanoGPT's flags as a note, not either trainer's")
    return make_run(found, sample.path, dialect, Measures(eval_train=False))
