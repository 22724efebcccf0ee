"""Reader for modded-nanogpt's record logs (dialect `modded-nanogpt`).

A record file starts with the training script's own source (whose print f-strings look
like log lines), then `nvidia-smi`, then the step lines of three generations:

    step:1/6200 train_loss:10.9184 train_time:74701ms step_avg:nanms     (2024, train loss)
    step:125/6200 val_loss:5.2017 train_time:24564ms step_avg:213.60ms
    step:1/1393 train_time:17608ms step_avg:nanms                        (2025 on, no loss)

Only whole lines of that form are read, so the source is never taken for log lines.
`peak memory allocated: N MiB reserved: M MiB` ends the run. Val is in nats (GPT-2
tokens). The hyperparameters live in the source, not in flags: the ones its
`Hyperparameters` block sets as literals are read from the printed source.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..run import Dialect, Measures
from .build import Found, integer, iter_lines, make_run, number, numbered, scan_events, text_lines

if TYPE_CHECKING:
    from ..run import Run
    from .registry import Sample

STEP = re.compile(r"^step:(\d+)/(\d+) (.*)$")
FIELD = re.compile(r"(\w+):(\S+)")
PEAK = re.compile(r"^peak memory allocated: (\d+) MiB reserved: (\d+) MiB")
# `    num_iterations : int = 1393 # ...` in the printed Hyperparameters dataclass
HYPER = re.compile(r"^\s+(\w+)\s*(?::\s*\w+\s*)?=\s*([-+\d.e_]+)\s*(?:#.*)?$")
KEYS = {"num_iterations": "max_iters", "train_steps": "max_iters", "val_loss_every": "eval_interval",
        "warmup_iters": "warmup_iters", "sequence_length": "block_size", "train_seq_len": "block_size",
        "cooldown_iters": "cooldown_iters",
        "cooldown_frac": "cooldown_frac", "warmdown_iters": "warmdown_iters"}


def sniff(sample: Sample) -> bool:
    """Whole `step:N/M ...train_time:` lines."""
    if sample.binary:
        return False
    return sample.memo("modded.steps", lambda: any(STEP.match(line) and "train_time:" in line
                                                   for line in iter_lines(sample)))


def read(sample: Sample) -> Run:
    found = Found()
    lines = text_lines(sample)
    found.n_lines = len(lines)
    in_source = True
    for n, line in numbered(lines):
        if m := STEP.match(line):
            in_source = False
            _step(found, n, m)
        elif m := PEAK.match(line):
            found.summary["peak_memory_mib"] = float(m.group(1))
            found.summary["reserved_memory_mib"] = float(m.group(2))
        elif in_source and (m := HYPER.match(line)) and m.group(1) in KEYS:
            v = number(m.group(2).replace("_", ""))
            if v is not None and not any(k == KEYS[m.group(1)] for k, _, _ in found.config):
                found.set(KEYS[m.group(1)], int(v) if v.is_integer() else v, n)
    scan_events(numbered(lines), found)
    if not len(found.train):
        found.notes.append("the log prints no train loss per step (val only), as modded-nanogpt "
                           "records have since 2025")
    return make_run(found, sample.path, Dialect.MODDED,
                    Measures(train="step" if len(found.train) else "none", eval_train=False))


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
