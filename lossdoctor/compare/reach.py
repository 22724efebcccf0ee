"""What the worse run needs to reach the better run's val: a longer rerun of its own
config, found on its own extrapolated curve (search.py), or the better run's config where
no length does."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, NamedTuple

from ..dialect import Dialect
from ..facts import Facts
from ..nanogpt import GPT2_SHAPES, NANOGPT_KEYS
from .length import SCHEDULE_SHAPE
from .results import CHANGED_ORIGIN, RESUMED_ORIGIN, Cost, KeyDiff, Reachable, ToReach, Unreachable
from .search import steps_to_reach

if TYPE_CHECKING:
    from ..fit.extrapolate import Extrapolator

STOPPED_SHORT = 0.98  # run_completed below this: the run stopped before its max_iters (LD1501's `done`)
LENGTH_KEYS = ("max_iters", "lr_decay_iters")  # the better run's length is copied on its own
NOT_COPIED = ("init_from", "dataset")  # a fresh run of the worse run's data: --init_from=scratch where it resumed
# what GPT.from_pretrained takes from OpenAI's weights whatever the config says (block_size
# is cropped down to the config's, so it stays a flag)
FORCED_BY_GPT2 = ("n_layer", "n_head", "n_embd", "bias", "vocab_size")


def schedule_only(diff: tuple[KeyDiff, ...], peak: object = None) -> bool:
    """Whether the runs' learning keys differ in length, schedule shape (its peak LR aside) or
    init_from alone, each shown by both runs (init_from aside: a resumed run's is hidden,
    compare.sides). A better run that does is the worse run's config run its way, and what
    it reached is evidence, not an extrapolation. `peak`: the learning_rate the worse run's
    lineage began with, where a resume in it changed the LR (a continuation at its min_lr):
    equal to the better run's, the change is one of schedule shape too."""
    learning = [d for d in diff if d.kind == "learning"]
    fresh = (None, "scratch", "resume")  # a model from scratch, run in one go or resumed (not GPT-2's weights)
    return all((d.key == "init_from" and d.other in fresh and d.reference in fresh)
               or (d.key in SCHEDULE_SHAPE and d.reference is not None and (d.other is not None or _changed(d)))
               or (d.key == "learning_rate" and _changed(d) and peak is not None and peak == d.reference)
               for d in learning)


def _changed(d: KeyDiff) -> bool:
    """Whether the worse run's `d.key` is unknown because of a resume (one in its log changed
    it, or its log begins with one): its schedule is then not one schedule shown whole, and
    a better run of one schedule is its config run that way."""
    return (d.origin_other or "").startswith((CHANGED_ORIGIN, RESUMED_ORIGIN))


class Worse(NamedTuple):
    """What the search needs of the worse run beyond its facts."""

    last: int  # its last logged step (what extrapolate measures horizons and epochs from)
    resumed: bool = False  # its last process resumed: its command needs --init_from=scratch for a fresh run
    nanogpt: bool = True  # its trainer takes nanoGPT's flags
    evidence: bool = False  # the better run is this config run its way (attribute.is_evidence)
    better: Dialect | None = None  # the better run's format, whose settings the flags would copy
    same_out_dir: bool = False  # both logs show one out_dir: its ckpt.pt may be the better run's now
    # its format where that names no trainer (a W&B table, a CSV): the flags, nanoGPT's, go in a note
    unnamed: str = ""


# trainers whose runs train as nanoGPT's train.py does (AdamW, a linear warmup, a cosine to a
# floor), so that their settings, as nanoGPT flags, are what reached their val; "" is a table
# or export whose trainer is not said (W&B runs of nanoGPT)
SAME_RECIPE = ("nanogpt", "", "llmc", "build-nanogpt")


def target_name(overfit: bool) -> str:
    """What the target is: the better run's best val where its val turned up (the steps
    after it made val worse), else its final val without the eval noise."""
    return "best val" if overfit else "smoothed final val"


