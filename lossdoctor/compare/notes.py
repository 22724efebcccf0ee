"""The gap report's notes on the two runs: where each stood when it stopped, what their
printed MFU says, and what their parameter counts say where their shapes are not shown."""

from __future__ import annotations

import os

from ..facts import Facts
from ..facts.speed import OTHER_PEAK
from ..nanogpt import A100_BF16_PEAK
from ..run import Run, Segment
from .results import WentOn
from .sides import overfit


def note_name(run: Run) -> str:
    """A run's file name in a note: its log's, where a checkpoint joined it (`LOG + CKPT`)."""
    return os.path.basename(run.source.split(" + ")[0])


def state_notes(f: Facts, which: str, schedule: bool) -> list[str]:
    """Where a run stood when it stopped: still falling, turned up, an excerpt whose end is
    not shown, schedule done."""
    out = []
    z, slope = f.value("val_slope_z"), f.value("val_slope")
    if z is not None and z <= -2 and f.value("nan_persists") is not True:  # a run that went NaN diverged (LD801)
        unit = f["val_slope"].unit.removesuffix("/1k steps")
        out.append(f"the {which} run's val was still falling when it stopped ({slope:.2g} {unit} per 1,000 "
                   f"steps over its last evals, {z:.1f} standard errors)")
    if overfit(f):
        out.append(f"the {which} run's val turned up after step {f.value('best_val_step'):,} (best "
                   f"{f.value('best_val'):.4f}, final {f.value('final_val'):.4f}) while train kept falling")
    if f.value("log_elided") is True:  # the run's end is what the gap is taken at: not shown here
        step = f.value("final_step")
        out.append(f"the {which} run's log is an excerpt ({f['log_elided'].note}): its last eval shown"
                   + (f", at step {step:,}," if step is not None else "") + " need not be where the run ended")
    done, lr = f.value("lr_schedule_completed"), f.value("lr_final")
    if schedule and done is not None and done >= 0.999 and lr is not None:
        out.append(f"the {which} run's LR schedule had run to its end (LR {lr:g} at the last step): "
                   "going on means a new schedule (a rerun, or --init_from=resume with a larger "
                   "lr_decay_iters, which puts the LR back up the cosine), not just more steps")
    return out


def continuation_notes(ra: Run, rb: Run) -> list[str]:
    """Where one log is the other run resumed: it begins with a resume (init_from=resume)
    past the other's first step and by its last, from the same out_dir (the checkpoint a
    resume loads is out_dir/ckpt.pt). The two logs are then one run's two stretches, not two
    runs (a run stopped and resumed on more GPUs), and the gap is the further steps."""
    found = continuation(ra, rb)
    if found is None:
        return []
    later, earlier, step, where = found
    if later.part_of(earlier):  # the earlier file holds it already: the two `cat`'d
        return [f"{note_name(earlier)} holds {note_name(later)} already, after the "
                f"run it resumed at step {step:,}: the two are one run, and the gap is between the same losses"]
    return [f"{note_name(later)} continues {note_name(earlier)}: it begins with a "
            f"resume (init_from=resume) at step {step:,}, within the other's steps (to {earlier.last_step:,}), from "
            f"the same out_dir ({where!r}): the two logs are one run's two stretches, and the gap is the steps the "
            "run went on for; `cat` the two logs, in order, to analyze them as one run"]


def continuation(ra: Run, rb: Run) -> tuple[Run, Run, int, str] | None:
    """(later, earlier, the step it resumed at, the out_dir) where one log is the other run
    resumed (continuation_notes); None otherwise."""
    for later, earlier in ((ra, rb), (rb, ra)):
        head = later.resumed_start()
        where = later.config.trusted("out_dir")
        if head is None or head.first_step is None or not isinstance(where, str) \
                or where != earlier.config.trusted("out_dir"):
            continue
        starts = [int(a.min()) for a in (earlier.evals.step, earlier.iters.step) if len(a)]
        if starts and min(starts) < head.first_step <= earlier.last_step:
            return later, earlier, head.first_step, where
    return None


