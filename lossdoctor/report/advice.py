"""The Do of a comparison, as words: what closes the gap, said with the evidence for it
(the better run, or the worse run's own curve extrapolated) and what it costs. The
verdict and the markdown report say the same sentences."""

from __future__ import annotations

from ..compare import UNKNOWN_ORIGIN, Comparison, Reachable, ToReach, Unreachable, WentOn
from ..compare.reach import length_only

FAR = 2.5  # x the run's steps: past what docs/benchmarks.md measures the extrapolation at
# the worse run's last step over the better run's length at or above which it ran as long
# (reach.STOPPED_SHORT: a finished run's last printed step may lie a log_interval before its end)
SAME_LENGTH = 0.98
# a length found under this many times the worse run's is the search's first past the run:
# inside the run a rerun is not predicted (docs/extrapolation.md), so its own may do as well
NEAR = 1.1


def times(ratio: float) -> str:
    """A length over the worse run's, "2.5x"; to two decimals where one would read as 1x
    (5,100 steps after 5,001). Halves round up, as written (1.45 and 2.45 alike: a float's
    round() sends them opposite ways)."""
    from decimal import ROUND_HALF_UP, Decimal
    one = float(Decimal(repr(ratio)).quantize(Decimal("0.1"), ROUND_HALF_UP))
    return f"{ratio:.2f}x" if one == 1 and ratio != 1 else f"{one:g}x"


def aim(r: ToReach) -> str:
    """The val the worse run is aimed at: "the better run's best val of 1.4681"."""
    return f"the better run's {r.what} of {r.target:.4f}"


def predicted(r: Reachable) -> str:
    """The rerun's predicted val and interval, said to be rough past FAR times the run."""
    far = f"; {times(r.ratio)} past the run, so a rough figure" if r.ratio > FAR else ""
    return f"{r.val:.4f}, 80% {r.lo:.4f} to {r.hi:.4f}{far}"


def instead_do(r: Reachable) -> str:
    """What to do where the better run's settings reach its val for less compute than a
    longer rerun of the worse run's own config, or are that config run longer than the
    rerun found, the evidence (Reachable.instead)."""
    cut = (f" (it stopped at step {r.stopped[0]:,} of its cosine to {r.stopped[1]:,}: these flags end the cosine "
           "there, which decays the LR it had not, LD701, for a final val at least as low)") if r.stopped else ""
    if r.resume_from is not None and r.instead_steps is not None:
        return (f"{resume_text(r.resume_from, r.instead_steps)}: that is how {aim(r)} was reached; a fresh "
                f"rerun, by the "
                f"worse run's own curve extrapolated, takes about {r.steps:,} steps ({times(r.ratio)}; "
                f"predicted {predicted(r)})")
    if r.finish is not None and r.instead_steps:
        resume = ("resume it (--init_from=resume) if its out_dir's ckpt.pt is still its own (the better run "
                  "wrote to the same out_dir)" if r.finish == "out_dir"
                  else "its log shows no save to resume from (LD1501's --init_from=resume needs one)")
        return (f"finish the run: it stopped at step {r.ran:,} of its own {r.instead_steps:,}, and the better run, "
                f"its config run to the end, reached its {r.what} of {r.target:.4f}{cut}; {resume}, or run its "
                f"command again: these flags are its own; its curve, extrapolated, gives about {r.steps:,} steps "
                f"({times(r.ratio)}; predicted {predicted(r)})")
    if length_only(r.instead) and r.instead_steps and r.stopped is None and r.ran >= SAME_LENGTH * r.instead_steps:
        fresh = " from scratch" if "--init_from=scratch" in (r.instead or "") else ""
        said = (f"train{fresh} on the better run's schedule: the worse run ran as long (to step {r.ran:,})"
                f"{' but resumed' if fresh else ' on another schedule'}, and no other setting the logs show differs; "
                f"in {r.instead_steps:,} steps the better run reached its {r.what} of {r.target:.4f}{cut}")
        if fresh:  # its curve, resumed, says less of a fresh run than the better run does (a log that begins
            return said  # with the resume assumes the schedule before it); the gap's re-warm share says the cost
        # the search starts past the run: its first length is no sign that the run's own is short
        own = (f"reaches it by about {r.steps:,} steps, the first length past the run it predicts" if r.ratio < NEAR
               else f"needs about {r.steps:,} steps ({times(r.ratio)}")
        return (f"{said}; a rerun of the worse run's own config, by its curve extrapolated, {own}"
                f"{' (' if r.ratio < NEAR else '; '}predicted {predicted(r)})")
    if length_only(r.instead):  # the better run is the worse run's config, run that long: the evidence
        how = "with a cosine that ends there" if r.stopped else "on its schedule"
        return (f"train as long as the better run, {how}: no other setting the logs show differs, and "
                f"in {r.instead_steps:,} steps it reached {aim(r)}{cut}; the worse run's own curve, extrapolated, "
                f"gives about {r.steps:,} steps ({times(r.ratio)}; predicted {predicted(r)})")
    return (f"train with the better run's settings where they differ: with them it reached {aim(r)} in "
            f"{r.instead_steps:,} steps{cut}; the worse run's own config would need about {r.steps:,} steps "
            f"({times(r.ratio)}; predicted {predicted(r)})")


