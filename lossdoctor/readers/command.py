"""A train.py command line shown above a run's output (a blog post's code block, a shell
session pasted with its prompt) as the config of the run that follows it.

configurator.py runs the config file named on the command line, then applies each
`--key=value`. The flags are read as they are (origin 'override'); the file's values are
nanoGPT's file as it ships (nanogpt.CONFIG_FILES; origin 'inferred': a copy edited before
the run would not show), and dropped where the log's printed tokens per iteration
contradict them; train.py's defaults stand only where no file is named. A config echo that
follows (`Overriding config with FILE:`) is the file as it ran, and replaces what the
command's file was taken to set.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from .. import config as C
from ..nanogpt import BATCH_KEYS, config_file_values

if TYPE_CHECKING:
    from ..run import Run
    from .linereader import Record


def with_output(records: list[Record], metric_line: np.ndarray) -> list[Record]:
    """The records without the train.py commands that no metric line follows before the next
    command (one shown after the output, or never run): no run of their own."""
    commands = [r.line for r in records if r.kind == "command"]
    if not commands:
        return records
    ends = dict(zip(commands, [*commands[1:], np.iinfo(np.int64).max], strict=True))
    return [r for r in records if r.kind != "command"
            or bool(((metric_line > r.line) & (metric_line < ends[r.line])).any())]


def apply(b: C.ConfigBuilder, r: Record) -> bool:
    """Apply a command record (lines.train_command) to a process's config; whether it names
    a config file (whose values the log does not show)."""
    path, flags = r.value
    for key, value in (config_file_values(path) or {}).items() if path else ():
        b.set(C.ConfigValue(key, value, C.INFERRED, True, repr(value), r.line))
    for key, raw in flags:
        b.set(C.ConfigValue(key, C.parse_override_value(raw), C.OVERRIDE, True, raw, r.line))
    b.seen = True  # a command with no file or flags runs train.py's defaults
    return path is not None


def forget(b: C.ConfigBuilder) -> bool:
    """A config echo follows: the values taken from the command's file go back to train.py's
    defaults, which the echo's lines then set as they ran. No file is unseen now (False)."""
    b.drop(C.INFERRED)
    return False


def check_file(cfg: C.Config, tokens: int | None) -> C.Config:
    """The values of a command's file, dropped (unknown) where the log's printed tokens per
    iteration contradict them: the file was not the one nanoGPT ships."""
    inferred = [k for k, cv in cfg.values.items() if cv.origin == C.INFERRED]
    vals = [cfg.trusted(k) for k in BATCH_KEYS]
    if tokens is None or not inferred or not all(isinstance(v, int) for v in vals) or math.prod(vals) == tokens:
        return cfg
    dropped = {k: C.ConfigValue(k, None, C.INFERRED, False, cfg.values[k].raw, cfg.values[k].line) for k in inferred}
    return replace(cfg, values={**cfg.values, **dropped})


def note(records: list[Record], run: Run) -> str | None:
    """What the config of the run's last process owes to a train.py command line it shows
    and no config echo (None where it shows none, or shows the echo too); `records`: those
    the segments were cut from."""
    lin = run.lineage()
    seg = run.segments[lin[-1]] if lin else run.segments[-1]
    kinds = {r.kind: r for r in records if seg.first_line <= r.line <= seg.last_line}
    if "command" not in kinds or "config_file" in kinds:
        return None
    r = kinds["command"]
    path, flags = r.value
    said = f"the log shows no config echo; its config is read from the train.py command at line {r.line:,}"
    if path is None:
        return f"{said}: {'its flags and ' if flags else ''}train.py's defaults"
    if config_file_values(path) is None:
        return (f"{said}: its flags only; lossdoctor does not hold the values of {path}, so they and train.py's "
                "defaults stay unknown")
    if any(cv.origin == C.INFERRED and not cv.known for cv in run.config.values.values()):
        return (f"{said}: its flags only; the printed tokens per iteration are not those of {path} as nanoGPT "
                "ships it (the file was edited), so its values and train.py's defaults stay unknown")
    return (f"{said}: its flags, and {path} as nanoGPT ships it (origin 'inferred': a copy edited before the "
            "run would not show); train.py's defaults for the keys the file leaves alone stay unknown")