def to_reach(fit: Extrapolator, fa: Facts, fb: Facts, diff: tuple[KeyDiff, ...], target: float,
             what: str = "smoothed final val", worse: Worse | None = None) -> ToReach:
    """The fewest steps of a rerun whose predicted val reaches `target` (the better run's
    `what`); when none does, why, with the better run's config where it differs (and its
    length) as nanoGPT flags, where the worse run's trainer takes them."""
    worse = worse if worse is not None else Worse(int(fa.value("final_step") or fa.value("steps_done") or 0))
    r = steps_to_reach(fit, worse.last, target, what)
    if not worse.nanogpt and (not worse.unnamed or worse.evidence or isinstance(r, Reachable)):  # no flags given:
        # where the better run is its config run longer, that run is the evidence
        return replace(r, same_config=True) if isinstance(r, Unreachable) and worse.evidence else r
    other = _other_recipe(worse.better)
    if other is not None:  # no flags copy it
        return r if isinstance(r, Reachable) else replace(r, why=f"{r.why}; {other}")
    tuned = _fine_tune(fb)  # GPT-2's weights: --init_from=gpt2*, and the shape they fix is not a flag
    better = [d for d in diff if d.kind == "learning" and d.reference is not None
              and d.key not in LENGTH_KEYS + NOT_COPIED  # the better run's settings, other than its length
              and not (tuned and d.key in FORCED_BY_GPT2)]
    unseen = [d.key for d in diff if d.kind == "learning" and d.reference is None and d.key not in NOT_COPIED
              and (d.origin_reference or "").startswith(RESUMED_ORIGIN)]
    if unseen:  # the better log begins with a resume: its run's schedule is not all in it, so no flags copy it
        return r if isinstance(r, Reachable) else replace(r, why=(
            f"{r.why}; the better run's log begins with a resume, so its {', '.join(unseen)} "
            f"{'are' if len(unseen) > 1 else 'is'} its continuation's, not its whole run's: no flags copy it"))
    keys = [d for d in better if d.key in NANOGPT_KEYS]
    if not keys and not worse.evidence and (hidden := _hidden(diff)):  # its length alone, on the worse config
        return r if isinstance(r, Reachable) else replace(r, why=(
            f"{r.why}; the better run's log does not show its {', '.join(hidden[:3])}"
            f"{' ...' if len(hidden) > 3 else ''}: no flags copy its config, and its length on the worse run's "
            "config is not what reached its val"))
    differ = [d for d in better if d.other is not None]  # shown by both
    flags = [f for f in (_flag(d) for d in keys) if f is not None]
    unflagged = [d.key for d in differ if d.key not in NANOGPT_KEYS or _flag(d) is None]
    iters_b, at_best = _length(fb)
    # its schedule's own length, stopped at its best step too: that schedule, not one decayed by then, reached it
    decay_b = fb.value("lr_decay_iters") or iters_b
    own_decay = decay_b
    ran = _last_step(fb)  # a better run that stopped before its max_iters: its length is what it ran
    cut = None  # (where it stopped, its cosine's end), where it stopped inside its decay
    if iters_b and ran and not at_best and ran < iters_b:
        if fb.value("decay_lr") is not False and decay_b and decay_b > ran:  # a cosine that ends there
            cut, decay_b = (ran, int(decay_b)), ran
        iters_b = ran
    # a worse run stopped before its max_iters did not run that length (below LD1501's 98%:
    # a finished run's last printed step may lie a log_interval before its end)
    completed = fa.value("run_completed")
    short = isinstance(completed, float) and completed < STOPPED_SHORT
    at = _resume_from(fa, worse, short and not keys and not unflagged and not any(_changed(d) for d in diff),
                      own_decay, iters_b)
    if iters_b and at is not None:  # the worse run's own schedule, resumed, is the better run's
        return _resumed(r, fa, iters_b, at)
    if iters_b:  # its length and its schedule's, where the worse run ran another (a resumed one: always)
        flags += [f"--{k}={v}" for k, v in (("max_iters", iters_b), ("lr_decay_iters", decay_b))
                  if (worse.resumed or short or fa.value(k) != v)
                  and not (worse.unnamed and fb.value(k) is None)]  # a table's unknown is no train.py default
    if tuned:
        flags.insert(0, f"--init_from={tuned}")
    elif worse.resumed and flags:  # its command would resume: these are a fresh run's
        flags.insert(0, "--init_from=scratch")
    if isinstance(r, Reachable):
        if not (flags and not unflagged and iters_b):
            return r
        done = _instead(r, fa, fb, flags, iters_b, cut)
        own = (short and not worse.resumed and not keys and done.instead is not None
               and fa.value("max_iters") == iters_b and fa.value("lr_decay_iters") == decay_b)
        return replace(done, finish=("out_dir" if worse.same_out_dir else "own")) if own else done
    why = r.why + _why_these(fb, iters_b, decay_b, at_best, bool(flags), unflagged, cut)
    final = _final_reach(fit, fb, worse.last, what, target)
    if not flags:  # nothing to copy by flag: the keys without one are still named
        return replace(r, why=why, final=final)
    if worse.unnamed:  # whose flags they would be, the file does not say: nanoGPT's, as a note
        from ..diagnose.dialects import translate
        _, note = translate(" ".join(flags), "", fmt=worse.unnamed)
        said = (note or "").strip("()")
        return replace(r, why=f"{why}; the better run's config where it differs reached it: {said}", final=final)
    return replace(r, flags=" ".join(flags), why=why, same_config=worse.evidence and not at_best,
                   cost=_cost(fa, fb, iters_b), unshown=any(d.other is None for d in keys), final=final)


