"""How long a rerun of the worse run's own config must be for its extrapolated val to reach
a target: a few lengths tried, the first that reaches narrowed down to hundreds of steps."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .results import Reachable, ToReach, Unreachable

if TYPE_CHECKING:
    from ..fit.extrapolate import Extrapolator

# multiples of the run's last step tried first, up to the longest horizon extrapolate
# predicts; the first that reaches is then narrowed down to hundreds of steps
LENGTHS = (1.5, 2, 2.5, 3, 4, 5)


def steps_to_reach(fit: Extrapolator, last: int, target: float, what: str = "smoothed final val") -> ToReach:
    """The fewest steps (a rerun with the run's own config, in hundreds) whose predicted
    val reaches `target`, searched from the run's `last` step up to MAX_HORIZON (5x) it and
    the farthest step its epochs allow; or why it cannot. The rerun's val falls with its
    length, so the first of LENGTHS that reaches is narrowed down by bisection."""
    from ..fit.extrapolate import BeyondEpochs, CannotExtrapolate
    if last <= 0:  # a checkpoint alone (its iter_num and best val) or a log of step 0
        return Unreachable("the run shows no curve past step 0 to extrapolate", target=target, what=what,
                           cannot_tell=True)
    longest = max(int(LENGTHS[-1] * last) // 100 * 100, 100)  # within what extrapolate predicts
    search = _Search(fit, target, what, last)
    below = last  # the longest length known not to reach (the run itself, at first)
    for k in LENGTHS:
        to = min(_hundreds(last * k), longest)
        if to <= below:
            continue
        try:
            hit = search.at(to)
        except BeyondEpochs as e:  # past the epochs measured: the farthest step they allow, then stop
            farthest = None if e.farthest is None else e.farthest // 100 * 100
            if farthest is None or farthest <= below:
                return search.unreachable(e.why, e.limit, below)
            try:
                hit = search.at(farthest)
            except CannotExtrapolate as again:
                return Unreachable(again.why, steps_tried=search.tried, target=target, what=what, cannot_tell=True)
            if not isinstance(hit, Reachable):
                return hit or search.unreachable(e.why, e.limit, farthest)
            return search.narrow(below, farthest, hit)
        except CannotExtrapolate as e:
            return Unreachable(e.why, steps_tried=search.tried, target=target, what=what, cannot_tell=True)
        if isinstance(hit, Unreachable):
            return hit
        if hit is not None:
            return search.narrow(below, to, hit)
        below = to
    return Unreachable(f"{search.short(f'within {LENGTHS[-1]:g}x its length')}, and 5x is the longest horizon "
                       "the extrapolation is measured at", steps_tried=longest, target=target, what=what,
                       may_reach=search.may_reach)


class _Search:
    """The rerun predictions asked so far, each once."""

    def __init__(self, fit: Extrapolator, target: float, what: str, last: int) -> None:
        self.fit, self.target, self.what, self.last = fit, target, what, last
        self.tried: int | None = None  # the longest length predicted
        self.farthest: tuple[float, float, float] | None = None  # its predicted val: (mean, lo, hi)

    def at(self, to: int) -> Reachable | Unreachable | None:
        """The rerun of `to` steps where it reaches the target, None where it does not, and
        Unreachable where no val is predicted there."""
        from ..fit.notes import why_no_val
        x = self.fit.extrapolate(to, scenarios=("rerun",))  # BeyondEpochs for the caller
        scenario, s = x.scenarios[0], x.scenarios[0].val
        if s is None:  # refused there: past its minimum (more steps do not help), else not known
            return Unreachable(why_no_val(x, scenario), steps_tried=self.tried, target=self.target, what=self.what,
                               cannot_tell=x.overfitting is None)
        if to >= (self.tried or 0):
            self.tried, self.farthest = to, (s.mean, s.lo, s.hi)
        if s.mean > self.target:
            return None
        return Reachable(to, s.mean, s.lo, s.hi, scenario.flags or f"--max_iters={to} --lr_decay_iters={to}",
                         to / self.last, target=self.target, what=self.what)

    def narrow(self, below: int, above: int, hit: Reachable) -> Reachable:
        """The fewest hundreds of steps in (below, above] that reach, `hit` reaching at `above`."""
        from ..fit.extrapolate import CannotExtrapolate
        lo, hi = below // 100, above // 100  # in hundreds: lo does not reach, hi does
        while hi - lo > 1:
            mid = (lo + hi) // 2
            try:
                found = self.at(mid * 100)
            except CannotExtrapolate:  # between two lengths it predicts: not expected; not promised
                found = None
            if isinstance(found, Reachable):
                hi, hit = mid, found
            else:
                lo = mid
        return hit

    def unreachable(self, why: str, limit: float, at: int) -> Unreachable:
        if at <= self.last:  # the run is past the epochs measured already: nothing longer is predicted
            return Unreachable(why, target=self.target, what=self.what, cannot_tell=True)
        return Unreachable(f"{self.short(f'within {limit:g} epochs of its data')}, and past {limit:g} epochs the "
                           "extrapolation is not measured", steps_tried=at, target=self.target, what=self.what,
                           may_reach=self.may_reach)

    @property
    def may_reach(self) -> bool:
        """Whether the longest rerun predicted holds the target in its interval."""
        return self.farthest is not None and self.farthest[1] <= self.target

    def short(self, within: str) -> str:
        """How the longest rerun predicted falls short: beyond its interval ('not
        reachable'), or inside it (it may reach: the prediction cannot tell)."""
        if self.farthest is None or self.tried is None:
            return f"not reachable with this config {within}"
        mean, lo, hi = self.farthest
        if lo > self.target:
            return (f"not reachable with this config {within}: at {self.tried:,} steps its predicted val, {mean:.4f} "
                    f"(80% {lo:.4f} to {hi:.4f}), is still above {self.target:.4f}")
        return (f"not shown to reach it {within}: at {self.tried:,} steps its predicted val, {mean:.4f}, is above "
                f"{self.target:.4f}, but its 80% interval ({lo:.4f} to {hi:.4f}) holds it, so it may")


def _hundreds(steps: float) -> int:
    return int(math.ceil(steps / 100) * 100)