def rerun_do(r: Reachable) -> str:
    """The Do of a rerun of the worse run's own config that reaches the target. Where the
    worse run resumed (its rerun starts from scratch) and the length found is the search's
    first past the run, a fresh run about as long as it ran is what is predicted to do it:
    its own length, resumed, is no measure of a fresh run's."""
    if r.ratio < NEAR and "--init_from=scratch" in r.flags:
        return (f"train the worse run again from scratch, about as long as it ran: a fresh run of {r.steps:,} steps, "
                f"the first length past it the search predicts, reaches {aim(r)} (predicted {predicted(r)})")
    return (f"train the worse run for about {r.steps:,} steps ({times(r.ratio)}) to reach {aim(r)} "
            f"(predicted {predicted(r)})")


def resume_text(at: int, to: int, flags: str = "") -> str:
    """The resume of the worse run to the better run's length, said with what it saves
    (`flags`: said inline, after the step)."""
    return (f"resume the worse run from its last checkpoint, step {at:,}, to step {to:,}{flags}: it goes on along "
            f"the cosine the better run ran, with the config it ran, {to - at:,} more steps instead of a fresh "
            f"run's {to:,}")


def cost_text(r: Unreachable) -> str:
    """What the better run's settings cost where the worse run trained: '. Each of its steps
    costs 277x the worse run's FLOPs: about 6.1 h for 1,750 steps at the worse run's FLOP rate'."""
    c = r.cost
    if c is None:
        return ""
    ratio = f"{c.ratio:,.0f}x" if c.ratio >= 10 else f"{c.ratio:.2g}x"
    when = (f": {'about ' if c.hours >= 1 / 60 else ''}{_duration(c.hours)} for {c.steps:,} steps at the worse "
            "run's FLOP rate" if c.hours and c.steps else "")
    about = "about " if c.approximate else ""
    how = " (a FLOP count read off a printed MFU, an average)" if c.approximate else ""
    own = (f"; at the better run's own logged time per step, on its machine: {_duration(c.own_hours)} for "
           f"{c.steps:,} steps"
           if c.own_hours and c.steps else "")
    return f". Each of its steps costs {about}{ratio} the worse run's FLOPs{how}{when}{own}"


def _duration(hours: float) -> str:
    if hours >= 1:
        return f"{hours:,.1f} h"
    return f"{hours * 60:.0f} min" if hours >= 1 / 60 else f"{max(hours * 3600, 1):.0f} s"


def _where(r: Unreachable) -> str:
    """Which of the better run's config the flags set: where it differs, and keys the worse
    run's log does not show, which may not differ."""
    return "(where it differs, and where the worse run's log does not show it)" if r.unshown else "where it differs"


def unreachable_do(r: Unreachable, c: Comparison, inline: bool = False) -> str:
    """What to do where no longer rerun of the worse run's config reaches the better run;
    `inline`: with the flags in the sentence (else they go on a line of their own). Where
    a longer rerun does reach the better run's final val above its best, that first."""
    text = _unreachable_do(r, c, inline)
    if (f := r.final) is None:
        return text
    return (f"to match the better run's final val of {f.target:.4f}, train the worse run's own config longer: "
            f"about {f.steps:,} steps ({times(f.ratio)}; predicted {predicted(f)}; {f.flags}). Beyond that, "
            + text)


