"""Reader for modded-nanogpt's record logs (dialect `modded-nanogpt`).

A record file starts with the training script's own source (whose print f-strings look
like log lines), then `nvidia-smi`, then the step lines of three generations:

    step:1/6200 train_loss:10.9184 train_time:74701ms step_avg:nanms     (2024, train loss)
    step:125/6200 val_loss:5.2017 train_time:24564ms step_avg:213.60ms
    step:1/1393 train_time:17608ms step_avg:nanms                        (2025 on, no loss)

Only whole lines of that form are read, so the source is never taken for log lines.
`peak memory allocated: N MiB reserved: M MiB` ends the run. Val is in nats (GPT-2
tokens). The hyperparameters live in the source, not in flags: the ones its
`Hyperparameters` block sets as literals, or products of integer literals (`8*64`), are
read from the printed source. Its `batch_size` counts sequences across all devices in
2024 (`batch_size : int = 8*64 # batch size, in sequences, across all devices`, times
`sequence_length`) and tokens from 2025 (`batch_size = 8*64*1024 # batch size in tokens`):
either way it gives the tokens of one optimizer step (`total_batch_size`), and
`device_batch_size`, the sequences one GPU takes per forward pass, is nanoGPT's
batch_size. The learning rates are not read: the records train most weights with Muon at
a multiple of the Adam rate, which no one nanoGPT learning_rate describes.
"""

from __future__ import annotations

import math
import re
from itertools import islice
from typing import TYPE_CHECKING

from ..run import Dialect, Measures
from .build import Found, cut_last, integer, iter_lines, make_run, number, numbered, text_lines
from .events import scan_events

if TYPE_CHECKING:
    from ..run import Run
    from .registry import Sample

STEP = re.compile(r"^step:(\d+)/(\d+) (.*)$")
NEAR = re.compile(r"^step:\d")  # a step line STEP does not take: another version's wording, or a corrupt line
FIELD = re.compile(r"(\w+):(\S+)")
PEAK = re.compile(r"^peak memory allocated: (\d+) MiB reserved: (\d+) MiB")
# `    num_iterations : int = 1393 # ...` in the printed Hyperparameters dataclass; a product
# of integers (`8*64*1024`) too
HYPER = re.compile(r"^\s+(\w+)\s*(?::\s*\w+\s*)?=\s*([-+\d.e_]+(?:\s*\*\s*[\d_]+)*)\s*(#.*)?$")
KEYS = {"num_iterations": "max_iters", "train_steps": "max_iters", "val_loss_every": "eval_interval",
        "warmup_iters": "warmup_iters", "sequence_length": "block_size", "train_seq_len": "block_size",
        "cooldown_iters": "cooldown_iters", "device_batch_size": "batch_size",
        "cooldown_frac": "cooldown_frac", "warmdown_iters": "warmdown_iters"}


# lines a record log prints before its first step: its source code (up to ~3,600 lines in
# the corpus) and hyperparameters; past them, a log without a step line is not one
SNIFF_LINES = 20_000


def sniff(sample: Sample) -> bool:
    """Whole `step:N/M ...train_time:` lines, within the first SNIFF_LINES lines."""
    if sample.binary:
        return False
    return sample.memo("modded.steps", lambda: any(STEP.match(line) and "train_time:" in line
                                                   for line in islice(iter_lines(sample), SNIFF_LINES)))


