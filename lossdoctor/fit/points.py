"""A run's loss points for fitting: its curves, their noise, and its LR schedule.

The noise of one iteration's loss is the robust sd of successive differences / sqrt 2
(successive iterations differ by noise, not by progress); an eval averages eval_iters
batches of the same size, so its sd is that / sqrt(eval_iters). nanoGPT logs the last
micro-batch's loss (loss.item() * accum), so gradient accumulation does not shrink it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import LossdoctorError
from ..facts.schedule import last_logged_step, lr_at, lr_schedule, schedule_params, segment_ranges
from ..run import Run
from . import shape


class CannotExtrapolate(LossdoctorError):
    """The run does not allow a prediction; the message says why."""

    def __init__(self, why: str) -> None:
        super().__init__(f"cannot extrapolate: {why}")
        self.why = why


@dataclass(frozen=True)
class Curves:
    ev_step: np.ndarray
    ev_train: np.ndarray
    ev_val: np.ndarray
    it_step: np.ndarray
    it_loss: np.ndarray

    def before(self, step: int) -> Curves:
        """The points at or before `step`."""
        e, i = self.ev_step <= step, self.it_step <= step
        return Curves(self.ev_step[e], self.ev_train[e], self.ev_val[e], self.it_step[i], self.it_loss[i])


def curves(run: Run) -> Curves:
    ev, it = run.curves()
    if len(ev) == 0 and len(it) == 0:
        raise CannotExtrapolate("the run has no loss values")
    for name, arr, s in (("eval", ev.val, ev.step), ("iteration", it.loss, it.step)):
        bad = ~np.isfinite(arr)
        if bad.any():
            raise CannotExtrapolate(f"non-finite {name} loss at step {int(s[bad][0])} (the run diverged)")
    for s in (ev.step, it.step):
        if len(s) > 1 and np.any(np.diff(s) <= 0):
            raise CannotExtrapolate("steps are not increasing")
    if len(ev) >= 3 and ev.val[-1] > ev.val[0] + 0.5 and ev.train[-1] > ev.train[0]:
        raise CannotExtrapolate("the loss is rising (the run diverged)")
    return Curves(ev.step.astype(int), ev.train, ev.val, it.step.astype(int), it.loss)


def schedule(run: Run) -> tuple[dict, list[str]]:
    """get_lr's arguments, and the ones taken from nanoGPT's defaults (said in the notes)."""
    from ..config import DEFAULT, NANOGPT_DEFAULTS
    params = schedule_params(run.config)
    if params is not None:
        defaults = [f"{k} (default {params[k]})" for k in ("learning_rate", "warmup_iters", "lr_decay_iters",
                                                          "min_lr", "decay_lr")
                    if k in run.config.values and run.config.values[k].origin == DEFAULT
                    and (params["decay_lr"] or k in ("learning_rate", "decay_lr"))]
        return dict(params), defaults
    out, assumed = {}, []
    for key in ("learning_rate", "warmup_iters", "lr_decay_iters", "min_lr", "decay_lr"):
        v = run.config.trusted(key)
        if v is None:
            v = NANOGPT_DEFAULTS[key]
            assumed.append(f"{key} (assumed {v})")
        out[key] = v
    if not out["decay_lr"]:
        out.update(warmup_iters=0, lr_decay_iters=0, min_lr=out["learning_rate"])
    return out, assumed


def iter_sigma(cur: Curves) -> float | None:
    """sd of one iteration's loss (nats), or None with fewer than 20 iterations."""
    y = cur.it_loss[len(cur.it_loss) // 5:]
    if len(y) < 20:
        return None
    d = np.diff(y)
    robust = float(np.median(np.abs(d - np.median(d))) * 1.4826 / math.sqrt(2))  # robust std / sqrt 2
    return max(robust, 1e-4)  # at least the rounding of the 4 printed decimals


def lr_steps(run: Run, params: dict, n: int) -> np.ndarray:
    """(n,) LR at steps 0..n-1: the lineage's own (each resumed segment under its own
    config) as far as it goes, `params`' get_lr after."""
    lr = lr_at(np.arange(n), **params)
    known = lr_schedule(run)
    if known is not None and not np.isnan(known).any():
        m = min(len(known), n)
        lr[:m] = known[:m]
    return lr


def warmup_iters(run: Run, params: dict) -> int:
    """The lineage's warmup (its first segment's: a resume at constant LR has none)."""
    first = schedule_params(segment_ranges(run, last_logged_step(run) or 0)[0][0])
    return int(first["warmup_iters"]) if first is not None else int(params["warmup_iters"])


def val_points(cur: Curves, start: int) -> tuple[np.ndarray, np.ndarray]:
    m = (cur.ev_step >= start) & (cur.ev_step > 0)
    return cur.ev_step[m], cur.ev_val[m]


def train_points(cur: Curves, start: int, sig_iter: float | None, sig_eval: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-iteration train losses in bins (mean step, mean loss, sigma / sqrt(n)), plus the
    evals' train losses."""
    steps, ys, sig = [], [], []
    m = cur.it_step >= start
    st, lo = cur.it_step[m], cur.it_loss[m]
    if sig_iter and len(st) >= 20:
        size = max(1, len(st) // 40)
        for i in range(0, len(st) - size + 1, size):
            steps.append(int(round(st[i:i + size].mean())))
            ys.append(float(lo[i:i + size].mean()))
            sig.append(sig_iter / math.sqrt(size))
    e = (cur.ev_step >= start) & (cur.ev_step > 0)
    steps += list(cur.ev_step[e])
    ys += list(cur.ev_train[e])
    sig += [sig_eval] * int(e.sum())
    order = np.argsort(steps, kind="stable")
    return np.array(steps, int)[order], np.array(ys)[order], np.array(sig)[order]


def other_segments(other: Run, start: int, start_fraction: float) -> dict:
    """A second run's train and val segments, each under its own (lineage's) schedule."""
    cur = curves(other)
    last = int(max(cur.ev_step.max(initial=0), cur.it_step.max(initial=0)))
    p2, _ = schedule(other)
    e = shape.eta(lr_steps(other, p2, last + 1), warmup_iters(other, p2))
    sig_iter = iter_sigma(cur) or 0.05
    sig_eval = sig_iter / math.sqrt(other.config.get("eval_iters") or 200)
    first = max(start, int(start_fraction * last))
    tr = train_points(cur, first, sig_iter, sig_eval)
    vs, vy = val_points(cur, first)
    return {"train": (*tr, e), "val": (vs, vy, np.full(len(vy), sig_eval), e), "last": last}
