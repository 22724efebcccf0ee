"""The config of a nanoGPT log that shows none, inferred from the config file it points to.

A log captured from the training loop only (no `Overriding` lines, no config-file echo)
still names its out_dir in every `saving checkpoint to DIR` line, and its evals and
iteration lines show eval_interval and log_interval. nanoGPT's config files each set their
own out_dir (nanogpt.CONFIG_FILES): where the saves name one of those, the evals fall on
its eval_interval and the iteration lines on its log_interval (and a printed `tokens per
iteration`, if any, is its batch), the file's values are taken, with origin `inferred`.
train.py's defaults for the keys the file leaves alone stay unknown, and flags given beside
the file would not show: the facts built on these values say "inferred", and a note says
from what.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

from .. import config as C
from ..nanogpt import BATCH_KEYS, CONFIG_FILES

if TYPE_CHECKING:
    from ..run import Header, Run
    from .nanogpt import Record


def infer_config(records: list[Record], run: Run, header: Header) -> tuple[Run, str] | None:
    """`run` with the inferred config (its own and its unseen segments'), and the note that
    says why; None where the log shows its config or does not point to a file."""
    if run.config.seen:
        return None
    dirs = {str(r.value).strip() for r in records if r.kind == "saving"}
    if len(dirs) != 1 or (out_dir := dirs.pop()) not in CONFIG_FILES:
        return None
    name, values = CONFIG_FILES[out_dir]
    ev, it = run.evals.step, run.iters.step
    batch = math.prod(values[k] for k in BATCH_KEYS)  # tokens per iteration, as train.py prints it
    if (len(ev) < 2 or len(it) < 2 or (ev % values["eval_interval"]).any() or (it % values["log_interval"]).any()
            or header.tokens_per_iter not in (None, batch)):
        return None
    inferred = {k: C.ConfigValue(k, v, C.INFERRED, True, repr(v)) for k, v in values.items()}

    def with_file(cfg: C.Config | None) -> C.Config | None:
        if cfg is None or cfg.seen:
            return cfg
        return replace(cfg, values={**cfg.values, **inferred})

    segments = tuple(replace(s, config=with_file(s.config)) for s in run.segments)
    config = with_file(run.config)
    assert config is not None
    note = (f"the log shows no config, but its checkpoints go to {out_dir}, its evals come every "
            f"{values['eval_interval']} steps and its iteration lines every {values['log_interval']}, as "
            f"nanoGPT's {name} sets them: that file's values are taken (origin 'inferred'), as `python train.py "
            f"{name}` runs it; flags given beside it would not show, and train.py's defaults for the keys it "
            f"leaves alone stay unknown")
    if header.tokens_per_iter is None:
        note += f" (the log does not print its tokens per iteration, {batch:,} with that file)"
    return replace(run, config=config, segments=segments), note
