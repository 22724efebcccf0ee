"""The LR schedule of each way to reach a later step, with its exact nanoGPT flags."""

from __future__ import annotations

import numpy as np

from ..facts.schedule import lr_at
from .points import CannotExtrapolate


def schedule(name: str, sched, params: dict, lr_obs: np.ndarray, last: int, to: int  # noqa: ANN001
             ) -> tuple[np.ndarray, str]:
    """(LR at steps 0..to, flags) of scenario `name`: rerun, resume, constant, custom
    (`sched`: a dict of get_lr arguments or per-step LRs) or observed."""
    steps = np.arange(to + 1)
    if name == "observed":
        return lr_obs, ""
    if name == "rerun":
        return lr_at(steps, **{**params, "lr_decay_iters": to}), f"--max_iters={to} --lr_decay_iters={to}"
    if name == "resume":
        new = lr_at(steps, **{**params, "lr_decay_iters": to})
        return (np.concatenate([lr_obs[:last], new[last:]]),
                f"--init_from=resume --max_iters={to} --lr_decay_iters={to}")
    if name == "constant":
        lr = np.concatenate([lr_obs[:last], np.full(to + 1 - last, params["min_lr"])])
        return lr, (f"--init_from=resume --max_iters={to} --decay_lr=False "
                    f"--learning_rate={params['min_lr']:g}")
    if name == "custom":
        if isinstance(sched, dict):
            p = {**params, **sched}
            lr = lr_at(steps, **p)
            flags = (f"--max_iters={to} --learning_rate={p['learning_rate']:g} --warmup_iters="
                     f"{p['warmup_iters']} --lr_decay_iters={p['lr_decay_iters']} --min_lr={p['min_lr']:g}")
            return lr, flags
        lr = np.asarray(sched, float)
        if len(lr) < to + 1:
            raise CannotExtrapolate(f"the schedule file gives {len(lr)} LRs; {to + 1} are needed")
        return lr[:to + 1], f"--max_iters={to} (per-step LRs from the schedule file; no nanoGPT flag sets them)"
    raise CannotExtrapolate(f"unknown scenario {name!r}")