def _unreachable_do(r: Unreachable, c: Comparison, inline: bool = False) -> str:
    flags = f" ({r.flags})" if inline and r.flags else ""
    if r.resume_from is not None and r.resume_to is not None:  # the better run is the worse run's schedule, run on
        curve = " cannot be extrapolated" if r.cannot_tell else ", extrapolated, stops short of it"
        return (f"{resume_text(r.resume_from, r.resume_to, flags)}: that is how {aim(r)} was reached. The worse "
                f"run's own curve{curve} ({r.why}): the better run is the evidence that this length reaches it")
    if r.same_config and not r.flags:  # another trainer's run: the better run's length, in its own terms
        steps = c.derived.steps_done.reference if c.derived is not None and c.derived.steps_done else None
        ran = f" ({steps:,.0f} steps)" if steps else ""
        return (f"train as long as the better run{ran}, on its schedule: its config is otherwise the same, and it "
                f"reached {aim(r)}. The worse run's own curve cannot be extrapolated ({r.why}): the better run is "
                "the evidence that this length reaches it")
    if r.flags and r.same_config:  # the better run is the evidence, whether or not the curve is predicted
        curve = " cannot be extrapolated" if r.cannot_tell else ", extrapolated, stops short of it"
        run_as_long = _ran_as_long(c)
        how = "on the better run's schedule" if run_as_long else "as long as the better run, on its schedule"
        return (f"train {how}{flags}: its config is otherwise the same, and "
                f"it reached {aim(r)}. The worse run's own curve{curve} ({r.why}): the "
                f"better run is the evidence that this {'schedule' if run_as_long else 'length'} reaches it")
    if r.cannot_tell:  # no prediction on the way: not "not enough"
        what = "length" if length_only(r.flags) else f"config {_where(r)}"
        return (f"no length can be given: whether training longer reaches {aim(r)} is not known ({r.why})"
                + (f"; the better run's {what} reached it{flags}" if r.flags else ""))
    if r.flags:
        enough = "is not shown to be enough" if r.may_reach else "is not enough"
        what = ("as long as the better run ran, on its schedule" if length_only(r.flags)
                else f"with its config {_where(r)}")
        return (f"to reach {aim(r)}, train {what}{flags}; training longer {enough} ({r.why})" + cost_text(r))
    hidden = any(UNKNOWN_ORIGIN in (d.origin_other, d.origin_reference) for d in c.diff)
    enough = "is not shown to be enough" if r.may_reach else "is not enough"
    return (f"training longer {enough} to reach {aim(r)} ({r.why}); "
            + ("a log that does not show its config keys hides what else differs" if hidden else
               "the config keys the logs show do not say what else differs"))


def _ran_as_long(c: Comparison) -> bool:
    """Whether the worse run took at least as many steps as the better run: "as long as the
    better run" would then tell it to do what it did (its schedule, not its length, differs)."""
    steps = c.derived.steps_done if c.derived is not None else None
    return steps is not None and steps.other is not None and steps.reference is not None \
        and steps.other >= steps.reference


def stop_text(c: Comparison) -> str | None:
    """The Do of a worse run that overfit, where its own best val lies below the better run's
    final val: keep the model of that step (nanoGPT's best-only checkpoint)."""
    if c.stop_at_best is None:
        return None
    step, val = c.stop_at_best
    pair = c.derived.final_val if c.derived is not None else None
    better_final = pair.reference if pair is not None and isinstance(pair.reference, float) else None
    below = f", below the better run's final val of {better_final:.4f}" if better_final is not None else ""
    return (f"keep the worse run's model of step {step:,}, its best val ({val:.4f}){below}: past it, its val rose "
            "(LD501). nanoGPT keeps the best-val model when it saves only on improvement "
            "(--always_save_checkpoint=False), or stop the run there")


def went_on_text(worse: str, better: str, went_on: WentOn) -> str:
    """The Do where the worse run is the better run gone on (Comparison.went_on)."""
    step, rewarmed, overwritten = went_on.step, went_on.rewarmed, went_on.overwritten
    then = "its checkpoint, when it is run again," if overwritten else "the checkpoint"
    far = f" --max_iters={went_on.end}" if went_on.end else ""  # as far as the worse run went
    at = (f" ({went_on.lr:.3g}: --init_from=resume --decay_lr=False --learning_rate={went_on.lr:.3g}{far})"
          if went_on.lr is not None and went_on.lr > 0 else "")
    why = (f"; its resume put the LR back up its schedule{' (LD706)' if went_on.ld706 else ''}: to add steps without "
           f"the bump, go on from {then} at the LR it had reached{at}" if rewarmed else "")
    keep = ("run the better run's command again: its model is gone, the resume saved over its checkpoint in the "
            "same out_dir" if overwritten else "keep the better run's model")
    return (f"{keep}: {worse} is {better} gone on from step {step:,}, one run's two stretches, and the steps after it "
            f"ended higher{why}")


def continued_text(worse: str, better: str, held: bool = False) -> str:
    """The Do where the better run's log is the worse run resumed (Comparison.continues);
    `held`: it holds the worse run's log already (Comparison.held)."""
    whole = f"{better} alone is the whole run" if held else "`cat` the two logs, in order, to analyze the whole run"
    return (f"nothing to change: {better} continues {worse}, one run's two stretches, and the gap is the steps it "
            f"went on for; {whole}")
