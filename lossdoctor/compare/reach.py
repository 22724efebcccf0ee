"""What the worse run needs to reach the better run's best val: a longer rerun of its own
config, found on its own extrapolated curve, or the better run's model when no length does."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

from ..facts import Facts
from .results import KeyDiff, Reachable, ToReach, Unreachable

if TYPE_CHECKING:
    from ..fit.extrapolate import Extrapolator

# multiples of the run tried, in order, up to the longest horizon extrapolate predicts
LENGTHS = (1.5, 2, 2.5, 3, 4, 5)
MODEL_FLAGS = ("n_layer", "n_head", "n_embd", "block_size", "batch_size", "dropout")


def to_reach(fit: Extrapolator, fa: Facts, fb: Facts, diff: tuple[KeyDiff, ...], target: float) -> ToReach:
    """The fewest steps of a rerun whose predicted val reaches `target`; when none does,
    why, with the better run's model keys (and length) as flags where they differ."""
    r = steps_to_reach(fit, fa, target)
    if isinstance(r, Reachable):
        return r
    model = [d for d in diff if d.key in MODEL_FLAGS and d.reference is not None]
    if not model:
        return r
    flags = [f"--{d.key}={d.reference!r}" for d in model]
    iters_b, at_best = _length(fb)
    if iters_b:
        flags += [f"--max_iters={iters_b}", f"--lr_decay_iters={iters_b}"]
    planned = fb.value("max_iters")
    why = r.why + (f"; the better run's val was best at step {fb.value('best_val_step'):,} and rose after it, so "
                   f"its model is given {iters_b:,} steps" + (f", not its {planned:,}" if planned else "")
                   if at_best and iters_b else "")
    return replace(r, flags=" ".join(flags), why=why)


def _length(fb: Facts) -> tuple[int | None, bool]:
    """The better run's length to copy, and whether it is its best-val step: its max_iters,
    or, where its val turned up well before its end (overfitting), its best step rounded up
    to hundreds, since the steps after it made val worse."""
    from .sides import overfit
    iters, best, steps = fb.value("max_iters"), fb.value("best_val_step"), fb.value("steps_done")
    if best and steps and best < 0.9 * steps and overfit(fb):
        return _hundreds(best), True
    return iters, False


def steps_to_reach(fit: Extrapolator, f: Facts, target: float) -> ToReach:
    """The fewest steps (a rerun with the run's own config, in hundreds) whose predicted
    val reaches `target`, searched up to MAX_HORIZON (5x) the run; or why it cannot."""
    from ..fit.extrapolate import BeyondEpochs, CannotExtrapolate
    steps = int(f.value("steps_done") or 0)
    if steps <= 0:
        return Unreachable("the run's length is unknown")
    longest = max(int(LENGTHS[-1] * (steps - 1)) // 100 * 100, 100)  # within what extrapolate predicts
    tried = None
    for k in LENGTHS:
        to = min(_hundreds(steps * k), longest)
        try:
            scenario = fit.extrapolate(to, scenarios=("rerun",)).scenarios[0]
        except CannotExtrapolate as e:
            if tried is None or not isinstance(e, BeyondEpochs):
                return Unreachable(e.why)
            return Unreachable(f"not reachable with this config within {e.limit:g} epochs of its data: at "
                               f"{tried:,} steps its predicted val is still above {target:.4f}, and past "
                               f"{e.limit:g} epochs the extrapolation is not measured", steps_tried=tried)
        s = scenario.val
        if s is None:  # refused there (a loss below zero, a val past its minimum): no length is promised
            return Unreachable(scenario.note or f"no val predicted at {to:,} steps", steps_tried=tried)
        tried = to
        if s.mean <= target:
            return Reachable(to, s.mean, s.lo, s.hi, f"--max_iters={to} --lr_decay_iters={to}", to / steps)
    return Unreachable(f"not reachable with this config within {LENGTHS[-1]:g}x its length: at {longest:,} steps "
                       f"its predicted val is still above {target:.4f}, and 5x is the longest horizon the "
                       "extrapolation is measured at", steps_tried=longest)


def _hundreds(steps: float) -> int:
    return int(math.ceil(steps / 100) * 100)
