"""A run's LR per step, as nanoGPT's get_lr gives it: the lineage's own as far as the log
goes (each resumed segment under its own config), the run's config after that.

Values the log does not show are nanoGPT's defaults, and are named (the report says so).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, NamedTuple

import numpy as np

from ..config import Config
from ..facts.schedule import last_logged_step, lr_schedule, schedule_params, segment_ranges
from ..nanogpt import lr_at
from ..run import Run
from . import shape


class GetLr(NamedTuple):
    """nanoGPT get_lr's arguments."""

    learning_rate: float
    warmup_iters: int
    lr_decay_iters: int
    min_lr: float
    decay_lr: bool

    def lr(self, steps: np.ndarray) -> np.ndarray:
        return lr_at(steps, **self._asdict())

    @classmethod
    def of(cls, values: dict[str, Any]) -> GetLr:
        return cls(values["learning_rate"], values["warmup_iters"], values["lr_decay_iters"], values["min_lr"],
                   values["decay_lr"])


class Schedule(NamedTuple):
    """The run's LR schedule, and what of it was assumed."""

    params: GetLr  # the run's config (its last segment's)
    assumed: tuple[str, ...]  # the get_lr arguments taken from nanoGPT's defaults, said in the notes
    warmup: int  # the lineage's warmup (its first segment's: a resume at constant LR has none)
    observed: np.ndarray  # LR at steps 0..last
    # the first segment's get_lr arguments where it decayed its LR and its LR settings (peak,
    # min_lr, warmup, decay_lr) are not the last segment's: a continuation at another LR,
    # whose fresh run and cosine resume are the run's original schedule's; None otherwise
    origin: GetLr | None = None
    # a constant-LR run's (decay_lr=False) schedule keys as train.py would take them once
    # decay_lr is turned on: its config's, else train.py's defaults; None for a decaying run
    dormant: GetLr | None = None
    # of `assumed`, those that may not be what ran: taken unseen or inferred from a config
    # file (train.py's default where the log shows its config is what ran)
    doubted: tuple[str, ...] = ()

    @property
    def base(self) -> GetLr:
        """The settings a fresh run, a cosine resume or a custom schedule starts from: the
        first segment's where a continuation changed them (origin), else the run's."""
        return self.origin or self.params

    def lr(self, lo: int, hi: int) -> np.ndarray:
        """LR at steps lo..hi-1: the lineage's own up to its last step, get_lr after."""
        n = len(self.observed)
        head = self.observed[min(lo, n):min(hi, n)]
        if hi <= n:
            return head
        return np.concatenate([head, self.params.lr(np.arange(max(lo, n), hi))])

    def peak(self, n: int) -> float:
        """The largest LR at steps 0..n-1 (the LR that eta divides by)."""
        seen = self.observed[:n]
        top = float(seen.max()) if len(seen) else -np.inf
        # get_lr never exceeds max(learning_rate, min_lr): with the lineage's own LR already
        # there (to 1e-12), the steps after it cannot raise the peak
        bound = max(float(self.params.learning_rate), float(self.params.min_lr))
        if n > len(self.observed) and top < bound * (1 - 1e-12):
            top = max(top, float(self.lr(len(self.observed), n).max()))
        return top

    def eta(self, peak: float) -> np.ndarray:
        """eta (LR / peak, warmup at the peak) at steps 0..last."""
        return shape.eta(self.observed, self.warmup, peak)


def read(run: Run, last: int) -> Schedule:
    """The schedule of `run`, whose last observed step is `last`."""
    params, assumed, doubted = _params(run)
    known = lr_schedule(run)
    if known is not None and not np.isnan(known).any():
        m = min(len(known), last + 1)
        lr = np.concatenate([known[:m], params.lr(np.arange(m, last + 1))])
    else:
        lr = params.lr(np.arange(last + 1))
    first = schedule_params(segment_ranges(run, last_logged_step(run) or 0)[0][0])
    warm = int(first["warmup_iters"]) if first is not None else int(params.warmup_iters)
    origin = GetLr.of(first) if first is not None and first["decay_lr"] else None  # a decaying first schedule
    if origin is not None and all(getattr(origin, k) == getattr(params, k) for k in LR_SETTINGS):
        origin = None
    return Schedule(params, assumed, warm, lr, origin, _dormant(run, params), doubted)


def _dormant(run: Run, params: GetLr) -> GetLr | None:
    """`params` of a constant-LR run with the warmup, decay length and min_lr its config
    sets but decay_lr=False leaves unused (train.py's defaults where it shows none): what
    turning decay_lr on runs with."""
    from ..nanogpt import NANOGPT_DEFAULTS
    if params.decay_lr:
        return None
    keys = ("warmup_iters", "lr_decay_iters", "min_lr")
    shown = {k: run.config.trusted(k) for k in keys}
    return params._replace(**{k: NANOGPT_DEFAULTS[k] if v is None else v for k, v in shown.items()})


LR_SETTINGS = ("learning_rate", "min_lr", "warmup_iters", "decay_lr")  # what a continuation may change


def lineage_config(run: Run, sched: Schedule) -> Config:
    """The run's config with the first process's LR settings where a continuation changed
    them (`sched`.origin, the run's schedule as `read` gives it: a decaying run continued at
    its min_lr): the config whose schedule the run's curve shows, to be compared with a
    calibration's. The run's own config otherwise."""
    if sched.origin is None:
        return run.config
    first = segment_ranges(run, last_logged_step(run) or 0)[0][0]
    return replace(run.config, values={**run.config.values, **{k: first.values[k] for k in LR_SETTINGS
                                                                if k in first.values}})


def _params(run: Run) -> tuple[GetLr, tuple[str, ...], tuple[str, ...]]:
    """get_lr's arguments; the ones the log does not show: taken from nanoGPT's defaults, or
    inferred from a config file (readers/infer.py), each said with its value; and of those,
    the ones that may not be what ran (all but train.py's defaults in a log that shows its
    config)."""
    from ..config import DEFAULT, INFERRED
    from ..nanogpt import NANOGPT_DEFAULTS
    keys = ("learning_rate", "warmup_iters", "lr_decay_iters", "min_lr", "decay_lr")
    word = {DEFAULT: "default", INFERRED: "inferred"}
    label = {k: word.get(run.config.values[k].origin, "") if k in run.config.values else "" for k in keys}
    params = schedule_params(run.config)
    if params is not None:
        said = [k for k in keys if label[k] and (params["decay_lr"] or k in ("learning_rate", "decay_lr"))]
        unshown = tuple(f"{k} ({label[k]} {params[k]})" for k in said)
        return GetLr.of(params), unshown, tuple(u for k, u in zip(said, unshown, strict=True) if label[k] != "default")
    out, assumed = {}, []
    for key in keys:
        v = run.config.trusted(key)
        if v is None:
            v = NANOGPT_DEFAULTS[key]
            assumed.append(f"{key} (assumed {v})")
        elif label[key] == "inferred":
            assumed.append(f"{key} (inferred {v})")
        out[key] = v
    if not out["decay_lr"]:
        out.update(warmup_iters=0, lr_decay_iters=0, min_lr=out["learning_rate"])
    return GetLr.of(out), tuple(assumed), tuple(assumed)
