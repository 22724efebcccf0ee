"""The resume re-warm's share of the gap: what putting the LR back up cost the worse run.

A run resumed with a longer schedule (nanoGPT's `--init_from=resume --max_iters=N
--lr_decay_iters=N`) goes back up the cosine from where the first one ended: the loss
rises, then falls again along a second decay. A fresh run of N steps decays once. Where
the worse run's log holds the process before the resume, that process is extrapolated
twice to the worse run's length, as `resume` (what the run did) and as `rerun` (a fresh
run of the same length), and their difference is the re-warm's share: two predictions of
one fit, so its level cancels.

Measured on the pairs trained for it (`python benchmarks/rewarm_share.py`): the long runs'
2000 -> 5000 resumes and the calibration grid's 400 -> 1000, each against the fresh run
of the same length and seed, truths on 500 val batches. The share's 80% half-width,
REWARM_ERROR, is the long runs' (the grid's coverage with it is reported apart).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..facts import Facts
from ..run import Run
from .length import Step
from .results import Cause

if TYPE_CHECKING:
    from .sides import Side

# nats, the 80% half-width of the share: 0.8 quantile of |share - measured| over the long
# runs' six resumes (benchmarks/rewarm_share.py); on the grid's six it holds four
REWARM_ERROR = 0.03
REWARM = "resume re-warm"  # the cause's name
# the LR settings a resume keeps for its share to be `resume`'s: only the length changes
KEPT = ("learning_rate", "min_lr", "warmup_iters", "decay_lr")


def before_resume(run: Run) -> tuple[Run, int] | None:
    """The run as it stood before its one resume (the first process, its own config and
    points), and the resumed process's length; None where the lineage is not one fresh
    process and one resume of it that changed only the length, with max_iters =
    lr_decay_iters (a new cosine to the new end)."""
    lineage = run.lineage()
    if len(lineage) != 2:
        return None
    first, then = (run.segments[i] for i in lineage)
    if then.init_from != "resume" or first.first_step != 0 or then.first_step is None:
        return None
    ca, cb = first.config or run.config, then.config or run.config
    if any(ca.trusted(k) != cb.trusted(k) for k in KEPT):
        return None
    end, decay = cb.trusted("max_iters"), cb.trusted("lr_decay_iters")
    if not isinstance(end, int) or end != decay or end <= then.first_step:
        return None
    from dataclasses import replace
    ev, it = run.evals, run.iters  # all its points, the step it was resumed at too
    keep_ev, keep_it = ev.segment == first.index, it.segment == first.index
    evals = type(ev)(**{k: getattr(ev, k)[keep_ev] for k in ev.__dataclass_fields__})
    iters = type(it)(**{k: getattr(it, k)[keep_it] for k in it.__dataclass_fields__})
    cut = replace(run, config=ca, evals=evals, iters=iters, segments=run.segments[:first.index + 1],
                  checkpoint=None, events=tuple(e for e in run.events if e.line is None or e.line <= first.last_line))
    return cut, end


def rewarm(a: Side, fa: Facts, fb: Facts, at: float) -> tuple[Step | None, str | None]:
    """The re-warm's step on the path, from `at` (where the worse run stands before it),
    where the worse run's resume put its LR back up and the better run's did not at that
    step; or why it is not estimated (a note), or (None, None) where there is no re-warm."""
    step = fa.value("lr_rewarm_step")
    if step is None or fb.value("lr_rewarm_step") == step:
        return None, None
    found = before_resume(a.run)
    if found is None:
        return None, ("resume re-warm not estimated: the worse run's log does not hold one fresh process and one "
                      "resume of it to a new cosine with the same LR settings")
    cut, end = found
    from ..fit.extrapolate import CannotExtrapolate, Extrapolator
    try:
        x = Extrapolator(cut).extrapolate(end, scenarios=("rerun", "resume"))
    except CannotExtrapolate as e:
        return None, f"resume re-warm not estimated: its first process, extrapolated to step {end:,}: {e.why}"
    val = {s.name: s.val for s in x.scenarios}
    resumed, fresh = val.get("resume"), val.get("rerun")
    if resumed is None or fresh is None:
        return None, f"resume re-warm not estimated: no val is predicted for its first process at step {end:,}"
    v = resumed.mean - fresh.mean
    method = (f"the worse run's process before its resume at step {step:,}, extrapolated to step {end:,} as it "
              f"resumed (lossdoctor extrapolate, `resume`: {resumed.mean:.4f}) against a fresh run of that length "
              f"(`rerun`: {fresh.mean:.4f}); the interval is the share's error measured on trained pairs "
              "(docs/compare.md)")
    return Step(Cause(REWARM, v, (v - REWARM_ERROR, v + REWARM_ERROR), method), at - v), None