def held(ra: Run, rb: Run) -> int | None:
    """The step where the better run's log, holding every loss of the worse run's as the
    process(es) its last resume went on from (`cat first.log resume.log` against
    first.log), goes on from the worse run's end; None otherwise."""
    last = _goes_on(rb, ra)
    return None if last is None else last.first_step


def _goes_on(holder: Run, held_run: Run) -> Segment | None:
    """The last process of `holder`'s lineage where that log holds every loss of
    `held_run`'s and the process resumed from `held_run`'s last step; None otherwise."""
    lineage = holder.lineage()
    if len(lineage) < 2:
        return None
    last = holder.segments[lineage[-1]]
    if last.init_from != "resume" or last.first_step is None or held_run.last_step != last.first_step \
            or not held_run.part_of(holder):
        return None
    return last


def held_notes(ra: Run, rb: Run) -> list[str]:
    """The note where the better run's log holds the worse run's and goes on from it (held)."""
    step = held(ra, rb)
    if step is None:
        return []
    worse, better = note_name(ra), note_name(rb)
    return [f"{better} holds {worse} already, and goes on from its end by a resume at step {step:,}: the two are "
            f"one run, and the gap is the steps it went on for; {better} alone is the whole run"]


def went_on(ra: Run, rb: Run, fa: Facts) -> WentOn | None:
    """Where the worse run `ra` is the better run `rb` gone on: its log begins with a resume
    from rb's out_dir within rb's steps (continuation), or holds rb as the process its last
    resume went on from (`cat` of the two): a WentOn of the step it went on from, whether
    that resume put the LR back up its schedule (LD706, where it sees it; else from the two
    logs' schedules where they are apart), whether it saved over rb's checkpoint (a save
    printed after the resume, into the out_dir rb's model was in), the LR rb's schedule had
    reached there, and where ra's lineage ends; None otherwise."""
    step, same_dir = None, False
    later = continuation(ra, rb)
    lineage = ra.lineage()
    if later is not None and later[0] is ra:
        step, same_dir = later[2], True
    elif (last := _goes_on(ra, rb)) is not None:
        step = last.first_step
        where = [(s.config or ra.config).trusted("out_dir") for s in (ra.segments[lineage[-2]], last)]
        same_dir = where[0] is not None and where[0] == where[1]
    if step is None or len(rb.lineage()) != 1:  # the better run one process: its command is the whole run
        return None
    # a save after the resume, into the better run's out_dir, holds the worse run's model: its
    # last (always_save_checkpoint), or a better val than it had loaded (stop_at_best says so)
    gone = same_dir and ra.config.trusted("always_save_checkpoint") is not False and any(
        e.kind == "checkpoint_saved" and e.segment == lineage[-1] and (e.step is None or e.step > step)
        for e in ra.events)
    ld706 = fa.value("lr_rewarm_step") == step
    reached = _reached(rb, step)
    ends = [s.last_step for s in (ra.segments[i] for i in lineage) if s.last_step is not None]
    return WentOn(step, ld706 or _raised(ra, rb, step), gone, reached, ld706, max(ends) if ends else None)


def _reached(rb: Run, step: int) -> float | None:
    """The LR `rb`'s schedule had at `step` (where it shows it): where a resume from there
    goes on at a constant LR without the bump."""
    from ..facts.schedule import schedule_params
    from ..nanogpt import get_lr
    pb = schedule_params(rb.config)
    return None if pb is None else float(get_lr(step, pb))


def _raised(ra: Run, rb: Run, step: int) -> bool:
    """Whether `ra`'s schedule sets the LR at `step` REWARM times above `rb`'s (LD706's bar),
    both shown."""
    from ..facts.schedule import REWARM, schedule_params
    from ..nanogpt import get_lr
    pa, reached = schedule_params(ra.config), _reached(rb, step)
    return pa is not None and reached is not None and get_lr(step, pa) > REWARM * reached


