"""What a resume with a longer cosine cost a run: its process before the resume,
extrapolated to the resume's end as it resumed and as a fresh run of that length.

A run resumed with a longer schedule (nanoGPT's `--init_from=resume --max_iters=N
--lr_decay_iters=N`) goes back up the cosine from where its first process ended: the
loss rises, then falls again along a second decay. A fresh run of N steps decays once.
Where the log holds the process before the resume, that process is extrapolated twice to
N, as `resume` (what the run did) and as `rerun` (a fresh run of N steps); their
difference is the re-warm's cost: two predictions of one fit, so its level cancels.

Measured on the pairs trained for it (`python benchmarks/rewarm_share.py`): the long runs'
2000 -> 5000 resumes and the calibration grid's 400 -> 1000, each against the fresh run
of the same length and seed, truths on 500 val batches. The cost's 80% half-width,
REWARM_ERROR, is the long runs' (the grid's coverage with it is reported apart). The gap
report puts it on the gap (compare/rewarm.py); LD706 gives it as its expected effect.
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

from ..run import Run
from .results import Estimate

# nats, the 80% half-width of the cost: 0.8 quantile of |cost - measured| over the long
# runs' six resumes (benchmarks/rewarm_share.py); on the grid's six it holds three
REWARM_ERROR = 0.03
# the LR settings a resume keeps for its cost to be `resume`'s: only the length changes
KEPT = ("learning_rate", "min_lr", "warmup_iters", "decay_lr")
# and what else it takes from its command, not the checkpoint (train.py takes the model's
# shape from the checkpoint): a resume on more GPUs with a larger batch is another run after it
ALSO_KEPT = ("batch_size", "gradient_accumulation_steps", "dropout", "weight_decay", "beta1", "beta2", "grad_clip")
# a resume whose last step is this share of its end or more ran to it (a finished run's last
# printed step may lie a log_interval before its end, as LD1501's `done`)
RAN_TO = 0.98


class ResumeCost(NamedTuple):
    """The two predictions of the process before the resume at the resume's end."""

    step: int  # where the run was resumed
    end: int  # the resume's max_iters = lr_decay_iters
    resumed: Estimate  # val as it resumed (`resume`)
    fresh: Estimate  # val of a fresh run of `end` steps (`rerun`)

    @property
    def cost(self) -> float:
        """Nats the resume costs at its end against a fresh run: resumed minus fresh."""
        return self.resumed.mean - self.fresh.mean


def before_resume(run: Run) -> tuple[Run, int, int] | str:
    """The run as it stood when it was resumed (the first process, its own config, its
    points up to the resume's step), the step it was resumed at, and the resumed process's
    length; or why not: the lineage is not one fresh process and one resume of it that
    changed only the length, with max_iters = lr_decay_iters (a new cosine to the new end),
    from the step the first process's last printed save holds."""
    lineage = run.lineage()
    first, then = (run.segments[i] for i in lineage) if len(lineage) == 2 else (None, None)
    if first is None or then is None or then.init_from != "resume" or first.first_step != 0 \
            or then.first_step is None:
        return "the log does not hold one fresh process and one resume of it"
    ca, cb = first.config or run.config, then.config or run.config
    end, decay = cb.trusted("max_iters"), cb.trusted("lr_decay_iters")
    if any(ca.trusted(k) != cb.trusted(k) for k in KEPT) or not isinstance(end, int) or end != decay \
            or end <= then.first_step:
        return "its resume changed more than the length of a cosine to its new end"
    if changed := [k for k in ALSO_KEPT if ca.trusted(k) != cb.trusted(k)]:
        return f"its resume changed {', '.join(changed)}: what came after it is not the first process's run"
    saves = [e.step for e in run.events
             if e.kind == "checkpoint_saved" and e.segment == first.index and e.step is not None]
    if saves and saves[-1] != then.first_step:
        return (f"the first process's last save the log shows is at step {saves[-1]:,}, and the resume began at "
                f"step {then.first_step:,}")
    ev, it = run.evals, run.iters  # all its points, the step it was resumed at too
    keep_ev = (ev.segment == first.index) & (ev.step <= then.first_step)
    keep_it = (it.segment == first.index) & (it.step <= then.first_step)
    evals = type(ev)(**{k: getattr(ev, k)[keep_ev] for k in ev.__dataclass_fields__})
    iters = type(it)(**{k: getattr(it, k)[keep_it] for k in it.__dataclass_fields__})
    cut = replace(run, config=ca, evals=evals, iters=iters, segments=run.segments[:first.index + 1],
                  checkpoint=None, events=tuple(e for e in run.events if e.line is None or e.line <= first.last_line))
    return cut, then.first_step, end


def resume_cost(run: Run) -> ResumeCost | str:
    """What the run's resume cost at its end against a fresh run of that length; or why it
    is not estimated: a resume that stopped short of its end ends elsewhere than where the
    two are predicted."""
    found = before_resume(run)
    if isinstance(found, str):
        return found
    cut, step, end = found
    last = run.segments[run.lineage()[-1]].last_step
    if last is None or last < RAN_TO * end:
        return f"its resume stopped at step {last or step:,} of its {end:,}"
    from .extrapolate import CannotExtrapolate, Extrapolator
    try:
        x = Extrapolator(cut).extrapolate(end, scenarios=("rerun", "resume"))
    except CannotExtrapolate as e:
        return f"its process before the resume, extrapolated to step {end:,}: {e.why}"
    val = {s.name: s.val for s in x.scenarios}
    resumed, fresh = val.get("resume"), val.get("rerun")
    if resumed is None or fresh is None:
        return f"no val is predicted for its process before the resume at step {end:,}"
    return ResumeCost(step, end, resumed, fresh)