def _why_these(fb: Facts, iters_b: int | None, decay_b: object, at_best: bool, flagged: bool,
               unflagged: list[str], cut: tuple[int, int] | None) -> str:
    """What the flags of an unreached target say beside the reason: the better run's length
    where it was cut at its best val, its keys with no nanoGPT flag, its cosine cut short."""
    planned = fb.value("max_iters")
    why = (f"; the better run's val was best at step {fb.value('best_val_step'):,} and rose after it, so "
           f"its config is given {iters_b:,} steps" + (f", not its {planned:,}" if planned else "")
           + (f", on its schedule to {decay_b:,}" if decay_b and decay_b != iters_b else "")
           if at_best and iters_b and flagged else "")
    why += (f"; {', '.join(unflagged)} also {'differ' if len(unflagged) > 1 else 'differs'}, with no nanoGPT flag"
            if unflagged else "")
    why += (f"; the better run stopped at step {cut[0]:,} of its cosine to {cut[1]:,}: its config is given a cosine "
            "that ends there, which decays the LR it had not (LD701), for a final val at least as low"
            if cut and flagged else "")
    return why


def _final_reach(fit: Extrapolator, fb: Facts, last: int, what: str, target: float) -> Reachable | None:
    """Where the target is the better run's best val and it ended above it (it overfit):
    the rerun of the worse run's own config that reaches its final val, the gap asked
    about, where one does (else None)."""
    final = fb.value("final_val")
    if what != "best val" or not isinstance(final, float) or not final > target:
        return None
    r = steps_to_reach(fit, last, final, "final val")
    return r if isinstance(r, Reachable) else None


def _resume_from(fa: Facts, worse: Worse, stopped: bool, decay: object, length: int | None) -> int | None:
    """The step the worse run's last checkpoint holds (last_save_step), where resuming it runs
    the better run's schedule to its length: the worse run `stopped` short of its max_iters
    with no other setting to copy and one schedule shown whole (no process of it resumed),
    the better run is its config run its way (Worse.evidence) on the same cosine (`decay`,
    its lr_decay_iters), past the worse run's last step and to no more than its max_iters,
    and from another out_dir (in the same one, its ckpt.pt may be the better run's by now);
    None otherwise (a fresh run is the advice)."""
    save, planned = fa.value("last_save_step"), fa.value("max_iters")
    if not (stopped and worse.evidence and worse.nanogpt) or worse.resumed:
        return None
    if not isinstance(save, int) or isinstance(save, bool) or not isinstance(planned, int) or not length:
        return None
    if fa.value("lr_decay_iters") != decay or not save <= worse.last < length <= planned:
        return None
    return None if worse.same_out_dir else save


def _resumed(r: ToReach, fa: Facts, length: int, at: int) -> ToReach:
    """`r` with the resume of the worse run to `length` from its checkpoint at step `at` as
    what to do (Reachable: instead of the longer rerun; Unreachable: the evidence's flags)."""
    flags = " ".join(["--init_from=resume", *([f"--max_iters={length}"] if fa.value("max_iters") != length else [])])
    if isinstance(r, Reachable):
        return replace(r, instead=flags, instead_steps=length, stopped=None, resume_from=at)
    return replace(r, flags=flags, same_config=True, resume_from=at, resume_to=length)


def _hidden(diff: tuple[KeyDiff, ...]) -> list[str]:
    """The learning keys the worse run shows and the better run's log does not (a log
    without its config header; a resume's are said apart)."""
    return [d.key for d in diff if d.kind == "learning" and d.reference is None and d.other is not None
            and d.key not in LENGTH_KEYS + NOT_COPIED and not (d.origin_reference or "").startswith(RESUMED_ORIGIN)]


def _other_recipe(better: Dialect | None) -> str | None:
    """Why the better run's settings are not given as nanoGPT flags: its trainer trains
    otherwise than train.py (modded-nanogpt's and nanochat's Muon and their LR schedules,
    the HF Trainer's), so those settings under train.py are not what reached its val; None
    where it trains as train.py does (SAME_RECIPE)."""
    if better is None or better.trainer in SAME_RECIPE:
        return None
    return (f"the better run is a {better} run, whose optimizer and LR schedule are not train.py's: its settings as "
            "nanoGPT flags are not what reached it")


def _fine_tune(fb: Facts) -> str | None:
    """The OpenAI checkpoint the better run started from (its init_from, 'gpt2*'), or None."""
    init = fb.value("init_from")
    return init if isinstance(init, str) and init in GPT2_SHAPES else None