def rewarm_notes(fa: Facts, fb: Facts, shared: bool = False) -> list[str]:
    """A run whose resume put the LR back up its schedule (LD706) where the other's did not
    at that step: their schedules differ there, which the causes do not measure (the law is
    fitted to the schedule a run ran), so the difference lies in the shares left; `shared`:
    the worse run's re-warm has a share of its own (rewarm.py), and needs no note."""
    out = []
    for which, f, other in (("worse", fa, fb), ("better", fb, fa)):
        step, was, now = (f.value(k) for k in ("lr_rewarm_step", "lr_rewarm_from", "lr_rewarm_to"))
        if step is None or was is None or now is None or other.value("lr_rewarm_step") == step:
            continue
        if shared and which == "worse":
            continue
        out.append(f"the {which} run's resume at step {step:,} put its LR back up its schedule ({was:.3g} -> "
                   f"{now:.3g}; LD706), which the other run did not: what the re-warm cost is no share of its own, "
                   "and lies in the rest of the gap")
    return out


def size_unseen(fa: Facts, fb: Facts) -> str | None:
    """Where the runs' parameter counts differ by over a tenth and a key that sets the
    model's size is unknown for either (a trainer that prints its count but not its shape):
    what is known of it. Model size is then no cause of its own, but may be much of the rest."""
    pa, pb = fa.value("params"), fb.value("params")
    if not pa or not pb or abs(pa / pb - 1) < 0.1:
        return None
    if all(k in f and f[k].known for f in (fa, fb) for k in ("n_layer", "n_embd")):  # the cause takes it
        return None  # (n_layer and n_embd set the count; bias adds a few parameters, n_head none)
    return (f"the runs' parameter counts differ ({pa / 1e6:.3g}M in the worse run, {pb / 1e6:.3g}M in the better), "
            "but the keys that set a model's shape are not shown by both")


def size_notes(fa: Facts, fb: Facts) -> list[str]:
    """size_unseen's note: model size has no share of its own, and the rest is not put on the
    other keys that differ (rest.unexplained)."""
    why = size_unseen(fa, fb)
    return [] if why is None else [f"{why}: model size has no share of its own here, and may be much of the rest"]


def mfu_notes(fa: Facts, fb: Facts) -> list[str]:
    ma, mb = fa.value("mfu_printed"), fb.value("mfu_printed")
    if ma is None or mb is None:
        return []
    pa, pb = _divisor(fa), _divisor(fb)
    if pa == pb == A100 or abs(pa / pb - 1) < 1 - OTHER_PEAK:
        by = "nanoGPT's FLOP rate over an A100's 312 TFLOPS on any device" if pa == A100 else (
            f"the FLOP rate over one peak, about {pa:.0f} TFLOPS (a fork's estimate_mfu)")
        own = _own_mfu(fa, fb)
        return [f"the printed MFU ({ma:.2f}% vs {mb:.2f}%) is {by}: it compares speed, and says nothing about "
                f"the loss{own}"]
    said = ["an A100's 312 TFLOPS" if p == A100 else f"about {p:.0f} TFLOPS" for p in (pa, pb)]
    return [f"the printed MFU ({ma:.2f}% vs {mb:.2f}%) divides each run's FLOP rate by its own peak (the worse "
            f"run's {said[0]}, the better run's {said[1]}: a fork's estimate_mfu may divide by a peak other "
            "than nanoGPT's A100): it compares their speeds only where the peaks are the same, and says nothing about "
            f"the loss{_own_mfu(fa, fb)}"]


def _own_mfu(fa: Facts, fb: Facts) -> str:
    """Each run's MFU against a device's peak, where the facts know both (the GPU a log
    names, or --peak-flops, one peak for every run): '' otherwise."""
    if "mfu_device" not in fa or "mfu_device" not in fb:
        return ""
    a, b = fa.value("mfu_device"), fb.value("mfu_device")
    if not (isinstance(a, float) and isinstance(b, float)):
        return ""
    return f"; against the device peaks the facts take (mfu_device) it is {a:.2f}% vs {b:.2f}%"


A100 = A100_BF16_PEAK / 1e12  # TFLOPS, nanoGPT's divisor


def _divisor(f: Facts) -> float:
    """The peak a run's printed MFU divides by, in TFLOPS: A100 where it is nanoGPT's (within
    OTHER_PEAK of it, or not computable: a log without its config is taken as nanoGPT's
    code, as LD1401 takes it), another where a fork divides by a smaller one."""
    d = f.value("mfu_divisor")
    return d if d and d < OTHER_PEAK * A100 else A100