def read(sample: Sample) -> Run:
    found = Found()
    lines = text_lines(sample)
    found.n_lines, found.cut = len(lines), cut_last(sample, lines)
    in_source, batch = True, None
    constants: dict[str, str] | None = None  # nanoGPT key -> the Hyperparameters name that set it
    length: dict[str, tuple[int, int]] = {}  # a 2026 record's num_scheduled/extension_iterations -> (value, line)
    for n, line in numbered(lines):
        if m := STEP.match(line):
            in_source = False
            _step(found, n, m)
        elif NEAR.match(line):
            found.not_understood(n, line)
        elif m := PEAK.match(line):
            found.summary["peak_memory_mib"] = float(m.group(1))
            found.summary["reserved_memory_mib"] = float(m.group(2))
        elif in_source and (m := HYPER.match(line)) and (v := _literal(m.group(2))) is not None:
            constants = constants if constants is not None else {}
            if m.group(1) == "batch_size" and batch is None:
                batch = (v, "token" in (m.group(3) or ""), n)
            elif m.group(1) in LENGTH and isinstance(v, int):
                length.setdefault(m.group(1), (v, n))
            elif m.group(1) in KEYS and not any(k == KEYS[m.group(1)] for k, _, _ in found.config):
                found.set(KEYS[m.group(1)], v, n)
                constants[KEYS[m.group(1)]] = m.group(1)
    _total_batch(found, batch)
    if constants is not None:
        _length(found, length, constants)
    scan_events(numbered(lines), found)
    if not len(found.train):
        found.notes.append("the log prints no train loss per step (val only), as modded-nanogpt "
                           "records have since 2025")
    return make_run(found, sample.path, Dialect.MODDED,
                    Measures(train="step" if len(found.train) else "none", eval_train=False,
                             constants=tuple(constants.items()) if constants is not None else None))


# a later record's length: a schedule of num_scheduled_iterations steps, then
# num_extension_iterations more at its final LR; nanoGPT's max_iters is their sum
LENGTH = ("num_scheduled_iterations", "num_extension_iterations")


def _length(found: Found, length: dict[str, tuple[int, int]], constants: dict[str, str]) -> None:
    """max_iters from a record that sets its length by LENGTH, not num_iterations, and the
    constant a longer run edits: its schedule's, the extension's steps added after it
    (`num_scheduled_iterations + 10`, as dialects.translate reads it)."""
    if "max_iters" in constants or LENGTH[0] not in length:
        return
    extension = length[LENGTH[1]][0] if LENGTH[1] in length else 0
    found.set("max_iters", length[LENGTH[0]][0] + extension, length[LENGTH[0]][1])
    constants["max_iters"] = f"{LENGTH[0]} + {extension}" if extension else LENGTH[0]


def _literal(text: str) -> int | float | None:
    """A number, or the product of integers (`8*64*1024`); None for anything else."""
    parts = [number(p.strip().replace("_", "")) for p in text.split("*")]
    values = [p for p in parts if p is not None]
    if len(values) != len(parts) or (len(values) > 1 and not all(p.is_integer() for p in values)):
        return None
    v = float(math.prod(values))
    return int(v) if v.is_integer() and abs(v) < 2**62 else v


def _total_batch(found: Found, batch: tuple[int | float, bool, int] | None) -> None:
    """The tokens of one optimizer step, from `batch_size`: tokens as they are, sequences
    times the sequence length."""
    if batch is None or not isinstance(batch[0], int) or batch[0] <= 0:
        return
    value, in_tokens, line = batch
    seq = next((v for k, v, _ in found.config if k == "block_size"), None)
    if in_tokens:
        found.set("total_batch_size", value, line)
    elif isinstance(seq, int) and seq > 0:
        found.set("total_batch_size", value * seq, line)


def _step(found: Found, n: int, m: re.Match[str]) -> None:
    step, fields = int(m.group(1)), dict(FIELD.findall(m.group(3)))
    if not any(k == "max_iters" and v == int(m.group(2)) for k, v, _ in found.config):
        found.config = [c for c in found.config if c[0] != "max_iters"] + [("max_iters", int(m.group(2)), n)]
    if (v := number(fields.get("val_loss", ""))) is not None:
        found.val.add(step, v, n)
    if (t := number(fields.get("train_loss", ""))) is not None:
        found.train.add(step, t, n)
    avg = fields.get("step_avg", "")
    if avg.endswith("ms") and (ms := number(avg[:-2])) is not None:
        found.point("step_avg_ms", step, ms, n, "ms")
    total = fields.get("train_time", "")
    if total.endswith("ms") and (ms := integer(total[:-2])) is not None:
        found.point("train_time_ms", step, float(ms), n, "ms")
        # printed after `step` updates (step:N/M counts steps done): a record since 2025 prints
        # no loss on these lines, and its evals lie up to 125 steps behind where it stopped
        found.steps_done = step  # the last line's: a restart into the same file counts its own