def _cost(fa: Facts, fb: Facts, steps: int | None) -> Cost | None:
    """What the better run's settings cost where the worse run trains: their FLOPs per step
    over its own, and the hours `steps` of them take at its measured speed (FLOPs per
    second); None where a FLOP count is unknown or the ratio is about 1."""
    per_a, per_b, ms = _step_flops(fa), _step_flops(fb), fa.value("time_per_iter_ms")
    if not per_a or not per_b or abs(per_b / per_a - 1) < 0.1:
        return None
    hours = steps * per_b / (per_a / (ms / 1000)) / 3600 if steps and ms else None  # a step's wall time: every rank's
    inferred = "inferred" in (fa["flops_per_iter"].status, fb["flops_per_iter"].status)
    own = fb.value("time_per_iter_ms")
    own_hours = steps * own / 1000 / 3600 if steps and isinstance(own, (int, float)) and own > 0 else None
    return Cost(per_b / per_a, hours, steps, inferred, own_hours)


def _step_flops(f: Facts) -> float | None:
    """FLOPs of one optimizer step over every process: flops_per_iter (per process) times the
    world size; None where either is unknown (4 processes against 8 had halved the cost)."""
    per, ws = f.value("flops_per_iter"), f.value("world_size")
    return per * ws if per and ws else None


def _instead(r: Reachable, fa: Facts, fb: Facts, flags: list[str], steps: int,
             stopped: tuple[int, int] | None = None) -> Reachable:
    """`r`, with the better run's settings as what to do instead where they reached the
    target in less compute than the longer rerun (strictly: at the same cost the rerun is
    the simpler advice): its flops per step times the `steps` it ran against the worse
    run's times `r.steps` (every process's: _step_flops; or, with either unknown, steps
    alone where the two runs' steps cost the same: no model or batch key differs); or
    where they are the worse run's own config run longer than the rerun found: the better
    run is the evidence, the rerun's length a prediction given beside it."""
    per_a, per_b = _step_flops(fa), _step_flops(fb)
    if per_a and per_b:
        cheaper = per_b * steps < per_a * r.steps
    else:
        shape = ("n_layer", "n_head", "n_embd", "block_size", "batch_size", "gradient_accumulation_steps")
        cheaper = steps < r.steps and all(fa.value(k) is not None and fa.value(k) == fb.value(k) for k in shape)
    same = " ".join(flags) == r.flags  # the rerun itself: instead only as the evidence (below)
    # the worse run's own config at the better run's length: that run is the evidence, and
    # the extrapolation's shorter or equal length a prediction beside it (equal: the rerun is
    # the better run itself, which reached the target: said as the evidence it is)
    evidence = steps >= r.steps and length_only(" ".join(flags))
    return (replace(r, instead=" ".join(flags), instead_steps=steps, stopped=stopped) if cheaper and not same
            or evidence else r)


def length_only(flags: str | None) -> bool:
    """Whether the flags copy nothing but the better run's length (and a fresh start)."""
    return bool(flags) and all(f.split("=", 1)[0][2:] in LENGTH_KEYS or f == "--init_from=scratch"
                               for f in (flags or "").split())


def _last_step(f: Facts) -> int | None:
    """The run's last step, logged iteration or eval: the later of its last eval's and
    steps_done - 1 (steps_done counts step 0's update where iteration lines give it, and is
    the last eval's step where an eval comes after them)."""
    final, done = f.value("final_step"), f.value("steps_done")
    steps = [int(final)] if final is not None else []
    steps += [int(done) - 1] if done else []
    return max(steps) if steps else None


def _flag(d: KeyDiff) -> str | None:
    """`--key=value` of the better run's value, as nanoGPT's configurator takes it (an int
    where a float is wanted becomes a float); None where it would not take it."""
    from ..diagnose.template import TemplateError, nanogpt_value
    try:
        return f"--{d.key}={nanogpt_value(d.key, repr(d.reference))}"
    except TemplateError:
        return None


def _length(fb: Facts) -> tuple[int | None, bool]:
    """The better run's length to copy, and whether it is its best-val step: its max_iters,
    or, where its val turned up well before its end (overfitting), its best eval's step,
    since the steps after it made val worse (an eval step: a length between its evals
    would end where none is taken, as 1,800 steps at nanoGPT's eval_interval 250 would)."""
    from .sides import overfit
    iters, best, steps = fb.value("max_iters"), fb.value("best_val_step"), fb.value("steps_done")
    if best and steps and best < 0.9 * steps and overfit(fb):
        return int(best), True
    return iters, False
