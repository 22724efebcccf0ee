"""The resume re-warm's share of the gap: what putting the LR back up cost the worse run
(fit/resumed.py), where the worse run is as long as the better one, which did not
resume so."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..facts import Facts
from ..fit.resumed import REWARM_ERROR, resume_cost
from .length import Step
from .results import Cause

if TYPE_CHECKING:
    from .sides import Side

REWARM = "resume re-warm"  # the cause's name


def rewarm(a: Side, fa: Facts, fb: Facts, at: float) -> tuple[Step | None, str | None]:
    """The re-warm's step on the path, from `at` (where the worse run stands before it),
    where the worse run's resume put its LR back up and the better run's did not at that
    step; or why it is not estimated (a note), or (None, None) where there is no re-warm."""
    step = fa.value("lr_rewarm_step")
    if step is None or fb.value("lr_rewarm_step") == step:
        return None, None
    found = resume_cost(a.run)
    if isinstance(found, str):
        return None, f"resume re-warm not estimated: {found}"
    v = found.cost
    method = (f"the worse run's process before its resume at step {found.step:,}, extrapolated to step "
              f"{found.end:,} as it resumed (lossdoctor extrapolate, `resume`: {found.resumed.mean:.4f}) against a "
              f"fresh run of that length (`rerun`: {found.fresh.mean:.4f}); the interval is the share's error "
              "measured on trained pairs (docs/compare.md)")
    return Step(Cause(REWARM, v, (v - REWARM_ERROR, v + REWARM_ERROR), method), at - v), None
